//! A prepared statement that binds its parameters without copying them, for the writes a reset's
//! transform batches by the thousand (object records, backlinks).
//!
//! rusqlite binds every blob as `SQLITE_TRANSIENT`: SQLite copies it before the statement runs, an
//! allocation and a copy per key and per record. A `BatchStatement` binds blobs as
//! `SQLITE_STATIC`, so SQLite reads them where they are. That is sound because `execute` borrows
//! what it binds for the whole call, and resets the statement and clears its bindings before it
//! returns: no pointer into the borrowed bytes outlives the borrow.

use crate::error::{Error, Result};
use rusqlite::{Connection, ffi};
use std::ffi::{CStr, CString, c_int};
use std::marker::PhantomData;
use std::ptr;

/// A statement prepared on a connection it cannot outlive; finalized when dropped.
pub struct BatchStatement<'c> {
    stmt: *mut ffi::sqlite3_stmt,
    db: *mut ffi::sqlite3,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> BatchStatement<'c> {
    pub fn prepare(conn: &'c Connection, sql: &str) -> Result<Self> {
        let sql = CString::new(sql).map_err(|_| Error::Internal("a statement with a NUL byte".into()))?;
        // SAFETY: the handle is valid while `conn` is borrowed, and the statement borrows `conn`
        // for its whole life ('c).
        let db = unsafe { conn.handle() };
        let mut stmt = ptr::null_mut();
        // SAFETY: a valid handle, a NUL-terminated statement, an out pointer SQLite fills.
        let rc = unsafe { ffi::sqlite3_prepare_v3(db, sql.as_ptr(), -1, ffi::SQLITE_PREPARE_PERSISTENT, &mut stmt, ptr::null_mut()) };
        if rc != ffi::SQLITE_OK {
            return Err(failure(db, rc));
        }
        if stmt.is_null() {
            return Err(Error::Internal("an empty statement".into()));
        }
        Ok(BatchStatement { stmt, db, _conn: PhantomData })
    }

    /// Binds the parameters with `bind`, which may bind only what lives for the whole call
    /// (`'b`), runs the statement to its end and resets it. Returns the rows it changed.
    pub fn execute<'b>(&mut self, bind: impl FnOnce(&mut Binder<'b>) -> Result<()>) -> Result<usize> {
        let mut binder = Binder { stmt: self.stmt, db: self.db, _bytes: PhantomData };
        let outcome = bind(&mut binder).and_then(|()| self.run());
        // SAFETY: the statement is ours and valid. After this nothing points into the bytes
        // `bind` bound, so the borrow may end. (Their errors were reported by `run` already.)
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        outcome
    }

    fn run(&mut self) -> Result<usize> {
        loop {
            // SAFETY: a prepared statement of a connection still open ('c).
            match unsafe { ffi::sqlite3_step(self.stmt) } {
                ffi::SQLITE_DONE => break,
                ffi::SQLITE_ROW => continue,
                rc => return Err(failure(self.db, rc)),
            }
        }
        // SAFETY: as above.
        Ok(unsafe { ffi::sqlite3_changes(self.db) }.max(0) as usize)
    }
}

impl Drop for BatchStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: prepared by `prepare`, finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

/// Binds one execution's parameters (numbered from 1), borrowing the bytes for `'b`.
pub struct Binder<'b> {
    stmt: *mut ffi::sqlite3_stmt,
    db: *mut ffi::sqlite3,
    _bytes: PhantomData<&'b [u8]>,
}

impl<'b> Binder<'b> {
    pub fn int(&mut self, index: usize, value: i64) -> Result<()> {
        let index = self.index(index)?;
        // SAFETY: a valid statement; SQLite checks the index.
        self.check(unsafe { ffi::sqlite3_bind_int64(self.stmt, index, value) })
    }

    pub fn blob(&mut self, index: usize, value: &'b [u8]) -> Result<()> {
        let index = self.index(index)?;
        let len = c_int::try_from(value.len()).map_err(|_| Error::Internal("a blob over 2 GiB".into()))?;
        let rc = match len {
            // An empty slice's pointer may not be one SQLite may read from: an empty blob instead.
            // SAFETY: a valid statement.
            0 => unsafe { ffi::sqlite3_bind_zeroblob(self.stmt, index, 0) },
            // SAFETY: `value` lives for 'b, past the statement's reset (see `execute`).
            _ => unsafe { ffi::sqlite3_bind_blob(self.stmt, index, value.as_ptr().cast(), len, ffi::SQLITE_STATIC()) },
        };
        self.check(rc)
    }

    fn index(&self, index: usize) -> Result<c_int> {
        c_int::try_from(index).map_err(|_| Error::Internal(format!("parameter {index} out of range")))
    }

    fn check(&self, rc: c_int) -> Result<()> {
        match rc {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(failure(self.db, rc)),
        }
    }
}

/// The error of result code `rc`, with the connection's message, as rusqlite reports it.
fn failure(db: *mut ffi::sqlite3, rc: c_int) -> Error {
    // SAFETY: a valid handle; SQLite's message is NUL-terminated and copied at once.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)").unwrap();
        conn
    }

    #[test]
    fn a_batch_statement_writes_what_it_binds_and_can_run_again() {
        let conn = table();
        let mut insert = BatchStatement::prepare(&conn, "INSERT INTO t(k, v) VALUES(?, ?), (?, ?)").unwrap();
        for round in 0..3i64 {
            // Bytes that are freed (and the memory reused) after each execution.
            let (a, b) = (vec![round as u8; 100], Vec::new());
            let changed = insert
                .execute(|p| {
                    p.int(1, 2 * round)?;
                    p.blob(2, &a)?;
                    p.int(3, 2 * round + 1)?;
                    p.blob(4, &b)
                })
                .unwrap();
            assert_eq!(changed, 2);
        }
        let rows: Vec<(i64, Vec<u8>)> = conn
            .prepare("SELECT k, v FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<(i64, Vec<u8>)> = (0..3i64).flat_map(|r| [(2 * r, vec![r as u8; 100]), (2 * r + 1, Vec::new())]).collect();
        assert_eq!(rows, expected, "an empty blob is an empty blob, not NULL");
    }

    #[test]
    fn a_failed_execution_reports_sqlites_error_and_leaves_the_statement_usable() {
        let conn = table();
        let mut insert = BatchStatement::prepare(&conn, "INSERT INTO t(k, v) VALUES(?1, ?2)").unwrap();
        insert.execute(|p| p.int(1, 1).and_then(|()| p.blob(2, b"x"))).unwrap();
        let duplicate = insert.execute(|p| p.int(1, 1).and_then(|()| p.blob(2, b"y"))).unwrap_err();
        assert!(duplicate.to_string().contains("UNIQUE constraint failed: t.k"), "{duplicate}");
        let out_of_range = insert.execute(|p| p.int(3, 1)).unwrap_err();
        assert!(out_of_range.to_string().contains("column index out of range"), "{out_of_range}");
        // Nothing is left bound: a NULL value is refused, not a stale pointer read.
        let unbound = insert.execute(|p| p.int(1, 2)).unwrap_err();
        assert!(unbound.to_string().contains("NOT NULL constraint failed"), "{unbound}");
        insert.execute(|p| p.int(1, 2).and_then(|()| p.blob(2, b"z"))).unwrap();
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 2);
        assert!(BatchStatement::prepare(&conn, "INSERT INTO nowhere VALUES(1)").is_err());
    }
}
