/* zf_config.h: a program's section of a zconfig (ZPL) file, as arguments.
 *
 * Each `name = value` under the section becomes "--name=value" (a boolean
 * option, "--name" when its value is true), so that a program parses its
 * file and its command line with one parser, and the command line, parsed
 * second, wins. */
#ifndef ZF_CONFIG_H
#define ZF_CONFIG_H

#include <czmq.h>
#include <getopt.h>
#include <stddef.h>

typedef struct {
    int argc;                   /* argv [0] is the program's name */
    char **argv;                /* NULL-terminated */
    int *lines;                 /* lines [i]: where argv [i] came from */
} zf_config_args_t;

/* Reads section of the file at path into args. Options are checked against
 * longopts (to know which take no value). Returns 0, or -1 with a message
 * naming the file and line in error (the file is unreadable or malformed,
 * or a setting is unknown, nested, or a boolean that is not true/false). */
int
    zf_config_args (const char *path, const char *section,
                    const struct option *longopts, zf_config_args_t *args,
                    char *error, size_t error_size);

void
    zf_config_args_free (zf_config_args_t *args);

/* The zconfig tree of the file at path (a czmq certificate, for one), or
 * NULL if it cannot be read or parsed (zconfig says why on the log).
 * Instead of zconfig_load, which leaks on a missing or malformed file.
 * Caller destroys. */
zconfig_t *
    zf_config_load (const char *path);

/* Finds "--config FILE", "--config=FILE" or, if short_option is not 0,
 * "-<short_option> FILE" in argv (before any "--"). Sets *index_p (may be
 * NULL) to where the option starts. Returns the file, or NULL if none. */
const char *
    zf_config_path (int argc, char *argv [], char short_option, int *index_p);

#endif
