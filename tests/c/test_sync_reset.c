/* The C harness of driftsync's sync and client-reset ABI: plain C11 (plus POSIX to run the
 * reference server) over the public header only.
 * Usage: test_sync_reset <empty scratch directory>
 * The reference server binary is $DRIFTSYNC_SERVER (default: target/debug/driftsync-server). It
 * runs as a child process with its data in the scratch directory and is killed on every exit path
 * (normal exit, failure, SIGTERM/SIGINT/SIGHUP, and the death of this process on Linux).
 * Prints one final line "N passed, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include "driftsync.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "harness.h"

/* Waits of the library and of this harness (long: the harness may run under valgrind). */
#define WAIT_MS 60000

/* ---- helpers ------------------------------------------------------------------------------- */

static int str_eq(driftsync_string_t s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.data, want, s.len) == 0);
}

static int str_has(driftsync_string_t s, const char *part) {
    size_t n = strlen(part), i;
    for (i = 0; i + n <= s.len; i++) {
        if (memcmp(s.data + i, part, n) == 0) return 1;
    }
    return 0;
}

static void copy_str(char *buf, size_t size, driftsync_string_t s) {
    size_t n = s.len < size - 1 ? s.len : size - 1;
    if (n) memcpy(buf, s.data, n);
    buf[n] = '\0';
}

static char *path_in_dir(const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static driftsync_pk_t pk_int(int64_t i) {
    driftsync_pk_t k;
    memset(&k, 0, sizeof k);
    k.kind = DRIFTSYNC_PK_INT;
    k.int_value = i;
    return k;
}

static const char *SCHEMA_JSON =
    "{\"classes\":[{\"name\":\"Item\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"name\",\"type\":\"string\",\"optional\":true},"
    "{\"name\":\"count\",\"type\":\"int\",\"optional\":true}]}]}";

/* Writes Item(id) with a name in its own transaction. */
static void put_item(const driftsync_realm_t *r, int64_t id, const char *name) {
    driftsync_pk_t k = pk_int(id);
    driftsync_field_t f;
    memset(&f, 0, sizeof f);
    f.name.data = "name";
    f.name.len = 4;
    f.value.kind = DRIFTSYNC_VALUE_STRING;
    f.value.string.data = name;
    f.value.string.len = strlen(name);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_upsert(r, S("Item"), &k, &f, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
}

/* The name of Item(id) into buf: 1 if the object exists, 0 if not, -1 on another failure. Uses
 * no global state, so callbacks on the sync thread may call it. */
static int item_name(const driftsync_realm_t *r, int64_t id, char *buf, size_t size) {
    driftsync_pk_t k = pk_int(id);
    driftsync_owned_value_t *ov = NULL;
    driftsync_value_t v;
    driftsync_status_t s = driftsync_realm_get_value(r, S("Item"), &k, S("name"), &ov, NULL);
    buf[0] = '\0';
    if (s == DRIFTSYNC_STATUS_OBJECT_NOT_FOUND) return 0;
    if (s != DRIFTSYNC_STATUS_OK) return -1;
    if (driftsync_owned_value_get(ov, &v, NULL) == DRIFTSYNC_STATUS_OK && v.kind == DRIFTSYNC_VALUE_STRING) {
        copy_str(buf, size, v.string);
    }
    driftsync_owned_value_free(ov);
    return 1;
}

static int has_item(const driftsync_realm_t *r, int64_t id, const char *name) {
    char buf[128];
    return item_name(r, id, buf, sizeof buf) == 1 && (name == NULL || strcmp(buf, name) == 0);
}

/* ---- registrations: every user_data_free must run exactly once ------------------------------- */

typedef struct {
    const char *name;
    atomic_int calls;
    atomic_int freed;
    bool result;         /* what a hook returns */
    const char *message; /* what a v2 hook fails with (driftsync_hook_result_fail), if not NULL */
} reg_t;

#define MAX_REGS 128
static reg_t *regs[MAX_REGS];
static int nregs;
static atomic_int frees;

static reg_t *new_reg(const char *name) {
    reg_t *r = calloc(1, sizeof *r);
    r->name = name;
    atomic_init(&r->calls, 0);
    atomic_init(&r->freed, 0);
    r->result = true;
    if (nregs < MAX_REGS) regs[nregs++] = r;
    return r;
}

static void ud_free(void *p) {
    reg_t *r = p;
    atomic_fetch_add(&r->freed, 1);
    atomic_fetch_add(&frees, 1);
}

static int calls(reg_t *r) { return atomic_load(&r->calls); }

/* ---- the reference server as a child process ----------------------------------------------- */

static const char *ADMIN_TOKEN = "admin-secret";
static char server_bin[1024];
static char server_url[128];
static char admin_url[128];
static volatile pid_t server_pid = -1;

static void stop_server(void) {
    pid_t p = server_pid;
    if (p > 0) {
        server_pid = -1;
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
    }
}

static void on_signal(int sig) {
    pid_t p = server_pid;
    if (p > 0) kill(p, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Starts argv[0] with stdout and stderr redirected to files; the child dies with this process. */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int er = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        if (getppid() != parent || out < 0 || er < 0 || in < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(er, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void print_file(const char *path) {
    char line[512];
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* Starts the server; with `pki` (a directory holding server.pem and server.key) it speaks TLS
 * and its URL is wss://. */
static int start_server(const char *pki) {
    char *conf = path_in_dir(pki ? "app-tls.toml" : "app.toml"), *data = path_in_dir(pki ? "server-tls-data" : "server-data");
    char *out = path_in_dir(pki ? "server-tls.out" : "server.out"), *errp = path_in_dir(pki ? "server-tls.err" : "server.err");
    char *argv[] = {server_bin, "serve", "--config", conf, "--data", data, "--listen", "127.0.0.1:0", NULL};
    FILE *f = fopen(conf, "w");
    long long deadline;
    int ok = 0;
    server_url[0] = admin_url[0] = '\0';
    if (f) {
        fprintf(f,
                "admin_token = \"%s\"\n"
                "client_max_offline_days = 30\n"
                "schema_json = '''%s'''\n"
                "[users.alice]\ntoken = \"alice-token\"\nrole = \"editor\"\n"
                "[users.bob]\ntoken = \"bob-token\"\nrole = \"editor\"\n"
                "[roles.editor]\nrealms = [\"*\"]\nread = [\"*\"]\nwrite = [\"*\"]\n",
                ADMIN_TOKEN, SCHEMA_JSON);
        if (pki) fprintf(f, "[tls]\ncert_chain_file = \"%s/server.pem\"\nkey_file = \"%s/server.key\"\n", pki, pki);
        fclose(f);
        server_pid = spawn(argv, out, errp);
    }
    deadline = now_ms() + 30000;
    while (server_pid > 0 && now_ms() < deadline && !ok) {
        char line[256];
        FILE *o = fopen(out, "r");
        if (o) {
            while (fgets(line, sizeof line, o)) {
                if (strncmp(line, "listening on ", 13) == 0) {
                    size_t n = strcspn(line + 13, "\r\n");
                    if (n < sizeof server_url) {
                        memcpy(server_url, line + 13, n);
                        server_url[n] = '\0';
                    }
                }
                if (strncmp(line, "admin on ", 9) == 0) {
                    size_t n = strcspn(line + 9, "\r\n");
                    if (n < sizeof admin_url && server_url[0]) {
                        memcpy(admin_url, line + 9, n);
                        admin_url[n] = '\0';
                        ok = 1;
                    }
                }
            }
            fclose(o);
        }
        if (!ok) {
            int st;
            if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
                server_pid = -1;
                break;
            }
            sleep_ms(20);
        }
    }
    if (!ok) {
        fprintf(stderr, "the server did not start (%s):\n", server_bin);
        print_file(errp);
        stop_server();
    }
    free(conf);
    free(data);
    free(out);
    free(errp);
    return ok;
}

/* Runs `driftsync-server admin … a1 [a2] [a3]`; 1 when it exits 0. */
static int admin(const char *a1, const char *a2, const char *a3) {
    char *out = path_in_dir("admin.out"), *errp = path_in_dir("admin.err");
    char *argv[] = {server_bin, "admin", "--url", admin_url, "--admin-token", (char *)ADMIN_TOKEN,
                    (char *)a1, (char *)a2, (char *)a3, NULL};
    int st = -1, ok;
    pid_t pid = spawn(argv, out, errp);
    if (pid > 0) waitpid(pid, &st, 0);
    ok = pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
        fprintf(stderr, "admin %s %s failed:\n", a1, a2 ? a2 : "");
        print_file(errp);
    }
    free(out);
    free(errp);
    return ok;
}

/* ---- configs and realms -------------------------------------------------------------------- */

static driftsync_schema_t *schema(void) {
    driftsync_schema_t *s = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(SCHEMA_JSON), &s, ERR));
    return s;
}

static driftsync_config_builder_t *builder_for(const char *file) {
    char *path = path_in_dir(file);
    driftsync_schema_t *s = schema();
    driftsync_config_builder_t *b = driftsync_config_builder_new();
    CHECK(b != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S(path), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(b, s, ERR));
    driftsync_schema_free(s);
    free(path);
    return b;
}

static void set_sync(driftsync_config_builder_t *b, const char *token, const char *realm_name) {
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S(server_url), S(token), S(realm_name), ERR));
}

static driftsync_realm_t *open_with(driftsync_config_builder_t *b) {
    driftsync_config_t *c = NULL;
    driftsync_realm_t *r = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);
    return r;
}

/* A plain synced realm (default reset mode), started paused or not. */
static driftsync_realm_t *open_plain(const char *file, const char *realm_name, bool paused) {
    driftsync_config_builder_t *b = builder_for(file);
    set_sync(b, "alice-token", realm_name);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, paused, ERR));
    return open_with(b);
}

static void sync_all(const driftsync_realm_t *r) {
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_wait_for_upload(r, WAIT_MS, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_wait_for_download(r, WAIT_MS, ERR));
}

static driftsync_connection_state_t state_of(const driftsync_realm_t *r) {
    driftsync_connection_state_t s = DRIFTSYNC_CONNECTION_CONNECTING;
    if (driftsync_realm_sync_state(r, &s, NULL) != DRIFTSYNC_STATUS_OK) return DRIFTSYNC_CONNECTION_CONNECTING;
    return s;
}

/* Pauses a session and waits until it is disconnected. */
static void go_offline(const driftsync_realm_t *r) {
    long long deadline = now_ms() + WAIT_MS;
    bool paused = false;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_pause(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_is_paused(r, &paused, ERR));
    CHECK(paused);
    while (state_of(r) != DRIFTSYNC_CONNECTION_DISCONNECTED && now_ms() < deadline) sleep_ms(20);
    CHECK(state_of(r) == DRIFTSYNC_CONNECTION_DISCONNECTED);
}

/* Waits for the realm's first reset report (owned; NULL on timeout). */
/* Item 1 synced, item 2 written offline, then the server demands a reset of every client file
 * (terminate + enable); the session stays paused until the caller resumes it. */
static void offline_change_then_reset_demand(const driftsync_realm_t *r) {
    put_item(r, 1, "one");
    sync_all(r);
    go_offline(r);
    put_item(r, 2, "offline");
    CHECK(admin("terminate", NULL, NULL));
    CHECK(admin("enable", NULL, NULL));
}

static driftsync_reset_report_t *wait_report(const driftsync_realm_t *r) {
    long long deadline = now_ms() + WAIT_MS;
    driftsync_reset_report_t *rep = NULL;
    while (now_ms() < deadline) {
        if (driftsync_realm_last_reset_report(r, &rep, NULL) == DRIFTSYNC_STATUS_OK && rep) return rep;
        sleep_ms(20);
    }
    fprintf(stderr, "timed out waiting for a reset report\n");
    return NULL;
}

static void wait_calls(reg_t *reg, int n) {
    long long deadline = now_ms() + WAIT_MS;
    while (calls(reg) < n && now_ms() < deadline) sleep_ms(20);
}

static driftsync_reset_decision_t decision_of(const driftsync_reset_report_t *rep) {
    driftsync_reset_decision_t d = (driftsync_reset_decision_t)99;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_decision(rep, &d, ERR));
    return d;
}

static driftsync_reset_cause_t cause_of(const driftsync_reset_report_t *rep) {
    driftsync_reset_cause_t c = (driftsync_reset_cause_t)99;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_cause(rep, &c, ERR));
    return c;
}

static void check_timings_v2(const driftsync_reset_report_t *rep, const driftsync_reset_timings_t *v1);

/* Reads every field of a report (and checks what holds for every report). */
static void read_whole_report(const driftsync_reset_report_t *rep) {
    driftsync_error_action_t action;
    driftsync_client_reset_mode_t mode;
    driftsync_string_t s;
    uint64_t a = 0, b = 0, c = 0;
    size_t n = 0, i;
    driftsync_dropped_change_t d;
    driftsync_reset_timings_t t;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_action(rep, &action, ERR));
    CHECK(action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET || action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET_NO_RECOVERY);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_mode(rep, &mode, ERR));
    CHECK((int)mode >= 0 && (int)mode <= 3);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_server_message(rep, &s, ERR));
    CHECK(s.data != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_objects(rep, &a, &b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_recovered(rep, &a, &b, ERR));
    CHECK(b >= a);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_dropped_count(rep, &n, ERR));
    for (i = 0; i < n; i++) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_dropped(rep, i, &d, ERR));
        CHECK(d.instruction.len > 0 && d.reason.len > 0);
    }
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_reset_report_dropped(rep, n, &d, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_discarded_count(rep, &n, ERR));
    for (i = 0; i < n; i++) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_discarded(rep, i, &d, ERR));
        CHECK(d.instruction.len > 0 && d.reason.len > 0 && d.local_version > 0);
    }
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_reset_report_discarded(rep, n, &d, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_before_hook_error(rep, &s, ERR));
    CHECK(s.data != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_after_hook_error(rep, &s, ERR));
    CHECK(s.data != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_backup_path(rep, &s, ERR));
    CHECK(s.data != NULL);
    memset(&t, 0, sizeof t);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_timings(rep, &t, ERR));
    CHECK(t.completed_at_ms >= 0);
    check_timings_v2(rep, &t);
}

/* The v2 timings of a report: the five phases add up to the total exactly (microseconds), and
 * the v1 milliseconds (no summary phase) plus the summary make the total's milliseconds within
 * rounding. */
static void check_timings_v2(const driftsync_reset_report_t *rep, const driftsync_reset_timings_t *v1) {
    driftsync_reset_timings_v2_t t;
    uint64_t v1_ms, total_ms;
    memset(&t, 0, sizeof t);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_timings_v2(rep, &t, ERR));
    CHECK(t.download_us + t.diff_us + t.replay_us + t.summary_us + t.commit_us == t.total_us);
    CHECK(t.completed_at_ms == v1->completed_at_ms);
    v1_ms = v1->download_ms + v1->diff_ms + v1->replay_ms + v1->commit_ms;
    total_ms = t.total_us / 1000;
    CHECK(v1_ms <= total_ms);
    CHECK(total_ms - v1_ms <= t.summary_us / 1000 + 1);
}

/* The transfer of a reset whose fresh copy was range-reconciled against a server that gained an
 * object this client lacks: bytes travelled, and at least the range holding it differed. */
static void check_transfer(const driftsync_reset_report_t *rep) {
    uint64_t bytes = 0, ranges = 0;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_transfer(rep, &bytes, &ranges, ERR));
    CHECK(bytes > 0);
    CHECK(ranges >= 1);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_transfer(rep, NULL, &ranges, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_transfer(rep, &bytes, NULL, ERR));
}

/* Waits for the final timings of the last reset (stored just after its commit), then checks that
 * every phase was timed, the summary included, and that the phases add up to the total. */
static void check_transform_timed(const driftsync_realm_t *r) {
    long long deadline = now_ms() + WAIT_MS;
    driftsync_reset_timings_v2_t t;
    memset(&t, 0, sizeof t);
    while (now_ms() < deadline) {
        driftsync_reset_report_t *rep = NULL;
        if (driftsync_realm_last_reset_report(r, &rep, NULL) == DRIFTSYNC_STATUS_OK && rep) {
            EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_timings_v2(rep, &t, ERR));
            driftsync_reset_report_free(rep);
            if (t.commit_us > 0) break;
        }
        sleep_ms(20);
    }
    /* (A discard may replay nothing: its replay phase can take under a microsecond.) */
    CHECK(t.download_us > 0 && t.diff_us > 0 && t.summary_us > 0 && t.commit_us > 0);
    CHECK(t.download_us + t.diff_us + t.replay_us + t.summary_us + t.commit_us == t.total_us);
}

static size_t discarded_count(const driftsync_reset_report_t *rep) {
    size_t n = 0;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_discarded_count(rep, &n, ERR));
    return n;
}

/* ---- callbacks ----------------------------------------------------------------------------- */

/* What the hooks saw (written on the sync thread before their call counter is bumped). */
static char before_saw[64], after_before_saw[64];
static atomic_int before_was_frozen, after_live_frozen, after_did_recover, after_write_status, after_live_closed;
static driftsync_cursor_t *stale_cursor; /* made from the lent `before` inside the after hook */

static bool before_hook(void *user_data, const driftsync_realm_t *before) {
    reg_t *reg = user_data;
    atomic_store(&before_was_frozen, driftsync_realm_is_frozen(before));
    item_name(before, 4, before_saw, sizeof before_saw);
    atomic_fetch_add(&reg->calls, 1);
    return reg->result;
}

static bool after_hook(void *user_data, const driftsync_realm_t *before, driftsync_realm_t *live, bool did_recover) {
    reg_t *reg = user_data;
    driftsync_pk_t k = pk_int(99);
    driftsync_field_t f;
    driftsync_status_t s;
    memset(&f, 0, sizeof f);
    f.name.data = "name";
    f.name.len = 4;
    f.value.kind = DRIFTSYNC_VALUE_STRING;
    f.value.string.data = "after-hook";
    f.value.string.len = 10;
    atomic_store(&after_did_recover, did_recover);
    atomic_store(&after_live_frozen, driftsync_realm_is_frozen(live) || !driftsync_realm_is_frozen(before));
    /* Re-enter the library: read the before-snapshot, write the live realm. */
    item_name(before, 4, after_before_saw, sizeof after_before_saw);
    s = driftsync_realm_begin_write(live, NULL);
    if (s == DRIFTSYNC_STATUS_OK) s = driftsync_realm_upsert(live, S("Item"), &k, &f, 1, NULL);
    if (s == DRIFTSYNC_STATUS_OK) s = driftsync_realm_commit(live, NULL);
    atomic_store(&after_write_status, (int)s);
    if (stale_cursor == NULL) driftsync_realm_cursor_new(before, S("Item"), 0, &stale_cursor, NULL);
    /* Freeing a lent handle only closes it: the library still frees it once, after the hook. */
    driftsync_realm_free(live);
    atomic_store(&after_live_closed, driftsync_realm_is_closed(live));
    atomic_fetch_add(&reg->calls, 1);
    return reg->result;
}

/* The v2 hooks: fail with the registration's message (if any), then return its result. The before
 * hook also tries the invalid arguments of driftsync_hook_result_fail on the lent handle. */
static atomic_int v2_null_message, v2_bad_utf8, v2_empty, v2_fail_status;
static bool before_hook_v2(void *user_data, const driftsync_realm_t *before, driftsync_hook_result_t *result) {
    reg_t *reg = user_data;
    driftsync_error_t *e = NULL;
    atomic_store(&before_was_frozen, driftsync_realm_is_frozen(before));
    atomic_store(&v2_null_message, (int)driftsync_hook_result_fail(result, NULL, 3, NULL));
    atomic_store(&v2_bad_utf8, (int)driftsync_hook_result_fail(result, "\xff\xfe", 2, &e));
    if (e == NULL || driftsync_error_code(e) != DRIFTSYNC_STATUS_INVALID_UTF8) atomic_store(&v2_bad_utf8, -1);
    driftsync_error_free(e);
    atomic_store(&v2_empty, (int)driftsync_hook_result_fail(result, "", 0, NULL));
    if (reg->message) atomic_store(&v2_fail_status, (int)driftsync_hook_result_fail(result, S(reg->message), NULL));
    atomic_fetch_add(&reg->calls, 1);
    return reg->result;
}

static bool after_hook_v2(void *user_data, const driftsync_realm_t *before, driftsync_realm_t *live, bool did_recover,
                          driftsync_hook_result_t *result) {
    reg_t *reg = user_data;
    atomic_store(&after_did_recover, did_recover);
    atomic_store(&after_live_frozen, driftsync_realm_is_frozen(live) || !driftsync_realm_is_frozen(before));
    if (reg->message) {
        /* the last message wins */
        driftsync_hook_result_fail(result, S("replaced by the next call"), NULL);
        atomic_store(&v2_fail_status, (int)driftsync_hook_result_fail(result, S(reg->message), NULL));
    }
    atomic_fetch_add(&reg->calls, 1);
    return reg->result;
}

static atomic_ullong progress_total;
static void progress_cb(void *user_data, uint64_t received, uint64_t total) {
    reg_t *reg = user_data;
    if (received <= total) atomic_store(&progress_total, total);
    atomic_fetch_add(&reg->calls, 1);
}

static atomic_int state_connected, state_bad;
static void state_cb(void *user_data, driftsync_connection_state_t old_state, driftsync_connection_state_t new_state) {
    reg_t *reg = user_data;
    if (old_state == new_state || (int)new_state < 0 || (int)new_state > 2) atomic_store(&state_bad, 1);
    if (new_state == DRIFTSYNC_CONNECTION_CONNECTED) atomic_fetch_add(&state_connected, 1);
    atomic_fetch_add(&reg->calls, 1);
}

/* The first reset demand the error callback saw, as an owned clone. */
static driftsync_sync_error_t *reset_error;
static atomic_int errors_bad;
static void error_cb(void *user_data, const driftsync_sync_error_t *e) {
    reg_t *reg = user_data;
    driftsync_error_action_t action;
    driftsync_string_t m;
    bool retryable;
    if (driftsync_sync_error_action(e, &action, NULL) != DRIFTSYNC_STATUS_OK ||
        driftsync_sync_error_message(e, &m, NULL) != DRIFTSYNC_STATUS_OK ||
        driftsync_sync_error_is_retryable(e, &retryable, NULL) != DRIFTSYNC_STATUS_OK) {
        atomic_store(&errors_bad, 1);
    } else if ((action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET || action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET_NO_RECOVERY) &&
               reset_error == NULL) {
        if (driftsync_sync_error_clone(e, &reset_error, NULL) != DRIFTSYNC_STATUS_OK) atomic_store(&errors_bad, 1);
    }
    driftsync_sync_error_free((driftsync_sync_error_t *)e); /* the borrowed one: a no-op */
    atomic_fetch_add(&reg->calls, 1);
}

/* Observer: which Item keys a commit inserted / erased. */
static atomic_int obs_inserted3, obs_erased2;
static void observer(void *user_data, const driftsync_changes_t *changes) {
    reg_t *reg = user_data;
    size_t ci, i, ins = 0, er = 0, mod = 0;
    driftsync_string_t name;
    driftsync_pk_t k;
    for (ci = 0; ci < driftsync_changes_class_count(changes); ci++) {
        if (driftsync_changes_class_name(changes, ci, &name, NULL) != DRIFTSYNC_STATUS_OK || !str_eq(name, "Item")) continue;
        if (driftsync_changes_counts(changes, ci, &ins, &er, &mod, NULL) != DRIFTSYNC_STATUS_OK) continue;
        for (i = 0; i < ins; i++) {
            if (driftsync_changes_inserted(changes, ci, i, &k, NULL) == DRIFTSYNC_STATUS_OK && k.int_value == 3) atomic_store(&obs_inserted3, 1);
        }
        for (i = 0; i < er; i++) {
            if (driftsync_changes_erased(changes, ci, i, &k, NULL) == DRIFTSYNC_STATUS_OK && k.int_value == 2) atomic_store(&obs_erased2, 1);
        }
    }
    atomic_fetch_add(&reg->calls, 1);
}

/* The manual handler: reads everything, tries to perform (BUSY: handles are open), keeps a clone. */
static driftsync_manual_reset_t *manual_clone;
static atomic_int manual_perform_status, manual_bad;
static char manual_backup[1024];
static void manual_cb(void *user_data, const driftsync_manual_reset_t *m) {
    reg_t *reg = user_data;
    driftsync_reset_cause_t cause;
    driftsync_string_t s;
    driftsync_reset_report_t *rep = NULL;
    driftsync_reset_decision_t d = DRIFTSYNC_RESET_DECISION_RECOVER;
    driftsync_error_t *e = NULL;
    int bad = 0;
    bad |= driftsync_manual_reset_cause(m, &cause, NULL) != DRIFTSYNC_STATUS_OK || cause == DRIFTSYNC_RESET_CAUSE_NONE;
    bad |= driftsync_manual_reset_message(m, &s, NULL) != DRIFTSYNC_STATUS_OK;
    bad |= driftsync_manual_reset_original_path(m, &s, NULL) != DRIFTSYNC_STATUS_OK || s.len == 0;
    bad |= driftsync_manual_reset_backup_path(m, &s, NULL) != DRIFTSYNC_STATUS_OK || s.len == 0;
    copy_str(manual_backup, sizeof manual_backup, s);
    bad |= driftsync_manual_reset_report(m, &rep, NULL) != DRIFTSYNC_STATUS_OK;
    if (rep) {
        bad |= driftsync_reset_report_decision(rep, &d, NULL) != DRIFTSYNC_STATUS_OK || d != DRIFTSYNC_RESET_DECISION_MANUAL;
        driftsync_reset_report_free(rep);
    }
    atomic_store(&manual_perform_status, (int)driftsync_manual_reset_perform(m, &e));
    if (e == NULL || !str_has(driftsync_error_message(e), "close")) bad = 1;
    driftsync_error_free(e);
    if (manual_clone == NULL) bad |= driftsync_manual_reset_clone(m, &manual_clone, NULL) != DRIFTSYNC_STATUS_OK;
    driftsync_manual_reset_free((driftsync_manual_reset_t *)m); /* the borrowed one: a no-op */
    if (bad) atomic_store(&manual_bad, 1);
    atomic_fetch_add(&reg->calls, 1);
}

/* ---- tests without a server ---------------------------------------------------------------- */

static void test_enums(void) {
    CHECK(DRIFTSYNC_CONNECTION_DISCONNECTED == 0 && DRIFTSYNC_CONNECTION_CONNECTING == 1 && DRIFTSYNC_CONNECTION_CONNECTED == 2);
    CHECK(DRIFTSYNC_RESET_DECISION_RECOVER == 0 && DRIFTSYNC_RESET_DECISION_DISCARD == 1 && DRIFTSYNC_RESET_DECISION_MANUAL == 2);
    CHECK(DRIFTSYNC_RESET_CAUSE_NONE == 0 && DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED == 1 && DRIFTSYNC_RESET_CAUSE_ROLE_CHANGED == 6);
    CHECK(DRIFTSYNC_ERROR_ACTION_CLIENT_RESET == 0 && DRIFTSYNC_ERROR_ACTION_WARNING == 4);
    CHECK(DRIFTSYNC_SERVER_ERROR_NONE == 0 && DRIFTSYNC_SERVER_ERROR_INTERNAL == 9);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED), "server_restored") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED), "sync_reenabled") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_CLIENT_SCHEMA_AHEAD), "client_schema_ahead") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_CLIENT_TOO_OLD), "client_too_old") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_BREAKING_SCHEMA_CHANGE), "breaking_schema_change") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(DRIFTSYNC_RESET_CAUSE_ROLE_CHANGED), "role_changed") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(0), "none") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(-1), "unknown") == 0);
    CHECK(strcmp(driftsync_reset_cause_name(7), "unknown") == 0);
}

/* Every new builder setter: NULL builder, NULL callback (removes), replacement, settings without
 * sync; user_data_free runs exactly once in each case. */
static void test_builder(void) {
    driftsync_config_builder_t *b;
    driftsync_config_t *c = NULL;
    reg_t *r1 = new_reg("builder-null-1"), *r2 = new_reg("builder-null-2"), *r3 = new_reg("builder-null-3"),
          *r4 = new_reg("builder-null-4");
    reg_t *rep1 = new_reg("replaced"), *rep2 = new_reg("replacement"), *rm = new_reg("removed");
    reg_t *ns1 = new_reg("no-sync-before"), *ns2 = new_reg("no-sync-after"), *ns3 = new_reg("no-sync-manual"),
          *ns4 = new_reg("no-sync-progress");
    reg_t *fr = new_reg("builder-freed");
    reg_t *v1 = new_reg("v2-null-before"), *v2 = new_reg("v2-null-after"), *v3 = new_reg("v1-replaced-by-v2"),
          *v4 = new_reg("v2-replaced-by-v1"), *v5 = new_reg("v1-after-v2"), *v6 = new_reg("v2-after-replaced"),
          *v7 = new_reg("v2-after-removed"), *v8 = new_reg("v2-after-build-fails");
    driftsync_client_reset_mode_t mode;

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_start_paused(NULL, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_keep_backup(NULL, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_before_reset(NULL, before_hook, r1, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_after_reset(NULL, after_hook, r2, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_manual_reset_handler(NULL, manual_cb, r3, ud_free, ERR));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_download_progress(NULL, progress_cb, r4, ud_free, NULL));
    CHECK(atomic_load(&r1->freed) == 1 && atomic_load(&r2->freed) == 1 && atomic_load(&r3->freed) == 1 &&
          atomic_load(&r4->freed) == 1);
    /* without user_data_free */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_before_reset(NULL, before_hook, NULL, NULL, ERR));
    /* the v2 setters: the same rules */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_before_reset_v2(NULL, before_hook_v2, v1, ud_free, ERR));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_after_reset_v2(NULL, after_hook_v2, v2, ud_free, NULL));
    CHECK(atomic_load(&v1->freed) == 1 && atomic_load(&v2->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_after_reset_v2(NULL, NULL, NULL, NULL, ERR));
    /* a v2 hook replaces a v1 hook and the other way round; NULL removes it */
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, v3, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset_v2(b, before_hook_v2, v4, ud_free, ERR));
    CHECK(atomic_load(&v3->freed) == 1 && atomic_load(&v4->freed) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, v5, ud_free, ERR));
    CHECK(atomic_load(&v4->freed) == 1 && atomic_load(&v5->freed) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset_v2(b, after_hook_v2, v6, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset_v2(b, NULL, v7, ud_free, ERR));
    CHECK(atomic_load(&v6->freed) == 1 && atomic_load(&v7->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset_v2(b, after_hook_v2, v8, ud_free, ERR));
    /* without sync settings the build fails and releases both */
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));
    CHECK(c == NULL && atomic_load(&v5->freed) == 1 && atomic_load(&v8->freed) == 1);

    /* replacing a hook releases the first user_data; a NULL callback removes the setting */
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, rep1, ud_free, ERR));
    CHECK(atomic_load(&rep1->freed) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, rep2, ud_free, ERR));
    CHECK(atomic_load(&rep1->freed) == 1 && atomic_load(&rep2->freed) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_download_progress(b, NULL, rm, ud_free, ERR));
    CHECK(atomic_load(&rm->freed) == 1);
    driftsync_config_builder_free(b);
    CHECK(atomic_load(&rep2->freed) == 1);

    /* reset settings without sync settings: the build fails and releases everything */
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, ns1, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset(b, after_hook, ns2, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_manual_reset_handler(b, manual_cb, ns3, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_download_progress(b, progress_cb, ns4, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));
    CHECK(c == NULL);
    CHECK(atomic_load(&ns1->freed) == 1 && atomic_load(&ns2->freed) == 1 && atomic_load(&ns3->freed) == 1 &&
          atomic_load(&ns4->freed) == 1);
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_keep_backup(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));

    /* a config with everything: freeing it (no realm opened) releases the hooks */
    b = builder_for("builder.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S("ws://127.0.0.1:1"), S("t"), S("r"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_MANUAL, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_keep_backup(b, false, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_manual_reset_handler(b, manual_cb, fr, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_client_reset_mode(c, &mode, ERR));
    CHECK(mode == DRIFTSYNC_CLIENT_RESET_MANUAL);
    CHECK(atomic_load(&fr->freed) == 0);
    driftsync_config_free(c);
    CHECK(atomic_load(&fr->freed) == 1);
}

/* Every new function with NULL and invalid arguments: a status, never a crash. */
static void test_nulls(void) {
    driftsync_connection_state_t st;
    driftsync_sync_progress_t pr;
    bool flag;
    driftsync_token_t *tok = NULL;
    driftsync_sync_error_t *se = NULL;
    driftsync_reset_report_t *rep = NULL;
    driftsync_manual_reset_t *mr = NULL;
    driftsync_server_error_code_t code;
    driftsync_error_action_t action;
    driftsync_reset_cause_t cause;
    driftsync_client_reset_mode_t mode;
    driftsync_reset_decision_t decision;
    driftsync_string_t s;
    uint64_t a, b, c;
    size_t n;
    driftsync_dropped_change_t d;
    driftsync_reset_timings_t t;
    driftsync_reset_timings_v2_t t2;
    reg_t *r1 = new_reg("null-state"), *r2 = new_reg("null-error");

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_state(NULL, &st, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_progress(NULL, &pr, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_is_paused(NULL, &flag, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_pause(NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_resume(NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_wait_for_upload(NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_wait_for_download(NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_on_state_change(NULL, state_cb, r1, ud_free, &tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_on_error(NULL, error_cb, r2, ud_free, &tok, ERR));
    CHECK(tok == NULL && atomic_load(&r1->freed) == 1 && atomic_load(&r2->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_last_error(NULL, &se, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_last_reset_report(NULL, &rep, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_preview_reset(NULL, DRIFTSYNC_RESET_DECISION_RECOVER, &rep, ERR));

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_server_code(NULL, &code, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_action(NULL, &action, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_reset_cause(NULL, &cause, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_message(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_is_retryable(NULL, &flag, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_clone(NULL, &se, ERR));
    CHECK(se == NULL);
    driftsync_sync_error_free(NULL);

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_cause(NULL, &cause, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_action(NULL, &action, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_server_message(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_mode(NULL, &mode, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_decision(NULL, &decision, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_objects(NULL, &a, &b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_recovered(NULL, &a, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_dropped_count(NULL, &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_discarded_count(NULL, &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_dropped(NULL, 0, &d, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_discarded(NULL, 0, &d, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_before_hook_error(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_after_hook_error(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_backup_path(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_timings(NULL, &t, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_timings_v2(NULL, &t2, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_transfer(NULL, &a, &b, ERR));
    driftsync_reset_report_free(NULL);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_hook_result_fail(NULL, S("message"), ERR));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_hook_result_fail(NULL, NULL, 0, NULL));

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_cause(NULL, &cause, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_message(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_original_path(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_backup_path(NULL, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_report(NULL, &rep, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_clone(NULL, &mr, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_perform(NULL, ERR));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_perform(NULL, NULL));
    CHECK(rep == NULL && mr == NULL);
    driftsync_manual_reset_free(NULL);
}

/* A realm without sync: the session calls give INVALID_ARGUMENT; it has no reset report; a
 * closed synced realm gives CLOSED. */
static void test_without_sync(void) {
    driftsync_realm_t *r = open_with(builder_for("local.realm"));
    driftsync_connection_state_t st;
    driftsync_sync_progress_t pr;
    bool flag;
    driftsync_token_t *tok = NULL;
    driftsync_sync_error_t *se = NULL;
    driftsync_reset_report_t *rep = (driftsync_reset_report_t *)&flag; /* must become NULL */
    reg_t *r1 = new_reg("local-state"), *r2 = new_reg("local-error");

    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_state(r, &st, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_progress(r, &pr, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_is_paused(r, &flag, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_pause(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_resume(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_wait_for_upload(r, 10, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_wait_for_download(r, 10, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_on_state_change(r, state_cb, r1, ud_free, &tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_on_error(r, error_cb, r2, ud_free, &tok, ERR));
    CHECK(tok == NULL && atomic_load(&r1->freed) == 1 && atomic_load(&r2->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_sync_last_error(r, &se, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_preview_reset(r, DRIFTSYNC_RESET_DECISION_DISCARD, &rep, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_last_reset_report(r, &rep, ERR));
    CHECK(rep == NULL);
    /* out-parameters are checked too */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_last_reset_report(r, NULL, ERR));
    driftsync_realm_free(r);
}

/* A synced realm started paused, against a server that is not needed: timeouts, NULL callbacks
 * and out-parameters, a closed handle. */
static void test_paused_session(void) {
    driftsync_realm_t *r = open_plain("paused.realm", "paused", true);
    driftsync_connection_state_t st = DRIFTSYNC_CONNECTION_CONNECTED;
    driftsync_sync_progress_t pr;
    bool paused = false;
    driftsync_token_t *tok = NULL;
    driftsync_sync_error_t *se = (driftsync_sync_error_t *)&paused;
    driftsync_reset_report_t *rep = NULL;
    reg_t *r1 = new_reg("paused-null-cb"), *r2 = new_reg("paused-null-out"), *r3 = new_reg("paused-state"),
          *r4 = new_reg("paused-closed");

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_is_paused(r, &paused, ERR));
    CHECK(paused);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_state(r, &st, ERR));
    CHECK(st == DRIFTSYNC_CONNECTION_DISCONNECTED);
    memset(&pr, 0xff, sizeof pr);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_progress(r, &pr, ERR));
    CHECK(pr.uploaded == 0 && pr.downloaded == 0);
    put_item(r, 1, "never uploaded");
    EXPECT(DRIFTSYNC_STATUS_TIMEOUT, driftsync_realm_sync_wait_for_upload(r, 200, ERR));
    EXPECT(DRIFTSYNC_STATUS_TIMEOUT, driftsync_realm_sync_wait_for_download(r, 200, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_progress(r, &pr, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_last_error(r, &se, ERR));
    CHECK(se == NULL);

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_on_state_change(r, NULL, r1, ud_free, &tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_on_error(r, error_cb, r2, ud_free, NULL, ERR));
    CHECK(tok == NULL && atomic_load(&r1->freed) == 1 && atomic_load(&r2->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_state(r, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_progress(r, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_is_paused(r, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_sync_last_error(r, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_preview_reset(r, DRIFTSYNC_RESET_DECISION_RECOVER, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_preview_reset(r, DRIFTSYNC_RESET_DECISION_MANUAL, &rep, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_preview_reset(r, 7, &rep, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_preview_reset(r, -1, &rep, ERR));
    CHECK(rep == NULL);

    /* a registration the realm's close unregisters; the token is freed after */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_state_change(r, state_cb, r3, ud_free, &tok, ERR));
    CHECK(tok != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_sync_state(r, &st, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_sync_pause(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_sync_resume(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_sync_wait_for_upload(r, 10, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_sync_on_error(r, error_cb, r4, ud_free, &tok, ERR));
    CHECK(atomic_load(&r4->freed) == 1);
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_last_reset_report(r, &rep, ERR));
    CHECK(atomic_load(&r3->freed) == 0);
    driftsync_token_free(tok);
    CHECK(atomic_load(&r3->freed) == 1);
    driftsync_realm_free(r);
}

/* ---- against the server -------------------------------------------------------------------- */

/* Sync state and error callbacks, progress, pause and resume; a refused token reaches the error
 * callback with the server's code. */
static void test_session(void) {
    driftsync_realm_t *r = open_plain("session.realm", "session", true);
    driftsync_realm_t *bad;
    driftsync_config_builder_t *b;
    driftsync_token_t *st_tok = NULL, *er_tok = NULL, *bad_tok = NULL;
    driftsync_sync_progress_t pr;
    driftsync_sync_error_t *last = NULL, *cl = NULL;
    driftsync_server_error_code_t code = DRIFTSYNC_SERVER_ERROR_NONE;
    driftsync_error_action_t action = DRIFTSYNC_ERROR_ACTION_CLIENT_RESET;
    driftsync_reset_cause_t cause = DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED;
    driftsync_string_t m;
    bool retryable = true;
    reg_t *rs = new_reg("session-state"), *re = new_reg("session-error"), *rb = new_reg("bad-token-error");
    long long deadline;

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_state_change(r, state_cb, rs, ud_free, &st_tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_error(r, error_cb, re, ud_free, &er_tok, ERR));
    put_item(r, 1, "one");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    sync_all(r);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_progress(r, &pr, ERR));
    CHECK(pr.uploaded >= 1 && pr.uploaded == pr.uploadable && pr.downloaded <= pr.downloadable);
    CHECK(atomic_load(&state_connected) >= 1 && calls(rs) >= 2 && atomic_load(&state_bad) == 0);
    go_offline(r);
    /* freeing the token unregisters: no more state callbacks */
    driftsync_token_free(st_tok);
    CHECK(atomic_load(&rs->freed) == 1);
    {
        int before = calls(rs);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
        sync_all(r);
        CHECK(calls(rs) == before);
    }

    /* a refused token: the error callback gets the server's code; the session stops */
    b = builder_for("bad-token.realm");
    set_sync(b, "wrong-token", "session");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    bad = open_with(b);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_error(bad, error_cb, rb, ud_free, &bad_tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(bad, ERR));
    wait_calls(rb, 1);
    CHECK(calls(rb) >= 1 && atomic_load(&errors_bad) == 0);
    deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_last_error(bad, &last, ERR));
        if (last) break;
        sleep_ms(20);
    }
    CHECK(last != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_clone(last, &cl, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_server_code(cl, &code, ERR));
    CHECK(code == DRIFTSYNC_SERVER_ERROR_BAD_TOKEN);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_action(cl, &action, ERR));
    CHECK(action == DRIFTSYNC_ERROR_ACTION_FATAL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_reset_cause(cl, &cause, ERR));
    CHECK(cause == DRIFTSYNC_RESET_CAUSE_NONE);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_message(cl, &m, ERR));
    CHECK(m.len > 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_is_retryable(cl, &retryable, ERR));
    CHECK(!retryable);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_server_code(cl, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_action(cl, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_reset_cause(cl, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_message(cl, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_is_retryable(cl, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_sync_error_clone(cl, NULL, ERR));
    driftsync_sync_error_free(cl);
    driftsync_sync_error_free(last);
    {
        bool paused = false;
        deadline = now_ms() + WAIT_MS;
        while (!paused && now_ms() < deadline) {
            driftsync_realm_sync_is_paused(bad, &paused, NULL);
            if (!paused) sleep_ms(20);
        }
        CHECK(paused); /* a fatal error pauses the session */
    }
    driftsync_realm_free(bad);
    CHECK(atomic_load(&rb->freed) == 0); /* the token still holds it */
    driftsync_token_free(bad_tok);
    CHECK(atomic_load(&rb->freed) == 1);

    driftsync_realm_free(r);
    driftsync_token_free(er_tok);
    CHECK(atomic_load(&re->freed) == 1);
}

/* Recover mode, server restored from a backup: hooks (the after hook re-enters: reads `before`,
 * writes `live`), progress, a kept backup, preview, the report; unsynced changes and changes the
 * server lost are recovered and uploaded. */
static void test_recover(void) {
    driftsync_config_builder_t *b = builder_for("recover.realm");
    driftsync_realm_t *r, *other;
    driftsync_reset_report_t *rep, *pv;
    driftsync_token_t *er_tok = NULL;
    reg_t *rb = new_reg("recover-before"), *ra = new_reg("recover-after"), *rp = new_reg("recover-progress"),
          *re = new_reg("recover-error");
    driftsync_object_t *obj = NULL;
    driftsync_string_t s;
    uint64_t changesets = 0, instructions = 0;
    driftsync_reset_cause_t cause = DRIFTSYNC_RESET_CAUSE_NONE;
    driftsync_error_action_t action = DRIFTSYNC_ERROR_ACTION_FATAL;
    driftsync_client_reset_mode_t mode = DRIFTSYNC_CLIENT_RESET_MANUAL;
    char *backups = path_in_dir("backups");

    set_sync(b, "alice-token", "recover");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_RECOVER_UNSYNCED_CHANGES, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, rb, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset(b, after_hook, ra, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_download_progress(b, progress_cb, rp, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_keep_backup(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_backup_dir(b, S(backups), ERR));
    r = open_with(b);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_error(r, error_cb, re, ud_free, &er_tok, ERR));
    put_item(r, 1, "one");
    sync_all(r);
    CHECK(admin("backup", "b1", NULL));
    put_item(r, 2, "acked, then lost by the restore");
    sync_all(r);
    go_offline(r);
    put_item(r, 4, "offline");

    /* preview: what a discard and a recover would do (nothing is applied) */
    pv = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_preview_reset(r, DRIFTSYNC_RESET_DECISION_DISCARD, &pv, ERR));
    CHECK(pv != NULL && decision_of(pv) == DRIFTSYNC_RESET_DECISION_DISCARD && discarded_count(pv) >= 1);
    CHECK(pv && cause_of(pv) == DRIFTSYNC_RESET_CAUSE_NONE);
    read_whole_report(pv);
    driftsync_reset_report_free(pv);
    pv = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_preview_reset(r, DRIFTSYNC_RESET_DECISION_RECOVER, &pv, ERR));
    CHECK(pv != NULL && decision_of(pv) == DRIFTSYNC_RESET_DECISION_RECOVER);
    driftsync_reset_report_free(pv);
    CHECK(has_item(r, 4, "offline"));
    CHECK(calls(rb) == 0 && calls(ra) == 0);
    CHECK(calls(rp) >= 1); /* the preview's download ran on this thread */

    CHECK(admin("restore", "b1", NULL));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    rep = wait_report(r);
    CHECK(rep != NULL);
    check_transform_timed(r);
    if (rep) {
        CHECK(decision_of(rep) == DRIFTSYNC_RESET_DECISION_RECOVER);
        CHECK(cause_of(rep) == DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_action(rep, &action, ERR));
        CHECK(action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_mode(rep, &mode, ERR));
        CHECK(mode == DRIFTSYNC_CLIENT_RESET_RECOVER_UNSYNCED_CHANGES);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_recovered(rep, &changesets, &instructions, ERR));
        CHECK(changesets >= 1 && instructions >= 1);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_backup_path(rep, &s, ERR));
        CHECK(s.len > 0 && str_has(s, "backups"));
        {
            char p[1024];
            copy_str(p, sizeof p, s);
            CHECK(file_exists(p));
        }
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_before_hook_error(rep, &s, ERR));
        CHECK(s.len == 0);
        read_whole_report(rep);
        /* out-parameters of the accessors */
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_cause(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_action(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_server_message(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_mode(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_decision(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_objects(rep, &changesets, NULL, &changesets, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_recovered(rep, NULL, &changesets, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_dropped_count(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_discarded_count(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_dropped(rep, 0, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_discarded(rep, 0, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_before_hook_error(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_after_hook_error(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_backup_path(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_timings(rep, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_reset_report_timings_v2(rep, NULL, ERR));
        driftsync_reset_report_free(rep);
    }
    wait_calls(ra, 1);
    CHECK(calls(rb) == 1 && calls(ra) == 1);
    CHECK(atomic_load(&before_was_frozen) == 1 && atomic_load(&after_live_frozen) == 0);
    CHECK(strcmp(before_saw, "offline") == 0 && strcmp(after_before_saw, "offline") == 0);
    CHECK(atomic_load(&after_did_recover) == 1);
    CHECK(atomic_load(&after_write_status) == DRIFTSYNC_STATUS_OK);
    CHECK(atomic_load(&after_live_closed) == 1);
    CHECK(calls(rp) >= 2 && atomic_load(&progress_total) >= 1);
    /* the cursor made from the lent `before` outlived the hook: it reports CLOSED */
    CHECK(stale_cursor != NULL);
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_cursor_next(stale_cursor, &obj, ERR));
    driftsync_cursor_free(stale_cursor);
    stale_cursor = NULL;
    /* the error callback saw the demand */
    CHECK(reset_error != NULL);
    if (reset_error) {
        driftsync_server_error_code_t code = DRIFTSYNC_SERVER_ERROR_NONE;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_reset_cause(reset_error, &cause, ERR));
        CHECK(cause == DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_server_code(reset_error, &code, ERR));
        CHECK(code != DRIFTSYNC_SERVER_ERROR_NONE);
        driftsync_sync_error_free(reset_error);
        reset_error = NULL;
    }
    /* the unsynced change, the change the server lost, and the after hook's write */
    sync_all(r);
    CHECK(has_item(r, 1, "one"));
    CHECK(has_item(r, 2, NULL));
    CHECK(has_item(r, 4, "offline"));
    CHECK(has_item(r, 99, "after-hook"));
    /* ... all on the server: a new client sees them */
    other = open_plain("recover-other.realm", "recover", false);
    sync_all(other);
    CHECK(has_item(other, 2, NULL) && has_item(other, 4, "offline") && has_item(other, 99, "after-hook"));
    driftsync_realm_free(other);

    driftsync_token_free(er_tok); /* unregisters: both shares of user_data are released */
    CHECK(atomic_load(&re->freed) == 1);
    /* the hooks' user_data lives as long as the realm */
    CHECK(atomic_load(&rb->freed) == 0 && atomic_load(&ra->freed) == 0 && atomic_load(&rp->freed) == 0);
    driftsync_realm_free(r);
    CHECK(atomic_load(&rb->freed) == 1 && atomic_load(&ra->freed) == 1 && atomic_load(&rp->freed) == 1);
    free(backups);
}

/* Discard mode, sync terminated and re-enabled while another client writes: observers see the
 * reset's exact changes; the discarded change is in the report. */
static void test_discard(void) {
    driftsync_config_builder_t *b = builder_for("discard.realm");
    driftsync_realm_t *r, *other;
    driftsync_reset_report_t *rep;
    driftsync_token_t *obs_tok = NULL, *er_tok = NULL;
    reg_t *ro = new_reg("discard-observer"), *re = new_reg("discard-error");
    driftsync_dropped_change_t d;
    driftsync_reset_cause_t cause = DRIFTSYNC_RESET_CAUSE_NONE;
    size_t dropped = 1;

    set_sync(b, "alice-token", "discard");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES, ERR));
    r = open_with(b);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_on_error(r, error_cb, re, ud_free, &er_tok, ERR));
    offline_change_then_reset_demand(r);
    other = open_plain("discard-other.realm", "discard", false);
    put_item(other, 3, "from the other client");
    sync_all(other);
    driftsync_realm_free(other);

    atomic_store(&obs_inserted3, 0);
    atomic_store(&obs_erased2, 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r, observer, ro, ud_free, &obs_tok, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    rep = wait_report(r);
    CHECK(rep != NULL);
    check_transform_timed(r);
    if (rep) {
        CHECK(decision_of(rep) == DRIFTSYNC_RESET_DECISION_DISCARD);
        CHECK(cause_of(rep) == DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED);
        CHECK(discarded_count(rep) >= 1);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_discarded(rep, 0, &d, ERR));
        CHECK(d.local_version >= 1 && d.instruction.len > 0 && d.reason.len > 0);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_dropped_count(rep, &dropped, ERR));
        CHECK(dropped == 0);
        check_transfer(rep);
        read_whole_report(rep);
        driftsync_reset_report_free(rep);
    }
    sync_all(r);
    CHECK(!has_item(r, 2, NULL));
    CHECK(has_item(r, 1, "one") && has_item(r, 3, "from the other client"));
    CHECK(atomic_load(&obs_erased2) == 1 && atomic_load(&obs_inserted3) == 1);
    CHECK(reset_error != NULL);
    if (reset_error) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_reset_cause(reset_error, &cause, ERR));
        CHECK(cause == DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED);
        driftsync_sync_error_free(reset_error);
        reset_error = NULL;
    }
    driftsync_realm_free(r);
    CHECK(atomic_load(&ro->freed) == 0 && atomic_load(&re->freed) == 0);
    driftsync_token_free(obs_tok);
    driftsync_token_free(er_tok);
    CHECK(atomic_load(&ro->freed) == 1 && atomic_load(&re->freed) == 1);
}

/* RecoverOrDiscard mode with recovery disabled on the server: the demand has no recovery, so the
 * reset discards. */
static void test_recover_or_discard(void) {
    driftsync_config_builder_t *b = builder_for("rod.realm");
    driftsync_realm_t *r;
    driftsync_reset_report_t *rep;
    driftsync_error_action_t action = DRIFTSYNC_ERROR_ACTION_CLIENT_RESET;
    driftsync_client_reset_mode_t mode = DRIFTSYNC_CLIENT_RESET_MANUAL;
    reg_t *ra = new_reg("rod-after");

    set_sync(b, "alice-token", "rod");
    EXPECT(DRIFTSYNC_STATUS_OK,
           driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_RECOVER_OR_DISCARD_UNSYNCED_CHANGES, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset(b, after_hook, ra, ud_free, ERR));
    r = open_with(b);
    put_item(r, 1, "one");
    sync_all(r);
    go_offline(r);
    put_item(r, 2, "offline");
    CHECK(admin("recovery", "off", NULL));
    CHECK(admin("terminate", NULL, NULL));
    CHECK(admin("enable", NULL, NULL));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    rep = wait_report(r);
    CHECK(rep != NULL);
    if (rep) {
        CHECK(decision_of(rep) == DRIFTSYNC_RESET_DECISION_DISCARD);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_action(rep, &action, ERR));
        CHECK(action == DRIFTSYNC_ERROR_ACTION_CLIENT_RESET_NO_RECOVERY);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_mode(rep, &mode, ERR));
        CHECK(mode == DRIFTSYNC_CLIENT_RESET_RECOVER_OR_DISCARD_UNSYNCED_CHANGES);
        CHECK(discarded_count(rep) >= 1);
        read_whole_report(rep);
        driftsync_reset_report_free(rep);
    }
    wait_calls(ra, 1);
    CHECK(calls(ra) == 1 && atomic_load(&after_did_recover) == 0);
    sync_all(r);
    CHECK(!has_item(r, 2, NULL) && has_item(r, 1, "one") && has_item(r, 99, "after-hook"));
    CHECK(admin("recovery", "on", NULL));
    if (stale_cursor) {
        driftsync_cursor_free(stale_cursor);
        stale_cursor = NULL;
    }
    driftsync_realm_free(r);
    CHECK(atomic_load(&ra->freed) == 1);
}

/* The v2 hooks in Discard mode: a before hook that neither fails nor returns false lets the reset
 * run (no before-hook error); an after hook that fails with a message (and returns false) has that
 * message, the last one it gave, in the report's after-hook error. */
static const char *AFTER_V2_MESSAGE = "IllegalStateException: after hook failed on purpose";

static void test_v2_hooks(void) {
    driftsync_config_builder_t *b = builder_for("v2.realm");
    driftsync_realm_t *r;
    driftsync_reset_report_t *rep = NULL;
    driftsync_string_t s;
    reg_t *rb = new_reg("v2-before-ok"), *ra = new_reg("v2-after-fails");
    long long deadline;

    ra->message = AFTER_V2_MESSAGE;
    ra->result = false;
    atomic_store(&v2_fail_status, -1);
    set_sync(b, "alice-token", "v2hooks");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset_v2(b, before_hook_v2, rb, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_after_reset_v2(b, after_hook_v2, ra, ud_free, ERR));
    r = open_with(b);
    offline_change_then_reset_demand(r);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    wait_calls(ra, 1);
    CHECK(calls(rb) == 1 && calls(ra) == 1);
    CHECK(atomic_load(&v2_fail_status) == DRIFTSYNC_STATUS_OK);
    CHECK(atomic_load(&after_did_recover) == 0 && atomic_load(&after_live_frozen) == 0);
    /* the after-hook error is added to the report when the hook has returned */
    deadline = now_ms() + WAIT_MS;
    for (;;) {
        rep = NULL;
        if (driftsync_realm_last_reset_report(r, &rep, NULL) == DRIFTSYNC_STATUS_OK && rep &&
            driftsync_reset_report_after_hook_error(rep, &s, NULL) == DRIFTSYNC_STATUS_OK && s.len > 0)
            break;
        driftsync_reset_report_free(rep);
        rep = NULL;
        if (now_ms() >= deadline) break;
        sleep_ms(20);
    }
    CHECK(rep != NULL);
    if (rep) {
        CHECK(decision_of(rep) == DRIFTSYNC_RESET_DECISION_DISCARD);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_after_hook_error(rep, &s, ERR));
        CHECK(str_eq(s, AFTER_V2_MESSAGE));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_before_hook_error(rep, &s, ERR));
        CHECK(s.len == 0);
        read_whole_report(rep);
        driftsync_reset_report_free(rep);
    }
    /* the reset itself happened */
    sync_all(r);
    CHECK(has_item(r, 1, "one") && !has_item(r, 2, NULL));
    CHECK(atomic_load(&rb->freed) == 0 && atomic_load(&ra->freed) == 0);
    driftsync_realm_free(r);
    CHECK(atomic_load(&rb->freed) == 1 && atomic_load(&ra->freed) == 1);
}

/* Manual mode: the handler gets everything, perform is BUSY while handles are open, the backup
 * is opened from C and holds the unsynced change; after perform the realm starts from the server.
 * Also: a before hook that returns false turns an automatic reset into a manual one. */
static const char *BEFORE_V2_MESSAGE = "RuntimeError: the app says no \xc3\xa9";

static void manual_case(int fallback) {
    const char *file = fallback == 2 ? "fallback-v2.realm" : fallback ? "fallback.realm" : "manual.realm";
    const char *name = fallback == 2 ? "fallback-v2" : fallback ? "fallback" : "manual";
    driftsync_config_builder_t *b = builder_for(file);
    driftsync_realm_t *r, *backup;
    driftsync_reset_report_t *rep, *mrep = NULL;
    driftsync_reset_cause_t cause = DRIFTSYNC_RESET_CAUSE_NONE;
    driftsync_string_t s;
    reg_t *rm = new_reg(fallback ? "fallback-manual" : "manual-handler");
    reg_t *rb = fallback == 2 ? new_reg("fallback-before-v2") : fallback ? new_reg("fallback-before") : NULL;
    char *backups = path_in_dir("backups");
    bool paused = false;

    set_sync(b, "alice-token", name);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(
                                    b, fallback ? DRIFTSYNC_CLIENT_RESET_RECOVER_OR_DISCARD_UNSYNCED_CHANGES : DRIFTSYNC_CLIENT_RESET_MANUAL, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_manual_reset_handler(b, manual_cb, rm, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_backup_dir(b, S(backups), ERR));
    if (rb && fallback == 2) {
        /* fails with a message and returns true: still a failure */
        rb->message = BEFORE_V2_MESSAGE;
        rb->result = true;
        atomic_store(&v2_fail_status, -1);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset_v2(b, before_hook_v2, rb, ud_free, ERR));
    } else if (rb) {
        rb->result = false;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_before_reset(b, before_hook, rb, ud_free, ERR));
    }
    r = open_with(b);
    offline_change_then_reset_demand(r);
    manual_clone = NULL;
    atomic_store(&manual_bad, 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    wait_calls(rm, 1);
    CHECK(calls(rm) == 1 && atomic_load(&manual_bad) == 0);
    CHECK(atomic_load(&manual_perform_status) == DRIFTSYNC_STATUS_BUSY);
    note(DRIFTSYNC_STATUS_BUSY);
    if (rb) CHECK(calls(rb) == 1);
    if (fallback == 2) {
        CHECK(atomic_load(&v2_fail_status) == DRIFTSYNC_STATUS_OK);
        CHECK(atomic_load(&v2_null_message) == DRIFTSYNC_STATUS_NULL_ARGUMENT);
        CHECK(atomic_load(&v2_bad_utf8) == DRIFTSYNC_STATUS_INVALID_UTF8);
        CHECK(atomic_load(&v2_empty) == DRIFTSYNC_STATUS_INVALID_ARGUMENT);
        CHECK(atomic_load(&before_was_frozen) == 1);
    }
    rep = wait_report(r);
    CHECK(rep != NULL);
    if (rep) {
        CHECK(decision_of(rep) == DRIFTSYNC_RESET_DECISION_MANUAL);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_before_hook_error(rep, &s, ERR));
        CHECK(fallback ? s.len > 0 : s.len == 0);
        if (fallback == 1) CHECK(str_has(s, "returned false"));
        if (fallback == 2) CHECK(str_eq(s, BEFORE_V2_MESSAGE));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_reset_report_backup_path(rep, &s, ERR));
        CHECK(str_eq(s, manual_backup));
        read_whole_report(rep);
        driftsync_reset_report_free(rep);
    }
    /* nothing was reset automatically; the session stays paused */
    CHECK(has_item(r, 2, "offline"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_is_paused(r, &paused, ERR));
    CHECK(paused);
    CHECK(manual_clone != NULL);
    if (manual_clone) {
        driftsync_manual_reset_t *copy = NULL;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_cause(manual_clone, &cause, ERR));
        CHECK(cause == DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_message(manual_clone, &s, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_original_path(manual_clone, &s, ERR));
        CHECK(str_has(s, file));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_backup_path(manual_clone, &s, ERR));
        CHECK(str_eq(s, manual_backup) && str_has(s, "backups"));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_report(manual_clone, &mrep, ERR));
        CHECK(mrep != NULL && decision_of(mrep) == DRIFTSYNC_RESET_DECISION_MANUAL);
        driftsync_reset_report_free(mrep);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_clone(manual_clone, &copy, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_cause(copy, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_message(copy, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_original_path(copy, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_backup_path(copy, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_report(copy, NULL, ERR));
        EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_manual_reset_clone(copy, NULL, ERR));
        driftsync_manual_reset_free(copy);

        /* BUSY while a handle is open, then the reset runs */
        EXPECT(DRIFTSYNC_STATUS_BUSY, driftsync_manual_reset_perform(manual_clone, ERR));
        driftsync_realm_free(r);
        r = NULL;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_manual_reset_perform(manual_clone, ERR));
        driftsync_manual_reset_free(manual_clone);
        manual_clone = NULL;
    }
    if (r) driftsync_realm_free(r);
    CHECK(atomic_load(&rm->freed) == 1);
    if (rb) CHECK(atomic_load(&rb->freed) == 1);

    /* the backup, opened from C without sync, holds the unsynced change */
    {
        driftsync_config_builder_t *bb = driftsync_config_builder_new();
        driftsync_schema_t *sc = schema();
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(bb, S(manual_backup), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(bb, sc, ERR));
        driftsync_schema_free(sc);
        backup = open_with(bb);
        CHECK(backup != NULL && has_item(backup, 2, "offline") && has_item(backup, 1, "one"));
        driftsync_realm_free(backup);
    }
    /* the realm starts again from the server's state */
    r = open_plain(file, name, false);
    sync_all(r);
    CHECK(has_item(r, 1, "one") && !has_item(r, 2, NULL));
    driftsync_realm_free(r);
    free(backups);
}

/* ---- TLS ----------------------------------------------------------------------------------- */

/* The whole of a small text file (malloc'd), or NULL. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A synced realm that trusts `ca_pem` (NULL: only the system roots). */
static driftsync_realm_t *open_tls(const char *file, const char *ca_pem, bool paused) {
    driftsync_config_builder_t *b = builder_for(file);
    set_sync(b, "alice-token", "tls");
    if (ca_pem) EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_add_trusted_ca_pem(b, S(ca_pem), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, paused, ERR));
    return open_with(b);
}

/* wss:// with a CA made at test time (examples/test_pki, path in $DRIFTSYNC_TEST_PKI): two realms
 * sync; without the CA the session fails once, not retryable; a non-loopback ws:// is refused at
 * open unless cleartext is allowed; junk given as a CA is refused. */
static void test_tls(void) {
    const char *tool = getenv("DRIFTSYNC_TEST_PKI");
    char *pki = path_in_dir("pki"), *ca_path = path_in_dir("pki/ca.pem");
    char *argv[] = {(char *)tool, pki, NULL};
    char *out = path_in_dir("pki.out"), *errp = path_in_dir("pki.err");
    char *ca = NULL;
    int st = -1;
    pid_t pid;
    driftsync_config_builder_t *b;
    driftsync_config_t *c = NULL;
    driftsync_realm_t *r = NULL;

    /* cleartext to a host that is not loopback */
    b = builder_for("cleartext.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S("ws://203.0.113.7:9"), S("t"), S("tls"), ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_add_trusted_ca_pem(b, S("not a certificate"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);
    b = builder_for("cleartext.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S("ws://203.0.113.7:9"), S("t"), S("tls"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_allow_cleartext(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    r = open_with(b);
    driftsync_realm_free(r);

    CHECK(tool != NULL);
    if (tool) {
        pid = spawn(argv, out, errp);
        if (pid > 0) waitpid(pid, &st, 0);
        CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ca = read_text(ca_path);
    }
    CHECK(ca != NULL);
    if (ca && start_server(pki)) {
        driftsync_realm_t *a, *z, *untrusting;
        driftsync_sync_error_t *last = NULL;
        bool retryable = true, paused = false;
        long long deadline;
        passed++;
        CHECK(strncmp(server_url, "wss://", 6) == 0);
        a = open_tls("tls-a.realm", ca, false);
        z = open_tls("tls-b.realm", ca, false);
        put_item(a, 1, "over tls");
        sync_all(a);
        sync_all(z);
        CHECK(has_item(z, 1, "over tls"));
        driftsync_realm_free(a);
        driftsync_realm_free(z);

        untrusting = open_tls("tls-untrusting.realm", NULL, false);
        deadline = now_ms() + WAIT_MS;
        while (now_ms() < deadline) {
            EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_last_error(untrusting, &last, ERR));
            driftsync_realm_sync_is_paused(untrusting, &paused, NULL);
            if (last && paused) break;
            driftsync_sync_error_free(last);
            last = NULL;
            sleep_ms(20);
        }
        CHECK(last != NULL && paused);
        if (last) {
            EXPECT(DRIFTSYNC_STATUS_OK, driftsync_sync_error_is_retryable(last, &retryable, ERR));
            CHECK(!retryable);
        }
        driftsync_sync_error_free(last);
        driftsync_realm_free(untrusting);
    } else {
        failed++;
    }
    stop_server();
    free(ca);
    free(pki);
    free(ca_path);
    free(out);
    free(errp);
}

/* ---- failures that reach the app at once (issue 11) ------------------------------------------ */

/* The log callback: counts lines per category; a line must have a known level and category. */
static atomic_int log_sync, log_reset, log_storage, log_bad;
static void log_cb(void *user_data, driftsync_log_level_t level, driftsync_string_t category, driftsync_string_t message) {
    reg_t *reg = user_data;
    if ((int)level < DRIFTSYNC_LOG_ERROR || (int)level > DRIFTSYNC_LOG_TRACE || message.len == 0) atomic_store(&log_bad, 1);
    if (str_eq(category, "sync")) atomic_fetch_add(&log_sync, 1);
    else if (str_eq(category, "reset")) atomic_fetch_add(&log_reset, 1);
    else if (str_eq(category, "storage")) atomic_fetch_add(&log_storage, 1);
    else if (!str_eq(category, "general")) atomic_store(&log_bad, 1);
    atomic_fetch_add(&reg->calls, 1);
}

/* Handlers on the config see the first connection; a wait without limit on a refused token ends
 * with AUTHENTICATION; a wait pending when a reset goes to the manual handler ends with
 * CLIENT_RESET and its cause; an unusable URL fails open; the log callback gets the lines and its
 * user_data_free runs once when replaced and once when removed. */
static void test_session_errors(void) {
    reg_t *lg1 = new_reg("log-callback-1"), *lg2 = new_reg("log-callback-2");
    reg_t *ce = new_reg("config-error-handler"), *cs = new_reg("config-state-handler"), *rm = new_reg("errors-manual");
    driftsync_config_builder_t *b;
    driftsync_config_t *c = NULL;
    driftsync_realm_t *r = NULL;
    driftsync_status_t st;
    driftsync_string_t cause;

    {
        reg_t *invalid = new_reg("log-callback-invalid-level");
        EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_set_log_callback(9, log_cb, invalid, ud_free, ERR));
        CHECK(atomic_load(&invalid->freed) == 1); /* a failed registration frees at once */
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_set_log_callback(DRIFTSYNC_LOG_INFO, log_cb, lg1, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_set_log_callback(DRIFTSYNC_LOG_DEBUG, log_cb, lg2, ud_free, ERR));
    CHECK(atomic_load(&lg1->freed) == 1 && atomic_load(&lg2->freed) == 0); /* replaced: freed once */

    /* a refused token: the config's handlers see the first connection; waits end at once */
    b = builder_for("errors-bad-token.realm");
    set_sync(b, "wrong-token", "errors");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync_error_handler(b, error_cb, ce, ud_free, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_connection_state_handler(b, state_cb, cs, ud_free, ERR));
    r = open_with(b);
    EXPECT(DRIFTSYNC_STATUS_AUTHENTICATION, driftsync_realm_sync_wait_for_upload(r, UINT64_MAX, ERR));
    EXPECT(DRIFTSYNC_STATUS_AUTHENTICATION, driftsync_realm_sync_wait_for_download(r, UINT64_MAX, ERR));
    EXPECT0(DRIFTSYNC_STATUS_AUTHENTICATION, driftsync_realm_sync_wait_for_download(r, UINT64_MAX, NULL));
    wait_calls(ce, 1);
    CHECK(calls(ce) >= 1 && calls(cs) >= 1 && atomic_load(&errors_bad) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR));
    driftsync_realm_free(r);

    /* an unusable URL fails open itself */
    b = builder_for("errors-url.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S("http://127.0.0.1:1"), S("alice-token"), S("errors"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    r = NULL;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_open(c, &r, ERR));
    CHECK(r == NULL);
    driftsync_config_free(c);

    /* a reset handed to the manual handler ends the pending wait with CLIENT_RESET */
    b = builder_for("errors-manual.realm");
    set_sync(b, "alice-token", "errors-manual");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_MANUAL, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_manual_reset_handler(b, manual_cb, rm, ud_free, ERR));
    r = open_with(b);
    offline_change_then_reset_demand(r);
    manual_clone = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(r, ERR));
    st = driftsync_realm_sync_wait_for_download(r, UINT64_MAX, ERR);
    note(st);
    CHECK(st == DRIFTSYNC_STATUS_CLIENT_RESET);
    CHECK(err != NULL && driftsync_error_code(err) == DRIFTSYNC_STATUS_CLIENT_RESET);
    cause = driftsync_error_cause(err);
    CHECK(str_eq(cause, "sync_reenabled"));
    driftsync_error_free(err);
    err = NULL;
    wait_calls(rm, 1);
    if (manual_clone) {
        driftsync_manual_reset_free(manual_clone);
        manual_clone = NULL;
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR));
    driftsync_realm_free(r);

    /* the library logged what happened, by category */
    CHECK(atomic_load(&log_sync) > 0 && atomic_load(&log_reset) > 0 && atomic_load(&log_storage) > 0);
    CHECK(atomic_load(&log_bad) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_set_log_callback(DRIFTSYNC_LOG_OFF, NULL, NULL, NULL, ERR));
    CHECK(atomic_load(&lg2->freed) == 1); /* removed: freed once */
    {
        int before = calls(lg2);
        driftsync_realm_t *quiet = open_plain("errors-quiet.realm", "errors", true);
        driftsync_realm_free(quiet);
        CHECK(calls(lg2) == before);
    }
}

/* A handle closed but not freed keeps the file's shared state: a reopen then uses the new
 * config (its start_paused and its handler), and while that handle is live another config with
 * other sync settings is refused, not ignored. */
static void test_reopen_uses_the_new_config(void) {
    driftsync_realm_t *first = open_plain("reopen.realm", "reopen", false);
    driftsync_realm_t *second, *third = NULL;
    driftsync_config_builder_t *b;
    driftsync_config_t *c = NULL;
    reg_t *st = new_reg("reopen-state-handler");
    bool paused = false;
    sync_all(first);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(first, ERR)); /* closed, not freed */

    b = builder_for("reopen.realm");
    set_sync(b, "alice-token", "reopen");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_start_paused(b, true, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_connection_state_handler(b, state_cb, st, ud_free, ERR));
    second = open_with(b);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_is_paused(second, &paused, ERR));
    CHECK(paused);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_sync_resume(second, ERR));
    sync_all(second);
    CHECK(calls(st) > 0); /* the new config's handler saw the connection */

    b = builder_for("reopen.realm");
    set_sync(b, "bob-token", "reopen");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_open(c, &third, ERR));
    CHECK(third == NULL);
    driftsync_config_free(c);
    driftsync_realm_free(second);
    driftsync_realm_free(first);
}

int main(int argc, char **argv) {
    static const driftsync_status_t must_see[] = {
        DRIFTSYNC_STATUS_OK,       DRIFTSYNC_STATUS_INVALID_ARGUMENT, DRIFTSYNC_STATUS_NULL_ARGUMENT,
        DRIFTSYNC_STATUS_TIMEOUT,  DRIFTSYNC_STATUS_CLOSED,           DRIFTSYNC_STATUS_BUSY,
        DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
    };
    const char *bin = getenv("DRIFTSYNC_SERVER");
    struct sigaction sa;
    size_t i;
    int k;
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch directory>\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    snprintf(server_bin, sizeof server_bin, "%s", bin && *bin ? bin : "target/debug/driftsync-server");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    atexit(stop_server);

    test_enums();
    test_builder();
    test_nulls();
    test_without_sync();
    if (start_server(NULL)) {
        passed++;
        test_paused_session();
        test_session();
        test_recover();
        test_discard();
        test_recover_or_discard();
        manual_case(0);
        manual_case(1);
        manual_case(2);
        test_v2_hooks();
        test_session_errors();
        test_reopen_uses_the_new_config();
    } else {
        failed++;
    }
    stop_server();
    test_tls();

    for (i = 0; i < sizeof must_see / sizeof must_see[0]; i++) {
        if (seen[must_see[i]]) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "status %s was never produced\n", driftsync_status_name(must_see[i]));
        }
    }
    /* every user_data_free ran exactly once */
    for (k = 0; k < nregs; k++) {
        int f = atomic_load(&regs[k]->freed);
        if (f == 1) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "user_data '%s' freed %d times\n", regs[k]->name, f);
        }
        free(regs[k]);
    }
    CHECK(atomic_load(&frees) == nregs);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
