# Install.cmake: what `cmake --install` puts where, and the files that let
# other builds find libzfarm (libzfarm.pc, find_package (zfarm)).
#
# Invariant: every installed file that names a path (the pkg-config file, the
# systemd units, the example environment files) is written at install time
# from the prefix that install uses, so `cmake --install BUILD --prefix DIR`
# and DESTDIR=... give files that point into DIR, not into the prefix the
# build was configured with. The CMake package is relocatable by itself.
#
# Components, for packagers and the container image:
#   Runtime      the three programs, the shared library, the example modules,
#                the broker's patched libzmq, the section 1 man pages
#   Development  headers, static library, the .so link, libzfarm.pc, the
#                CMake package, the section 3 man pages
#   Service      systemd units, the example environment and config files
include (GNUInstallDirs)
include (CMakePackageConfigHelpers)

option (ZFARM_INSTALL_SYSTEMD "Install the systemd units (component Service)" ON)
set (ZFARM_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
     "Where the systemd units go, relative to the install prefix or absolute")

set (ZFARM_MODULEDIR "${CMAKE_INSTALL_LIBDIR}/zfarm/modules")
set (ZFARM_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/zfarm")
# Generated files are staged here, then installed.
set (ZFARM_STAGE_DIR "${CMAKE_BINARY_DIR}/install-stage")

# ---- programs, libraries, modules, headers ---------------------------------

# Installed programs find libzfarm beside them ($ORIGIN), so a tree installed
# under any prefix (/opt/zfarm, a test's temporary directory) runs without
# ldconfig or LD_LIBRARY_PATH. Packagers who want no RUNPATH pass
# -DCMAKE_SKIP_INSTALL_RPATH=ON, which CMake honours.
file (RELATIVE_PATH ZFARM_BIN_TO_LIB
      "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
set_target_properties (zfarm-broker zfarm-worker zfarm-cli PROPERTIES
                       INSTALL_RPATH "$ORIGIN/${ZFARM_BIN_TO_LIB}")

# The broker's patched libzmq (cmake/Libzmq.cmake) goes into a directory of
# zfarm's own, which only the broker's RUNPATH names: nothing else on the
# system loads it by accident. Under its soname, which is all the dynamic
# linker looks for. With CMAKE_SKIP_INSTALL_RPATH the installed broker has
# no RUNPATH and loads the system libzmq instead (it warns at start):
# a packager must then put this file where the broker's loader finds it.
if (ZFARM_BROKER_LIBZMQ_FILE)
    set (ZFARM_PRIVATE_LIBDIR "${CMAKE_INSTALL_LIBDIR}/zfarm")
    set_target_properties (zfarm-broker PROPERTIES INSTALL_RPATH
        "$ORIGIN/${ZFARM_BIN_TO_LIB}/zfarm;$ORIGIN/${ZFARM_BIN_TO_LIB}")
    install (FILES ${ZFARM_BROKER_LIBZMQ_FILE} RENAME libzmq.so.5
             DESTINATION ${ZFARM_PRIVATE_LIBDIR} COMPONENT Runtime)
endif ()

install (TARGETS zfarm-broker zfarm-worker zfarm-cli
         RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install (TARGETS zfarm zfarm-static EXPORT zfarmTargets
         LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
                 NAMELINK_COMPONENT Development
         ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
         INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install (TARGETS zfarm-echo zfarm-primes
         LIBRARY DESTINATION ${ZFARM_MODULEDIR} COMPONENT Runtime)
install (FILES ${ZFARM_PUBLIC_HEADERS}
         DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development)

# ---- man pages -------------------------------------------------------------

# Each page lives beside the component it documents, so that whoever changes
# a flag sees the page next to the code; tests/install checks that every
# flag in --help and every exported function is in its page.
install (FILES ${CMAKE_SOURCE_DIR}/broker/zfarm-broker.1
               ${CMAKE_SOURCE_DIR}/worker/zfarm-worker.1
               ${CMAKE_SOURCE_DIR}/client/zfarm.1
         DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT Runtime)
install (FILES ${CMAKE_SOURCE_DIR}/client/zfarm.3
         DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT Development)

# `man zfarm_client_call` works too: one .so link page per exported function,
# found in the headers (a name on the line after ZFARM_EXPORT, indented by
# four spaces, as STYLE.md lays declarations out).
set_property (DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
              ${ZFARM_PUBLIC_HEADERS})
set (ZFARM_API_FUNCTIONS)
foreach (header ${ZFARM_PUBLIC_HEADERS})
    file (STRINGS ${header} lines REGEX "^    zfarm_[a-z0-9_]+ \\(")
    foreach (line ${lines})
        string (REGEX MATCH "zfarm_[a-z0-9_]+" name "${line}")
        list (APPEND ZFARM_API_FUNCTIONS ${name})
    endforeach ()
endforeach ()
foreach (name ${ZFARM_API_FUNCTIONS})
    file (CONFIGURE OUTPUT ${ZFARM_STAGE_DIR}/man3/${name}.3
          CONTENT ".so man3/zfarm.3\n")
    install (FILES ${ZFARM_STAGE_DIR}/man3/${name}.3
             DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT Development)
endforeach ()

# ---- files configured at install time --------------------------------------

# install (CODE) runs in cmake_install.cmake, where CMAKE_INSTALL_PREFIX is
# the prefix of this install. InstallConfigure.cmake turns the relative
# GNUInstallDirs values into absolute paths under it, configures the
# templates named by ZFARM_CONFIGURE (pairs: template, destination) into a
# stage directory of this install's own, and installs them with
# file (INSTALL), which adds DESTDIR and records them in the manifest.
function (zfarm_install_configured component)
    install (CODE "
        set (ZFARM_VERSION \"${PROJECT_VERSION}\")
        set (ZFARM_STAGE_DIR \"${ZFARM_STAGE_DIR}\")
        set (ZFARM_REL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
        set (ZFARM_REL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
        set (ZFARM_REL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
        set (ZFARM_REL_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
        set (ZFARM_REL_MODULEDIR \"${ZFARM_MODULEDIR}\")
        set (ZFARM_DL_LIBS \"${CMAKE_DL_LIBS}\")
        set (ZFARM_CONFIGURE \"${ARGN}\")
        include (\"${CMAKE_CURRENT_FUNCTION_LIST_DIR}/InstallConfigure.cmake\")"
        COMPONENT ${component})
endfunction ()

zfarm_install_configured (Development
    ${CMAKE_CURRENT_LIST_DIR}/libzfarm.pc.in ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if (ZFARM_INSTALL_SYSTEMD)
    set (systemd_dir ${CMAKE_SOURCE_DIR}/deploy/systemd)
    zfarm_install_configured (Service
        ${systemd_dir}/zfarm-broker.service.in ${ZFARM_SYSTEMD_UNITDIR}
        ${systemd_dir}/zfarm-worker@.service.in ${ZFARM_SYSTEMD_UNITDIR}
        ${systemd_dir}/broker.env.in ${CMAKE_INSTALL_DOCDIR}/examples
        ${systemd_dir}/broker.cfg.in ${CMAKE_INSTALL_DOCDIR}/examples
        ${systemd_dir}/worker.env.in ${CMAKE_INSTALL_DOCDIR}/examples)
endif ()

# ---- CMake package: find_package (zfarm) -----------------------------------

install (EXPORT zfarmTargets NAMESPACE zfarm:: DESTINATION ${ZFARM_CMAKEDIR}
         COMPONENT Development)
configure_package_config_file (
    ${CMAKE_CURRENT_LIST_DIR}/zfarmConfig.cmake.in
    ${CMAKE_BINARY_DIR}/zfarmConfig.cmake
    INSTALL_DESTINATION ${ZFARM_CMAKEDIR}
    PATH_VARS CMAKE_INSTALL_INCLUDEDIR ZFARM_MODULEDIR)
# Before 1.0 a minor release may change the API, so only 0.1.x satisfies
# find_package (zfarm 0.1).
write_basic_package_version_file (
    ${CMAKE_BINARY_DIR}/zfarmConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install (FILES ${CMAKE_BINARY_DIR}/zfarmConfig.cmake
               ${CMAKE_BINARY_DIR}/zfarmConfigVersion.cmake
         DESTINATION ${ZFARM_CMAKEDIR} COMPONENT Development)
