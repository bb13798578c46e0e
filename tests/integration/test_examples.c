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
    s_readme_quotes ("progress_client.c");

    const char *endpoint = strdup (th_broker_start ("tcp", NULL).endpoint);
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

    /* The progress example: the count on stdout, the share done on stderr,
     * rising, 100% last. */
    const char *progress [] = { th_bin ("progress_client"), "30000000", NULL };
    char *err;
    ASSERT_EQ (th_run (progress, NULL, 0, &out, NULL, &err, 60000), 0);
    ASSERT_STR_EQ (out, "1857859\n");
    size_t length = strlen (err);
    ASSERT (length >= 5 && strcmp (err + length - 5, "100%\n") == 0);
    int previous = -1;
    for (char *line = strtok (err, "\n"); line; line = strtok (NULL, "\n")) {
        int percent = atoi (line);
        ASSERT_INT (percent, >=, previous);
        previous = percent;
    }
    free (out);
    free (err);

    char *text;
    ASSERT_EQ (th_call (endpoint, "upper", "hello, farm", 10000, &text), 0);
    ASSERT_STR_EQ (text, "HELLO, FARM");
    free (text);
    free ((char *) endpoint);
    TEST_PASS ("test_examples");
    return 0;
}
