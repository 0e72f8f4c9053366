/* Minimal test reporting: one "ok"/"not ok" line per check and a final tally. */
#ifndef CONFBOX_CHECK_H
#define CONFBOX_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int check_passed, check_failed, check_skipped;

/* Reports one check; returns its truth so a test can stop early on failure. */
static int check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s %d - ", ok ? "ok" : "not ok", check_passed + check_failed + check_skipped + 1);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok)
        check_passed++;
    else
        check_failed++;
    fflush(stdout);
    return ok;
}

/* Reports a check that cannot run here, with the reason; counted as skipped, not passed. */
__attribute__((unused)) static void check_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("ok %d # skip ", check_passed + check_failed + check_skipped + 1);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    check_skipped++;
    fflush(stdout);
}

/* Prints the tally; the return value is the program's exit status. */
static int check_done(void) {
    printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    return check_failed ? 1 : 0;
}

#endif
