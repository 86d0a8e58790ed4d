/* test_workproto.c — the loop <-> HSM worker messages: CONFIG, READY, SIGN,
 * RESULT. Each decoder must take exactly the bytes its type implies and
 * nothing else; each encoder must refuse what its decoder would refuse. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sti_err.h"
#include "workproto.h"

#define LIT(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void fill_config(struct wp_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->module, "/usr/lib/softhsm/libsofthsm2.so");
    strcpy(c->token.label, "stisign");
    strcpy(c->token.serial, "0123456789abcdef");
    memcpy(c->pin, "12\0x34", 6); /* a PIN is bytes, NUL included */
    c->pin_len = 6;
    c->nkeys = 2;
    strcpy(c->keys[0].label, "shaken-2025");
    c->keys[0].id[0] = 0x01;
    c->keys[0].id[1] = 0xa5;
    c->keys[0].id_len = 2;
    memset(c->keys[1].id, 0xee, HSM_ID_MAX);
    c->keys[1].id_len = HSM_ID_MAX; /* id only, no label */
    c->sandbox = BSP_SANDBOX_OFF;
}

/* ------------------------------------------------------------------ config */

TEST(config_encodes_known_bytes)
{
    static const uint8_t want[] = {0x01,                                     /* type */
                                   0x00, 0x03, '/',  'm',  'o',              /* module */
                                   0x00, 0x01, 't',                          /* token label */
                                   0x00, 0x00,                               /* serial */
                                   0x00, 0x04, '1',  '2',  '3',  '4',        /* pin */
                                   0x00, 0x01,                               /* nkeys */
                                   0x00, 0x01, 'k',  0x00, 0x02, 0xab, 0xcd, /* key */
                                   0x00, 0x00, 0x03, 0xe8,                   /* verify 1000 */
                                   0x00, 0x00, 0x00, 0x01,                   /* key copy */
                                   0x01};                                    /* sandbox log */
    struct wp_config c, back;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    memset(&c, 0, sizeof c);
    strcpy(c.module, "/mo");
    strcpy(c.token.label, "t");
    memcpy(c.pin, "1234", 4);
    c.pin_len = 4;
    c.nkeys = 1;
    strcpy(c.keys[0].label, "k");
    c.keys[0].id[0] = 0xab;
    c.keys[0].id[1] = 0xcd;
    c.keys[0].id_len = 2;
    c.verify_sample = 1000;
    c.flags = WP_KEY_COPY;
    c.sandbox = BSP_SANDBOX_LOG;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, sizeof want);
    CHECK_MEM(out, want, sizeof want);
    CHECK_RC(wp_config_decode(want, sizeof want, &back), STI_OK);
    CHECK_MEM(&back, &c, sizeof c);
}

TEST(config_round_trip_keeps_pin_and_keys)
{
    struct wp_config c, back;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
    memset(&back, 0x77, sizeof back);
    CHECK_RC(wp_config_decode(out, len, &back), STI_OK);
    CHECK_STR(back.module, c.module);
    CHECK_STR(back.token.label, "stisign");
    CHECK_STR(back.token.serial, "0123456789abcdef");
    CHECK_INT(back.pin_len, 6);
    CHECK_MEM(back.pin, "12\0x34", 6);
    CHECK_INT(back.nkeys, 2);
    CHECK_STR(back.keys[0].label, "shaken-2025");
    CHECK_INT(back.keys[0].id_len, 2);
    CHECK_STR(back.keys[1].label, "");
    CHECK_INT(back.keys[1].id_len, HSM_ID_MAX);
    CHECK_MEM(&back, &c, sizeof c);
}

TEST(config_at_every_limit_fits_config_max)
{
    static struct wp_config c, back;
    static uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    memset(&c, 0, sizeof c);
    memset(c.module, 'm', WP_PATH_MAX - 1);
    memset(c.token.label, 'l', HSM_LABEL_MAX);
    memset(c.token.serial, 's', HSM_SERIAL_MAX);
    memset(c.pin, 'p', HSM_PIN_MAX);
    c.pin_len = HSM_PIN_MAX;
    c.nkeys = HSM_MAX_KEYS;
    for (size_t i = 0; i < HSM_MAX_KEYS; i++) {
        memset(c.keys[i].label, 'k', HSM_OBJLABEL_MAX);
        memset(c.keys[i].id, (int)i, HSM_ID_MAX);
        c.keys[i].id_len = HSM_ID_MAX;
    }
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
    CHECK(len <= WP_CONFIG_MAX);
    CHECK_RC(wp_config_decode(out, len, &back), STI_OK);
    CHECK_MEM(&back, &c, sizeof c);
}

TEST(config_carries_verify_sample)
{
    struct wp_config c, back;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    c.verify_sample = 0xfedcba98;
    c.flags = WP_KEY_COPY;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
    CHECK_MEM(out + len - 9, "\xfe\xdc\xba\x98\x00\x00\x00\x01\x02", 9);
    CHECK_RC(wp_config_decode(out, len, &back), STI_OK);
    CHECK_INT(back.verify_sample, 0xfedcba98u);
    CHECK_INT(back.flags, WP_KEY_COPY);
    /* A CONFIG without the flags (the layout before them) is refused, not
     * read as 0. */
    CHECK_RC(wp_config_decode(out, len - 5, &back), STI_EPROTO_FRAME);
    /* Flags this worker does not know are refused. */
    out[len - 2] = 0x02;
    CHECK_RC(wp_config_decode(out, len, &back), STI_EPROTO_FRAME);
}

TEST(config_carries_the_sandbox_mode)
{
    struct wp_config c, back;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    for (int m = BSP_SANDBOX_ENFORCE; m <= BSP_SANDBOX_OFF; m++) {
        c.sandbox = (uint8_t)m;
        CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
        CHECK_INT(out[len - 1], m);
        CHECK_RC(wp_config_decode(out, len, &back), STI_OK);
        CHECK_INT(back.sandbox, m);
    }
    /* A CONFIG of the layout before the mode is refused, not read as
     * enforce: a worker must never guess how to confine itself. */
    CHECK_RC(wp_config_decode(out, len - 1, &back), STI_EPROTO_FRAME);
    /* A mode this worker does not know is refused both ways. */
    out[len - 1] = BSP_SANDBOX_OFF + 1;
    CHECK_RC(wp_config_decode(out, len, &back), STI_EPROTO_FRAME);
    c.sandbox = BSP_SANDBOX_OFF + 1;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_EINVAL);
}

TEST(config_decode_clears_previous_contents)
{
    struct wp_config c;
    memset(&c, 0x41, sizeof c);
    CHECK_RC(wp_config_decode(LIT("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
                              &c),
             STI_OK);
    CHECK_STR(c.module, "");
    CHECK_STR(c.token.label, "");
    CHECK_INT(c.pin_len, 0);
    CHECK_INT(c.pin[0], 0);
    CHECK_INT(c.nkeys, 0);
    CHECK_INT(c.keys[0].id_len, 0);
    CHECK_INT(c.verify_sample, 0);
    CHECK_INT(c.flags, 0);
    CHECK_INT(c.sandbox, BSP_SANDBOX_ENFORCE);
}

TEST(config_decode_rejects_empty_message)
{
    struct wp_config c;
    CHECK_RC(wp_config_decode(NULL, 0, &c), STI_EPROTO_FRAME);
}

TEST(config_decode_rejects_other_type)
{
    struct wp_config c;
    CHECK_RC(wp_config_decode(LIT("\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), &c),
             STI_EPROTO_FRAME);
}

TEST(config_decode_rejects_trailing_byte)
{
    struct wp_config c;
    CHECK_RC(wp_config_decode(LIT("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
                              &c),
             STI_EPROTO_FRAME);
}

TEST(config_decode_rejects_every_truncation)
{
    struct wp_config c, back;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_OK);
    for (size_t n = 0; n < len; n++)
        CHECK_RC(wp_config_decode(out, n, &back), STI_EPROTO_FRAME);
}

TEST(config_decode_rejects_module_with_nul)
{
    struct wp_config c;
    /* Of the right length: the NUL is what is refused. */
    CHECK_RC(wp_config_decode(LIT("\x01\x00\x02/\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
                              &c),
             STI_EPROTO_FRAME);
    CHECK_RC(wp_config_decode(LIT("\x01\x00\x02/m\x00\x00\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
                              &c),
             STI_OK);
}

#define CFG_TAIL 9 /* verify_sample u32, flags u32, sandbox u8 */

/* A CONFIG message with the given field sizes: module 'm'*mod, token label
 * 'l'*lab, serial 's'*ser, pin 'p'*pin, then nkeys keys of label 'k'*klab
 * and id 0x5a*kid. Returns its length. */
static size_t cfg_bytes(uint8_t *p, size_t mod, size_t lab, size_t ser, size_t pin, size_t nkeys,
                        size_t klab, size_t kid)
{
    size_t off = 0;
    const size_t len[4] = {mod, lab, ser, pin};
    const char fill[4] = {'m', 'l', 's', 'p'};
    p[off++] = WP_CONFIG;
    for (int i = 0; i < 4; i++) {
        p[off++] = (uint8_t)(len[i] >> 8);
        p[off++] = (uint8_t)len[i];
        memset(p + off, fill[i], len[i]);
        off += len[i];
    }
    p[off++] = (uint8_t)(nkeys >> 8);
    p[off++] = (uint8_t)nkeys;
    for (size_t k = 0; k < nkeys; k++) {
        p[off++] = (uint8_t)(klab >> 8);
        p[off++] = (uint8_t)klab;
        memset(p + off, 'k', klab);
        off += klab;
        p[off++] = (uint8_t)(kid >> 8);
        p[off++] = (uint8_t)kid;
        memset(p + off, 0x5a, kid);
        off += kid;
    }
    memset(p + off, 0, CFG_TAIL); /* verify_sample, flags, sandbox */
    off += CFG_TAIL;
    return off;
}

static uint8_t cfg_in[8192];

TEST(config_decode_rejects_module_of_path_max_bytes)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, WP_PATH_MAX, 0, 0, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, WP_PATH_MAX - 1, 0, 0, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(strlen(c.module), WP_PATH_MAX - 1);
}

TEST(config_decode_rejects_token_label_of_thirty_three_bytes)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, HSM_LABEL_MAX + 1, 0, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, 1, HSM_LABEL_MAX, 0, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(strlen(c.token.label), HSM_LABEL_MAX);
}

TEST(config_decode_rejects_serial_of_seventeen_bytes)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 1, HSM_SERIAL_MAX + 1, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, 1, 1, HSM_SERIAL_MAX, 0, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(strlen(c.token.serial), HSM_SERIAL_MAX);
}

TEST(config_decode_rejects_pin_longer_than_pin_max)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 1, 1, HSM_PIN_MAX + 1, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, 1, 1, 1, HSM_PIN_MAX, 0, 0, 0);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(c.pin_len, HSM_PIN_MAX);
    CHECK_INT(c.pin[HSM_PIN_MAX - 1], 'p');
}

/* A decode target with a guard behind it: the count must be refused before
 * a key is stored, so nothing lands past the struct. */
static struct {
    struct wp_config c;
    uint8_t guard[256];
} cfg_guarded;

static int guard_intact(const uint8_t *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] != 0xa5)
            return 0;
    return 1;
}

TEST(config_decode_rejects_thirty_three_keys)
{
    size_t n = cfg_bytes(cfg_in, 1, 0, 0, 4, HSM_MAX_KEYS + 1, 1, 1);
    memset(cfg_guarded.guard, 0xa5, sizeof cfg_guarded.guard);
    CHECK_RC(wp_config_decode(cfg_in, n, &cfg_guarded.c), STI_EPROTO_FRAME);
    CHECK(guard_intact(cfg_guarded.guard, sizeof cfg_guarded.guard));
    CHECK_INT(cfg_guarded.c.keys[0].id_len, 0);
    n = cfg_bytes(cfg_in, 1, 0, 0, 4, HSM_MAX_KEYS, 1, 1);
    CHECK_RC(wp_config_decode(cfg_in, n, &cfg_guarded.c), STI_OK);
    CHECK_INT(cfg_guarded.c.nkeys, HSM_MAX_KEYS);
    CHECK(guard_intact(cfg_guarded.guard, sizeof cfg_guarded.guard));
}

TEST(config_decode_rejects_key_count_beyond_keys_present)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 0, 0, 4, 2, 1, 1);
    cfg_in[n - CFG_TAIL - 12 - 1] =
        3; /* nkeys low byte (two keys of 6 bytes follow): claims three, holds two */
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
}

TEST(config_decode_rejects_key_id_of_thirty_three_bytes)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 0, 0, 4, 1, 1, HSM_ID_MAX + 1);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, 1, 0, 0, 4, 1, 1, HSM_ID_MAX);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(c.keys[0].id_len, HSM_ID_MAX);
}

TEST(config_decode_rejects_key_label_of_sixty_five_bytes)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 0, 0, 4, 1, HSM_OBJLABEL_MAX + 1, 1);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
    n = cfg_bytes(cfg_in, 1, 0, 0, 4, 1, HSM_OBJLABEL_MAX, 1);
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_OK);
    CHECK_INT(strlen(c.keys[0].label), HSM_OBJLABEL_MAX);
}

TEST(config_decode_rejects_key_label_with_nul)
{
    static struct wp_config c;
    size_t n = cfg_bytes(cfg_in, 1, 0, 0, 4, 1, 3, 1);
    cfg_in[n - CFG_TAIL - 3 - 2] = 0; /* middle byte of the key label */
    CHECK_RC(wp_config_decode(cfg_in, n, &c), STI_EPROTO_FRAME);
}

TEST(config_encode_rejects_pin_longer_than_pin_max)
{
    struct wp_config c;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    c.pin_len = HSM_PIN_MAX + 1;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_ETOOLONG);
}

TEST(config_encode_rejects_thirty_three_keys)
{
    struct wp_config c;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    c.nkeys = HSM_MAX_KEYS + 1;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_ETOOMANY);
}

TEST(config_encode_rejects_key_id_longer_than_id_max)
{
    struct wp_config c;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0;
    fill_config(&c);
    c.keys[1].id_len = HSM_ID_MAX + 1;
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &len), STI_ETOOLONG);
}

TEST(config_encode_fails_when_buffer_short)
{
    struct wp_config c;
    uint8_t out[WP_CONFIG_MAX];
    size_t len = 0, full = 0;
    fill_config(&c);
    CHECK_RC(wp_config_encode(&c, out, sizeof out, &full), STI_OK);
    for (size_t cap = 0; cap < full; cap++)
        CHECK_RC(wp_config_encode(&c, out, cap, &len), STI_ETOOLONG);
    CHECK_RC(wp_config_encode(&c, out, full, &len), STI_OK);
    CHECK_INT(len, full);
}

/* ------------------------------------------------------------------- ready */

static void fill_ready(struct wp_ready *r, uint16_t nkeys)
{
    memset(r, 0, sizeof *r);
    r->status = STI_OK;
    r->nkeys = nkeys;
    for (uint16_t i = 0; i < nkeys; i++) {
        r->key_status[i] = i % 2 ? STI_EHSM_KEY : STI_OK;
        r->point[i][0] = 0x04;
        memset(r->point[i] + 1, (int)(0x10 + i), HSM_EC_POINT_LEN - 1);
    }
}

TEST(ready_encodes_known_bytes)
{
    uint8_t want[1 + 2 + 2 + 2 + HSM_EC_POINT_LEN];
    struct wp_ready r, back;
    uint8_t out[WP_READY_MAX];
    size_t len = 0;
    want[0] = 0x02;
    want[1] = 0x01; /* status 403 STI_EHSM_KEY */
    want[2] = 0x93;
    want[3] = 0x00;
    want[4] = 0x01;
    want[5] = 0x00;
    want[6] = 0x00;
    want[7] = 0x04;
    memset(want + 8, 0x10, HSM_EC_POINT_LEN - 1);
    fill_ready(&r, 1);
    r.status = STI_EHSM_KEY;
    CHECK_RC(wp_ready_encode(&r, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, sizeof want);
    CHECK_MEM(out, want, sizeof want);
    memset(&back, 0x33, sizeof back);
    CHECK_RC(wp_ready_decode(want, sizeof want, &back), STI_OK);
    CHECK_MEM(&back, &r, sizeof r);
}

TEST(ready_round_trips_with_every_key)
{
    static struct wp_ready r, back;
    static uint8_t out[WP_READY_MAX];
    size_t len = 0;
    fill_ready(&r, HSM_MAX_KEYS);
    CHECK_RC(wp_ready_encode(&r, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, WP_READY_MAX);
    CHECK_RC(wp_ready_decode(out, len, &back), STI_OK);
    CHECK_MEM(&back, &r, sizeof r);
}

TEST(ready_with_no_keys_is_five_bytes)
{
    struct wp_ready r;
    CHECK_RC(wp_ready_decode(LIT("\x02\x01\x90\x00\x00"), &r), STI_OK);
    CHECK_INT(r.status, STI_EHSM_MODULE);
    CHECK_INT(r.nkeys, 0);
}

TEST(ready_decode_rejects_other_type)
{
    struct wp_ready r;
    CHECK_RC(wp_ready_decode(LIT("\x01\x00\x00\x00\x00"), &r), STI_EPROTO_FRAME);
}

TEST(ready_decode_rejects_thirty_three_keys)
{
    static uint8_t in[5 + 33 * (2 + HSM_EC_POINT_LEN)];
    static struct {
        struct wp_ready r;
        uint8_t guard[256];
    } g;
    memset(in, 0x04, sizeof in);
    in[0] = WP_READY;
    in[1] = in[2] = in[3] = 0;
    in[4] = HSM_MAX_KEYS + 1;
    memset(g.guard, 0xa5, sizeof g.guard);
    CHECK_RC(wp_ready_decode(in, sizeof in, &g.r), STI_EPROTO_FRAME);
    CHECK(guard_intact(g.guard, sizeof g.guard));
    CHECK_INT(g.r.key_status[0], 0); /* refused before any key was read */
}

TEST(ready_decode_rejects_trailing_byte)
{
    struct wp_ready r;
    CHECK_RC(wp_ready_decode(LIT("\x02\x00\x00\x00\x00\x00"), &r), STI_EPROTO_FRAME);
}

TEST(ready_decode_rejects_every_truncation)
{
    struct wp_ready r, back;
    uint8_t out[WP_READY_MAX];
    size_t len = 0;
    fill_ready(&r, 3);
    CHECK_RC(wp_ready_encode(&r, out, sizeof out, &len), STI_OK);
    for (size_t n = 0; n < len; n++)
        CHECK_RC(wp_ready_decode(out, n, &back), STI_EPROTO_FRAME);
}

TEST(ready_encode_rejects_thirty_three_keys)
{
    struct wp_ready r;
    uint8_t out[WP_READY_MAX];
    size_t len = 0;
    fill_ready(&r, 1);
    r.nkeys = HSM_MAX_KEYS + 1;
    CHECK_RC(wp_ready_encode(&r, out, sizeof out, &len), STI_ETOOMANY);
}

TEST(ready_encode_fails_when_buffer_short)
{
    struct wp_ready r;
    uint8_t out[WP_READY_MAX];
    size_t len = 0;
    fill_ready(&r, 2);
    CHECK_RC(wp_ready_encode(&r, out, 5 + 2 * 67 - 1, &len), STI_ETOOLONG);
    CHECK_RC(wp_ready_encode(&r, out, 5 + 2 * 67, &len), STI_OK);
}

/* -------------------------------------------------------------------- sign */

static void fill_jobs(struct wp_job *jobs, size_t n)
{
    memset(jobs, 0, n * sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i].tag = (uint32_t)(0xa0000000u + i);
        jobs[i].key = (uint16_t)(i % HSM_MAX_KEYS);
        memset(jobs[i].digest, (int)i, 32);
        jobs[i].digest[31] = 0xd5;
    }
}

static int jobs_equal(const struct wp_job *a, const struct wp_job *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].tag != b[i].tag || a[i].key != b[i].key ||
            memcmp(a[i].digest, b[i].digest, 32) != 0)
            return 0;
    return 1;
}

TEST(sign_encodes_known_bytes)
{
    uint8_t want[3 + 38];
    struct wp_job job, back[WP_BATCH];
    uint8_t out[WP_SIGN_MAX];
    size_t len = 0, n = 0;
    memcpy(want, "\x03\x00\x01\xde\xad\xbe\xef\x00\x07", 9);
    for (int i = 0; i < 32; i++)
        want[9 + i] = (uint8_t)i;
    job.tag = 0xdeadbeef;
    job.key = 7;
    for (int i = 0; i < 32; i++)
        job.digest[i] = (uint8_t)i;
    CHECK_RC(wp_sign_encode(&job, 1, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, sizeof want);
    CHECK_MEM(out, want, sizeof want);
    CHECK_RC(wp_sign_decode(want, sizeof want, back, &n), STI_OK);
    CHECK_INT(n, 1);
    CHECK(jobs_equal(back, &job, 1));
}

TEST(sign_round_trips_a_full_batch)
{
    static struct wp_job jobs[WP_BATCH], back[WP_BATCH];
    static uint8_t out[WP_SIGN_MAX];
    size_t len = 0, n = 0;
    fill_jobs(jobs, WP_BATCH);
    CHECK_RC(wp_sign_encode(jobs, WP_BATCH, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, WP_SIGN_MAX);
    CHECK_RC(wp_sign_decode(out, len, back, &n), STI_OK);
    CHECK_INT(n, WP_BATCH);
    CHECK(jobs_equal(back, jobs, WP_BATCH));
}

TEST(sign_decode_rejects_zero_jobs)
{
    struct wp_job back[WP_BATCH];
    size_t n = 99;
    CHECK_RC(wp_sign_decode(LIT("\x03\x00\x00"), back, &n), STI_EPROTO_FRAME);
    CHECK_INT(n, 99);
}

TEST(sign_decode_rejects_sixty_five_jobs)
{
    static uint8_t in[3 + 65 * 38];
    static struct wp_job back[WP_BATCH + 1];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_SIGN;
    in[2] = WP_BATCH + 1;
    CHECK_RC(wp_sign_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
}

TEST(sign_decode_rejects_wrong_total_length)
{
    uint8_t in[3 + 2 * 38 + 1];
    struct wp_job back[WP_BATCH];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_SIGN;
    in[2] = 2;
    CHECK_RC(wp_sign_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(in, sizeof in - 2, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(in, sizeof in - 1 - 38, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(in, sizeof in - 1, back, &n), STI_OK);
    CHECK_INT(n, 2);
}

TEST(sign_decode_rejects_other_type)
{
    uint8_t in[3 + 38];
    struct wp_job back[WP_BATCH];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_RESULT;
    in[2] = 1;
    CHECK_RC(wp_sign_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
}

TEST(sign_decode_rejects_short_headers)
{
    struct wp_job back[WP_BATCH];
    size_t n = 0;
    CHECK_RC(wp_sign_decode(NULL, 0, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(LIT("\x03"), back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(LIT("\x03\x00"), back, &n), STI_EPROTO_FRAME);
}

TEST(sign_encode_rejects_empty_and_oversized_batches)
{
    static struct wp_job jobs[WP_BATCH + 1];
    static uint8_t out[WP_SIGN_MAX + 64];
    size_t len = 0;
    fill_jobs(jobs, WP_BATCH + 1);
    CHECK_RC(wp_sign_encode(jobs, 0, out, sizeof out, &len), STI_ETOOMANY);
    CHECK_RC(wp_sign_encode(jobs, WP_BATCH + 1, out, sizeof out, &len), STI_ETOOMANY);
}

TEST(sign_encode_fails_when_buffer_short)
{
    struct wp_job jobs[2];
    uint8_t out[3 + 2 * 38];
    size_t len = 0;
    fill_jobs(jobs, 2);
    CHECK_RC(wp_sign_encode(jobs, 2, out, sizeof out - 1, &len), STI_ETOOLONG);
    CHECK_RC(wp_sign_encode(jobs, 2, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, sizeof out);
}

/* ------------------------------------------------------------------ result */

static void fill_results(struct wp_result *res, size_t n)
{
    memset(res, 0, n * sizeof *res);
    for (size_t i = 0; i < n; i++) {
        res[i].tag = (uint32_t)(0x50000000u + i * 3);
        res[i].status = i % 3 ? STI_OK : STI_EHSM_SESSION;
        memset(res[i].sig, (int)(0x80 + i), HSM_SIG_LEN);
    }
}

static int results_equal(const struct wp_result *a, const struct wp_result *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].tag != b[i].tag || a[i].status != b[i].status ||
            memcmp(a[i].sig, b[i].sig, HSM_SIG_LEN) != 0)
            return 0;
    return 1;
}

TEST(result_encodes_known_bytes)
{
    uint8_t want[3 + 6 + HSM_SIG_LEN];
    struct wp_result res, back[WP_BATCH];
    uint8_t out[WP_RESULT_MAX];
    size_t len = 0, n = 0;
    memcpy(want, "\x04\x00\x01\x00\x00\x00\x2a\x01\x94", 9);
    memset(want + 9, 0xc3, HSM_SIG_LEN);
    res.tag = 42;
    res.status = STI_EHSM_SIGN;
    memset(res.sig, 0xc3, HSM_SIG_LEN);
    CHECK_RC(wp_result_encode(&res, 1, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, sizeof want);
    CHECK_MEM(out, want, sizeof want);
    CHECK_RC(wp_result_decode(want, sizeof want, back, &n), STI_OK);
    CHECK_INT(n, 1);
    CHECK(results_equal(back, &res, 1));
}

TEST(result_round_trips_a_full_batch)
{
    static struct wp_result res[WP_BATCH], back[WP_BATCH];
    static uint8_t out[WP_RESULT_MAX];
    size_t len = 0, n = 0;
    fill_results(res, WP_BATCH);
    CHECK_RC(wp_result_encode(res, WP_BATCH, out, sizeof out, &len), STI_OK);
    CHECK_INT(len, WP_RESULT_MAX);
    CHECK_RC(wp_result_decode(out, len, back, &n), STI_OK);
    CHECK_INT(n, WP_BATCH);
    CHECK(results_equal(back, res, WP_BATCH));
}

TEST(result_decode_rejects_wrong_total_length)
{
    uint8_t in[3 + 3 * 70 + 1];
    struct wp_result back[WP_BATCH];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_RESULT;
    in[2] = 3;
    CHECK_RC(wp_result_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(in, sizeof in - 2, back, &n), STI_EPROTO_FRAME);
    /* the size a SIGN batch of three would have */
    CHECK_RC(wp_result_decode(in, 3 + 3 * 38, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(in, sizeof in - 1, back, &n), STI_OK);
    CHECK_INT(n, 3);
}

TEST(result_decode_rejects_zero_and_sixty_five_results)
{
    static uint8_t in[3 + 65 * 70];
    static struct wp_result back[WP_BATCH + 1];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_RESULT;
    CHECK_RC(wp_result_decode(in, 3, back, &n), STI_EPROTO_FRAME);
    in[2] = WP_BATCH + 1;
    CHECK_RC(wp_result_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
}

TEST(result_decode_rejects_sign_message)
{
    uint8_t in[3 + 70];
    struct wp_result back[WP_BATCH];
    size_t n = 0;
    memset(in, 0, sizeof in);
    in[0] = WP_SIGN;
    in[2] = 1;
    CHECK_RC(wp_result_decode(in, sizeof in, back, &n), STI_EPROTO_FRAME);
}

TEST(result_decode_rejects_short_headers)
{
    struct wp_result back[WP_BATCH];
    size_t n = 0;
    CHECK_RC(wp_result_decode(NULL, 0, back, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(LIT("\x04\x00"), back, &n), STI_EPROTO_FRAME);
}

TEST(result_encode_rejects_empty_and_oversized_batches)
{
    static struct wp_result res[WP_BATCH + 1];
    static uint8_t out[WP_RESULT_MAX + 128];
    size_t len = 0;
    fill_results(res, WP_BATCH + 1);
    CHECK_RC(wp_result_encode(res, 0, out, sizeof out, &len), STI_ETOOMANY);
    CHECK_RC(wp_result_encode(res, WP_BATCH + 1, out, sizeof out, &len), STI_ETOOMANY);
}

TEST(result_encode_fails_when_buffer_short)
{
    struct wp_result res[1];
    uint8_t out[3 + 70];
    size_t len = 0;
    fill_results(res, 1);
    CHECK_RC(wp_result_encode(res, 1, out, sizeof out - 1, &len), STI_ETOOLONG);
    CHECK_RC(wp_result_encode(res, 1, out, sizeof out, &len), STI_OK);
}

/* ---------------------------------------------------------- cross-checks */

TEST(each_decoder_rejects_the_other_types)
{
    uint8_t cfg[WP_CONFIG_MAX], rdy[WP_READY_MAX], sgn[WP_SIGN_MAX], rst[WP_RESULT_MAX];
    size_t ncfg = 0, nrdy = 0, nsgn = 0, nrst = 0, n = 0;
    struct wp_config c;
    struct wp_ready r;
    struct wp_job jobs[WP_BATCH];
    struct wp_result res[WP_BATCH];
    fill_config(&c);
    fill_ready(&r, 2);
    fill_jobs(jobs, 2);
    fill_results(res, 2);
    CHECK_RC(wp_config_encode(&c, cfg, sizeof cfg, &ncfg), STI_OK);
    CHECK_RC(wp_ready_encode(&r, rdy, sizeof rdy, &nrdy), STI_OK);
    CHECK_RC(wp_sign_encode(jobs, 2, sgn, sizeof sgn, &nsgn), STI_OK);
    CHECK_RC(wp_result_encode(res, 2, rst, sizeof rst, &nrst), STI_OK);
    CHECK_RC(wp_ready_decode(cfg, ncfg, &r), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(cfg, ncfg, jobs, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(cfg, ncfg, res, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_config_decode(rdy, nrdy, &c), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(rdy, nrdy, jobs, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(rdy, nrdy, res, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_config_decode(sgn, nsgn, &c), STI_EPROTO_FRAME);
    CHECK_RC(wp_ready_decode(sgn, nsgn, &r), STI_EPROTO_FRAME);
    CHECK_RC(wp_result_decode(sgn, nsgn, res, &n), STI_EPROTO_FRAME);
    CHECK_RC(wp_config_decode(rst, nrst, &c), STI_EPROTO_FRAME);
    CHECK_RC(wp_ready_decode(rst, nrst, &r), STI_EPROTO_FRAME);
    CHECK_RC(wp_sign_decode(rst, nrst, jobs, &n), STI_EPROTO_FRAME);
}

CHECK_MAIN(CASE(config_encodes_known_bytes), CASE(config_round_trip_keeps_pin_and_keys),
           CASE(config_at_every_limit_fits_config_max), CASE(config_carries_verify_sample),
           CASE(config_carries_the_sandbox_mode), CASE(config_decode_clears_previous_contents),
           CASE(config_decode_rejects_empty_message), CASE(config_decode_rejects_other_type),
           CASE(config_decode_rejects_trailing_byte), CASE(config_decode_rejects_every_truncation),
           CASE(config_decode_rejects_module_with_nul),
           CASE(config_decode_rejects_module_of_path_max_bytes),
           CASE(config_decode_rejects_token_label_of_thirty_three_bytes),
           CASE(config_decode_rejects_serial_of_seventeen_bytes),
           CASE(config_decode_rejects_pin_longer_than_pin_max),
           CASE(config_decode_rejects_thirty_three_keys),
           CASE(config_decode_rejects_key_count_beyond_keys_present),
           CASE(config_decode_rejects_key_id_of_thirty_three_bytes),
           CASE(config_decode_rejects_key_label_of_sixty_five_bytes),
           CASE(config_decode_rejects_key_label_with_nul),
           CASE(config_encode_rejects_pin_longer_than_pin_max),
           CASE(config_encode_rejects_thirty_three_keys),
           CASE(config_encode_rejects_key_id_longer_than_id_max),
           CASE(config_encode_fails_when_buffer_short), CASE(ready_encodes_known_bytes),
           CASE(ready_round_trips_with_every_key), CASE(ready_with_no_keys_is_five_bytes),
           CASE(ready_decode_rejects_other_type), CASE(ready_decode_rejects_thirty_three_keys),
           CASE(ready_decode_rejects_trailing_byte), CASE(ready_decode_rejects_every_truncation),
           CASE(ready_encode_rejects_thirty_three_keys), CASE(ready_encode_fails_when_buffer_short),
           CASE(sign_encodes_known_bytes), CASE(sign_round_trips_a_full_batch),
           CASE(sign_decode_rejects_zero_jobs), CASE(sign_decode_rejects_sixty_five_jobs),
           CASE(sign_decode_rejects_wrong_total_length), CASE(sign_decode_rejects_other_type),
           CASE(sign_decode_rejects_short_headers),
           CASE(sign_encode_rejects_empty_and_oversized_batches),
           CASE(sign_encode_fails_when_buffer_short), CASE(result_encodes_known_bytes),
           CASE(result_round_trips_a_full_batch), CASE(result_decode_rejects_wrong_total_length),
           CASE(result_decode_rejects_zero_and_sixty_five_results),
           CASE(result_decode_rejects_sign_message), CASE(result_decode_rejects_short_headers),
           CASE(result_encode_rejects_empty_and_oversized_batches),
           CASE(result_encode_fails_when_buffer_short), CASE(each_decoder_rejects_the_other_types))
