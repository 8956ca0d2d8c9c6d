package io.driftsync.internal

import com.sun.jna.Pointer
import io.driftsync.closedException
import java.lang.ref.Cleaner
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.locks.ReentrantReadWriteLock

internal val cleaner: Cleaner = Cleaner.create()

/**
 * A native handle shared by calls on several threads, and closed at most once.
 *
 * Every call runs under the read lock ([use]); [close] takes the write lock, so the handle is
 * never freed while a call is using it. A close requested by a thread that is itself inside a
 * call on this handle (e.g. from an observer callback) is deferred until that thread's outermost
 * call returns. If the owner is collected without being closed, a [Cleaner] frees the handle.
 *
 * [interrupt] (optional) is a thread-safe native "close" (e.g. driftsync_realm_close), used when
 * the close is deferred so that later calls of the closing thread fail at once.
 */
internal class Handle(
    owner: Any,
    ptr: Pointer,
    private val what: String,
    free: (Pointer) -> Unit,
    private val interrupt: ((Pointer) -> Unit)? = null,
) {
    private val lock = ReentrantReadWriteLock()
    private val closed = AtomicBoolean(false)

    @Volatile
    private var deferred = false
    private val state = State(ptr, free)
    private val cleanable = cleaner.register(owner, state)

    private class State(val ptr: Pointer, val free: (Pointer) -> Unit) : Runnable {
        private val done = AtomicBoolean(false)
        override fun run() {
            if (done.compareAndSet(false, true)) free(ptr)
        }
    }

    val isClosed: Boolean get() = closed.get()

    /** The raw pointer, for identity only (never dereference it outside [use]). */
    val rawPointer: Pointer get() = state.ptr

    fun <T> use(block: (Pointer) -> T): T {
        val rl = lock.readLock()
        rl.lock()
        try {
            if (closed.get()) throw closedException(what)
            return block(state.ptr)
        } finally {
            rl.unlock()
            if (deferred && lock.readHoldCount == 0) finishClose()
        }
    }

    /**
     * Closes the handle: no new call starts; [beforeFree] and the free run under the write lock
     * once the calls in flight have returned. Idempotent.
     */
    fun close(beforeFree: () -> Unit = {}) {
        if (!closed.compareAndSet(false, true)) return
        this.beforeFree = beforeFree
        if (lock.readHoldCount > 0) {
            // Inside one of our own calls on this thread (a callback, a write block): close the
            // native handle now (a write of this thread is rolled back), free it once the
            // outermost call returns.
            interrupt?.invoke(state.ptr)
            deferred = true
            return
        }
        // Calls in flight on other threads finish first (the write lock waits for them).
        finishClose()
    }

    @Volatile
    private var beforeFree: () -> Unit = {}

    private val freeing = AtomicBoolean(false)

    private fun finishClose() {
        deferred = false
        if (!freeing.compareAndSet(false, true)) return
        val wl = lock.writeLock()
        wl.lock()
        try {
            beforeFree()
            cleanable.clean()
        } finally {
            wl.unlock()
        }
    }
}
