/*
 * passport.h — SHAKEN PASSporTs (RFC 8225, RFC 8588) and the SIP Identity
 * header (RFC 8224), built into caller-owned fixed storage.
 *
 * Deterministic JSON: members sorted by code point, no whitespace, iat an
 * integer, dest.tn an array. So a token is byte-reproducible:
 *   header {"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"<x5u>"}
 *   claims {"attest":"A","dest":{"tn":["1..."]},"iat":N,"orig":{"tn":"1..."},"origid":"<uuid>"}
 * The hot path precomputes b64u(header) once per credential (pp_header_b64)
 * and per call writes only the claims, the digest and the final header.
 * No allocation anywhere in this module; reentrant.
 */
#ifndef STI_PASSPORT_H
#define STI_PASSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tn.h"
#include "uuid.h"

#define PP_MAX_DEST 16
#define PP_X5U_MAX 512
/* Upper bounds for the buffers below (JSON / base64url / header). */
#define PP_HEADER_JSON_MAX (64 + 2 * PP_X5U_MAX)
#define PP_CLAIMS_JSON_MAX (160 + PP_MAX_DEST * (TN_MAX + 3) + UUID_STR_LEN)
#define PP_HEADER_B64_MAX (PP_HEADER_JSON_MAX * 4 / 3 + 4)
#define PP_SIGNING_INPUT_MAX (PP_HEADER_B64_MAX + 1 + PP_CLAIMS_JSON_MAX * 4 / 3 + 4)
#define PP_IDENTITY_MAX (PP_SIGNING_INPUT_MAX + 1 + 86 + 8 + PP_X5U_MAX + 32)
#define PP_CLAIMS_B64_MAX (PP_CLAIMS_JSON_MAX * 4 / 3 + 4)

struct pp_claims {
    char attest; /* 'A', 'B' or 'C' */
    char orig[TN_BUF];
    char dest[PP_MAX_DEST][TN_BUF];
    unsigned ndest; /* 1..PP_MAX_DEST */
    int64_t iat;
    char origid[UUID_BUF];
};

/* Checks a claims struct: attest, canonical TNs, 1..PP_MAX_DEST dests, iat
 * within [1, 253402300799], origid a lowercase UUID. Exact STI_E* code. */
int pp_claims_check(const struct pp_claims *c);

/* x5u must be https with no userinfo, query or fragment (STI_EX5U). */
int pp_x5u_check(const char *x5u);
/* The same; with PP_X5U_QUERY_OK a query is accepted (the verifier's rule). */
#define PP_X5U_QUERY_OK 1u
int pp_x5u_check_flags(const char *x5u, unsigned flags);

int pp_header_json(const char *x5u, char *out, size_t cap, size_t *len);
int pp_claims_json(const struct pp_claims *c, char *out, size_t cap, size_t *len);
/* b64u(header JSON), computed once per credential. */
int pp_header_b64(const char *x5u, char *out, size_t cap, size_t *len);

/* out = hdr_b64 "." b64u(claims JSON). */
int pp_signing_input(const char *hdr_b64, size_t hdr_len, const struct pp_claims *c, char *out,
                     size_t cap, size_t *len);
/* SHA-256 of the signing input: what CKM_ECDSA signs. */
void pp_digest(const char *signing_input, size_t len, uint8_t digest[32]);
/* out = signing_input "." b64u(sig r||s) ";info=<" x5u ">;alg=ES256;ppt=shaken" */
int pp_identity(const char *signing_input, size_t si_len, const uint8_t sig[64], const char *x5u,
                char *out, size_t cap, size_t *len);

/* The hot path. What depends only on the credential is computed once
 * (pp_cred_init): the signing-input prefix "b64u(header)." and the Identity
 * suffix ";info=<x5u>;alg=ES256;ppt=shaken". Per call: the claims are
 * checked and encoded once (pp_claims_b64), hashed after the prefix
 * (pp_cred_digest), and the Identity is assembled from the parts
 * (pp_cred_identity) without re-validating what this module produced. */
struct pp_cred {
    char prefix[PP_HEADER_B64_MAX + 2];
    size_t prefix_len;
    char suffix[PP_X5U_MAX + 48];
    size_t suffix_len;
    void *mid; /* SHA-256 state after the prefix (an EVP_MD_CTX), or NULL */
};

/* pp_cred_free releases the digest state; safe on a zeroed struct. */
int pp_cred_init(struct pp_cred *pc, const char *x5u);
void pp_cred_free(struct pp_cred *pc);
/* b64u(claims JSON); checks the claims (pp_claims_check codes). */
int pp_claims_b64(const struct pp_claims *c, char *out, size_t cap, size_t *len);
/* SHA-256 of prefix || claims_b64. Reuses a per-thread digest context. */
void pp_cred_digest(const struct pp_cred *pc, const char *claims_b64, size_t n,
                    uint8_t digest[32]);
/* out = prefix claims_b64 "." b64u(sig) suffix; STI_ETOOLONG if cap is short. */
int pp_cred_identity(const struct pp_cred *pc, const char *claims_b64, size_t n,
                     const uint8_t sig[64], char *out, size_t cap, size_t *len);

#endif
