/* cli_json.h: a small JSON reader for the broker's status document.
 *
 * It parses any bytes: what is not one valid JSON value (RFC 8259, nested
 * at most JSON_DEPTH_MAX deep) gives NULL. Every accessor accepts NULL and
 * a node of the wrong type, and then returns its fallback, so that a caller
 * that walks a document of unexpected shape never needs to check first. */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_DEPTH_MAX 64

typedef enum {
    JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type_t;

typedef struct _json_t json_t;

/* Parses size bytes of text. Returns the document (caller destroys with
 * json_destroy) or NULL if the text is not one JSON value. */
json_t *
    json_parse (const char *text, size_t size);

void
    json_destroy (json_t **self_p);

/* The node's type; JSON_NULL for a NULL node. */
json_type_t
    json_type (const json_t *self);

/* The first member of an object with this name, or NULL. */
const json_t *
    json_member (const json_t *self, const char *name);

/* The first element of an array or member of an object, or NULL; then the
 * next one after a node, or NULL. json_name is a member's name (NULL for
 * an array element). */
const json_t *
    json_first (const json_t *self);
const json_t *
    json_next (const json_t *self);
const char *
    json_name (const json_t *self);

/* A string's value (NUL-terminated; a \u0000 in it ends it early). */
const char *
    json_string (const json_t *self, const char *fallback);

/* A number as written in the document (exact, unlike a double), and as a
 * double. */
const char *
    json_number_text (const json_t *self, const char *fallback);
double
    json_number (const json_t *self, double fallback);

bool
    json_bool (const json_t *self, bool fallback);

#endif
