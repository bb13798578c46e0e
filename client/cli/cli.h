/* cli.h: the subcommands of the zfarm command-line tool, and their exits. */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>
#include "zfarm_client.h"

#define CLI_EXIT_OK          0      /* the command did its job */
#define CLI_EXIT_FAILED      1      /* the task or the broker failed */
#define CLI_EXIT_USAGE       2      /* bad command line */
#define CLI_EXIT_PARTIAL     3      /* zfarm status: some brokers answered,
                                       not all */
#define CLI_EXIT_PENDING     4      /* zfarm result: the task has not
                                       finished yet */
#define CLI_EXIT_INTERRUPTED 130    /* SIGINT, as a shell reports it */

/* zfarm call's --timeout when not given. */
#define CLI_CALL_TIMEOUT_MS  30000

/* A subcommand: argv [0] is its name; returns the exit status. */
typedef int (cli_command_fn) (int argc, char *argv []);

/* `zfarm call`, `zfarm map`, `zfarm status` and `zfarm keygen`. */
int
    cli_call (int argc, char *argv []);
int
    cli_map (int argc, char *argv []);
int
    cli_status (int argc, char *argv []);
int
    cli_keygen (int argc, char *argv []);

/* `zfarm submit`, `zfarm result`, `zfarm cancel`, `zfarm tasks` and
 * `zfarm dead`: detached tasks (cli_detached.c). */
int
    cli_submit (int argc, char *argv []);
int
    cli_result (int argc, char *argv []);
int
    cli_cancel (int argc, char *argv []);
int
    cli_tasks (int argc, char *argv []);
int
    cli_dead (int argc, char *argv []);

/* Reads all of stdin into a malloc'd buffer (a payload: at most what the
 * broker's default --max-msg-size takes). Returns 0, or -1 with the reason
 * said on stderr. */
int
    cli_read_stdin (char **data_p, size_t *size_p);

/* Writes a task's result: its bytes to stdout as they are, or its error
 * to stderr ("zfarm: NAME: text (details)", escaped). Returns the exit
 * status: 0, CLI_EXIT_FAILED, or CLI_EXIT_INTERRUPTED for a task
 * cancelled by Ctrl-C. */
int
    cli_report_result (const zfarm_result_t *result);

/* Prints "zfarm[ COMMAND]: MESSAGE (try 'zfarm[ COMMAND] --help')" as one
 * line on stderr and returns CLI_EXIT_USAGE. command may be NULL. */
int
    cli_usage_error (const char *command, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Reports what getopt_long refused (it returned '?' or ':', with opterr
 * 0), as cli_usage_error does. argv and optind as getopt_long left them. */
int
    cli_bad_option (const char *command, int code, char *argv []);

/* A client for --broker EP (NULL: $ZFARM_BROKER, else the default), or
 * NULL if the endpoint is bad, which it reports as cli_usage_error does. */
zfarm_client_t *
    cli_connect (const char *command, const char *broker);

#endif
