/*
 * wire.h — the stisign RPC codec, shared by the server and libstisign.
 * docs/protocol.md is the normative description; this header mirrors it.
 *
 * A frame is a 12-byte header and a body of fields:
 *   u32 length   whole frame incl. header, 12..max (checked before buffering)
 *   u8  version  WIRE_VERSION
 *   u8  op       request 0x01..0x7f; a response carries op | 0x80
 *   u16 status   0 in requests; 0 or an STI_E* number in responses
 *   u32 id       chosen by the client, echoed in the response (pipelining)
 * A field is u8 tag, u16 length, value. Tags 0x01..0x7f must be understood
 * (an unknown one is STI_EPROTO_FIELD); tags 0x80..0xff are optional and
 * skipped when unknown, so either side can add fields without breaking the
 * other. Integers are big-endian; a u8/u16/u32/u64 field's length must be
 * exactly 1/2/4/8; strings are bytes without NUL.
 *
 * Conventions: decoders read caller-owned bytes through struct buf_rd and
 * write into caller-owned fixed-size structs — no allocation, so a decoder
 * can run on every untrusted frame. Encoders write into caller storage
 * through struct buf_wr. Reentrant.
 */
#ifndef STI_WIRE_H
#define STI_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "passport.h"
#include "tn.h"

#define WIRE_VERSION 1
#define WIRE_HDR_LEN 12
#define WIRE_MAX_REQUEST 8192
#define WIRE_MAX_RESPONSE 65536
#define WIRE_RESPONSE_BIT 0x80
#define WIRE_TAG_OPTIONAL 0x80

enum wire_op {
    WIRE_OP_SIGN = 0x01,
    WIRE_OP_HEALTH = 0x02,
    WIRE_OP_LIST_CREDS = 0x03,
    WIRE_OP_VERIFY = 0x04,
};

enum wire_tag {
    /* any error response */
    WIRE_T_MESSAGE = 0x0f, /* string: human-readable error text */
    /* sign request */
    WIRE_T_ORIG = 0x01,   /* string 0..64, a TN in any accepted notation */
    WIRE_T_DEST = 0x02,   /* string 0..64, 1..16 times */
    WIRE_T_ATTEST = 0x03, /* u8 'A' 'B' 'C' */
    WIRE_T_ORIGID = 0x04, /* string 36, a UUID */
    WIRE_T_IAT = 0x05,    /* u64 seconds since the epoch */
    /* sign response */
    WIRE_T_IDENTITY = 0x10, /* string: the Identity header value */
    WIRE_T_CRED = 0x11,     /* string: label of the credential used */
    WIRE_T_USED_ORIGID = 0x12,
    WIRE_T_USED_IAT = 0x13,
    /* health response */
    WIRE_T_STATE = 0x20,          /* u8 enum wire_state */
    WIRE_T_WORKERS = 0x21,        /* u32 configured HSM workers */
    WIRE_T_WORKERS_READY = 0x22,  /* u32 */
    WIRE_T_SIGNED = 0x23,         /* u64 signatures returned */
    WIRE_T_FAILED = 0x24,         /* u64 sign requests answered with an error */
    WIRE_T_UPTIME = 0x25,         /* u64 seconds */
    WIRE_T_VERSION = 0x26,        /* string */
    WIRE_T_CREDS_VALID = 0x27,    /* u32 */
    WIRE_T_HSM_ERRORS = 0x28,     /* u64 */
    WIRE_T_LAST_HSM_ERROR = 0x29, /* u16 STI_E* of the last HSM failure, 0 if none */
    WIRE_T_IN_FLIGHT = 0x2a,      /* u32 */
    WIRE_T_REASON = 0x2b,         /* string: why not ready */
    /* list-credentials response: one CRED_ENTRY per credential */
    WIRE_T_CRED_ENTRY = 0x30, /* nested fields below */
    WIRE_T_C_LABEL = 0x31,
    WIRE_T_C_X5U = 0x32,
    WIRE_T_C_SCOPE = 0x33,      /* text form, see scope.h */
    WIRE_T_C_NOT_BEFORE = 0x34, /* u64 */
    WIRE_T_C_NOT_AFTER = 0x35,  /* u64 */
    WIRE_T_C_STATE = 0x36,      /* u8 enum wire_cred_state */
    WIRE_T_C_SUBJECT = 0x37,
    WIRE_T_C_SIGNED = 0x38, /* u64 */
    /* verify request */
    WIRE_T_V_IDENTITY = 0x40, /* string: Identity header value or compact PASSporT */
    WIRE_T_V_MAX_AGE = 0x41,  /* u32 seconds, optional: freshness window for iat */
    /* verify response (success: all; failure: CHECK and DETAIL) */
    WIRE_T_V_ATTEST = 0x42,  /* u8 'A' 'B' 'C' */
    WIRE_T_V_ORIG = 0x43,    /* string */
    WIRE_T_V_DEST = 0x44,    /* string, repeated */
    WIRE_T_V_IAT = 0x45,     /* u64 */
    WIRE_T_V_ORIGID = 0x46,  /* string */
    WIRE_T_V_X5U = 0x47,     /* string */
    WIRE_T_V_SUBJECT = 0x48, /* string: the leaf certificate's subject */
    WIRE_T_V_CHECK = 0x49,   /* string: the name of the check that failed */
    WIRE_T_V_DETAIL = 0x4a,  /* string: why it failed */
    /* optional: old clients skip it */
    WIRE_T_V_REVOCATION = 0x80, /* u8: 0 not checked (off), 1 checked, 2 some CRL unavailable */
};

enum wire_state { WIRE_STATE_READY = 0, WIRE_STATE_DEGRADED = 1, WIRE_STATE_DOWN = 2 };
enum wire_cred_state {
    WIRE_CRED_VALID = 0,
    WIRE_CRED_EXPIRED = 1,
    WIRE_CRED_NOT_YET = 2,
    WIRE_CRED_UNAVAILABLE = 3
};

#define WIRE_STR_MAX 64 /* TN-ish request strings before normalisation */

struct wire_hdr {
    uint32_t len;
    uint8_t ver;
    uint8_t op;
    uint16_t status;
    uint32_t id;
};

struct wire_field {
    uint8_t tag;
    uint16_t len;
    const uint8_t *v;
};

struct wire_sign_req {
    char orig[WIRE_STR_MAX + 1];
    char dest[PP_MAX_DEST][WIRE_STR_MAX + 1];
    unsigned ndest;
    char attest;
    char origid[UUID_BUF];
    int has_origid;
    uint64_t iat;
    int has_iat;
};

/* Header of a frame from the first WIRE_HDR_LEN bytes. Checks, in order:
 * length within [WIRE_HDR_LEN, max] (STI_EPROTO_TOOBIG above, _FRAME
 * below), version (STI_EPROTO_VERSION). The other fields are returned even
 * on error so the caller can answer with the request's id. */
int wire_hdr_decode(const uint8_t *p, uint32_t max, struct wire_hdr *h);
void wire_hdr_encode(uint8_t *p, const struct wire_hdr *h);

/* Next field of a body. *end = 1 and STI_OK when the body is exhausted;
 * STI_EPROTO_FRAME when a field header or value runs past the end. */
int wire_field_next(struct buf_rd *body, struct wire_field *f, int *end);
/* Typed views of one field; STI_EPROTO_FIELD when the length is wrong or a
 * string holds NUL or does not fit cap-1 bytes. */
int wire_field_u8(const struct wire_field *f, uint8_t *v);
int wire_field_u16(const struct wire_field *f, uint16_t *v);
int wire_field_u32(const struct wire_field *f, uint32_t *v);
int wire_field_u64(const struct wire_field *f, uint64_t *v);
int wire_field_str(const struct wire_field *f, char *out, size_t cap);

/* Field writers (tag + length + value). */
int wire_put_u8(struct buf_wr *w, uint8_t tag, uint8_t v);
int wire_put_u16(struct buf_wr *w, uint8_t tag, uint16_t v);
int wire_put_u32(struct buf_wr *w, uint8_t tag, uint32_t v);
int wire_put_u64(struct buf_wr *w, uint8_t tag, uint64_t v);
int wire_put_bytes(struct buf_wr *w, uint8_t tag, const void *v, size_t n);
int wire_put_str(struct buf_wr *w, uint8_t tag, const char *s);
/* Opens a nested field; close it with wire_nest_end (fills the length). */
int wire_nest_begin(struct buf_wr *w, uint8_t tag, size_t *slot);
int wire_nest_end(struct buf_wr *w, size_t slot);

/* Starts a frame: reserves the header; wire_frame_end fills the length.
 * One frame per writer, starting at offset 0 (STI_EINVAL otherwise).
 * STI_ETOOLONG if the frame would exceed the writer's capacity. */
int wire_frame_begin(struct buf_wr *w, uint8_t op, uint16_t status, uint32_t id);
int wire_frame_end(struct buf_wr *w);

/* Sign request body. Decode enforces: ORIG once, DEST 1..PP_MAX_DEST times,
 * ATTEST once, ORIGID and IAT at most once (STI_EPROTO_DUP /
 * STI_EPROTO_MISSING / STI_ETOOMANY / STI_EPROTO_FIELD); an ORIG or DEST
 * over 64 bytes is STI_ETN and an ORIGID over 36 bytes STI_EORIGID, as
 * their shorter malformed forms are later. Values are not validated beyond
 * that here; the signer normalises and checks them (an empty TN is 101
 * there). Encode refuses what decode would refuse (STI_EINVAL). */
int wire_sign_req_decode(const uint8_t *body, size_t n, struct wire_sign_req *r);
int wire_sign_req_encode(struct buf_wr *w, const struct wire_sign_req *r);

#define WIRE_V_IDENTITY_MAX 6144

struct wire_verify_req {
    char identity[WIRE_V_IDENTITY_MAX + 1];
    size_t identity_len;
    uint32_t max_age;
    int has_max_age;
};

/* Verify request body: IDENTITY once (1..WIRE_V_IDENTITY_MAX bytes, no NUL),
 * MAX_AGE at most once. STI_EPROTO_MISSING / _DUP / _FIELD, STI_ETOOLONG. */
int wire_verify_req_decode(const uint8_t *body, size_t n, struct wire_verify_req *r);
int wire_verify_req_encode(struct buf_wr *w, const struct wire_verify_req *r);

/* Requests with no fields (health, list-credentials): any must-understand
 * field is STI_EPROTO_FIELD, optional fields are skipped. */
int wire_empty_req_decode(const uint8_t *body, size_t n);

/* A complete error response frame (status + MESSAGE) into w. */
int wire_error_frame(struct buf_wr *w, uint8_t op, uint32_t id, uint16_t status, const char *msg);

#endif
