/* test_bench_smoke.c: the benchmark's load generators work end to end.
 *
 * A few hundred tasks through zfarm-bench, throughput and latency, against
 * a real zfarm-broker with zfarm-worker echo workers, then with fake_workers,
 * then (--plain) against lru_broker and lru_workers. Each report must be one
 * JSON object with every key the suite reads and no error. No timing is
 * asserted: this runs on loaded CI machines. */
#include "harness.h"

#include <signal.h>

#define RUN_TIMEOUT_MS  15000

static const char *const s_keys [] = {
    "\"tasks_per_sec\":", "\"p50_us\":", "\"p99_us\":", "\"p999_us\":",
    "\"errors\":0}", "\"completed\":300,", NULL };

/* Runs zfarm-bench with the given arguments and checks its report. */
static void
s_bench (const char *label, const char *const args [])
{
    const char *argv [32] = { th_bin ("zfarm-bench"), "--json", "-n", "300",
                              "--warmup", "50", "--timeout", "5000" };
    int argc = 8;
    for (int i = 0; args [i]; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, RUN_TIMEOUT_MS);
    if (status != 0)
        TEST_FAIL ("%s: zfarm-bench exited with status %d: %s%s", label,
                   status, out? out: "", err? err: "");
    ASSERT_EQ (th_count (out, "{"), 1);
    for (int i = 0; s_keys [i]; i++)
        if (!strstr (out, s_keys [i]))
            TEST_FAIL ("%s: no %s in %s", label, s_keys [i], out);
    printf ("%s: %s", label, out);
    free (out);
    free (err);
}

static void
s_zfarm_modes (const char *endpoint, const char *label, const char *workers)
{
    char throughput [64], latency [64];
    snprintf (throughput, sizeof throughput, "%s, throughput", label);
    snprintf (latency, sizeof latency, "%s, latency", label);
    s_bench (throughput, (const char *const []) {
        "--broker", endpoint, "--window", "20", "--wait-workers", workers,
        NULL });
    s_bench (latency, (const char *const []) {
        "--broker", endpoint, "--latency", NULL });
}

static void
test_zfarm (const char *transport)
{
    th_broker_t started = th_broker_start (transport, NULL);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    const char *const worker [] = { "--service", "echo", "--module",
                                    th_module ("echo.so"), NULL };
    pid_t workers [2] = { th_worker_start (endpoint, worker),
                          th_worker_start (endpoint, worker) };
    s_zfarm_modes (endpoint, transport, "2");
    for (int i = 0; i < 2; i++) {
        th_kill (workers [i], SIGTERM);
        th_reap (workers [i], 5000);
    }
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
}

static void
test_fake_workers (void)
{
    th_broker_t started = th_broker_start ("ipc", NULL);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    pid_t fakes = th_spawn ("fakes", (const char *const []) {
        th_bin ("fake_workers"), "--broker", endpoint, "--count", "50",
        NULL });
    s_zfarm_modes (endpoint, "fake_workers", "50");
    th_kill (fakes, SIGTERM);
    ASSERT_EQ (th_reap (fakes, 5000), 0);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
}

static void
test_plain (void)
{
    char frontend [300], backend [300];
    snprintf (frontend, sizeof frontend, "ipc://%s/lru-front.ipc",
              th_tmpdir ());
    snprintf (backend, sizeof backend, "ipc://%s/lru-back.ipc", th_tmpdir ());
    pid_t broker = th_spawn ("lru_broker", (const char *const []) {
        th_bin ("lru_broker"), "--frontend", frontend, "--backend", backend,
        "--ready", "12", NULL });
    pid_t workers [2];
    for (int i = 0; i < 2; i++)
        workers [i] = th_spawn ("lru_worker", (const char *const []) {
            th_bin ("lru_worker"), "--broker", backend, "--credit", "6",
            NULL });
    s_bench ("plain, throughput", (const char *const []) {
        "--plain", "--broker", frontend, "--window", "20", NULL });
    s_bench ("plain, latency", (const char *const []) {
        "--plain", "--broker", frontend, "--latency", NULL });
    for (int i = 0; i < 2; i++) {
        th_kill (workers [i], SIGTERM);
        ASSERT_EQ (th_reap (workers [i], 5000), 0);
    }
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 5000), 0);
}

int
main (void)
{
    test_zfarm ("tcp");
    test_zfarm ("ipc");
    test_fake_workers ();
    test_plain ();
    TEST_PASS ("test_bench_smoke");
    return 0;
}
