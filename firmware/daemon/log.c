/* log.c — levels, stderr or syslog. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static int log_syslog;
static enum log_level log_max = LOG_LVL_INFO;
static const char *log_ident = "stisignd";

void log_setup(const char *ident, int use_syslog, enum log_level level)
{
    log_ident = ident;
    log_syslog = use_syslog;
    log_max = level;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (level > log_max)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (log_syslog) {
        vsyslog(prio[level], fmt, ap);
    } else {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s %s[%s] ", ts, log_ident, tags[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
