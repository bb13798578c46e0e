/* faults.c: send failures injected by the tests (see faults.h). */
#include "faults.h"
#include "zf_log.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <string.h>

#define RULES_MAX 16

typedef struct {
    int command;                /* 0: any */
    char host [ZF_HOST_MAX + 1];
    long from;                  /* the first send that fails, from 1 */
    long sends;                 /* matching sends so far */
} rule_t;

struct _faults_t {
    rule_t rules [RULES_MAX];
    int count;
};

static int
s_command (const char *name)
{
    if (strcmp (name, "*") == 0)
        return 0;
    for (int command = 1; command < ZF_COMMAND_LIMIT; command++)
        if (strcmp (name, zf_command_name (command)) == 0)
            return command;
    return -1;
}

/* Parses COMMAND@HOST[#N] into rule; returns 0 or -1. */
static int
s_rule_parse (char *text, rule_t *rule)
{
    char *at = strchr (text, '@');
    if (!at)
        return -1;
    *at = 0;
    char *count = strchr (at + 1, '#');
    if (count)
        *count++ = 0;
    rule->command = s_command (text);
    rule->from = 1;
    if (rule->command < 0 || strlen (at + 1) > ZF_HOST_MAX
    ||  (count && zf_parse_long (count, 1, 1000000, &rule->from) != 0))
        return -1;
    strcpy (rule->host, at + 1);
    return 0;
}

faults_t *
faults_new (void)
{
    const char *spec = getenv ("ZFARM_TEST_UNREACHABLE");
    if (!spec || !*spec)
        return NULL;
    faults_t *self = zf_malloc (sizeof *self);
    char *copy = zf_strdup (spec), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item;
         item = strtok_r (NULL, ",", &save)) {
        if (self->count == RULES_MAX || s_rule_parse (item,
                                            &self->rules [self->count]))
            zf_error ("ZFARM_TEST_UNREACHABLE: ignoring '%s'", item);
        else
            self->count++;
    }
    free (copy);
    zf_warning ("test build: %d injected send failure rule%s", self->count,
                self->count == 1? "": "s");
    return self;
}

void
faults_destroy (faults_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

bool
faults_unreachable (faults_t *self, int command, const char *host)
{
    bool fail = false;
    for (int i = 0; i < self->count; i++) {
        rule_t *rule = &self->rules [i];
        if ((rule->command == 0 || rule->command == command)
        &&  strcmp (rule->host, host) == 0)
            fail |= ++rule->sends >= rule->from;
    }
    return fail;
}
