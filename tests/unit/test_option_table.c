/* test_option_table.c: one table of options gives getopt's arrays, the
 * --help layout, each kind of value in its field, and a reload that
 * copies live settings and names the others that changed. */
#include "testlib.h"
#include "zf_options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    int small;
    long big;
    uint32_t unsigned_32;
    bool flag;
    int custom;
} settings_t;

static int
s_twice (void *settings, const zf_option_t *option, const char *value,
         char *error, size_t error_size)
{
    if (!value || !*value) {
        snprintf (error, error_size, "expected something");
        return -1;
    }
    *ZF_OPTION_FIELD (settings, option, int) = 2 * atoi (value);
    return 0;
}

#define FIELD(f)  .offset = offsetof (settings_t, f), \
                  .size = sizeof ((settings_t *) 0)->f

static const zf_option_t s_table [] = {
    { .name = "name", .letter = 'n', .arg = "TEXT", FIELD (name),
      .kind = ZF_OPTION_STRING, .reload = ZF_RELOAD_RESTART,
      .help = "a name" },
    { .name = "small", .arg = "N", FIELD (small), .kind = ZF_OPTION_NUMBER,
      .min = -5, .max = 5, .reload = ZF_RELOAD_LIVE,
      .help = "a small number\nover two lines" },
    { .name = "Heading:", .kind = ZF_OPTION_HEADING },
    { .name = "a-rather-long-option-name", .arg = "N", FIELD (big),
      .kind = ZF_OPTION_NUMBER, .min = 0, .max = 1L << 40,
      .reload = ZF_RELOAD_RESTART, .help = "wide flags: help below" },
    { .name = "u32", .arg = "N", FIELD (unsigned_32),
      .kind = ZF_OPTION_NUMBER, .min = 0, .max = UINT32_MAX,
      .reload = ZF_RELOAD_LIVE, .help = "unsigned" },
    { .name = "flag", .letter = 'f', FIELD (flag), .kind = ZF_OPTION_TRUE,
      .reload = ZF_RELOAD_LIVE, .help = "a flag" },
    { .name = "twice", .arg = "N", FIELD (custom), .kind = ZF_OPTION_CUSTOM,
      .parse = s_twice, .reload = ZF_RELOAD_NONE,
      .usage = "--twice N, --alias N", .help = "doubled" },
    { .name = "alias", .arg = "N", FIELD (custom), .kind = ZF_OPTION_CUSTOM,
      .parse = s_twice },
    { .name = NULL }
};

static void
test_getopt (void)
{
    zf_getopt_t getopt;
    zf_options_getopt (s_table, "+:", &getopt);
    ASSERT_STR_EQ (getopt.shortopts, "+:n:f");
    int count = 0;
    for (struct option *at = getopt.longopts; at->name; at++) {
        const zf_option_t *row = zf_options_find (s_table, at->val);
        ASSERT (row && strcmp (row->name, at->name) == 0);
        ASSERT_EQ (at->has_arg, row->arg? required_argument: no_argument);
        count++;
    }
    ASSERT_EQ (count, 7);           /* the heading is no option */
    ASSERT (zf_options_find (s_table, 'n') == &s_table [0]);
    ASSERT (zf_options_find (s_table, '?') == NULL);
    zf_options_getopt_free (&getopt);
    ASSERT (getopt.longopts == NULL);
}

static void
test_usage (void)
{
    char text [2048] = "";
    FILE *file = fmemopen (text, sizeof text - 1, "w");
    ASSERT (file);
    zf_options_usage (s_table, 24, file);
    fclose (file);
    ASSERT_STR_EQ (text,
        "  -n, --name TEXT       a name\n"
        "      --small N         a small number\n"
        "                        over two lines\n"
        "\n"
        "Heading:\n"
        "      --a-rather-long-option-name N\n"
        "                        wide flags: help below\n"
        "      --u32 N           unsigned\n"
        "  -f, --flag            a flag\n"
        "      --twice N, --alias N\n"
        "                        doubled\n");
}

static void
test_set (void)
{
    settings_t settings = { 0 };
    char error [128];
    ASSERT_EQ (zf_options_set (&s_table [0], &settings, "x", error,
                               sizeof error), 0);
    ASSERT_STR_EQ (settings.name, "x");
    ASSERT_EQ (zf_options_set (&s_table [1], &settings, "-5", error,
                               sizeof error), 0);
    ASSERT_EQ (settings.small, -5);
    ASSERT_EQ (zf_options_set (&s_table [1], &settings, "6", error,
                               sizeof error), -1);
    ASSERT_STR_EQ (error, "expected a number from -5 to 5, got '6'");
    ASSERT_EQ (settings.small, -5);     /* a refused value changes nothing */
    ASSERT_EQ (zf_options_set (&s_table [3], &settings, "1099511627776",
                               error, sizeof error), 0);
    ASSERT_EQ (settings.big, 1L << 40);
    /* Stored at the field's width: nothing spills into the neighbours. */
    settings.flag = false;
    settings.custom = 7;
    ASSERT_EQ (zf_options_set (&s_table [4], &settings, "4294967295", error,
                               sizeof error), 0);
    ASSERT_EQ (settings.unsigned_32, UINT32_MAX);
    ASSERT_EQ (settings.small, -5);
    ASSERT_EQ (settings.flag, false);
    ASSERT_EQ (zf_options_set (&s_table [5], &settings, NULL, error,
                               sizeof error), 0);
    ASSERT_EQ (settings.flag, true);
    ASSERT_EQ (zf_options_set (&s_table [7], &settings, "21", error,
                               sizeof error), 0);
    ASSERT_EQ (settings.custom, 42);
    ASSERT_EQ (zf_options_set (&s_table [7], &settings, "", error,
                               sizeof error), -1);
    ASSERT_STR_EQ (error, "expected something");
}

static const char *s_refused [8];
static int s_refused_count;

static void
s_refuse (const char *name)
{
    ASSERT (s_refused_count < 8);
    s_refused [s_refused_count++] = name;
}

static void
test_reload (void)
{
    char name_now [] = "same", name_fresh [] = "same";
    settings_t now = { .name = name_now, .small = 1, .big = 2,
                       .unsigned_32 = 3, .flag = false, .custom = 4 };
    /* The same string at another address is no change. */
    settings_t fresh = now;
    fresh.name = name_fresh;
    ASSERT_EQ (zf_options_reload (s_table, &now, &fresh, s_refuse), 0);
    ASSERT_EQ (s_refused_count, 0);
    fresh = (settings_t) { .name = "other", .small = -1, .big = 20,
                           .unsigned_32 = 30, .flag = true, .custom = 40 };
    ASSERT_EQ (zf_options_reload (s_table, &now, &fresh, s_refuse), 2);
    ASSERT_EQ (s_refused_count, 2);
    ASSERT_STR_EQ (s_refused [0], "name");
    ASSERT_STR_EQ (s_refused [1], "a-rather-long-option-name");
    /* Live ones applied, the others kept. */
    ASSERT_EQ (now.small, -1);
    ASSERT_EQ (now.unsigned_32, 30);
    ASSERT_EQ (now.flag, true);
    ASSERT_STR_EQ (now.name, "same");
    ASSERT_EQ (now.big, 2);
    ASSERT_EQ (now.custom, 4);          /* ZF_RELOAD_NONE */
}

int
main (void)
{
    test_getopt ();
    test_usage ();
    test_set ();
    test_reload ();
    puts ("test_option_table: passed");
    return 0;
}
