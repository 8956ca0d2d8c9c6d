//! The "driftsync" VFS: the platform's default SQLite VFS, except that writes to a write-ahead
//! log are gathered into large writes.
//!
//! SQLite appends each WAL frame with two `write` calls, its 24-byte header and then its page: a
//! reset's commit of 800 pages made 1,600 system calls, most of the commit's time. Here the writes
//! to a `-wal` file that continue the previous one are kept in memory (up to `GATHER_BYTES`) and
//! written as one:
//! - as soon as the page of a commit frame (a frame whose header gives the database size) is
//!   gathered, so every frame that a commit makes visible to readers, through the WAL index, is
//!   in the file before the commit returns;
//! - before any other use of the file (read, sync, truncate, size, lock, file control, close),
//!   so SQLite never sees the file without what it wrote.
//!
//! An error writing the gathered bytes is the error of the call that wrote them out (a commit's
//! last frame, a sync): SQLite rolls the transaction back as for any failed write. A process
//! killed with bytes still gathered loses frames of an uncommitted transaction only, which a WAL
//! without their commit frame ignores anyway. Every other file and every other call goes to the
//! default VFS unchanged.

use rusqlite::ffi;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

/// The name connections open the VFS by (see `open`).
pub const VFS_NAME: &str = "driftsync";
const VFS_NAME_C: &std::ffi::CStr = c"driftsync";
/// Gathered bytes written at once at most: 23 frames of 4 KiB pages. (SQLite's unix VFS writes
/// at most 128 KiB per call: it masks a larger amount.)
const GATHER_BYTES: usize = 96 * 1024;
/// A WAL frame's header; bytes 4..8 are the database size in pages after a commit frame, zero in
/// every other frame.
const FRAME_HEADER_BYTES: usize = 24;

/// Registers the VFS once per process; false if SQLite has no default VFS to build on (then
/// connections use SQLite's default).
pub fn available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    // SAFETY: runs once; `register` only reads the default VFS and hands SQLite a leaked struct.
    *REGISTERED.get_or_init(|| unsafe { register() })
}

/// Opens a SQLite file through this VFS (SQLite's default VFS if it could not be registered).
pub fn open(path: &std::path::Path, flags: rusqlite::OpenFlags) -> rusqlite::Result<rusqlite::Connection> {
    match available() {
        true => rusqlite::Connection::open_with_flags_and_vfs(path, flags, VFS_NAME),
        false => rusqlite::Connection::open_with_flags(path, flags),
    }
}

/// The default VFS this one forwards to (set once, before registration).
static DEFAULT_VFS: OnceLock<usize> = OnceLock::new();

fn default_vfs() -> *mut ffi::sqlite3_vfs {
    DEFAULT_VFS.get().map_or(ptr::null_mut(), |&p| p as *mut ffi::sqlite3_vfs)
}

unsafe fn register() -> bool {
    // SAFETY: SQLite's own lookup; the default VFS lives as long as the process.
    let default = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if default.is_null() || DEFAULT_VFS.set(default as usize).is_err() {
        return false;
    }
    // A copy of the default VFS (its functions read nothing of the struct they are called with
    // but `pAppData`, kept, and `mxPathname`, kept), with a larger file and its own open.
    // SAFETY: `default` is a valid VFS; copying its plain fields is what a shim VFS does.
    let mut vfs: ffi::sqlite3_vfs = unsafe { ptr::read(default) };
    vfs.szOsFile = (REAL_FILE_OFFSET + unsafe { (*default).szOsFile } as usize) as c_int;
    vfs.zName = VFS_NAME_C.as_ptr();
    vfs.pNext = ptr::null_mut();
    vfs.xOpen = Some(gather_open);
    vfs.xDelete = Some(forward_delete);
    vfs.xAccess = Some(forward_access);
    vfs.xFullPathname = Some(forward_full_pathname);
    let vfs = Box::leak(Box::new(vfs));
    // SAFETY: the struct lives for the rest of the process; 0: not the default VFS.
    unsafe { ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK }
}

/// What SQLite allocates for each open file of this VFS (`szOsFile` bytes): this header, then the
/// default VFS's own file at `REAL_FILE_OFFSET`.
#[repr(C)]
struct GatherFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// For a WAL file, its gathered writes (owned, freed at close); null for any other file.
    gather: *mut Gather,
}

const REAL_FILE_OFFSET: usize = std::mem::size_of::<GatherFile>().next_multiple_of(16);

#[derive(Default)]
struct Gather {
    bytes: Vec<u8>,
    /// The file offset of `bytes[0]`.
    at: i64,
    /// The last write was a commit frame's header: its page, next, ends the commit.
    commit_page_next: bool,
    /// The file's path (tests count each file's real writes).
    #[cfg(test)]
    path: String,
}

unsafe extern "C" fn gather_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = default_vfs();
    let Some(open) = (unsafe { default.as_ref() }).and_then(|v| v.xOpen) else { return ffi::SQLITE_CANTOPEN };
    let f = file as *mut GatherFile;
    // SAFETY: SQLite hands `szOsFile` bytes for `file`; the real file sits at its offset.
    unsafe {
        let real = (file as *mut u8).add(REAL_FILE_OFFSET) as *mut ffi::sqlite3_file;
        (*f).base.pMethods = ptr::null();
        (*f).real = real;
        (*f).gather = ptr::null_mut();
        (*real).pMethods = ptr::null();
        let rc = open(default, name, real, flags, out_flags);
        let methods = (*real).pMethods;
        if methods.is_null() {
            return if rc == ffi::SQLITE_OK { ffi::SQLITE_CANTOPEN } else { rc };
        }
        if flags & ffi::SQLITE_OPEN_WAL != 0 {
            #[allow(unused_mut)]
            let mut gather = Gather::default();
            #[cfg(test)]
            if !name.is_null() {
                gather.path = std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned();
            }
            (*f).gather = Box::into_raw(Box::new(gather));
        }
        (*f).base.pMethods = methods_of_version((*methods).iVersion);
        rc
    }
}

unsafe extern "C" fn forward_delete(_vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let default = default_vfs();
    match unsafe { default.as_ref() }.and_then(|v| v.xDelete) {
        // SAFETY: the default VFS's own function, with its own struct.
        Some(delete) => unsafe { delete(default, name, sync_dir) },
        None => ffi::SQLITE_IOERR_DELETE,
    }
}

unsafe extern "C" fn forward_access(_vfs: *mut ffi::sqlite3_vfs, name: *const c_char, flags: c_int, out: *mut c_int) -> c_int {
    let default = default_vfs();
    match unsafe { default.as_ref() }.and_then(|v| v.xAccess) {
        // SAFETY: as above.
        Some(access) => unsafe { access(default, name, flags, out) },
        None => ffi::SQLITE_IOERR_ACCESS,
    }
}

unsafe extern "C" fn forward_full_pathname(_vfs: *mut ffi::sqlite3_vfs, name: *const c_char, n: c_int, out: *mut c_char) -> c_int {
    let default = default_vfs();
    match unsafe { default.as_ref() }.and_then(|v| v.xFullPathname) {
        // SAFETY: as above.
        Some(full) => unsafe { full(default, name, n, out) },
        None => ffi::SQLITE_CANTOPEN,
    }
}

/// The real file and its methods.
unsafe fn real(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    // SAFETY: every file with these methods was opened by `gather_open`, which set `real` and
    // saw its methods non-null; SQLite's method tables are static.
    unsafe {
        let real = (*(file as *mut GatherFile)).real;
        (real, &*(*real).pMethods)
    }
}

/// Writes out what a WAL file gathered (nothing for any other file).
unsafe fn write_gathered(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `real`; `gather` is null or the file's own `Gather`.
    unsafe {
        let Some(g) = (*(file as *mut GatherFile)).gather.as_mut() else { return ffi::SQLITE_OK };
        if g.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let (real, m) = real(file);
        #[cfg(test)]
        tests::count_write(&g.path);
        let rc = match m.xWrite {
            Some(write) => write(real, g.bytes.as_ptr() as *const c_void, g.bytes.len() as c_int, g.at),
            None => ffi::SQLITE_IOERR_WRITE,
        };
        g.bytes.clear();
        rc
    }
}

unsafe extern "C" fn gather_write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: see `real`; SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let g = (*(file as *mut GatherFile)).gather;
        let (real, m) = real(file);
        let Some(write) = m.xWrite else { return ffi::SQLITE_IOERR_WRITE };
        let Some(g) = g.as_mut().filter(|_| amount > 0 && (amount as usize) < GATHER_BYTES) else {
            let rc = write_gathered(file);
            #[cfg(test)]
            if let Some(g) = g.as_ref() {
                tests::count_write(&g.path);
            }
            return if rc == ffi::SQLITE_OK { write(real, data, amount, offset) } else { rc };
        };
        let bytes = std::slice::from_raw_parts(data as *const u8, amount as usize);
        if !g.bytes.is_empty() && (offset != g.at + g.bytes.len() as i64 || g.bytes.len() + bytes.len() > GATHER_BYTES) {
            let rc = write_gathered(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if g.bytes.is_empty() {
            g.at = offset;
        }
        g.bytes.extend_from_slice(bytes);
        if std::mem::take(&mut g.commit_page_next) {
            return write_gathered(file);
        }
        g.commit_page_next = bytes.len() == FRAME_HEADER_BYTES && bytes[4..8] != [0; 4];
        ffi::SQLITE_OK
    }
}

/// A method that writes out the gathered bytes, then forwards the call to the real file.
macro_rules! after_gathered {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: see `real`.
            unsafe {
                let rc = write_gathered(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let (real, m) = real(file);
                match m.$method {
                    Some(f) => f(real $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

after_gathered!(gather_read, xRead, (data: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
after_gathered!(gather_truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
after_gathered!(gather_sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
after_gathered!(gather_file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
after_gathered!(gather_lock, xLock, (level: c_int), ffi::SQLITE_IOERR_LOCK);
after_gathered!(gather_unlock, xUnlock, (level: c_int), ffi::SQLITE_IOERR_UNLOCK);
after_gathered!(gather_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
after_gathered!(gather_file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
after_gathered!(gather_shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
after_gathered!(gather_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
after_gathered!(gather_shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
after_gathered!(gather_fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void), {
    // No memory map: the caller reads instead.
    *out = ptr::null_mut();
    ffi::SQLITE_OK
});
after_gathered!(gather_unfetch, xUnfetch, (offset: i64, page: *mut c_void), ffi::SQLITE_OK);

unsafe extern "C" fn gather_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `real`.
    unsafe {
        let (real, m) = real(file);
        m.xSectorSize.map_or(4096, |f| f(real))
    }
}

unsafe extern "C" fn gather_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `real`.
    unsafe {
        let (real, m) = real(file);
        m.xDeviceCharacteristics.map_or(0, |f| f(real))
    }
}

unsafe extern "C" fn gather_shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: see `real`.
    unsafe {
        let (real, m) = real(file);
        if let Some(f) = m.xShmBarrier {
            f(real)
        }
    }
}

unsafe extern "C" fn gather_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `real`; the `Gather` was boxed by `gather_open` and is freed once, here.
    unsafe {
        let written = write_gathered(file);
        let f = file as *mut GatherFile;
        if !(*f).gather.is_null() {
            drop(Box::from_raw((*f).gather));
            (*f).gather = ptr::null_mut();
        }
        let (real, m) = real(file);
        let closed = m.xClose.map_or(ffi::SQLITE_OK, |close| close(real));
        (*f).base.pMethods = ptr::null();
        if written != ffi::SQLITE_OK { written } else { closed }
    }
}

const fn methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(gather_close),
        xRead: Some(gather_read),
        xWrite: Some(gather_write),
        xTruncate: Some(gather_truncate),
        xSync: Some(gather_sync),
        xFileSize: Some(gather_file_size),
        xLock: Some(gather_lock),
        xUnlock: Some(gather_unlock),
        xCheckReservedLock: Some(gather_check_reserved_lock),
        xFileControl: Some(gather_file_control),
        xSectorSize: Some(gather_sector_size),
        xDeviceCharacteristics: Some(gather_device_characteristics),
        xShmMap: Some(gather_shm_map),
        xShmLock: Some(gather_shm_lock),
        xShmBarrier: Some(gather_shm_barrier),
        xShmUnmap: Some(gather_shm_unmap),
        xFetch: Some(gather_fetch),
        xUnfetch: Some(gather_unfetch),
    }
}

/// The methods of each version SQLite defines, so a file offers exactly the version its real
/// file offers (SQLite calls the shared-memory and memory-map methods only from versions 2 and 3).
static METHODS: [ffi::sqlite3_io_methods; 3] = [methods(1), methods(2), methods(3)];

fn methods_of_version(version: c_int) -> *const ffi::sqlite3_io_methods {
    &METHODS[(version.clamp(1, 3) - 1) as usize]
}

#[cfg(test)]
mod tests {
    use crate::store;
    use rusqlite::{Connection, params};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Calls of the real `write` per WAL file path.
    static WRITES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

    pub(super) fn count_write(path: &str) {
        let mut writes = WRITES.lock().unwrap_or_else(|e| e.into_inner());
        *writes.get_or_insert_with(HashMap::new).entry(path.to_string()).or_default() += 1;
    }

    fn writes_to(path: &std::path::Path) -> u64 {
        let writes = WRITES.lock().unwrap_or_else(|e| e.into_inner());
        let wal = format!("{}-wal", path.display());
        writes.as_ref().and_then(|w| w.get(&wal).copied()).unwrap_or(0)
    }

    fn open_wal(path: &std::path::Path) -> Connection {
        let conn = store::connect(path, Duration::from_secs(5)).expect("connect");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB);",
        )
        .expect("wal");
        conn
    }

    /// A commit of about 500 pages reaches the WAL in a few dozen writes instead of two per
    /// page, and a connection of SQLite's own VFS, with its own file handle, reads all of it
    /// as soon as the commit returns.
    #[test]
    fn a_commit_reaches_the_wal_in_few_writes_and_other_connections_read_all_of_it() {
        assert!(super::available());
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("gather.realm");
        let conn = open_wal(&path);
        let other = Connection::open(&path).expect("other connection");
        assert_eq!(other.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 0);
        let before = writes_to(&path);
        let tx = conn.unchecked_transaction().expect("begin");
        for k in 0..2_000i64 {
            tx.execute("INSERT INTO t(k, v) VALUES(?1, ?2)", params![k, vec![(k % 251) as u8; 900]]).expect("insert");
        }
        tx.commit().expect("commit");
        let frames = std::fs::metadata(format!("{}-wal", path.display())).expect("wal").len() / (4096 + 24);
        let writes = writes_to(&path) - before;
        assert!(frames > 400, "{frames} frames");
        assert!(writes * 10 < frames, "{writes} writes for {frames} frames");
        let (n, sum): (i64, i64) =
            other.query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("read");
        assert_eq!((n, sum), (2_000, 2_000 * 900));
        let last: Vec<u8> = other.query_row("SELECT v FROM t WHERE k = 1999", [], |r| r.get(0)).expect("last row");
        assert_eq!(last, vec![(1999 % 251) as u8; 900]);
    }

    /// A transaction larger than its page cache spills pages into the WAL and reads them back
    /// before it commits: what it gathered is in the file when it reads. The file then checks
    /// out whole, and reopens with every row.
    #[test]
    fn a_transaction_that_spills_reads_back_what_it_wrote() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spill.realm");
        let conn = open_wal(&path);
        conn.execute_batch("PRAGMA cache_size = 10;").expect("small cache");
        let tx = conn.unchecked_transaction().expect("begin");
        for k in 0..3_000i64 {
            tx.execute("INSERT INTO t(k, v) VALUES(?1, ?2)", params![k, k.to_le_bytes().repeat(40)]).expect("insert");
        }
        let sum: i64 = tx.query_row("SELECT sum(k) FROM t WHERE length(v) = 320", [], |r| r.get(0)).expect("read back");
        assert_eq!(sum, (0..3_000i64).sum::<i64>());
        tx.commit().expect("commit");
        assert_eq!(conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).expect("check"), "ok");
        drop(conn);
        let reopened = Connection::open(&path).expect("reopen");
        assert_eq!(reopened.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 3_000);
    }

    /// A checkpoint copies the gathered frames into the database file: after it (and with the
    /// WAL then removed by closing) a fresh connection finds every row in the database file.
    #[test]
    fn a_checkpoint_copies_every_gathered_frame_into_the_database() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("checkpoint.realm");
        let conn = open_wal(&path);
        for round in 0..5i64 {
            let tx = conn.unchecked_transaction().expect("begin");
            for k in 0..400i64 {
                tx.execute("INSERT INTO t(k, v) VALUES(?1, ?2)", params![round * 1_000 + k, vec![round as u8; 500]]).expect("insert");
            }
            tx.commit().expect("commit");
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
        drop(conn);
        assert!(!std::path::Path::new(&format!("{}-wal", path.display())).exists(), "closing the last connection removes the WAL");
        let reopened = Connection::open(&path).expect("reopen");
        let (n, sum): (i64, i64) =
            reopened.query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("read");
        assert_eq!((n, sum), (2_000, 2_000 * 500));
    }
}
