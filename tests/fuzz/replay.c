/* replay.c: runs a fuzz target over corpus files, for builds without
 * libFuzzer, so that every saved input stays a regression test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_replay_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return -1;
    static uint8_t data [1 << 20];
    size_t size = fread (data, 1, sizeof data, file);
    fclose (file);
    LLVMFuzzerTestOneInput (data, size);
    return 0;
}

int
main (int argc, char *argv [])
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir (argv [i]);
        if (!dir) {
            fprintf (stderr, "replay: cannot open %s\n", argv [i]);
            return 1;
        }
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (entry->d_name [0] == '.')
                continue;
            char path [4096];
            snprintf (path, sizeof path, "%s/%s", argv [i], entry->d_name);
            if (s_replay_file (path) == 0)
                files++;
        }
        closedir (dir);
    }
    printf ("replayed %d inputs\n", files);
    return files > 0? 0: 1;
}
