/* test_curve.c: zf_curve: keys from Z85 text or certificate files, checked
 * before they reach libzmq, and the roles a certificate gives. */
#include "testlib.h"
#include "zf_curve.h"

#include <czmq.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [] = "/tmp/zfarm-test-curve-XXXXXX";

/* Writes a keypair as NAME and NAME_secret in s_dir; returns the cert
 * (caller destroys) and the public path in path. */
static zcert_t *
s_cert (const char *name, char *path, size_t size)
{
    zcert_t *cert = zcert_new ();
    ASSERT (cert);
    zcert_set_meta (cert, "role", "client");
    snprintf (path, size, "%s/%s", s_dir, name);
    ASSERT_EQ (zcert_save (cert, path), 0);
    return cert;
}

static void
test_keys (void)
{
    char path [256], error [512], z85 [ZF_CURVE_KEY_TEXT];
    zcert_t *cert = s_cert ("alice", path, sizeof path);
    /* A public key from Z85 text, from the public file, from the secret. */
    ASSERT (zf_curve_key_is_valid (zcert_public_txt (cert)));
    ASSERT_EQ (zf_curve_public_read (zcert_public_txt (cert), z85, error,
                                     sizeof error), 0);
    ASSERT_STR_EQ (z85, zcert_public_txt (cert));
    ASSERT_EQ (zf_curve_public_read (path, z85, error, sizeof error), 0);
    ASSERT_STR_EQ (z85, zcert_public_txt (cert));
    /* Anything else says what it is not. */
    ASSERT (!zf_curve_key_is_valid ("short"));
    ASSERT (!zf_curve_key_is_valid ("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"));
    ASSERT_EQ (zf_curve_public_read ("nonsense", z85, error, sizeof error), -1);
    ASSERT (strstr (error, "neither a certificate file nor"));
    char bogus [300];
    snprintf (bogus, sizeof bogus, "%s/bogus", s_dir);
    FILE *file = fopen (bogus, "w");
    fputs ("metadata\n    role = \"client\"\n", file);
    fclose (file);
    ASSERT_EQ (zf_curve_public_read (bogus, z85, error, sizeof error), -1);
    ASSERT (strstr (error, "not a certificate"));
    file = fopen (bogus, "w");
    fputs ("\t\tbad = = indent\n  (x\n", file);    /* does not parse */
    fclose (file);
    ASSERT_EQ (zf_curve_public_read (bogus, z85, error, sizeof error), -1);

    /* A keypair from NAME_secret, or from NAME beside it; never from a
     * public file alone. */
    char public_key [ZF_CURVE_KEY_TEXT], secret_key [ZF_CURVE_KEY_TEXT];
    char secret_path [300];
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    ASSERT_EQ (zf_curve_keypair_read (secret_path, public_key, secret_key,
                                      error, sizeof error), 0);
    ASSERT_STR_EQ (public_key, zcert_public_txt (cert));
    ASSERT_STR_EQ (secret_key, zcert_secret_txt (cert));
    ASSERT_EQ (zf_curve_keypair_read (path, public_key, secret_key, error,
                                      sizeof error), 0);
    char lone [300];
    snprintf (lone, sizeof lone, "%s/lone", s_dir);
    ASSERT_EQ (zcert_save_public (cert, lone), 0);
    ASSERT_EQ (zf_curve_keypair_read (lone, public_key, secret_key, error,
                                      sizeof error), -1);
    ASSERT (strstr (error, "not a readable secret certificate"));

    /* A secret that does not belong to its public key is refused. */
    zcert_t *other = zcert_new ();
    char mixed [300];
    snprintf (mixed, sizeof mixed, "%s/mixed_secret", s_dir);
    file = fopen (mixed, "w");
    fprintf (file, "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             zcert_public_txt (cert), zcert_secret_txt (other));
    fclose (file);
    ASSERT_EQ (zf_curve_keypair_read (mixed, public_key, secret_key, error,
                                      sizeof error), -1);
    ASSERT (strstr (error, "does not match"));
    zcert_destroy (&other);
    zcert_destroy (&cert);
    TEST_PASS ("keys from Z85 or certificates, checked");
}

static void
test_setup (void)
{
    char path [256], error [512];
    zcert_t *broker = s_cert ("broker", path, sizeof path);
    zcert_t *client = s_cert ("client", path, sizeof path);
    char secret_path [300];
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    zf_curve_t curve;
    ASSERT_EQ (zf_curve_setup (&curve, zcert_public_txt (broker), secret_path,
                               error, sizeof error), 0);
    ASSERT (curve.enabled);
    ASSERT_STR_EQ (curve.server_key, zcert_public_txt (broker));
    ASSERT_STR_EQ (curve.public_key, zcert_public_txt (client));
    /* Both are needed; a failure leaves the keys as they were. */
    ASSERT_EQ (zf_curve_setup (&curve, zcert_public_txt (broker), NULL,
                               error, sizeof error), -1);
    ASSERT (curve.enabled);
    ASSERT_STR_EQ (curve.public_key, zcert_public_txt (client));

    /* The environment: neither set is off; one alone is an error. */
    unsetenv (ZF_CURVE_SERVER_KEY_ENV);
    unsetenv (ZF_CURVE_CERT_ENV);
    ASSERT_EQ (zf_curve_setup_from_env (&curve, error, sizeof error), 0);
    ASSERT (!curve.enabled);
    setenv (ZF_CURVE_SERVER_KEY_ENV, zcert_public_txt (broker), 1);
    ASSERT_EQ (zf_curve_setup_from_env (&curve, error, sizeof error), -1);
    ASSERT (strstr (error, "ZFARM_CURVE_CERT is not"));
    setenv (ZF_CURVE_CERT_ENV, secret_path, 1);
    ASSERT_EQ (zf_curve_setup_from_env (&curve, error, sizeof error), 0);
    ASSERT (curve.enabled);

    /* Applied to a socket, the keys make it a CURVE client. */
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    ASSERT_EQ (zf_curve_apply (&curve, zsock_resolve (sock)), 0);
    ASSERT_EQ (zsock_mechanism (sock), ZMQ_CURVE);
    zsock_destroy (&sock);
    zf_curve_clear (&curve);
    ASSERT (!curve.enabled);
    ASSERT_EQ (curve.secret_key [0], 0);
    zcert_destroy (&client);
    zcert_destroy (&broker);
    TEST_PASS ("setup from arguments and the environment");
}

static void
test_roles (void)
{
    ASSERT_EQ (zf_roles_parse ("client"), ZF_ROLE_CLIENT);
    ASSERT_EQ (zf_roles_parse ("worker"), ZF_ROLE_WORKER);
    ASSERT_EQ (zf_roles_parse ("both"), ZF_ROLE_BOTH);
    ASSERT_EQ (zf_roles_parse ("admin"), 0);
    ASSERT_EQ (zf_roles_parse (""), 0);
    ASSERT_EQ (zf_roles_parse (NULL), 0);
    ASSERT_STR_EQ (zf_roles_name (ZF_ROLE_BOTH), "both");
    ASSERT_STR_EQ (zf_roles_name (0), "none");

    ASSERT (zf_services_are_valid ("*"));
    ASSERT (zf_services_are_valid ("a"));
    ASSERT (zf_services_are_valid ("resize,thumbnail"));
    ASSERT (!zf_services_are_valid (""));
    ASSERT (!zf_services_are_valid ("a,,b"));
    ASSERT (!zf_services_are_valid ("a,"));
    ASSERT (!zf_services_are_valid ("has space"));
    ASSERT (!zf_services_are_valid ("zfarm.reserved"));
    ASSERT (!zf_services_are_valid (NULL));

    ASSERT (zf_services_allow ("*", "anything"));
    ASSERT (zf_services_allow ("a,bb", "a"));
    ASSERT (zf_services_allow ("a,bb", "bb"));
    ASSERT (!zf_services_allow ("a,bb", "b"));
    ASSERT (!zf_services_allow ("a,bb", "bbb"));
    ASSERT (!zf_services_allow ("a,bb", "a,bb"));
    ASSERT (!zf_services_allow (NULL, "a"));
    TEST_PASS ("roles and service lists");
}

int
main (void)
{
    zsys_set_logstream (stderr);
    ASSERT (mkdtemp (s_dir));
    test_keys ();
    test_setup ();
    test_roles ();
    char command [300];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    ASSERT_EQ (system (command), 0);
    return 0;
}
