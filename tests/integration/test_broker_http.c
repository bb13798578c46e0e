/* test_broker_http.c: --http: a real Prometheus scrape of /metrics, the
 * JSON behind the status page, refusals, and (with --page, ctest's
 * test_broker_http_page) the page itself rendered by headless Chromium (it
 * must draw the farm's services and workers), skipped (exit 77) where
 * there is no Chromium. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>

#define CHROMIUM  "/usr/bin/chromium"
#define SKIP      77            /* ctest: skipped (SKIP_RETURN_CODE) */

static char s_host [64];
static int s_port;

static char *
s_http (const char *request)
{
    return th_http (s_host, s_port, request);
}

static char *
s_get (const char *path)
{
    return th_http_get (s_host, s_port, path);
}

/* The value of one metric line "name value" (name with labels). */
static double
s_metric (const char *text, const char *name)
{
    char key [256];
    snprintf (key, sizeof key, "\n%s ", name);
    const char *at = strstr (text, key);
    if (!at)
        TEST_FAIL ("no metric %s", name);
    return atof (at + strlen (key));
}

static void
test_scrape (const char *endpoint)
{
    char *text;
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ (th_call (endpoint, "echo", "ping", 10000, &text), 0);
        free (text);
    }
    ASSERT_EQ (th_call (endpoint, "nobody", "x", 200, &text), ZFARM_ENO_SUCH_SERVICE);
    free (text);

    char *metrics = s_get ("/metrics");
    ASSERT (strstr (metrics, "HTTP/1.1 200"));
    ASSERT (strstr (metrics, "Content-Type: text/plain; version=0.0.4"));
    ASSERT_EQ (s_metric (metrics, "zfarm_tasks_submitted_total"), 4);
    ASSERT_EQ (s_metric (metrics, "zfarm_tasks_completed_total"), 3);
    ASSERT_EQ (s_metric (metrics, "zfarm_tasks_failed_total{code=\"NO_SUCH_SERVICE\"}"), 1);
    ASSERT_EQ (s_metric (metrics, "zfarm_queue_depth{service=\"echo\"}"), 0);
    ASSERT_EQ (s_metric (metrics, "zfarm_service_workers{service=\"echo\"}"), 1);
    ASSERT_EQ (s_metric (metrics, "zfarm_workers{state=\"ready\"}"), 1);
    ASSERT_EQ (s_metric (metrics, "zfarm_dispatch_latency_seconds_count"), 3);
    ASSERT_EQ (s_metric (metrics, "zfarm_dispatch_latency_seconds_bucket{le=\"+Inf\"}"), 3);
    /* Every family says its type, as the exposition format asks. */
    ASSERT_EQ (th_count (metrics, "# TYPE "), th_count (metrics, "# HELP "));
    free (metrics);

    char *json = s_get ("/status.json");
    ASSERT (strstr (json, "application/json"));
    ASSERT (strstr (json, "\"name\":\"echo\""));
    /* The dispatch latency histogram the page charts: the same 3 tasks. */
    ASSERT (strstr (json, "\"dispatch_latency\":{\"bounds_ms\":[1,2.5,5,"));
    ASSERT (strstr (json, "],\"count\":3,\"sum_ms\":"));
    free (json);
    char *missing = s_get ("/nope");
    ASSERT (strstr (missing, "HTTP/1.1 404"));
    free (missing);
    char *post = s_http ("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3"
                         "\r\nConnection: close\r\n\r\nabc");
    ASSERT (strstr (post, "HTTP/1.1 405"));
    free (post);
    char *garbage = s_http ("\x01\x02 not http at all\r\n\r\n");
    free (garbage);
    /* Still serving, and the broker too. */
    char *again = s_get ("/metrics");
    ASSERT (strstr (again, "HTTP/1.1 200"));
    free (again);
    ASSERT_EQ (th_call (endpoint, "echo", "ping", 10000, &text), 0);
    free (text);
}

static void
test_page (void)
{
    char url [128];
    snprintf (url, sizeof url, "http://%s:%d/", s_host, s_port);
    char *dom = th_page_dom (url);
    /* The script ran: it drew the service and worker tables from JSON. */
    ASSERT (strstr (dom, "<td>echo</td>"));
    ASSERT (strstr (dom, "<td>ready</td>"));
    ASSERT (strstr (dom, "<td>local</td>"));
    ASSERT (strstr (dom, "<th>ahead</th>"));
    ASSERT (strstr (dom, "completed/s"));
    /* It kept its polls and drew them: a line of tasks per second, one
     * for the echo service's queue, and the latency's. */
    ASSERT (strstr (dom, "data-series=\"completed\""));
    ASSERT (strstr (dom, "data-series=\"echo\""));
    ASSERT (strstr (dom, "data-series=\"p95\""));
    const char *line = strstr (dom, "data-series=\"completed\"");
    const char *tag = line;
    while (tag > dom && *tag != '<')
        tag--;
    const char *points = strstr (tag, "points=\"");
    ASSERT (points && points < strchr (line, '>'));
    ASSERT (strchr (points + 8, ' ') < strchr (points + 8, '"'));
    /* And no poll failed (the script marks the state line with "err"). */
    ASSERT (strstr (dom, "<div id=\"state\" class=\"\">version 0.1.0"));
    free (dom);
}

int
main (int argc, char *argv [])
{
    bool page = argc > 1 && strcmp (argv [1], "--page") == 0;
    if (page && access (CHROMIUM, X_OK) != 0) {
        printf ("SKIP: test_broker_http --page: no %s (deploy/install-deps.sh"
                " --test installs it)\n", CHROMIUM);
        return SKIP;
    }
    const char *extra [] = { "--http", "127.0.0.1:0", NULL };
    const char *endpoint = strdup (th_broker_start ("tcp", extra).endpoint);
    const char *args [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));

    th_status_http (endpoint, s_host, sizeof s_host, &s_port);

    if (page)
        test_page ();
    else
        test_scrape (endpoint);
    free ((char *) endpoint);
    TEST_PASS (page? "test_broker_http --page": "test_broker_http");
    return 0;
}
