/*
 * fuzz_workproto.c — the loop <-> HSM worker message decoders.
 *
 * The first byte is the message type, so it picks the decoder; any other
 * first byte goes to all four, which must all refuse it. Every layout is
 * fixed (no optional parts), so a message that decodes must encode back to
 * exactly the input bytes, fit its type's *_MAX, and decode again to an
 * equal struct. The worker trusts its peer less than this: it is the one
 * process holding the token, so these decoders guard it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sti_err.h"
#include "workproto.h"

static uint8_t out[WP_CONFIG_MAX + WP_READY_MAX + WP_SIGN_MAX + WP_RESULT_MAX];

static void same_bytes(int rc, size_t len, const uint8_t *data, size_t size, size_t max)
{
    if (rc != STI_OK || len != size || size > max || memcmp(out, data, size) != 0)
        abort();
}

static void fuzz_config(const uint8_t *data, size_t size)
{
    static struct wp_config c, back;
    size_t len = 0;
    memset(&c, 0, sizeof c);
    int rc = wp_config_decode(data, size, &c);
    if (rc != STI_OK) {
        if (rc != STI_EPROTO_FRAME)
            abort();
        return;
    }
    if (c.pin_len > HSM_PIN_MAX || c.nkeys > HSM_MAX_KEYS)
        abort();
    for (size_t i = 0; i < c.nkeys; i++)
        if (c.keys[i].id_len > HSM_ID_MAX)
            abort();
    int erc = wp_config_encode(&c, out, WP_CONFIG_MAX, &len);
    same_bytes(erc, len, data, size, WP_CONFIG_MAX);
    memset(&back, 0, sizeof back);
    if (wp_config_decode(out, len, &back) != STI_OK || memcmp(&back, &c, sizeof c) != 0)
        abort();
}

static void fuzz_ready(const uint8_t *data, size_t size)
{
    static struct wp_ready r, back;
    size_t len = 0;
    memset(&r, 0, sizeof r);
    int rc = wp_ready_decode(data, size, &r);
    if (rc != STI_OK) {
        if (rc != STI_EPROTO_FRAME)
            abort();
        return;
    }
    if (r.nkeys > HSM_MAX_KEYS)
        abort();
    int erc = wp_ready_encode(&r, out, WP_READY_MAX, &len);
    same_bytes(erc, len, data, size, WP_READY_MAX);
    memset(&back, 0, sizeof back);
    if (wp_ready_decode(out, len, &back) != STI_OK || memcmp(&back, &r, sizeof r) != 0)
        abort();
}

static void fuzz_sign(const uint8_t *data, size_t size)
{
    static struct wp_job jobs[WP_BATCH], back[WP_BATCH];
    size_t n = 0, m = 0, len = 0;
    int rc = wp_sign_decode(data, size, jobs, &n);
    if (rc != STI_OK) {
        if (rc != STI_EPROTO_FRAME)
            abort();
        return;
    }
    if (n < 1 || n > WP_BATCH || size != 3 + n * 38)
        abort();
    int erc = wp_sign_encode(jobs, n, out, WP_SIGN_MAX, &len);
    same_bytes(erc, len, data, size, WP_SIGN_MAX);
    if (wp_sign_decode(out, len, back, &m) != STI_OK || m != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (back[i].tag != jobs[i].tag || back[i].key != jobs[i].key ||
            memcmp(back[i].digest, jobs[i].digest, 32) != 0)
            abort();
}

static void fuzz_result(const uint8_t *data, size_t size)
{
    static struct wp_result res[WP_BATCH], back[WP_BATCH];
    size_t n = 0, m = 0, len = 0;
    int rc = wp_result_decode(data, size, res, &n);
    if (rc != STI_OK) {
        if (rc != STI_EPROTO_FRAME)
            abort();
        return;
    }
    if (n < 1 || n > WP_BATCH || size != 3 + n * (6 + HSM_SIG_LEN))
        abort();
    int erc = wp_result_encode(res, n, out, WP_RESULT_MAX, &len);
    same_bytes(erc, len, data, size, WP_RESULT_MAX);
    if (wp_result_decode(out, len, back, &m) != STI_OK || m != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (back[i].tag != res[i].tag || back[i].status != res[i].status ||
            memcmp(back[i].sig, res[i].sig, HSM_SIG_LEN) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every decoder but the one for `type` must refuse the message. */
static void others_refuse(const uint8_t *data, size_t size, int type)
{
    static struct wp_config c;
    static struct wp_ready r;
    static struct wp_job jobs[WP_BATCH];
    static struct wp_result res[WP_BATCH];
    size_t n;
    if ((type != WP_CONFIG && wp_config_decode(data, size, &c) != STI_EPROTO_FRAME) ||
        (type != WP_READY && wp_ready_decode(data, size, &r) != STI_EPROTO_FRAME) ||
        (type != WP_SIGN && wp_sign_decode(data, size, jobs, &n) != STI_EPROTO_FRAME) ||
        (type != WP_RESULT && wp_result_decode(data, size, res, &n) != STI_EPROTO_FRAME))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type = size ? data[0] : 0;
    switch (type) {
    case WP_CONFIG:
        fuzz_config(data, size);
        break;
    case WP_READY:
        fuzz_ready(data, size);
        break;
    case WP_SIGN:
        fuzz_sign(data, size);
        break;
    case WP_RESULT:
        fuzz_result(data, size);
        break;
    default:
        break;
    }
    others_refuse(data, size, type);
    return 0;
}
