/* test_peer_strings.c: the strings peers choose are data wherever they are
 * shown, never log lines, terminal control or markup of their own.
 *
 * Hand-made workers (DEALERs that speak the wire protocol, as in
 * test_broker_protocol) send a host name with a newline and an escape
 * sequence, error texts and a DISCONNECT reason with control bytes, and
 * names that are HTML. Then the real processes are checked: the broker's
 * log (its stderr), `zfarm call`, `zfarm map` and `zfarm status` (against
 * the real broker, and against a fake one whose document holds control
 * characters), a real zfarm-worker's log, /status.json, /metrics, and the
 * status page as headless Chromium renders it. */
#include "harness.h"
#include "cli_json.c"           /* the zfarm tool's own JSON reader */
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"
#include <czmq.h>
#include <sys/wait.h>

/* A host name that would forge a broker log line and turn it red. */
#define EVIL_HOST       "evil\nW: forged line\x1b[31m"
/* An error text: a forged line, CSI as ESC [ and as C1, a byte not UTF-8. */
#define EVIL_ERROR      "boom\nE: (zfarm-broker) forged\x1b[31m red\xc2\x9b" \
                        "1m \xff end"
#define ESCAPED_ERROR   "boom\\nE: (zfarm-broker) forged\\x1b[31m red" \
                        "\\xc2\\x9b1m \\xff end"
/* A DISCONNECT reason that sets the terminal's title. */
#define EVIL_REASON     "bye\nE: forged\x1b]0;pwned\x07"
#define ESCAPED_REASON  "bye\\nE: forged\\x1b]0;pwned\\x07"
/* Valid names that are HTML, or need escaping in a metrics label. */
#define HTML_SERVICE    "<img/src/onerror=alert(1)>"
#define LABEL_SERVICE   "we\"ird\\name"
#define HTML_HOST       "<b>bold</b>&amp;"
#define HTML_VERSION    "1.0 <i>beta</i>"

static zf_decoder_t *s_decoder;
static const char *s_endpoint;
static char s_http_host [64];
static int s_http_port;

/* ---- speaking the protocol by hand ------------------------------------- */

static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    ASSERT (sock);
    zsock_set_rcvtimeo (sock, 10000);
    return sock;
}

static void
s_send (zsock_t *sock, zf_header_t *header, const char *payload, size_t size)
{
    zmsg_t *msg = NULL;
    if (payload) {
        msg = zmsg_new ();
        zmsg_addmem (msg, payload, size);
    }
    ASSERT_EQ (zf_wire_send (sock, header, &msg), 0);
}

static void
s_ready (zsock_t *worker, const char *host, const char *service_a,
         const char *service_b)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = service_b? 2: 1;
    snprintf (header.services [0], sizeof header.services [0], "%s", service_a);
    if (service_b)
        snprintf (header.services [1], sizeof header.services [1], "%s",
                  service_b);
    header.pid = 4242;
    snprintf (header.host, sizeof header.host, "%s", host);
    zf_header_set_text (&header, HTML_VERSION);
    s_send (worker, &header, NULL, 0);
}

/* Receives the next message that is not a HEARTBEAT. */
static void
s_recv (zsock_t *sock, zf_header_t *header)
{
    for (int i = 0; i < 100; i++) {
        zmsg_t *payload = NULL;
        int rc = zf_wire_recv (sock, s_decoder, header, &payload);
        zmsg_destroy (&payload);
        if (rc == -1)
            TEST_FAIL ("no message within 10 s");
        ASSERT_EQ (rc, 0);
        if (header->command != ZF_HEARTBEAT)
            return;
    }
    TEST_FAIL ("only heartbeats");
}

/* Answers the next TASK with status and text, or with a result. */
static void
s_answer_task (zsock_t *worker, int status, const char *text,
               const char *result, size_t result_size)
{
    zf_header_t header;
    s_recv (worker, &header);
    ASSERT_EQ (header.command, ZF_TASK);
    uint64_t task_id = header.task_id;
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    header.status = status;
    if (text)
        zf_header_set_text (&header, text);
    s_send (worker, &header, result, result_size);
}

/* ---- checks ------------------------------------------------------------ */

/* True if text has a terminal control byte: C0 but newline, DEL, ESC's C1
 * twin in UTF-8, or a lone C1 byte. */
static bool
s_has_control (const char *text, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned char byte = (unsigned char) text [i];
        if ((byte < 0x20 && byte != '\n') || byte == 0x7f
        ||  (byte == 0xc2 && i + 1 < size
             && (unsigned char) text [i + 1] < 0xa0))
            return true;
    }
    return false;
}

static int
s_count_lines (const char *text)
{
    return th_count (text, "\n");
}

/* Runs a command line in the background, its output into <tmpdir>/<log>. */
static pid_t
s_spawn_shell (const char *log, const char *command)
{
    const char *argv [] = { "/bin/sh", "-c", command, NULL };
    return th_spawn (log, argv);
}

static char *
s_read_log (const char *log, const char *suffix, size_t *size_p)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.%s", th_tmpdir (), log, suffix);
    char *text = th_read_file (path, size_p);
    ASSERT (text);
    return text;
}

static void
s_expect_exit (pid_t pid, int code)
{
    int status = th_reap (pid, 20000);
    ASSERT (status != -1);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), code);
}

/* ---- the broker and the zfarm tool ------------------------------------- */

static void
test_evil_host_is_refused (void)
{
    zsock_t *worker = s_dealer (s_endpoint);
    s_ready (worker, EVIL_HOST, "echo", NULL);
    zf_header_t header;
    s_recv (worker, &header);
    ASSERT_EQ (header.command, ZF_ERROR);
    ASSERT_EQ (header.status, ZFARM_EBAD_REQUEST);
    ASSERT (strstr (header.text, "bad field 6 of READY"));
    zsock_destroy (&worker);
    ASSERT_EQ (th_status_worker_count (s_endpoint), 0);
}

/* `zfarm call`: the error text escaped on one line of stderr. */
static void
test_call_error (zsock_t *worker)
{
    char command [1024];
    snprintf (command, sizeof command, "exec '%s' call -b '%s' -t 20000 '%s' x",
              th_bin ("zfarm"), s_endpoint, HTML_SERVICE);
    pid_t pid = s_spawn_shell ("call_error", command);
    s_answer_task (worker, ZFARM_EHANDLER_ERROR, EVIL_ERROR, NULL, 0);
    s_expect_exit (pid, 1);
    size_t size;
    char *err = s_read_log ("call_error", "err", &size);
    ASSERT (!s_has_control (err, size));
    ASSERT_EQ (s_count_lines (err), 1);
    ASSERT (strncmp (err, "zfarm: HANDLER_ERROR: ", 22) == 0);
    ASSERT (strstr (err, " (" ESCAPED_ERROR ")\n"));
    free (err);
}

/* `zfarm call`: the result is the payload, byte for byte, escape or not. */
static void
test_call_result_is_exact (zsock_t *worker)
{
    char command [1024];
    snprintf (command, sizeof command, "exec '%s' call -b '%s' -t 20000 '%s' x",
              th_bin ("zfarm"), s_endpoint, HTML_SERVICE);
    pid_t pid = s_spawn_shell ("call_result", command);
    static const char result [] = "out\x1b[0m\n\x01\xc2\x9b\xff";
    s_answer_task (worker, 0, NULL, result, sizeof result - 1);
    s_expect_exit (pid, 0);
    size_t size;
    char *out = s_read_log ("call_result", "out", &size);
    ASSERT_EQ (size, sizeof result - 1);
    ASSERT_MEM_EQ (out, result, size);
    free (out);
}

/* `zfarm map`: the failure listed escaped, one line. */
static void
test_map_error (zsock_t *worker)
{
    char command [1024];
    snprintf (command, sizeof command,
              "printf 'one\\n' | '%s' map -q -b '%s' -t 20000 '%s'",
              th_bin ("zfarm"), s_endpoint, HTML_SERVICE);
    pid_t pid = s_spawn_shell ("map_error", command);
    s_answer_task (worker, ZFARM_EHANDLER_ERROR, EVIL_ERROR, NULL, 0);
    s_expect_exit (pid, 1);
    size_t size;
    char *err = s_read_log ("map_error", "err", &size);
    ASSERT (!s_has_control (err, size));
    ASSERT_EQ (s_count_lines (err), 1);
    ASSERT (strncmp (err, "zfarm: item 1 (line 1): HANDLER_ERROR: ", 39) == 0);
    ASSERT (strstr (err, " (" ESCAPED_ERROR ")\n"));
    free (err);
}

static void
test_disconnect_reason (void)
{
    zsock_t *worker = s_dealer (s_endpoint);
    s_ready (worker, "leaver", "other", NULL);
    ASSERT (th_wait_workers (s_endpoint, 2, 20000));
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, EVIL_REASON);
    s_send (worker, &header, NULL, 0);
    ASSERT (th_wait_workers (s_endpoint, 1, 20000));
    zsock_destroy (&worker);
}

/* Every line of the broker's log is one of its own lines: a level letter,
 * its ident, a date; what the peers sent is in them, escaped. */
static void
test_broker_log (void)
{
    size_t size;
    char *log = s_read_log ("broker1", "err", &size);
    ASSERT (!s_has_control (log, size));
    for (char *line = log; *line; line = strchr (line, '\n') + 1) {
        if (!(strchr ("EWNID", line [0]) && line [0]
        &&    strncmp (line + 1, ": (zfarm-broker) ", 17) == 0))
            TEST_FAIL ("a line the broker did not write: \"%.80s\"", line);
        ASSERT (strchr (line, '\n'));
    }
    ASSERT (strstr (log, "failed: HANDLER_ERROR: " ESCAPED_ERROR "\n"));
    /* The broker says why the worker left in its own words, not the
     * worker's reason (which the check of every line above covers). */
    ASSERT (strstr (log, "@leaver left ("));
    ASSERT (strstr (log, "bad field 6 of READY"));
    free (log);
}

/* `zfarm status` of the real broker: HTML in names is only text there. */
static void
test_status_of_broker (void)
{
    const char *argv [] = { th_bin ("zfarm"), "status", "-b", s_endpoint,
                            NULL };
    char *out, *err;
    size_t size;
    ASSERT_EQ (th_run (argv, NULL, 0, &out, &size, &err, 20000), 0);
    ASSERT (!s_has_control (out, size));
    ASSERT (strstr (out, HTML_HOST));
    ASSERT (strstr (out, HTML_SERVICE));
    free (out);
    free (err);
}

/* ---- a fake broker ----------------------------------------------------- */

/* A status document with control characters in every kind of string: as
 * JSON escapes, and as raw DEL and C1 (which JSON allows in a string). */
static const char s_fake_status [] =
    "{\"broker\":{\"version\":\"0.1.0\\u001b[2J\",\"epoch\":7,"
    "\"uptime_ms\":1000,\"endpoints\":[\"tcp://x\xc2\x9b" "31m\"]},"
    "\"workers\":[{\"id\":\"ab\",\"pid\":1,\"host\":\"evil\\nW: forged"
    " line\\u001b[31m\",\"services\":[\"s\\u0007vc\",\"del\x7f\"],"
    "\"state\":\"ready\",\"capacity\":1,\"running\":0,\"prefetch_depth\":1,"
    "\"tasks_done\":0,\"uptime_ms\":5,\"local\":false,\"version\":\"x\"}],"
    "\"services\":[{\"name\":\"s\\u001b]0;pwned\\u0007vc\",\"queued\":0,"
    "\"running\":0,\"workers\":1}],"
    "\"counters\":{\"submitted\":1,\"fo\\u001bo\":2}}";

/* Receives on a ROUTER until a message with command; returns its sender's
 * identity (caller destroys). */
static zframe_t *
s_router_expect (zsock_t *router, int command)
{
    for (int i = 0; i < 100; i++) {
        zmsg_t *msg = zmsg_recv (router);
        if (!msg)
            TEST_FAIL ("the fake broker heard nothing within 10 s");
        zframe_t *id = zmsg_pop (msg);
        zframe_t *head = zmsg_pop (msg);
        zf_header_t header;
        int rc = head? zf_header_decode (s_decoder, &header,
                                         zframe_data (head),
                                         zframe_size (head)): -1;
        zframe_destroy (&head);
        zmsg_destroy (&msg);
        if (rc == 0 && header.command == command)
            return id;
        zframe_destroy (&id);
    }
    TEST_FAIL ("no %s", zf_command_name (command));
    return NULL;
}

static void
s_router_send (zsock_t *router, zframe_t **id_p, const zf_header_t *header,
               const char *payload)
{
    th_send_header (router, *id_p, header, payload);
    zframe_destroy (id_p);
}

/* Runs `zfarm status [--json]` against the fake broker; its stdout. */
static char *
s_status_from_fake (zsock_t *router, const char *endpoint, const char *log,
                    bool json, size_t *size_p)
{
    char command [1024];
    snprintf (command, sizeof command, "exec '%s' status -b '%s' %s",
              th_bin ("zfarm"), endpoint, json? "--json": "");
    pid_t pid = s_spawn_shell (log, command);
    zframe_t *id = s_router_expect (router, ZF_STATUS);
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    s_router_send (router, &id, &header, s_fake_status);
    s_expect_exit (pid, 0);
    return s_read_log (log, "out", size_p);
}

static void
test_status_tables (zsock_t *router, const char *endpoint)
{
    size_t size;
    char *out = s_status_from_fake (router, endpoint, "status_tables", false,
                                    &size);
    ASSERT (!s_has_control (out, size));
    ASSERT (!strstr (out, "\nW: forged"));
    ASSERT (strstr (out, "broker 0.1.0\\x1b[2J, "));
    ASSERT (strstr (out, "endpoints tcp://x\\xc2\\x9b31m\n"));
    ASSERT (strstr (out, "evil\\nW: forged line\\x1b[31m"));
    ASSERT (strstr (out, "s\\x07vc,del\\x7f\n"));
    ASSERT (strstr (out, "s\\x1b]0;pwned\\x07vc"));
    ASSERT (strstr (out, "  fo\\x1bo "));
    free (out);
}

/* --json: the same JSON value, and nothing a terminal acts on. */
static void
test_status_json (zsock_t *router, const char *endpoint)
{
    size_t size;
    char *out = s_status_from_fake (router, endpoint, "status_json", true,
                                    &size);
    ASSERT (!s_has_control (out, size));
    ASSERT (strstr (out, "tcp://x\\u009b31m"));
    ASSERT (strstr (out, "\"del\\u007f\""));
    json_t *shown = json_parse (out, size);
    json_t *sent = json_parse (s_fake_status, strlen (s_fake_status));
    ASSERT (shown && sent);
    const json_t *worker = json_first (json_member (shown, "workers"));
    ASSERT_STR_EQ (json_string (json_member (worker, "host"), NULL),
                   "evil\nW: forged line\x1b[31m");
    const json_t *endpoints = json_member (json_member (shown, "broker"),
                                           "endpoints");
    ASSERT_STR_EQ (json_string (json_first (endpoints), NULL),
                   "tcp://x\xc2\x9b" "31m");
    const json_t *services = json_member (worker, "services");
    ASSERT_STR_EQ (json_string (json_next (json_first (services)), NULL),
                   "del\x7f");
    json_destroy (&shown);
    json_destroy (&sent);
    free (out);
}

/* A real zfarm-worker logs a broker's ERROR text escaped. */
static void
test_worker_log (zsock_t *router, const char *endpoint)
{
    const char *args [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (endpoint, args);
    zframe_t *id = s_router_expect (router, ZF_READY);
    zf_header_t header;
    zf_header_init (&header, ZF_ERROR);
    header.status = ZFARM_EBAD_REQUEST;
    zf_header_set_text (&header, EVIL_REASON);
    s_router_send (router, &id, &header, NULL);
    char *log = NULL;
    for (int i = 0; i < 1000 && !(log && strstr (log, "answered ERROR")); i++) {
        free (log);
        zclock_sleep (10);
        log = s_read_log ("worker1", "err", NULL);
    }
    ASSERT (strstr (log, "answered ERROR BAD_REQUEST: " ESCAPED_REASON "\n"));
    ASSERT (!s_has_control (log, strlen (log)));
    free (log);
}

static void
test_fake_broker (void)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    ASSERT (router);
    ASSERT (zsock_bind (router, "tcp://127.0.0.1:*") > 0);
    zsock_set_rcvtimeo (router, 10000);
    char *endpoint = zsock_last_endpoint (router);
    test_status_tables (router, endpoint);
    test_status_json (router, endpoint);
    test_worker_log (router, endpoint);
    zstr_free (&endpoint);
    zsock_destroy (&router);
}

/* ---- the broker's HTTP endpoint ---------------------------------------- */

static void
test_status_document (void)
{
    char *answer = th_http_get (s_http_host, s_http_port, "/status.json");
    ASSERT (strstr (answer, "X-Content-Type-Options: nosniff"));
    const char *body = strstr (answer, "\r\n\r\n");
    ASSERT (body);
    body += 4;
    /* Markup in names is escaped even in JSON, where it could be pasted. */
    ASSERT (strstr (body, "\"\\u003cimg/src/onerror=alert(1)\\u003e\""));
    ASSERT (strstr (body, "\"\\u003cb\\u003ebold\\u003c/b\\u003e\\u0026amp;\""));
    ASSERT (!strchr (body, '<'));
    json_t *status = json_parse (body, strlen (body));
    ASSERT (status);
    const json_t *worker = json_first (json_member (status, "workers"));
    ASSERT_STR_EQ (json_string (json_member (worker, "host"), NULL), HTML_HOST);
    ASSERT_STR_EQ (json_string (json_member (worker, "version"), NULL),
                   HTML_VERSION);
    const json_t *services = json_member (worker, "services");
    ASSERT_STR_EQ (json_string (json_first (services), NULL), HTML_SERVICE);
    ASSERT_STR_EQ (json_string (json_next (json_first (services)), NULL),
                   LABEL_SERVICE);
    json_destroy (&status);
    free (answer);
}

static void
test_metrics (void)
{
    char *answer = th_http_get (s_http_host, s_http_port, "/metrics");
    ASSERT (strstr (answer, "\nzfarm_queue_depth{service=\"we\\\"ird\\\\name\"} 0\n"));
    ASSERT (strstr (answer, "\nzfarm_queue_depth{service=\"" HTML_SERVICE "\"} 0\n"));
    free (answer);
}

static void
test_page (void)
{
    char url [128];
    snprintf (url, sizeof url, "http://%s:%d/", s_http_host, s_http_port);
    char *dom = th_page_dom (url);
    /* The names are text in their cells: no element came of them. */
    ASSERT (strstr (dom, "<td>&lt;img/src/onerror=alert(1)&gt; we\"ird\\name</td>"));
    ASSERT (strstr (dom, "<td>&lt;b&gt;bold&lt;/b&gt;&amp;amp;</td>"));
    ASSERT (!strstr (dom, "<img"));
    ASSERT (!strstr (dom, "<b>"));
    ASSERT (strstr (dom, "<div id=\"state\" class=\"\">version 0.1.0"));
    free (dom);
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    /* Hand-made workers do not heartbeat: 200 s of silence is allowed,
     * more than the test takes, Chromium included. */
    const char *extra [] = { "--http", "127.0.0.1:0", "--heartbeat", "2000",
                             "--liveness", "100", NULL };
    s_endpoint = strdup (th_broker_start ("tcp", extra).endpoint);
    th_status_http (s_endpoint, s_http_host, sizeof s_http_host,
                    &s_http_port);

    test_evil_host_is_refused ();
    zsock_t *worker = s_dealer (s_endpoint);
    s_ready (worker, HTML_HOST, HTML_SERVICE, LABEL_SERVICE);
    ASSERT (th_wait_workers (s_endpoint, 1, 20000));
    test_call_error (worker);
    test_call_result_is_exact (worker);
    test_map_error (worker);
    test_disconnect_reason ();
    test_status_of_broker ();
    test_status_document ();
    test_metrics ();
    test_page ();
    test_broker_log ();
    zsock_destroy (&worker);

    test_fake_broker ();
    free ((char *) s_endpoint);
    zf_decoder_destroy (&s_decoder);
    TEST_PASS ("test_peer_strings");
    return 0;
}
