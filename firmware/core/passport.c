/* passport.c — SHAKEN PASSporT JSON, signing input and Identity header. */
#include "passport.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "b64u.h"
#include "buf.h"
#include "json.h"
#include "sti_err.h"

#define PP_IAT_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* A fixed char array is a valid TN only if it is terminated inside the
 * array; checking that first keeps strlen from running off the end. */
static int pp_tn_ok(const char tn[TN_BUF])
{
    const char *nul = memchr(tn, '\0', TN_BUF);
    if (nul == NULL)
        return STI_ETN;
    return tn_check(tn, (size_t)(nul - tn));
}

static int pp_origid_ok(const char origid[UUID_BUF])
{
    char low[UUID_BUF];
    const char *nul = memchr(origid, '\0', UUID_BUF);
    if (nul == NULL || uuid_normalize(origid, (size_t)(nul - origid), low) != STI_OK)
        return STI_EORIGID;
    /* Normalising must be a no-op: the claim goes out exactly as stored. */
    return strcmp(low, origid) == 0 ? STI_OK : STI_EORIGID;
}

int pp_claims_check(const struct pp_claims *c)
{
    if (c == NULL)
        return STI_EINVAL;
    if (c->attest != 'A' && c->attest != 'B' && c->attest != 'C')
        return STI_EATTEST;
    /* ndest bounds the loop below, so it is checked before any dest. */
    if (c->ndest == 0 || c->ndest > PP_MAX_DEST)
        return STI_ETOOMANY;
    if (pp_tn_ok(c->orig) != STI_OK)
        return STI_ETN;
    for (unsigned i = 0; i < c->ndest; i++)
        if (pp_tn_ok(c->dest[i]) != STI_OK)
            return STI_ETN;
    if (c->iat < 1 || c->iat > PP_IAT_MAX)
        return STI_EIAT;
    return pp_origid_ok(c->origid);
}

/* Authority part "host[:port]" or "[v6]:port" of an https URL. */
static int pp_authority_ok(const char *a, size_t n)
{
    if (n == 0 || memchr(a, '@', n) != NULL)
        return 0; /* empty host, or userinfo that could hide the real host */
    size_t i;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL || close == a + 1)
            return 0;
        i = (size_t)(close - a) + 1;
    } else {
        for (i = 0; i < n && a[i] != ':'; i++)
            if (a[i] == '[' || a[i] == ']')
                return 0;
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (a[i] != ':')
        return 0;
    /* A port, when given, is 1..65535 in plain decimal. */
    size_t digits = n - i - 1;
    if (digits == 0 || digits > 5)
        return 0;
    unsigned long port = 0;
    for (size_t k = i + 1; k < n; k++) {
        if (a[k] < '0' || a[k] > '9')
            return 0;
        port = port * 10 + (unsigned long)(a[k] - '0');
    }
    return port >= 1 && port <= 65535;
}

int pp_x5u_check(const char *x5u)
{
    return pp_x5u_check_flags(x5u, 0);
}

int pp_x5u_check_flags(const char *x5u, unsigned flags)
{
    static const char scheme[] = "https://";
    if (x5u == NULL)
        return STI_EX5U;
    const char *nul = memchr(x5u, '\0', PP_X5U_MAX + 1);
    if (nul == NULL)
        return STI_EX5U;
    size_t n = (size_t)(nul - x5u);
    if (n < sizeof scheme - 1 || memcmp(x5u, scheme, sizeof scheme - 1) != 0)
        return STI_EX5U;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)x5u[i];
        /* Whitespace, controls and non-ASCII are never part of a URI; '<',
         * '>' and '"' would let the value break out of the Identity
         * header's info=<...> parameter. What we publish has no query or
         * fragment; a verifier accepts a query (carriers send such x5u). */
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '#' ||
            (c == '?' && !(flags & PP_X5U_QUERY_OK)))
            return STI_EX5U;
    }
    const char *auth = x5u + sizeof scheme - 1;
    size_t alen = strcspn(auth, "/?");
    return pp_authority_ok(auth, alen) ? STI_OK : STI_EX5U;
}

static int pp_put(struct buf_wr *w, const char *s)
{
    return buf_wr_bytes(w, s, strlen(s));
}

/* Terminate the writer's text and report its length without the NUL. */
static int pp_finish(struct buf_wr *w, size_t *len)
{
    int rc = buf_wr_u8(w, '\0');
    if (rc == STI_OK && len != NULL)
        *len = w->off - 1;
    return rc;
}

static int pp_header_write(struct buf_wr *w, const char *x5u)
{
    int rc = pp_x5u_check(x5u);
    if (rc != STI_OK)
        return rc;
    /* Members in code-point order: alg, ppt, typ, x5u. */
    rc = json_put_raw(w, "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\",\"x5u\":");
    if (rc == STI_OK)
        rc = json_put_str(w, x5u, strlen(x5u));
    if (rc == STI_OK)
        rc = json_put_raw(w, "}");
    return rc;
}

static int pp_claims_write(struct buf_wr *w, const struct pp_claims *c)
{
    int rc = pp_claims_check(c);
    if (rc != STI_OK)
        return rc;
    /* Members in code-point order: attest, dest, iat, orig, origid. */
    char attest[1] = {c->attest};
    rc = json_put_raw(w, "{\"attest\":");
    if (rc == STI_OK)
        rc = json_put_str(w, attest, 1);
    if (rc == STI_OK)
        rc = json_put_raw(w, ",\"dest\":{\"tn\":[");
    for (unsigned i = 0; rc == STI_OK && i < c->ndest; i++) {
        if (i > 0)
            rc = json_put_raw(w, ",");
        if (rc == STI_OK)
            rc = json_put_str(w, c->dest[i], strlen(c->dest[i]));
    }
    if (rc == STI_OK)
        rc = json_put_raw(w, "]},\"iat\":");
    if (rc == STI_OK)
        rc = json_put_i64(w, c->iat);
    if (rc == STI_OK)
        rc = json_put_raw(w, ",\"orig\":{\"tn\":");
    if (rc == STI_OK)
        rc = json_put_str(w, c->orig, strlen(c->orig));
    if (rc == STI_OK)
        rc = json_put_raw(w, "},\"origid\":");
    if (rc == STI_OK)
        rc = json_put_str(w, c->origid, strlen(c->origid));
    if (rc == STI_OK)
        rc = json_put_raw(w, "}");
    return rc;
}

int pp_header_json(const char *x5u, char *out, size_t cap, size_t *len)
{
    if (out == NULL)
        return STI_EINVAL;
    struct buf_wr w;
    buf_wr_init(&w, out, cap);
    int rc = pp_header_write(&w, x5u);
    if (rc == STI_OK)
        rc = pp_finish(&w, len);
    return rc;
}

int pp_claims_json(const struct pp_claims *c, char *out, size_t cap, size_t *len)
{
    if (out == NULL)
        return STI_EINVAL;
    struct buf_wr w;
    buf_wr_init(&w, out, cap);
    int rc = pp_claims_write(&w, c);
    if (rc == STI_OK)
        rc = pp_finish(&w, len);
    return rc;
}

int pp_header_b64(const char *x5u, char *out, size_t cap, size_t *len)
{
    char json[PP_HEADER_JSON_MAX];
    size_t jlen;
    if (out == NULL)
        return STI_EINVAL;
    int rc = pp_header_json(x5u, json, sizeof json, &jlen);
    if (rc != STI_OK)
        return rc;
    return b64u_encode((const uint8_t *)json, jlen, out, cap, len);
}

/* 1 when s[0..n) is all base64url alphabet with exactly `dots` '.'
 * separators, none of them first, last or doubled: the shape of a b64u
 * segment (dots 0) or of a signing input (dots 1). */
static int pp_is_segments(const char *s, size_t n, unsigned dots)
{
    unsigned seen = 0;
    if (s == NULL || n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (s[i - 1] == '.')
                return 0;
            seen++;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_')) {
            return 0;
        }
    }
    return seen == dots;
}

int pp_signing_input(const char *hdr_b64, size_t hdr_len, const struct pp_claims *c, char *out,
                     size_t cap, size_t *len)
{
    char json[PP_CLAIMS_JSON_MAX];
    size_t jlen, blen;
    if (out == NULL || !pp_is_segments(hdr_b64, hdr_len, 0))
        return STI_EINVAL;
    int rc = pp_claims_json(c, json, sizeof json, &jlen);
    if (rc != STI_OK)
        return rc;
    struct buf_wr w;
    buf_wr_init(&w, out, cap);
    rc = buf_wr_bytes(&w, hdr_b64, hdr_len);
    if (rc == STI_OK)
        rc = buf_wr_u8(&w, '.');
    if (rc != STI_OK)
        return rc;
    /* Encode straight into the tail of out; b64u_encode adds the NUL. */
    rc = b64u_encode((const uint8_t *)json, jlen, out + w.off, cap - w.off, &blen);
    if (rc == STI_OK && len != NULL)
        *len = w.off + blen;
    return rc;
}

/* One SHA-256 implementation fetched and one context allocated per thread,
 * reused for every digest: OpenSSL 3's one-shot SHA256() fetches the
 * algorithm and allocates a context on each call. */
static _Thread_local EVP_MD *pp_md;
static _Thread_local EVP_MD_CTX *pp_ctx;

static int pp_sha_ready(void)
{
    if (!pp_md)
        pp_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!pp_ctx)
        pp_ctx = EVP_MD_CTX_new();
    return pp_md && pp_ctx;
}

/* SHA-256 of a || b; when mid is given it is the state after a, and only b
 * is hashed (the credential's constant prefix is hashed once, at load). */
static int pp_sha256(const void *a, size_t alen, const void *b, size_t blen, const void *mid,
                     uint8_t digest[32])
{
    unsigned int dlen = 0;
    if (!pp_sha_ready())
        return 0;
    if (mid) {
        if (!EVP_MD_CTX_copy_ex(pp_ctx, mid))
            return 0;
    } else if (!EVP_DigestInit_ex2(pp_ctx, pp_md, NULL) || !EVP_DigestUpdate(pp_ctx, a, alen)) {
        return 0;
    }
    return (blen == 0 || EVP_DigestUpdate(pp_ctx, b, blen)) &&
           EVP_DigestFinal_ex(pp_ctx, digest, &dlen) && dlen == 32;
}

void pp_digest(const char *signing_input, size_t len, uint8_t digest[32])
{
    if (!pp_sha256(signing_input, len, NULL, 0, NULL, digest))
        SHA256((const unsigned char *)signing_input, len, digest);
}

int pp_cred_init(struct pp_cred *pc, const char *x5u)
{
    size_t n;
    int rc;
    if (pc == NULL)
        return STI_EINVAL;
    memset(pc, 0, sizeof *pc);
    if ((rc = pp_header_b64(x5u, pc->prefix, sizeof pc->prefix - 1, &n)))
        return rc;
    pc->prefix[n++] = '.';
    pc->prefix[n] = '\0';
    pc->prefix_len = n;
    struct buf_wr w;
    buf_wr_init(&w, pc->suffix, sizeof pc->suffix);
    rc = pp_put(&w, ";info=<");
    if (rc == STI_OK)
        rc = pp_put(&w, x5u);
    if (rc == STI_OK)
        rc = pp_put(&w, ">;alg=ES256;ppt=shaken");
    if (rc == STI_OK)
        rc = pp_finish(&w, &pc->suffix_len);
    /* The digest state after the prefix; without it digests start afresh. */
    EVP_MD_CTX *mid = rc == STI_OK && pp_sha_ready() ? EVP_MD_CTX_new() : NULL;
    if (mid && EVP_DigestInit_ex2(mid, pp_md, NULL) &&
        EVP_DigestUpdate(mid, pc->prefix, pc->prefix_len))
        pc->mid = mid;
    else
        EVP_MD_CTX_free(mid);
    return rc;
}

void pp_cred_free(struct pp_cred *pc)
{
    if (pc && pc->mid) {
        EVP_MD_CTX_free(pc->mid);
        pc->mid = NULL;
    }
}

int pp_claims_b64(const struct pp_claims *c, char *out, size_t cap, size_t *len)
{
    char json[PP_CLAIMS_JSON_MAX];
    size_t jlen;
    int rc = pp_claims_json(c, json, sizeof json, &jlen);
    if (rc != STI_OK)
        return rc;
    return b64u_encode((const uint8_t *)json, jlen, out, cap, len);
}

void pp_cred_digest(const struct pp_cred *pc, const char *claims_b64, size_t n, uint8_t digest[32])
{
    if (!pp_sha256(pc->prefix, pc->prefix_len, claims_b64, n, pc->mid, digest)) {
        char si[PP_SIGNING_INPUT_MAX];
        size_t k = pc->prefix_len + n < sizeof si ? n : sizeof si - pc->prefix_len;
        memcpy(si, pc->prefix, pc->prefix_len);
        memcpy(si + pc->prefix_len, claims_b64, k);
        SHA256((const unsigned char *)si, pc->prefix_len + k, digest);
    }
}

int pp_cred_identity(const struct pp_cred *pc, const char *claims_b64, size_t n,
                     const uint8_t sig[64], char *out, size_t cap, size_t *len)
{
    size_t slen, need = pc->prefix_len + n + 1 + B64U_ENC_LEN(64) + pc->suffix_len;
    if (need + 1 > cap)
        return STI_ETOOLONG;
    char *p = out;
    memcpy(p, pc->prefix, pc->prefix_len);
    p += pc->prefix_len;
    memcpy(p, claims_b64, n);
    p += n;
    *p++ = '.';
    int rc = b64u_encode(sig, 64, p, cap - (size_t)(p - out), &slen);
    if (rc != STI_OK)
        return rc;
    p += slen;
    memcpy(p, pc->suffix, pc->suffix_len + 1);
    p += pc->suffix_len;
    if (len)
        *len = (size_t)(p - out);
    return STI_OK;
}

int pp_identity(const char *signing_input, size_t si_len, const uint8_t sig[64], const char *x5u,
                char *out, size_t cap, size_t *len)
{
    char sigb64[B64U_ENC_LEN(64) + 1];
    size_t slen;
    if (out == NULL || sig == NULL || !pp_is_segments(signing_input, si_len, 1))
        return STI_EINVAL;
    int rc = pp_x5u_check(x5u);
    if (rc != STI_OK)
        return rc;
    rc = b64u_encode(sig, 64, sigb64, sizeof sigb64, &slen);
    if (rc != STI_OK)
        return rc;
    struct buf_wr w;
    buf_wr_init(&w, out, cap);
    rc = buf_wr_bytes(&w, signing_input, si_len);
    if (rc == STI_OK)
        rc = buf_wr_u8(&w, '.');
    if (rc == STI_OK)
        rc = buf_wr_bytes(&w, sigb64, slen);
    if (rc == STI_OK)
        rc = pp_put(&w, ";info=<");
    if (rc == STI_OK)
        rc = pp_put(&w, x5u);
    if (rc == STI_OK)
        rc = pp_put(&w, ">;alg=ES256;ppt=shaken");
    if (rc == STI_OK)
        rc = pp_finish(&w, len);
    return rc;
}
