/* zf_options.h: a program's options as one table.
 *
 * Each row names an option once: its flag, its value, its line in --help,
 * the field of the program's settings struct it fills, its bounds, and
 * whether a reload may change it. From the table come getopt's arrays,
 * the config file's names (zf_config_args), --help (and so the check that
 * the man pages document every flag), the parsing of each value, and what
 * SIGHUP applies or refuses. A new option is one row. */
#ifndef ZF_OPTIONS_H
#define ZF_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    ZF_OPTION_HEADING,          /* no option: a heading in --help */
    ZF_OPTION_TRUE,             /* a flag that sets a bool */
    ZF_OPTION_STRING,           /* a const char * to the value itself */
    ZF_OPTION_NUMBER,           /* an integer field (any width): min..max */
    ZF_OPTION_CUSTOM            /* the row's parse function does it */
} zf_option_kind_t;

typedef enum {
    ZF_RELOAD_NONE,             /* not a setting (--help), or no reload */
    ZF_RELOAD_LIVE,             /* a reload applies the new value */
    ZF_RELOAD_RESTART           /* a reload warns that it needs a restart */
} zf_reload_t;

typedef struct zf_option zf_option_t;

/* Parses value into the row's field of settings. Returns 0, or -1 after
 * writing why into error (the caller names the option and its source). */
typedef int (zf_option_parse_fn) (void *settings, const zf_option_t *option,
                                  const char *value, char *error,
                                  size_t error_size);

/* True if a reload's fresh settings differ from the running ones in the
 * row's field, where comparing its bytes would not tell (pointers). */
typedef bool (zf_option_differs_fn) (const void *now, const void *fresh,
                                     const zf_option_t *option);

struct zf_option {
    const char *name;           /* the long flag, without "--"; a heading's
                                   text for ZF_OPTION_HEADING */
    int letter;                 /* its short flag, or 0 */
    const char *arg;            /* its value's name in --help; NULL: it
                                   takes no value */
    const char *help;           /* lines joined by '\n'; NULL: described
                                   with the row before, whose usage names
                                   it too */
    const char *usage;          /* the left column, when "--name ARG" is
                                   not it; NULL: that */
    zf_option_kind_t kind;
    size_t offset;              /* its field in the settings struct, */
    size_t size;                /* and the field's size */
    long long min, max;         /* ZF_OPTION_NUMBER's bounds */
    zf_option_parse_fn *parse;  /* ZF_OPTION_CUSTOM */
    zf_option_differs_fn *differs;  /* NULL: strcmp for strings, else
                                       the field's bytes */
    zf_reload_t reload;
    int tag;                    /* the program's own mark: which options
                                   it treats apart (0 for none) */
};

/* getopt_long's arrays for a table (rows up to one with a NULL name). */
typedef struct {
    struct option *longopts;    /* NULL-terminated */
    char shortopts [128];       /* starts with prefix, then each letter */
} zf_getopt_t;

void
    zf_options_getopt (const zf_option_t *table, const char *prefix,
                       zf_getopt_t *getopt);
void
    zf_options_getopt_free (zf_getopt_t *getopt);

/* The row that getopt_long's return value names, or NULL. */
const zf_option_t *
    zf_options_find (const zf_option_t *table, int value);

/* Writes the options' part of --help: each row's flags, then its help
 * from column (on the next line when the flags are wider). */
void
    zf_options_usage (const zf_option_t *table, int column, FILE *file);

/* Sets the row's field in settings from value (as given to the flag; NULL
 * for a flag without one). Returns 0, or -1 with why in error. */
int
    zf_options_set (const zf_option_t *option, void *settings,
                    const char *value, char *error, size_t error_size);

/* A ZF_OPTION_CUSTOM parse for a log level (zf_log_parse_level's names)
 * into an int field. */
zf_option_parse_fn zf_options_log_level;

/* A reload: copies each ZF_RELOAD_LIVE row's field from fresh to now, and
 * calls refused (with the option's name) for each ZF_RELOAD_RESTART row
 * whose value differs. Returns how many differed so. */
int
    zf_options_reload (const zf_option_t *table, void *now,
                       const void *fresh,
                       void (*refused) (const char *name));

/* A row's field, for the program's parse and differs functions. */
#define ZF_OPTION_FIELD(settings, option, type) \
    ((type *) (void *) ((char *) (settings) + (option)->offset))

#endif
