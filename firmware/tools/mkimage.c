/*
 * mkimage.c — builds and signs a firmware update image (docs/update-image.md)
 * on the vendor's build machine, with OpenSSL:
 *
 *   stisign-mkimage --key vendor.pem --version 1.2.3 --payload FILE --out IMAGE
 *   stisign-mkimage --unsigned --version 1.2.3 --payload FILE --out IMAGE   (tests)
 *
 * The key is the vendor's P-256 private key (PEM). The appliance checks the
 * image with mbedTLS against the matching public key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "bsp.h"

static void usage(void)
{
    fprintf(stderr, "usage: stisign-mkimage (--key VENDOR.pem | --unsigned) --version X.Y.Z "
                    "--payload FILE --out IMAGE\n");
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0, got;
    if (!f)
        return NULL;
    do {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got);
    fclose(f);
    *n = len;
    return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ECDSA P-256 over SHA-256(signed part), as raw r||s. */
static int sign(const char *keypath, const uint8_t *msg, size_t n, uint8_t out[64])
{
    FILE *f = fopen(keypath, "r");
    EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t dlen = sizeof der;
    int ok = 0;
    if (f)
        fclose(f);
    if (!pk || !md || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC || EVP_PKEY_get_bits(pk) != 256) {
        fprintf(stderr, "stisign-mkimage: %s: not a P-256 private key\n", keypath);
        goto out;
    }
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(md, der, &dlen, msg, n) != 1)
        goto out;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!sig)
        goto out;
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32;
    ECDSA_SIG_free(sig);
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *key = NULL, *ver = NULL, *payload = NULL, *outp = NULL;
    int unsig = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--unsigned") == 0)
            unsig = 1;
        else if (i + 1 < argc && strcmp(a, "--key") == 0)
            key = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--version") == 0)
            ver = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--payload") == 0)
            payload = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--out") == 0)
            outp = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    uint32_t version;
    if (!ver || !payload || !outp || (!key && !unsig) || (key && unsig)) {
        usage();
        return 2;
    }
    if (bsp_version_parse(ver, &version) != 0) {
        fprintf(stderr, "stisign-mkimage: --version %s: want MAJOR.MINOR.PATCH (each 0-255)\n", ver);
        return 2;
    }
    size_t n = 0;
    uint8_t *data = slurp(payload, &n);
    if (!data || n > BSP_IMG_MAX_PAYLOAD) {
        fprintf(stderr, "stisign-mkimage: %s: cannot read (or larger than %u bytes)\n", payload,
                BSP_IMG_MAX_PAYLOAD);
        free(data);
        return 1;
    }
    uint8_t hdr[BSP_IMG_HDR_LEN];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, BSP_IMG_MAGIC, 4);
    hdr[4] = BSP_IMG_FORMAT >> 8;
    hdr[5] = BSP_IMG_FORMAT & 0xff;
    hdr[6] = BSP_IMG_HDR_LEN >> 8;
    hdr[7] = BSP_IMG_HDR_LEN & 0xff;
    put32(hdr + 8, version);
    put32(hdr + 12, (uint32_t)n);
    SHA256(data, n, hdr + 16);
    if (!unsig && sign(key, hdr, BSP_IMG_SIGNED_LEN, hdr + 48) != 0) {
        fprintf(stderr, "stisign-mkimage: signing failed\n");
        free(data);
        return 1;
    }
    FILE *f = fopen(outp, "wb");
    int ok = f && fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    free(data);
    if (!ok) {
        fprintf(stderr, "stisign-mkimage: %s: cannot write\n", outp);
        return 1;
    }
    printf("%s: version %s, payload %zu bytes, %s\n", outp, ver, n, unsig ? "UNSIGNED" : "signed");
    return 0;
}
