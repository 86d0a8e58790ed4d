/* fuzz_update.c — the update image parser and the full check
 * (bsp_image_parse, bsp_image_verify) on arbitrary bytes, against the sim
 * board's vendor key. Invariants (abort on violation): the check never
 * accepts what the parser refuses; an accepted parse has a payload of
 * exactly the declared length; nothing unsigned, and nothing not signed by
 * the vendor, is ever accepted (no fuzzer finds a P-256 signature). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsp.h"

#define FUZZ_MAX_INPUT 65536

static const char key[] = "-----BEGIN PUBLIC KEY-----\n"
                          "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECwjPn1iUAifj85CcxsLRQMbZlFeq\n"
                          "j5JyJbPkFpGlnI+Ss5UK1J/vHNvEod8mxepyXSmgOoF3vGESruBVrmVviw==\n"
                          "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsp_image_hdr h, h2;
    char why[256];
    static const uint8_t zero[64];
    if (size > FUZZ_MAX_INPUT)
        return 0;
    int prc = bsp_image_parse(data, size, &h);
    if (prc != BSP_UPD_OK && prc != BSP_UPD_EFORMAT)
        abort();
    if (prc == BSP_UPD_OK && (size != (size_t)BSP_IMG_HDR_LEN + h.length || h.format != 1))
        abort();
    int vrc = bsp_image_verify(data, size, key, 0, &h2, why, sizeof why);
    if (prc != BSP_UPD_OK && vrc != BSP_UPD_EFORMAT)
        abort();
    if (!why[0] || strlen(why) >= sizeof why)
        abort();
    if (vrc == BSP_UPD_OK && memcmp(h2.sig, zero, sizeof zero) == 0)
        abort();
    return 0;
}
