/* test_codes.c: every outcome code has a name and a text, and its number is
 * the wire status common/PROTOCOL.md gives it. */
#include "testlib.h"
#include "zfarm_codes.h"

#include <limits.h>
#include <stdbool.h>

/* The table of PROTOCOL.md, "Status codes", written out again on purpose:
 * numbers are never reused or changed, and this catches it if they are. */
static const struct {
    int code;
    int wire;
    const char *name;
} s_expected [] = {
    { ZFARM_ETIMEOUT,          1, "TIMEOUT" },
    { ZFARM_EWORKER_LOST,      2, "WORKER_LOST" },
    { ZFARM_EQUEUE_FULL,       3, "QUEUE_FULL" },
    { ZFARM_ENO_SUCH_SERVICE,  4, "NO_SUCH_SERVICE" },
    { ZFARM_ENO_WORKERS,       5, "NO_WORKERS" },
    { ZFARM_EBAD_REQUEST,      6, "BAD_REQUEST" },
    { ZFARM_EBROKER_DOWN,      7, "BROKER_DOWN" },
    { ZFARM_EHANDLER_ERROR,    8, "HANDLER_ERROR" },
    { ZFARM_EBAD_VERSION,      9, "BAD_VERSION" },
    { ZFARM_ECANCELLED,       10, "CANCELLED" },
    { ZFARM_ETOO_LARGE,       11, "TOO_LARGE" },
    { ZFARM_ESHUTDOWN,        12, "SHUTDOWN" },
    { ZFARM_EINVALID,         13, "INVALID" },
    { ZFARM_ENOT_FOUND,       14, "NOT_FOUND" },
    { ZFARM_EINTERNAL,        15, "INTERNAL" },
    { ZFARM_EUNAUTHORIZED,    16, "UNAUTHORIZED" },
    { ZFARM_EPENDING,         17, "PENDING" },
};

#define EXPECTED_COUNT (sizeof s_expected / sizeof s_expected [0])

static void
test_numbers_match_the_wire (void)
{
    for (size_t i = 0; i < EXPECTED_COUNT; i++) {
        ASSERT_EQ (s_expected [i].code, -s_expected [i].wire);
        ASSERT_STR_EQ (zfarm_err_name (s_expected [i].code),
                       s_expected [i].name);
    }
    ASSERT_EQ (ZFARM_OK, 0);
}

/* Every entry of the X-macro list, however long it grows, has a name that
 * matches its identifier, a text, and a number no other entry has. */
static void
test_every_code_has_a_name_and_text (void)
{
    int count = 0;
    bool seen [64] = { false };
#define CHECK_XX(name, num, text)                                             \
    ASSERT_INT (num, >, 0);                                                   \
    ASSERT_INT (num, <, 64);                                                  \
    ASSERT (!seen [num]);                                                     \
    seen [num] = true;                                                        \
    ASSERT_STR_EQ (zfarm_err_name (-(num)), #name);                           \
    ASSERT_STR_EQ (zfarm_strerror (-(num)), text);                            \
    ASSERT_INT (strlen (zfarm_strerror (-(num))), >, 0);                      \
    ASSERT_STR_EQ (zfarm_err_name (ZFARM_E##name), #name);                    \
    count++;
    ZFARM_ERRNO_MAP (CHECK_XX)
#undef CHECK_XX
    ASSERT_EQ (count, EXPECTED_COUNT);
}

static void
test_success_and_unknown_codes (void)
{
    ASSERT_STR_EQ (zfarm_err_name (0), "OK");
    ASSERT_STR_EQ (zfarm_strerror (0), "success");
    const int unknown [] = { 1, 16, -18, -999, INT_MIN, INT_MAX };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown [0]; i++) {
        ASSERT_STR_EQ (zfarm_err_name (unknown [i]), "UNKNOWN");
        ASSERT_STR_EQ (zfarm_strerror (unknown [i]), "unknown error");
    }
}

int
main (void)
{
    test_numbers_match_the_wire ();
    test_every_code_has_a_name_and_text ();
    test_success_and_unknown_codes ();
    TEST_PASS ("test_codes");
    return 0;
}
