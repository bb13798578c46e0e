/* option_table.c: getopt's arrays, --help, parsing and reload from one
 * table of options (zf_options.h). */
#include "zf_options.h"
#include "zf_log.h"
#include "zf_util.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long's value for a row without a short flag: past any char. */
#define VALUE_BASE 256

static bool
s_is_option (const zf_option_t *row)
{
    return row->kind != ZF_OPTION_HEADING;
}

static int
s_value (const zf_option_t *table, const zf_option_t *row)
{
    return row->letter? row->letter: VALUE_BASE + (int) (row - table);
}

void
zf_options_getopt (const zf_option_t *table, const char *prefix,
                   zf_getopt_t *getopt)
{
    size_t count = 0;
    for (const zf_option_t *row = table; row->name; row++)
        count++;
    getopt->longopts = zf_malloc ((count + 1) * sizeof *getopt->longopts);
    snprintf (getopt->shortopts, sizeof getopt->shortopts, "%s", prefix);
    size_t length = strlen (getopt->shortopts);
    struct option *out = getopt->longopts;
    for (const zf_option_t *row = table; row->name; row++) {
        if (!s_is_option (row))
            continue;
        *out++ = (struct option) {
            .name = row->name,
            .has_arg = row->arg? required_argument: no_argument,
            .val = s_value (table, row)
        };
        if (row->letter && length + 3 < sizeof getopt->shortopts) {
            getopt->shortopts [length++] = (char) row->letter;
            if (row->arg)
                getopt->shortopts [length++] = ':';
            getopt->shortopts [length] = 0;
        }
    }
    *out = (struct option) { NULL, 0, NULL, 0 };
}

void
zf_options_getopt_free (zf_getopt_t *getopt)
{
    free (getopt->longopts);
    getopt->longopts = NULL;
}

const zf_option_t *
zf_options_find (const zf_option_t *table, int value)
{
    for (const zf_option_t *row = table; row->name; row++)
        if (s_is_option (row) && s_value (table, row) == value)
            return row;
    return NULL;
}

void
zf_options_usage (const zf_option_t *table, int column, FILE *file)
{
    /* Long-only flags line up after the short ones, if any are shown. */
    bool letters = false;
    for (const zf_option_t *row = table; row->name; row++)
        letters |= row->letter && !row->usage;
    for (const zf_option_t *row = table; row->name; row++) {
        if (!s_is_option (row)) {
            fprintf (file, "\n%s\n", row->name);
            continue;
        }
        if (!row->help)
            continue;
        char left [128];
        if (row->usage)
            snprintf (left, sizeof left, "%s%s", letters? "      ": "  ",
                      row->usage);
        else
        if (row->letter)
            snprintf (left, sizeof left, "  -%c, --%s%s%s", row->letter,
                      row->name, row->arg? " ": "", row->arg? row->arg: "");
        else
            snprintf (left, sizeof left, "%s--%s%s%s", letters? "      ": "  ",
                      row->name, row->arg? " ": "", row->arg? row->arg: "");
        int width = (int) strlen (left);
        fputs (left, file);
        if (!*row->help || width + 1 >= column) {
            fputc ('\n', file);
            width = 0;
        }
        for (const char *line = row->help; *line; ) {
            const char *end = strchr (line, '\n');
            int length = end? (int) (end - line): (int) strlen (line);
            fprintf (file, "%*s%.*s\n", column - width, "", length, line);
            width = 0;
            line += length + (end != NULL);
        }
    }
}

/* Stores value into an integer field of size bytes. */
static void
s_store_number (void *field, size_t size, long long value)
{
    switch (size) {
        case sizeof (int8_t):  *(int8_t *) field = (int8_t) value; break;
        case sizeof (int16_t): *(int16_t *) field = (int16_t) value; break;
        case sizeof (int32_t): *(int32_t *) field = (int32_t) value; break;
        default:               *(int64_t *) field = (int64_t) value; break;
    }
}

int
zf_options_set (const zf_option_t *option, void *settings, const char *value,
                char *error, size_t error_size)
{
    if (option->size == 0 && option->kind != ZF_OPTION_CUSTOM)
        return 0;                   /* the program's loop acts on it */
    void *field = (char *) settings + option->offset;
    long parsed;
    switch (option->kind) {
        case ZF_OPTION_TRUE:
            *(bool *) field = true;
            return 0;
        case ZF_OPTION_STRING:
            *(const char **) field = value;
            return 0;
        case ZF_OPTION_NUMBER:
            if (zf_parse_long (value, (long) option->min, (long) option->max,
                               &parsed) == 0) {
                s_store_number (field, option->size, parsed);
                return 0;
            }
            snprintf (error, error_size, "expected a number from %lld to %lld,"
                      " got '%s'", option->min, option->max, value);
            return -1;
        case ZF_OPTION_CUSTOM:
            return option->parse (settings, option, value, error, error_size);
        case ZF_OPTION_HEADING:
            break;
    }
    snprintf (error, error_size, "not an option");
    return -1;
}

int
zf_options_log_level (void *settings, const zf_option_t *option,
                      const char *text, char *error, size_t error_size)
{
    int *level = ZF_OPTION_FIELD (settings, option, int);
    if (zf_log_parse_level (text, level) == 0)
        return 0;
    snprintf (error, error_size, "expected error, warning, notice, info or"
              " debug, got '%s'", text);
    return -1;
}

static bool
s_differs (const void *now, const void *fresh, const zf_option_t *row)
{
    if (row->differs)
        return row->differs (now, fresh, row);
    const char *a = (const char *) now + row->offset;
    const char *b = (const char *) fresh + row->offset;
    if (row->kind == ZF_OPTION_STRING) {
        const char *x = *(const char *const *) (const void *) a;
        const char *y = *(const char *const *) (const void *) b;
        return (x == NULL) != (y == NULL) || (x && strcmp (x, y) != 0);
    }
    return memcmp (a, b, row->size) != 0;
}

int
zf_options_reload (const zf_option_t *table, void *now, const void *fresh,
                   void (*refused) (const char *name))
{
    int count = 0;
    for (const zf_option_t *row = table; row->name; row++) {
        if (!s_is_option (row) || row->size == 0)
            continue;
        /* A string would point into fresh's memory, which a reload frees. */
        assert (row->reload != ZF_RELOAD_LIVE || row->kind != ZF_OPTION_STRING);
        if (row->reload == ZF_RELOAD_LIVE)
            memcpy ((char *) now + row->offset,
                    (const char *) fresh + row->offset, row->size);
        else
        if (row->reload == ZF_RELOAD_RESTART
        &&  s_differs (now, fresh, row)) {
            refused (row->name);
            count++;
        }
    }
    return count;
}
