package example

import io.driftsync.Driftsync
import io.driftsync.Realm
import io.driftsync.RealmConfiguration
import io.driftsync.schema
import java.nio.file.Files

/** Opens a realm with the installed binding (the native library comes from its jar), writes, reads. */
fun main(args: Array<String>) {
    val dir = args.firstOrNull() ?: Files.createTempDirectory("driftsync-consumer").toString()
    val schema = schema {
        realmClass("Task", primaryKey = "id") { int("id"); string("title") }
    }
    Realm.open(RealmConfiguration.Builder("$dir/consumer.realm", schema).build()).use { realm ->
        realm.write { upsert("Task", 1, "title" to "from a consumer project") }
        val title = realm.get("Task", 1)?.getString("title")
        println("driftsync ${Driftsync.version}: ${realm.count("Task")} Task(s), title=$title")
    }
}
