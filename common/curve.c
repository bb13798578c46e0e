/* curve.c: CURVE keys for clients and workers, from certificate files or
 * Z85 text, checked before they reach libzmq (which only says EINVAL), and
 * the roles certificates give. */
#include "zf_curve.h"
#include "zf_config.h"
#include "zf_log.h"
#include "zf_proto.h"

#include <czmq.h>
#include <string.h>
#include <sys/stat.h>

bool
zf_curve_key_is_valid (const char *text)
{
    uint8_t binary [32];
    return text && strlen (text) == 40
        && zmq_z85_decode (binary, text) != NULL;
}

/* The value at name ("curve/public-key") in the certificate file at path,
 * copied into z85 if it is a valid key. Returns 0, or -1 if the file does
 * not parse or has no such key. */
static int
s_cert_key (const char *path, const char *name, char *z85)
{
    zconfig_t *root = zf_config_load (path);
    const char *value = root? zconfig_get (root, name, NULL): NULL;
    int rc = -1;
    if (zf_curve_key_is_valid (value)) {
        memcpy (z85, value, ZF_CURVE_KEY_TEXT);
        rc = 0;
    }
    zconfig_destroy (&root);
    return rc;
}

static bool
s_file_exists (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0 && S_ISREG (info.st_mode);
}

int
zf_curve_public_read (const char *key_or_path, char *z85,
                      char *error, size_t error_size)
{
    assert (key_or_path);
    /* A file wins: Z85 has '/' and '.', so a 40-byte path can look like a
     * key. */
    if (s_file_exists (key_or_path)) {
        if (s_cert_key (key_or_path, "curve/public-key", z85) == 0)
            return 0;
        snprintf (error, error_size, "%s: not a certificate (no valid"
                  " curve/public-key)", key_or_path);
        return -1;
    }
    if (zf_curve_key_is_valid (key_or_path)) {
        memcpy (z85, key_or_path, ZF_CURVE_KEY_TEXT);
        return 0;
    }
    snprintf (error, error_size, "'%s' is neither a certificate file nor a"
              " 40-character Z85 key", key_or_path);
    return -1;
}

/* Warns if the secret file can be read by anyone but its owner. */
static void
s_check_mode (const char *path)
{
    struct stat info;
    if (stat (path, &info) == 0 && (info.st_mode & 077))
        zf_warning ("%s holds a secret key and is readable by others"
                    " (mode %03o); chmod 600 it", path,
                    (unsigned) (info.st_mode & 0777));
}

/* Reads both keys from one file; returns 0 or -1. */
static int
s_keypair_from (const char *path, char *public_z85, char *secret_z85)
{
    if (!s_file_exists (path)
    ||  s_cert_key (path, "curve/secret-key", secret_z85) != 0
    ||  s_cert_key (path, "curve/public-key", public_z85) != 0)
        return -1;
    s_check_mode (path);
    return 0;
}

int
zf_curve_keypair_read (const char *path, char *public_z85, char *secret_z85,
                       char *error, size_t error_size)
{
    assert (path);
    char *secret_path = zsys_sprintf ("%s_secret", path);
    int rc = s_keypair_from (path, public_z85, secret_z85);
    if (rc != 0)
        rc = s_keypair_from (secret_path, public_z85, secret_z85);
    zstr_free (&secret_path);
    if (rc != 0) {
        snprintf (error, error_size, "%s: not a readable secret certificate"
                  " (no valid curve/secret-key in it or in %s_secret)",
                  path, path);
        return -1;
    }
    char derived [ZF_CURVE_KEY_TEXT];
    if (zmq_curve_public (derived, secret_z85) != 0
    ||  strcmp (derived, public_z85) != 0) {
        explicit_bzero (secret_z85, ZF_CURVE_KEY_TEXT);
        snprintf (error, error_size, "%s: its secret key does not match its"
                  " public key", path);
        return -1;
    }
    return 0;
}

int
zf_curve_setup (zf_curve_t *self, const char *server_key,
                const char *cert_path, char *error, size_t error_size)
{
    assert (self);
    if (!server_key || !*server_key || !cert_path || !*cert_path) {
        snprintf (error, error_size, "CURVE needs both the broker's public"
                  " key and a certificate of our own");
        return -1;
    }
    zf_curve_t fresh = { .enabled = true };
    int rc = zf_curve_public_read (server_key, fresh.server_key,
                                   error, error_size);
    if (rc == 0)
        rc = zf_curve_keypair_read (cert_path, fresh.public_key,
                                    fresh.secret_key, error, error_size);
    if (rc == 0)
        *self = fresh;
    zf_curve_clear (&fresh);
    return rc;
}

int
zf_curve_setup_from_env (zf_curve_t *self, char *error, size_t error_size)
{
    const char *server_key = getenv (ZF_CURVE_SERVER_KEY_ENV);
    const char *cert_path = getenv (ZF_CURVE_CERT_ENV);
    bool has_key = server_key && *server_key;
    bool has_cert = cert_path && *cert_path;
    if (!has_key && !has_cert) {
        zf_curve_clear (self);
        return 0;
    }
    if (zf_curve_setup (self, server_key, cert_path, error, error_size) == 0)
        return 0;
    if (!has_key || !has_cert)
        snprintf (error, error_size, "%s is set but %s is not: CURVE needs"
                  " both", has_key? ZF_CURVE_SERVER_KEY_ENV: ZF_CURVE_CERT_ENV,
                  has_key? ZF_CURVE_CERT_ENV: ZF_CURVE_SERVER_KEY_ENV);
    return -1;
}

int
zf_curve_apply (const zf_curve_t *self, void *sock)
{
    assert (self);
    if (!self->enabled)
        return 0;
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, self->server_key,
                        ZF_CURVE_KEY_TEXT)
    ||  zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, self->public_key,
                        ZF_CURVE_KEY_TEXT)
    ||  zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->secret_key,
                        ZF_CURVE_KEY_TEXT))
        return -1;
    return 0;
}

void
zf_curve_clear (zf_curve_t *self)
{
    explicit_bzero (self, sizeof *self);
}

/* ---- roles --------------------------------------------------------------- */

int
zf_roles_parse (const char *text)
{
    if (!text)
        return 0;
    if (strcmp (text, "client") == 0)
        return ZF_ROLE_CLIENT;
    if (strcmp (text, "worker") == 0)
        return ZF_ROLE_WORKER;
    if (strcmp (text, "both") == 0)
        return ZF_ROLE_BOTH;
    return 0;
}

const char *
zf_roles_name (int roles)
{
    return roles == ZF_ROLE_BOTH? "both": roles == ZF_ROLE_CLIENT? "client":
           roles == ZF_ROLE_WORKER? "worker": "none";
}

bool
zf_services_are_valid (const char *text)
{
    if (!text)
        return false;
    if (strcmp (text, ZF_ANY_SERVICE) == 0)
        return true;
    /* Each item between commas is a service name; none may be empty. */
    for (const char *at = text; ; ) {
        const char *comma = strchr (at, ',');
        size_t size = comma? (size_t) (comma - at): strlen (at);
        if (!zf_service_name_is_valid (at, size))
            return false;
        if (!comma)
            return true;
        at = comma + 1;
    }
}

bool
zf_services_allow (const char *services, const char *service)
{
    if (!services)
        return false;
    if (strcmp (services, ZF_ANY_SERVICE) == 0)
        return true;
    size_t size = strlen (service);
    for (const char *at = services; ; ) {
        const char *comma = strchr (at, ',');
        size_t item = comma? (size_t) (comma - at): strlen (at);
        if (item == size && memcmp (at, service, size) == 0)
            return true;
        if (!comma)
            return false;
        at = comma + 1;
    }
}
