# Libzmq.cmake: the libzmq that zfarm-broker links.
#
# By default, the patched one that deploy/build-libzmq.sh installs
# (deploy/libzmq/README.md): on the system's libzmq 4.3.4, any peer that can
# connect can make the broker's process abort. Clients and workers accept
# no unknown peers and link the system's libzmq, as libzfarm does.
#
# A target whose ZFARM_PATCHED_LIBZMQ property is true links the patched
# library wherever PkgConfig::ZMQ is among its dependencies, and not the
# system's (both would be libzmq.so.5: one would hide the other). Sets
# ZFARM_BROKER_LIBZMQ_FILE, the library file that Install.cmake installs
# beside the broker, empty with ZFARM_SYSTEM_LIBZMQ.
option (ZFARM_SYSTEM_LIBZMQ
        "Link zfarm-broker with the system libzmq, unpatched: any peer that can connect can abort the broker (deploy/README.md)"
        OFF)
set (ZFARM_LIBZMQ_PREFIX "/opt/zfarm/libzmq" CACHE PATH
     "Where deploy/build-libzmq.sh installed the patched libzmq")

set (ZFARM_BROKER_LIBZMQ_FILE "")
if (ZFARM_SYSTEM_LIBZMQ)
    message (STATUS "zfarm-broker links the system libzmq (ZFARM_SYSTEM_LIBZMQ):"
             " a peer that claims a routing id the broker would generate can abort it")
    return ()
endif ()

set (patch ${CMAKE_SOURCE_DIR}/deploy/libzmq/router-reserved-ids.patch)
set (stamp ${ZFARM_LIBZMQ_PREFIX}/zfarm-libzmq.stamp)
set (library ${ZFARM_LIBZMQ_PREFIX}/lib/libzmq.so.5)
string (CONCAT remedy
        "run deploy/install-deps.sh (or deploy/build-libzmq.sh --prefix "
        "${ZFARM_LIBZMQ_PREFIX}), or configure with -DZFARM_SYSTEM_LIBZMQ=ON to "
        "accept the unpatched system libzmq (deploy/README.md)")
if (NOT EXISTS ${library} OR NOT EXISTS ${stamp})
    message (FATAL_ERROR "zfarm-broker links a patched libzmq"
             " (deploy/libzmq/README.md), and ${ZFARM_LIBZMQ_PREFIX} has none: ${remedy}")
endif ()
# The stamp records the SHA-256 of the patch the library was built with: a
# library built before the patch changed would lack the change.
file (SHA256 ${patch} patch_sha256)
file (STRINGS ${stamp} built REGEX "^patch ")
if (NOT built STREQUAL "patch ${patch_sha256}")
    message (FATAL_ERROR "the libzmq in ${ZFARM_LIBZMQ_PREFIX} was built from another"
             " version of deploy/libzmq/router-reserved-ids.patch: ${remedy}")
endif ()
# Check again when the patch changes or the library is rebuilt.
set_property (DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${patch} ${stamp})

get_filename_component (library_file ${library} REALPATH)
add_library (zfarm-patched-libzmq SHARED IMPORTED)
set_target_properties (zfarm-patched-libzmq PROPERTIES
                       IMPORTED_LOCATION ${library_file}
                       IMPORTED_SONAME libzmq.so.5)
get_target_property (system_libzmq PkgConfig::ZMQ INTERFACE_LINK_LIBRARIES)
set (patched "$<BOOL:$<TARGET_PROPERTY:ZFARM_PATCHED_LIBZMQ>>")
set (choice "$<${patched}:zfarm-patched-libzmq>")
foreach (item ${system_libzmq})
    list (APPEND choice "$<$<NOT:${patched}>:${item}>")
endforeach ()
set_property (TARGET PkgConfig::ZMQ PROPERTY INTERFACE_LINK_LIBRARIES "${choice}")
set (ZFARM_BROKER_LIBZMQ_FILE ${library_file})
message (STATUS "zfarm-broker links the patched libzmq: ${library_file}")
