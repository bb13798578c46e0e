/* config.c: zconfig files turned into command-line arguments.
 *
 * zconfig parses (and reports syntax errors with their line); it does not
 * keep line numbers, so they are found again by reading the file in step
 * with the settings, which zconfig keeps in file order. The file is read
 * here and handed to zconfig as a chunk: czmq 4.2's zconfig_load leaks its
 * file object when the file is missing or malformed. */
#include "zf_config.h"
#include "zf_util.h"

#include <czmq.h>
#include <ctype.h>
#include <string.h>

/* The line of the first `name =` at or after line *from in the file's
 * lines, or 0 if none; *from moves past it. */
static int
s_find_line (char **lines, int count, const char *name, int *from)
{
    size_t size = strlen (name);
    for (int i = *from; i < count; i++) {
        const char *at = lines [i];
        while (*at == ' ')
            at++;
        if (strncmp (at, name, size) == 0
        && (at [size] == ' ' || at [size] == '=' || at [size] == 0)) {
            *from = i + 1;
            return i + 1;
        }
    }
    return 0;
}

/* The whole file, NUL-terminated, or NULL with errno set. */
static char *
s_read_file (const char *path, size_t *size_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t size = 0, capacity = 4096;
    char *text = zf_malloc (capacity);
    size_t n;
    while ((n = fread (text + size, 1, capacity - size - 1, file)) > 0) {
        size += n;
        if (capacity - size < 2)
            text = zf_realloc (text, capacity *= 2);
    }
    int failed = ferror (file);
    fclose (file);
    if (failed) {
        free (text);
        errno = EIO;
        return NULL;
    }
    text [size] = 0;
    *size_p = size;
    return text;
}

/* Splits text into its lines, empty ones too, so that index i is line
 * i + 1 (caller frees each and the array). */
static int
s_split_lines (const char *text, char ***lines_p)
{
    int count = 0;
    char **lines = zf_malloc (sizeof *lines);
    for (const char *at = text; *at; ) {
        const char *end = strchr (at, '\n');
        size_t size = end? (size_t) (end - at): strlen (at);
        lines = zf_realloc (lines, (count + 2) * sizeof *lines);
        lines [count] = zf_malloc (size + 1);
        memcpy (lines [count++], at, size);
        at += size + (end? 1: 0);
    }
    *lines_p = lines;
    return count;
}

static const struct option *
s_option (const struct option *longopts, const char *name)
{
    for (; longopts->name; longopts++)
        if (strcmp (longopts->name, name) == 0)
            return longopts;
    return NULL;
}

static void
s_push (zf_config_args_t *args, char *arg, int line)
{
    args->argv = zf_realloc (args->argv, (args->argc + 2) * sizeof (char *));
    args->lines = zf_realloc (args->lines, (args->argc + 1) * sizeof (int));
    args->argv [args->argc] = arg;
    args->lines [args->argc++] = line;
    args->argv [args->argc] = NULL;
}

/* Turns one setting into an argument, or says what is wrong with it. */
static int
s_setting (zconfig_t *item, const struct option *longopts,
           zf_config_args_t *args, int line, char *error, size_t error_size)
{
    const char *name = zconfig_name (item);
    const char *value = zconfig_value (item);
    const struct option *option = s_option (longopts, name);
    if (!option || strcmp (name, "config") == 0 || strcmp (name, "help") == 0
    ||  strcmp (name, "version") == 0) {
        snprintf (error, error_size, "%d: unknown setting '%s'", line, name);
        return -1;
    }
    if (zconfig_child (item)) {
        snprintf (error, error_size, "%d: '%s' cannot have settings under it",
                  line, name);
        return -1;
    }
    if (option->has_arg == no_argument) {
        if (strcmp (value, "true") == 0 || strcmp (value, "1") == 0)
            s_push (args, zsys_sprintf ("--%s", name), line);
        else
        if (strcmp (value, "false") != 0 && strcmp (value, "0") != 0) {
            snprintf (error, error_size, "%d: %s: expected true or false, "
                      "got '%s'", line, name, value);
            return -1;
        }
        return 0;
    }
    s_push (args, zsys_sprintf ("--%s=%s", name, value), line);
    return 0;
}

zconfig_t *
zf_config_load (const char *path)
{
    size_t size;
    char *text = s_read_file (path, &size);
    zchunk_t *chunk = text? zchunk_new (text, size): NULL;
    zconfig_t *root = chunk? zconfig_chunk_load (chunk): NULL;
    zchunk_destroy (&chunk);
    free (text);
    return root;
}

int
zf_config_args (const char *path, const char *section,
                const struct option *longopts, zf_config_args_t *args,
                char *error, size_t error_size)
{
    memset (args, 0, sizeof *args);
    s_push (args, zf_strdup (section), 0);
    size_t size;
    char *text = s_read_file (path, &size);
    if (!text) {
        snprintf (error, error_size, "cannot read it (%s)", strerror (errno));
        return -1;
    }
    zchunk_t *chunk = zchunk_new (text, size);
    zconfig_t *root = chunk? zconfig_chunk_load (chunk): NULL;
    zchunk_destroy (&chunk);
    if (!root) {
        snprintf (error, error_size, "cannot read it (syntax error, see above)");
        free (text);
        return -1;
    }
    char **lines;
    int line_count = s_split_lines (text, &lines), from = 0, rc = 0;
    free (text);
    zconfig_t *top = zconfig_locate (root, section);
    for (zconfig_t *item = top? zconfig_child (top): NULL; item && rc == 0;
         item = zconfig_next (item)) {
        int line = s_find_line (lines, line_count, zconfig_name (item), &from);
        rc = s_setting (item, longopts, args, line, error, error_size);
    }
    for (int i = 0; i < line_count; i++)
        free (lines [i]);
    free (lines);
    zconfig_destroy (&root);
    return rc;
}

void
zf_config_args_free (zf_config_args_t *args)
{
    for (int i = 0; i < args->argc; i++)
        free (args->argv [i]);
    free (args->argv);
    free (args->lines);
    memset (args, 0, sizeof *args);
}

const char *
zf_config_path (int argc, char *argv [], char short_option, int *index_p)
{
    char short_flag [3] = { '-', short_option, 0 };
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--") == 0)
            break;
        if (index_p)
            *index_p = i;
        if ((strcmp (argv [i], "--config") == 0
         || (short_option && strcmp (argv [i], short_flag) == 0))
        &&  i + 1 < argc)
            return argv [i + 1];
        if (strncmp (argv [i], "--config=", 9) == 0)
            return argv [i] + 9;
    }
    return NULL;
}
