/* logging.c - one line per event on stderr.
 * SPDX-License-Identifier: MIT
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbname.h"
#include "logging.h"

/* Set once by sse_log_setup before threads start, read-only afterwards. */
static struct {
    const char *progname;
    int max_level;
    int journal;
} log_state = {"sselite", SSE_LOG_INFO, 0};

static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug"};
/* sd-daemon priorities: err, warning, info, debug. */
static const int LEVEL_PRIO[] = {3, 4, 6, 7};

static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat sb;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &sb) != 0)
        return 0;
    return (unsigned long long)sb.st_dev == dev &&
           (unsigned long long)sb.st_ino == ino;
}

void sse_log_setup(const char *progname, int max_level)
{
    log_state.progname = progname;
    log_state.max_level = max_level;
    log_state.journal = stderr_is_journal();
}

int sse_log_enabled(int level)
{
    return level <= log_state.max_level;
}

void sse_log(int level, const char *fmt, ...)
{
    if (level < 0 || level > SSE_LOG_DEBUG || !sse_log_enabled(level))
        return;
    char line[2048];
    size_t n;
    if (log_state.journal) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", LEVEL_PRIO[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n,
                              ".%03ldZ %s[%ld]: %s: ", ts.tv_nsec / 1000000,
                              log_state.progname, (long)getpid(),
                              LEVEL_NAMES[level]);
    }
    size_t start = n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += (size_t)m < sizeof line - n - 1 ? (size_t)m : sizeof line - n - 2;
    for (size_t i = start; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    /* A PostgreSQL URI may carry a password, and lines name the database:
     * whatever a caller passes, no password reaches the log. */
    line[n] = '\0';
    if (strstr(line + start, "postgres")) {
        sse_dbname_scrub(line + start);
        n = start + strlen(line + start);
    }
    line[n++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t w = write(2, line, n);
    (void)w;
}
