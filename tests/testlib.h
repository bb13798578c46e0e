/* testlib.h: assertions that say what went wrong, without a framework. */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_FAIL(...) do {                                                   \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                    \
    fprintf (stderr, __VA_ARGS__);                                            \
    fputc ('\n', stderr);                                                     \
    exit (1);                                                                 \
} while (0)

#define ASSERT(expr) do {                                                     \
    if (!(expr)) TEST_FAIL ("%s", #expr);                                     \
} while (0)

#define ASSERT_INT(a, op, b) do {                                             \
    long long a_ = (long long) (a), b_ = (long long) (b);                     \
    if (!(a_ op b_))                                                          \
        TEST_FAIL ("%s %s %s (%lld %s %lld)", #a, #op, #b, a_, #op, b_);      \
} while (0)

#define ASSERT_EQ(a, b) ASSERT_INT (a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT (a, !=, b)

#define ASSERT_STR_EQ(a, b) do {                                              \
    const char *a_ = (a), *b_ = (b);                                          \
    if (!a_ || !b_ || strcmp (a_, b_) != 0)                                   \
        TEST_FAIL ("%s == %s (\"%s\" vs \"%s\")", #a, #b,                     \
                   a_? a_: "(null)", b_? b_: "(null)");                       \
} while (0)

#define ASSERT_MEM_EQ(a, b, size) do {                                        \
    if (memcmp ((a), (b), (size)) != 0)                                       \
        TEST_FAIL ("%s and %s differ in their %zu bytes", #a, #b,             \
                   (size_t) (size));                                          \
} while (0)

#define TEST_PASS(name) printf ("%s: pass\n", name)

#endif
