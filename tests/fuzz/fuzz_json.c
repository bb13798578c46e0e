/* fuzz_json.c: libFuzzer target for the JSON reader of `zfarm status`,
 * which reads whatever a broker (or something posing as one) sends.
 *
 * Any bytes must give a document or NULL, and walking whatever comes back
 * with every accessor must stay within it. */
#include "cli_json.h"

#include <stdint.h>

static size_t
s_walk (const json_t *node, int depth)
{
    size_t nodes = 1;
    json_string (node, "");
    json_number (node, 0);
    json_number_text (node, "");
    json_bool (node, false);
    json_member (node, "workers");
    for (const json_t *child = json_first (node); child && depth < 100;
         child = json_next (child)) {
        json_name (child);
        nodes += s_walk (child, depth + 1);
    }
    return nodes;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_t *document = json_parse ((const char *) data, size);
    if (document)
        s_walk (document, 0);
    json_destroy (&document);
    return 0;
}
