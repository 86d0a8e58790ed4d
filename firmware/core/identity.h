/*
 * identity.h — reading what a verifier receives: the SIP Identity header
 * value (RFC 8224) or a bare compact JWS, and the PASSporT header and
 * claims JSON inside it (RFC 8225, RFC 8588).
 *
 * Conventions: nothing here allocates or keeps state; reentrant. id_parse
 * returns pointers into the caller's input (which must outlive the
 * struct id_parts) and decodes the three base64url parts into caller
 * buffers (struct id_buf: p and cap set by the caller, len filled in). The
 * JSON readers copy what they keep into fixed-size output structs, so the
 * JSON buffer may be reused afterwards — except for id_member_str, which
 * reads a member's value again from the same JSON.
 *
 * Strictness, by design (this is a verifier, not a forgiving client):
 *   Identity  jws *( SWS ";" SWS name SWS "=" SWS value ) with the
 *             parameters info (required, "<" URI ">"), ppt (required,
 *             token or quoted string without escapes) and alg (optional),
 *             names in any case and any order, each at most once; any
 *             other parameter is refused. Or the JWS alone.
 *   JWS       three non-empty canonical base64url parts (no padding, no
 *             whitespace); the compact "..sig" form is refused.
 *   JSON      objects, strings (escapes, \u with surrogate pairs, valid
 *             UTF-8, no NUL), integers (no fraction, no exponent), arrays,
 *             true/false/null; duplicate member names, nesting deeper than
 *             ID_JSON_DEPTH_MAX and anything after the value are refused.
 * Errors: id_parse STI_EVFY_FORMAT; id_header_parse STI_EVFY_HEADER;
 * id_claims_parse STI_EVFY_CLAIMS. STI_EINVAL for NULL arguments.
 */
#ifndef STI_IDENTITY_H
#define STI_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "passport.h"

/* Longest Identity header value id_parse looks at. */
#define ID_INPUT_MAX 16384
/* Nesting limit: top-level object = 1, orig = 2, dest.tn array = 3. */
#define ID_JSON_DEPTH_MAX 4
/* Member names longer than this are refused (no PASSporT claim is). */
#define ID_NAME_MAX 64
/* Members per object (each level), and top-level claims remembered. */
#define ID_MEMBERS_MAX 16
/* Header string members: alg, ppt, typ (x5u has PP_X5U_MAX). */
#define ID_SHORT_MAX 16

struct id_buf {
    uint8_t *p;
    size_t cap;
    size_t len;
};

struct id_parts {
    const char *jws; /* the compact JWS, jws_len bytes */
    size_t jws_len;
    size_t si_len;   /* signing input = the first si_len bytes of jws */
    const char *info; /* URI inside info=<...>; NULL for a bare JWS */
    size_t info_len;
    const char *alg; /* alg parameter value; NULL when absent */
    size_t alg_len;
    const char *ppt; /* ppt parameter value without quotes; NULL when absent */
    size_t ppt_len;
    int bare; /* 1: the input was a JWS without parameters */
};

/* Splits an Identity value (or bare JWS) of n bytes and decodes header,
 * claims and signature into hdr, claims and sig. Leading and trailing SP /
 * HTAB / CR / LF are ignored. A part longer than its buffer is a format
 * error. */
int id_parse(const char *in, size_t n, struct id_parts *out, struct id_buf *hdr,
             struct id_buf *claims, struct id_buf *sig);

/* Which header members were present. */
#define ID_H_ALG 0x1u
#define ID_H_PPT 0x2u
#define ID_H_TYP 0x4u
#define ID_H_X5U 0x8u

struct id_header {
    char alg[ID_SHORT_MAX];
    char ppt[ID_SHORT_MAX];
    char typ[ID_SHORT_MAX];
    char x5u[PP_X5U_MAX];
    unsigned have;  /* ID_H_* bits */
    int unknown;    /* 1: members other than the four above */
};

/* Reads the header JSON: a top-level object whose alg, ppt, typ and x5u,
 * when present, are strings that fit the fields above. Other members are
 * skipped (after being checked as JSON) and flagged in unknown; whether to
 * accept them is the verifier's decision. */
int id_header_parse(const char *json, size_t n, struct id_header *h);

/* A top-level claim as it appeared: name and the span of its raw JSON
 * value inside the claims JSON (string values keep their quotes). */
struct id_member {
    char name[ID_NAME_MAX + 1];
    size_t off;
    size_t len;
    int is_str;
};

struct id_claims {
    struct pp_claims c; /* attest, orig, dest[ndest], iat, origid (lowercase) */
    int unknown;        /* 1: claims other than the five SHAKEN ones */
    unsigned nmembers;
    struct id_member m[ID_MEMBERS_MAX]; /* every top-level claim, in order */
};

/* Reads a SHAKEN claims JSON: attest "A"|"B"|"C"; orig {"tn": one
 * canonical TN}; dest {"tn": [1..PP_MAX_DEST canonical TNs]}; iat an
 * integer in [1, 253402300799] (never a string or a float); origid a UUID.
 * All five are required; other claims are checked as JSON, recorded in m[]
 * and flagged in unknown. At most ID_MEMBERS_MAX claims. */
int id_claims_parse(const char *json, size_t n, struct id_claims *c);

/* Decoded text of a string-valued member m of the same claims JSON.
 * STI_EINVAL if m is not a string, STI_ETOOLONG if cap is short. out is
 * NUL-terminated; *len excludes the NUL. */
int id_member_str(const char *json, size_t n, const struct id_member *m, char *out, size_t cap,
                  size_t *len);

#endif
