/*
 * board_int.h — board-private: the state shared by board/common and
 * board/<board> for the watchdog, LEDs and update slots. Not part of the
 * contract.
 */
#ifndef STI_BSP_BOARD_INT_H
#define STI_BSP_BOARD_INT_H

#include "bsp.h"

extern struct bsp_board_cfg bsp_g_cfg;
extern int bsp_g_inited;

/* Each board: set up what bsp_init promises (LEDs off, last reset read). */
int bsp_board_init(const struct bsp_board_cfg *cfg);
/* The compiled-in vendor public key (PEM), or NULL when the board has none. */
const char *bsp_board_vendor_key(void);
/* Common: the slot state; commit: the boot-time check (trial boot /
 * fall back) that bsp_boot runs, else only a look. */
void bsp_slots_boot(int commit);
/* Common: whole-file helpers for the state dir (write is atomic). */
int bsp_file_write(const char *path, const void *data, size_t n);
/* The same without fsync: status files (LEDs, kicks) rewritten often. */
int bsp_file_put(const char *path, const void *data, size_t n);
int bsp_file_read(const char *path, char *buf, size_t cap); /* NUL-terminated, trimmed */

#endif
