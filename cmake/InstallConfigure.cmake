# InstallConfigure.cmake: run by `cmake --install` (from cmake_install.cmake),
# not at configure time. Writes the installed files that name absolute paths
# (libzfarm.pc, the systemd units, the example settings files) from the
# prefix of this install, and installs them.
#
# Set by the caller (zfarm_install_configured in cmake/Install.cmake):
# ZFARM_CONFIGURE, a list of pairs (template.in, destination directory);
# ZFARM_VERSION, ZFARM_STAGE_DIR, ZFARM_DL_LIBS; and the GNUInstallDirs
# values as configured (ZFARM_REL_BINDIR, _LIBDIR, _INCLUDEDIR, _SYSCONFDIR,
# _MODULEDIR), each relative to the prefix or absolute.

string (REGEX REPLACE "(.)/+$" "\\1" ZFARM_PREFIX "${CMAKE_INSTALL_PREFIX}")

# An absolute directory under this install's prefix, with GNUInstallDirs'
# rule for the configuration directory: /etc for the /usr prefix, /etc/opt/X
# for /opt/X, else PREFIX/etc.
function (zfarm_absolute_dir out rel)
    if (IS_ABSOLUTE "${rel}")
        set (dir "${rel}")
    elseif (rel STREQUAL "etc" AND ZFARM_PREFIX MATCHES "^/(usr)?$")
        set (dir "/etc")
    elseif (rel STREQUAL "etc" AND ZFARM_PREFIX MATCHES "^/opt/")
        set (dir "/etc${ZFARM_PREFIX}")
    elseif (ZFARM_PREFIX STREQUAL "/")
        set (dir "/${rel}")
    else ()
        set (dir "${ZFARM_PREFIX}/${rel}")
    endif ()
    set (${out} "${dir}" PARENT_SCOPE)
endfunction ()

# A directory for the pkg-config file: relative to ${prefix} when it can be,
# so that pkg-config --define-prefix can relocate the tree.
function (zfarm_pc_dir out rel)
    if (IS_ABSOLUTE "${rel}")
        set (${out} "${rel}" PARENT_SCOPE)
    else ()
        set (${out} "\${prefix}/${rel}" PARENT_SCOPE)
    endif ()
endfunction ()

zfarm_absolute_dir (ZFARM_BINDIR "${ZFARM_REL_BINDIR}")
zfarm_absolute_dir (ZFARM_SYSCONFDIR "${ZFARM_REL_SYSCONFDIR}")
zfarm_absolute_dir (ZFARM_MODULEDIR "${ZFARM_REL_MODULEDIR}")
zfarm_pc_dir (ZFARM_PC_LIBDIR "${ZFARM_REL_LIBDIR}")
zfarm_pc_dir (ZFARM_PC_INCLUDEDIR "${ZFARM_REL_INCLUDEDIR}")
set (ZFARM_PC_LIBS_PRIVATE "-pthread")
foreach (lib ${ZFARM_DL_LIBS})
    string (PREPEND ZFARM_PC_LIBS_PRIVATE "-l${lib} ")
endforeach ()

# A stage directory per destination, so that two installs of one build into
# different prefixes at once (parallel tests) never share a staged file.
string (MD5 stage_key "$ENV{DESTDIR}|${ZFARM_PREFIX}")
set (stage "${ZFARM_STAGE_DIR}/${stage_key}")

while (ZFARM_CONFIGURE)
    list (POP_FRONT ZFARM_CONFIGURE template destination)
    get_filename_component (name "${template}" NAME)
    string (REGEX REPLACE "\\.in$" "" name "${name}")
    configure_file ("${template}" "${stage}/${name}" @ONLY)
    zfarm_absolute_dir (destination "${destination}")
    file (INSTALL DESTINATION "${destination}" TYPE FILE FILES "${stage}/${name}")
endwhile ()
