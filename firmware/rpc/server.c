/* server.c — RPC transport on libevent: listener, framing, flow control. */
#define _GNU_SOURCE /* struct ucred */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "sti_err.h"

/* Bytes one read may take: many pipelined frames per wake-up. */
#define RPC_READ_CHUNK 65536
/* Answer buffers are freed once written; one this big is never kept. */
#define RPC_OUT_MIN 4096

struct rpc_conn {
    struct rpc_server *srv;
    int fd;
    struct event *rev;         /* readable: persistent while reading */
    struct event *wev;         /* writable: only while the peer's socket is full */
    struct event *frame_timer; /* a partial frame is waiting (made when first needed) */
    /* Bytes read but not handled: a partial frame, or frames held back
     * while the connection is paused. NULL when there are none. */
    uint8_t *in;
    size_t in_len;
    /* Answers not yet written: out[out_off, out_len). NULL when none. */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    struct rpc_conn *dirty_prev, *dirty_next; /* on the server's flush list */
    uint32_t idx, gen;
    uint32_t pending;
    uint8_t closing;       /* no more reading: free once nothing is owed */
    uint8_t paused;        /* flow control: not reading until it drains */
    uint8_t in_process;    /* inside conn_frames: not freed meanwhile */
    uint8_t dirty;         /* on the flush list */
    uint8_t write_blocked; /* waiting for wev */
    uint8_t accepted;      /* on_accept let it in: on_close is owed */
    struct rpc_peer peer;
    void *udata;
};

struct rpc_server {
    struct event_base *base;
    struct rpc_server_cfg cfg;
    struct rpc_handler h;
    struct evconnlistener *lis;
    char *path;
    struct rpc_conn **slots;
    uint32_t *gens;
    uint32_t *free_idx;
    uint32_t nfree;
    /* Connections with answers queued in this loop pass: written once, at
     * the end of the pass, however many answers each got. */
    struct rpc_conn *dirty;
    struct event *flush_ev;
    uint8_t *rbuf; /* RPC_READ_CHUNK + WIRE_MAX_REQUEST: what a read lands in */
    struct rpc_server_stats st;
};

static void conn_resume(struct rpc_conn *c);
static void conn_write(struct rpc_conn *c);

void rpc_server_cfg_defaults(struct rpc_server_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = 0660;
    cfg->gid = (gid_t)-1;
    cfg->listen_fd = -1;
    cfg->max_conns = 4096;
    cfg->max_pending = 256;
    cfg->max_outbuf = 256 * 1024;
    cfg->frame_timeout_ms = 10000;
    cfg->write_timeout_ms = 30000;
}

static size_t conn_outlen(const struct rpc_conn *c)
{
    return c->out_len - c->out_off;
}

static void dirty_unlink(struct rpc_conn *c)
{
    if (!c->dirty)
        return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        c->srv->dirty = c->dirty_next;
    if (c->dirty_next)
        c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty_prev = c->dirty_next = NULL;
    c->dirty = 0;
}

static void conn_free(struct rpc_conn *c)
{
    struct rpc_server *s = c->srv;
    if (c->accepted && s->h.on_close)
        s->h.on_close(s->h.arg, c);
    dirty_unlink(c);
    s->slots[c->idx] = NULL;
    s->gens[c->idx]++;
    s->free_idx[s->nfree++] = c->idx;
    s->st.conns--;
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->frame_timer)
        event_free(c->frame_timer);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Frees the connection once nothing more is owed to the peer: no request
 * in flight and no answer unsent. Returns 1 when it did. */
static int conn_maybe_free(struct rpc_conn *c)
{
    if (c->closing && !c->in_process && c->pending == 0 && conn_outlen(c) == 0) {
        conn_free(c);
        return 1;
    }
    return 0;
}

static void conn_stop_reading(struct rpc_conn *c)
{
    event_del(c->rev);
    if (c->frame_timer)
        event_del(c->frame_timer);
}

/* Answer a framing error; stop reading; close once every answer owed for
 * earlier requests is out. */
static void conn_fail(struct rpc_conn *c, const struct wire_hdr *h, int code)
{
    uint8_t frame[256];
    struct buf_wr w;
    buf_wr_init(&w, frame, sizeof frame);
    if (wire_error_frame(&w, h ? (uint8_t)(h->op & 0x7f) : 0, h ? h->id : 0, (uint16_t)code,
                         sti_strerror(code)) == STI_OK)
        rpc_conn_send(c, frame, w.off);
    c->closing = 1;
    free(c->in);
    c->in = NULL;
    c->in_len = 0;
    conn_stop_reading(c);
}

static int conn_should_pause(const struct rpc_conn *c)
{
    const struct rpc_server_cfg *cfg = &c->srv->cfg;
    return c->pending >= cfg->max_pending || conn_outlen(c) > cfg->max_outbuf;
}

/* Hands every complete frame of p[0, n) to the handler, stopping early when
 * the connection pauses or closes. Returns the bytes consumed. */
static size_t conn_frames(struct rpc_conn *c, const uint8_t *p, size_t n)
{
    struct rpc_server *s = c->srv;
    size_t off = 0;
    c->in_process = 1;
    while (!c->closing) {
        if (conn_should_pause(c)) {
            if (!c->paused) {
                c->paused = 1;
                event_del(c->rev);
            }
            break;
        }
        if (n - off < WIRE_HDR_LEN)
            break;
        struct wire_hdr h;
        int rc = wire_hdr_decode(p + off, WIRE_MAX_REQUEST, &h);
        if (rc == STI_OK && (h.op & WIRE_RESPONSE_BIT || h.status != 0))
            rc = STI_EPROTO_FRAME;
        if (rc) {
            s->st.framing_errors++;
            c->in_process = 0;
            conn_fail(c, &h, rc);
            return n;
        }
        if (n - off < h.len)
            break;
        s->h.on_frame(s->h.arg, c, &h, p + off + WIRE_HDR_LEN, h.len - WIRE_HDR_LEN);
        off += h.len;
    }
    c->in_process = 0;
    return off;
}

static void conn_frame_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;
    (void)fd;
    (void)what;
    c->srv->st.timeouts++;
    conn_free(c);
}

/* Keeps p[used, n) as the connection's unhandled input, and (re)arms the
 * partial-frame timer: a completed frame restarts it, so a busy client
 * streaming frames is never cut. */
static int conn_keep_rest(struct rpc_conn *c, const uint8_t *p, size_t used, size_t n, int progress)
{
    size_t rest = c->closing ? 0 : n - used;
    if (rest == 0) {
        free(c->in);
        c->in = NULL;
    } else if (p == c->in) { /* the held-back input itself */
        if (used)
            memmove(c->in, c->in + used, rest);
    } else { /* the read buffer: what was kept is in it already */
        uint8_t *keep = realloc(c->in, rest);
        if (!keep)
            return STI_ENOMEM;
        memcpy(keep, p + used, rest);
        c->in = keep;
    }
    c->in_len = rest;
    if (rest && !c->paused) {
        if (!c->frame_timer) {
            c->frame_timer = evtimer_new(c->srv->base, conn_frame_timeout, c);
            if (!c->frame_timer)
                return STI_ENOMEM;
        }
        if (progress)
            event_del(c->frame_timer);
        if (!event_pending(c->frame_timer, EV_TIMEOUT, NULL)) {
            int ms = c->srv->cfg.frame_timeout_ms;
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            event_add(c->frame_timer, &tv);
        }
    } else if (c->frame_timer) {
        event_del(c->frame_timer);
    }
    return STI_OK;
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;
    struct rpc_server *s = c->srv;
    (void)what;
    if (c->closing || c->paused)
        return;
    /* A partial frame kept from the last read goes first; it is shorter
     * than one frame, so it always fits before the chunk. */
    size_t have = c->in_len;
    if (have)
        memcpy(s->rbuf, c->in, have);
    ssize_t r = recv(fd, s->rbuf + have, RPC_READ_CHUNK, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_free(c);
        return;
    }
    if (r == 0) {
        /* Half-close: the peer sent all it will; answer what it asked. */
        c->closing = 1;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
        conn_stop_reading(c);
        conn_maybe_free(c);
        return;
    }
    size_t n = have + (size_t)r;
    size_t used = conn_frames(c, s->rbuf, n);
    if (conn_keep_rest(c, s->rbuf, used, n, used > 0) != STI_OK) {
        conn_free(c);
        return;
    }
    conn_maybe_free(c);
}

/* Frames held back while paused, then reading again. */
static void conn_resume(struct rpc_conn *c)
{
    if (!c->paused || c->closing || conn_should_pause(c))
        return;
    c->paused = 0;
    if (c->in_len) {
        size_t used = conn_frames(c, c->in, c->in_len);
        if (conn_keep_rest(c, c->in, used, c->in_len, used > 0) != STI_OK) {
            conn_free(c);
            return;
        }
        if (conn_maybe_free(c))
            return;
    }
    if (!c->paused && !c->closing)
        event_add(c->rev, NULL);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        /* The peer has read nothing for write_timeout_ms. */
        c->srv->st.timeouts++;
        conn_free(c);
        return;
    }
    conn_write(c);
}

/* Writes what is queued; waits for the socket if it is full. May free c. */
static void conn_write(struct rpc_conn *c)
{
    dirty_unlink(c);
    while (conn_outlen(c)) {
        ssize_t w = send(c->fd, c->out + c->out_off, conn_outlen(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->wev) {
                c->wev = event_new(c->srv->base, c->fd, EV_WRITE, conn_write_cb, c);
                if (!c->wev) {
                    conn_free(c);
                    return;
                }
            }
            int ms = c->srv->cfg.write_timeout_ms;
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            event_add(c->wev, &tv);
            c->write_blocked = 1;
            return;
        }
        if (w <= 0) {
            conn_free(c); /* the peer is gone: nothing more can reach it */
            return;
        }
        c->out_off += (size_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    if (c->write_blocked) {
        event_del(c->wev);
        c->write_blocked = 0;
    }
    if (c->closing)
        conn_maybe_free(c);
    else
        conn_resume(c);
}

/* End of a loop pass: one write per connection that got answers. */
static void server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_server *s = arg;
    (void)fd;
    (void)what;
    while (s->dirty)
        conn_write(s->dirty);
}

static void server_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    struct rpc_server *s = arg;
    (void)lis;
    (void)sa;
    (void)salen;
    if (s->nfree == 0) {
        s->st.refused++;
        close(fd);
        return;
    }
    struct rpc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    c->fd = fd;
    c->srv = s;
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    if (!c->rev) {
        close(fd);
        free(c);
        return;
    }
    c->idx = s->free_idx[--s->nfree];
    c->gen = s->gens[c->idx];
    s->slots[c->idx] = c;
    s->st.conns++;
    s->st.accepted++;

    struct ucred uc;
    socklen_t ulen = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) == 0) {
        c->peer.pid = uc.pid;
        c->peer.uid = uc.uid;
        c->peer.gid = uc.gid;
    } else {
        c->peer.uid = (uid_t)-1;
        c->peer.gid = (gid_t)-1;
    }
    event_add(c->rev, NULL);

    if (s->h.on_accept && s->h.on_accept(s->h.arg, c, &c->peer) != STI_OK) {
        s->st.refused++;
        conn_fail(c, NULL, STI_EDENIED);
        return;
    }
    c->accepted = 1;
}

/* The socket file appears at its path with its final mode and group, never
 * earlier and never wider, and nothing is changed by path after bind:
 *  - bind takes the file's mode from the umask alone (0777 & ~umask), so
 *    the umask is set to give exactly cfg->mode. Nothing can fix the mode
 *    later without a path: on Linux fchmod/fchown on a socket descriptor
 *    succeed but change the socket's own inode, not the file (checked on
 *    6.x), and a chmod/chown by path follows whatever the name points to
 *    by then (a link to /etc/shadow, if others can write the folder).
 *  - The group is set in a private folder made next to the path (mkdtemp,
 *    0700, same file system): bound there, the file is reached by nobody
 *    else, and fchownat on the folder's descriptor, without following
 *    links, can only ever touch the file this process just made there.
 *  - rename then puts the finished file at its path in one step, replacing
 *    a stale socket.
 * The umask is process-wide: it is changed for the bind alone. */
int rpc_server_bind_staged(const struct rpc_server_cfg *cfg, int *out, char *staged, size_t cap)
{
    struct sockaddr_un sa;
    struct stat st;
    char dir[sizeof sa.sun_path];
    int fd = -1, dfd = -1, rc, made_dir = 0, bound = 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    STI_CHECK(cfg->path && strlen(cfg->path) < sizeof sa.sun_path, STI_ECONFIG);
    /* Replace a stale socket, never any other kind of file. */
    if (lstat(cfg->path, &st) == 0)
        STI_CHECK(S_ISSOCK(st.st_mode), STI_ECONFIG);
    /* The private folder's name and "/s" must fit sun_path too. */
    const char *slash = strrchr(cfg->path, '/');
    int dlen = slash ? (int)(slash - cfg->path) + 1 : 0;
    STI_CHECK(snprintf(dir, sizeof dir, "%.*s.stisign-XXXXXX", dlen, cfg->path) < (int)sizeof dir,
              STI_ECONFIG);
    STI_CHECK(strlen(dir) < cap, STI_ETOOLONG);
    STI_CHECK(mkdtemp(dir) != NULL, STI_EIO);
    made_dir = 1;
    STI_CHECK(snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s", dir) < (int)sizeof sa.sun_path,
              STI_ECONFIG);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    STI_CHECK(dfd >= 0, STI_EIO);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    STI_CHECK(fd >= 0, STI_EIO);
    mode_t old = umask(~cfg->mode & 0777);
    int b = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    STI_CHECK(b == 0, STI_EIO);
    bound = 1;
    if (cfg->gid != (gid_t)-1)
        STI_CHECK(fchownat(dfd, "s", (uid_t)-1, cfg->gid, AT_SYMLINK_NOFOLLOW) == 0, STI_EIO);
    memcpy(staged, dir, strlen(dir) + 1);
    bound = made_dir = 0; /* the caller publishes or unstages it */
    *out = fd;
    fd = -1;
    rc = STI_OK;
out:
    if (bound)
        unlinkat(dfd, "s", 0);
    if (dfd >= 0)
        close(dfd);
    if (made_dir)
        rmdir(dir);
    if (fd >= 0)
        close(fd);
    return rc;
}

int rpc_server_publish(const char *staged, const char *path)
{
    char from[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    snprintf(from, sizeof from, "%s/s", staged);
    int rc = rename(from, path) == 0 ? STI_OK : STI_EIO;
    if (rc)
        unlink(from);
    rmdir(staged);
    return rc;
}

void rpc_server_unstage(const char *staged)
{
    char from[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    snprintf(from, sizeof from, "%s/s", staged);
    unlink(from);
    rmdir(staged);
}

int rpc_server_bind(const struct rpc_server_cfg *cfg, int *out)
{
    char staged[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int rc = rpc_server_bind_staged(cfg, out, staged, sizeof staged);
    if (rc == STI_OK && (rc = rpc_server_publish(staged, cfg->path)) != STI_OK) {
        close(*out);
        *out = -1;
    }
    return rc;
}

int rpc_server_start(struct event_base *base, const struct rpc_server_cfg *cfg,
                     const struct rpc_handler *h, struct rpc_server **out)
{
    int rc, fd = -1;
    struct rpc_server *s = calloc(1, sizeof *s);
    STI_CHECK(s, STI_ENOMEM);
    s->base = base;
    s->cfg = *cfg;
    s->h = *h;
    STI_CHECK(cfg->max_conns > 0 && cfg->max_pending > 0, STI_ECONFIG);
    s->slots = calloc(cfg->max_conns, sizeof *s->slots);
    s->gens = calloc(cfg->max_conns, sizeof *s->gens);
    s->free_idx = calloc(cfg->max_conns, sizeof *s->free_idx);
    s->rbuf = malloc(RPC_READ_CHUNK + WIRE_MAX_REQUEST);
    s->flush_ev = event_new(base, -1, 0, server_flush_cb, s);
    STI_CHECK(s->slots && s->gens && s->free_idx && s->rbuf && s->flush_ev, STI_ENOMEM);
    for (uint32_t i = 0; i < cfg->max_conns; i++)
        s->free_idx[s->nfree++] = cfg->max_conns - 1 - i;
    if (cfg->listen_fd >= 0) {
        fd = cfg->listen_fd;
        evutil_make_socket_nonblocking(fd);
    } else {
        STI_TRY(rpc_server_bind(cfg, &fd));
        s->path = strdup(cfg->path);
        STI_CHECK(s->path, STI_ENOMEM);
    }
    /* CLOSE_ON_EXEC: libevent then accepts with SOCK_CLOEXEC. Without it
     * every open client socket leaked into HSM workers spawned later (a
     * reload, a replacement): key-holding processes held network sockets,
     * and a connection the server closed stayed open for the client. */
    s->lis = evconnlistener_new(base, server_accept_cb, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024, fd);
    STI_CHECK(s->lis, STI_EIO);
    fd = -1;
    *out = s;
    s = NULL;
    rc = STI_OK;
out:
    if (fd >= 0 && (!cfg || fd != cfg->listen_fd))
        close(fd);
    if (s)
        rpc_server_free(s);
    return rc;
}

void rpc_server_free(struct rpc_server *s)
{
    if (!s)
        return;
    if (s->lis)
        evconnlistener_free(s->lis);
    for (uint32_t i = 0; s->slots && i < s->cfg.max_conns; i++)
        if (s->slots[i])
            conn_free(s->slots[i]);
    if (s->path) {
        unlink(s->path);
        free(s->path);
    }
    if (s->flush_ev)
        event_free(s->flush_ev);
    free(s->slots);
    free(s->gens);
    free(s->free_idx);
    free(s->rbuf);
    free(s);
}

void rpc_server_stop_accepting(struct rpc_server *s)
{
    if (s->lis) {
        evconnlistener_free(s->lis);
        s->lis = NULL;
    }
    if (s->path) {
        unlink(s->path);
        free(s->path);
        s->path = NULL;
    }
}

size_t rpc_server_unsent(const struct rpc_server *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->cfg.max_conns; i++)
        if (s->slots[i])
            n += conn_outlen(s->slots[i]);
    return n;
}

int rpc_conn_send(struct rpc_conn *c, const void *frame, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        /* Written bytes at the front are dropped before growing. */
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, conn_outlen(c));
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : RPC_OUT_MIN;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap != c->out_cap) {
            uint8_t *p = realloc(c->out, cap);
            if (!p)
                return STI_ENOMEM;
            c->out = p;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, frame, n);
    c->out_len += n;
    if (!c->dirty && !c->write_blocked) {
        struct rpc_server *s = c->srv;
        c->dirty = 1;
        c->dirty_prev = NULL;
        c->dirty_next = s->dirty;
        if (s->dirty)
            s->dirty->dirty_prev = c;
        s->dirty = c;
        if (!event_pending(s->flush_ev, EV_TIMEOUT, NULL))
            event_active(s->flush_ev, EV_TIMEOUT, 0);
    }
    return STI_OK;
}

void rpc_conn_close(struct rpc_conn *c)
{
    /* The input buffer goes when conn_frames returns (conn_keep_rest keeps
     * nothing of a closing connection): it may be what is being read. */
    c->closing = 1;
    conn_stop_reading(c);
}

void rpc_conn_hold(struct rpc_conn *c)
{
    c->pending++;
}

void rpc_conn_release(struct rpc_conn *c)
{
    if (c->pending)
        c->pending--;
    if (c->closing)
        conn_maybe_free(c); /* c may be gone after this */
    else if (!c->in_process)
        conn_resume(c);
}

struct rpc_conn_ref rpc_conn_ref(const struct rpc_conn *c)
{
    struct rpc_conn_ref r = {c->idx, c->gen};
    return r;
}

struct rpc_conn *rpc_conn_get(struct rpc_server *s, struct rpc_conn_ref ref)
{
    if (ref.idx >= s->cfg.max_conns || s->gens[ref.idx] != ref.gen)
        return NULL;
    return s->slots[ref.idx];
}

const struct rpc_peer *rpc_conn_peer(const struct rpc_conn *c)
{
    return &c->peer;
}

void rpc_conn_set_udata(struct rpc_conn *c, void *p)
{
    c->udata = p;
}

void *rpc_conn_udata(const struct rpc_conn *c)
{
    return c->udata;
}

void rpc_server_stats(const struct rpc_server *s, struct rpc_server_stats *st)
{
    *st = s->st;
}
