/*
 * update.c — signed firmware update images (docs/update-image.md) and the
 * A/B slots they are installed into. The image is checked with mbedTLS
 * (the appliance's independent implementation) against the vendor's P-256
 * public key: the board's compiled-in key or the provisioned PEM file.
 *
 * Slots live in STATE/slots: a/image, b/image, active ("a"|"b"; absent:
 * the factory image), pending ("X N": slot X waits for its trial boot,
 * N boots tried). A boot with pending "X 0" is the trial of X (N becomes
 * 1); the image confirms itself with bsp_update_confirm (X becomes
 * active). A boot that finds "X 1" falls back: the trial never confirmed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "board_int.h"
#include "sti_err.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int bsp_image_parse(const uint8_t *img, size_t n, struct bsp_image_hdr *h)
{
    memset(h, 0, sizeof *h);
    if (!img || n < BSP_IMG_SIGNED_LEN || memcmp(img, BSP_IMG_MAGIC, 4) != 0)
        return BSP_UPD_EFORMAT;
    h->format = (uint16_t)(img[4] << 8 | img[5]);
    h->hdr_len = (uint16_t)(img[6] << 8 | img[7]);
    if (h->format != BSP_IMG_FORMAT || h->hdr_len != BSP_IMG_HDR_LEN || n < BSP_IMG_HDR_LEN)
        return BSP_UPD_EFORMAT;
    h->version = be32(img + 8);
    h->length = be32(img + 12);
    memcpy(h->hash, img + 16, 32);
    memcpy(h->sig, img + 48, 64);
    if (h->length > BSP_IMG_MAX_PAYLOAD || n - BSP_IMG_HDR_LEN != h->length)
        return BSP_UPD_EFORMAT;
    return BSP_UPD_OK;
}

int bsp_version_parse(const char *s, uint32_t *out)
{
    unsigned ma, mi, pa;
    char tail;
    if (!s || sscanf(s, "%3u.%3u.%3u%c", &ma, &mi, &pa, &tail) != 3 || ma > 255 || mi > 255 ||
        pa > 255)
        return -1;
    *out = BSP_VERSION(ma, mi, pa);
    return 0;
}

void bsp_version_str(uint32_t v, char *out, size_t cap)
{
    snprintf(out, cap, "%u.%u.%u", (unsigned)(v >> 16 & 0xff), (unsigned)(v >> 8 & 0xff),
             (unsigned)(v & 0xff));
}

static int sig_check(const uint8_t *img, const struct bsp_image_hdr *h, const char *pem)
{
    mbedtls_pk_context pk;
    mbedtls_mpi r, s;
    uint8_t digest[32];
    int rc = BSP_UPD_EKEY;
    mbedtls_pk_init(&pk);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (mbedtls_pk_parse_public_key(&pk, (const unsigned char *)pem, strlen(pem) + 1) != 0 ||
        mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_ec(pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
        goto out;
    rc = BSP_UPD_ESIG;
    if (mbedtls_sha256_ret(img, BSP_IMG_SIGNED_LEN, digest, 0) != 0 ||
        mbedtls_mpi_read_binary(&r, h->sig, 32) != 0 ||
        mbedtls_mpi_read_binary(&s, h->sig + 32, 32) != 0)
        goto out;
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
    if (mbedtls_ecdsa_verify(&ec->grp, digest, sizeof digest, &ec->Q, &r, &s) == 0)
        rc = BSP_UPD_OK;
out:
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_pk_free(&pk);
    return rc;
}

int bsp_image_verify(const uint8_t *img, size_t n, const char *vendor_pem, uint32_t running,
                     struct bsp_image_hdr *h, char *why, size_t cap)
{
    static const uint8_t zero[64];
    uint8_t digest[32];
    char v1[16], v2[16];
    int rc = bsp_image_parse(img, n, h);
    if (rc) {
        snprintf(why, cap, "not an update image (bad magic, format or length)");
        return rc;
    }
    if (memcmp(h->sig, zero, sizeof zero) == 0) {
        snprintf(why, cap, "unsigned image refused");
        return BSP_UPD_EUNSIGNED;
    }
    if (mbedtls_sha256_ret(img + BSP_IMG_HDR_LEN, h->length, digest, 0) != 0 ||
        memcmp(digest, h->hash, sizeof digest) != 0) {
        snprintf(why, cap, "tampered image refused: payload hash mismatch");
        return BSP_UPD_ETAMPERED;
    }
    if (!vendor_pem) {
        snprintf(why, cap, "no vendor key: configure update_vendor_key");
        return BSP_UPD_EKEY;
    }
    rc = sig_check(img, h, vendor_pem);
    if (rc == BSP_UPD_EKEY) {
        snprintf(why, cap, "vendor key unusable (need a P-256 public key in PEM)");
        return rc;
    }
    if (rc) {
        snprintf(why, cap, "bad signature: image not signed by the vendor key");
        return rc;
    }
    if (h->version <= running) {
        bsp_version_str(h->version, v1, sizeof v1);
        bsp_version_str(running, v2, sizeof v2);
        snprintf(why, cap, "downgrade refused: image %s is not newer than running %s", v1, v2);
        return BSP_UPD_EDOWNGRADE;
    }
    bsp_version_str(h->version, v1, sizeof v1);
    snprintf(why, cap, "image %s verified", v1);
    return BSP_UPD_OK;
}

/* ---- slots ---- */

/* Two threads of the daemon use the slots: the loop (the automatic
 * confirm, status) and the admin thread (the console's update commands).
 * g_mu guards the g_ variables and the small slot files; an install reads
 * and verifies the image and writes it into the slot not booted outside
 * the lock (nothing else touches that slot; g_installing keeps installs
 * one at a time), so the loop never waits for an image check. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_boot;      /* the slot booted: 'a', 'b', 0 = factory */
static int g_trial;      /* this boot is the trial of g_boot */
static char g_rollback;  /* this boot fell back from that slot */
static int g_installing; /* an install is writing the slot not booted */

static int slot_path(char *out, size_t cap, const char *leaf)
{
    if (!bsp_g_cfg.state_dir[0])
        return STI_ECONFIG;
    if (snprintf(out, cap, "%s/slots/%s", bsp_g_cfg.state_dir, leaf) >= (int)cap)
        return STI_ETOOLONG;
    return STI_OK;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "re");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (len == cap) {
            if (cap >= BSP_IMG_MAX_PAYLOAD + BSP_IMG_HDR_LEN + 1)
                break; /* larger than any image: parse says so */
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    if (!buf)
        buf = malloc(1);
    *n = len;
    return buf;
}

static uint32_t slot_version(char slot)
{
    char path[BSP_PATH_MAX + 32], leaf[16];
    struct bsp_image_hdr h;
    size_t n = 0;
    snprintf(leaf, sizeof leaf, "%c/image", slot);
    if (slot_path(path, sizeof path, leaf))
        return 0;
    uint8_t *img = read_all(path, &n);
    uint32_t v = img && bsp_image_parse(img, n, &h) == BSP_UPD_OK ? h.version : 0;
    free(img);
    return v;
}

/* The booted slot's image is never rewritten while it runs: read unlocked. */
static uint32_t running_version(char boot)
{
    uint32_t v = boot ? slot_version(boot) : 0;
    return v ? v : BSP_VERSION(STI_FW_MAJOR, STI_FW_MINOR, STI_FW_PATCH);
}

uint32_t bsp_running_version(void)
{
    pthread_mutex_lock(&g_mu);
    char boot = g_boot;
    pthread_mutex_unlock(&g_mu);
    return running_version(boot);
}

static char read_active(void)
{
    char path[BSP_PATH_MAX + 32], buf[8];
    if (slot_path(path, sizeof path, "active") || bsp_file_read(path, buf, sizeof buf))
        return 0;
    return buf[0] == 'a' || buf[0] == 'b' ? buf[0] : 0;
}

static void slots_boot(int commit)
{
    char path[BSP_PATH_MAX + 32], buf[32], slot;
    unsigned tries;
    g_boot = 0;
    g_trial = 0;
    g_rollback = 0;
    if (slot_path(path, sizeof path, "pending"))
        return;
    g_boot = read_active();
    if (bsp_file_read(path, buf, sizeof buf) != STI_OK)
        return;
    if (sscanf(buf, "%c %u", &slot, &tries) != 2 || (slot != 'a' && slot != 'b')) {
        if (commit)
            remove(path); /* unreadable: no trial */
        return;
    }
    if (!commit) { /* a look from outside the daemon: tries 1 = on trial now */
        if (tries == 1) {
            g_boot = slot;
            g_trial = 1;
        }
        return;
    }
    if (tries == 0) { /* the trial boot */
        snprintf(buf, sizeof buf, "%c 1\n", slot);
        if (bsp_file_write(path, buf, strlen(buf)) != STI_OK)
            return;
        g_boot = slot;
        g_trial = 1;
        return;
    }
    /* The trial boot did not confirm: back to the active slot. */
    remove(path);
    g_rollback = slot;
}

void bsp_slots_boot(int commit)
{
    pthread_mutex_lock(&g_mu);
    slots_boot(commit);
    pthread_mutex_unlock(&g_mu);
}

void bsp_boot(void)
{
    bsp_slots_boot(1);
}

int bsp_update_install(const char *img_path, char *why, size_t cap)
{
    char path[BSP_PATH_MAX + 32], leaf[16], pem[8192], buf[16];
    struct bsp_image_hdr h;
    const char *key = bsp_board_vendor_key();
    size_t n = 0;
    if (slot_path(path, sizeof path, "")) {
        snprintf(why, cap, "no board_state_dir: this board has nowhere to keep update slots");
        return BSP_UPD_ENOSTATE;
    }
    if (bsp_g_cfg.vendor_key[0]) {
        FILE *f = fopen(bsp_g_cfg.vendor_key, "re");
        size_t k = f ? fread(pem, 1, sizeof pem - 1, f) : 0;
        if (f)
            fclose(f);
        if (!k) {
            snprintf(why, cap, "update_vendor_key %s: cannot read", bsp_g_cfg.vendor_key);
            return BSP_UPD_EKEY;
        }
        pem[k] = 0;
        key = pem;
    }
    pthread_mutex_lock(&g_mu);
    char boot = g_boot;
    int trial = g_trial, busy = g_installing;
    if (!trial && !busy)
        g_installing = 1;
    pthread_mutex_unlock(&g_mu);
    if (trial) {
        snprintf(why, cap, "slot %c is on trial: confirm it or reboot before the next update",
                 boot);
        return BSP_UPD_EBUSY;
    }
    if (busy) {
        snprintf(why, cap, "another update is being installed");
        return BSP_UPD_EBUSY;
    }
    /* From here on g_trial stays 0 (only a boot sets it) and g_boot stays
     * boot: the slot not booted is this install's alone. */
    uint8_t *img = read_all(img_path, &n);
    int rc = BSP_UPD_OK;
    if (!img) {
        snprintf(why, cap, "%s: %s", img_path, strerror(errno));
        rc = BSP_UPD_EIO;
        goto out;
    }
    rc = bsp_image_verify(img, n, key, running_version(boot), &h, why, cap);
    char slot = boot == 'a' ? 'b' : 'a';
    if (rc == BSP_UPD_OK) {
        snprintf(leaf, sizeof leaf, "%c", slot);
        mkdir(path, 0700);
        slot_path(path, sizeof path, leaf);
        mkdir(path, 0700);
        snprintf(leaf, sizeof leaf, "%c/image", slot);
        slot_path(path, sizeof path, leaf);
        if (bsp_file_write(path, img, n) != STI_OK) {
            snprintf(why, cap, "cannot write slot %c", slot);
            rc = BSP_UPD_EIO;
        } else {
            slot_path(path, sizeof path, "pending");
            snprintf(buf, sizeof buf, "%c 0\n", slot);
            pthread_mutex_lock(&g_mu);
            int wrc = bsp_file_write(path, buf, strlen(buf));
            pthread_mutex_unlock(&g_mu);
            if (wrc != STI_OK) {
                snprintf(why, cap, "cannot mark slot %c pending", slot);
                rc = BSP_UPD_EIO;
            } else {
                char v[16];
                bsp_version_str(h.version, v, sizeof v);
                snprintf(why, cap,
                         "image %s installed in slot %c; it runs on trial at the next boot", v,
                         slot);
            }
        }
    }
out:
    free(img);
    pthread_mutex_lock(&g_mu);
    g_installing = 0;
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int bsp_update_confirm(void)
{
    char path[BSP_PATH_MAX + 32], buf[4];
    int rc = STI_OK;
    pthread_mutex_lock(&g_mu);
    if (!g_trial)
        goto out;
    rc = STI_ECONFIG;
    if (slot_path(path, sizeof path, "active"))
        goto out;
    snprintf(buf, sizeof buf, "%c\n", g_boot);
    rc = STI_EIO;
    if (bsp_file_write(path, buf, strlen(buf)) != STI_OK)
        goto out;
    slot_path(path, sizeof path, "pending");
    remove(path);
    g_trial = 0;
    rc = STI_OK;
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void bsp_update_slots(struct bsp_slots *s)
{
    char path[BSP_PATH_MAX + 32], buf[32];
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&g_mu);
    s->running = g_boot;
    s->trial = g_trial;
    s->rollback = g_rollback;
    s->active = read_active();
    if (!slot_path(path, sizeof path, "pending") &&
        bsp_file_read(path, buf, sizeof buf) == STI_OK && (buf[0] == 'a' || buf[0] == 'b'))
        s->pending = buf[0];
    pthread_mutex_unlock(&g_mu);
    s->version = running_version(s->running);
}

static const char *slot_or(char slot, const char *none)
{
    return slot == 'a' ? "a" : slot == 'b' ? "b" : none;
}

void bsp_update_status(char *out, size_t cap)
{
    struct bsp_slots s;
    char v[16];
    bsp_update_slots(&s);
    bsp_version_str(s.version, v, sizeof v);
    snprintf(out, cap, "running=%s version=%s trial=%s active=%s pending=%s rollback=%s",
             slot_or(s.running, "factory"), v, s.trial ? "yes" : "no", slot_or(s.active, "factory"),
             slot_or(s.pending, "none"), slot_or(s.rollback, "none"));
}

const char *bsp_update_rc_name(int rc)
{
    switch (rc) {
    case BSP_UPD_OK:
        return "BSP_UPD_OK";
    case BSP_UPD_EFORMAT:
        return "BSP_UPD_EFORMAT";
    case BSP_UPD_EUNSIGNED:
        return "BSP_UPD_EUNSIGNED";
    case BSP_UPD_ETAMPERED:
        return "BSP_UPD_ETAMPERED";
    case BSP_UPD_ESIG:
        return "BSP_UPD_ESIG";
    case BSP_UPD_EDOWNGRADE:
        return "BSP_UPD_EDOWNGRADE";
    case BSP_UPD_EKEY:
        return "BSP_UPD_EKEY";
    case BSP_UPD_EIO:
        return "BSP_UPD_EIO";
    case BSP_UPD_ENOSTATE:
        return "BSP_UPD_ENOSTATE";
    case BSP_UPD_EBUSY:
        return "BSP_UPD_EBUSY";
    default:
        return "BSP_UPD_E?";
    }
}
