/* test_server.c — the RPC server's listening socket file (firmware/rpc/
 * server.c): it appears at its path with its final mode and group in one
 * step, whatever the caller's umask, and nothing changes it afterwards. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "server.h"
#include "sti_err.h"

static char dir[256], path[300];

static void on_frame(void *arg, struct rpc_conn *c, const struct wire_hdr *h, const uint8_t *body,
                     size_t n)
{
    (void)arg;
    (void)c;
    (void)h;
    (void)body;
    (void)n;
}

static const struct rpc_handler handler = {.on_frame = on_frame};

/* A fresh folder for the socket, under the build's tmp. */
static int fresh_dir(void)
{
    const char *tmp = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    snprintf(dir, sizeof dir, "%s/server-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return 0;
    snprintf(path, sizeof path, "%s/sign.sock", dir);
    return 1;
}

/* Starts a server on path with mode and gid under the caller's umask. */
static int start(struct event_base *base, mode_t mode, gid_t gid, mode_t caller_umask,
                 struct rpc_server **srv)
{
    struct rpc_server_cfg cfg;
    rpc_server_cfg_defaults(&cfg);
    cfg.path = path;
    cfg.mode = mode;
    cfg.gid = gid;
    mode_t old = umask(caller_umask);
    int rc = rpc_server_start(base, &cfg, &handler, srv);
    umask(old);
    return rc;
}

/* Names in dir other than the socket: the private folder must be gone. */
static int leftovers(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "sign.sock");
    if (d)
        closedir(d);
    return n;
}

TEST(socket_appears_with_its_final_mode_and_group_in_one_step)
{
    struct event_base *base = event_base_new();
    struct rpc_server *srv = NULL;
    char ev[4096];
    CHECK(base && fresh_dir());
    /* As root, a group this process is not in; otherwise its own. */
    gid_t gid = geteuid() == 0 ? (gid_t)4242 : getegid();
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    CHECK(in >= 0);
    CHECK(inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) >= 0);
    CHECK_RC(start(base, 0660, gid, 0, &srv), STI_OK);
    /* Everything that happened to the name "sign.sock" in dir: it must
     * arrive (created or moved in) and never change mode or owner after. */
    int arrived = 0, changed_after = 0;
    ssize_t n = read(in, ev, sizeof ev);
    for (ssize_t off = 0; n > 0 && off < n;) {
        const struct inotify_event *e = (const struct inotify_event *)(ev + off);
        if (e->len && strcmp(e->name, "sign.sock") == 0) {
            if (e->mask & (IN_CREATE | IN_MOVED_TO))
                arrived++;
            else if (e->mask & IN_ATTRIB)
                changed_after++;
        }
        off += (ssize_t)sizeof *e + e->len;
    }
    close(in);
    struct stat st;
    CHECK(lstat(path, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_INT(st.st_mode & 07777, 0660);
    CHECK_INT(st.st_gid, gid);
    CHECK_INT(arrived, 1);
    CHECK_INT(changed_after, 0);
    CHECK_INT(leftovers(), 0);
    rpc_server_free(srv);
    CHECK(lstat(path, &st) != 0); /* removed with the server */
    rmdir(dir);
    event_base_free(base);
}

TEST(socket_mode_is_exactly_the_configured_one_whatever_the_umask)
{
    struct event_base *base = event_base_new();
    struct rpc_server *srv = NULL;
    struct stat st;
    CHECK(base && fresh_dir());
    CHECK_RC(start(base, 0600, (gid_t)-1, 0, &srv), STI_OK);
    CHECK(lstat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0600);
    rpc_server_free(srv);
    /* A caller's umask never narrows the configured mode either. */
    CHECK_RC(start(base, 0666, (gid_t)-1, 077, &srv), STI_OK);
    CHECK(lstat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0666);
    rpc_server_free(srv);
    rmdir(dir);
    event_base_free(base);
}

TEST(stale_socket_is_replaced_and_any_other_file_refused)
{
    struct event_base *base = event_base_new();
    struct rpc_server *srv = NULL, *again = NULL;
    struct stat st;
    CHECK(base && fresh_dir());
    CHECK_RC(start(base, 0660, (gid_t)-1, 022, &srv), STI_OK);
    /* Still there (a daemon that died): the next start takes the path. */
    CHECK_RC(start(base, 0660, (gid_t)-1, 022, &again), STI_OK);
    rpc_server_free(again);
    rpc_server_free(srv);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK_RC(start(base, 0660, (gid_t)-1, 022, &srv), STI_ECONFIG);
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode)); /* left alone */
    CHECK_INT(leftovers(), 0);
    unlink(path);
    rmdir(dir);
    event_base_free(base);
}

CHECK_MAIN(CASE(socket_appears_with_its_final_mode_and_group_in_one_step),
           CASE(socket_mode_is_exactly_the_configured_one_whatever_the_umask),
           CASE(stale_socket_is_replaced_and_any_other_file_refused))
