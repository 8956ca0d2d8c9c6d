/* The smallest C program against an installed driftsync (see "Use from C" in README.md):
 * opens (or creates) a realm file, adds one object in a write transaction, counts the objects.
 *   hello [REALM_PATH]          (default: hello.realm in the current directory)
 * Prints "driftsync <version>: <n> Task object(s) in <path>" and exits 0, or prints the error. */
#include <driftsync.h>

#include <stdio.h>
#include <string.h>

static const char SCHEMA[] =
    "{\"classes\":[{\"name\":\"Task\",\"primaryKey\":\"id\",\"properties\":["
    "{\"name\":\"id\",\"type\":\"int\"},{\"name\":\"title\",\"type\":\"string\"}]}]}";

static int fail(const char *what, driftsync_error_t *err) {
    driftsync_string_t msg = driftsync_error_message(err); /* not NUL-terminated */
    fprintf(stderr, "%s failed: %.*s\n", what, (int)msg.len, msg.data ? msg.data : "");
    driftsync_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "hello.realm";
    driftsync_error_t *err = NULL;
    driftsync_schema_t *schema = NULL;
    driftsync_config_t *config = NULL;
    driftsync_realm_t *realm = NULL;

    if (driftsync_schema_from_json(SCHEMA, strlen(SCHEMA), &schema, &err) != DRIFTSYNC_STATUS_OK)
        return fail("schema", err);
    driftsync_config_builder_t *builder = driftsync_config_builder_new();
    if (driftsync_config_builder_set_path(builder, path, strlen(path), &err) != DRIFTSYNC_STATUS_OK ||
        driftsync_config_builder_set_schema(builder, schema, &err) != DRIFTSYNC_STATUS_OK) {
        driftsync_config_builder_free(builder);
        driftsync_schema_free(schema);
        return fail("config", err);
    }
    driftsync_schema_free(schema); /* the builder copied it */
    /* build consumes the builder, whatever the outcome */
    if (driftsync_config_builder_build(builder, &config, &err) != DRIFTSYNC_STATUS_OK)
        return fail("config", err);
    if (driftsync_realm_open(config, &realm, &err) != DRIFTSYNC_STATUS_OK) {
        driftsync_config_free(config);
        return fail("open", err);
    }
    driftsync_config_free(config);

    uint64_t count = 0;
    int rc = 0;
    if (driftsync_realm_count(realm, "Task", 4, &count, &err) != DRIFTSYNC_STATUS_OK) {
        rc = fail("count", err);
        goto out;
    }
    driftsync_pk_t id;
    memset(&id, 0, sizeof id);
    id.kind = DRIFTSYNC_PK_INT;
    id.int_value = (int64_t)count + 1;
    driftsync_field_t title;
    memset(&title, 0, sizeof title);
    title.name.data = "title";
    title.name.len = 5;
    title.value.kind = DRIFTSYNC_VALUE_STRING;
    title.value.string.data = "write the docs";
    title.value.string.len = strlen(title.value.string.data);
    if (driftsync_realm_begin_write(realm, &err) != DRIFTSYNC_STATUS_OK ||
        driftsync_realm_create(realm, "Task", 4, &id, &title, 1, &err) != DRIFTSYNC_STATUS_OK ||
        driftsync_realm_commit(realm, &err) != DRIFTSYNC_STATUS_OK ||
        driftsync_realm_count(realm, "Task", 4, &count, &err) != DRIFTSYNC_STATUS_OK) {
        rc = fail("write", err);
        goto out;
    }
    printf("driftsync %s: %llu Task object(s) in %s\n", driftsync_version(), (unsigned long long)count, path);
out:
    driftsync_realm_free(realm);
    return rc;
}
