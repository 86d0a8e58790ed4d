/*
 * privsep.h — each stisignd process confines itself to its role
 * (docs/architecture.md) through the board's sandbox hook (bsp.h):
 *
 *   role       user           root            dumpable  seccomp list
 *   worker     (kept: root)   (kept)          no        worker
 *   keys       (kept: root)   (kept)          no        keys
 *   front      cfg->user      cfg->sandbox_root yes     front
 *   verifier   cfg->user      cfg->sandbox_root yes     verifier
 *   console    cfg->user      (kept)          yes       console
 *
 * Started as root, a process drops to its user; started by someone else it
 * cannot, keeps its uid and says so once (a developer's run). The empty
 * root is made if missing (root-owned, 0755, nothing in it).
 */
#ifndef STI_PRIVSEP_H
#define STI_PRIVSEP_H

#include "config.h"

enum privsep_role {
    PRIVSEP_WORKER,
    PRIVSEP_KEYS,
    PRIVSEP_FRONT,
    PRIVSEP_VERIFIER,
    PRIVSEP_CONSOLE,
};

/* Call once everything the role needs from the file system is loaded.
 * STI_ECONFIG: no such user, or the root is not an empty directory. */
int privsep_confine(enum privsep_role role, const struct cfg *c);
const char *privsep_role_name(enum privsep_role role);

#endif
