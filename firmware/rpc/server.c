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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "sti_err.h"

struct rpc_conn {
    struct rpc_server *srv;
    struct bufferevent *bev;
    struct event *frame_timer;
    uint32_t idx, gen;
    uint32_t pending;
    int closing;
    int paused;
    int in_process;
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
    struct rpc_server_stats st;
};

static void conn_process(struct rpc_conn *c);

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

static size_t conn_outlen(struct rpc_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void conn_free(struct rpc_conn *c)
{
    struct rpc_server *s = c->srv;
    s->slots[c->idx] = NULL;
    s->gens[c->idx]++;
    s->free_idx[s->nfree++] = c->idx;
    s->st.conns--;
    if (c->frame_timer)
        event_free(c->frame_timer);
    bufferevent_free(c->bev);
    free(c);
}

/* Frees the connection once nothing more is owed to the peer: no request
 * in flight and no answer unsent. */
static void conn_maybe_free(struct rpc_conn *c)
{
    if (c->closing && c->pending == 0 && conn_outlen(c) == 0)
        conn_free(c);
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
        bufferevent_write(c->bev, frame, w.off);
    c->closing = 1;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_disable(c->bev, EV_READ);
    if (c->frame_timer)
        event_del(c->frame_timer);
}

static int conn_should_pause(struct rpc_conn *c)
{
    const struct rpc_server_cfg *cfg = &c->srv->cfg;
    return c->pending >= cfg->max_pending || conn_outlen(c) > cfg->max_outbuf;
}

static void conn_pause(struct rpc_conn *c)
{
    if (!c->paused) {
        c->paused = 1;
        bufferevent_disable(c->bev, EV_READ);
    }
}

static void conn_resume(struct rpc_conn *c)
{
    if (c->paused && !c->closing && !conn_should_pause(c)) {
        c->paused = 0;
        bufferevent_enable(c->bev, EV_READ);
        conn_process(c);
    }
}

/* Handles every complete frame in the input buffer, then arms the partial
 * frame timer if bytes of an incomplete frame remain. */
static void conn_process(struct rpc_conn *c)
{
    struct rpc_server *s = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->in_process)
        return;
    c->in_process = 1;
    int progress = 0;
    while (!c->closing) {
        if (conn_should_pause(c)) {
            conn_pause(c);
            break;
        }
        size_t len = evbuffer_get_length(in);
        if (len < WIRE_HDR_LEN)
            break;
        uint8_t hb[WIRE_HDR_LEN];
        struct wire_hdr h;
        evbuffer_copyout(in, hb, sizeof hb);
        int rc = wire_hdr_decode(hb, WIRE_MAX_REQUEST, &h);
        if (rc == STI_OK && (h.op & WIRE_RESPONSE_BIT || h.status != 0))
            rc = STI_EPROTO_FRAME;
        if (rc) {
            s->st.framing_errors++;
            conn_fail(c, &h, rc);
            break;
        }
        if (len < h.len)
            break;
        const uint8_t *frame = evbuffer_pullup(in, h.len);
        s->h.on_frame(s->h.arg, c, &h, frame + WIRE_HDR_LEN, h.len - WIRE_HDR_LEN);
        evbuffer_drain(in, h.len);
        progress = 1;
    }
    c->in_process = 0;
    /* The timer measures how long one frame takes to arrive: a completed
     * frame restarts it, so a busy client streaming frames is never cut. */
    if (c->frame_timer) {
        if (progress)
            event_del(c->frame_timer);
        if (!c->closing && evbuffer_get_length(in) > 0 && !c->paused) {
            if (!event_pending(c->frame_timer, EV_TIMEOUT, NULL)) {
                struct timeval tv = {c->srv->cfg.frame_timeout_ms / 1000,
                                     (c->srv->cfg.frame_timeout_ms % 1000) * 1000};
                event_add(c->frame_timer, &tv);
            }
        } else {
            event_del(c->frame_timer);
        }
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *c = arg;
    (void)bev;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    conn_resume(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_TIMEOUT)
        c->srv->st.timeouts++;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        conn_free(c);
    } else if (what & BEV_EVENT_EOF) {
        /* Half-close: the peer sent all it will; answer what it asked. */
        c->closing = 1;
        if (c->frame_timer)
            event_del(c->frame_timer);
        conn_maybe_free(c);
    }
}

static void conn_frame_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;
    (void)fd;
    (void)what;
    c->srv->st.timeouts++;
    conn_free(c);
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
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->frame_timer = evtimer_new(s->base, conn_frame_timeout, c);
    if (!c->bev || !c->frame_timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->frame_timer)
            event_free(c->frame_timer);
        free(c);
        return;
    }
    c->srv = s;
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

    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, s->cfg.max_outbuf / 2, 0);
    struct timeval wt = {s->cfg.write_timeout_ms / 1000, (s->cfg.write_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);

    if (s->h.on_accept) {
        if (s->h.on_accept(s->h.arg, c, &c->peer) != STI_OK) {
            s->st.refused++;
            conn_fail(c, NULL, STI_EDENIED);
        }
    }
}

static int server_bind(const struct rpc_server_cfg *cfg, int *out)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd = -1, rc;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    STI_CHECK(cfg->path && strlen(cfg->path) < sizeof sa.sun_path, STI_ECONFIG);
    strcpy(sa.sun_path, cfg->path);
    /* Replace a stale socket, never any other kind of file. */
    if (lstat(cfg->path, &st) == 0) {
        STI_CHECK(S_ISSOCK(st.st_mode), STI_ECONFIG);
        unlink(cfg->path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    STI_CHECK(fd >= 0, STI_EIO);
    /* Create the file with no access, then open it up to exactly mode. */
    mode_t old = umask(0777);
    int b = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    STI_CHECK(b == 0, STI_EIO);
    if (cfg->gid != (gid_t)-1)
        STI_CHECK(chown(cfg->path, (uid_t)-1, cfg->gid) == 0, STI_EIO);
    STI_CHECK(chmod(cfg->path, cfg->mode) == 0, STI_EIO);
    *out = fd;
    fd = -1;
    rc = STI_OK;
out:
    if (fd >= 0)
        close(fd);
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
    STI_CHECK(s->slots && s->gens && s->free_idx, STI_ENOMEM);
    for (uint32_t i = 0; i < cfg->max_conns; i++)
        s->free_idx[s->nfree++] = cfg->max_conns - 1 - i;
    if (cfg->listen_fd >= 0) {
        fd = cfg->listen_fd;
        evutil_make_socket_nonblocking(fd);
    } else {
        STI_TRY(server_bind(cfg, &fd));
        s->path = strdup(cfg->path);
        STI_CHECK(s->path, STI_ENOMEM);
    }
    s->lis = evconnlistener_new(base, server_accept_cb, s, LEV_OPT_CLOSE_ON_FREE, 1024, fd);
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
    free(s->slots);
    free(s->gens);
    free(s->free_idx);
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
    return bufferevent_write(c->bev, frame, n) == 0 ? STI_OK : STI_ENOMEM;
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
    else
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
