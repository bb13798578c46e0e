/* harness.c: start, watch and always clean up real zfarm processes. */
#include "harness.h"
#include "zfarm.h"
#include <arpa/inet.h>
#include <czmq.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 256

static char s_tmpdir [256];
static pid_t s_children [MAX_CHILDREN];
static int s_child_count;

static void
s_cleanup (void)
{
    for (int i = 0; i < s_child_count; i++)
        if (s_children [i] > 0) {
            kill (s_children [i], SIGKILL);
            waitpid (s_children [i], NULL, 0);
        }
    if (*s_tmpdir && !getenv ("ZFARM_KEEP_TMP")) {
        char command [300];
        snprintf (command, sizeof command, "rm -rf '%s'", s_tmpdir);
        if (system (command) != 0)
            fprintf (stderr, "harness: could not remove %s\n", s_tmpdir);
    }
}

const char *
th_tmpdir (void)
{
    if (!*s_tmpdir) {
        /* $TMPDIR lets a caller (tests/stress.sh) gather every test's
         * directory in one place; keep it short, for ipc:// paths. */
        const char *root = getenv ("TMPDIR");
        snprintf (s_tmpdir, sizeof s_tmpdir, "%s/zfarm-test-XXXXXX",
                  root && *root? root: "/tmp");
        if (!mkdtemp (s_tmpdir))
            TEST_FAIL ("mkdtemp: %s", strerror (errno));
        atexit (s_cleanup);
        signal (SIGPIPE, SIG_IGN);
    }
    return s_tmpdir;
}

static const char *
s_path (const char *env, const char *fallback, const char *name)
{
    static char paths [32][512];
    static int next;
    char *path = paths [next++ % 32];
    const char *dir = getenv (env);
    snprintf (path, 512, "%s/%s", dir? dir: fallback, name);
    return path;
}

const char *
th_bin (const char *name)
{
    return s_path ("ZFARM_BIN_DIR", "build/bin", name);
}

const char *
th_module (const char *name)
{
    return s_path ("ZFARM_MODULE_DIR", "build/modules", name);
}

static void
s_remember (pid_t pid)
{
    if (s_child_count == MAX_CHILDREN)
        TEST_FAIL ("harness: too many children");
    s_children [s_child_count++] = pid;
}

static void
s_forget (pid_t pid)
{
    for (int i = 0; i < s_child_count; i++)
        if (s_children [i] == pid)
            s_children [i] = 0;
}

pid_t
th_spawn (const char *log, const char *const argv [])
{
    char out [512], err [512];
    snprintf (out, sizeof out, "%s/%s.out", th_tmpdir (), log);
    snprintf (err, sizeof err, "%s/%s.err", th_tmpdir (), log);
    pid_t pid = fork ();
    if (pid < 0)
        TEST_FAIL ("fork: %s", strerror (errno));
    if (pid == 0) {
        int out_fd = open (out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int err_fd = open (err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2 (out_fd, 1);
        dup2 (err_fd, 2);
        execv (argv [0], (char *const *) argv);
        fprintf (stderr, "exec %s: %s\n", argv [0], strerror (errno));
        _exit (127);
    }
    s_remember (pid);
    return pid;
}

const char *const *
th_seam_argv (const char *bytes, const char *action,
              const char *const argv [])
{
    static char preload [600], on_recv [300], recv_action [600], asan [600];
    static const char *seamed [80];
    const char *lib = getenv ("ZFARM_TEST_SEAM_LIB");
    if (!lib)
        lib = "build/tests/libzfarm-test-seam.so";
    if (access (lib, R_OK) != 0)
        TEST_FAIL ("no %s (the target zfarm-test-seam)", lib);
    /* Under ASan, the preloaded seam comes before the ASan runtime. */
    const char *options = getenv ("ASAN_OPTIONS");
    snprintf (preload, sizeof preload, "LD_PRELOAD=%s", lib);
    snprintf (on_recv, sizeof on_recv, "ZFARM_TEST_ON_RECV=%s", bytes);
    snprintf (recv_action, sizeof recv_action, "ZFARM_TEST_RECV_ACTION=%s",
              action);
    snprintf (asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
              options? options: "", options && *options? ":": "");
    int argc = 0;
    seamed [argc++] = "/usr/bin/env";
    seamed [argc++] = preload;
    seamed [argc++] = on_recv;
    seamed [argc++] = recv_action;
    seamed [argc++] = asan;
    for (int i = 0; argv [i]; i++) {
        if (argc == 79)
            TEST_FAIL ("th_seam_argv: too many arguments");
        seamed [argc++] = argv [i];
    }
    seamed [argc] = NULL;
    return seamed;
}

const char *
th_loopback (void)
{
    static char address [32];
    if (!*address) {
        unsigned pid = (unsigned) getpid ();    /* < 2^22 on Linux */
        snprintf (address, sizeof address, "127.%u.%u.%u",
                  1 + ((pid >> 16) & 63), (pid >> 8) & 255, pid & 255);
    }
    return address;
}

th_broker_t
th_broker_start (const char *transport, const char *const extra [])
{
    static int broker_count;    /* numbers the brokers' files and logs */
    th_broker_t broker = { 0 };
    int n = ++broker_count;
    char bind [300], file [300], log [32];
    if (strcmp (transport, "ipc") == 0)
        snprintf (bind, sizeof bind, "ipc://%s/broker%d.ipc", th_tmpdir (), n);
    else
        snprintf (bind, sizeof bind, "tcp://%s:*", th_loopback ());
    snprintf (file, sizeof file, "%s/broker%d.endpoints", th_tmpdir (), n);
    snprintf (log, sizeof log, "broker%d", n);

    const char *argv [64] = { th_bin ("zfarm-broker"), "--bind", bind,
                              "--endpoint-file", file };
    int argc = 5;
    for (int i = 0; extra && extra [i] && argc < 62; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    broker.pid = th_spawn (log, argv);

    for (int tries = 0; tries < 1000; tries++) {
        char *text = th_read_file (file, NULL);
        if (text && strchr (text, '\n')) {
            *strchr (text, '\n') = 0;
            if (strlen (text) >= sizeof broker.endpoint)
                TEST_FAIL ("broker endpoint too long: %s", text);
            snprintf (broker.endpoint, sizeof broker.endpoint, "%s", text);
            free (text);
            return broker;
        }
        free (text);
        if (!th_alive (broker.pid))
            TEST_FAIL ("broker exited at start (see %s/%s.err)", th_tmpdir (), log);
        zclock_sleep (10);
    }
    TEST_FAIL ("broker did not write %s", file);
    return broker;
}

pid_t
th_worker_start (const char *endpoint, const char *const extra [])
{
    static int worker_count;
    char log [32];
    snprintf (log, sizeof log, "worker%d", ++worker_count);
    const char *argv [64] = { th_bin ("zfarm-worker"), "--broker", endpoint };
    int argc = 3;
    for (int i = 0; extra && extra [i] && argc < 62; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    return th_spawn (log, argv);
}

char *
th_status (const char *endpoint)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    if (!client)
        return NULL;
    char *json = NULL;
    if (zfarm_client_status (client, 2000, &json) != 0)
        json = NULL;
    zfarm_client_destroy (&client);
    return json;
}

json_t *
th_status_doc (const char *endpoint)
{
    char *text = th_status (endpoint);
    json_t *doc = text? json_parse (text, strlen (text)): NULL;
    free (text);
    return doc;
}

/* The element of array whose member field is the string value, or NULL. */
static const json_t *
s_json_where (const json_t *array, const char *field, const char *value)
{
    for (const json_t *at = json_first (array); at; at = json_next (at))
        if (strcmp (json_string (json_member (at, field), ""), value) == 0)
            return at;
    return NULL;
}

const json_t *
th_json_path (const json_t *doc, const char *path)
{
    char copy [256];
    snprintf (copy, sizeof copy, "%s", path);
    const json_t *at = doc;
    char *rest = copy;
    for (char *step = strsep (&rest, "."); step && at;
         step = strsep (&rest, ".")) {
        char *filter = strchr (step, '[');
        if (filter)
            *filter++ = 0;
        at = json_member (at, step);
        if (filter && at) {
            char *equals = strchr (filter, '=');
            char *close = strchr (filter, ']');
            if (!equals || !close)
                TEST_FAIL ("th_json_path: bad filter in '%s'", path);
            *equals = 0;
            *close = 0;
            at = s_json_where (at, filter, equals + 1);
        }
    }
    return at;
}

double
th_status_number (const char *endpoint, const char *path)
{
    json_t *doc = th_status_doc (endpoint);
    double value = json_number (th_json_path (doc, path), -1);
    json_destroy (&doc);
    return value;
}

long
th_status_counter (const char *endpoint, const char *name)
{
    char path [96];
    snprintf (path, sizeof path, "counters.%s", name);
    return (long) th_status_number (endpoint, path);
}

int
th_status_worker_count (const char *endpoint)
{
    json_t *doc = th_status_doc (endpoint);
    if (!doc)
        return -1;
    int count = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker))
        count++;
    json_destroy (&doc);
    return count;
}

void
th_status_http (const char *endpoint, char *host, size_t host_size,
                int *port_p)
{
    json_t *doc = th_status_doc (endpoint);
    const char *url = json_string (th_json_path (doc, "broker.http"), "");
    char format [32];
    snprintf (format, sizeof format, "http://%%%zu[0-9.]:%%d", host_size - 1);
    if (sscanf (url, format, host, port_p) != 2)
        TEST_FAIL ("no http://HOST:PORT in the status of %s: '%s'",
                   endpoint, url);
    json_destroy (&doc);
}

int
th_status_pids (const char *endpoint, int *pids, int max)
{
    json_t *doc = th_status_doc (endpoint);
    int count = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker && count < max; worker = json_next (worker))
        pids [count++] = (int) json_number (json_member (worker, "pid"), -1);
    json_destroy (&doc);
    return count;
}

int
th_call (const char *endpoint, const char *service, const char *payload,
         int timeout_ms, char **text_p)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, service, payload, strlen (payload),
                                timeout_ms, &result);
    ASSERT (result);
    if (text_p) {
        size_t size;
        *text_p = strdup (rc == 0? (const char *) zfarm_result_data (result, &size)
                                 : zfarm_result_error (result));
    }
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc;
}

void
th_client_hear_epoch (zfarm_client_t *client)
{
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), ZFARM_ETIMEOUT);
    char *json = NULL;
    ASSERT_EQ (zfarm_client_status (client, 10000, &json), 0);
    free (json);
}

bool
th_pid_exists (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    char *stat = th_read_file (path, NULL);
    if (!stat)
        return false;
    /* The state follows the command name, which ends with the last ')'. */
    const char *state = strrchr (stat, ')');
    bool exists = state && state [1] == ' ' && state [2] != 'Z';
    free (stat);
    return exists;
}

bool
th_wait_gone (const int *pids, int count, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    do {
        bool any = false;
        for (int i = 0; i < count; i++)
            any |= th_pid_exists (pids [i]);
        if (!any)
            return true;
        zclock_sleep (10);
    } while (zclock_mono () < deadline);
    return false;
}

int
th_count (const char *haystack, const char *needle)
{
    int count = 0;
    for (const char *at = haystack; at && (at = strstr (at, needle));
         at += strlen (needle))
        count++;
    return count;
}

bool
th_wait_workers (const char *endpoint, int count, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        char *json = th_status (endpoint);
        int ready = th_count (json, "\"state\":\"ready\"")
                  + th_count (json, "\"state\":\"busy\"");
        /* A broker that does not answer has no count, not 0. */
        bool answered = json != NULL;
        free (json);
        if (answered && ready == count)
            return true;
        zclock_sleep (20);
    }
    return false;
}

void
th_kill (pid_t pid, int sig)
{
    for (int i = 0; i < s_child_count; i++)
        if (s_children [i] == pid) {
            kill (pid, sig);
            return;
        }
    TEST_FAIL ("th_kill: %d is not a child of this test", (int) pid);
}

int
th_reap (pid_t pid, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    do {
        int status;
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid) {
            s_forget (pid);
            return status;
        }
        if (rc < 0)
            return -1;
        zclock_sleep (5);
    } while (zclock_mono () < deadline);
    return -1;
}

bool
th_alive (pid_t pid)
{
    int status;
    pid_t rc = waitpid (pid, &status, WNOHANG);
    if (rc == pid) {
        s_forget (pid);
        return false;
    }
    return rc == 0;
}

char *
th_read_file (const char *path, size_t *size_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t size = 0, capacity = 4096;
    char *data = malloc (capacity);
    size_t n;
    while ((n = fread (data + size, 1, capacity - size - 1, file)) > 0) {
        size += n;
        if (capacity - size < 2)
            data = realloc (data, capacity *= 2);
    }
    fclose (file);
    data [size] = 0;
    if (size_p)
        *size_p = size;
    return data;
}

/* Feeds in, drains out and err, all without blocking on one of them. */
static void
s_pump (int in_fd, const char *in, size_t in_size, int out_fd, int err_fd,
        char **out_p, size_t *out_size_p, char **err_p, int64_t deadline)
{
    size_t sizes [2] = { 0, 0 }, caps [2] = { 4096, 4096 }, in_at = 0;
    char *bufs [2] = { malloc (caps [0]), malloc (caps [1]) };
    int fds [2] = { out_fd, err_fd };
    if (in_fd >= 0 && in_size == 0) {
        close (in_fd);
        in_fd = -1;
    }
    /* POLLOUT means some room, not room for all: a blocking write of the
     * rest would wait for the child to read, while it waits for us to
     * read its output (zfarm map over more than a pipe's worth). */
    if (in_fd >= 0)
        fcntl (in_fd, F_SETFL, fcntl (in_fd, F_GETFL) | O_NONBLOCK);
    while ((fds [0] >= 0 || fds [1] >= 0) && zclock_mono () < deadline) {
        struct pollfd p [3] = { { fds [0], POLLIN, 0 }, { fds [1], POLLIN, 0 },
                                { in_fd, POLLOUT, 0 } };
        if (poll (p, 3, 100) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds [i] < 0 || !(p [i].revents & (POLLIN | POLLHUP)))
                continue;
            if (caps [i] - sizes [i] < 65536)
                bufs [i] = realloc (bufs [i], caps [i] = caps [i] * 2 + 65536);
            ssize_t n = read (fds [i], bufs [i] + sizes [i], caps [i] - sizes [i] - 1);
            if (n <= 0) {
                close (fds [i]);
                fds [i] = -1;
            }
            else
                sizes [i] += n;
        }
        if (in_fd >= 0 && (p [2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write (in_fd, in + in_at, in_size - in_at);
            if (n > 0)
                in_at += n;
            if ((n < 0 && errno != EAGAIN) || in_at == in_size) {
                close (in_fd);
                in_fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    if (in_fd >= 0)
        close (in_fd);
    bufs [0][sizes [0]] = 0;
    bufs [1][sizes [1]] = 0;
    *out_p = bufs [0];
    if (out_size_p)
        *out_size_p = sizes [0];
    if (err_p)
        *err_p = bufs [1];
    else
        free (bufs [1]);
}

int
th_run (const char *const argv [], const void *in, size_t in_size,
        char **out_p, size_t *out_size_p, char **err_p, int timeout_ms)
{
    int in_pipe [2], out_pipe [2], err_pipe [2];
    if (pipe (in_pipe) || pipe (out_pipe) || pipe (err_pipe))
        TEST_FAIL ("pipe: %s", strerror (errno));
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (in_pipe [0], 0);
        dup2 (out_pipe [1], 1);
        dup2 (err_pipe [1], 2);
        for (int fd = 3; fd < 64; fd++)
            close (fd);
        execv (argv [0], (char *const *) argv);
        _exit (127);
    }
    s_remember (pid);
    close (in_pipe [0]);
    close (out_pipe [1]);
    close (err_pipe [1]);
    int64_t deadline = zclock_mono () + timeout_ms;
    s_pump (in? in_pipe [1]: (close (in_pipe [1]), -1), in, in_size,
            out_pipe [0], err_pipe [0], out_p, out_size_p, err_p, deadline);
    int status = th_reap (pid, (int) (deadline - zclock_mono () > 0?
                                      deadline - zclock_mono (): 0) + 10);
    if (status == -1) {
        kill (pid, SIGKILL);
        th_reap (pid, 5000);
    }
    return status;
}

char *
th_http (const char *host, int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
    inet_pton (AF_INET, host, &addr.sin_addr);
    ASSERT_EQ (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    struct timeval timeout = { 10, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ASSERT_EQ (write (fd, request, strlen (request)), (ssize_t) strlen (request));
    size_t size = 0, capacity = 1 << 16;
    char *answer = malloc (capacity);
    ssize_t n;
    while ((n = read (fd, answer + size, capacity - size - 1)) > 0) {
        size += n;
        if (capacity - size < 2)
            answer = realloc (answer, capacity *= 2);
    }
    answer [size] = 0;
    close (fd);
    return answer;
}

char *
th_http_get (const char *host, int port, const char *path)
{
    char request [512];
    snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: test\r\n"
              "Connection: close\r\n\r\n", path);
    return th_http (host, port, request);
}

char *
th_page_dom (const char *url)
{
    char profile [512];
    snprintf (profile, sizeof profile, "--user-data-dir=%s/chromium", th_tmpdir ());
    const char *argv [] = { "/usr/bin/chromium", "--headless", "--no-sandbox",
        "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", profile, "--virtual-time-budget=5000",
        "--dump-dom", url, NULL };
    if (access (argv [0], X_OK) != 0)
        TEST_FAIL ("no /usr/bin/chromium: run deploy/install-deps.sh --test");
    char *dom, *err;
    int status = th_run (argv, NULL, 0, &dom, NULL, &err, 90000);
    if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0))
        TEST_FAIL ("chromium %s: status %d, stderr \"%s\"", url, status, err);
    free (err);
    return dom;
}

void
th_send_header (zsock_t *sock, zframe_t *to, const zf_header_t *header,
                const char *payload)
{
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (header, &buf), 0);
    zmsg_t *msg = zmsg_new ();
    if (to) {
        zframe_t *copy = zframe_dup (to);
        zmsg_append (msg, &copy);
    }
    zmsg_addmem (msg, buf.data, buf.size);
    if (payload)
        zmsg_addstr (msg, payload);
    ASSERT_EQ (zmsg_send (&msg, sock), 0);
}
