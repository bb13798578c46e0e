/* cli_main.c: the zfarm tool: global options, then one subcommand. */
#include "cli.h"

#include <czmq.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    cli_command_fn *run;
    const char *summary;
} command_t;

static const command_t s_commands [] = {
    { "call",   cli_call,   "run one task and print its result" },
    { "map",    cli_map,    "run a task per line of stdin, results in order" },
    { "status", cli_status, "show the broker's workers, services and counters" },
    { "submit", cli_submit, "hand a detached task to the broker, print its id" },
    { "result", cli_result, "print a detached task's result" },
    { "cancel", cli_cancel, "cancel a detached task" },
    { "tasks",  cli_tasks,  "list detached tasks" },
    { "dead",   cli_dead,   "list, show, retry or drop dead letters" },
    { "keygen", cli_keygen, "write a CURVE keypair for a client, worker or broker" },
};

#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands [0])

int
cli_usage_error (const char *command, const char *format, ...)
{
    const char *space = command? " ": "";
    command = command? command: "";
    fprintf (stderr, "zfarm%s%s: ", space, command);
    va_list args;
    va_start (args, format);
    vfprintf (stderr, format, args);
    va_end (args);
    fprintf (stderr, " (try 'zfarm%s%s --help')\n", space, command);
    return CLI_EXIT_USAGE;
}

int
cli_bad_option (const char *command, int code, char *argv [])
{
    /* getopt_long leaves the refused word at optind - 1; a short option
     * inside a cluster ("-xq") is named by optopt instead. */
    const char *word = argv [optind - 1];
    char letter [3] = { '-', (char) optopt, 0 };
    if (strncmp (word, "--", 2) != 0 && optopt)
        word = letter;
    if (code == ':')
        return cli_usage_error (command, "option '%s' needs a value", word);
    return cli_usage_error (command, "unknown option '%s'", word);
}

/* The first Ctrl-C (or SIGTERM) sets zsys_interrupted, as czmq's own
 * handler does: the command cancels its tasks, which stops their work,
 * and reports. The second ends the process at once, for a user who will
 * not wait for that (the CANCELs may be lost then, if the broker is slow
 * to take them). */
static void
s_on_interrupt (int sig)
{
    if (zsys_interrupted)
        _exit (128 + sig);
    zsys_interrupted = 1;
}

zfarm_client_t *
cli_connect (const char *command, const char *broker)
{
    /* Checked here too, so that a bad key is a usage error that names
     * the options; the library would only fail. */
    char error [512];
    if (zfarm_curve_check_env (error, sizeof error) != 0) {
        cli_usage_error (command, "--curve-server-key, --curve-cert: %s",
                         error);
        return NULL;
    }
    zfarm_client_t *client = zfarm_client_new (broker);
    if (!client && broker)
        cli_usage_error (command, "bad --broker endpoint '%s'", broker);
    else
    if (!client) {
        const char *endpoint = getenv ("ZFARM_BROKER");
        cli_usage_error (command, "bad ZFARM_BROKER endpoint '%s'",
                         endpoint? endpoint: "");
    }
    /* After czmq's set-up, which would install its own handler. */
    zsys_init ();
    zsys_handler_set (s_on_interrupt);
    return client;
}

static void
s_print_help (void)
{
    printf ("usage: zfarm [--help] [--version] COMMAND [ARGS]\n\n"
            "Hands tasks to a zfarm broker. Commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        printf ("  %-8s %s\n", s_commands [i].name, s_commands [i].summary);
    printf ("\n'zfarm COMMAND --help' describes a command. The broker is "
            "--broker EP, else\n$ZFARM_BROKER, else tcp://127.0.0.1:5555.\n"
            "\nA broker with CURVE security needs, before or after COMMAND:\n"
            "  --curve-server-key KEY  the broker's public key (Z85, or its"
            " public\n                          certificate file; default"
            " $%s)\n"
            "  --curve-cert FILE       our secret certificate (zfarm keygen;"
            "\n                          default $%s)\n",
            ZFARM_CURVE_SERVER_KEY_ENV, ZFARM_CURVE_CERT_ENV);
}

/* Takes --curve-server-key and --curve-cert (also "--flag=value") out of
 * argv, before any "--", wherever they are, and puts their values into the
 * environment, where the client library reads them: so every command that
 * talks to a broker takes them, and no command's own parser sees them.
 * Returns -1 to go on, or the exit status. */
static int
s_take_curve_options (int *argc, char *argv [])
{
    static const struct { const char *flag, *env; } options [] = {
        { "--curve-server-key", ZFARM_CURVE_SERVER_KEY_ENV },
        { "--curve-cert",       ZFARM_CURVE_CERT_ENV },
    };
    int kept = 1, i = 1;
    for (; i < *argc && strcmp (argv [i], "--") != 0; i++) {
        const char *env = NULL, *value = NULL;
        for (size_t o = 0; !env && o < 2; o++) {
            size_t size = strlen (options [o].flag);
            if (strncmp (argv [i], options [o].flag, size) != 0
            ||  (argv [i][size] != 0 && argv [i][size] != '='))
                continue;
            env = options [o].env;
            value = argv [i][size] == '='? argv [i] + size + 1: argv [++i];
        }
        if (!env)
            argv [kept++] = argv [i];
        else
        if (!value)
            return cli_usage_error (NULL, "option '%s' needs a value",
                                    argv [i - 1]);
        else
            setenv (env, value, 1);
    }
    while (i < *argc)
        argv [kept++] = argv [i++];
    argv [kept] = NULL;
    *argc = kept;
    return -1;
}

static const command_t *
s_command_lookup (const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp (s_commands [i].name, name) == 0)
            return &s_commands [i];
    return NULL;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "help",    no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    int code = s_take_curve_options (&argc, argv);
    if (code >= 0)
        return code;
    opterr = 0;
    while ((code = getopt_long (argc, argv, "+:hV", options, NULL)) != -1) {
        if (code == 'h') {
            s_print_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'V') {
            printf ("zfarm %s\n", ZFARM_VERSION);
            return CLI_EXIT_OK;
        }
        return cli_bad_option (NULL, code, argv);
    }
    if (optind == argc)
        return cli_usage_error (NULL, "missing command");
    const command_t *command = s_command_lookup (argv [optind]);
    if (!command)
        return cli_usage_error (NULL, "unknown command '%s'", argv [optind]);
    int first = optind;
    optind = 0;                 /* makes glibc's getopt start afresh */
    return command->run (argc - first, argv + first);
}
