/* make_seeds.c: writes one valid encoded header per command, as fuzz seeds. */
#include "zf_batch.h"
#include "zf_proto.h"
#include "zf_record.h"
#include "zfarm_codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_write_records (const char *dir);
static int s_write_batches (const char *dir);

static void
s_write_named (const char *dir, const char *name, const zf_header_t *header)
{
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0)
        return;
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    if (file) {
        fwrite (buf.data, 1, buf.size, file);
        fclose (file);
    }
}

static void
s_write (const char *dir, const zf_header_t *header)
{
    s_write_named (dir, zf_command_name (header->command), header);
}

int
main (int argc, char *argv [])
{
    if (argc == 3 && strcmp (argv [1], "--records") == 0)
        return s_write_records (argv [2]);
    if (argc == 3 && strcmp (argv [1], "--batches") == 0)
        return s_write_batches (argv [2]);
    if (argc != 2) {
        fprintf (stderr, "usage: make_seeds DIR | --records DIR | --batches DIR\n");
        return 2;
    }
    for (int command = 1; command < ZF_COMMAND_LIMIT; command++) {
        zf_header_t header;
        zf_header_init (&header, command);
        header.task_id = 0x0123456789abcdefULL;
        header.epoch = 42;
        header.status = ZFARM_EHANDLER_ERROR;
        header.timeout_ms = 1500;
        header.retries = 2;
        header.attempt = 1;
        header.capacity = 4;
        header.pid = 4242;
        header.service_count = 2;
        strcpy (header.services [0], "echo");
        strcpy (header.services [1], "primes");
        zf_header_set_service (&header, "echo");
        strcpy (header.host, "host-a");
        zf_header_set_text (&header, "exit status 1: boom");
        header.heartbeat_ms = 250;
        header.liveness = 3;
        header.brokers = 2;
        strcpy (header.instance, "6c772c44c555427c93615ef62d834c25");
        header.free_slots = 1;
        header.queued = 7;
        header.done = 3;
        header.total = 10;
        header.priority = 7;
        header.delay_ms = 2500;
        header.retry_on = (1u << 2) | (1u << 8);
        header.backoff_min_ms = 100;
        header.backoff_max_ms = 400;
        header.waiting = 12;
        header.waited_ms = 340;
        header.rss_kb = 20480;
        header.pool = 0x9e3779b97f4a7c15ULL;
        header.busy = 420;
        header.count = 3;
        header.flags = command == ZF_DONE? 32
                     : command == ZF_READY? ZF_FLAG_SUPERVISED: 1;
        s_write (argv [1], &header);
    }
    /* A draining worker's HEARTBEAT: its settings not said, then flags. */
    zf_header_t drain;
    zf_header_init (&drain, ZF_HEARTBEAT);
    drain.flags = ZF_FLAG_DRAIN;
    s_write_named (argv [1], "HEARTBEAT-DRAIN", &drain);
    return 0;
}

/* With "--records DIR": journal records' bodies (fuzz_record seals them),
 * one per state. */
static int
s_write_records (const char *dir)
{
    for (int state = ZF_JOB_WAITING; state <= ZF_JOB_FINISHED; state++) {
        zf_job_t job = { .id = 0x1234abcd, .seq = 7, .state = state,
                         .flags = 1, .priority = 4, .retries = -1,
                         .attempts = (uint32_t) state - 1,
                         .submitted_at = 1796500000000,
                         .payload = "payload\0", .payload_size = 8 };
        strcpy (job.service, "echo");
        if (state == ZF_JOB_FINISHED) {
            job.status = -8;
            job.text = "boom";
            job.text_size = 4;
            job.history = "attempt 1: HANDLER_ERROR: boom\n";
            job.history_size = strlen (job.history);
            job.finished_at = 1796500001000;
            strcpy (job.owner, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
        }
        size_t size;
        char *record = zf_record_encode (&job, &size);
        char path [4096];
        snprintf (path, sizeof path, "%s/state-%d", dir, state);
        FILE *file = fopen (path, "wb");
        if (file) {
            fwrite (record + ZF_RECORD_SUM_SIZE, 1, size - ZF_RECORD_SUM_SIZE,
                    file);
            fclose (file);
        }
        free (record);
    }
    return 0;
}

/* Batch seeds: the count byte, then an items frame (fuzz_batch.c). */
static int
s_write_batches (const char *dir)
{
    int commands [] = { ZF_SUBMIT, ZF_TASK, ZF_DONE, ZF_RESULT };
    for (size_t c = 0; c < sizeof commands / sizeof commands [0]; c++) {
        zf_batch_t batch;
        zf_batch_init (&batch);
        for (uint64_t id = 1; id <= 3; id++) {
            zf_header_t header;
            zf_header_init (&header, commands [c]);
            header.task_id = id;
            header.attempt = 1;
            zf_header_set_service (&header, "echo");
            header.flags = ZF_FLAG_NUL;
            if (zf_batch_add (&batch, &header, id == 2? NULL: "hello",
                              id == 2? 0: 6) != 0)
                return 1;
        }
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir, zf_command_name (commands [c]));
        FILE *file = fopen (path, "wb");
        if (!file)
            return 1;
        fputc ((int) batch.count, file);
        fwrite (batch.data, 1, batch.size, file);
        fclose (file);
        zf_batch_free (&batch);
    }
    return 0;
}
