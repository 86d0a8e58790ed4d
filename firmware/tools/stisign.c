/*
 * stisign.c — the operator and integrator tool.
 *
 *   stisign sign   --socket PATH --orig TN --dest TN [--dest TN] --attest A|B|C
 *                  [--origid UUID] [--iat SECS]
 *   stisign health --socket PATH
 *   stisign creds  --socket PATH
 *   stisign bench  --socket PATH --connections N --pipeline D --seconds S [--rate R]
 *                  [--warmup S] [--trace FILE]
 *   stisign token  init|list ...      stisign key generate|list|attrs ...
 *   stisign csr    ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opts.h"
#include "sti_err.h"
#include "stisign.h"
#include "tools.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))

void tool_error(int code, const char *detail)
{
    fprintf(stderr, "stisign: error %d (%s): %s%s%s\n", code, sti_errname(code),
            sti_strerror(code), detail ? ": " : "", detail ? detail : "");
}

int tool_sign(int argc, char **argv)
{
    struct opt o[] = {{"socket", 1, 0, {0}, 0}, {"orig", 1, 0, {0}, 0},
                      {"dest", 1, 1, {0}, 0},   {"attest", 1, 0, {0}, 0},
                      {"origid", 1, 0, {0}, 0}, {"iat", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    long iat;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) != 0 ||
        opts_long(o, NOPT(o), "iat", 0, 0, 253402300799L, &iat) != 0)
        return 2;
    const char *sock = opts_get(o, NOPT(o), "socket"), *orig = opts_get(o, NOPT(o), "orig"),
               *attest = opts_get(o, NOPT(o), "attest");
    const struct opt *dest = opts_find(o, NOPT(o), "dest");
    if (!sock || !orig || !attest || dest->n == 0) {
        fprintf(stderr, "usage: stisign sign --socket PATH --orig TN --dest TN [--dest TN] "
                        "--attest A|B|C [--origid UUID] [--iat SECS]\n");
        return 2;
    }
    if (strlen(attest) != 1) {
        tool_error(STI_EATTEST, attest);
        return 1;
    }
    struct stisign_sign_args a = {orig, dest->values, (unsigned)dest->n, attest[0],
                                  opts_get(o, NOPT(o), "origid"), iat};
    struct stisign_client *c;
    static struct stisign_result r;
    int rc = stisign_connect(sock, &c);
    if (rc) {
        tool_error(rc, sock);
        return 1;
    }
    rc = stisign_sign(c, &a, &r);
    stisign_close(c);
    if (rc || r.status) {
        tool_error(rc ? rc : r.status, rc ? NULL : r.message);
        return 1;
    }
    printf("%s\n", r.identity);
    return 0;
}

static const char *state_name(int s)
{
    return s == 0 ? "ready" : s == 1 ? "degraded" : "down";
}

int tool_health(int argc, char **argv)
{
    struct opt o[] = {{"socket", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) != 0 || !opts_get(o, 1, "socket")) {
        fprintf(stderr, "usage: stisign health --socket PATH\n");
        return 2;
    }
    struct stisign_client *c;
    struct stisign_health h;
    int rc = stisign_connect(opts_get(o, 1, "socket"), &c);
    if (!rc) {
        rc = stisign_health(c, &h);
        stisign_close(c);
    }
    if (rc) {
        tool_error(rc, NULL);
        return 1;
    }
    printf("state: %s%s%s\nversion: %s\nuptime: %llus\nhsm workers: %u of %u ready\n"
           "valid credentials: %u\nsigned: %llu\nfailed: %llu\nin flight: %u\n"
           "hsm errors: %llu (last: %d %s)\n",
           state_name(h.state), h.reason[0] ? " — " : "", h.reason, h.version,
           (unsigned long long)h.uptime, h.workers_ready, h.workers, h.creds_valid,
           (unsigned long long)h.signed_ok, (unsigned long long)h.failed, h.in_flight,
           (unsigned long long)h.hsm_errors, h.last_hsm_error,
           h.last_hsm_error ? sti_errname(h.last_hsm_error) : "-");
    return h.state == 2 ? 1 : 0;
}

int tool_creds(int argc, char **argv)
{
    struct opt o[] = {{"socket", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos, n;
    static struct stisign_cred cr[64];
    static const char *states[] = {"valid", "expired", "not yet valid", "unavailable"};
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) != 0 || !opts_get(o, 1, "socket")) {
        fprintf(stderr, "usage: stisign creds --socket PATH\n");
        return 2;
    }
    struct stisign_client *c;
    int rc = stisign_connect(opts_get(o, 1, "socket"), &c);
    if (!rc) {
        rc = stisign_list_creds(c, cr, 64, &n);
        stisign_close(c);
    }
    if (rc) {
        tool_error(rc, NULL);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char nb[32], na[32];
        time_t t1 = (time_t)cr[i].not_before, t2 = (time_t)cr[i].not_after;
        strftime(nb, sizeof nb, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t1));
        strftime(na, sizeof na, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t2));
        printf("%s: %s\n  subject: %s\n  x5u: %s\n  scope: %s\n  valid: %s .. %s\n  signed: %llu\n",
               cr[i].label, states[cr[i].state & 3], cr[i].subject, cr[i].x5u, cr[i].scope, nb, na,
               (unsigned long long)cr[i].signed_ok);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: stisign COMMAND [options]\n"
            "  sign    --socket PATH --orig TN --dest TN [--dest TN] --attest A|B|C\n"
            "          [--origid UUID] [--iat SECS]       print an Identity header\n"
            "  health  --socket PATH                      daemon and HSM state\n"
            "  creds   --socket PATH                      credentials in use\n"
            "  bench   --socket PATH --connections N --pipeline D --seconds S [--rate R]\n"
            "          [--warmup S] [--trace FILE]        load a daemon: throughput, latency\n"
            "  token   init|list ...                      provision a PKCS#11 token\n"
            "  key     generate|list|attrs ...            keys on the token\n"
            "  csr     ...                                PKCS#10 request with a TNAuthList\n"
            "  verify  --trust-anchor ROOT.pem [--cert CHAIN.pem] ... HEADER|-  STI-VS checks\n"
            "  ca      csr|issue|self-issue|revoke|crl|list ...  the Delegate CA\n");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"sign", tool_sign},   {"health", tool_health}, {"creds", tool_creds},
                {"bench", tool_bench}, {"token", tool_token},   {"key", tool_key},
                {"csr", tool_csr},
                {"verify", tool_verify},
                {"ca", tool_ca}};
    if (argc < 2) {
        usage();
        return 2;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 2, argv + 2);
    if (strcmp(argv[1], "help") != 0 && strcmp(argv[1], "--help") != 0)
        fprintf(stderr, "stisign: unknown command %s\n", argv[1]);
    usage();
    return 2;
}
