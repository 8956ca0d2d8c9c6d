package io.driftsync.internal

import com.sun.jna.Pointer
import io.driftsync.Driftsync
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

/**
 * The Kotlin side of every callback registration.
 *
 * JNA callback objects must stay strongly referenced as long as C may call them, and the
 * `user_data` C passes back must lead to the right Kotlin closure. So every C function pointer
 * handed to the library is one of the static trampolines below (alive as long as this class is
 * loaded, i.e. for the life of the process), and `user_data` is a small integer id into
 * [registry]. The entry is removed when the library calls `user_data_free` (exactly once), so a
 * registration's closure lives exactly as long as C may call it.
 */
internal object Callbacks {
    private val nextId = AtomicLong(1)
    private val registry = ConcurrentHashMap<Long, Any>()

    /** Registers [target] and returns the user_data to pass to C. */
    fun register(target: Any): Pointer {
        val id = nextId.getAndIncrement()
        registry[id] = target
        return Pointer(id)
    }

    fun lookup(userData: Pointer?): Any? = userData?.let { registry[Pointer.nativeValue(it)] }

    /** For tests: how many registrations C still holds. */
    fun liveCount(): Int = registry.size

    /** Removes a registration C never took ownership of. */
    fun unregister(userData: Pointer) {
        registry.remove(Pointer.nativeValue(userData))
    }

    /** `user_data_free` of every registration. */
    @JvmField
    val free: UserDataFreeFn = UserDataFreeFn { ud ->
        if (ud != null) registry.remove(Pointer.nativeValue(ud))
    }

    /** `driftsync_observer_fn`: the registry entry is a `(Pointer) -> Unit` reading the changes. */
    @JvmField
    val observer: ObserverFn = ObserverFn { ud, changes ->
        try {
            @Suppress("UNCHECKED_CAST")
            val f = lookup(ud) as ((Pointer) -> Unit)?
            if (f != null && changes != null) f(changes)
        } catch (t: Throwable) {
            report(t)
        }
    }

    fun report(t: Throwable) {
        try {
            Driftsync.callbackExceptionHandler(t)
        } catch (_: Throwable) {
        }
    }
}
