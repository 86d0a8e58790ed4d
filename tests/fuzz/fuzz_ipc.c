/*
 * fuzz_ipc.c — the decoders of the messages between stisignd's processes
 * (firmware/ipc): front <-> verifier (vsproto) and parent <-> front
 * (ctlproto). The first byte picks the channel (even: vsproto, odd:
 * ctlproto), the rest is one message. Every layout is canonical, so a
 * message that decodes must encode back to exactly its bytes and stay
 * within its type's maximum; a refusal is always STI_EPROTO_FRAME. The
 * parent trusts the front only as far as these decoders go, and the front
 * the verifier (which parses what came from the internet).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "sti_err.h"
#include "vsproto.h"

static uint8_t out[CTL_MSG_MAX + 64];

static void refused_or_same(int rc, int erc, size_t len, const uint8_t *data, size_t size)
{
    if (rc != STI_OK) {
        if (rc != STI_EPROTO_FRAME)
            abort();
        return;
    }
    if (erc != STI_OK || len != size || memcmp(out, data, size) != 0)
        abort();
}

static void fuzz_vs(const uint8_t *data, size_t size)
{
    static struct vs_verify_req q;
    static struct vs_result r;
    size_t len = 0;
    int rc = vs_verify_decode(data, size, &q), erc = STI_EINTERNAL;
    if (rc == STI_OK) {
        if (q.identity_len < 1 || q.identity_len > VS_IDENTITY_MAX || size > VS_VERIFY_MAX)
            abort();
        erc = vs_verify_encode(&q, out, sizeof out, &len);
    }
    refused_or_same(rc, erc, len, data, size);
    rc = vs_result_decode(data, size, &r);
    if (rc == STI_OK) {
        if (size > VS_RESULT_MAX || r.revocation > VS_REV_UNKNOWN || !sti_err_known(r.code))
            abort();
        erc = vs_result_encode(&r, out, sizeof out, &len);
    }
    refused_or_same(rc, erc, len, data, size);
}

static void fuzz_ctl(const uint8_t *data, size_t size)
{
    static struct ctl_health h;
    struct ctl_file f;
    struct ctl_files_end e;
    struct ctl_worker w;
    struct ctl_spawn s;
    struct ctl_ready rd;
    uint8_t kind;
    uint32_t pid;
    size_t len = 0;
    int rc, erc = STI_EINTERNAL;
    if ((rc = ctl_file_decode(data, size, &f)) == STI_OK)
        erc = ctl_file_encode(f.path, f.data, f.len, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_files_end_decode(data, size, &e)) == STI_OK)
        erc = ctl_files_end_encode(&e, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_listener_decode(data, size, &kind)) == STI_OK)
        erc = ctl_listener_encode(kind, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_worker_decode(data, size, &w)) == STI_OK)
        erc = ctl_worker_encode(&w, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_verifier_decode(data, size, &pid)) == STI_OK)
        erc = ctl_verifier_encode(pid, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_kill_decode(data, size, &pid)) == STI_OK) {
        if (pid == 0)
            abort();
        erc = ctl_kill_encode(pid, out, sizeof out, &len);
    }
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_stop_decode(data, size)) == STI_OK)
        erc = ctl_stop_encode(out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_spawn_decode(data, size, &s)) == STI_OK)
        erc = ctl_spawn_encode(&s, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_health_decode(data, size, &h)) == STI_OK) {
        if (h.ncreds > CTL_CREDS_MAX || h.ready > h.workers)
            abort();
        erc = ctl_health_encode(&h, out, sizeof out, &len);
    }
    refused_or_same(rc, erc, len, data, size);
    if ((rc = ctl_ready_decode(data, size, &rd)) == STI_OK)
        erc = ctl_ready_encode(&rd, out, sizeof out, &len);
    refused_or_same(rc, erc, len, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_ctl(data + 1, size - 1);
    else
        fuzz_vs(data + 1, size - 1);
    return 0;
}
