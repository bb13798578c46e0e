/* codes.c: names and texts for the ZFARM_E* codes, from the one list. */
#include "zfarm_codes.h"

const char *
zfarm_strerror (int code)
{
    switch (code) {
        case 0: return "success";
#define ZFARM_XX(name, num, text) case -(num): return text;
        ZFARM_ERRNO_MAP (ZFARM_XX)
#undef ZFARM_XX
        default: return "unknown error";
    }
}

const char *
zfarm_err_name (int code)
{
    switch (code) {
        case 0: return "OK";
#define ZFARM_XX(name, num, text) case -(num): return #name;
        ZFARM_ERRNO_MAP (ZFARM_XX)
#undef ZFARM_XX
        default: return "UNKNOWN";
    }
}
