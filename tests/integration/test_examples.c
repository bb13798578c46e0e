/* test_examples.c: the README's C client and worker work as shown, and the
 * README shows them as they are in tests/examples. */
#include "harness.h"
#include <czmq.h>

static void
s_readme_quotes (const char *example)
{
    char path [512];
    snprintf (path, sizeof path, "%s/tests/examples/%s",
              getenv ("ZFARM_SOURCE_DIR"), example);
    char *code = th_read_file (path, NULL);
    snprintf (path, sizeof path, "%s/README.md", getenv ("ZFARM_SOURCE_DIR"));
    char *readme = th_read_file (path, NULL);
    ASSERT (code && readme);
    if (!strstr (readme, code))
        TEST_FAIL ("README.md does not quote tests/examples/%s as it is", example);
    free (code);
    free (readme);
}

int
main (void)
{
    s_readme_quotes ("minimal_client.c");
    s_readme_quotes ("minimal_worker.c");

    const char *endpoint = strdup (th_broker_start ("tcp", NULL, NULL));
    setenv ("ZFARM_BROKER", endpoint, 1);
    const char *primes [] = { "--service", "primes", "--module",
                              th_module ("primes.so"), NULL };
    th_worker_start (endpoint, primes);
    const char *worker [] = { th_bin ("minimal_worker"), NULL };
    th_spawn ("minimal_worker", worker);
    ASSERT (th_wait_workers (endpoint, 2, 20000));

    const char *client [] = { th_bin ("minimal_client"), "1000000", NULL };
    char *out;
    ASSERT_EQ (th_run (client, NULL, 0, &out, NULL, NULL, 30000), 0);
    ASSERT_STR_EQ (out, "78498\n");
    free (out);

    char *text;
    ASSERT_EQ (th_call (endpoint, "upper", "hello, farm", 10000, &text), 0);
    ASSERT_STR_EQ (text, "HELLO, FARM");
    free (text);
    free ((char *) endpoint);
    TEST_PASS ("test_examples");
    return 0;
}
