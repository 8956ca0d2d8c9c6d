package io.driftsync

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.withContext
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * The coroutine API (kotlinx-coroutines), in the manner of Realm Kotlin: suspending waits and
 * cold Flows over the callback API. Collecting a flow registers its callback; cancelling the
 * collection closes the token. Changes are buffered without limit, so a slow collector never
 * blocks the committing thread or the sync thread and never misses a change.
 */

/**
 * Suspends until every local change committed before the call is acknowledged by the server
 * ([SyncSession.waitForUpload] on [Dispatchers.IO]); [TimeoutException] after [timeout].
 * The native wait is not interruptible: a cancelled caller resumes when it returns.
 */
suspend fun SyncSession.awaitUpload(timeout: Duration = 30.seconds) = withContext(Dispatchers.IO) { waitForUpload(timeout) }

/** Suspends until everything the server had at the call is integrated locally; as [awaitUpload]. */
suspend fun SyncSession.awaitDownload(timeout: Duration = 30.seconds) = withContext(Dispatchers.IO) { waitForDownload(timeout) }

/** Every change to the realm's file, as [Realm.observe] delivers it. */
fun Realm.changesFlow(): Flow<RealmChanges> = callbackFlowOf { send -> observe(send) }

/** The changes to one class ([Realm.observeClass]). */
fun Realm.changesFlow(className: String): Flow<RealmChanges> = callbackFlowOf { send -> observeClass(className, send) }

/** The changes to one object: its insertion, erasure and modifications ([Realm.observeObject]). */
fun Realm.objectChangesFlow(className: String, primaryKey: Any): Flow<RealmChanges> =
    callbackFlowOf { send -> observeObject(className, primaryKey, send) }

/** The connection state: the current one first, then every change ([SyncSession.onStateChange]). */
fun SyncSession.connectionStateFlow(): Flow<ConnectionState> =
    callbackFlow {
        val token = onStateChange { _, new -> trySend(new) }
        // After registering, so no change between the two is lost (duplicates are dropped below).
        trySend(state)
        awaitClose { token.close() }
    }.buffer(Channel.UNLIMITED).distinctUntilChanged()

/**
 * The session's errors, reset demands included ([SyncSession.onError]): its [SyncSession.lastError]
 * first, if it has one and no newer error came meanwhile (a collector that starts late still
 * learns why the session fails, e.g. a refused token), then every new one.
 */
fun SyncSession.errorsFlow(): Flow<SyncError> =
    callbackFlow {
        val delivered = AtomicBoolean(false)
        val token = onError { error ->
            delivered.set(true)
            trySend(error)
        }
        val last = lastError
        if (last != null && !delivered.get()) trySend(last)
        awaitClose { token.close() }
    }.buffer(Channel.UNLIMITED)

/**
 * Upload and download progress (in versions), the current value first, then each change, read
 * every [period] (the C ABI has no progress callback for the session). Completes when the realm
 * is closed.
 */
fun SyncSession.progressFlow(period: Duration = 100.milliseconds): Flow<SyncProgress> =
    flow {
        while (true) {
            val current = try {
                progress
            } catch (_: RealmClosedException) {
                return@flow
            }
            emit(current)
            delay(period)
        }
    }.distinctUntilChanged().flowOn(Dispatchers.IO)

/** A flow over a callback registration: the token lives as long as the collection. */
private fun <T> callbackFlowOf(register: ((T) -> Unit) -> ObserverToken): Flow<T> =
    callbackFlow {
        val token = register { value -> trySend(value) }
        awaitClose { token.close() }
    }.buffer(Channel.UNLIMITED)
