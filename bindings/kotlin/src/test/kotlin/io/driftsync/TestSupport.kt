package io.driftsync

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** The schema of the tests (the same as the Rust end-to-end tests). */
val testSchema: Schema = schema {
    realmClass("Item", primaryKey = "id") {
        int("id")
        string("name")
        int("count")
        list("tags", PropertyType.STRING)
        link("next", "Item")
    }
    realmClass("Person", primaryKey = "name") {
        string("name")
        linkList("items", "Item")
        int("age", optional = true)
    }
}

const val TEST_SCHEMA_JSON = """{"classes":[
 {"name":"Item","primaryKey":"id","properties":[
  {"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"count","type":"int"},
  {"name":"tags","type":"string","list":true},{"name":"next","type":"link","optional":true,"target":"Item"}]},
 {"name":"Person","primaryKey":"name","properties":[
  {"name":"name","type":"string"},{"name":"items","type":"link","list":true,"target":"Item"},
  {"name":"age","type":"int","optional":true}]}
]}"""

/** The schema with `Item.count` turned into a string: a breaking change. */
val BREAKING_SCHEMA_JSON = TEST_SCHEMA_JSON.replace("""{"name":"count","type":"int"}""", """{"name":"count","type":"string"}""")

/** The test schema plus a class the server does not have. */
val schemaWithExtraClass: Schema = Schema.of(
    testSchema.classes + ClassSchema("Note", "id", listOf(Property("id", PropertyType.INT), Property("text", PropertyType.STRING))),
)

fun tempDir(prefix: String): Path = Files.createTempDirectory("driftsync-kt-$prefix")

fun localConfig(path: String, schema: Schema = testSchema): RealmConfiguration = RealmConfiguration.Builder(path, schema).build()

fun openFds(): Int = File("/proc/self/fd").list()?.size ?: -1

/** Waits until [f] holds (polling), or fails with [what]. */
fun eventually(what: String, timeout: Duration = 30.seconds, f: () -> Boolean) {
    val deadline = System.nanoTime() + timeout.inWholeNanoseconds
    while (System.nanoTime() < deadline) {
        if (f()) return
        Thread.sleep(20)
    }
    throw AssertionError("timed out waiting for: $what")
}

fun File.deleteTree() {
    walkBottomUp().forEach { it.delete() }
}

/**
 * The reference server as a child process: `driftsync-server serve` on 127.0.0.1:0, its port
 * read from stdout; destroyed on [close]. The binary comes from the system property
 * `driftsync.server.binary` (set by the Maven build from the cargo target directory).
 */
class TestServer(
    val dir: Path = tempDir("server"),
    maxOfflineDays: Int = 30,
    /** A directory with server.pem and server.key: the server speaks wss:// (see [TestPki]). */
    tlsDir: Path? = null,
) : AutoCloseable {
    val binary: String = System.getProperty("driftsync.server.binary")
        ?: error("set -Ddriftsync.server.binary to target/debug/driftsync-server")
    val url: String
    val adminUrl: String
    private val process: Process
    private val log = dir.resolve("server.log").toFile()

    init {
        require(File(binary).canExecute()) { "no server binary at $binary (cargo build -p driftsync-server)" }
        dir.resolve("schema.json").toFile().writeText(TEST_SCHEMA_JSON)
        dir.resolve("breaking.json").toFile().writeText(BREAKING_SCHEMA_JSON)
        dir.resolve("app.toml").toFile().writeText(
            """
            admin_token = "$ADMIN"
            is_recovery_mode_disabled = false
            client_max_offline_days = $maxOfflineDays
            schema_file = "schema.json"

            [users.alice]
            token = "alice-token"
            role = "editor"

            [users.bob]
            token = "bob-token"
            role = "editor"

            [roles.editor]
            realms = ["*"]
            read = ["*"]
            write = ["*"]

            [roles.editor2]
            realms = ["*"]
            read = ["*"]
            write = ["*"]

            [roles.reader]
            realms = ["*"]
            read = ["*"]
            write = []
            """.trimIndent() + (tlsDir?.let { "\n[tls]\ncert_chain_file = \"${it.resolve("server.pem")}\"\nkey_file = \"${it.resolve("server.key")}\"\n" } ?: ""),
        )
        process = ProcessBuilder(
            binary, "serve", "--config", dir.resolve("app.toml").toString(), "--data", dir.resolve("data").toString(),
            "--listen", "127.0.0.1:0",
        ).redirectError(ProcessBuilder.Redirect.appendTo(log)).start()
        val reader = process.inputStream.bufferedReader()
        var found: String? = null
        val deadline = System.nanoTime() + 30_000_000_000L
        while (found == null && System.nanoTime() < deadline) {
            val line = reader.readLine() ?: break
            if (line.startsWith("listening on ")) found = line.removePrefix("listening on ").trim()
        }
        val adminLine = if (found != null) reader.readLine() ?: "" else ""
        adminUrl = adminLine.removePrefix("admin on ").trim()
        if (found == null) {
            process.destroyForcibly()
            error("the server did not start: ${log.readText()}")
        }
        url = found
        // Keep draining stdout so the child never blocks on a full pipe.
        Thread({ try { reader.forEachLine { } } catch (_: Exception) { } }, "server-stdout").apply { isDaemon = true; start() }
    }

    /** Runs `driftsync-server admin … <args>` and returns its output. */
    fun admin(vararg args: String): String {
        val p = ProcessBuilder(listOf(binary, "admin", "--url", adminUrl, "--admin-token", ADMIN) + args).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(60, TimeUnit.SECONDS)) { "admin ${args.toList()} hangs" }
        check(p.exitValue() == 0) { "admin ${args.toList()} failed (${p.exitValue()}): $out" }
        return out
    }

    fun path(name: String): String = dir.resolve(name).toString()

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        dir.toFile().deleteTree()
    }

    companion object {
        const val ADMIN = "admin-secret"
    }
}

/**
 * A test CA and a server certificate for localhost / 127.0.0.1, made by `examples/test_pki`
 * (system property `driftsync.test.pki`, set by the Maven build) into [dir].
 */
class TestPki(val dir: Path = tempDir("pki")) {
    init {
        val tool = System.getProperty("driftsync.test.pki") ?: error("set -Ddriftsync.test.pki to target/debug/examples/test_pki")
        val p = ProcessBuilder(tool, dir.toString()).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "test_pki failed: $out" }
    }

    val caPem: String get() = dir.resolve("ca.pem").toFile().readText()
}

fun syncConfig(
    ts: TestServer,
    file: String,
    user: String = "alice",
    mode: ClientResetMode = ClientResetMode.RecoverOrDiscardUnsyncedChanges(),
    schema: Schema = testSchema,
    configure: SyncConfiguration.Builder.() -> Unit = {},
): RealmConfiguration {
    val sync = SyncConfiguration.Builder(ts.url, "$user-token", "main")
        .clientResetMode(mode)
        .backupDir(ts.path("backups").also { File(it).mkdirs() })
        .apply(configure)
        .build()
    return RealmConfiguration.Builder(ts.path(file), schema).sync(sync).build()
}

fun Realm.session(): SyncSession = syncSession ?: error("not synced")

fun Realm.syncAll() {
    session().waitForUpload(30.seconds)
    session().waitForDownload(30.seconds)
}

fun Realm.goOffline() {
    session().pause()
    eventually("disconnected") { session().state == ConnectionState.DISCONNECTED }
}

fun Realm.nameOf(id: Long): String? = get("Item", id)?.getString("name")

fun Realm.item(id: Long, name: String) = write { create("Item", id, "name" to name) }
