/* fuzz_identity.c — the Identity header splitter and the PASSporT JSON
 * readers on arbitrary bytes (firmware/core/identity.c).
 * Invariants (abort on violation): only the layer's own error code; on
 * success every pointer lies inside the input, the signing input ends at the
 * second dot, each decoded part re-encodes to exactly its text, parameters
 * are present unless the input was a bare JWS; the JSON readers are
 * deterministic, accept only claims pp_claims_check accepts, and every
 * recorded member span lies inside the JSON and re-reads as a string when
 * flagged as one. The raw input is also fed to the JSON readers directly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64u.h"
#include "identity.h"
#include "sti_err.h"

#define FUZZ_MAX_INPUT (ID_INPUT_MAX + 16)

static uint8_t hbuf[ID_INPUT_MAX], cbuf[ID_INPUT_MAX], sbuf[ID_INPUT_MAX];
static char enc[ID_INPUT_MAX + 4];

static int inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void reencodes(const uint8_t *dec, size_t dn, const char *text, size_t tn)
{
    size_t k = 0;
    if (b64u_encode(dec, dn, enc, sizeof enc, &k) != STI_OK || k != tn || memcmp(enc, text, tn) != 0)
        abort();
}

static void fuzz_header(const char *json, size_t n)
{
    static struct id_header a, b;
    int rc = id_header_parse(json, n, &a);
    if (rc != STI_OK && rc != STI_EVFY_HEADER)
        abort();
    if (id_header_parse(json, n, &b) != rc || memcmp(&a, &b, sizeof a) != 0)
        abort();
    if (rc == STI_OK) {
        if (!memchr(a.alg, 0, sizeof a.alg) || !memchr(a.ppt, 0, sizeof a.ppt) ||
            !memchr(a.typ, 0, sizeof a.typ) || !memchr(a.x5u, 0, sizeof a.x5u))
            abort();
        if ((a.have & ~(ID_H_ALG | ID_H_PPT | ID_H_TYP | ID_H_X5U)) != 0)
            abort();
    }
}

static void fuzz_claims(const char *json, size_t n)
{
    static struct id_claims a, b;
    char s[ID_INPUT_MAX + 1];
    size_t len;
    int rc = id_claims_parse(json, n, &a);
    if (rc != STI_OK && rc != STI_EVFY_CLAIMS)
        abort();
    if (id_claims_parse(json, n, &b) != rc || memcmp(&a, &b, sizeof a) != 0)
        abort();
    if (rc != STI_OK)
        return;
    if (pp_claims_check(&a.c) != STI_OK || a.nmembers < 5 || a.nmembers > ID_MEMBERS_MAX)
        abort();
    for (unsigned i = 0; i < a.nmembers; i++) {
        const struct id_member *m = &a.m[i];
        if (m->len == 0 || m->off > n || m->len > n - m->off)
            abort();
        if (m->is_str != (json[m->off] == '"'))
            abort();
        if (m->is_str && id_member_str(json, n, m, s, sizeof s, &len) != STI_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    const char *in = (const char *)data;
    struct id_parts p;
    struct id_buf hb = {hbuf, sizeof hbuf, 0}, cb = {cbuf, sizeof cbuf, 0}, sb = {sbuf, sizeof sbuf, 0};
    int rc = id_parse(in, size, &p, &hb, &cb, &sb);
    if (rc != STI_OK) {
        if (rc != STI_EVFY_FORMAT || hb.len || cb.len || sb.len || p.jws != NULL)
            abort();
    } else {
        if (!inside(p.jws, p.jws_len, in, size) || p.si_len >= p.jws_len || p.jws[p.si_len] != '.')
            abort();
        const char *d1 = memchr(p.jws, '.', p.si_len);
        if (d1 == NULL)
            abort();
        size_t hl = (size_t)(d1 - p.jws);
        reencodes(hb.p, hb.len, p.jws, hl);
        reencodes(cb.p, cb.len, d1 + 1, p.si_len - hl - 1);
        reencodes(sb.p, sb.len, p.jws + p.si_len + 1, p.jws_len - p.si_len - 1);
        if (p.bare) {
            if (p.info || p.ppt || p.alg)
                abort();
        } else {
            if (!p.info || !p.ppt || !inside(p.info, p.info_len, in, size) ||
                !inside(p.ppt, p.ppt_len, in, size) || p.info_len == 0 || p.ppt_len == 0 ||
                (p.alg && !inside(p.alg, p.alg_len, in, size)))
                abort();
        }
        fuzz_header((const char *)hb.p, hb.len);
        fuzz_claims((const char *)cb.p, cb.len);
    }
    /* The readers on the raw bytes too, so the corpus can aim at JSON. */
    fuzz_header(in, size);
    fuzz_claims(in, size);
    return 0;
}
