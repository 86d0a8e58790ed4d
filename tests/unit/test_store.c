/* test_store.c — the persistent store: atomic commits, leftovers of an
 * interrupted commit, the audit log, factory reset, permissions. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sti_err.h"
#include "store.h"

static char dir[512];

static struct store *fresh(void)
{
    const char *tmp = getenv("STI_TEST_TMP");
    char cmd[700];
    static int seq;
    if (!tmp)
        tmp = "/tmp";
    mkdir(tmp, 0700);
    snprintf(dir, sizeof dir, "%s/store-unit-%ld-%d", tmp, (long)getpid(), seq++);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return NULL;
    struct store *s = NULL;
    return store_open(dir, &s) == STI_OK ? s : NULL;
}

static void cleanup(struct store *s)
{
    char cmd[700];
    store_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

static int mode_of(const char *rel)
{
    char p[700];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

static int exists(const char *rel)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return access(p, F_OK) == 0;
}

static const char CHAIN[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

TEST(commits_survive_a_reopen)
{
    struct store *s = fresh();
    struct store_state st;
    CHECK(s);
    CHECK_RC(store_set_token(s, "tok"), STI_OK);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1,
                                  "https://cr.example.com/a.pem"),
             STI_OK);
    CHECK_RC(store_put_credential(s, "af2", "key2", CHAIN, sizeof CHAIN - 1, ""), STI_OK);
    CHECK_RC(store_put_key(s, "key1", "customer-af"), STI_OK);
    store_close(s);
    CHECK_RC(store_open(dir, &s), STI_OK);
    CHECK_RC(store_load(s, &st), STI_OK);
    CHECK_STR(st.token, "tok");
    CHECK_INT(st.ncred, 2);
    CHECK_STR(st.cred[0].name, "af1");
    CHECK_STR(st.cred[0].x5u, "https://cr.example.com/a.pem");
    CHECK_STR(st.cred[1].name, "af2");
    CHECK_STR(st.cred[1].x5u, ""); /* pending */
    CHECK_INT(st.nkey, 1);
    CHECK_STR(st.key[0].role, "customer-af");
    CHECK(exists(st.cred[0].chain));
    CHECK_INT(st.gen, 4);
    cleanup(s);
}

TEST(appliance_conf_is_what_the_daemon_reads)
{
    struct store *s = fresh();
    char buf[2048];
    CHECK(s);
    CHECK_RC(store_set_token(s, "tok"), STI_OK);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1,
                                  "https://cr.example.com/a.pem"),
             STI_OK);
    snprintf(buf, sizeof buf, "%s/appliance.conf", dir);
    FILE *f = fopen(buf, "r");
    CHECK(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    CHECK(strstr(buf, "token = tok\n"));
    CHECK(strstr(buf, "[credential af1]\nkey = key1\nchain = chains/af1.2.pem\n"
                      "x5u = https://cr.example.com/a.pem\n"));
    cleanup(s);
}

TEST(leftover_temporary_and_orphan_chain_files_are_removed_at_open)
{
    struct store *s = fresh();
    char p[700];
    CHECK(s);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1,
                                  "https://cr.example.com/a.pem"),
             STI_OK);
    store_close(s);
    const char *junk[] = {".tmp-appliance.conf", ".tmp-pin", "chains/.tmp-af1.9.pem",
                          "chains/af1.9.pem"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, junk[i]);
        int fd = open(p, O_WRONLY | O_CREAT, 0600);
        CHECK(fd >= 0);
        CHECK(write(fd, "torn", 4) == 4);
        close(fd);
    }
    CHECK_RC(store_open(dir, &s), STI_OK);
    for (size_t i = 0; i < 4; i++)
        CHECK(!exists(junk[i]));
    CHECK(exists("chains/af1.1.pem"));
    cleanup(s);
}

TEST(a_torn_appliance_conf_is_refused_not_half_read)
{
    struct store_state st;
    static const char torn[] = "token = t\n[credential a]\nkey = k\n#! bogus\n";
    CHECK_RC(store_parse(torn, sizeof torn - 1, &st), STI_ESTORE);
    static const char nokey[] = "[credential a]\nchain = c\n";
    CHECK_RC(store_parse(nokey, sizeof nokey - 1, &st), STI_ESTORE);
    static const char nul[] = "token = a\0b\n";
    CHECK_RC(store_parse(nul, sizeof nul - 1, &st), STI_ESTORE);
}

TEST(replacing_a_chain_keeps_the_old_file_until_the_commit)
{
    struct store *s = fresh();
    struct store_state st;
    CHECK(s);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1,
                                  "https://cr.example.com/a.pem"),
             STI_OK);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1, NULL), STI_OK);
    store_load(s, &st);
    CHECK_INT(st.ncred, 1);
    CHECK_STR(st.cred[0].chain, "chains/af1.2.pem");
    CHECK_STR(st.cred[0].x5u, "https://cr.example.com/a.pem"); /* kept */
    CHECK(!exists("chains/af1.1.pem"));                        /* swept after */
    cleanup(s);
}

TEST(retire_x5u_and_bad_input_give_exact_codes)
{
    struct store *s = fresh();
    struct store_state st;
    CHECK(s);
    CHECK_RC(store_retire_credential(s, "nope"), STI_ENOTFOUND);
    CHECK_RC(store_set_x5u(s, "nope", "https://a.example/x"), STI_ENOTFOUND);
    CHECK_RC(store_put_credential(s, "bad name", "k", CHAIN, sizeof CHAIN - 1, NULL), STI_EINVAL);
    CHECK_RC(store_put_credential(s, "a", "k#1", CHAIN, sizeof CHAIN - 1, NULL), STI_EINVAL);
    CHECK_RC(store_put_credential(s, "a", "k", CHAIN, sizeof CHAIN - 1, "http://x.example/"),
             STI_EINVAL);
    CHECK_RC(store_put_credential(s, "a", "k", CHAIN, sizeof CHAIN - 1, NULL), STI_OK);
    CHECK_RC(store_set_x5u(s, "a", "https://a.example/x#frag"), STI_EX5U);
    CHECK_RC(store_set_x5u(s, "a", "https://a.example/x"), STI_OK);
    CHECK_RC(store_retire_credential(s, "a"), STI_OK);
    store_load(s, &st);
    CHECK_INT(st.ncred, 0);
    CHECK(!exists("chains/a.1.pem"));
    cleanup(s);
}

TEST(secrets_are_root_only_and_the_folder_is_0700)
{
    struct store *s = fresh();
    char rec[128];
    CHECK(s);
    CHECK_INT(mode_of(""), 0700);
    CHECK_RC(store_set_pin(s, "1234", 4), STI_OK);
    CHECK_INT(mode_of("pin"), 0600);
    CHECK_RC(store_get_admin_hash(s, rec, sizeof rec), STI_ENOTFOUND);
    CHECK_RC(store_set_admin_hash(s, "scrypt$15$8$1$aa$bb"), STI_OK);
    CHECK_INT(mode_of("admin"), 0600);
    CHECK_RC(store_get_admin_hash(s, rec, sizeof rec), STI_OK);
    CHECK_STR(rec, "scrypt$15$8$1$aa$bb");
    CHECK_RC(store_set_pin(s, "12\n34", 5), STI_EINVAL);
    CHECK_RC(store_audit(s, "admin", "x", "ok"), STI_OK);
    CHECK_INT(mode_of("audit.log"), 0600);
    CHECK_INT(mode_of("chains"), 0700);
    cleanup(s);
}

TEST(audit_appends_whole_lines_and_cleans_control_characters)
{
    struct store *s = fresh();
    char *text = NULL;
    size_t n;
    CHECK(s);
    CHECK_RC(store_audit(s, "admin", "token init t1", "ok"), STI_OK);
    CHECK_RC(store_audit(s, "console", "login\nforged line", "failed"), STI_OK);
    CHECK_RC(store_audit_tail(s, 1 << 16, &text, &n), STI_OK);
    CHECK(strstr(text, "Z admin token init t1: ok\n"));
    CHECK(strstr(text, "Z console login?forged line: failed\n"));
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    CHECK_INT(lines, 2);
    free(text);
    CHECK_RC(store_audit_tail(s, 40, &text, &n), STI_OK); /* whole lines only */
    CHECK(n == 0 || text[0] != 'Z');
    free(text);
    cleanup(s);
}

TEST(wipe_removes_everything_but_the_audit_log)
{
    struct store *s = fresh();
    struct store_state st;
    CHECK(s);
    CHECK_RC(store_set_token(s, "tok"), STI_OK);
    CHECK_RC(store_put_credential(s, "af1", "key1", CHAIN, sizeof CHAIN - 1,
                                  "https://cr.example.com/a.pem"),
             STI_OK);
    CHECK_RC(store_set_pin(s, "1234", 4), STI_OK);
    CHECK_RC(store_set_admin_hash(s, "scrypt$15$8$1$aa$bb"), STI_OK);
    CHECK_RC(store_audit(s, "admin", "factory-reset", "ok"), STI_OK);
    CHECK_RC(store_wipe(s), STI_OK);
    CHECK(!exists("appliance.conf") && !exists("pin") && !exists("admin"));
    CHECK(!exists("chains/af1.2.pem"));
    CHECK(exists("audit.log"));
    store_load(s, &st);
    CHECK(!st.token[0] && st.ncred == 0 && !st.has_pin && !st.has_admin);
    store_close(s);
    CHECK_RC(store_open(dir, &s), STI_OK);
    store_load(s, &st);
    CHECK_INT(st.ncred, 0);
    cleanup(s);
}

CHECK_MAIN(CASE(commits_survive_a_reopen), CASE(appliance_conf_is_what_the_daemon_reads),
           CASE(leftover_temporary_and_orphan_chain_files_are_removed_at_open),
           CASE(a_torn_appliance_conf_is_refused_not_half_read),
           CASE(replacing_a_chain_keeps_the_old_file_until_the_commit),
           CASE(retire_x5u_and_bad_input_give_exact_codes),
           CASE(secrets_are_root_only_and_the_folder_is_0700),
           CASE(audit_appends_whole_lines_and_cleans_control_characters),
           CASE(wipe_removes_everything_but_the_audit_log))
