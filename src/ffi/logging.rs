//! Logging for C and the bindings: one registered callback receives the library's log lines
//! (level, category, message). The library logs through the `log` crate; when the application
//! registers a callback, this module installs itself as the process's `log` logger.

use super::observe::driftsync_user_data_free_fn;
use super::types::*;
use parking_lot::RwLock;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// The level of a log line (and the threshold of `driftsync_set_log_callback`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum driftsync_log_level_t {
    /// No lines at all (as a threshold: unregisters the callback).
    DRIFTSYNC_LOG_OFF = 0,
    DRIFTSYNC_LOG_ERROR = 1,
    DRIFTSYNC_LOG_WARN = 2,
    DRIFTSYNC_LOG_INFO = 3,
    DRIFTSYNC_LOG_DEBUG = 4,
    DRIFTSYNC_LOG_TRACE = 5,
}

/// Receives one log line: its level, its category ("sync", "reset", "storage"; UTF-8, not
/// NUL-terminated) and its message (UTF-8, not NUL-terminated). Both strings are borrowed for the
/// call.
///
/// Thread: whichever thread logged the line (the sync thread, or an application thread inside a
/// library call), possibly several at once. No library lock is held: the callback may call into
/// the library, but should be quick.
pub type driftsync_log_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: driftsync_log_level_t, category: driftsync_string_t, message: driftsync_string_t),
>;

struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, driftsync_log_level_t, driftsync_string_t, driftsync_string_t),
    user: UserData,
}

/// The registered callback. Callers clone the Arc and call it with the lock released, so a
/// replaced sink's `user_data_free` runs once its last call in flight has returned.
static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

struct Bridge;

static BRIDGE: Bridge = Bridge;

fn level_of(l: log::Level) -> driftsync_log_level_t {
    use driftsync_log_level_t as L;
    match l {
        log::Level::Error => L::DRIFTSYNC_LOG_ERROR,
        log::Level::Warn => L::DRIFTSYNC_LOG_WARN,
        log::Level::Info => L::DRIFTSYNC_LOG_INFO,
        log::Level::Debug => L::DRIFTSYNC_LOG_DEBUG,
        log::Level::Trace => L::DRIFTSYNC_LOG_TRACE,
    }
}

fn filter_of(l: driftsync_log_level_t) -> log::LevelFilter {
    use driftsync_log_level_t as L;
    match l {
        L::DRIFTSYNC_LOG_OFF => log::LevelFilter::Off,
        L::DRIFTSYNC_LOG_ERROR => log::LevelFilter::Error,
        L::DRIFTSYNC_LOG_WARN => log::LevelFilter::Warn,
        L::DRIFTSYNC_LOG_INFO => log::LevelFilter::Info,
        L::DRIFTSYNC_LOG_DEBUG => log::LevelFilter::Debug,
        L::DRIFTSYNC_LOG_TRACE => log::LevelFilter::Trace,
    }
}

/// "driftsync::sync" → "sync"; lines of other crates are not the library's and are dropped.
fn category(target: &str) -> Option<&str> {
    target.strip_prefix("driftsync::").or((target == "driftsync").then_some("general"))
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        category(metadata.target()).is_some()
    }

    fn log(&self, record: &log::Record) {
        let Some(cat) = category(record.target()) else { return };
        let Some(sink) = SINK.read().clone() else { return };
        let message = record.args().to_string();
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the application registered `callback` for `user.data`.
            unsafe { (sink.callback)(sink.user.data, level_of(record.level()), str_view(cat), str_view(&message)) }
        }));
    }

    fn flush(&self) {}
}

/// Registers the process-wide log callback: lines at `level` (a `driftsync_log_level_t` value)
/// or more severe are passed to `callback`; another number is `DRIFTSYNC_STATUS_INVALID_ARGUMENT`. A new registration replaces the previous one; `DRIFTSYNC_LOG_OFF` or a NULL
/// `callback` unregisters. The library owns `user_data` from this call on: `user_data_free`
/// (optional) runs exactly once, when the registration is replaced or removed and no call of the
/// callback is in flight any more (possibly on a library thread), or before this function returns
/// if it fails (or unregisters).
///
/// If the process already has another `log` logger (a Rust application's own), the callback is
/// not installed and `DRIFTSYNC_STATUS_INVALID_ARGUMENT` is returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_set_log_callback(
    level: i32,
    callback: driftsync_log_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    guard(out_error, move || {
        let level = match level {
            0 => driftsync_log_level_t::DRIFTSYNC_LOG_OFF,
            1 => driftsync_log_level_t::DRIFTSYNC_LOG_ERROR,
            2 => driftsync_log_level_t::DRIFTSYNC_LOG_WARN,
            3 => driftsync_log_level_t::DRIFTSYNC_LOG_INFO,
            4 => driftsync_log_level_t::DRIFTSYNC_LOG_DEBUG,
            5 => driftsync_log_level_t::DRIFTSYNC_LOG_TRACE,
            other => return Err(Failure::invalid(format!("{other} is not a driftsync_log_level_t"))),
        };
        let sink = match callback {
            Some(cb) if level != driftsync_log_level_t::DRIFTSYNC_LOG_OFF => {
                install_bridge()?;
                Some(Arc::new(Sink { callback: cb, user }))
            }
            _ => None,
        };
        let previous = std::mem::replace(&mut *SINK.write(), sink);
        if SINK.read().is_some() {
            log::set_max_level(filter_of(level));
        }
        // Dropped with no lock held: its user_data_free may run here, or after its last call.
        drop(previous);
        Ok(())
    })
}

/// Installs the bridge as the process's logger (once).
fn install_bridge() -> FfiResult<()> {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *INSTALLED.get_or_init(|| log::set_logger(&BRIDGE).is_ok());
    if ok { Ok(()) } else { Err(Failure::invalid("the process already has a log logger; driftsync logs through it")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LINES: Mutex<Vec<(driftsync_log_level_t, String, String)>> = Mutex::new(Vec::new());
    static FREED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn record(_: *mut c_void, level: driftsync_log_level_t, category: driftsync_string_t, message: driftsync_string_t) {
        // SAFETY: the library passes valid UTF-8 views for the call.
        let text =
            |s: driftsync_string_t| unsafe { String::from_utf8_lossy(std::slice::from_raw_parts(s.data.cast::<u8>(), s.len)).into_owned() };
        LINES.lock().unwrap().push((level, text(category), text(message)));
    }

    unsafe extern "C" fn freed(_: *mut c_void) {
        FREED.fetch_add(1, Ordering::SeqCst);
    }

    /// Registers `cb` (with `freed` as its user_data_free when there is a callback).
    fn set(level: driftsync_log_level_t, cb: driftsync_log_fn) -> driftsync_status_t {
        set_raw(level as i32, cb)
    }

    fn set_raw(level: i32, cb: driftsync_log_fn) -> driftsync_status_t {
        let free: driftsync_user_data_free_fn = if cb.is_some() { Some(freed) } else { None };
        // SAFETY: plain values; no out_error.
        unsafe { driftsync_set_log_callback(level, cb, std::ptr::null_mut(), free, std::ptr::null_mut()) }
    }

    #[test]
    fn visible_log_callback_gets_driftsync_lines_at_its_level_and_frees_user_data_once() {
        use driftsync_log_level_t as L;
        assert_eq!(set(L::DRIFTSYNC_LOG_WARN, Some(record)), driftsync_status_t::DRIFTSYNC_STATUS_OK);
        log::info!(target: "driftsync::sync", "below the level");
        log::warn!(target: "driftsync::reset", "a warning");
        log::error!(target: "tungstenite::protocol", "not the library's");
        assert_eq!(*LINES.lock().unwrap(), vec![(L::DRIFTSYNC_LOG_WARN, "reset".to_string(), "a warning".to_string())]);
        // Replaced: the first registration's user_data_free runs once.
        assert_eq!(set(L::DRIFTSYNC_LOG_DEBUG, Some(record)), driftsync_status_t::DRIFTSYNC_STATUS_OK);
        assert_eq!(FREED.load(Ordering::SeqCst), 1);
        log::debug!(target: "driftsync::storage", "now debug");
        assert_eq!(LINES.lock().unwrap().last().map(|l| l.1.clone()), Some("storage".to_string()));
        // Removed: the second one's runs once; no more lines.
        assert_eq!(set(L::DRIFTSYNC_LOG_OFF, None), driftsync_status_t::DRIFTSYNC_STATUS_OK);
        assert_eq!(FREED.load(Ordering::SeqCst), 2);
        let n = LINES.lock().unwrap().len();
        log::error!(target: "driftsync::sync", "nobody listens");
        assert_eq!(LINES.lock().unwrap().len(), n);
        // An invalid level fails and frees at once.
        assert_eq!(set_raw(9, Some(record)), driftsync_status_t::DRIFTSYNC_STATUS_INVALID_ARGUMENT);
        assert_eq!(FREED.load(Ordering::SeqCst), 3);
    }
}
