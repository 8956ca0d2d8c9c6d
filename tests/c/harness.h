/* Shared by the C harness programs: pass/fail counting and status expectations.
 * Included once by each program (after driftsync.h). */
#ifndef DRIFTSYNC_TEST_HARNESS_H
#define DRIFTSYNC_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int passed, failed;
static int seen[1100];
static const char *dir;
static driftsync_error_t *err;
#define ERR (&err)

static inline void note(driftsync_status_t s) {
    if ((int)s >= 0 && (int)s < 1100) seen[(int)s] = 1;
}

#define CHECK(c) check_((c) != 0, #c, __LINE__)
static inline void check_(int ok, const char *what, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "line %d: CHECK failed: %s\n", line, what);
    }
}

/* A call that passes ERR: the status must be `want`, and an error must come back exactly when
 * the call failed, with the same code and a message. */
#define EXPECT(want, call) expect_((want), (call), #call, __LINE__)
static inline void expect_(driftsync_status_t want, driftsync_status_t got, const char *what, int line) {
    note(got);
    int ok = got == want;
    if (want == DRIFTSYNC_STATUS_OK) {
        ok = ok && err == NULL;
    } else {
        ok = ok && err != NULL && driftsync_error_code(err) == want && driftsync_error_message(err).len > 0;
    }
    if (ok) {
        passed++;
    } else {
        driftsync_string_t m = driftsync_error_message(err);
        failed++;
        fprintf(stderr, "line %d: %s -> %s, want %s (%.*s)\n", line, what, driftsync_status_name((int32_t)got),
                driftsync_status_name((int32_t)want), (int)m.len, m.data ? m.data : "");
    }
    driftsync_error_free(err);
    err = NULL;
}

/* A call that passes NULL for out_error. */
#define EXPECT0(want, call) expect0_((want), (call), #call, __LINE__)
static inline void expect0_(driftsync_status_t want, driftsync_status_t got, const char *what, int line) {
    note(got);
    if (got == want) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "line %d: %s -> %s, want %s\n", line, what, driftsync_status_name((int32_t)got),
                driftsync_status_name((int32_t)want));
    }
}

#define S(s) (s), strlen(s)

#endif
