/*
 * front.h — the front process (front.c): the listeners, the RPC and HTTP
 * servers, the HSM worker pool's I/O side, the verify client; unprivileged.
 */
#ifndef STI_FRONT_H
#define STI_FRONT_H

/* ctl: the control channel to the parent. Returns the process exit code. */
int front_main(const char *cfgpath, int ctl);

#endif
