/* test_broker_options.c: the broker's table of options: flags fill their
 * fields, bad values are refused, and a reload applies the live settings
 * and names each other one that changed (none silently ignored). */
#include "testlib.h"
#include "options.h"
#include "journal.h"
#include "zf_log.h"

#include <stdbool.h>

#define ARGC(argv) ((int) (sizeof (argv) / sizeof (argv) [0]) - 1)

static const char *s_refused [16];
static int s_refused_count;

static void
s_refuse (const char *name)
{
    ASSERT (s_refused_count < 16);
    s_refused [s_refused_count++] = name;
}

static bool
s_was_refused (const char *name)
{
    for (int i = 0; i < s_refused_count; i++)
        if (strcmp (s_refused [i], name) == 0)
            return true;
    return false;
}

static void
test_parse (void)
{
    char *argv [] = { "zfarm-broker", "-b", "ipc://@a", "--bind", "ipc://@b",
                      "--heartbeat", "250", "--max-retries", "echo=5",
                      "--retry-on", "HANDLER_ERROR", "--prefetch", "off",
                      "--prefetch-below", "7", "--ipc-mode", "0660",
                      "--journal-sync", "always", "--dead-letter",
                      "--max-msg-size", "1099511627776", "-v", NULL };
    options_t options;
    ASSERT_EQ (options_parse (&options, ARGC (argv), argv), 0);
    ASSERT_EQ (options.bind_count, 2);
    ASSERT_STR_EQ (options.binds [1], "ipc://@b");
    ASSERT_EQ (options.heartbeat_ms, 250);
    ASSERT_EQ (options.policy_count, 1);
    ASSERT_STR_EQ (options.policies [0].service, "echo");
    ASSERT_EQ (options.policies [0].max_retries, 5);
    ASSERT_EQ (options.retry.max_retries, 2);   /* the default's own */
    ASSERT (!options.prefetch);
    ASSERT_EQ (options.prefetch_below_us, 7000);
    ASSERT_EQ (options.ipc_mode, 0660);
    ASSERT_EQ (options.journal_sync, JOURNAL_SYNC_ALWAYS);
    ASSERT (options.dead_letter);
    ASSERT_EQ (options.max_msg_size, 1LL << 40);
    ASSERT_EQ (options.log_level, ZF_LOG_DEBUG);
    options_free (&options);
}

static void
test_refused (void)
{
    char *cases [] [3] = {
        { "zfarm-broker", "--heartbeat=9", NULL },
        { "zfarm-broker", "--ipc-mode=0800", NULL },
        { "zfarm-broker", "--prefetch=maybe", NULL },
        { "zfarm-broker", "--max-retries=bad name=1", NULL },
        { "zfarm-broker", "--journal-sync=sometimes", NULL },
        { "zfarm-broker", "--no-such-flag", NULL },
        { "zfarm-broker", "--bind", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        options_t options;
        ASSERT_EQ (options_parse (&options, 2, cases [i]), -1);
        options_free (&options);
    }
}

static void
test_reload (void)
{
    char *before [] = { "zfarm-broker", "--http", "127.0.0.1:1",
                        "--dead-max", "10", "--result-ttl", "60", NULL };
    char *after [] = { "zfarm-broker", "--http", "127.0.0.1:2",
                       "--dead-max", "20", "--result-ttl", "60",
                       "--journal", "/tmp/elsewhere", "--max-queue", "7",
                       "--bind", "ipc://@x", NULL };
    options_t now, fresh;
    ASSERT_EQ (options_parse (&now, ARGC (before), before), 0);
    ASSERT_EQ (options_parse (&fresh, ARGC (after), after), 0);
    ASSERT_EQ (options_reload (&now, &fresh, s_refuse), 3);
    ASSERT (s_was_refused ("http"));
    ASSERT (s_was_refused ("journal"));
    ASSERT (s_was_refused ("bind"));
    ASSERT_EQ (now.dead_max, 20);
    ASSERT_EQ (now.max_queue, 7);
    ASSERT_STR_EQ (now.http, "127.0.0.1:1");
    ASSERT (now.journal == NULL);
    /* Parsed twice from the same flags: nothing to apply or refuse. */
    s_refused_count = 0;
    options_free (&fresh);
    ASSERT_EQ (options_parse (&fresh, ARGC (before), before), 0);
    ASSERT_EQ (options_reload (&fresh, &fresh, s_refuse), 0);
    ASSERT_EQ (s_refused_count, 0);
    options_free (&fresh);
    options_free (&now);
}

int
main (void)
{
    test_parse ();
    test_refused ();
    test_reload ();
    puts ("test_broker_options: passed");
    return 0;
}
