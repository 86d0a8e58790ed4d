/* client.c — libstisign: connection, blocking and pipelined calls. */
#include "stisign.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sti_err.h"
#include "wire.h"

#define CLIENT_OUT_CAP (256 * 1024)
#define CLIENT_IN_CAP (2 * WIRE_MAX_RESPONSE)

struct stisign_client {
    int fd;
    int nonblocking;
    uint32_t next_id;
    char *path;
    uint8_t *out;
    size_t out_len;
    uint8_t *in;
    size_t in_off, in_len; /* unread answers: in[in_off, in_len) */
};

static int client_open(const char *path, int *fd_out)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return STI_EINVAL;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return STI_EIO;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return STI_ECLOSED;
    }
    *fd_out = fd;
    return STI_OK;
}

int stisign_connect(const char *socket_path, struct stisign_client **out)
{
    int rc;
    struct stisign_client *c = calloc(1, sizeof *c);
    STI_CHECK(c, STI_ENOMEM);
    c->fd = -1;
    c->next_id = 1;
    c->path = strdup(socket_path);
    c->out = malloc(CLIENT_OUT_CAP);
    c->in = malloc(CLIENT_IN_CAP);
    STI_CHECK(c->path && c->out && c->in, STI_ENOMEM);
    STI_TRY(client_open(socket_path, &c->fd));
    *out = c;
    c = NULL;
out:
    stisign_close(c);
    return rc;
}

void stisign_close(struct stisign_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->path);
    free(c->out);
    free(c->in);
    free(c);
}

int stisign_fd(const struct stisign_client *c)
{
    return c->fd;
}

int stisign_set_nonblocking(struct stisign_client *c)
{
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return STI_EIO;
    c->nonblocking = 1;
    return STI_OK;
}

static int client_reconnect(struct stisign_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->out_len = c->in_off = c->in_len = 0;
    int rc = client_open(c->path, &c->fd);
    if (rc == STI_OK && c->nonblocking)
        rc = stisign_set_nonblocking(c);
    return rc;
}

const char *stisign_strerror(int code)
{
    return sti_strerror(code);
}

/* Appends one request frame to the output queue. */
/* req is the op's request struct (wire_sign_req or wire_verify_req), or
 * NULL for ops without fields. */
static int client_queue(struct stisign_client *c, uint8_t op, const void *req, uint32_t *id)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, c->out + c->out_len, CLIENT_OUT_CAP - c->out_len);
    uint32_t rid = c->next_id++;
    if ((rc = wire_frame_begin(&w, op, 0, rid)))
        return rc == STI_ETOOLONG ? STI_EBUSY : rc;
    if (req && op == WIRE_OP_SIGN && (rc = wire_sign_req_encode(&w, req)))
        return rc == STI_ETOOLONG && c->out_len ? STI_EBUSY : rc;
    if (req && op == WIRE_OP_VERIFY && (rc = wire_verify_req_encode(&w, req)))
        return rc;
    if (w.off > WIRE_MAX_REQUEST)
        return STI_ETOOLONG;
    if ((rc = wire_frame_end(&w)))
        return rc;
    c->out_len += w.off;
    if (id)
        *id = rid;
    return STI_OK;
}

static int client_sign_req(const struct stisign_sign_args *a, struct wire_sign_req *req)
{
    memset(req, 0, sizeof *req);
    if (!a->orig || !a->dest || a->ndest == 0)
        return STI_EPROTO_MISSING;
    if (a->ndest > PP_MAX_DEST)
        return STI_ETOOMANY;
    if (strlen(a->orig) > WIRE_STR_MAX)
        return STI_ETN;
    strcpy(req->orig, a->orig);
    for (unsigned i = 0; i < a->ndest; i++) {
        if (!a->dest[i] || strlen(a->dest[i]) > WIRE_STR_MAX)
            return STI_ETN;
        strcpy(req->dest[i], a->dest[i]);
    }
    req->ndest = a->ndest;
    req->attest = a->attest;
    if (a->origid) {
        if (strlen(a->origid) >= sizeof req->origid)
            return STI_EORIGID;
        strcpy(req->origid, a->origid);
        req->has_origid = 1;
    }
    if (a->iat) {
        if (a->iat < 0)
            return STI_EIAT;
        req->iat = (uint64_t)a->iat;
        req->has_iat = 1;
    }
    return STI_OK;
}

int stisign_submit_sign(struct stisign_client *c, const struct stisign_sign_args *a, uint32_t *id)
{
    struct wire_sign_req req;
    int rc = client_sign_req(a, &req);
    if (rc)
        return rc;
    return client_queue(c, WIRE_OP_SIGN, &req, id);
}

int stisign_flush(struct stisign_client *c)
{
    size_t off = 0;
    int rc = STI_OK;
    while (off < c->out_len) {
        ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* Non-blocking: keep the rest for the caller's next flush
                 * (when the socket is writable); it must go on reading
                 * answers meanwhile, or both sides wait on each other. */
                if (c->nonblocking)
                    break;
                struct pollfd p = {c->fd, POLLOUT, 0};
                poll(&p, 1, 1000);
                continue;
            }
            rc = STI_ECLOSED;
            break;
        }
        off += (size_t)n;
    }
    if (rc == STI_OK) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    return rc;
}

size_t stisign_unsent(const struct stisign_client *c)
{
    return c->out_len;
}

int stisign_read(struct stisign_client *c)
{
    /* Answers already taken leave room once per read, not per answer. */
    if (c->in_off) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == CLIENT_IN_CAP)
        return STI_OK; /* caller must take answers first */
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, CLIENT_IN_CAP - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            return STI_OK;
        }
        if (n == 0)
            return STI_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return STI_OK;
        return STI_ECLOSED;
    }
}

/* Only the MESSAGE of an answer whose fields another decoder reads. */
static int client_decode_message(const uint8_t *body, size_t n, struct stisign_result *r)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end;
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        if (f.tag == WIRE_T_MESSAGE && (rc = wire_field_str(&f, r->message, sizeof r->message)))
            return rc;
    }
}

static int client_decode_sign(const uint8_t *body, size_t n, struct stisign_result *r)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end;
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        switch (f.tag) {
        case WIRE_T_MESSAGE:
            rc = wire_field_str(&f, r->message, sizeof r->message);
            break;
        case WIRE_T_IDENTITY:
            rc = wire_field_str(&f, r->identity, sizeof r->identity);
            break;
        case WIRE_T_CRED:
            rc = wire_field_str(&f, r->cred, sizeof r->cred);
            break;
        case WIRE_T_USED_ORIGID:
            rc = wire_field_str(&f, r->origid, sizeof r->origid);
            break;
        case WIRE_T_USED_IAT: {
            uint64_t v;
            rc = wire_field_u64(&f, &v);
            r->iat = (long long)v;
            break;
        }
        default:
            /* New optional fields are skipped; a must-understand one that
             * this client does not know means it cannot read the answer. */
            rc = (f.tag & WIRE_TAG_OPTIONAL) ? STI_OK : STI_EPROTO_FIELD;
        }
        if (rc)
            return rc;
    }
}

/* Pops one complete frame from the input buffer into r (sign fields and
 * message decoded); the body is also copied to frame_copy for other ops. */
static int client_take_frame(struct stisign_client *c, struct stisign_result *r, int *got,
                             uint8_t *frame_copy, size_t *frame_len, size_t copy_cap)
{
    struct wire_hdr h;
    const uint8_t *in = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    *got = 0;
    if (avail < WIRE_HDR_LEN)
        return STI_OK;
    int rc = wire_hdr_decode(in, WIRE_MAX_RESPONSE, &h);
    if (rc)
        return rc;
    if (avail < h.len)
        return STI_OK;
    /* Each string emptied, not the whole result (about 5 KB) per answer. */
    r->message[0] = r->identity[0] = r->cred[0] = r->origid[0] = '\0';
    r->iat = 0;
    r->id = h.id;
    r->op = (uint8_t)(h.op & ~WIRE_RESPONSE_BIT);
    r->status = h.status;
    size_t blen = h.len - WIRE_HDR_LEN;
    if (frame_copy) {
        if (blen > copy_cap)
            return STI_ETOOLONG;
        memcpy(frame_copy, in + WIRE_HDR_LEN, blen);
        *frame_len = blen;
    }
    /* Sign answers are decoded here; other ops' fields by their callers. */
    rc = r->op == WIRE_OP_SIGN ? client_decode_sign(in + WIRE_HDR_LEN, blen, r)
                               : client_decode_message(in + WIRE_HDR_LEN, blen, r);
    c->in_off += h.len;
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (rc)
        return rc;
    if (r->status && !r->message[0])
        strcpy(r->message, sti_strerror(r->status));
    *got = 1;
    return STI_OK;
}

int stisign_take(struct stisign_client *c, struct stisign_result *r, int *got)
{
    return client_take_frame(c, r, got, NULL, NULL, 0);
}

/* One blocking round trip; reconnects and resends once if the connection
 * was lost before the answer. body receives the answer's fields. */
static int client_call(struct stisign_client *c, uint8_t op, const void *req,
                       struct stisign_result *r, uint8_t *body, size_t *blen, size_t cap)
{
    int rc = STI_OK;
    if (c->nonblocking)
        return STI_EINVAL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt && (rc = client_reconnect(c)))
            return rc;
        uint32_t id;
        if (attempt == 0 && (rc = client_queue(c, op, req, &id)))
            return rc;
        if (attempt && (rc = client_queue(c, op, req, &id)))
            return rc;
        if ((rc = stisign_flush(c)))
            continue;
        for (;;) {
            int got;
            if ((rc = client_take_frame(c, r, &got, body, blen, cap)))
                return rc;
            if (got && r->id == id)
                return STI_OK;
            if (got)
                continue; /* an answer to an earlier pipelined request */
            if ((rc = stisign_read(c)))
                break;
        }
    }
    return rc;
}

int stisign_sign(struct stisign_client *c, const struct stisign_sign_args *a,
                 struct stisign_result *r)
{
    struct wire_sign_req req;
    int rc = client_sign_req(a, &req);
    if (rc)
        return rc;
    return client_call(c, WIRE_OP_SIGN, &req, r, NULL, NULL, 0);
}

static int client_u64(const struct wire_field *f, uint64_t *v)
{
    return wire_field_u64(f, v);
}

int stisign_health(struct stisign_client *c, struct stisign_health *h)
{
    uint8_t body[1024];
    struct stisign_result *r = malloc(sizeof *r);
    size_t blen = 0;
    if (!r)
        return STI_ENOMEM;
    int rc = client_call(c, WIRE_OP_HEALTH, NULL, r, body, &blen, sizeof body);
    if (!rc && r->status)
        rc = r->status;
    free(r);
    if (rc)
        return rc;
    memset(h, 0, sizeof *h);
    struct buf_rd rd;
    struct wire_field f;
    int end;
    buf_rd_init(&rd, body, blen);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        uint8_t u8;
        uint16_t u16;
        switch (f.tag) {
        case WIRE_T_STATE:
            rc = wire_field_u8(&f, &u8);
            h->state = u8;
            break;
        case WIRE_T_WORKERS:
            rc = wire_field_u32(&f, &h->workers);
            break;
        case WIRE_T_WORKERS_READY:
            rc = wire_field_u32(&f, &h->workers_ready);
            break;
        case WIRE_T_CREDS_VALID:
            rc = wire_field_u32(&f, &h->creds_valid);
            break;
        case WIRE_T_IN_FLIGHT:
            rc = wire_field_u32(&f, &h->in_flight);
            break;
        case WIRE_T_SIGNED:
            rc = client_u64(&f, &h->signed_ok);
            break;
        case WIRE_T_FAILED:
            rc = client_u64(&f, &h->failed);
            break;
        case WIRE_T_UPTIME:
            rc = client_u64(&f, &h->uptime);
            break;
        case WIRE_T_HSM_ERRORS:
            rc = client_u64(&f, &h->hsm_errors);
            break;
        case WIRE_T_LAST_HSM_ERROR:
            rc = wire_field_u16(&f, &u16);
            h->last_hsm_error = u16;
            break;
        case WIRE_T_VERSION:
            rc = wire_field_str(&f, h->version, sizeof h->version);
            break;
        case WIRE_T_REASON:
            rc = wire_field_str(&f, h->reason, sizeof h->reason);
            break;
        default:
            rc = STI_OK;
        }
        if (rc)
            return rc;
    }
}

static int client_decode_cred(struct buf_rd *rd, struct stisign_cred *c)
{
    struct wire_field f;
    int rc, end;
    memset(c, 0, sizeof *c);
    for (;;) {
        if ((rc = wire_field_next(rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        uint64_t v;
        uint8_t u8;
        switch (f.tag) {
        case WIRE_T_C_LABEL:
            rc = wire_field_str(&f, c->label, sizeof c->label);
            break;
        case WIRE_T_C_X5U:
            rc = wire_field_str(&f, c->x5u, sizeof c->x5u);
            break;
        case WIRE_T_C_SUBJECT:
            rc = wire_field_str(&f, c->subject, sizeof c->subject);
            break;
        case WIRE_T_C_SCOPE:
            rc = wire_field_str(&f, c->scope, sizeof c->scope);
            break;
        case WIRE_T_C_NOT_BEFORE:
            rc = client_u64(&f, &v);
            c->not_before = (long long)v;
            break;
        case WIRE_T_C_NOT_AFTER:
            rc = client_u64(&f, &v);
            c->not_after = (long long)v;
            break;
        case WIRE_T_C_STATE:
            rc = wire_field_u8(&f, &u8);
            c->state = u8;
            break;
        case WIRE_T_C_SIGNED:
            rc = client_u64(&f, &c->signed_ok);
            break;
        default:
            rc = STI_OK;
        }
        if (rc)
            return rc;
    }
}

static int client_decode_creds(const uint8_t *body, size_t blen, struct stisign_cred *out,
                               size_t max, size_t *n)
{
    int rc;
    struct buf_rd rd;
    struct wire_field f;
    int end;
    *n = 0;
    buf_rd_init(&rd, body, blen);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        if (f.tag != WIRE_T_CRED_ENTRY)
            continue;
        if (*n == max)
            return STI_ETOOMANY;
        struct buf_rd sub;
        buf_rd_init(&sub, f.v, f.len);
        if ((rc = client_decode_cred(&sub, &out[*n])))
            return rc;
        (*n)++;
    }
}

int stisign_list_creds(struct stisign_client *c, struct stisign_cred *out, size_t max, size_t *n)
{
    uint8_t *body = malloc(WIRE_MAX_RESPONSE);
    struct stisign_result *r = malloc(sizeof *r);
    size_t blen = 0;
    int rc = body && r ? client_call(c, WIRE_OP_LIST_CREDS, NULL, r, body, &blen, WIRE_MAX_RESPONSE)
                       : STI_ENOMEM;
    if (!rc && r->status)
        rc = r->status;
    free(r);
    if (!rc)
        rc = client_decode_creds(body, blen, out, max, n);
    free(body);
    return rc;
}

static int client_decode_verify(const uint8_t *body, size_t n, struct stisign_verify_result *v)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end;
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        uint8_t u8;
        uint64_t u64;
        switch (f.tag) {
        case WIRE_T_MESSAGE:
            rc = wire_field_str(&f, v->message, sizeof v->message);
            break;
        case WIRE_T_V_CHECK:
            rc = wire_field_str(&f, v->check, sizeof v->check);
            break;
        case WIRE_T_V_DETAIL:
            rc = wire_field_str(&f, v->detail, sizeof v->detail);
            break;
        case WIRE_T_V_ATTEST:
            rc = wire_field_u8(&f, &u8);
            v->attest = (char)u8;
            break;
        case WIRE_T_V_ORIG:
            rc = wire_field_str(&f, v->orig, sizeof v->orig);
            break;
        case WIRE_T_V_DEST:
            if (v->ndest == 16)
                return STI_ETOOMANY;
            rc = wire_field_str(&f, v->dest[v->ndest], sizeof v->dest[0]);
            v->ndest += rc == STI_OK;
            break;
        case WIRE_T_V_IAT:
            rc = wire_field_u64(&f, &u64);
            v->iat = (long long)u64;
            break;
        case WIRE_T_V_ORIGID:
            rc = wire_field_str(&f, v->origid, sizeof v->origid);
            break;
        case WIRE_T_V_X5U:
            rc = wire_field_str(&f, v->x5u, sizeof v->x5u);
            break;
        case WIRE_T_V_SUBJECT:
            rc = wire_field_str(&f, v->subject, sizeof v->subject);
            break;
        case WIRE_T_V_REVOCATION:
            rc = wire_field_u8(&f, &u8);
            v->revocation = u8;
            break;
        default:
            rc = (f.tag & WIRE_TAG_OPTIONAL) ? STI_OK : STI_EPROTO_FIELD;
        }
        if (rc)
            return rc;
    }
}

int stisign_verify(struct stisign_client *c, const char *identity, unsigned max_age,
                   struct stisign_verify_result *v)
{
    struct wire_verify_req *req = calloc(1, sizeof *req);
    uint8_t *body = malloc(8192);
    struct stisign_result *r = malloc(sizeof *r);
    size_t blen = 0, n = identity ? strlen(identity) : 0;
    int rc = STI_ENOMEM;
    memset(v, 0, sizeof *v);
    if (!req || !body || !r)
        goto out;
    rc = STI_ETOOLONG;
    if (n == 0 || n > WIRE_V_IDENTITY_MAX)
        goto out;
    memcpy(req->identity, identity, n);
    req->identity_len = n;
    req->max_age = max_age;
    req->has_max_age = max_age != 0;
    rc = client_call(c, WIRE_OP_VERIFY, req, r, body, &blen, 8192);
    if (!rc) {
        v->status = r->status;
        rc = client_decode_verify(body, blen, v);
    }
out:
    free(req);
    free(body);
    free(r);
    return rc;
}
