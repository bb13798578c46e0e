/* test_broker_security.c: the broker's security pieces on their own: the
 * keystore (a directory of certificates), which endpoints count as local
 * or loopback, and the ZAP handler, in-process, between a CURVE ROUTER
 * and DEALERs with known and unknown keys. */
#include "testlib.h"
#include "auth.h"
#include "keystore.h"
#include "listen.h"
#include "zap.h"

#include <czmq.h>
#include <unistd.h>

static char s_dir [] = "/tmp/zfarm-test-keys-XXXXXX";

/* A certificate in s_dir: name, role (NULL: none) and services (NULL:
 * none). Saves only the public half unless with_secret. Caller destroys. */
static zcert_t *
s_cert (const char *name, const char *role, const char *services,
        bool with_secret)
{
    zcert_t *cert = zcert_new ();
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    if (services)
        zcert_set_meta (cert, "services", "%s", services);
    char path [300];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    ASSERT_EQ (with_secret? zcert_save (cert, path)
                          : zcert_save_public (cert, path), 0);
    return cert;
}

static void
test_keystore (void)
{
    zcert_t *alice = s_cert ("alice", "client", NULL, false);
    zcert_t *w1 = s_cert ("w1", "worker", "resize,thumbnail", false);
    zcert_t *nobody = s_cert ("nobody", NULL, NULL, false);
    zcert_t *admin = s_cert ("admin", "admin", NULL, false);
    zcert_t *bad = s_cert ("bad", "worker", "a,,b", false);
    zcert_t *both = s_cert ("both", "client", NULL, true);
    zcert_t *sneaky = zcert_new ();
    zcert_set_meta (sneaky, "role", "client");
    char sneaky_path [300];
    snprintf (sneaky_path, sizeof sneaky_path, "%s/sneaky", s_dir);
    ASSERT_EQ (zcert_save_secret (sneaky, sneaky_path), 0);
    zcert_t *hidden = s_cert (".hidden", "client", NULL, false);
    char readme [300];
    snprintf (readme, sizeof readme, "%s/README", s_dir);
    FILE *file = fopen (readme, "w");
    fputs ("Not a certificate:\n\t\tbad = = indent\n  (x\n", file);
    fclose (file);
    keystore_t *store = keystore_new (s_dir);
    ASSERT (store);
    /* alice, w1 and both's public half pass: no role, a role that is none
     * of the three, bad services, a secret certificate (both_secret, or a
     * secret under another name), a hidden file, a file that does not
     * parse are skipped. */
    ASSERT_EQ (keystore_size (store), 3);
    const key_entry_t *both_entry = keystore_lookup (store,
                                                     zcert_public_txt (both));
    ASSERT (both_entry);
    ASSERT_STR_EQ (both_entry->file, "both");
    ASSERT (!keystore_lookup (store, zcert_public_txt (sneaky)));
    const key_entry_t *entry = keystore_lookup (store, zcert_public_txt (alice));
    ASSERT (entry);
    ASSERT_EQ (entry->roles, ZF_ROLE_CLIENT);
    ASSERT_STR_EQ (entry->services, "*");
    ASSERT_STR_EQ (entry->file, "alice");
    entry = keystore_lookup (store, zcert_public_txt (w1));
    ASSERT (entry);
    ASSERT_EQ (entry->roles, ZF_ROLE_WORKER);
    ASSERT_STR_EQ (entry->services, "resize,thumbnail");
    ASSERT (!keystore_lookup (store, zcert_public_txt (nobody)));
    ASSERT (!keystore_lookup (store, zcert_public_txt (hidden)));

    /* A key moved in counts at the next lookup; one removed, too. */
    zcert_t *late = zcert_new ();
    zcert_set_meta (late, "role", "both");
    char temp [300], path [300];
    snprintf (temp, sizeof temp, "/tmp/zfarm-test-late-%d", getpid ());
    snprintf (path, sizeof path, "%s/late", s_dir);
    ASSERT_EQ (zcert_save_public (late, temp), 0);
    ASSERT_EQ (rename (temp, path), 0);
    entry = keystore_lookup (store, zcert_public_txt (late));
    ASSERT (entry);
    ASSERT_EQ (entry->roles, ZF_ROLE_BOTH);
    ASSERT_EQ (unlink (path), 0);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = !keystore_lookup (store, zcert_public_txt (late));
        if (!gone)
            zclock_sleep (10);  /* the full check, every quarter second */
    }
    ASSERT (gone);

    /* A reload from a directory that cannot be read keeps the keys. */
    ASSERT_EQ (keystore_reload (store, "/nonexistent/keys"), -1);
    ASSERT (keystore_lookup (store, zcert_public_txt (alice)));
    ASSERT_EQ (keystore_reload (store, s_dir), 0);
    keystore_destroy (&store);
    keystore_destroy (&store);
    ASSERT (!keystore_new ("/nonexistent/keys"));
    zcert_destroy (&late);
    zcert_destroy (&hidden);
    zcert_destroy (&sneaky);
    zcert_destroy (&both);
    zcert_destroy (&bad);
    zcert_destroy (&admin);
    zcert_destroy (&nobody);
    zcert_destroy (&w1);
    zcert_destroy (&alice);
    TEST_PASS ("keystore: roles, skipped files, changes seen");
}

static void
test_endpoints (void)
{
    ASSERT (listen_is_local ("ipc:///run/zfarm/broker.ipc"));
    ASSERT (listen_is_local ("inproc://x"));
    ASSERT (!listen_is_local ("tcp://127.0.0.1:5555"));
    ASSERT (listen_is_loopback ("tcp://127.0.0.1:5555"));
    ASSERT (listen_is_loopback ("tcp://127.3.2.1:5555"));
    ASSERT (listen_is_loopback ("tcp://[::1]:5555"));
    ASSERT (listen_is_loopback ("tcp://[::ffff:127.0.0.1]:5555"));
    ASSERT (!listen_is_loopback ("tcp://0.0.0.0:5555"));
    ASSERT (!listen_is_loopback ("tcp://[::]:5555"));
    ASSERT (!listen_is_loopback ("tcp://10.0.0.5:5555"));
    ASSERT (!listen_is_loopback ("tcp://eth0:5555"));
    ASSERT (!listen_is_loopback ("tcp://localhost"));
    ASSERT (!listen_is_loopback ("ipc:///x"));
    TEST_PASS ("local and loopback endpoints");
}

/* A DEALER with cert's keys (a fresh pair if NULL) to endpoint. */
static zsock_t *
s_dealer (const char *endpoint, const char *server_key, zcert_t *cert)
{
    zcert_t *own = cert? NULL: zcert_new ();
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zcert_apply (cert? cert: own, sock);
    zsock_set_curve_serverkey (sock, server_key);
    ASSERT_EQ (zsock_connect (sock, "%s", endpoint), 0);
    zcert_destroy (&own);
    return sock;
}

static void
test_zap (void)
{
    zcert_t *server = zcert_new ();
    zcert_t *w1 = zcert_new ();
    zcert_set_meta (w1, "role", "worker");
    zcert_set_meta (w1, "services", "resize");
    char path [300];
    snprintf (path, sizeof path, "%s/w1", s_dir);
    ASSERT_EQ (zcert_save_public (w1, path), 0);
    zactor_t *zap = zap_new (s_dir);
    ASSERT (zap);

    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey (router, zcert_secret_txt (server));
    zsock_set_zap_domain (router, ZAP_DOMAIN);
    ASSERT (zsock_bind (router, "tcp://127.0.0.1:*") > 0);
    char *endpoint = zsock_last_endpoint (router);
    zsock_set_rcvtimeo (router, 5000);

    /* Strangers first: none of their messages may arrive. */
    zsock_t *strangers [5];
    for (int i = 0; i < 5; i++) {
        strangers [i] = s_dealer (endpoint, zcert_public_txt (server), NULL);
        zstr_send (strangers [i], "stranger");
    }
    zsock_t *known = s_dealer (endpoint, zcert_public_txt (server), w1);
    zstr_send (known, "known");
    zmq_msg_t identity, body;
    zmq_msg_init (&identity);
    zmq_msg_init (&body);
    ASSERT (zmq_msg_recv (&identity, zsock_resolve (router), 0) > 0);
    ASSERT (zmq_msg_recv (&body, zsock_resolve (router), 0) > 0);
    ASSERT_EQ (zmq_msg_size (&body), 5);
    ASSERT_MEM_EQ (zmq_msg_data (&body), "known", 5);
    auth_peer_t peer;
    auth_peer_read (&body, &peer);
    ASSERT_STR_EQ (peer.key, zcert_public_txt (w1));
    ASSERT_EQ (peer.roles, ZF_ROLE_WORKER);
    ASSERT_STR_EQ (peer.services, "resize");
    ASSERT_STR_EQ (peer.address, "127.0.0.1");
    ASSERT (peer.network);
    zmq_msg_close (&body);
    zmq_msg_close (&identity);
    /* Nothing else: the strangers' messages never came in. */
    zsock_set_rcvtimeo (router, 200);
    char *more = zstr_recv (router);
    ASSERT (!more);

    /* SIGHUP's reload, from a directory that cannot be read, fails and
     * keeps the keys. */
    ASSERT_EQ (zap_reload (zap, "/nonexistent/keys"), -1);
    ASSERT_EQ (zap_reload (zap, s_dir), 0);

    for (int i = 0; i < 5; i++)
        zsock_destroy (&strangers [i]);
    zsock_destroy (&known);
    zsock_destroy (&router);
    zstr_free (&endpoint);
    zactor_destroy (&zap);
    zcert_destroy (&w1);
    zcert_destroy (&server);
    TEST_PASS ("the ZAP handler lets in known keys with their role, only");
}

int
main (void)
{
    zsys_set_logstream (stderr);
    ASSERT (mkdtemp (s_dir));
    test_keystore ();
    test_endpoints ();
    test_zap ();
    char command [300];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    ASSERT_EQ (system (command), 0);
    return 0;
}
