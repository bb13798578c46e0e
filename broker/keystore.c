/* keystore.c: the --authorized-keys directory as a hash of public keys.
 *
 * Invariant: `keys` holds what the directory held when its listing had
 * `signature`; a lookup compares the signature again at most every
 * KEYSTORE_CHECK_MS and reads the directory again when it differs. A
 * lookup that misses also compares the directory's mtime, one stat, so
 * that a key added a moment ago is not refused. */
#include "keystore.h"
#include "auth.h"
#include "zf_config.h"
#include "zf_curve.h"
#include "zf_log.h"
#include "zf_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

struct _keystore_t {
    char *dir;                  /* where the certificates are */
    zhashx_t *keys;             /* Z85 public key -> key_entry_t */
    uint64_t signature;         /* of the listing the keys were read from */
    struct timespec dir_mtime;  /* the directory's own, then */
    int64_t checked_at;         /* when the listing was last compared */
    bool unreadable;            /* said that dir could not be read */
};

static void
s_entry_destroy (void **item)
{
    key_entry_t *entry = *item;
    if (!entry)
        return;
    free (entry->services);
    free (entry->file);
    free (entry);
    *item = NULL;
}

/* A digest of the directory's listing: every entry's name, inode, size
 * and times. Summed per entry, so the order readdir gives does not
 * matter. Also gives the directory's own mtime. Returns 0, or -1 if the
 * directory cannot be read. */
static int
s_signature (const char *dir, uint64_t *signature, struct timespec *mtime)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return -1;
    struct stat info;
    *mtime = fstat (dirfd (handle), &info) == 0? info.st_mtim
                                               : (struct timespec) { 0 };
    uint64_t sum = 0;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (fstatat (dirfd (handle), entry->d_name, &info, 0) != 0)
            continue;
        uint64_t hash = zf_fnv1a (ZF_FNV_OFFSET, entry->d_name,
                               strlen (entry->d_name));
        hash = zf_fnv1a (hash, &info.st_ino, sizeof info.st_ino);
        hash = zf_fnv1a (hash, &info.st_size, sizeof info.st_size);
        hash = zf_fnv1a (hash, &info.st_mtim, sizeof info.st_mtim);
        hash = zf_fnv1a (hash, &info.st_ctim, sizeof info.st_ctim);
        sum += hash;
    }
    closedir (handle);
    *signature = sum;
    return 0;
}

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t size = strlen (text), suffix_size = strlen (suffix);
    return size >= suffix_size
        && strcmp (text + size - suffix_size, suffix) == 0;
}

/* Why the certificate in root cannot be let in, or NULL if it can. */
static const char *
s_refusal (zconfig_t *root, int *roles, const char **services)
{
    const char *public_key = zconfig_get (root, "curve/public-key", NULL);
    if (!zf_curve_key_is_valid (public_key))
        return "not a certificate (no valid curve/public-key)";
    if (zconfig_get (root, "curve/secret-key", NULL))
        return "holds a secret key, which must not leave its owner";
    *roles = zf_roles_parse (zconfig_get (root, "metadata/role", NULL));
    if (!*roles)
        return "no metadata role of client, worker or both";
    *services = zconfig_get (root, "metadata/services", "");
    if (!**services)
        *services = ZF_ANY_SERVICE;
    if (!zf_services_are_valid (*services))
        return "metadata services is not a comma-separated list of"
               " service names";
    return NULL;
}

/* Adds the certificate in file name to keys, or says why it cannot. */
static void
s_add (zhashx_t *keys, const char *dir, const char *name)
{
    if (s_ends_with (name, "_secret")) {
        zf_warning ("authorized keys: %s/%s: a secret certificate does not"
                    " belong here; skipped", dir, name);
        return;
    }
    char *path = zsys_sprintf ("%s/%s", dir, name);
    zconfig_t *root = zf_config_load (path);
    int roles = 0;
    const char *services = NULL;
    const char *refusal = root? s_refusal (root, &roles, &services)
                              : "cannot be read as a certificate";
    const char *key = root? zconfig_get (root, "curve/public-key", ""): "";
    key_entry_t *other = refusal? NULL: zhashx_lookup (keys, key);
    if (refusal)
        zf_warning ("authorized keys: %s: %s; skipped", path, refusal);
    else
    if (other)
        zf_warning ("authorized keys: %s: the key of %s again; skipped",
                    path, other->file);
    else {
        key_entry_t *entry = zf_malloc (sizeof *entry);
        entry->roles = roles;
        entry->services = zf_strdup (services);
        entry->file = zf_strdup (name);
        zhashx_insert (keys, key, entry);
    }
    zconfig_destroy (&root);
    zstr_free (&path);
}

/* Reads every certificate in dir into a new table. Entries whose names
 * start with '.' are skipped, as Kubernetes keeps its "..data" there.
 * Returns NULL if dir cannot be read. */
static zhashx_t *
s_read (const char *dir)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return NULL;
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, s_entry_destroy);
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        struct stat info;
        if (entry->d_name [0] != '.'
        &&  fstatat (dirfd (handle), entry->d_name, &info, 0) == 0
        &&  S_ISREG (info.st_mode))
            s_add (keys, dir, entry->d_name);
    }
    closedir (handle);
    return keys;
}

/* Reads dir into self, replacing its keys. Returns 0 or -1 (logged). */
static int
s_load (keystore_t *self, const char *dir)
{
    uint64_t signature = 0;
    struct timespec mtime;
    zhashx_t *keys = s_signature (dir, &signature, &mtime) == 0? s_read (dir)
                                                               : NULL;
    if (!keys) {
        zf_error ("authorized keys: cannot read %s: %s", dir,
                  strerror (errno));
        return -1;
    }
    zhashx_destroy (&self->keys);
    self->keys = keys;
    self->signature = signature;
    self->dir_mtime = mtime;
    if (!self->dir || strcmp (self->dir, dir) != 0) {
        free (self->dir);
        self->dir = zf_strdup (dir);
    }
    self->unreadable = false;
    zf_notice ("authorized keys: %zu from %s", zhashx_size (keys), dir);
    return 0;
}

keystore_t *
keystore_new (const char *dir)
{
    keystore_t *self = zf_malloc (sizeof *self);
    self->checked_at = zf_now_ms ();
    if (s_load (self, dir) != 0)
        keystore_destroy (&self);
    return self;
}

void
keystore_destroy (keystore_t **self_p)
{
    keystore_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->keys);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/* Reads the directory again if its listing changed. One that cannot be
 * read any more keeps the keys it had, as a bad reload does. */
static void
s_refresh (keystore_t *self)
{
    uint64_t signature;
    struct timespec mtime;
    if (s_signature (self->dir, &signature, &mtime) != 0) {
        if (!self->unreadable)
            zf_warning ("authorized keys: cannot read %s: %s; keeping the"
                        " %zu keys read before", self->dir, strerror (errno),
                        zhashx_size (self->keys));
        self->unreadable = true;
        return;
    }
    if (signature != self->signature || self->unreadable)
        s_load (self, self->dir);
    else
        self->dir_mtime = mtime;    /* an entry came and went */
}

/* True if the directory's mtime moved since it was read: an entry was
 * added, removed or renamed. One stat, cheap enough for every miss. */
static bool
s_dir_changed (keystore_t *self)
{
    struct stat info;
    return stat (self->dir, &info) == 0
        && (info.st_mtim.tv_sec != self->dir_mtime.tv_sec
        ||  info.st_mtim.tv_nsec != self->dir_mtime.tv_nsec);
}

const key_entry_t *
keystore_lookup (keystore_t *self, const char *key)
{
    assert (self);
    int64_t now = zf_now_ms ();
    if (now - self->checked_at >= KEYSTORE_CHECK_MS) {
        self->checked_at = now;
        s_refresh (self);
    }
    const key_entry_t *entry = zhashx_lookup (self->keys, key);
    /* A key just moved into the directory is let in at once; a file
     * changed in place waits for the next full check. */
    if (!entry && s_dir_changed (self)) {
        s_refresh (self);
        entry = zhashx_lookup (self->keys, key);
    }
    return entry;
}

int
keystore_reload (keystore_t *self, const char *dir)
{
    assert (self);
    self->checked_at = zf_now_ms ();
    return s_load (self, dir);
}

size_t
keystore_size (keystore_t *self)
{
    assert (self);
    return zhashx_size (self->keys);
}
