/* cli_keygen.c: `zfarm keygen`: a CURVE keypair in czmq's certificate
 * format, with the role (and services) the broker will let it have. */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *role;           /* client, worker or both */
    const char *services;       /* a worker's allowed services, or NULL */
    const char *dir;            /* where to write, or NULL: here */
    const char *name;
} keygen_args_t;

static void
s_print_help (void)
{
    printf (
"usage: zfarm keygen [OPTIONS] NAME\n\n"
"Writes a CURVE keypair in czmq's certificate format: NAME, the public\n"
"certificate, for the broker's --authorized-keys directory (or, for the\n"
"broker's own pair, for clients and workers: --curve-server-key), and\n"
"NAME_secret, which stays with its owner (mode 0600). Prints both paths\n"
"and the public key. Existing files are never overwritten.\n\n"
"  -r, --role ROLE       what the broker lets this key do: client (submit\n"
"                        tasks, cancel, status), worker (serve tasks) or\n"
"                        both (default client)\n"
"  -s, --services LIST   for a worker: the only services it may offer,\n"
"                        comma-separated (default: any)\n"
"  -d, --dir DIR         write into DIR (default: the current directory)\n"
"  -h, --help            show this help\n\n"
"Exit status: 0 when both files are written; 1 if they could not be\n"
"(NAME exists, or DIR is not writable); 2 for a usage error.\n");
}

/* The rules between options. Returns -1 to go on, or the exit status. */
static int
s_check_args (const keygen_args_t *args)
{
    /* The roles of zfarm-broker(1)'s --authorized-keys: its certificates'
     * "role" metadata. */
    bool worker = streq (args->role, "worker") || streq (args->role, "both");
    if (!worker && !streq (args->role, "client"))
        return cli_usage_error ("keygen", "bad --role '%s' (client, worker"
                                " or both)", args->role);
    if (args->services && !worker)
        return cli_usage_error ("keygen", "--services is for a worker key"
                                " (--role worker or both)");
    if (args->services && !zfarm_service_list_is_valid (args->services))
        return cli_usage_error ("keygen", "bad --services '%s' (service"
                                " names, comma-separated)", args->services);
    return -1;
}

/* Fills args from argv. Returns -1 to go on, or the exit status. */
static int
s_parse_args (int argc, char *argv [], keygen_args_t *args)
{
    static const struct option options [] = {
        { "role",     required_argument, NULL, 'r' },
        { "services", required_argument, NULL, 's' },
        { "dir",      required_argument, NULL, 'd' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:r:s:d:h", options, NULL)) != -1) {
        if (code == 'h') {
            s_print_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'r')
            args->role = optarg;
        else
        if (code == 's')
            args->services = optarg;
        else
        if (code == 'd')
            args->dir = optarg;
        else
            return cli_bad_option ("keygen", code, argv);
    }
    if (optind == argc)
        return cli_usage_error ("keygen", "missing NAME");
    if (argc - optind > 1)
        return cli_usage_error ("keygen", "too many arguments");
    args->name = argv [optind];
    return s_check_args (args);
}

/* Creates path, empty, with mode, failing if it exists: so that keygen
 * never overwrites a key, even one that appears while it runs. */
static int
s_reserve (const char *path, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd == -1) {
        fprintf (stderr, "zfarm: %s: %s%s\n", path, strerror (errno),
                 errno == EEXIST? "; not overwritten": "");
        return -1;
    }
    close (fd);
    return 0;
}

/* Writes the pair into the reserved files. Returns 0 or -1 (said). */
static int
s_write (const keygen_args_t *args, const char *public_path,
         const char *secret_path, zcert_t **cert_p)
{
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "zfarm: cannot make a keypair: %s\n",
                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    zcert_set_meta (cert, "role", "%s", args->role);
    if (args->services)
        zcert_set_meta (cert, "services", "%s", args->services);
    if (zcert_save_public (cert, public_path) != 0
    ||  zcert_save_secret (cert, secret_path) != 0) {
        fprintf (stderr, "zfarm: cannot write %s: %s\n", public_path,
                 strerror (errno));
        zcert_destroy (&cert);
        return -1;
    }
    *cert_p = cert;
    return 0;
}

int
cli_keygen (int argc, char *argv [])
{
    keygen_args_t args = { .role = "client" };
    int rc = s_parse_args (argc, argv, &args);
    if (rc >= 0)
        return rc;
    char *public_path = args.dir? zsys_sprintf ("%s/%s", args.dir, args.name)
                                : zsys_sprintf ("%s", args.name);
    char *secret_path = zsys_sprintf ("%s_secret", public_path);
    zcert_t *cert = NULL;
    rc = CLI_EXIT_FAILED;
    if (s_reserve (public_path, 0644) == 0) {
        if (s_reserve (secret_path, 0600) != 0)
            unlink (public_path);
        else
        if (s_write (&args, public_path, secret_path, &cert) != 0) {
            unlink (public_path);
            unlink (secret_path);
        }
    }
    if (cert) {
        printf ("public certificate: %s\nsecret certificate: %s (keep it"
                " private)\npublic key: %s\n", public_path, secret_path,
                zcert_public_txt (cert));
        rc = fflush (stdout) == 0? CLI_EXIT_OK: CLI_EXIT_FAILED;
    }
    zcert_destroy (&cert);
    zstr_free (&secret_path);
    zstr_free (&public_path);
    return rc;
}
