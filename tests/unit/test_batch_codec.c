/* test_batch_codec.c: BATCH's items frame (common/zf_batch.h), written and
 * read back, its bounds, and every way a frame can lie about its items.
 * The BATCH header and the flag it rides on are in the header codec. */
#include "testlib.h"
#include "zf_batch.h"
#include "zfarm_codes.h"

static zf_decoder_t *s_decoder;

static void
s_submit (zf_header_t *header, uint64_t id)
{
    zf_header_init (header, ZF_SUBMIT);
    header->task_id = id;
    zf_header_set_service (header, "echo");
    header->flags = ZF_FLAG_NUL;
}

/* A batch of SUBMITs with payloads of every bin width, and none, reads
 * back item by item as what was put in. */
static void
test_round_trip (void)
{
    static uint8_t big [70000];
    for (size_t i = 0; i < sizeof big; i++)
        big [i] = (uint8_t) i;
    size_t sizes [] = { 0, 1, 255, 256, 65535, 65536, 70000 };
    size_t count = sizeof sizes / sizeof sizes [0];
    zf_batch_t batch;
    zf_batch_init (&batch);
    zf_header_t header;
    for (size_t i = 0; i < count; i++) {
        s_submit (&header, i + 1);
        ASSERT_EQ (zf_batch_add (&batch, &header, big, sizes [i]), 0);
    }
    zf_header_init (&header, ZF_DONE);
    header.task_id = 99;
    header.status = ZFARM_EHANDLER_ERROR;
    zf_header_set_text (&header, "it failed");
    ASSERT_EQ (zf_batch_add (&batch, &header, NULL, 0), 0);
    ASSERT_EQ (batch.count, count + 1);

    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, batch.data, batch.size, batch.count);
    zf_batch_item_t item;
    zf_header_t decoded;
    for (size_t i = 0; i < count; i++) {
        ASSERT_EQ (zf_batch_next (&reader, &item), 1);
        ASSERT_EQ (zf_header_decode (s_decoder, &decoded, item.header,
                                     item.header_size),
                   0);
        ASSERT_EQ (decoded.command, ZF_SUBMIT);
        ASSERT_EQ (decoded.task_id, i + 1);
        ASSERT_STR_EQ (decoded.service, "echo");
        ASSERT (item.payload != NULL);
        ASSERT_EQ (item.payload_size, sizes [i]);
        ASSERT_MEM_EQ (item.payload, big, sizes [i]);
        zmq_msg_t frame;
        zf_batch_item_frame (&item, &frame);
        ASSERT_EQ (zmq_msg_size (&frame), sizes [i]);
        ASSERT_MEM_EQ (zmq_msg_data (&frame), big, sizes [i]);
        zmq_msg_close (&frame);
    }
    ASSERT_EQ (zf_batch_next (&reader, &item), 1);
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, item.header,
                                 item.header_size),
               0);
    ASSERT_EQ (decoded.command, ZF_DONE);
    ASSERT_EQ (decoded.status, ZFARM_EHANDLER_ERROR);
    ASSERT_STR_EQ (decoded.text, "it failed");
    ASSERT (item.payload == NULL);
    ASSERT_EQ (zf_batch_next (&reader, &item), 0);
    ASSERT_EQ (zf_batch_next (&reader, &item), 0);
    zf_batch_free (&batch);
    ASSERT (batch.data == NULL && batch.count == 0);
    TEST_PASS ("round trip");
}

/* A batch holds ZF_BATCH_ITEMS_MAX items, or about ZF_BATCH_BYTES_MAX. */
static void
test_bounds (void)
{
    zf_batch_t batch;
    zf_batch_init (&batch);
    zf_header_t header;
    for (uint64_t id = 1; id <= ZF_BATCH_ITEMS_MAX; id++) {
        ASSERT (!zf_batch_full (&batch));
        s_submit (&header, id);
        ASSERT_EQ (zf_batch_add (&batch, &header, "x", 1), 0);
    }
    ASSERT (zf_batch_full (&batch));
    ASSERT_EQ (zf_batch_add (&batch, &header, "x", 1), -1);
    ASSERT_EQ (batch.count, ZF_BATCH_ITEMS_MAX);
    zf_batch_free (&batch);

    static uint8_t payload [ZF_BATCH_PAYLOAD_MAX];
    uint64_t id = 1;
    while (!zf_batch_full (&batch)) {
        s_submit (&header, id++);
        ASSERT_EQ (zf_batch_add (&batch, &header, payload, sizeof payload), 0);
    }
    ASSERT (batch.size >= ZF_BATCH_BYTES_MAX);
    ASSERT (batch.size < ZF_BATCH_BYTES_MAX + 2 * sizeof payload);
    ASSERT (batch.count < ZF_BATCH_ITEMS_MAX);
    zf_batch_free (&batch);

    /* A header encoded already goes in as it is, and reads back the same
     * as one encoded here; an empty or oversized one is refused. */
    zf_buf_t buf;
    s_submit (&header, 42);
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    ASSERT_EQ (zf_batch_add_encoded (&batch, buf.data, buf.size, "ab", 2), 0);
    ASSERT_EQ (zf_batch_add (&batch, &header, "ab", 2), 0);
    ASSERT_EQ (batch.size % 2, 0);
    ASSERT_MEM_EQ (batch.data, batch.data + batch.size / 2, batch.size / 2);
    ASSERT_EQ (zf_batch_add_encoded (&batch, buf.data, 0, NULL, 0), -1);
    ASSERT_EQ (zf_batch_add_encoded (&batch, buf.data, ZF_HEADER_MAX + 1, NULL,
                                     0),
               -1);
    ASSERT_EQ (batch.count, 2);
    zf_batch_free (&batch);

    /* A header that cannot encode is the caller's bug: refused. */
    zf_header_init (&header, ZF_SUBMIT);
    header.command = ZF_COMMAND_LIMIT;
    ASSERT_EQ (zf_batch_add (&batch, &header, NULL, 0), -1);
    ASSERT_EQ (batch.count, 0);
    zf_batch_free (&batch);
    TEST_PASS ("bounds");
}

/* Reads a frame of bytes that says count items: returns how many items
 * came before the reader stopped, and the last return code. */
static int
s_read_all (const void *data, size_t size, uint32_t count, int *items)
{
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, data, size, count);
    zf_batch_item_t item;
    int rc;
    *items = 0;
    while ((rc = zf_batch_next (&reader, &item)) == 1)
        (*items)++;
    ASSERT_EQ (zf_batch_next (&reader, &item), rc); /* it stays stopped */
    return rc;
}

/* Every lie a frame can tell about its items stops the reader at the item
 * where it is found, and never reads past the frame (ASan checks that). */
static void
test_lies (void)
{
    zf_batch_t batch;
    zf_batch_init (&batch);
    zf_header_t header;
    for (uint64_t id = 1; id <= 3; id++) {
        s_submit (&header, id);
        ASSERT_EQ (zf_batch_add (&batch, &header, "abc", 3), 0);
    }
    int items;
    /* As built. */
    ASSERT_EQ (s_read_all (batch.data, batch.size, 3, &items), 0);
    ASSERT_EQ (items, 3);
    /* Count larger than the items: the three, then the lie. */
    ASSERT_EQ (s_read_all (batch.data, batch.size, 4, &items), -1);
    ASSERT_EQ (items, 3);
    /* Count smaller: bytes left over. */
    ASSERT_EQ (s_read_all (batch.data, batch.size, 2, &items), -1);
    ASSERT_EQ (items, 2);
    /* Cut anywhere: never a read past the end, never all three. */
    for (size_t cut = 0; cut < batch.size; cut++) {
        uint8_t *copy = malloc (cut ? cut : 1);
        memcpy (copy, batch.data, cut);
        ASSERT_EQ (s_read_all (copy, cut, 3, &items), -1);
        ASSERT (items < 3);
        free (copy);
    }
    /* An empty batch (nothing added: no memory either) reads as a clean
     * end: a writer that found nothing to add may still read it back. */
    zf_batch_t empty;
    zf_batch_init (&empty);
    ASSERT_EQ (s_read_all (empty.data, empty.size, empty.count, &items), 0);
    ASSERT_EQ (items, 0);
    /* Empty frame, garbage, a nil where the header goes, a bin whose
     * length runs past the end. */
    ASSERT_EQ (s_read_all ("", 0, 1, &items), -1);
    ASSERT_EQ (s_read_all ("\x93\x01\x02\x03", 4, 1, &items), -1);
    ASSERT_EQ (s_read_all ("\xc0\xc0", 2, 1, &items), -1);
    ASSERT_EQ (s_read_all ("\xc6\xff\xff\xff\xff\x00", 6, 1, &items), -1);
    ASSERT_EQ (s_read_all ("\xc5\x00", 2, 1, &items), -1);
    ASSERT_EQ (items, 0);
    /* A well framed item whose header is nonsense still reads as an
     * item: its header is refused by the decoder, the others stand. */
    ASSERT_EQ (s_read_all ("\xc4\x01\x07\xc0", 4, 1, &items), 0);
    ASSERT_EQ (items, 1);
    zf_header_t decoded;
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, "\x07", 1),
               ZFARM_EBAD_REQUEST);
    zf_batch_free (&batch);
    TEST_PASS ("lies");
}

/* The BATCH header: count 1..ZF_BATCH_ITEMS_MAX, optional flags; the
 * BATCH flag on PONG, which keeps waiting/waited as zeros. */
static void
test_header (void)
{
    zf_header_t header, decoded;
    zf_buf_t buf;
    zf_header_init (&header, ZF_BATCH);
    header.count = 7;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, buf.data, buf.size), 0);
    ASSERT_EQ (decoded.command, ZF_BATCH);
    ASSERT_EQ (decoded.count, 7);
    ASSERT_STR_EQ (zf_command_name (ZF_BATCH), "BATCH");

    header.count = 0; /* an empty batch is no batch */
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, buf.data, buf.size),
               ZFARM_EBAD_REQUEST);
    header.count = ZF_BATCH_ITEMS_MAX + 1;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, buf.data, buf.size),
               ZFARM_EBAD_REQUEST);

    zf_header_init (&header, ZF_PONG);
    header.epoch = 5;
    size_t plain_size;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    plain_size = buf.size;
    header.flags = ZF_FLAG_BATCH;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    ASSERT (buf.size > plain_size);
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, buf.data, buf.size), 0);
    ASSERT_EQ (decoded.flags, ZF_FLAG_BATCH);
    ASSERT_EQ (decoded.waiting, 0);
    ASSERT_EQ (decoded.epoch, 5);
    TEST_PASS ("header");
}

/* zf_batch_send moves the items into a frame: the peer gets [BATCH
 * header][items], and the batch is empty after. */
static void
test_send (void)
{
    void *context = zmq_ctx_new ();
    void *out = zmq_socket (context, ZMQ_PAIR);
    void *in = zmq_socket (context, ZMQ_PAIR);
    ASSERT_EQ (zmq_bind (in, "inproc://batch"), 0);
    ASSERT_EQ (zmq_connect (out, "inproc://batch"), 0);
    zf_batch_t batch;
    zf_batch_init (&batch);
    ASSERT_EQ (zf_batch_send (&batch, out), 0); /* empty: nothing sent */
    zf_header_t header;
    for (uint64_t id = 1; id <= 10; id++) {
        s_submit (&header, id);
        ASSERT_EQ (zf_batch_add (&batch, &header, "payload", 7), 0);
    }
    ASSERT_EQ (zf_batch_send (&batch, out), 0);
    ASSERT (batch.data == NULL && batch.count == 0 && batch.size == 0);

    zmq_msg_t head, items;
    zmq_msg_init (&head);
    zmq_msg_init (&items);
    ASSERT (zmq_msg_recv (&head, in, 0) != -1);
    ASSERT (zmq_msg_more (&head));
    ASSERT (zmq_msg_recv (&items, in, 0) != -1);
    ASSERT (!zmq_msg_more (&items));
    zf_header_t decoded;
    ASSERT_EQ (zf_header_decode (s_decoder, &decoded, zmq_msg_data (&head),
                                 zmq_msg_size (&head)),
               0);
    ASSERT_EQ (decoded.command, ZF_BATCH);
    ASSERT_EQ (decoded.count, 10);
    int count;
    ASSERT_EQ (s_read_all (zmq_msg_data (&items), zmq_msg_size (&items), 10,
                           &count),
               0);
    ASSERT_EQ (count, 10);
    zmq_msg_close (&head);
    zmq_msg_close (&items);
    zmq_close (out);
    zmq_close (in);
    zmq_ctx_term (context);
    TEST_PASS ("send");
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    test_round_trip ();
    test_bounds ();
    test_lies ();
    test_header ();
    test_send ();
    zf_decoder_destroy (&s_decoder);
    return 0;
}
