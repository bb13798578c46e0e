/* cli_json.c: a recursive-descent JSON reader into a tree of nodes.
 *
 * Every read checks the end of the text first, nesting stops at
 * JSON_DEPTH_MAX (which bounds the stack, here and in json_destroy), and
 * every loop consumes input, so no text can crash it or make it spin. */
#include "cli_json.h"
#include "cli_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct _json_t {
    json_type_t type;
    char *name;                 /* member name inside an object, else NULL */
    char *text;                 /* STRING: decoded value; NUMBER: literal */
    double number;              /* NUMBER */
    bool truth;                 /* BOOL */
    json_t *child;              /* ARRAY, OBJECT: first element or member */
    json_t *next;               /* the next element or member after this */
};

typedef struct {
    const char *at;             /* the next byte to read */
    const char *end;            /* one past the last byte */
    int depth;                  /* arrays and objects open around `at` */
} reader_t;

static json_t *
    s_parse_value (reader_t *reader);

static json_t *
s_node_new (json_type_t type)
{
    json_t *self = cli_malloc (sizeof *self);
    self->type = type;
    return self;
}

/* Frees a node with its children and the siblings that follow it. */
void
json_destroy (json_t **self_p)
{
    json_t *node = *self_p;
    while (node) {
        json_t *next = node->next;
        json_destroy (&node->child);
        free (node->name);
        free (node->text);
        free (node);
        node = next;
    }
    *self_p = NULL;
}

static void
s_skip_space (reader_t *reader)
{
    while (reader->at < reader->end
       && (*reader->at == ' '  || *reader->at == '\t'
       ||  *reader->at == '\n' || *reader->at == '\r'))
        reader->at++;
}

/* Skips white space, then takes c if it comes next. */
static bool
s_accept (reader_t *reader, char c)
{
    s_skip_space (reader);
    if (reader->at < reader->end && *reader->at == c) {
        reader->at++;
        return true;
    }
    return false;
}

static json_t *
s_parse_literal (reader_t *reader)
{
    static const struct {
        const char *word;
        json_type_t type;
        bool truth;
    } literals [] = {
        { "true", JSON_BOOL, true }, { "false", JSON_BOOL, false },
        { "null", JSON_NULL, false },
    };
    size_t left = (size_t) (reader->end - reader->at);
    for (size_t i = 0; i < sizeof literals / sizeof literals [0]; i++) {
        size_t size = strlen (literals [i].word);
        if (left >= size && memcmp (reader->at, literals [i].word, size) == 0) {
            reader->at += size;
            json_t *node = s_node_new (literals [i].type);
            node->truth = literals [i].truth;
            return node;
        }
    }
    return NULL;
}

static size_t
s_digits (const reader_t *reader, const char *at)
{
    const char *p = at;
    while (p < reader->end && *p >= '0' && *p <= '9')
        p++;
    return (size_t) (p - at);
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static json_t *
s_parse_number (reader_t *reader)
{
    const char *p = reader->at, *end = reader->end;
    if (p < end && *p == '-')
        p++;
    size_t digits = s_digits (reader, p);
    if (digits == 0 || (digits > 1 && *p == '0'))
        return NULL;
    p += digits;
    if (p < end && *p == '.') {
        if ((digits = s_digits (reader, p + 1)) == 0)
            return NULL;
        p += 1 + digits;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if ((digits = s_digits (reader, p)) == 0)
            return NULL;
        p += digits;
    }
    json_t *node = s_node_new (JSON_NUMBER);
    size_t size = (size_t) (p - reader->at);
    node->text = cli_malloc (size + 1);
    memcpy (node->text, reader->at, size);
    node->number = strtod (node->text, NULL);
    reader->at = p;
    return node;
}

/* Four hex digits at p, or -1. */
static long
s_hex4 (const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p [i];
        int digit = c >= '0' && c <= '9'? c - '0':
                    c >= 'a' && c <= 'f'? c - 'a' + 10:
                    c >= 'A' && c <= 'F'? c - 'A' + 10: -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static char *
s_put_utf8 (char *out, uint32_t code)
{
    if (code < 0x80)
        *out++ = (char) code;
    else
    if (code < 0x800) {
        *out++ = (char) (0xC0 | code >> 6);
        *out++ = (char) (0x80 | (code & 0x3F));
    }
    else
    if (code < 0x10000) {
        *out++ = (char) (0xE0 | code >> 12);
        *out++ = (char) (0x80 | (code >> 6 & 0x3F));
        *out++ = (char) (0x80 | (code & 0x3F));
    }
    else {
        *out++ = (char) (0xF0 | code >> 18);
        *out++ = (char) (0x80 | (code >> 12 & 0x3F));
        *out++ = (char) (0x80 | (code >> 6 & 0x3F));
        *out++ = (char) (0x80 | (code & 0x3F));
    }
    return out;
}

/* Decodes \uXXXX at in (at its 'u'), joining a surrogate pair; a lone
 * surrogate becomes U+FFFD. Returns the bytes consumed, or 0 if invalid. */
static size_t
s_unescape_unicode (const char *in, const char *end, char **out_p)
{
    long code = s_hex4 (in + 1, end);
    if (code < 0)
        return 0;
    size_t used = 5;
    if (code >= 0xD800 && code <= 0xDBFF && end - in >= 11
    &&  in [5] == '\\' && in [6] == 'u') {
        long low = s_hex4 (in + 7, end);
        if (low >= 0xDC00 && low <= 0xDFFF) {
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            used = 11;
        }
    }
    if (code >= 0xD800 && code <= 0xDFFF)
        code = 0xFFFD;
    *out_p = s_put_utf8 (*out_p, (uint32_t) code);
    return used;
}

/* Decodes the escape at in (just past its backslash) into *out_p. Returns
 * the bytes consumed, or 0 if the escape is invalid. No escape decodes to
 * more bytes than it takes, so the output never outgrows the input. */
static size_t
s_unescape (const char *in, const char *end, char **out_p)
{
    static const char escapes [] = "\"\\/bfnrt";
    static const char values [] = "\"\\/\b\f\n\r\t";
    if (in >= end)
        return 0;
    if (*in == 'u')
        return s_unescape_unicode (in, end, out_p);
    const char *found = *in? strchr (escapes, *in): NULL;
    if (!found)
        return 0;
    *(*out_p)++ = values [found - escapes];
    return 1;
}

/* The raw bytes of a string body from at (just past its opening quote) to
 * its closing quote, or -1 if the text ends first or has a control byte. */
static ptrdiff_t
s_string_span (const reader_t *reader)
{
    for (const char *p = reader->at; p < reader->end; p++) {
        if (*p == '"')
            return p - reader->at;
        if ((unsigned char) *p < 0x20)
            return -1;
        if (*p == '\\')
            p++;                    /* the escaped byte is never the end */
    }
    return -1;
}

/* Reads a string body (at is past the opening quote). Returns the decoded
 * text (caller frees), or NULL. */
static char *
s_parse_text (reader_t *reader)
{
    ptrdiff_t span = s_string_span (reader);
    if (span < 0)
        return NULL;
    const char *in = reader->at, *end = reader->at + span;
    char *text = cli_malloc ((size_t) span + 1);
    char *out = text;
    while (in < end) {
        if (*in != '\\') {
            *out++ = *in++;
            continue;
        }
        size_t used = s_unescape (in + 1, end, &out);
        if (used == 0) {
            free (text);
            return NULL;
        }
        in += 1 + used;
    }
    *out = 0;
    reader->at = end + 1;
    return text;
}

static json_t *
s_parse_member (reader_t *reader)
{
    if (!s_accept (reader, '"'))
        return NULL;
    char *name = s_parse_text (reader);
    if (!name)
        return NULL;
    json_t *value = s_accept (reader, ':')? s_parse_value (reader): NULL;
    if (!value) {
        free (name);
        return NULL;
    }
    value->name = name;
    return value;
}

typedef json_t *(item_fn) (reader_t *reader);

/* Reads the items of an array or object, separated by commas, up to its
 * closing byte, as the children of node. Returns node, or NULL (and
 * destroys node) if the text is not such a list. Every turn consumes a
 * comma, so the loop ends. */
static json_t *
s_parse_items (reader_t *reader, json_t *node, char close, item_fn *parse)
{
    if (s_accept (reader, close))
        return node;
    json_t **tail = &node->child;
    while ((*tail = parse (reader))) {
        tail = &(*tail)->next;
        if (s_accept (reader, close))
            return node;
        if (!s_accept (reader, ','))
            break;
    }
    json_destroy (&node);
    return NULL;
}

static json_t *
s_parse_nested (reader_t *reader, char open)
{
    if (reader->depth == JSON_DEPTH_MAX)
        return NULL;
    reader->depth++;
    json_t *node = open == '{'?
        s_parse_items (reader, s_node_new (JSON_OBJECT), '}', s_parse_member):
        s_parse_items (reader, s_node_new (JSON_ARRAY), ']', s_parse_value);
    reader->depth--;
    return node;
}

static json_t *
s_parse_value (reader_t *reader)
{
    s_skip_space (reader);
    if (reader->at == reader->end)
        return NULL;
    char c = *reader->at;
    if (c == '{' || c == '[') {
        reader->at++;
        return s_parse_nested (reader, c);
    }
    if (c == '"') {
        reader->at++;
        char *text = s_parse_text (reader);
        if (!text)
            return NULL;
        json_t *node = s_node_new (JSON_STRING);
        node->text = text;
        return node;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return s_parse_number (reader);
    return s_parse_literal (reader);
}

json_t *
json_parse (const char *text, size_t size)
{
    if (!text)
        return NULL;
    reader_t reader = { text, text + size, 0 };
    json_t *root = s_parse_value (&reader);
    s_skip_space (&reader);
    if (root && reader.at != reader.end)
        json_destroy (&root);
    return root;
}

/* ---- reading a document ------------------------------------------------ */

json_type_t
json_type (const json_t *self)
{
    return self? self->type: JSON_NULL;
}

const json_t *
json_member (const json_t *self, const char *name)
{
    if (json_type (self) != JSON_OBJECT)
        return NULL;
    for (const json_t *member = self->child; member; member = member->next)
        if (strcmp (member->name, name) == 0)
            return member;
    return NULL;
}

const json_t *
json_first (const json_t *self)
{
    json_type_t type = json_type (self);
    return type == JSON_ARRAY || type == JSON_OBJECT? self->child: NULL;
}

const json_t *
json_next (const json_t *self)
{
    return self? self->next: NULL;
}

const char *
json_name (const json_t *self)
{
    return self? self->name: NULL;
}

const char *
json_string (const json_t *self, const char *fallback)
{
    return json_type (self) == JSON_STRING? self->text: fallback;
}

const char *
json_number_text (const json_t *self, const char *fallback)
{
    return json_type (self) == JSON_NUMBER? self->text: fallback;
}

double
json_number (const json_t *self, double fallback)
{
    return json_type (self) == JSON_NUMBER? self->number: fallback;
}

bool
json_bool (const json_t *self, bool fallback)
{
    return json_type (self) == JSON_BOOL? self->truth: fallback;
}
