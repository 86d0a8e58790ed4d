/* verifier.c — STI-VS verification off the I/O loop. */
#define _GNU_SOURCE /* pipe2 */
#include "verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "sti_err.h"

struct vjob {
    struct vjob *next;
    struct rpc_conn_ref conn;
    uint32_t id;
    uint32_t max_age;
    struct pki_vfy_result res;
    size_t n;
    char identity[]; /* NUL-terminated copy */
};

struct verifier {
    struct verifier_cfg cfg;
    verifier_done_fn done;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct vjob *wait_head, *wait_tail, *done_head, *done_tail;
    unsigned queued; /* submitted and not yet completed */
    int stop;
    pthread_t *tid;
    unsigned nthreads;
    int pipefd[2];
    struct event *ev;
};

static void vq_push(struct vjob **head, struct vjob **tail, struct vjob *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct vjob *vq_pop(struct vjob **head, struct vjob **tail)
{
    struct vjob *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
    }
    return j;
}

static void *verifier_thread(void *arg)
{
    struct verifier *v = arg;
    for (;;) {
        pthread_mutex_lock(&v->mu);
        while (!v->stop && !v->wait_head)
            pthread_cond_wait(&v->cv, &v->mu);
        if (v->stop) {
            pthread_mutex_unlock(&v->mu);
            return NULL;
        }
        struct vjob *j = vq_pop(&v->wait_head, &v->wait_tail);
        pthread_mutex_unlock(&v->mu);

        struct pki_vfy_opts o;
        memset(&o, 0, sizeof o);
        o.trust_anchor_file = v->cfg.trust_anchor;
        o.max_age = j->max_age ? (long)j->max_age : (long)v->cfg.max_age;
        o.now = time(NULL);
        o.spc_policy = v->cfg.spc_policy;
        o.cache_dir = v->cfg.cache_dir[0] ? v->cfg.cache_dir : NULL;
        o.tls_ca_file = v->cfg.tls_ca[0] ? v->cfg.tls_ca : NULL;
        o.allow_fetch = v->cfg.allow_fetch;
        pki_verify(j->identity, j->n, &o, &j->res);

        pthread_mutex_lock(&v->mu);
        vq_push(&v->done_head, &v->done_tail, j);
        pthread_mutex_unlock(&v->mu);
        char b = 1;
        while (write(v->pipefd[1], &b, 1) < 0 && errno == EINTR)
            ;
    }
}

/* On the loop: hand every finished verification to the callback. */
static void verifier_drain(evutil_socket_t fd, short what, void *arg)
{
    struct verifier *v = arg;
    char buf[256];
    (void)what;
    while (read(fd, buf, sizeof buf) > 0)
        ;
    for (;;) {
        pthread_mutex_lock(&v->mu);
        struct vjob *j = vq_pop(&v->done_head, &v->done_tail);
        if (j)
            v->queued--;
        pthread_mutex_unlock(&v->mu);
        if (!j)
            return;
        v->done(v->arg, j->conn, j->id, &j->res);
        free(j);
    }
}

int verifier_start(struct event_base *base, const struct verifier_cfg *cfg, verifier_done_fn done,
                   void *arg, struct verifier **out)
{
    struct verifier *v = calloc(1, sizeof *v);
    if (!v)
        return STI_ENOMEM;
    v->cfg = *cfg;
    v->done = done;
    v->arg = arg;
    v->pipefd[0] = v->pipefd[1] = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    if (pipe2(v->pipefd, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    v->ev = event_new(base, v->pipefd[0], EV_READ | EV_PERSIST, verifier_drain, v);
    v->tid = calloc(cfg->threads ? cfg->threads : 1, sizeof *v->tid);
    if (!v->ev || !v->tid || event_add(v->ev, NULL) != 0)
        goto fail;
    for (unsigned i = 0; i < (cfg->threads ? cfg->threads : 1); i++) {
        if (pthread_create(&v->tid[i], NULL, verifier_thread, v) != 0)
            goto fail;
        v->nthreads++;
    }
    *out = v;
    return STI_OK;
fail:
    verifier_free(v);
    return STI_EINTERNAL;
}

void verifier_free(struct verifier *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    v->stop = 1;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    for (unsigned i = 0; i < v->nthreads; i++)
        pthread_join(v->tid[i], NULL);
    struct vjob *j;
    while ((j = vq_pop(&v->wait_head, &v->wait_tail)))
        free(j);
    while ((j = vq_pop(&v->done_head, &v->done_tail)))
        free(j);
    if (v->ev)
        event_free(v->ev);
    if (v->pipefd[0] >= 0)
        close(v->pipefd[0]);
    if (v->pipefd[1] >= 0)
        close(v->pipefd[1]);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v->tid);
    free(v);
}

int verifier_submit(struct verifier *v, struct rpc_conn_ref conn, uint32_t id,
                    const char *identity, size_t n, uint32_t max_age)
{
    if (!v || !v->cfg.trust_anchor[0])
        return STI_ECONFIG;
    if (v->queued >= v->cfg.max_queue)
        return STI_EBUSY;
    struct vjob *j = calloc(1, sizeof *j + n + 1);
    if (!j)
        return STI_ENOMEM;
    j->conn = conn;
    j->id = id;
    j->max_age = max_age;
    j->n = n;
    memcpy(j->identity, identity, n);
    pthread_mutex_lock(&v->mu);
    vq_push(&v->wait_head, &v->wait_tail, j);
    v->queued++;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return STI_OK;
}
