/* test_update.c — the update image parser and checks (board/common/update.c)
 * and the A/B slot scheme: images are built here and signed with a fresh
 * P-256 key through mbedTLS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "bsp.h"
#include "check.h"
#include "sti_err.h"

static mbedtls_entropy_context ent;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_pk_context key, other;
static char pem[1024], other_pem[1024];

static int keys_ready(void)
{
    static int done;
    if (done)
        return done > 0;
    done = -1;
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_pk_init(&other);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, (const unsigned char *)"upd", 3))
        return 0;
    mbedtls_pk_context *k[2] = {&key, &other};
    char *p[2] = {pem, other_pem};
    for (int i = 0; i < 2; i++)
        if (mbedtls_pk_setup(k[i], mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
            mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k[i]),
                                mbedtls_ctr_drbg_random, &drbg) ||
            mbedtls_pk_write_pubkey_pem(k[i], (unsigned char *)p[i], sizeof pem))
            return 0;
    done = 1;
    return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An image of payload "firmware <version>", signed by signer (NULL: unsigned). */
static uint8_t *mkimg(uint32_t version, mbedtls_pk_context *signer, size_t *n)
{
    char payload[64];
    size_t plen = (size_t)snprintf(payload, sizeof payload, "firmware %u", (unsigned)version);
    uint8_t *img = calloc(1, BSP_IMG_HDR_LEN + plen);
    memcpy(img, "STIU", 4);
    img[5] = BSP_IMG_FORMAT;
    img[7] = BSP_IMG_HDR_LEN;
    put32(img + 8, version);
    put32(img + 12, (uint32_t)plen);
    memcpy(img + BSP_IMG_HDR_LEN, payload, plen);
    mbedtls_sha256_ret(img + BSP_IMG_HDR_LEN, plen, img + 16, 0);
    if (signer) {
        uint8_t digest[32];
        mbedtls_mpi r, s;
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&s);
        mbedtls_sha256_ret(img, BSP_IMG_SIGNED_LEN, digest, 0);
        mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*signer);
        if (mbedtls_ecdsa_sign(&ec->grp, &r, &s, &ec->d, digest, 32, mbedtls_ctr_drbg_random,
                               &drbg) == 0) {
            mbedtls_mpi_write_binary(&r, img + 48, 32);
            mbedtls_mpi_write_binary(&s, img + 80, 32);
        }
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&s);
    }
    *n = BSP_IMG_HDR_LEN + plen;
    return img;
}

static int verify(const uint8_t *img, size_t n, uint32_t running, char *why)
{
    struct bsp_image_hdr h;
    return bsp_image_verify(img, n, pem, running, &h, why, 200);
}

TEST(parse_reads_every_header_field)
{
    size_t n;
    struct bsp_image_hdr h;
    CHECK(keys_ready());
    uint8_t *img = mkimg(BSP_VERSION(1, 2, 3), &key, &n);
    CHECK_INT(bsp_image_parse(img, n, &h), BSP_UPD_OK);
    CHECK_INT(h.format, 1);
    CHECK_INT(h.hdr_len, 112);
    CHECK_INT(h.version, 0x010203);
    CHECK_INT(h.length, n - 112);
    CHECK_MEM(h.hash, img + 16, 32);
    free(img);
}

TEST(parse_refuses_malformed_headers)
{
    size_t n;
    struct bsp_image_hdr h;
    uint8_t *img = mkimg(BSP_VERSION(1, 0, 0), NULL, &n);
    uint8_t *big = calloc(1, n + 1);
    memcpy(big, img, n);
    CHECK_INT(bsp_image_parse(NULL, 0, &h), BSP_UPD_EFORMAT);
    CHECK_INT(bsp_image_parse(img, 47, &h), BSP_UPD_EFORMAT);
    CHECK_INT(bsp_image_parse(img, 111, &h), BSP_UPD_EFORMAT);
    CHECK_INT(bsp_image_parse(img, n - 1, &h), BSP_UPD_EFORMAT); /* short payload */
    CHECK_INT(bsp_image_parse(big, n + 1, &h), BSP_UPD_EFORMAT); /* trailing byte */
    img[0] = 'X';
    CHECK_INT(bsp_image_parse(img, n, &h), BSP_UPD_EFORMAT);
    img[0] = 'S';
    img[5] = 2; /* format 2 */
    CHECK_INT(bsp_image_parse(img, n, &h), BSP_UPD_EFORMAT);
    img[5] = 1;
    img[7] = 113; /* header length */
    CHECK_INT(bsp_image_parse(img, n, &h), BSP_UPD_EFORMAT);
    img[7] = 112;
    put32(img + 12, 0xffffffffu);
    CHECK_INT(bsp_image_parse(img, n, &h), BSP_UPD_EFORMAT);
    free(img);
    free(big);
}

TEST(verify_accepts_a_newer_vendor_signed_image)
{
    size_t n;
    char why[200];
    CHECK(keys_ready());
    uint8_t *img = mkimg(BSP_VERSION(0, 2, 0), &key, &n);
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_OK);
    CHECK_STR(why, "image 0.2.0 verified");
    free(img);
}

TEST(verify_refuses_unsigned_tampered_foreign_and_downgraded_images)
{
    size_t n;
    char why[200];
    CHECK(keys_ready());
    uint8_t *img = mkimg(BSP_VERSION(0, 2, 0), NULL, &n);
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_EUNSIGNED);
    CHECK_STR(why, "unsigned image refused");
    free(img);

    img = mkimg(BSP_VERSION(0, 2, 0), &key, &n);
    img[n - 1] ^= 1; /* payload */
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_ETAMPERED);
    CHECK_STR(why, "tampered image refused: payload hash mismatch");
    img[n - 1] ^= 1;
    img[10] ^= 1; /* the signed version */
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_ESIG);
    CHECK_STR(why, "bad signature: image not signed by the vendor key");
    img[10] ^= 1;
    img[60] ^= 1; /* the signature itself */
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_ESIG);
    free(img);

    img = mkimg(BSP_VERSION(0, 2, 0), &other, &n);
    CHECK_INT(verify(img, n, BSP_VERSION(0, 1, 0), why), BSP_UPD_ESIG);
    free(img);

    img = mkimg(BSP_VERSION(0, 2, 0), &key, &n);
    CHECK_INT(verify(img, n, BSP_VERSION(0, 2, 0), why), BSP_UPD_EDOWNGRADE);
    CHECK_STR(why, "downgrade refused: image 0.2.0 is not newer than running 0.2.0");
    CHECK_INT(verify(img, n, BSP_VERSION(1, 0, 0), why), BSP_UPD_EDOWNGRADE);
    struct bsp_image_hdr h;
    CHECK_INT(bsp_image_verify(img, n, "not a key", 0, &h, why, sizeof why), BSP_UPD_EKEY);
    CHECK_INT(bsp_image_verify(img, n, NULL, 0, &h, why, sizeof why), BSP_UPD_EKEY);
    free(img);
}

TEST(versions_parse_and_print)
{
    uint32_t v;
    char s[16];
    CHECK_INT(bsp_version_parse("1.2.3", &v), 0);
    CHECK_INT(v, 0x010203);
    bsp_version_str(v, s, sizeof s);
    CHECK_STR(s, "1.2.3");
    CHECK_INT(bsp_version_parse("255.255.255", &v), 0);
    CHECK_INT(bsp_version_parse("1.2", &v), -1);
    CHECK_INT(bsp_version_parse("256.0.0", &v), -1);
    CHECK_INT(bsp_version_parse("1.2.3x", &v), -1);
    CHECK_INT(bsp_version_parse("", &v), -1);
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void status(char *out)
{
    bsp_update_status(out, 256);
}

TEST(slots_install_trial_confirm_and_fall_back)
{
    char dir[200], path[300], st[256], why[200];
    struct bsp_board_cfg bc;
    size_t n;
    const char *tmp = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    CHECK(keys_ready());
    mkdir(tmp, 0700);
    snprintf(dir, sizeof dir, "%s/test_update-XXXXXX", tmp);
    CHECK(mkdtemp(dir) != NULL);
    memset(&bc, 0, sizeof bc);
    snprintf(bc.state_dir, sizeof bc.state_dir, "%s/board", dir);
    snprintf(bc.vendor_key, sizeof bc.vendor_key, "%s/vendor.pub", dir);
    CHECK_INT(write_file(bc.vendor_key, pem, strlen(pem)), 0);

    /* Factory boot: install 10.0.0 into slot a, pending. */
    CHECK_INT(bsp_init(&bc), STI_OK);
    bsp_boot();
    status(st);
    CHECK(strncmp(st, "running=factory ", 16) == 0);
    uint8_t *img = mkimg(BSP_VERSION(10, 0, 0), &key, &n);
    snprintf(path, sizeof path, "%s/v10.img", dir);
    CHECK_INT(write_file(path, img, n), 0);
    free(img);
    CHECK_INT(bsp_update_install(path, why, sizeof why), BSP_UPD_OK);
    CHECK_STR(why, "image 10.0.0 installed in slot a; it runs on trial at the next boot");
    status(st);
    char want[256], v[16];
    bsp_version_str(bsp_running_version(), v, sizeof v); /* the build's PROJECT_VERSION */
    snprintf(want, sizeof want,
             "running=factory version=%s trial=no active=factory pending=a rollback=none", v);
    CHECK_STR(st, want);

    /* Trial boot of a; it confirms. */
    CHECK_INT(bsp_init(&bc), STI_OK);
    bsp_boot();
    status(st);
    CHECK_STR(st, "running=a version=10.0.0 trial=yes active=factory pending=a rollback=none");
    CHECK_INT(bsp_update_install(path, why, sizeof why), BSP_UPD_EBUSY);
    CHECK_INT(bsp_update_confirm(), STI_OK);
    status(st);
    CHECK_STR(st, "running=a version=10.0.0 trial=no active=a pending=none rollback=none");
    /* The same image again is no longer newer. */
    CHECK_INT(bsp_update_install(path, why, sizeof why), BSP_UPD_EDOWNGRADE);

    /* 11.0.0 into slot b; its trial never confirms; the boot after falls back. */
    img = mkimg(BSP_VERSION(11, 0, 0), &key, &n);
    snprintf(path, sizeof path, "%s/v11.img", dir);
    CHECK_INT(write_file(path, img, n), 0);
    free(img);
    CHECK_INT(bsp_update_install(path, why, sizeof why), BSP_UPD_OK);
    CHECK_INT(bsp_init(&bc), STI_OK);
    bsp_boot();
    status(st);
    CHECK_STR(st, "running=b version=11.0.0 trial=yes active=a pending=b rollback=none");
    CHECK_INT(bsp_init(&bc), STI_OK);
    bsp_boot();
    status(st);
    CHECK_STR(st, "running=a version=10.0.0 trial=no active=a pending=none rollback=b");
    CHECK_INT(bsp_init(&bc), STI_OK);
    bsp_boot();
    status(st);
    CHECK_STR(st, "running=a version=10.0.0 trial=no active=a pending=none rollback=none");

    /* No state dir: nowhere to install. */
    memset(&bc, 0, sizeof bc);
    CHECK_INT(bsp_init(&bc), STI_OK);
    CHECK_INT(bsp_update_install(path, why, sizeof why), BSP_UPD_ENOSTATE);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
}

CHECK_MAIN(CASE(parse_reads_every_header_field), CASE(parse_refuses_malformed_headers),
           CASE(verify_accepts_a_newer_vendor_signed_image),
           CASE(verify_refuses_unsigned_tampered_foreign_and_downgraded_images),
           CASE(versions_parse_and_print), CASE(slots_install_trial_confirm_and_fall_back))
