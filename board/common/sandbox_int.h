/*
 * sandbox_int.h — board-private: the per-role system call allow-lists
 * (sandbox_map.c) in the form sandbox.c installs them with libseccomp.
 * Not part of the contract; tests/unit/test_sandbox.c reads the map to
 * check it.
 *
 * Conventions: the map is constant data. An entry names one system call
 * with SCMP_SYS(), so a misspelt name does not compile; a call this
 * architecture does not have (open on aarch64, say) is a negative pseudo
 * number that libseccomp skips. Conditions of one entry must all hold;
 * several entries for one call are alternatives.
 */
#ifndef STI_BSP_SANDBOX_INT_H
#define STI_BSP_SANDBOX_INT_H

#include <seccomp.h>
#include <stddef.h>

#include "bsp.h"

struct bsp_sc {
    int nr;           /* SCMP_SYS(name) */
    const char *name; /* for messages and the tests */
    unsigned nargs;   /* conditions in arg[]; 0: any arguments */
    struct scmp_arg_cmp arg[2];
};

/* A datum sandbox.c replaces with the calling process's pid when it
 * installs the list: "signals to itself only". */
#define BSP_SC_SELF ((scmp_datum_t)0xfffffffffffff00dULL)

struct bsp_sc_list {
    const struct bsp_sc *sc;
    size_t n;
};

/* Indexed by enum bsp_role. */
extern const struct bsp_sc_list bsp_sc_map[BSP_ROLE_COUNT];

#endif
