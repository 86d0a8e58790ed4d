/*
 * vsproto.h — messages between the front and the verifier process.
 *
 *   front -> verifier  VERIFY  id, max_age, the Identity header value
 *   verifier -> front  RESULT  id, code, check, detail, revocation status
 *                              and, when valid, the verified claims,
 *                              x5u and the leaf's subject
 *
 * The verifier parses everything that came from the network (the header,
 * x5u answers, CRLs); the front only ever sees these fixed fields. Each
 * decoder accepts a message only when it is consumed exactly and every
 * field is within its bound. Conventions as buf.h: caller-owned storage.
 */
#ifndef STI_VSPROTO_H
#define STI_VSPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "passport.h"

#define VS_IDENTITY_MAX 6144 /* = WIRE_V_IDENTITY_MAX, checked in vsproto.c */

enum vs_msg_type { VS_MSG_VERIFY = 1, VS_MSG_RESULT = 2 };

/* Whether the chain's certificates were checked against their CRLs. */
enum vs_revocation {
    VS_REV_OFF = 0,     /* crl = off */
    VS_REV_CHECKED = 1, /* every certificate checked, none revoked */
    VS_REV_UNKNOWN = 2, /* crl = prefer and some CRL could not be had */
};

struct vs_verify_req {
    uint32_t id;
    uint32_t max_age; /* 0: the operator's limit; otherwise only tightens it */
    char identity[VS_IDENTITY_MAX + 1];
    size_t identity_len;
};

struct vs_result {
    uint32_t id;
    uint16_t code; /* STI_OK or the failed check's STI_E* code */
    uint8_t revocation;
    char check[48];
    char detail[256];
    /* valid only when code == STI_OK */
    struct pp_claims claims;
    char x5u[PP_X5U_MAX];
    char subject[256];
};

#define VS_VERIFY_MAX (1 + 4 + 4 + 2 + VS_IDENTITY_MAX)
#define VS_RESULT_MAX                                                                              \
    (1 + 4 + 2 + 1 + 2 + 47 + 2 + 255 + 1 + 2 + TN_MAX + 1 + PP_MAX_DEST * (2 + TN_MAX) + 8 + 2 +  \
     UUID_STR_LEN + 2 + PP_X5U_MAX - 1 + 2 + 255)

int vs_verify_encode(const struct vs_verify_req *q, uint8_t *out, size_t cap, size_t *len);
int vs_verify_decode(const uint8_t *p, size_t n, struct vs_verify_req *q);
int vs_result_encode(const struct vs_result *r, uint8_t *out, size_t cap, size_t *len);
int vs_result_decode(const uint8_t *p, size_t n, struct vs_result *r);

#endif
