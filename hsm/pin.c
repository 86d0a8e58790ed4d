/*
 * pin.c — reading the token PIN from a root-only file, and wiping secrets.
 *
 * The checks run on the opened descriptor (fstat), not on the path, so the
 * file cannot be swapped between the check and the read.
 */
#include "hsm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sti_err.h"

void hsm_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

int hsm_pin_read(const char *path, char *pin, size_t cap, size_t *len)
{
    /* One byte more than the longest PIN plus its newline tells "too long"
     * apart from "exactly the maximum". */
    char buf[HSM_PIN_MAX + 2];
    size_t n = 0;
    struct stat st;
    int fd = -1, rc = STI_OK;

    if (!path || !pin || cap == 0 || !len)
        return STI_EINVAL;
    *len = 0;
    /* O_NONBLOCK: a FIFO planted at the path must not hang the daemon; it
     * is refused by the S_ISREG check below. */
    fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    STI_CHECK(fd >= 0, STI_EPINFILE);
    STI_CHECK(fstat(fd, &st) == 0, STI_EPINFILE);
    STI_CHECK(S_ISREG(st.st_mode), STI_EPINFILE);
    STI_CHECK(st.st_uid == geteuid() || st.st_uid == 0, STI_EPINFILE);
    STI_CHECK((st.st_mode & 077) == 0, STI_EPINFILE);

    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        STI_CHECK(r >= 0, STI_EPINFILE);
        if (r == 0)
            break;
        n += (size_t)r;
        STI_CHECK(n < sizeof buf, STI_ETOOLONG);
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    STI_CHECK(n > 0, STI_EPINFILE);
    STI_CHECK(n <= HSM_PIN_MAX, STI_ETOOLONG);
    STI_CHECK(memchr(buf, '\0', n) == NULL, STI_EPINFILE);
    STI_CHECK(n < cap, STI_ETOOLONG); /* room for the terminating NUL */
    memcpy(pin, buf, n);
    pin[n] = '\0';
    *len = n;
out:
    hsm_wipe(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
