/*
 * bsp.h — the board porting contract: what the firmware above needs from a
 * board. This part covers the console (the serial line the provisioning CLI
 * runs on), the storage (where the appliance's store lives), the watchdog,
 * the status LEDs, board identity, clock sanity, the firmware update slots
 * and the confinement of the daemon's processes; see board/PORTING.md.
 *
 * Conventions: a struct bsp_console is owned by whoever opened it and is
 * used from one thread (the daemon's event loop). The descriptor returned by
 * bsp_console_fd is for readiness polling only; all I/O goes through
 * bsp_console_read/bsp_console_write, which never block (the board puts the
 * line in non-blocking raw mode: no echo, no line editing, no signals — the
 * CLI does its own line discipline). Codes are STI_E* (sti_err.h).
 * Board choice is made by CMake (-DBOARD=sim|linux); nothing above board/
 * tests which board it runs on.
 */
#ifndef STI_BSP_H
#define STI_BSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BSP_PATH_MAX 256

enum bsp_console_kind {
    BSP_CONSOLE_NONE = 0,
    BSP_CONSOLE_PTY,   /* a pseudo-terminal; its slave is the "serial port" (sim board) */
    BSP_CONSOLE_TTY,   /* a real serial device, 115200 8N1 raw (linux board) */
    BSP_CONSOLE_STDIO, /* stdin/stdout, for scripting (every board) */
};

struct bsp_console_cfg {
    enum bsp_console_kind kind;
    /* TTY: the device (default /dev/ttyS0). PTY: where to symlink the
     * slave so that screen/picocom/tmux find it (empty: no link). */
    char path[BSP_PATH_MAX];
};

struct bsp_console;

/* Parses "pty", "tty", "stdio" or "none". STI_ECONFIG otherwise. */
int bsp_console_kind_parse(const char *s, enum bsp_console_kind *out);
/* Opens the console. STI_ECONFIG when this board has no such console
 * kind, STI_EBOARD when the device cannot be opened or configured. */
int bsp_console_open(const struct bsp_console_cfg *cfg, struct bsp_console **out);
/* The descriptor to watch for readability (event loop only). */
int bsp_console_fd(const struct bsp_console *c);
/* Non-blocking read: *got = 0 when nothing is waiting. STI_ECLOSED when
 * the other end went away for good (stdin at EOF); a pty whose terminal
 * detached is not closed: it waits for the next attach. */
int bsp_console_read(struct bsp_console *c, void *buf, size_t cap, size_t *got);
/* Writes what the line takes now; *put may be short (the caller keeps the
 * rest). Output to a pty nobody is attached to is discarded, not queued. */
int bsp_console_write(struct bsp_console *c, const void *buf, size_t n, size_t *put);
/* What an operator attaches to: the pty slave path, the tty device, or
 * "stdio". */
const char *bsp_console_name(const struct bsp_console *c);
/* Closes the console and removes the pty link it made. NULL is allowed. */
void bsp_console_close(struct bsp_console *c);

/* ---- storage ---- */

/* The folder the store lives in: configured (non-empty) wins, else the
 * board's default. STI_ETOOLONG if it does not fit in cap. */
int bsp_storage_dir(const char *configured, char *out, size_t cap);

/* ---- board state: watchdog, LEDs, identity, update slots ---- */

struct bsp_board_cfg {
    /* sim: where the LED state file, the watchdog record and the update
     * slots live; linux: where the update slots live. Empty: the sim board
     * keeps no LED/watchdog record and refuses updates. */
    char state_dir[BSP_PATH_MAX];
    /* linux: sysfs LED names by role (/sys/class/leds/NAME); empty: none */
    char led_name[3][64];
    /* linux: the watchdog device (default /dev/watchdog) */
    char wdt_device[BSP_PATH_MAX];
    /* the vendor's update key (PEM public key); empty: the board's
     * compiled-in default (the sim board has a test key, linux none) */
    char vendor_key[BSP_PATH_MAX];
};

/* Once at start, before any other bsp_wdt/led/update call and before the
 * daemon starts any child process (the sim board reaps, after its
 * watchdog reset, the children the old image left). Calling the other
 * functions without bsp_init is allowed: they do nothing. */
int bsp_init(const struct bsp_board_cfg *cfg);
/* The daemon's boot, once after bsp_init: the update slot check (a pending
 * image gets its trial boot; a trial that never confirmed falls back).
 * A tool that only installs or shows the slots does not call it. */
void bsp_boot(void);
/* Orderly stop: stops the watchdog without a reset (linux: magic close),
 * LEDs off. */
void bsp_shutdown(void);

/* Watchdog. Started once; from then on bsp_wdt_kick must be called more
 * often than timeout_ms or the board resets (sim: re-executes the daemon
 * and records "watchdog" as the last reset reason). */
int bsp_wdt_start(unsigned timeout_ms);
void bsp_wdt_kick(void);
/* Why the board last reset: "power-on", "watchdog", ... */
void bsp_wdt_last_reset(char *why, size_t cap);

enum bsp_led { BSP_LED_READY = 0, BSP_LED_FAULT = 1, BSP_LED_ACTIVITY = 2 };
enum bsp_led_mode { BSP_LED_OFF = 0, BSP_LED_ON = 1, BSP_LED_BLINK = 2 };
void bsp_led_set(enum bsp_led led, enum bsp_led_mode mode);

/* Board identity: a stable serial number (sim: made up once and kept in
 * the state dir; linux: /etc/machine-id or the device tree). */
int bsp_board_serial(char *out, size_t cap);
/* 1 when the clock is plausible: not before the firmware's build time. */
int bsp_clock_ok(time_t build_time);

/* ---- signed firmware updates (docs/update-image.md) ---- */

#define BSP_IMG_MAGIC "STIU"
#define BSP_IMG_FORMAT 1
#define BSP_IMG_HDR_LEN 112   /* magic..signature */
#define BSP_IMG_SIGNED_LEN 48 /* the signed part: magic..payload hash */
#define BSP_IMG_MAX_PAYLOAD (64u * 1024 * 1024)
#define BSP_VERSION(ma, mi, pa) (((uint32_t)(ma) << 16) | ((uint32_t)(mi) << 8) | (uint32_t)(pa))

/* Results of image checks and installs; the stisignd --update exit code. */
enum bsp_update_rc {
    BSP_UPD_OK = 0,
    BSP_UPD_EFORMAT = 10,    /* not an image, bad length, unknown format */
    BSP_UPD_EUNSIGNED = 11,  /* signature absent (all zero) */
    BSP_UPD_ETAMPERED = 12,  /* payload does not match the signed hash */
    BSP_UPD_ESIG = 13,       /* signature does not verify with the vendor key */
    BSP_UPD_EDOWNGRADE = 14, /* version <= the running version */
    BSP_UPD_EKEY = 15,       /* no usable vendor key */
    BSP_UPD_EIO = 16,        /* cannot read the image or write the slot */
    BSP_UPD_ENOSTATE = 17,   /* the board has no slot storage configured */
    BSP_UPD_EBUSY = 18,      /* a trial boot is not confirmed yet */
};

struct bsp_image_hdr {
    uint16_t format, hdr_len;
    uint32_t version, length;
    uint8_t hash[32];
    uint8_t sig[64]; /* ECDSA P-256 r||s */
};

/* Parses the header and checks the lengths (no crypto). */
int bsp_image_parse(const uint8_t *img, size_t n, struct bsp_image_hdr *h);
/* Full check: parse, unsigned, payload hash, signature with the vendor
 * key (PEM; NULL: the board's default), then version > running.
 * why gets the message the operator sees. */
int bsp_image_verify(const uint8_t *img, size_t n, const char *vendor_pem, uint32_t running,
                     struct bsp_image_hdr *h, char *why, size_t cap);
/* "1.2.3" -> packed; -1 on syntax error. */
int bsp_version_parse(const char *s, uint32_t *out);
void bsp_version_str(uint32_t v, char *out, size_t cap);
/* The version running now: the booted slot's image, else the build's. */
uint32_t bsp_running_version(void);

/* A/B slots. bsp_update_install, _confirm, _status and
 * bsp_running_version may be called from any thread (the daemon's loop
 * confirms, its admin thread installs for the console); an install does
 * its slow part (reading, verifying, writing the image) without holding
 * up the others. */
/* Verify the image file at path and write it into the slot not booted,
 * marked pending: the next boot is a trial of it. BSP_UPD_EBUSY while this
 * boot is a trial or another install runs. */
int bsp_update_install(const char *path, char *why, size_t cap);
/* The running image works: a trial boot becomes the active slot. */
int bsp_update_confirm(void);
/* The slots as they stand: each slot 'a', 'b' or 0 (running and active:
 * the factory image; pending and rollback: none). */
struct bsp_slots {
    char running, active, pending, rollback;
    int trial;        /* this boot is the trial of running */
    uint32_t version; /* bsp_running_version() */
};
void bsp_update_slots(struct bsp_slots *s);
/* One line for the operator: active slot and version, pending trial,
 * last fall back ("running=a version=1.2.3 trial=no active=a ..."). */
void bsp_update_status(char *out, size_t cap);
/* "BSP_UPD_ETAMPERED" for BSP_UPD_ETAMPERED, for messages. */
const char *bsp_update_rc_name(int rc);

/* ---- process confinement (docs/sandbox.md) ---- */

/* The daemon's processes, one role each (privsep): each is confined to
 * what its role needs once it has set itself up. */
enum bsp_role {
    BSP_ROLE_WORKER = 0, /* HSM worker: a logged-in token session, signs */
    BSP_ROLE_KEYS,       /* keys/CA: the management login, loads modules per operation */
    BSP_ROLE_FRONT,      /* listening sockets, parses every network byte */
    BSP_ROLE_VERIFIER,   /* fetches x5u chains and CRLs over HTTPS */
    BSP_ROLE_CONSOLE,    /* the serial provisioning CLI */
};
#define BSP_ROLE_COUNT 5

enum bsp_sandbox_mode {
    BSP_SANDBOX_ENFORCE = 0, /* a call outside the role's list kills the process (SIGSYS) */
    BSP_SANDBOX_LOG = 1,     /* such a call is allowed and logged by the kernel (audit) */
    BSP_SANDBOX_OFF = 2,     /* no system call filter; privileges are still dropped */
};

struct bsp_sandbox_cfg {
    /* Drop to this user's uid and primary gid, with no supplementary
     * groups. NULL or "": keep the current ids. */
    const char *user;
    /* chroot here (an empty folder the new user cannot write) and chdir
     * to /. NULL or "": no chroot. */
    const char *root_dir;
    /* The process holds a PIN or a session: not dumpable (no core file,
     * no ptrace by the same uid, /proc/PID/mem closed to others). */
    int holds_secret;
    enum bsp_sandbox_mode mode;
};

/* Confines the calling process to role, for good; call it once the process
 * has opened every file, socket and library it will use (a filter cannot
 * be lifted, and after a chroot the user database is out of reach: resolve
 * users and groups first). In this order: resolve cfg->user, chroot and
 * chdir, drop groups, gid and uid (and check setuid(0) now fails), set
 * no-new-privs, not dumpable when holds_secret, then (mode ENFORCE or LOG)
 * install the role's system call allow-list on every thread.
 * STI_ESANDBOX_USER: the user is not in the user database. STI_ESANDBOX_PRIV:
 * a user or root_dir was asked by a process that is not root.
 * STI_ECONFIG: an unknown role or mode, or a root_dir that is missing or
 * writable by others than root. STI_ESANDBOX: a step failed
 * (the kernel has no seccomp, the ids could be regained, ...); the process
 * may then be partly confined and must exit rather than go on. */
int bsp_sandbox(enum bsp_role role, const struct bsp_sandbox_cfg *cfg);
/* "enforce", "log", "off"; STI_ECONFIG otherwise. */
int bsp_sandbox_mode_parse(const char *s, enum bsp_sandbox_mode *out);
const char *bsp_sandbox_mode_name(enum bsp_sandbox_mode mode);
/* "worker", "keys", "front", "verifier", "console"; "?" for others. */
const char *bsp_role_name(enum bsp_role role);

#endif
