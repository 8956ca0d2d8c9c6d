/* The C harness of driftsync's ABI: plain C11 over the public header only.
 * Usage: test_abi <empty scratch directory>
 * Prints one final line "N passed, N failed" and exits non-zero on any failure. */
#include "driftsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "harness.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static driftsync_string_t str(const char *s) {
    driftsync_string_t r;
    r.data = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

static int str_eq(driftsync_string_t s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.data, want, s.len) == 0);
}

static driftsync_pk_t pk_int(int64_t i) {
    driftsync_pk_t k;
    memset(&k, 0, sizeof k);
    k.kind = DRIFTSYNC_PK_INT;
    k.int_value = i;
    return k;
}

static driftsync_pk_t pk_str(const char *s) {
    driftsync_pk_t k;
    memset(&k, 0, sizeof k);
    k.kind = DRIFTSYNC_PK_STRING;
    k.string = str(s);
    return k;
}

static driftsync_pk_t pk_oid(unsigned char b) {
    driftsync_pk_t k;
    memset(&k, 0, sizeof k);
    k.kind = DRIFTSYNC_PK_OBJECT_ID;
    memset(k.object_id, b, sizeof k.object_id);
    return k;
}

static driftsync_pk_t pk_uuid(unsigned char b) {
    driftsync_pk_t k;
    memset(&k, 0, sizeof k);
    k.kind = DRIFTSYNC_PK_UUID;
    memset(k.uuid, b, sizeof k.uuid);
    return k;
}

static driftsync_value_t v_of(driftsync_value_type_t kind) {
    driftsync_value_t v;
    memset(&v, 0, sizeof v);
    v.kind = kind;
    return v;
}

static driftsync_value_t v_null(void) { return v_of(DRIFTSYNC_VALUE_NULL); }

static driftsync_value_t v_int(int64_t i) {
    driftsync_value_t v = v_of(DRIFTSYNC_VALUE_INT);
    v.int_value = i;
    return v;
}

static driftsync_value_t v_str(const char *s) {
    driftsync_value_t v = v_of(DRIFTSYNC_VALUE_STRING);
    v.string = str(s);
    return v;
}

static driftsync_value_t v_link(driftsync_pk_t k) {
    driftsync_value_t v = v_of(DRIFTSYNC_VALUE_LINK);
    v.link = k;
    return v;
}

static driftsync_field_t fld(const char *name, driftsync_value_t v) {
    driftsync_field_t f;
    f.name = str(name);
    f.value = v;
    return f;
}

static const char *SCHEMA_JSON =
    "{\"classes\":["
    "{\"name\":\"Person\",\"primaryKey\":\"name\",\"properties\":["
    "{\"name\":\"name\",\"type\":\"String\"},"
    "{\"name\":\"age\",\"type\":\"Int\",\"optional\":true},"
    "{\"name\":\"active\",\"type\":\"Bool\",\"optional\":true},"
    "{\"name\":\"score\",\"type\":\"Double\",\"optional\":true},"
    "{\"name\":\"photo\",\"type\":\"Binary\",\"optional\":true},"
    "{\"name\":\"born\",\"type\":\"Timestamp\",\"optional\":true},"
    "{\"name\":\"oid\",\"type\":\"ObjectId\",\"optional\":true},"
    "{\"name\":\"uid\",\"type\":\"Uuid\",\"optional\":true},"
    "{\"name\":\"best\",\"type\":\"Link\",\"optional\":true,\"target\":\"Dog\"},"
    "{\"name\":\"tags\",\"type\":\"String\",\"list\":true},"
    "{\"name\":\"dogs\",\"type\":\"Link\",\"list\":true,\"target\":\"Dog\"}]},"
    "{\"name\":\"Dog\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"Int\"},"
    "{\"name\":\"name\",\"type\":\"String\",\"optional\":true},"
    "{\"name\":\"owner\",\"type\":\"Link\",\"optional\":true,\"target\":\"Person\"}]},"
    "{\"name\":\"Tag\",\"primaryKey\":\"id\",\"properties\":[{\"name\":\"id\",\"type\":\"Uuid\"}]}"
    "]}";

static char *path_in_dir(const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static driftsync_schema_t *main_schema(void) {
    driftsync_schema_t *s = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(SCHEMA_JSON), &s, ERR));
    return s;
}

static driftsync_config_t *make_config(const char *file, driftsync_schema_t *schema, uint64_t timeout_ms) {
    char *path = path_in_dir(file);
    driftsync_config_builder_t *b = driftsync_config_builder_new();
    driftsync_config_t *c = NULL;
    CHECK(b != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S(path), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(b, schema, ERR));
    if (timeout_ms) EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_write_timeout_ms(b, timeout_ms, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    free(path);
    return c;
}

static driftsync_realm_t *open_realm(const char *file, uint64_t timeout_ms) {
    driftsync_schema_t *s = main_schema();
    driftsync_config_t *c = make_config(file, s, timeout_ms);
    driftsync_realm_t *r = NULL;
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);
    return r;
}

/* ---- version, statuses, errors -------------------------------------------------------------- */

static void test_version(void) {
    char version[64];
    snprintf(version, sizeof version, "%d.%d.%d", DRIFTSYNC_VERSION_MAJOR, DRIFTSYNC_VERSION_MINOR, DRIFTSYNC_VERSION_PATCH);
    CHECK(strcmp(driftsync_version(), version) == 0);
    CHECK(driftsync_abi_version() == DRIFTSYNC_ABI_VERSION);
    CHECK(DRIFTSYNC_VERSION_MAJOR == 0 && DRIFTSYNC_VERSION_MINOR >= 0 && DRIFTSYNC_VERSION_PATCH >= 0);
    CHECK(strcmp(driftsync_status_name(DRIFTSYNC_STATUS_OK), "OK") == 0);
    CHECK(strcmp(driftsync_status_name(DRIFTSYNC_STATUS_CLOSED), "CLOSED") == 0);
    CHECK(strcmp(driftsync_status_name(DRIFTSYNC_STATUS_PANIC), "PANIC") == 0);
    CHECK(strcmp(driftsync_status_name(12345), "UNKNOWN") == 0);
    CHECK(strcmp(driftsync_status_name(-1), "UNKNOWN") == 0);
    CHECK(DRIFTSYNC_STATUS_INVALID_ARGUMENT == 1 && DRIFTSYNC_STATUS_CLOSED == 16 && DRIFTSYNC_STATUS_INTERNAL == 25);
}

static void test_errors(void) {
    EXPECT(DRIFTSYNC_STATUS_PANIC, driftsync_debug_panic(ERR));
    EXPECT0(DRIFTSYNC_STATUS_PANIC, driftsync_debug_panic(NULL));
    {
        driftsync_error_t *e = NULL;
        driftsync_string_t m;
        CHECK(driftsync_debug_panic(&e) == DRIFTSYNC_STATUS_PANIC);
        CHECK(driftsync_error_code(e) == DRIFTSYNC_STATUS_PANIC);
        m = driftsync_error_message(e);
        CHECK(m.len > 0 && strstr(m.data, "driftsync_debug_panic") != NULL);
        CHECK(m.data[m.len] == '\0');
        CHECK(driftsync_error_cause(e).len == 0);
        driftsync_error_free(e);
    }
    CHECK(driftsync_error_code(NULL) == DRIFTSYNC_STATUS_NULL_ARGUMENT);
    CHECK(driftsync_error_message(NULL).len == 0);
    CHECK(driftsync_error_cause(NULL).len == 0);
    driftsync_error_free(NULL);
    passed++;
}

/* ---- schemas -------------------------------------------------------------------------------- */

static driftsync_property_t prop(const char *name, driftsync_value_type_t kind, bool list, bool optional, const char *target) {
    driftsync_property_t p;
    memset(&p, 0, sizeof p);
    p.name = str(name);
    p.kind = kind;
    p.list = list;
    p.optional = optional;
    p.target = str(target);
    return p;
}

static driftsync_schema_t *thing_schema(void) {
    driftsync_schema_builder_t *b = driftsync_schema_builder_new();
    driftsync_schema_t *s = NULL;
    driftsync_property_t p;
    CHECK(b != NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("Thing"), S("oid"), ERR));
    p = prop("oid", DRIFTSYNC_VALUE_OBJECT_ID, false, false, NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("Thing"), &p, ERR));
    p = prop("label", DRIFTSYNC_VALUE_STRING, false, true, NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("Thing"), &p, ERR));
    p = prop("parent", DRIFTSYNC_VALUE_LINK, false, true, "Thing");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("Thing"), &p, ERR));
    p = prop("counts", DRIFTSYNC_VALUE_INT, true, false, NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("Thing"), &p, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_build(b, &s, ERR));
    return s;
}

static void test_schema(void) {
    driftsync_schema_t *s = main_schema();
    driftsync_schema_builder_t *b;
    driftsync_property_t p;
    CHECK(s != NULL && driftsync_schema_class_count(s) == 3);
    CHECK(driftsync_schema_class_count(NULL) == 0);
    driftsync_schema_free(s);
    s = NULL;

    EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA, driftsync_schema_from_json(S("{not json"), &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA,
           driftsync_schema_from_json(S("{\"classes\":[{\"name\":\"A\",\"primaryKey\":\"x\",\"properties\":[]}]}"), &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_schema_from_json("\xff\xfe", 2, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_from_json(NULL, 3, &s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_from_json(S(SCHEMA_JSON), NULL, ERR));
    CHECK(s == NULL); /* outputs are written only on success */

    s = thing_schema();
    CHECK(s != NULL && driftsync_schema_class_count(s) == 1);
    driftsync_schema_free(s);
    s = NULL;

    b = driftsync_schema_builder_new();
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_class(NULL, S("A"), S("id"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_class(b, NULL, 1, S("id"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_class(b, S("A"), NULL, 2, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_schema_builder_add_class(b, "\xc3", 1, S("id"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("A"), S("id"), ERR));
    p = prop("id", DRIFTSYNC_VALUE_INT, false, false, NULL);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_property(NULL, S("A"), &p, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_property(b, NULL, 0, &p, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_property(b, S("A"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_schema_builder_add_property(b, S("Nope"), &p, ERR));
    p.kind = (driftsync_value_type_t)77;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_schema_builder_add_property(b, S("A"), &p, ERR));
    p.kind = DRIFTSYNC_VALUE_NULL;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_schema_builder_add_property(b, S("A"), &p, ERR));
    p = prop("id", DRIFTSYNC_VALUE_INT, false, false, NULL);
    p.name.data = NULL;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_add_property(b, S("A"), &p, ERR));
    p = prop("\xff", DRIFTSYNC_VALUE_INT, false, false, NULL);
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_schema_builder_add_property(b, S("A"), &p, ERR));
    /* "A" has no "id" property: the build fails and still consumes the builder. */
    EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA, driftsync_schema_builder_build(b, &s, ERR));
    CHECK(s == NULL);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_build(NULL, &s, ERR));
    b = driftsync_schema_builder_new();
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_schema_builder_build(b, NULL, ERR)); /* consumed */
    b = driftsync_schema_builder_new();
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("B"), S("id"), ERR));
    driftsync_schema_builder_free(b); /* an unbuilt builder */
    driftsync_schema_builder_free(NULL);
    driftsync_schema_free(NULL);
}

/* ---- configs -------------------------------------------------------------------------------- */

static void test_config(void) {
    driftsync_schema_t *s = main_schema();
    driftsync_config_builder_t *b = driftsync_config_builder_new();
    driftsync_config_t *c = NULL;
    driftsync_client_reset_mode_t mode = DRIFTSYNC_CLIENT_RESET_MANUAL;

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_path(NULL, S("x"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_path(b, NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_set_path(b, S(""), ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_config_builder_set_path(b, "\x80", 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_schema(NULL, s, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_schema(b, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_write_timeout_ms(NULL, 5, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_sync(NULL, S("ws://x"), S("t"), S("r"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_sync(b, NULL, 0, S("t"), S("r"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_sync(b, S("ws://x"), NULL, 0, S("r"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_sync(b, S("ws://x"), S("t"), NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_client_reset_mode(NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_set_client_reset_mode(b, 4, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_set_client_reset_mode(b, -1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_backup_dir(NULL, S("/tmp"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_set_backup_dir(b, NULL, 0, ERR));
    /* no path, no schema */
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));
    CHECK(c == NULL);

    b = driftsync_config_builder_new();
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S("x.realm"), ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR)); /* no schema */

    /* A client reset mode needs sync settings. */
    b = driftsync_config_builder_new();
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S("x.realm"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(b, s, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_MANUAL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_builder_build(b, &c, ERR));

    /* Sync settings, mode and backup directory are stored (set in any order). */
    b = driftsync_config_builder_new();
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_client_reset_mode(b, DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S("x.realm"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(b, s, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_sync(b, S("ws://127.0.0.1:1"), S("token"), S("realm"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_backup_dir(b, S("backups"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_write_timeout_ms(b, 100, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    CHECK(driftsync_config_is_synced(c));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_client_reset_mode(c, &mode, ERR));
    CHECK(mode == DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_client_reset_mode(NULL, &mode, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_client_reset_mode(c, NULL, ERR));
    driftsync_config_free(c);
    c = NULL;

    b = driftsync_config_builder_new();
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_path(b, S("x.realm"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_set_schema(b, s, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_config_builder_build(b, &c, ERR));
    CHECK(!driftsync_config_is_synced(c));
    CHECK(!driftsync_config_is_synced(NULL));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_config_client_reset_mode(c, &mode, ERR));
    driftsync_config_free(c);

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_build(NULL, &c, ERR));
    b = driftsync_config_builder_new();
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_config_builder_build(b, NULL, ERR)); /* consumed */
    driftsync_config_builder_free(driftsync_config_builder_new());
    driftsync_config_builder_free(NULL);
    driftsync_config_free(NULL);
    driftsync_schema_free(s);
}

/* ---- opening -------------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static void expect_open(driftsync_status_t want, const char *file, driftsync_schema_t *schema) {
    driftsync_config_t *c = make_config(file, schema, 0);
    driftsync_realm_t *r = NULL;
    EXPECT(want, driftsync_realm_open(c, &r, ERR));
    CHECK((want == DRIFTSYNC_STATUS_OK) == (r != NULL));
    driftsync_realm_free(r);
    driftsync_config_free(c);
}

static void test_open_errors(void) {
    driftsync_schema_t *s = main_schema();
    driftsync_schema_t *breaking = NULL;
    driftsync_realm_t *r = NULL;
    char *p;
    char junk[4096];
    driftsync_config_t *c;

    expect_open(DRIFTSYNC_STATUS_FILE_IO, "no/such/dir/x.realm", s);

    p = path_in_dir("text.realm");
    write_file(p, "this is not a database, just some text\n", 40);
    free(p);
    expect_open(DRIFTSYNC_STATUS_FILE_NOT_REALM, "text.realm", s);

    p = path_in_dir("corrupt.realm");
    memset(junk, 0x5a, sizeof junk);
    memcpy(junk, "SQLite format 3", 16);
    write_file(p, junk, sizeof junk);
    free(p);
    expect_open(DRIFTSYNC_STATUS_FILE_CORRUPT, "corrupt.realm", s);

    expect_open(DRIFTSYNC_STATUS_OK, "breaking.realm", s);
    EXPECT(DRIFTSYNC_STATUS_OK,
           driftsync_schema_from_json(
               S("{\"classes\":[{\"name\":\"Person\",\"primaryKey\":\"name\",\"properties\":[{\"name\":\"name\",\"type\":\"Int\"}]}]}"),
               &breaking, ERR));
    expect_open(DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE, "breaking.realm", breaking);
    driftsync_schema_free(breaking);

    c = make_config("ok.realm", s, 0);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_open(NULL, &r, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_open(c, NULL, ERR));
    CHECK(r == NULL);
    driftsync_config_free(c);
    driftsync_schema_free(s);
}

/* ---- objects and values --------------------------------------------------------------------- */

static void test_objects(void) {
    driftsync_realm_t *r = open_realm("objects.realm", 0);
    driftsync_pk_t ann = pk_str("ann"), bob = pk_str("bob"), rex = pk_int(1);
    driftsync_field_t fields[10];
    driftsync_value_t v;
    driftsync_object_t *o = NULL;
    driftsync_owned_value_t *ov = NULL;
    driftsync_string_t name;
    driftsync_pk_t k;
    bool exists = false, is_list = true;
    uint64_t n = 99;
    size_t i;
    static const unsigned char photo[5] = {0, 1, 2, 0, 255};

    CHECK(!driftsync_realm_is_in_write_transaction(r));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_create(r, S("Dog"), &rex, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_cancel_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    CHECK(driftsync_realm_is_in_write_transaction(r));
    EXPECT(DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION, driftsync_realm_begin_write(r, ERR));

    fields[0] = fld("name", v_str("Rex"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &rex, fields, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY, driftsync_realm_create(r, S("Dog"), &rex, NULL, 0, ERR));

    fields[0] = fld("age", v_int(42));
    fields[1] = fld("active", v_of(DRIFTSYNC_VALUE_BOOL));
    fields[1].value.bool_value = true;
    fields[2] = fld("score", v_of(DRIFTSYNC_VALUE_DOUBLE));
    fields[2].value.double_value = 2.5;
    fields[3] = fld("photo", v_of(DRIFTSYNC_VALUE_BINARY));
    fields[3].value.binary.data = photo;
    fields[3].value.binary.len = sizeof photo;
    fields[4] = fld("born", v_of(DRIFTSYNC_VALUE_TIMESTAMP));
    fields[4].value.timestamp_ns = -1234567890123LL;
    fields[5] = fld("oid", v_of(DRIFTSYNC_VALUE_OBJECT_ID));
    memset(fields[5].value.object_id, 7, 12);
    fields[6] = fld("uid", v_of(DRIFTSYNC_VALUE_UUID));
    memset(fields[6].value.uuid, 9, 16);
    fields[7] = fld("best", v_link(rex));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Person"), &ann, fields, 8, ERR));

    /* Invalid inputs: none of them may write anything. */
    fields[0] = fld("age", v_str("old"));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("nope", v_int(1));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_realm_create(r, S("Cat"), &bob, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_create(r, S("Person"), &rex, NULL, 0, ERR));
    fields[0] = fld("age", v_int(1));
    fields[0].value.kind = (driftsync_value_type_t)1234;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("best", v_link(rex));
    fields[0].value.link.kind = (driftsync_pk_type_t)0;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("age", v_int(1));
    fields[0].name.data = NULL;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("\xfe", v_int(1));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("tags", v_str("x"));
    fields[0].value.string.data = NULL;
    fields[0].value.string.len = 3;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("photo", v_of(DRIFTSYNC_VALUE_BINARY));
    fields[0].value.binary.len = 2;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, fields, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, S("Person"), &bob, NULL, 2, ERR));
    {
        driftsync_pk_t bad = pk_str("x");
        bad.kind = (driftsync_pk_type_t)99;
        EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_create(r, S("Person"), &bad, NULL, 0, ERR));
        bad = pk_str("x");
        bad.string.data = "\xff";
        bad.string.len = 1;
        EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_realm_create(r, S("Person"), &bad, NULL, 0, ERR));
    }
    fields[0] = fld("age", v_null());
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_upsert(r, S("Person"), &bob, fields, 1, ERR));
    fields[0] = fld("age", v_int(7));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_upsert(r, S("Person"), &bob, fields, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(!driftsync_realm_is_in_write_transaction(r));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_count(r, S("Person"), &n, ERR));
    CHECK(n == 2);
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_realm_count(r, S("Cat"), &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_exists(r, S("Person"), &ann, &exists, ERR));
    CHECK(exists);
    /* a zero-initialized key is invalid */
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_exists(r, S("Person"), &(driftsync_pk_t){0}, &exists, ERR));

    /* The whole object. */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Person"), &ann, &o, ERR));
    CHECK(str_eq(driftsync_object_class(o), "Person"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_primary_key(o, &k, ERR));
    CHECK(k.kind == DRIFTSYNC_PK_STRING && str_eq(k.string, "ann"));
    CHECK(driftsync_object_field_count(o) == 11);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_name(o, 0, &name, &is_list, ERR));
    CHECK(str_eq(name, "name") && !is_list);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_name(o, 9, &name, &is_list, ERR));
    CHECK(str_eq(name, "tags") && is_list);
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_object_field_name(o, 11, &name, &is_list, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("name"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_STRING && str_eq(v.string, "ann"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("age"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 42);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("active"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_BOOL && v.bool_value);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("score"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_DOUBLE && v.double_value == 2.5);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("photo"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_BINARY && v.binary.len == 5 && memcmp(v.binary.data, photo, 5) == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("born"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_TIMESTAMP && v.timestamp_ns == -1234567890123LL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("oid"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_OBJECT_ID && v.object_id[0] == 7 && v.object_id[11] == 7);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("uid"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_UUID && v.uuid[0] == 9 && v.uuid[15] == 9);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("best"), &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_LINK && v.link.kind == DRIFTSYNC_PK_INT && v.link.int_value == 1);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_get_value(o, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_object_get_value(o, S("nope"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("tags"), &i, ERR));
    CHECK(i == 0);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_list_len(o, S("age"), &i, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_object_list_get(o, S("tags"), 0, &v, ERR));
    driftsync_object_free(o);
    o = NULL;

    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_get_object(r, S("Person"), &(driftsync_pk_t){.kind = DRIFTSYNC_PK_STRING}, &o, ERR));
    CHECK(o == NULL);

    /* Single fields. */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Person"), &bob, S("age"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 7);
    driftsync_owned_value_free(ov);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Person"), &bob, S("score"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_NULL);
    driftsync_owned_value_free(ov);
    ov = NULL;
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_get_value(r, S("Person"), &bob, S("tags"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_realm_get_value(r, S("Person"), &bob, S("zzz"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_get_value(r, S("Person"), &(driftsync_pk_t){.kind = DRIFTSYNC_PK_STRING}, S("age"), &ov, ERR));
    CHECK(ov == NULL);

    v = v_int(8);
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_set_value(r, S("Person"), &bob, S("age"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_value(r, S("Person"), &bob, S("age"), &v, ERR));
    v = v_str("eight");
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_value(r, S("Person"), &bob, S("age"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Dog"), &rex, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_erase(r, S("Dog"), &rex, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    /* rule 6: the link to the erased dog became null */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Person"), &ann, S("best"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_NULL);
    driftsync_owned_value_free(ov);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Person"), &bob, S("age"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.int_value == 8);
    driftsync_owned_value_free(ov);

    /* cancel rolls back */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Person"), &bob, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cancel_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_exists(r, S("Person"), &bob, &exists, ERR));
    CHECK(exists);

    /* objectId and uuid primary keys */
    {
        driftsync_schema_t *ts = thing_schema();
        driftsync_config_t *c = make_config("things.realm", ts, 0);
        driftsync_realm_t *tr = NULL;
        driftsync_pk_t a = pk_oid(1), b = pk_oid(2), u = pk_uuid(3);
        driftsync_field_t f[2];
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &tr, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(tr, ERR));
        f[0] = fld("label", v_str("a"));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(tr, S("Thing"), &a, f, 1, ERR));
        f[0] = fld("label", v_str(""));
        f[1] = fld("parent", v_link(a));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(tr, S("Thing"), &b, f, 2, ERR));
        EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_create(tr, S("Thing"), &u, NULL, 0, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(tr, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(tr, S("Thing"), &b, &o, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_primary_key(o, &k, ERR));
        CHECK(k.kind == DRIFTSYNC_PK_OBJECT_ID && k.object_id[0] == 2);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("label"), &v, ERR));
        CHECK(v.kind == DRIFTSYNC_VALUE_STRING && v.string.len == 0 && v.string.data != NULL);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("parent"), &v, ERR));
        CHECK(v.kind == DRIFTSYNC_VALUE_LINK && v.link.kind == DRIFTSYNC_PK_OBJECT_ID && v.link.object_id[5] == 1);
        driftsync_object_free(o);
        o = NULL;
        driftsync_realm_free(tr);
        driftsync_config_free(c);
        driftsync_schema_free(ts);

        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Tag"), &u, NULL, 0, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Tag"), &u, &o, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_primary_key(o, &k, ERR));
        CHECK(k.kind == DRIFTSYNC_PK_UUID && k.uuid[15] == 3);
        driftsync_object_free(o);
    }
    driftsync_realm_free(r);
}

/* ---- lists ---------------------------------------------------------------------------------- */

static int list_is(driftsync_realm_t *r, driftsync_pk_t *who, const char *a, const char *b, const char *c) {
    const char *want[3];
    size_t n = 0, len = 99, i;
    int ok = 1;
    if (a) want[n++] = a;
    if (b) want[n++] = b;
    if (c) want[n++] = c;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_len(r, S("Person"), who, S("tags"), &len, ERR));
    if (len != n) return 0;
    for (i = 0; i < n; i++) {
        driftsync_owned_value_t *ov = NULL;
        driftsync_value_t v;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_get(r, S("Person"), who, S("tags"), i, &ov, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
        ok = ok && v.kind == DRIFTSYNC_VALUE_STRING && str_eq(v.string, want[i]);
        driftsync_owned_value_free(ov);
    }
    return ok;
}

static void test_lists(void) {
    driftsync_realm_t *r = open_realm("lists.realm", 0);
    driftsync_pk_t ann = pk_str("ann"), nobody = pk_str("nobody"), d1 = pk_int(1), d2 = pk_int(2);
    driftsync_value_t v;
    driftsync_object_t *o = NULL;
    driftsync_owned_value_t *ov = NULL;
    size_t len = 0;

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Person"), &ann, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d2, NULL, 0, ERR));
    v = v_str("a");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_push(r, S("Person"), &ann, S("tags"), &v, ERR));
    v = v_str("c");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_push(r, S("Person"), &ann, S("tags"), &v, ERR));
    v = v_str("b");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_insert(r, S("Person"), &ann, S("tags"), 1, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_list_insert(r, S("Person"), &ann, S("tags"), 4, &v, ERR));
    v = v_int(3);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_list_push(r, S("Person"), &ann, S("tags"), &v, ERR));
    v = v_str("x");
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_list_push(r, S("Person"), &ann, S("age"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_realm_list_push(r, S("Person"), &ann, S("nope"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_list_push(r, S("Person"), &nobody, S("tags"), &v, ERR));
    v = v_link(d2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_push(r, S("Person"), &ann, S("dogs"), &v, ERR));
    v = v_link(d1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_insert(r, S("Person"), &ann, S("dogs"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(list_is(r, &ann, "a", "b", "c"));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    v = v_str("B");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_set(r, S("Person"), &ann, S("tags"), 1, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_list_set(r, S("Person"), &ann, S("tags"), 3, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_move(r, S("Person"), &ann, S("tags"), 0, 2, ERR));
    CHECK(list_is(r, &ann, "B", "c", "a"));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_list_move(r, S("Person"), &ann, S("tags"), 0, 3, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_erase(r, S("Person"), &ann, S("tags"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_list_erase(r, S("Person"), &ann, S("tags"), 2, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(list_is(r, &ann, "B", "a", NULL));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_list_get(r, S("Person"), &ann, S("tags"), 2, &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_list_len(r, S("Person"), &ann, S("age"), &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_list_clear(r, S("Person"), &ann, S("tags"), ERR));

    /* the object's copy of its lists */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Person"), &ann, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("dogs"), &len, ERR));
    CHECK(len == 2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_get(o, S("dogs"), 0, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_LINK && v.link.int_value == 1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_get(o, S("tags"), 1, &v, ERR));
    CHECK(str_eq(v.string, "a"));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_list_get(o, S("name"), 0, &v, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_clear(r, S("Person"), &ann, S("tags"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Dog"), &d1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(list_is(r, &ann, NULL, NULL, NULL));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_len(r, S("Person"), &ann, S("dogs"), &len, ERR));
    CHECK(len == 1); /* the erased dog left the list */
    /* the object read before is a copy */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("tags"), &len, ERR));
    CHECK(len == 2);
    driftsync_object_free(o);
    driftsync_realm_free(r);
}

/* ---- counters (issue 15) ----------------------------------------------------------------------- */

static const char COUNTER_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Page\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"title\",\"type\":\"string\"},"
    "{\"name\":\"visits\",\"type\":\"int\",\"counter\":true}]}]}";

static void test_counter(void) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    driftsync_pk_t p1 = pk_int(1), p9 = pk_int(9);
    driftsync_owned_value_t *ov = NULL;
    driftsync_value_t v;

    EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA,
           driftsync_schema_from_json(S("{\"classes\":[{\"name\":\"A\",\"primaryKey\":\"id\",\"properties\":["
                                        "{\"name\":\"id\",\"type\":\"int\"},"
                                        "{\"name\":\"s\",\"type\":\"string\",\"counter\":true}]}]}"),
                                      &s, ERR));
    {
        /* the builder's form: a property added, then marked a counter */
        driftsync_schema_builder_t *b = driftsync_schema_builder_new();
        driftsync_property_t prop;
        memset(&prop, 0, sizeof prop);
        prop.name.data = "n";
        prop.name.len = 1;
        prop.kind = DRIFTSYNC_VALUE_STRING;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("B"), S("n"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
        prop.name.data = "hits";
        prop.name.len = 4;
        prop.kind = DRIFTSYNC_VALUE_INT;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
        EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_schema_builder_set_counter(b, S("B"), S("nope"), ERR));
        EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_schema_builder_set_counter(b, S("Z"), S("hits"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_counter(b, S("B"), S("hits"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_build(b, &s, ERR));
        driftsync_schema_free(s);
        b = driftsync_schema_builder_new();
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("B"), S("n"), ERR));
        prop.name.data = "n";
        prop.name.len = 1;
        prop.kind = DRIFTSYNC_VALUE_STRING;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_counter(b, S("B"), S("n"), ERR));
        EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA, driftsync_schema_builder_build(b, &s, ERR));
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(COUNTER_SCHEMA_JSON), &s, ERR));
    c = make_config("counter.realm", s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);

    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_counter_add(r, S("Page"), &p1, S("visits"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Page"), &p1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_counter_add(r, S("Page"), &p1, S("visits"), 5, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_counter_add(r, S("Page"), &p1, S("visits"), -2, ERR));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_counter_add(r, S("Page"), &p1, S("title"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_realm_counter_add(r, S("Page"), &p1, S("nope"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_counter_add(r, S("Page"), &p9, S("visits"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_counter_add(r, S("Page"), NULL, S("visits"), 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Page"), &p1, S("visits"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 3);
    driftsync_owned_value_free(ov);
    driftsync_realm_free(r);
}

/* ---- sets (issue 15) --------------------------------------------------------------------------- */

static const char SET_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Post\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"tags\",\"type\":\"string\",\"set\":true},"
    "{\"name\":\"related\",\"type\":\"link\",\"set\":true,\"target\":\"Post\"}]}]}";

static void test_set(void) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    driftsync_object_t *o = NULL;
    driftsync_pk_t p1 = pk_int(1), p2 = pk_int(2), p9 = pk_int(9);
    driftsync_value_t v;
    size_t len = 0;

    {
        /* the builder's form: a property added (not a list), then marked a set */
        driftsync_schema_builder_t *b = driftsync_schema_builder_new();
        driftsync_property_t prop;
        memset(&prop, 0, sizeof prop);
        prop.name.data = "id";
        prop.name.len = 2;
        prop.kind = DRIFTSYNC_VALUE_INT;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("B"), S("id"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
        prop.name.data = "tags";
        prop.name.len = 4;
        prop.kind = DRIFTSYNC_VALUE_STRING;
        prop.list = true;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
        EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_schema_builder_set_set(b, S("B"), S("nope"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_set(b, S("B"), S("tags"), ERR));
        /* a list and a set at once is refused */
        EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA, driftsync_schema_builder_build(b, &s, ERR));
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(SET_SCHEMA_JSON), &s, ERR));
    c = make_config("set.realm", s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);

    v = v_str("b");
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Post"), &p1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Post"), &p2, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    v = v_str("a");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    v = v_str("gone");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_remove(r, S("Post"), &p1, S("tags"), &v, ERR));
    v = v_int(3);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    v = v_null();
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_add(r, S("Post"), &p1, S("tags"), &v, ERR));
    v = v_str("x");
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_value(r, S("Post"), &p1, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_set_add(r, S("Post"), &p9, S("tags"), &v, ERR));
    v = v_link(p9);
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_set_add(r, S("Post"), &p1, S("related"), &v, ERR));
    v = v_link(p2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Post"), &p1, S("related"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Post"), &p1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("tags"), &len, ERR));
    CHECK(len == 2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_get(o, S("tags"), 0, &v, ERR));
    CHECK(str_eq(v.string, "a"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_get(o, S("tags"), 1, &v, ERR));
    CHECK(str_eq(v.string, "b"));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_get_value(o, S("tags"), &v, ERR));
    driftsync_object_free(o);

    /* erasing the linked object takes it out of the set; clear empties the other set */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Post"), &p2, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_clear(r, S("Post"), &p1, S("tags"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Post"), &p1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("related"), &len, ERR));
    CHECK(len == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("tags"), &len, ERR));
    CHECK(len == 0);
    driftsync_object_free(o);
    driftsync_realm_free(r);
}

/* A schema builder with class B: `id` (int, the primary key) and `name` of type `kind`. */
static driftsync_schema_builder_t *builder_with(const char *name, driftsync_value_type_t kind) {
    driftsync_schema_builder_t *b = driftsync_schema_builder_new();
    driftsync_property_t prop;
    memset(&prop, 0, sizeof prop);
    prop.name.data = "id";
    prop.name.len = 2;
    prop.kind = DRIFTSYNC_VALUE_INT;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("B"), S("id"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
    prop.name = str(name);
    prop.kind = kind;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("B"), &prop, ERR));
    return b;
}

/* ---- dictionaries (issue 15) ------------------------------------------------------------------- */

static const char DICT_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Doc\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"meta\",\"type\":\"string\",\"dictionary\":true},"
    "{\"name\":\"refs\",\"type\":\"link\",\"dictionary\":true,\"optional\":true,\"target\":\"Doc\"}]}]}";

static void test_dictionary(void) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    driftsync_object_t *o = NULL;
    driftsync_pk_t d1 = pk_int(1), d2 = pk_int(2), d9 = pk_int(9);
    driftsync_value_t v;
    driftsync_string_t key;
    driftsync_collection_t kind = DRIFTSYNC_COLLECTION_NONE;
    size_t len = 0;

    {
        driftsync_schema_builder_t *b = builder_with("m", DRIFTSYNC_VALUE_STRING);
        EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_schema_builder_set_dictionary(b, S("Z"), S("m"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_dictionary(b, S("B"), S("m"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_build(b, &s, ERR));
        driftsync_schema_free(s);
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(DICT_SCHEMA_JSON), &s, ERR));
    c = make_config("dict.realm", s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);

    v = v_str("x");
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), S("k"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Doc"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Doc"), &d2, NULL, 0, ERR));
    v = v_str("one");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), S("b"), &v, ERR));
    v = v_str("two");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), S("a"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_erase(r, S("Doc"), &d1, S("meta"), S("absent"), ERR));
    v = v_int(3);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), S("a"), &v, ERR));
    v = v_null();
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), S("a"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_dict_set(r, S("Doc"), &d1, S("meta"), NULL, 1, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_dict_erase(r, S("Doc"), &d9, S("meta"), S("a"), ERR));
    v = v_link(d9);
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_dict_set(r, S("Doc"), &d1, S("refs"), S("r"), &v, ERR));
    v = v_link(d2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Doc"), &d1, S("refs"), S("r"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Doc"), &d1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 1, &kind, ERR));
    CHECK(kind == DRIFTSYNC_COLLECTION_DICTIONARY);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 0, &kind, ERR));
    CHECK(kind == DRIFTSYNC_COLLECTION_NONE);
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_object_field_collection(o, 3, &kind, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_dict_len(o, S("meta"), &len, ERR));
    CHECK(len == 2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_dict_get(o, S("meta"), 0, &key, &v, ERR));
    CHECK(str_eq(key, "a") && str_eq(v.string, "two"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_dict_get(o, S("meta"), 1, &key, &v, ERR));
    CHECK(str_eq(key, "b") && str_eq(v.string, "one"));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_object_dict_get(o, S("meta"), 2, &key, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_get_value(o, S("meta"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_list_len(o, S("meta"), &len, ERR));
    driftsync_object_free(o);

    /* erasing the linked object leaves the key with null; clear removes every key */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Doc"), &d2, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_clear(r, S("Doc"), &d1, S("meta"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Doc"), &d1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_dict_len(o, S("meta"), &len, ERR));
    CHECK(len == 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_dict_get(o, S("refs"), 0, &key, &v, ERR));
    CHECK(str_eq(key, "r") && v.kind == DRIFTSYNC_VALUE_NULL);
    driftsync_object_free(o);
    driftsync_realm_free(r);
}

/* ---- mixed (issue 15) ------------------------------------------------------------------------ */

static const char MIXED_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Box\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"any\",\"type\":\"mixed\"},"
    "{\"name\":\"bag\",\"type\":\"mixed\",\"set\":true}]}]}";

static driftsync_mixed_key_t at_key(const char *k) {
    driftsync_mixed_key_t step;
    memset(&step, 0, sizeof step);
    step.key = str(k);
    return step;
}

static driftsync_mixed_key_t at_index(size_t i) {
    driftsync_mixed_key_t step;
    memset(&step, 0, sizeof step);
    step.is_index = true;
    step.index = i;
    return step;
}

static void test_mixed(void) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    driftsync_object_t *o = NULL;
    driftsync_pk_t b1 = pk_int(1), b2 = pk_int(2), b9 = pk_int(9);
    driftsync_value_t v;
    driftsync_string_t key;
    driftsync_collection_t coll = DRIFTSYNC_COLLECTION_NONE;
    driftsync_mixed_kind_t kind = DRIFTSYNC_MIXED_VALUE;
    driftsync_mixed_key_t path[3];
    size_t len = 0;

    {
        driftsync_schema_builder_t *b = builder_with("m", DRIFTSYNC_VALUE_MIXED);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_build(b, &s, ERR));
        driftsync_schema_free(s);
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(MIXED_SCHEMA_JSON), &s, ERR));
    c = make_config("mixed.realm", s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);

    /* any = {"l": [7, {"who": link(Box[2])}]} */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Box"), &b1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Box"), &b2, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), NULL, 0, DRIFTSYNC_MIXED_DICTIONARY, NULL, ERR));
    path[0] = at_key("l");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), path, 1, DRIFTSYNC_MIXED_LIST, NULL, ERR));
    v = v_int(7);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_insert(r, S("Box"), &b1, S("any"), path, 1, 0, DRIFTSYNC_MIXED_VALUE, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_insert(r, S("Box"), &b1, S("any"), path, 1, 1, DRIFTSYNC_MIXED_DICTIONARY, NULL, ERR));
    path[1] = at_index(1);
    path[2] = at_key("who");
    v = v_of(DRIFTSYNC_VALUE_TYPED_LINK);
    v.string = str("Box");
    v.link = b9;
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), path, 3, DRIFTSYNC_MIXED_VALUE, &v, ERR));
    v.link = b2;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), path, 3, DRIFTSYNC_MIXED_VALUE, &v, ERR));
    /* bad input: typed errors, nothing changes */
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_mixed_set(r, S("Box"), &b1, S("bag"), NULL, 0, DRIFTSYNC_MIXED_LIST, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Box"), &b1, S("bag"), &v, ERR));
    path[1] = at_index(0); /* the element 7: not a collection */
    path[2] = at_key("x");
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), path, 3, DRIFTSYNC_MIXED_LIST, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), NULL, 0, 9, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), NULL, 0, DRIFTSYNC_MIXED_VALUE, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_mixed_erase(r, S("Box"), &b1, S("any"), NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_mixed_erase(r, S("Box"), &b1, S("any"), NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_mixed_insert(r, S("Box"), &b1, S("any"), path, 1, 5, DRIFTSYNC_MIXED_LIST, NULL, ERR));
    v = v_link(b2);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_value(r, S("Box"), &b2, S("any"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Box"), &b1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 1, &coll, ERR));
    CHECK(coll == DRIFTSYNC_COLLECTION_MIXED);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_get_value(o, S("any"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), NULL, 0, &kind, NULL, &len, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_DICTIONARY && len == 1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_key(o, S("any"), NULL, 0, 0, &key, ERR));
    CHECK(str_eq(key, "l"));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_object_mixed_key(o, S("any"), NULL, 0, 1, &key, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), path, 1, &kind, NULL, &len, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_LIST && len == 2);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_mixed_key(o, S("any"), path, 1, 0, &key, ERR));
    path[1] = at_index(0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), path, 2, &kind, &v, NULL, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_VALUE && v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 7);
    path[1] = at_index(1);
    path[2] = at_key("who");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), path, 3, &kind, &v, NULL, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_VALUE && v.kind == DRIFTSYNC_VALUE_TYPED_LINK && str_eq(v.string, "Box") && v.link.int_value == 2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("bag"), &len, ERR));
    CHECK(len == 1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_get(o, S("bag"), 0, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_TYPED_LINK && str_eq(v.string, "Box"));
    path[2] = at_key("nobody");
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_mixed_get(o, S("any"), path, 3, &kind, &v, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_mixed_get(o, S("any"), NULL, 0, NULL, NULL, NULL, ERR));
    driftsync_object_free(o);

    /* erasing the linked object nulls the typed link and empties the set; an erase; a scalar */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Box"), &b2, ERR));
    path[1] = at_index(0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_erase(r, S("Box"), &b1, S("any"), path, 2, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Box"), &b1, &o, ERR));
    path[1] = at_index(0);
    path[2] = at_key("who");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), path, 3, &kind, &v, NULL, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_VALUE && v.kind == DRIFTSYNC_VALUE_NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_list_len(o, S("bag"), &len, ERR));
    CHECK(len == 0);
    driftsync_object_free(o);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    v = v_str("plain");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_mixed_set(r, S("Box"), &b1, S("any"), NULL, 0, DRIFTSYNC_MIXED_VALUE, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Box"), &b1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 1, &coll, ERR));
    CHECK(coll == DRIFTSYNC_COLLECTION_NONE);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_get_value(o, S("any"), &v, ERR));
    CHECK(str_eq(v.string, "plain"));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_mixed_get(o, S("any"), NULL, 0, &kind, &v, NULL, ERR));
    CHECK(kind == DRIFTSYNC_MIXED_VALUE && str_eq(v.string, "plain"));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_mixed_get(o, S("any"), path, 1, &kind, &v, NULL, ERR));
    driftsync_object_free(o);
    driftsync_realm_free(r);
}

/* ---- embedded objects (issue 15) ------------------------------------------------------------- */

static const char EMBEDDED_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Shop\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"address\",\"type\":\"object\",\"optional\":true,\"target\":\"Address\"},"
    "{\"name\":\"parts\",\"type\":\"object\",\"list\":true,\"target\":\"Part\"}]},"
    "{\"name\":\"Address\",\"embedded\":true,\"properties\":[{\"name\":\"street\",\"type\":\"string\"}]},"
    "{\"name\":\"Part\",\"embedded\":true,\"properties\":[{\"name\":\"qty\",\"type\":\"int\"}]}]}";

static void test_embedded(void) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    driftsync_object_t *o = NULL;
    driftsync_owned_value_t *ov = NULL;
    driftsync_pk_t s1 = pk_int(1), s9 = pk_int(9);
    driftsync_value_t v;
    driftsync_field_t f[1];
    driftsync_collection_t kind = DRIFTSYNC_COLLECTION_NONE;
    size_t len = 0;
    bool exists = false;

    {
        /* the builder's form: a class added without a primary key, marked embedded */
        driftsync_schema_builder_t *b = driftsync_schema_builder_new();
        driftsync_property_t prop;
        memset(&prop, 0, sizeof prop);
        prop.name.data = "x";
        prop.name.len = 1;
        prop.kind = DRIFTSYNC_VALUE_INT;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("E"), "", 0, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("E"), &prop, ERR));
        EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_schema_builder_set_embedded(b, S("Z"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_embedded(b, S("E"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_build(b, &s, ERR));
        driftsync_schema_free(s);
        /* an embedded class given a primary key is an invalid schema */
        b = driftsync_schema_builder_new();
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_class(b, S("E"), S("x"), ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_add_property(b, S("E"), &prop, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_builder_set_embedded(b, S("E"), ERR));
        EXPECT(DRIFTSYNC_STATUS_INVALID_SCHEMA, driftsync_schema_builder_build(b, &s, ERR));
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(EMBEDDED_SCHEMA_JSON), &s, ERR));
    c = make_config("embedded.realm", s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);

    f[0] = fld("street", v_str("Main"));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_set_embedded(r, S("Shop"), &s1, S("address"), f, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Shop"), &s1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_embedded(r, S("Shop"), &s1, S("address"), f, 1, ERR));
    f[0] = fld("qty", v_int(1));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_push_embedded(r, S("Shop"), &s1, S("parts"), f, 1, ERR));
    f[0] = fld("qty", v_int(0));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_insert_embedded(r, S("Shop"), &s1, S("parts"), 0, f, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_push_embedded(r, S("Shop"), &s1, S("parts"), NULL, 0, ERR));
    v = v_int(7);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_embedded_value(r, S("Shop"), &s1, S("parts[2].qty"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_remove_embedded(r, S("Shop"), &s1, S("parts[1]"), ERR));
    /* bad input: a typed status, nothing changed */
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_embedded_value(r, S("Shop"), &s1, S("address.street"), &v, ERR));
    f[0] = fld("qty", v_str("many"));
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_push_embedded(r, S("Shop"), &s1, S("parts"), f, 1, ERR));
    v = v_link(s1);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_set_value(r, S("Shop"), &s1, S("address"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_create(r, S("Address"), &s9, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_realm_remove_embedded(r, S("Shop"), &s1, S("parts[5]"), ERR));
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, driftsync_realm_remove_embedded(r, S("Shop"), &s1, S("nope"), ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_remove_embedded(r, S("Shop"), &s1, S("parts[x]"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_remove_embedded(r, S("Shop"), &s9, S("address"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_remove_embedded(r, S("Shop"), &s1, NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_embedded(r, S("Shop"), &s1, S("address"), NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_embedded_value(r, S("Shop"), &s1, S("address.street"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(str_eq(v.string, "Main"));
    driftsync_owned_value_free(ov);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_embedded_len(r, S("Shop"), &s1, S("parts"), &len, ERR));
    CHECK(len == 2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_embedded_value(r, S("Shop"), &s1, S("parts[0].qty"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 0);
    driftsync_owned_value_free(ov);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_embedded_value(r, S("Shop"), &s1, S("parts[1].qty"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_owned_value_get(ov, &v, ERR));
    CHECK(v.kind == DRIFTSYNC_VALUE_INT && v.int_value == 7);
    driftsync_owned_value_free(ov);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_embedded_exists(r, S("Shop"), &s1, S("address"), &exists, ERR));
    CHECK(exists);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Shop"), &s1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 1, &kind, ERR));
    CHECK(kind == DRIFTSYNC_COLLECTION_EMBEDDED);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_field_collection(o, 2, &kind, ERR));
    CHECK(kind == DRIFTSYNC_COLLECTION_EMBEDDED_LIST);
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_object_get_value(o, S("address"), &v, ERR));
    driftsync_object_free(o);

    /* removing the embedded object leaves the property null */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_remove_embedded(r, S("Shop"), &s1, S("address"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_embedded_exists(r, S("Shop"), &s1, S("address"), &exists, ERR));
    CHECK(!exists);
    EXPECT(DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, driftsync_realm_get_embedded_value(r, S("Shop"), &s1, S("address.street"), &ov, ERR));
    driftsync_realm_free(r);
}

/* ---- frozen snapshots ----------------------------------------------------------------------- */

static void test_frozen(void) {
    driftsync_realm_t *r = open_realm("frozen.realm", 0);
    driftsync_realm_t *f = NULL, *ff = NULL;
    driftsync_pk_t d1 = pk_int(1), d2 = pk_int(2);
    uint64_t n = 0;
    driftsync_value_t v = v_str("x");

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_freeze(r, &f, ERR));
    CHECK(driftsync_realm_is_frozen(f) && !driftsync_realm_is_frozen(r) && !driftsync_realm_is_frozen(NULL));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d2, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_count(f, S("Dog"), &n, ERR));
    CHECK(n == 1);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_count(r, S("Dog"), &n, ERR));
    CHECK(n == 2);
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_begin_write(f, ERR));
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_create(f, S("Dog"), &d2, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_set_value(f, S("Dog"), &d1, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_erase(f, S("Dog"), &d1, ERR));
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_commit(f, ERR));
    EXPECT(DRIFTSYNC_STATUS_WRITE_ON_FROZEN, driftsync_realm_cancel_write(f, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_freeze(f, &ff, ERR));
    CHECK(ff == NULL);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_freeze(NULL, &ff, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_freeze(r, NULL, ERR));
    driftsync_realm_free(r); /* the snapshot outlives the live handle */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_count(f, S("Dog"), &n, ERR));
    CHECK(n == 1);
    driftsync_realm_free(f);
}

/* ---- cursors -------------------------------------------------------------------------------- */

static void test_cursor(void) {
    driftsync_realm_t *r = open_realm("cursor.realm", 0);
    driftsync_realm_t *f = NULL;
    driftsync_cursor_t *c = NULL;
    driftsync_object_t *o = NULL;
    driftsync_pk_t k;
    int64_t i, seen_n = 0, prev = -1000;
    int in_order = 1;

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    for (i = 25; i > 0; i--) {
        k = pk_int(i * 3 - 40);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &k, NULL, 0, ERR));
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cursor_new(r, S("Dog"), 4, &c, ERR));
    for (;;) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_cursor_next(c, &o, ERR));
        if (!o) break;
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_object_primary_key(o, &k, ERR));
        in_order = in_order && k.int_value > prev;
        prev = k.int_value;
        seen_n++;
        driftsync_object_free(o);
    }
    CHECK(seen_n == 25 && in_order);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_cursor_next(c, &o, ERR)); /* stays at the end */
    CHECK(o == NULL);
    driftsync_cursor_free(c);

    /* default batch size over a snapshot, a class with no objects, an unknown class */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_freeze(r, &f, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cursor_new(f, S("Dog"), 0, &c, ERR));
    seen_n = 0;
    for (;;) {
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_cursor_next(c, &o, ERR));
        if (!o) break;
        seen_n++;
        driftsync_object_free(o);
    }
    CHECK(seen_n == 25);
    driftsync_cursor_free(c);
    driftsync_realm_free(f);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cursor_new(r, S("Person"), 1, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_cursor_next(c, &o, ERR));
    CHECK(o == NULL);
    driftsync_cursor_free(c);
    c = NULL;
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_realm_cursor_new(r, S("Cat"), 1, &c, ERR));
    CHECK(c == NULL);

    /* a cursor whose realm is freed reports CLOSED */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cursor_new(r, S("Dog"), 2, &c, ERR));
    driftsync_realm_free(r);
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_cursor_next(c, &o, ERR));
    driftsync_cursor_free(c);
    driftsync_cursor_free(NULL);
}

/* ---- observers ------------------------------------------------------------------------------ */

static int registrations, frees;

static void count_free(void *ud) {
    (void)ud;
    frees++;
}

typedef struct {
    driftsync_realm_t *realm;
    int calls;
    int inserted, erased, modified;
    int saw_age_modified;
    int saw_dog_insert_7;
    uint64_t count_in_callback;
    driftsync_token_t *self_token; /* for the one-shot observer */
    int wrote;
} obs_t;

static void record_changes(obs_t *s, const driftsync_changes_t *ch) {
    size_t nc = driftsync_changes_class_count(ch), ci, i, ins, era, mod;
    for (ci = 0; ci < nc; ci++) {
        driftsync_string_t cname;
        EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_class_name(ch, ci, &cname, NULL));
        EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_counts(ch, ci, &ins, &era, &mod, NULL));
        s->inserted += (int)ins;
        s->erased += (int)era;
        s->modified += (int)mod;
        for (i = 0; i < ins; i++) {
            driftsync_pk_t k;
            EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_inserted(ch, ci, i, &k, NULL));
            if (str_eq(cname, "Dog") && k.kind == DRIFTSYNC_PK_INT && k.int_value == 7) s->saw_dog_insert_7 = 1;
        }
        for (i = 0; i < era; i++) {
            driftsync_pk_t k;
            EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_erased(ch, ci, i, &k, NULL));
        }
        for (i = 0; i < mod; i++) {
            driftsync_pk_t k;
            size_t np, pi;
            EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_modified(ch, ci, i, &k, &np, NULL));
            for (pi = 0; pi < np; pi++) {
                driftsync_string_t pn;
                EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_modified_property(ch, ci, i, pi, &pn, NULL));
                if (str_eq(cname, "Person") && k.kind == DRIFTSYNC_PK_STRING && str_eq(k.string, "ann") && str_eq(pn, "age"))
                    s->saw_age_modified = 1;
            }
            EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_modified_property(ch, ci, i, np, &(driftsync_string_t){0}, NULL));
        }
        EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_inserted(ch, ci, ins, &(driftsync_pk_t){0}, NULL));
        EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_erased(ch, ci, era, &(driftsync_pk_t){0}, NULL));
        EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_modified(ch, ci, mod, &(driftsync_pk_t){0}, &i, NULL));
    }
    EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_class_name(ch, nc, &(driftsync_string_t){0}, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_class_name(NULL, 0, &(driftsync_string_t){0}, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_class_name(ch, 0, NULL, NULL));
}

/* Records everything, and reads the realm from inside the callback. */
static void on_change_reader(void *ud, const driftsync_changes_t *ch) {
    obs_t *s = ud;
    s->calls++;
    record_changes(s, ch);
    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_realm_count(s->realm, S("Dog"), &s->count_in_callback, NULL));
}

/* Writes from inside the callback: each new Person gets a Dog with id 7. */
static void on_person_writer(void *ud, const driftsync_changes_t *ch) {
    obs_t *s = ud;
    driftsync_pk_t seven = pk_int(7);
    (void)ch;
    s->calls++;
    if (s->wrote) return;
    s->wrote = 1;
    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(s->realm, NULL));
    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_realm_upsert(s->realm, S("Dog"), &seven, NULL, 0, NULL));
    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(s->realm, NULL));
}

/* Frees its own token on its first call. */
static void on_change_one_shot(void *ud, const driftsync_changes_t *ch) {
    obs_t *s = ud;
    (void)ch;
    s->calls++;
    driftsync_token_free(s->self_token);
    s->self_token = NULL;
}

static void noop_observer(void *ud, const driftsync_changes_t *ch) {
    (void)ud;
    (void)ch;
}

static void test_observers(void) {
    driftsync_realm_t *r = open_realm("observe.realm", 0);
    driftsync_realm_t *r2 = open_realm("observe.realm", 0); /* a second handle of the same file */
    driftsync_realm_t *f = NULL;
    obs_t all, dogs, writer, one, ann_obs, on_r2;
    driftsync_token_t *t_all = NULL, *t_dogs = NULL, *t_writer = NULL, *t_one = NULL, *t_ann = NULL, *t_r2 = NULL, *t = NULL;
    driftsync_pk_t ann = pk_str("ann"), bob = pk_str("bob"), d1 = pk_int(1);
    driftsync_field_t fields[1];

    memset(&all, 0, sizeof all);
    memset(&dogs, 0, sizeof dogs);
    memset(&writer, 0, sizeof writer);
    memset(&one, 0, sizeof one);
    memset(&ann_obs, 0, sizeof ann_obs);
    memset(&on_r2, 0, sizeof on_r2);
    all.realm = dogs.realm = writer.realm = one.realm = ann_obs.realm = r;
    on_r2.realm = r2;

    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r, on_change_reader, &all, count_free, &t_all, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe_class(r, S("Dog"), on_change_reader, &dogs, count_free, &t_dogs, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe_class(r, S("Person"), on_person_writer, &writer, count_free, &t_writer, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r, on_change_one_shot, &one, count_free, &t_one, ERR));
    one.self_token = t_one;
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe_object(r, S("Person"), &ann, on_change_reader, &ann_obs, count_free, &t_ann, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r2, on_change_reader, &on_r2, count_free, &t_r2, ERR));
    /* a registration without user_data_free */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r, noop_observer, NULL, NULL, &t, ERR));
    driftsync_token_free(t);
    t = NULL;

    /* Failed registrations release user_data at once. */
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_UNKNOWN_CLASS, driftsync_realm_observe_class(r, S("Cat"), on_change_reader, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_realm_observe_object(r, S("Person"), &d1, on_change_reader, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_observe(r, NULL, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_observe(NULL, on_change_reader, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_observe(r, on_change_reader, NULL, count_free, NULL, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_observe_class(r, NULL, 3, on_change_reader, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_observe_object(r, S("Person"), NULL, on_change_reader, NULL, count_free, &t, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_realm_observe_class(r, "\xff", 1, on_change_reader, NULL, count_free, &t, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_freeze(r, &f, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_realm_observe(f, on_change_reader, NULL, count_free, &t, ERR));
    driftsync_realm_free(f);
    CHECK(t == NULL);
    CHECK(frees == 9);

    /* commit 1: ann and dog 1 inserted; the writer observer adds dog 7 from inside its callback */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Person"), &ann, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(writer.calls == 1 && writer.wrote);
    CHECK(all.calls == 2); /* its own commit and the writer's nested one */
    CHECK(all.inserted == 3 && all.saw_dog_insert_7);
    CHECK(dogs.calls == 2 && dogs.inserted == 2);
    CHECK(all.count_in_callback == 2); /* the re-entrant read saw dog 7 after the nested commit */
    CHECK(one.calls == 1 && one.self_token == NULL);
    CHECK(ann_obs.calls == 1 && ann_obs.inserted == 1);
    CHECK(on_r2.calls == 2); /* observers belong to the file: r2 sees r's commits */
    CHECK(frees == 10); /* the one-shot observer's token was freed inside its callback */

    /* commit 2: modify ann's age, insert bob, erase dog 1 */
    fields[0] = fld("age", v_int(30));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_upsert(r, S("Person"), &ann, fields, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Person"), &bob, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Dog"), &d1, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(all.calls == 3 && all.saw_age_modified && all.erased == 1 && all.modified >= 1);
    CHECK(ann_obs.calls == 2 && ann_obs.saw_age_modified && ann_obs.inserted == 1);
    CHECK(one.calls == 1);
    CHECK(writer.calls == 2);

    /* freeing the realm handle r2 unregisters its observer; user_data_free waits for its token */
    driftsync_realm_free(r2);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_erase(r, S("Person"), &bob, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    CHECK(on_r2.calls == 3); /* not called after its realm handle was freed */
    CHECK(frees == 10);
    driftsync_token_free(t_r2);
    CHECK(frees == 11);

    /* a freed token stops its observer at once */
    driftsync_token_free(t_dogs);
    CHECK(frees == 12);
    /* closing the realm unregisters the rest; the tokens still release their user_data */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR));
    CHECK(frees == 12);
    driftsync_token_free(t_all);
    driftsync_token_free(t_writer);
    driftsync_realm_free(r); /* realm first, then the last token */
    driftsync_token_free(t_ann);
    driftsync_token_free(NULL);
    CHECK(frees == registrations);
    CHECK(all.calls == 4);
}

/* ---- closed realms -------------------------------------------------------------------------- */

static void test_closed(void) {
    driftsync_realm_t *r = open_realm("closed.realm", 0);
    driftsync_realm_t *f = NULL;
    driftsync_pk_t d1 = pk_int(1);
    driftsync_value_t v = v_str("x");
    driftsync_owned_value_t *ov = NULL;
    driftsync_object_t *o = NULL;
    driftsync_cursor_t *c = NULL;
    driftsync_token_t *t = NULL;
    uint64_t n;
    size_t len;
    bool b;

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &d1, NULL, 0, ERR));
    CHECK(!driftsync_realm_is_closed(r));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR)); /* rolls the transaction back */
    CHECK(driftsync_realm_is_closed(r));
    CHECK(!driftsync_realm_is_closed(NULL));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_close(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_close(NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_cancel_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_freeze(r, &f, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_create(r, S("Dog"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_upsert(r, S("Dog"), &d1, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_erase(r, S("Dog"), &d1, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_exists(r, S("Dog"), &d1, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_get_object(r, S("Dog"), &d1, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_get_value(r, S("Dog"), &d1, S("name"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_set_value(r, S("Dog"), &d1, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_count(r, S("Dog"), &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_list_len(r, S("Person"), &d1, S("tags"), &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_list_push(r, S("Person"), &d1, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_cursor_new(r, S("Dog"), 0, &c, ERR));
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_CLOSED, driftsync_realm_observe(r, on_change_reader, NULL, count_free, &t, ERR));
    CHECK(f == NULL && o == NULL && ov == NULL && c == NULL && t == NULL);
    CHECK(frees == registrations);
    driftsync_realm_free(r);

    /* the rolled-back create is not there */
    r = open_realm("closed.realm", 0);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_count(r, S("Dog"), &n, ERR));
    CHECK(n == 0);
    driftsync_realm_free(r);
    driftsync_realm_free(NULL);
}

/* ---- threads -------------------------------------------------------------------------------- */

typedef struct {
    driftsync_realm_t *realm;
    mtx_t lock;
    cnd_t cond;
    int stage; /* 1: the other thread holds the write transaction; 2: release it */
    driftsync_status_t status;
    uint64_t count;
} share_t;

static int hold_write(void *arg) {
    share_t *s = arg;
    driftsync_pk_t k = pk_int(100);
    s->status = driftsync_realm_begin_write(s->realm, NULL);
    if (s->status == DRIFTSYNC_STATUS_OK) s->status = driftsync_realm_create(s->realm, S("Dog"), &k, NULL, 0, NULL);
    mtx_lock(&s->lock);
    s->stage = 1;
    cnd_broadcast(&s->cond);
    while (s->stage != 2) cnd_wait(&s->cond, &s->lock);
    mtx_unlock(&s->lock);
    if (s->status == DRIFTSYNC_STATUS_OK) s->status = driftsync_realm_commit(s->realm, NULL);
    return 0;
}

static int read_count(void *arg) {
    share_t *s = arg;
    s->status = driftsync_realm_count(s->realm, S("Dog"), &s->count, NULL);
    return 0;
}

static void test_threads(void) {
    share_t s;
    thrd_t th;
    driftsync_pk_t k = pk_int(5);
    memset(&s, 0, sizeof s);
    s.realm = open_realm("threads.realm", 50);
    mtx_init(&s.lock, mtx_plain);
    cnd_init(&s.cond);

    CHECK(thrd_create(&th, hold_write, &s) == thrd_success);
    mtx_lock(&s.lock);
    while (s.stage != 1) cnd_wait(&s.cond, &s.lock);
    mtx_unlock(&s.lock);
    /* another thread owns the write transaction: this one waits 50 ms, then BUSY */
    EXPECT(DRIFTSYNC_STATUS_BUSY, driftsync_realm_begin_write(s.realm, ERR));
    EXPECT(DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, driftsync_realm_create(s.realm, S("Dog"), &k, NULL, 0, ERR));
    CHECK(!driftsync_realm_is_in_write_transaction(s.realm));
    mtx_lock(&s.lock);
    s.stage = 2;
    cnd_broadcast(&s.cond);
    mtx_unlock(&s.lock);
    thrd_join(th, NULL);
    CHECK(s.status == DRIFTSYNC_STATUS_OK);

    /* a handle used from another thread */
    CHECK(thrd_create(&th, read_count, &s) == thrd_success);
    thrd_join(th, NULL);
    CHECK(s.status == DRIFTSYNC_STATUS_OK && s.count == 1);

    driftsync_realm_free(s.realm);
    mtx_destroy(&s.lock);
    cnd_destroy(&s.cond);
}

/* ---- NULL arguments, everywhere ------------------------------------------------------------- */

static void test_nulls(void) {
    driftsync_realm_t *r = open_realm("nulls.realm", 0);
    driftsync_pk_t k = pk_int(1), ann = pk_str("ann");
    driftsync_value_t v = v_str("x");
    driftsync_owned_value_t *ov = NULL;
    driftsync_object_t *o = NULL;
    driftsync_cursor_t *c = NULL;
    driftsync_string_t name;
    driftsync_pk_t pk;
    uint64_t n;
    size_t len;
    bool b;

    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Person"), &ann, NULL, 0, ERR));

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_begin_write(NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_commit(NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_cancel_write(NULL, ERR));
    CHECK(!driftsync_realm_is_in_write_transaction(NULL));

    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(NULL, S("Dog"), &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, NULL, 3, &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_create(r, S("Dog"), NULL, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_upsert(NULL, S("Dog"), &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_upsert(r, NULL, 3, &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_upsert(r, S("Dog"), NULL, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_upsert(r, S("Dog"), &k, NULL, 1, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_erase(NULL, S("Dog"), &k, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_erase(r, NULL, 3, &k, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_erase(r, S("Dog"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_exists(NULL, S("Dog"), &k, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_exists(r, NULL, 3, &k, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_exists(r, S("Dog"), NULL, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_exists(r, S("Dog"), &k, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_object(NULL, S("Dog"), &k, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_object(r, NULL, 3, &k, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_object(r, S("Dog"), NULL, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_object(r, S("Dog"), &k, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_value(NULL, S("Dog"), &k, S("name"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_value(r, NULL, 3, &k, S("name"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_value(r, S("Dog"), NULL, S("name"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_value(r, S("Dog"), &k, NULL, 4, &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_get_value(r, S("Dog"), &k, S("name"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_value(NULL, S("Dog"), &k, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_value(r, NULL, 3, &k, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_value(r, S("Dog"), NULL, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_value(r, S("Dog"), &k, NULL, 4, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_set_value(r, S("Dog"), &k, S("name"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_realm_set_value(r, S("Dog"), &k, "\xc0", 1, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_count(NULL, S("Dog"), &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_count(r, NULL, 3, &n, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_count(r, S("Dog"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_realm_count(r, "\xff", 1, &n, ERR));

    /* lists */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_insert(NULL, S("Person"), &ann, S("tags"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_insert(r, NULL, 6, &ann, S("tags"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_insert(r, S("Person"), NULL, S("tags"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_insert(r, S("Person"), &ann, NULL, 4, 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_insert(r, S("Person"), &ann, S("tags"), 0, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_push(NULL, S("Person"), &ann, S("tags"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_push(r, S("Person"), &ann, S("tags"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_set(NULL, S("Person"), &ann, S("tags"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_set(r, S("Person"), &ann, S("tags"), 0, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_erase(NULL, S("Person"), &ann, S("tags"), 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_erase(r, S("Person"), NULL, S("tags"), 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_move(NULL, S("Person"), &ann, S("tags"), 0, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_move(r, S("Person"), &ann, NULL, 4, 0, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_clear(NULL, S("Person"), &ann, S("tags"), ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_clear(r, NULL, 6, &ann, S("tags"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_len(NULL, S("Person"), &ann, S("tags"), &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_len(r, S("Person"), &ann, S("tags"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_get(NULL, S("Person"), &ann, S("tags"), 0, &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_list_get(r, S("Person"), &ann, S("tags"), 0, NULL, ERR));

    /* objects and owned values */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_object(r, S("Dog"), &k, &o, ERR));
    CHECK(driftsync_object_class(NULL).len == 0);
    CHECK(driftsync_object_field_count(NULL) == 0);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_primary_key(NULL, &pk, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_primary_key(o, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_field_name(NULL, 0, &name, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_field_name(o, 0, NULL, &b, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_field_name(o, 0, &name, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_get_value(NULL, S("name"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_get_value(o, NULL, 4, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_get_value(o, S("name"), NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_INVALID_UTF8, driftsync_object_get_value(o, "\xff", 1, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_list_len(NULL, S("tags"), &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_list_len(o, NULL, 4, &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_list_get(NULL, S("tags"), 0, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_object_list_get(o, NULL, 4, 0, &v, ERR));
    driftsync_object_free(o);
    driftsync_object_free(NULL);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_get_value(r, S("Dog"), &k, S("name"), &ov, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_owned_value_get(NULL, &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_owned_value_get(ov, NULL, ERR));
    driftsync_owned_value_free(ov);
    driftsync_owned_value_free(NULL);

    /* cursors */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_cursor_new(NULL, S("Dog"), 0, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_cursor_new(r, NULL, 3, 0, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_realm_cursor_new(r, S("Dog"), 0, NULL, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_cursor_new(r, S("Dog"), 0, &c, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_cursor_next(NULL, &o, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_cursor_next(c, NULL, ERR));
    driftsync_cursor_free(c);

    /* changes accessors with NULL */
    CHECK(driftsync_changes_class_count(NULL) == 0);
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_counts(NULL, 0, &len, &len, &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_inserted(NULL, 0, 0, &pk, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_erased(NULL, 0, 0, &pk, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_modified(NULL, 0, 0, &pk, &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_modified_property(NULL, 0, 0, 0, &name, ERR));
    driftsync_token_free(NULL);
    driftsync_realm_free(r);
}

/* Out-parameter NULL checks inside a callback's changes object. */
static void on_change_nulls(void *ud, const driftsync_changes_t *ch) {
    size_t a, b2, c;
    driftsync_pk_t pk;
    (void)ud;
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_counts(ch, 0, NULL, &b2, &c, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_counts(ch, 0, &a, NULL, &c, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_counts(ch, 0, &a, &b2, NULL, NULL));
    EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_counts(ch, 99, &a, &b2, &c, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_inserted(ch, 0, 0, NULL, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_erased(ch, 0, 0, NULL, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_modified(ch, 0, 0, NULL, &a, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_modified(ch, 0, 0, &pk, NULL, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_modified_property(ch, 0, 0, 0, NULL, NULL));
}

static void test_change_nulls(void) {
    driftsync_realm_t *r = open_realm("changes.realm", 0);
    driftsync_token_t *t = NULL;
    driftsync_pk_t k = pk_int(1);
    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe(r, on_change_nulls, NULL, count_free, &t, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Dog"), &k, NULL, 0, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    driftsync_token_free(t);
    driftsync_realm_free(r);
    CHECK(frees == registrations);
}

/* ---- what changed inside collections (issue 15) --------------------------------------------- */

static const char BOX_SCHEMA_JSON[] =
    "{\"classes\":[{\"name\":\"Box\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"string\",\"list\":true},"
    "{\"name\":\"s\",\"type\":\"string\",\"set\":true},"
    "{\"name\":\"d\",\"type\":\"string\",\"dictionary\":true}]}]}";

/* The collection changes an observer saw, as text: "prop kind: -deleted +inserted *modified;". */
static char collection_text[512];

static void append_text(const char *fmt_kind, const char *s, size_t len) {
    size_t used = strlen(collection_text);
    snprintf(collection_text + used, sizeof collection_text - used, fmt_kind, (int)len, s);
}

static void on_collection_changes(void *ud, const driftsync_changes_t *ch) {
    static const char marks[3] = {'-', '+', '*'};
    size_t count = 0, i, n, len;
    int part;
    (void)ud;
    collection_text[0] = 0;
    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection_count(ch, 0, &count, NULL));
    for (i = 0; i < count; i++) {
        driftsync_pk_t pk;
        driftsync_string_t prop;
        driftsync_collection_t kind = DRIFTSYNC_COLLECTION_NONE;
        EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection(ch, 0, i, &pk, &prop, &kind, NULL));
        CHECK(pk.kind == DRIFTSYNC_PK_INT && pk.int_value == 1);
        append_text("%.*s:", prop.data, prop.len);
        for (part = DRIFTSYNC_CHANGE_DELETED; part <= DRIFTSYNC_CHANGE_MODIFIED; part++) {
            EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection_len(ch, 0, i, part, &len, NULL));
            for (n = 0; n < len; n++) {
                char item[32];
                driftsync_value_t v;
                driftsync_string_t key;
                size_t index = 0;
                item[0] = marks[part];
                if (kind == DRIFTSYNC_COLLECTION_LIST) {
                    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection_index(ch, 0, i, part, n, &index, NULL));
                    snprintf(item + 1, sizeof item - 1, "%zu", index);
                } else if (kind == DRIFTSYNC_COLLECTION_SET) {
                    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection_element(ch, 0, i, part, n, &v, NULL));
                    CHECK(v.kind == DRIFTSYNC_VALUE_STRING);
                    snprintf(item + 1, sizeof item - 1, "%.*s", (int)v.string.len, v.string.data);
                } else {
                    CHECK(kind == DRIFTSYNC_COLLECTION_DICTIONARY);
                    EXPECT0(DRIFTSYNC_STATUS_OK, driftsync_changes_collection_key(ch, 0, i, part, n, &key, NULL));
                    snprintf(item + 1, sizeof item - 1, "%.*s", (int)key.len, key.data);
                }
                append_text(" %.*s", item, strlen(item));
            }
            /* one past the end of each part */
            if (kind == DRIFTSYNC_COLLECTION_LIST) {
                EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_collection_index(ch, 0, i, part, len, &n, NULL));
            } else if (kind == DRIFTSYNC_COLLECTION_SET) {
                EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
                        driftsync_changes_collection_element(ch, 0, i, part, len, &(driftsync_value_t){0}, NULL));
            } else {
                EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
                        driftsync_changes_collection_key(ch, 0, i, part, len, &(driftsync_string_t){0}, NULL));
            }
        }
        append_text("%.*s", ";", 1);
        /* the getter of another kind is a type mismatch; an unknown part is invalid */
        if (kind == DRIFTSYNC_COLLECTION_LIST) {
            EXPECT0(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_changes_collection_key(ch, 0, i, 0, 0, &prop, NULL));
        } else {
            EXPECT0(DRIFTSYNC_STATUS_TYPE_MISMATCH, driftsync_changes_collection_index(ch, 0, i, 0, 0, &len, NULL));
        }
        EXPECT0(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_changes_collection_len(ch, 0, i, 3, &len, NULL));
        EXPECT0(DRIFTSYNC_STATUS_INVALID_ARGUMENT, driftsync_changes_collection_len(ch, 0, i, -1, &len, NULL));
    }
    EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_collection(ch, 0, count, &(driftsync_pk_t){0}, &(driftsync_string_t){0}, &(driftsync_collection_t){0}, NULL));
    EXPECT0(DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE, driftsync_changes_collection_count(ch, 1, &len, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_collection_count(ch, 0, NULL, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_collection(ch, 0, 0, NULL, &(driftsync_string_t){0}, &(driftsync_collection_t){0}, NULL));
    EXPECT0(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_collection_len(ch, 0, 0, 0, NULL, NULL));
}

/* A realm of the schema in `json`, opened without sync. */
static driftsync_realm_t *open_json_realm(const char *json, const char *file) {
    driftsync_schema_t *s = NULL;
    driftsync_config_t *c;
    driftsync_realm_t *r = NULL;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_schema_from_json(S(json), &s, ERR));
    c = make_config(file, s, 0);
    driftsync_schema_free(s);
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_open(c, &r, ERR));
    driftsync_config_free(c);
    return r;
}

static void test_collection_changes(void) {
    driftsync_realm_t *r = NULL;
    driftsync_token_t *t = NULL;
    driftsync_pk_t b1 = pk_int(1);
    driftsync_value_t v;
    const char *items[] = {"a", "b", "c", "d"};
    size_t i, len = 0;

    r = open_json_realm(BOX_SCHEMA_JSON, "collections.realm");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_create(r, S("Box"), &b1, NULL, 0, ERR));
    for (i = 0; i < 4; i++) {
        v = v_str(items[i]);
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_push(r, S("Box"), &b1, S("l"), &v, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Box"), &b1, S("s"), &v, ERR));
        EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Box"), &b1, S("d"), S(items[i]), &v, ERR));
    }
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));

    registrations++;
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_observe_object(r, S("Box"), &b1, on_collection_changes, NULL, count_free, &t, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_begin_write(r, ERR));
    /* list a b c d -> z a c D */
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_erase(r, S("Box"), &b1, S("l"), 1, ERR));
    v = v_str("D");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_set(r, S("Box"), &b1, S("l"), 2, &v, ERR));
    v = v_str("z");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_list_insert(r, S("Box"), &b1, S("l"), 0, &v, ERR));
    /* set a b c d -> a c d e */
    v = v_str("b");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_remove(r, S("Box"), &b1, S("s"), &v, ERR));
    v = v_str("e");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_set_add(r, S("Box"), &b1, S("s"), &v, ERR));
    /* dictionary a b c d -> a b=B d e */
    v = v_str("B");
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Box"), &b1, S("d"), S("b"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_erase(r, S("Box"), &b1, S("d"), S("c"), ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_dict_set(r, S("Box"), &b1, S("d"), S("e"), &v, ERR));
    EXPECT(DRIFTSYNC_STATUS_OK, driftsync_realm_commit(r, ERR));
    /* properties in name order: deleted list positions are old ones, inserted/modified new */
    CHECK(strcmp(collection_text, "d: -c +e *b;l: -1 +0 *3;s: -b +e;") == 0);
    if (strcmp(collection_text, "d: -c +e *b;l: -1 +0 *3;s: -b +e;") != 0) {
        fprintf(stderr, "collection changes: %s\n", collection_text);
    }

    /* outside a callback: NULL changes */
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_collection_count(NULL, 0, &len, ERR));
    EXPECT(DRIFTSYNC_STATUS_NULL_ARGUMENT, driftsync_changes_collection_index(NULL, 0, 0, 0, 0, &len, ERR));
    driftsync_token_free(t);
    driftsync_realm_free(r);
    CHECK(frees == registrations);
}

int main(int argc, char **argv) {
    static const driftsync_status_t must_see[] = {
        DRIFTSYNC_STATUS_OK, DRIFTSYNC_STATUS_INVALID_ARGUMENT, DRIFTSYNC_STATUS_INVALID_SCHEMA,
        DRIFTSYNC_STATUS_UNKNOWN_CLASS, DRIFTSYNC_STATUS_UNKNOWN_PROPERTY, DRIFTSYNC_STATUS_TYPE_MISMATCH,
        DRIFTSYNC_STATUS_OBJECT_NOT_FOUND, DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY,
        DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION, DRIFTSYNC_STATUS_WRITE_ON_FROZEN,
        DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE, DRIFTSYNC_STATUS_FILE_NOT_REALM, DRIFTSYNC_STATUS_FILE_CORRUPT,
        DRIFTSYNC_STATUS_FILE_IO, DRIFTSYNC_STATUS_BUSY, DRIFTSYNC_STATUS_CLOSED, DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
        DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION, DRIFTSYNC_STATUS_NULL_ARGUMENT, DRIFTSYNC_STATUS_INVALID_UTF8,
        DRIFTSYNC_STATUS_PANIC,
    };
    size_t i;
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch directory>\n", argv[0]);
        return 2;
    }
    dir = argv[1];

    test_version();
    test_errors();
    test_schema();
    test_config();
    test_open_errors();
    test_objects();
    test_lists();
    test_counter();
    test_set();
    test_dictionary();
    test_embedded();
    test_mixed();
    test_frozen();
    test_cursor();
    test_observers();
    test_closed();
    test_threads();
    test_nulls();
    test_change_nulls();
    test_collection_changes();

    for (i = 0; i < sizeof must_see / sizeof must_see[0]; i++) {
        if (seen[must_see[i]]) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "status %s was never produced\n", driftsync_status_name(must_see[i]));
        }
    }
    CHECK(frees == registrations);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
