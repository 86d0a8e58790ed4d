/*
 * systemd.h — the two systemd protocols stisignd speaks, without libsystemd:
 *
 *   systemd_listen_fd   socket activation: when LISTEN_PID is this process
 *                       and LISTEN_FDS >= 1, fd 3 is the listening socket
 *                       (the variables are then removed from the
 *                       environment, so the HSM workers never see them)
 *   systemd_notify      sd_notify: one datagram ("READY=1", "STATUS=...",
 *                       "WATCHDOG=1", "STOPPING=1") to $NOTIFY_SOCKET, a
 *                       path or an abstract name ('@'); no-op when unset
 *   systemd_watchdog_usec  $WATCHDOG_USEC when $WATCHDOG_PID is unset or
 *                       this process; 0 when the watchdog is off
 *
 * Conventions: loop thread only; the notify socket is opened on first use
 * and kept (close-on-exec). Failures are silent: systemd is optional.
 */
#ifndef STI_SYSTEMD_H
#define STI_SYSTEMD_H

#include <stdint.h>

int systemd_listen_fd(void);
void systemd_notify(const char *msg);
uint64_t systemd_watchdog_usec(void);
void systemd_close(void);

#endif
