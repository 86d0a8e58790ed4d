/*
 * workproto.h — messages between the I/O loop and its HSM workers, over a
 * SOCK_SEQPACKET socketpair (one message per datagram, so no framing).
 *
 *   loop -> worker  CONFIG  module, token selector, PIN, key selectors,
 *                           verify_sample (u32: 0 off, N: one signature in N
 *                           is verified with mbedTLS before it is returned),
 *                           flags (u32: WP_KEY_COPY signs with session copies),
 *                           sandbox (u8: enum bsp_sandbox_mode, how a worker
 *                           process confines itself once its session is open)
 *   worker -> loop  READY   status, and per key: status + public point
 *   loop -> worker  SIGN    up to WP_BATCH jobs: tag, key index, digest
 *   worker -> loop  RESULT  the same jobs: tag, status, raw r||s
 *
 * The worker is the only part of the daemon holding a token session; it
 * never parses bytes from the network, only these fixed-layout messages,
 * and it rejects any whose length is not exactly what its type implies.
 * Conventions as buf.h: caller-owned storage, no allocation.
 */
#ifndef STI_WORKPROTO_H
#define STI_WORKPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bsp.h"
#include "hsm.h"

#define WP_BATCH 64
#define WP_PATH_MAX 512

enum wp_type { WP_CONFIG = 1, WP_READY = 2, WP_SIGN = 3, WP_RESULT = 4 };

struct wp_config {
    char module[WP_PATH_MAX];
    struct hsm_token_sel token;
    char pin[HSM_PIN_MAX + 1];
    size_t pin_len;
    struct hsm_key_sel keys[HSM_MAX_KEYS];
    uint16_t nkeys;
    uint32_t verify_sample;
    uint32_t flags;  /* WP_KEY_COPY */
    uint8_t sandbox; /* enum bsp_sandbox_mode; a thread worker ignores it */
};
#define WP_KEY_COPY 1u /* hsm_signer_open_flags HSM_OPEN_SESSION_COPY */

struct wp_ready {
    uint16_t status;
    uint16_t nkeys;
    uint16_t key_status[HSM_MAX_KEYS];
    uint8_t point[HSM_MAX_KEYS][HSM_EC_POINT_LEN];
};

struct wp_job {
    uint32_t tag;
    uint16_t key;
    uint8_t digest[32];
};

struct wp_result {
    uint32_t tag;
    uint16_t status;
    uint8_t sig[HSM_SIG_LEN];
};

#define WP_CONFIG_MAX                                                                              \
    (1 + 2 + WP_PATH_MAX + 2 * (2 + 64) + 2 + HSM_PIN_MAX + 2 +                                    \
     HSM_MAX_KEYS * (2 + HSM_OBJLABEL_MAX + 2 + HSM_ID_MAX) + 4 + 4 + 1)
#define WP_READY_MAX (1 + 2 + 2 + HSM_MAX_KEYS * (2 + HSM_EC_POINT_LEN))
#define WP_SIGN_MAX (1 + 2 + WP_BATCH * (4 + 2 + 32))
#define WP_RESULT_MAX (1 + 2 + WP_BATCH * (4 + 2 + HSM_SIG_LEN))

int wp_config_encode(const struct wp_config *c, uint8_t *out, size_t cap, size_t *len);
int wp_config_decode(const uint8_t *p, size_t n, struct wp_config *c);
int wp_ready_encode(const struct wp_ready *r, uint8_t *out, size_t cap, size_t *len);
int wp_ready_decode(const uint8_t *p, size_t n, struct wp_ready *r);
int wp_sign_encode(const struct wp_job *jobs, size_t n, uint8_t *out, size_t cap, size_t *len);
int wp_sign_decode(const uint8_t *p, size_t len, struct wp_job *jobs, size_t *n);
int wp_result_encode(const struct wp_result *res, size_t n, uint8_t *out, size_t cap,
                     size_t *len);
int wp_result_decode(const uint8_t *p, size_t len, struct wp_result *res, size_t *n);

/* The worker: reads CONFIG from fd, opens its signer, answers READY, then
 * serves SIGN batches until the peer closes. Returns when fd closes. Runs
 * as a whole process (privsep) or as a thread; the code is the same, but
 * only a process (own_process = 1) confines itself: once its session is
 * open and its keys are found, before it answers READY, it calls
 * bsp_sandbox(BSP_ROLE_WORKER) with the CONFIG's mode, and a worker that
 * cannot be confined answers READY with that error and ends. */
int worker_run(int fd, int own_process);

#endif
