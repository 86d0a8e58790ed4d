/* sti_err.c — messages and names of the error table. */
#include "sti_err.h"

#include <stddef.h>

struct sti_err_row {
    int num;
    const char *name;
    const char *msg;
};

static const struct sti_err_row sti_err_rows[] = {
#define STI_ERR_ROW(name, num, msg) {num, #name, msg},
    STI_ERRORS(STI_ERR_ROW)
#undef STI_ERR_ROW
};

static const struct sti_err_row *sti_err_find(int code)
{
    for (size_t i = 0; i < sizeof sti_err_rows / sizeof sti_err_rows[0]; i++)
        if (sti_err_rows[i].num == code)
            return &sti_err_rows[i];
    return NULL;
}

const char *sti_strerror(int code)
{
    const struct sti_err_row *r = sti_err_find(code);
    return r ? r->msg : "unknown error";
}

const char *sti_errname(int code)
{
    const struct sti_err_row *r = sti_err_find(code);
    return r ? r->name : "STI_E?";
}

int sti_err_known(int code)
{
    return sti_err_find(code) != NULL;
}
