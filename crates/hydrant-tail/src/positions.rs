//! File positions: which offset of each file is safely delivered, kept in Fluent Bit's own
//! SQLite database so an existing `DB` file keeps working, and so at-least-once holds
//! across restarts and `kill -9`.
//!
//! # Committing only what was delivered
//!
//! Fluent Bit stores the offset it has *read* to, so records buffered in memory when it
//! dies are lost. Hydrant stores the offset every chunk up to which was *delivered*: each
//! emitted chunk covers a span of its file (`[previous end, end)`), the spans of a file are
//! kept in order, and when a chunk's [`Ack`](hydrant_flb::Ack) reports
//! [`AckOutcome::Delivered`] its span is marked; the committed offset then moves over the
//! contiguous prefix of delivered spans. An [`AckOutcome::Abandoned`] span is never passed:
//! everything from it on is read again after a restart (duplicates are possible, loss is
//! not).
//!
//! # Writing promptly, cheaply
//!
//! Acks arrive on the outputs' tasks; they only update memory and wake a writer thread,
//! which writes every changed offset in one transaction, at most every
//! [`MIN_WRITE_INTERVAL`]. With WAL journaling and `synchronous=NORMAL` (Fluent Bit's
//! defaults for `DB.journal_mode` and `DB.sync`) a commit is an append to the WAL, so even a
//! busy router writes a few small transactions per second, and a `kill -9` loses at most
//! the last interval's advances (re-sent, not lost).
//!
//! # The schema
//!
//! Fluent Bit's `in_tail_files` table (`plugins/in_tail/tail_sql.h`): `id`, `name`,
//! `offset`, `inode`, `created`, `rotated`. A file is found by inode (newest row first), as
//! Fluent Bit does; a row whose offset lies past the file's end means the file was
//! truncated or the inode reused, and reading starts over. Rows of deleted files are
//! deleted; rotated files have their row renamed and marked `rotated`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hydrant_flb::AckOutcome;
use rusqlite::{params, Connection, OptionalExtension};

/// Minimum time between two database writes: advances in between are coalesced.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(50);

/// How long the writer keeps running after the input stopped, waiting for the last acks.
const WRITER_LINGER: Duration = Duration::from_secs(60);

/// A file followed by this input (an id local to this run, not the database row id).
pub type FileId = u64;

/// How the database is opened (`DB`, `DB.sync`, `DB.locking`, `DB.journal_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// The database file.
    pub path: PathBuf,
    /// `PRAGMA synchronous` value: 0 off, 1 normal (default), 2 full, 3 extra.
    pub sync: i32,
    /// `PRAGMA locking_mode=EXCLUSIVE` (`DB.locking`).
    pub locking: bool,
    /// `PRAGMA journal_mode` (`DB.journal_mode`, WAL by default).
    pub journal_mode: String,
}

/// What the database remembers of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Row id.
    pub id: i64,
    /// The committed offset.
    pub offset: u64,
    /// The file name recorded.
    pub name: String,
}

/// A chunk's span of a file, to acknowledge with [`Positions::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRef {
    file: FileId,
    generation: u32,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Pending(u64),
    Delivered(u64),
    Abandoned,
}

#[derive(Debug)]
struct Track {
    db_id: Option<i64>,
    inode: u64,
    name: String,
    committed: u64,
    persisted: Option<u64>,
    /// Bumped on truncation, so acks of spans of the old content are ignored.
    generation: u32,
    base_seq: u64,
    spans: VecDeque<Span>,
    closing: bool,
}

#[derive(Debug, Default)]
struct State {
    tracks: HashMap<FileId, Track>,
    next_id: FileId,
    dirty: bool,
    stopping: bool,
}

/// The positions of every file of one input (see the module docs).
#[derive(Debug)]
pub struct Positions {
    state: Mutex<State>,
    wake: Condvar,
    db: Option<Mutex<Db>>,
}

impl Positions {
    /// Positions kept in a database when `db` is given, else only in memory.
    pub fn open(db: Option<&DbOptions>) -> anyhow::Result<Arc<Self>> {
        let db = db.map(Db::open).transpose()?.map(Mutex::new);
        Ok(Arc::new(Positions { state: Mutex::new(State::default()), wake: Condvar::new(), db }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn db(&self) -> Option<MutexGuard<'_, Db>> {
        self.db.as_ref().map(|d| d.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What the database remembers of the file with this inode (the newest row).
    pub fn lookup(&self, inode: u64) -> Option<Stored> {
        let db = self.db()?;
        match db.lookup(inode) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, inode, "tail: cannot read the positions database");
                None
            }
        }
    }

    /// Start tracking a file read from `start`; `stored` is its database row if
    /// [`Positions::lookup`] found one (its offset is replaced by `start` if they differ).
    pub fn register(&self, name: &str, inode: u64, start: u64, stored: Option<&Stored>) -> FileId {
        let (db_id, persisted) = match (stored, self.db()) {
            (Some(s), _) => (Some(s.id), Some(s.offset)),
            (None, Some(db)) => match db.insert(name, start, inode) {
                Ok(id) => (Some(id), Some(start)),
                Err(e) => {
                    tracing::warn!(error = %e, file = name, "tail: cannot record the file in the positions database");
                    (None, None)
                }
            },
            (None, None) => (None, Some(start)),
        };
        let mut st = self.state();
        let id = st.next_id;
        st.next_id += 1;
        st.tracks.insert(
            id,
            Track {
                db_id,
                inode,
                name: name.to_owned(),
                committed: start,
                persisted,
                generation: 0,
                base_seq: 0,
                spans: VecDeque::new(),
                closing: false,
            },
        );
        if persisted != Some(start) {
            st.dirty = true;
            self.wake.notify_one();
        }
        id
    }

    /// A new span of `file` ending at `end` (it starts where the previous one ended).
    pub fn span(&self, file: FileId, end: u64) -> Option<SpanRef> {
        let mut st = self.state();
        let t = st.tracks.get_mut(&file)?;
        t.spans.push_back(Span::Pending(end));
        Some(SpanRef { file, generation: t.generation, seq: t.base_seq + t.spans.len() as u64 - 1 })
    }

    /// A span's chunk is done: move the committed offset if a delivered prefix grew.
    pub fn ack(&self, span: SpanRef, outcome: AckOutcome) {
        let mut st = self.state();
        let Some(t) = st.tracks.get_mut(&span.file) else { return };
        if t.generation != span.generation || span.seq < t.base_seq {
            return;
        }
        let Some(slot) = t.spans.get_mut((span.seq - t.base_seq) as usize) else { return };
        let Span::Pending(end) = *slot else { return };
        *slot = match outcome {
            AckOutcome::Delivered => Span::Delivered(end),
            AckOutcome::Abandoned => Span::Abandoned,
        };
        let before = t.committed;
        while let Some(&Span::Delivered(end)) = t.spans.front() {
            t.committed = end;
            t.spans.pop_front();
            t.base_seq += 1;
        }
        if t.committed != before || (t.closing && t.spans.is_empty()) {
            st.dirty = true;
            self.wake.notify_one();
        }
    }

    /// The file was truncated: forget its spans and commit offset 0.
    pub fn truncated(&self, file: FileId) {
        let mut st = self.state();
        if let Some(t) = st.tracks.get_mut(&file) {
            t.generation = t.generation.wrapping_add(1);
            t.base_seq = 0;
            t.spans.clear();
            t.committed = 0;
            st.dirty = true;
            self.wake.notify_one();
        }
    }

    /// The file was renamed to `new_name` (rotation): record it as Fluent Bit does.
    pub fn rotated(&self, file: FileId, new_name: &str) {
        let db_id = {
            let mut st = self.state();
            let Some(t) = st.tracks.get_mut(&file) else { return };
            t.name = new_name.to_owned();
            t.db_id
        };
        if let (Some(id), Some(db)) = (db_id, self.db()) {
            if let Err(e) = db.rotate(id, new_name) {
                tracing::warn!(error = %e, file = new_name, "tail: cannot mark a rotated file in the positions database");
            }
        }
    }

    /// The input stopped following the file. A deleted file's row is deleted now; otherwise
    /// the track stays until its last span is acknowledged and persisted.
    pub fn close(&self, file: FileId, deleted: bool) {
        let db_id = {
            let mut st = self.state();
            if deleted {
                st.tracks.remove(&file).and_then(|t| t.db_id)
            } else {
                if let Some(t) = st.tracks.get_mut(&file) {
                    t.closing = true;
                }
                st.dirty = true;
                self.wake.notify_one();
                None
            }
        };
        if let (Some(id), Some(db)) = (db_id, self.db()) {
            if let Err(e) = db.delete(id) {
                tracing::warn!(error = %e, "tail: cannot delete a file's row from the positions database");
            }
        }
    }

    /// The committed offset of a file still tracked.
    pub fn committed(&self, file: FileId) -> Option<u64> {
        self.state().tracks.get(&file).map(|t| t.committed)
    }

    /// Spans emitted and not yet acknowledged either way.
    pub fn outstanding(&self) -> usize {
        self.state().tracks.values().map(|t| t.spans.iter().filter(|s| matches!(s, Span::Pending(_))).count()).sum()
    }

    /// Write every changed offset now (one transaction), and forget closed files that have
    /// nothing left in flight.
    pub fn flush(&self) {
        let changes: Vec<(FileId, Option<i64>, u64, u64, String)> = {
            let mut st = self.state();
            st.dirty = false;
            st.tracks.retain(|_, t| !(t.closing && t.spans.is_empty() && t.persisted == Some(t.committed)));
            st.tracks
                .iter()
                .filter(|(_, t)| t.persisted != Some(t.committed))
                .map(|(id, t)| (*id, t.db_id, t.committed, t.inode, t.name.clone()))
                .collect()
        };
        if changes.is_empty() {
            return;
        }
        let written: Vec<(FileId, u64, Option<i64>)> = match self.db() {
            None => changes.iter().map(|c| (c.0, c.2, None)).collect(),
            Some(mut db) => match db.write(&changes) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "tail: cannot write positions; retrying");
                    self.state().dirty = true;
                    return;
                }
            },
        };
        let mut st = self.state();
        for (id, offset, new_db_id) in written {
            if let Some(t) = st.tracks.get_mut(&id) {
                t.persisted = Some(offset);
                if new_db_id.is_some() {
                    t.db_id = new_db_id;
                }
            }
        }
        st.tracks.retain(|_, t| !(t.closing && t.spans.is_empty() && t.persisted == Some(t.committed)));
    }

    /// Start the thread that persists advances as acks arrive. It outlives the input's
    /// `run` after [`Positions::stop`] until the last outstanding ack resolved (or
    /// `WRITER_LINGER`), so acks the outputs deliver during the router's grace period are
    /// still recorded.
    pub fn spawn_writer(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = Arc::clone(self);
        std::thread::Builder::new().name("tail-positions".into()).spawn(move || me.writer_loop())
    }

    fn writer_loop(&self) {
        let mut stopped_at = None;
        loop {
            let stopping = {
                let mut st = self.state();
                while !st.dirty && !st.stopping {
                    st = self.wake.wait_timeout(st, Duration::from_secs(1)).unwrap_or_else(|e| e.into_inner()).0;
                }
                st.stopping
            };
            self.flush();
            if stopping {
                let since = *stopped_at.get_or_insert_with(Instant::now);
                if self.outstanding() == 0 || since.elapsed() >= WRITER_LINGER {
                    self.flush();
                    return;
                }
            }
            std::thread::sleep(MIN_WRITE_INTERVAL);
        }
    }

    /// The input stopped: let the writer finish once nothing is outstanding.
    pub fn stop(&self) {
        self.state().stopping = true;
        self.wake.notify_one();
    }
}

/// The SQLite database, with Fluent Bit's schema.
#[derive(Debug)]
struct Db {
    conn: Connection,
}

impl Db {
    fn open(opts: &DbOptions) -> anyhow::Result<Db> {
        let conn = Connection::open(&opts.path)
            .with_context(|| format!("tail: cannot open the positions database {}", opts.path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS in_tail_files (\
               id      INTEGER PRIMARY KEY,\
               name    TEXT NOT NULL,\
               offset  INTEGER,\
               inode   INTEGER,\
               created INTEGER,\
               rotated INTEGER DEFAULT 0\
             );",
        )
        .with_context(|| format!("tail: cannot create in_tail_files in {}", opts.path.display()))?;
        conn.execute_batch(&format!("PRAGMA synchronous={};", opts.sync))?;
        if opts.locking {
            conn.query_row("PRAGMA locking_mode=EXCLUSIVE;", [], |_| Ok(()))?;
        }
        // journal_mode answers with the mode set, so it is a query, not a statement.
        let mode = opts.journal_mode.trim();
        if !mode.chars().all(|c| c.is_ascii_alphabetic()) {
            anyhow::bail!("tail: invalid DB.journal_mode `{mode}`");
        }
        conn.query_row(&format!("PRAGMA journal_mode={mode};"), [], |_| Ok(()))?;
        Ok(Db { conn })
    }

    fn lookup(&self, inode: u64) -> rusqlite::Result<Option<Stored>> {
        self.conn
            .prepare_cached("SELECT id, name, offset FROM in_tail_files WHERE inode=?1 ORDER BY id DESC LIMIT 1")?
            .query_row(params![inode as i64], |r| {
                Ok(Stored {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    offset: r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                })
            })
            .optional()
    }

    fn insert(&self, name: &str, offset: u64, inode: u64) -> rusqlite::Result<i64> {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        self.conn
            .prepare_cached("INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![name, offset as i64, inode as i64, created])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Write offsets in one transaction; a row someone deleted is inserted again (as
    /// Fluent Bit does). Returns what was written and any new row ids.
    fn write(
        &mut self,
        changes: &[(FileId, Option<i64>, u64, u64, String)],
    ) -> rusqlite::Result<Vec<(FileId, u64, Option<i64>)>> {
        let tx = self.conn.transaction()?;
        let mut written = Vec::with_capacity(changes.len());
        {
            let mut update = tx.prepare_cached("UPDATE in_tail_files SET offset=?1 WHERE id=?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, ?2, ?3, strftime('%s','now'))",
            )?;
            for (file, db_id, offset, inode, name) in changes {
                let updated = match db_id {
                    Some(id) => update.execute(params![*offset as i64, id])?,
                    None => 0,
                };
                let new_id = if updated == 0 {
                    insert.execute(params![name, *offset as i64, *inode as i64])?;
                    Some(tx.last_insert_rowid())
                } else {
                    None
                };
                written.push((*file, *offset, new_id));
            }
        }
        tx.commit()?;
        Ok(written)
    }

    fn rotate(&self, id: i64, name: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("UPDATE in_tail_files SET name=?1, rotated=1 WHERE id=?2")?
            .execute(params![name, id])?;
        Ok(())
    }

    fn delete(&self, id: i64) -> rusqlite::Result<()> {
        self.conn.prepare_cached("DELETE FROM in_tail_files WHERE id=?1")?.execute(params![id])?;
        Ok(())
    }
}

/// Read every row of a positions database (`name`, `offset`, `inode`, `rotated`), for
/// tests and tooling.
pub fn dump(path: &Path) -> anyhow::Result<Vec<(String, u64, u64, bool)>> {
    let conn = Connection::open(path)?;
    let mut stmt = conn.prepare("SELECT name, offset, inode, rotated FROM in_tail_files ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?.unwrap_or(0) as u64,
                r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_delivered_prefix() {
        let p = Positions::open(None).unwrap();
        let f = p.register("/x", 1, 10, None);
        let a = p.span(f, 20).unwrap();
        let b = p.span(f, 30).unwrap();
        let c = p.span(f, 40).unwrap();
        p.ack(b, AckOutcome::Delivered);
        assert_eq!(p.committed(f), Some(10));
        p.ack(a, AckOutcome::Delivered);
        assert_eq!(p.committed(f), Some(30));
        assert_eq!(p.outstanding(), 1);
        p.ack(c, AckOutcome::Abandoned);
        let d = p.span(f, 50).unwrap();
        p.ack(d, AckOutcome::Delivered);
        assert_eq!(p.committed(f), Some(30), "an abandoned span is never passed");
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn truncation_ignores_old_acks() {
        let p = Positions::open(None).unwrap();
        let f = p.register("/x", 1, 0, None);
        let a = p.span(f, 20).unwrap();
        p.truncated(f);
        p.ack(a, AckOutcome::Delivered);
        assert_eq!(p.committed(f), Some(0));
        let b = p.span(f, 5).unwrap();
        p.ack(b, AckOutcome::Delivered);
        assert_eq!(p.committed(f), Some(5));
    }

    #[test]
    fn database_rows_follow_fluent_bit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DbOptions { path: dir.path().join("pos.db"), sync: 1, locking: false, journal_mode: "WAL".into() };
        let p = Positions::open(Some(&opts)).unwrap();
        assert_eq!(p.lookup(42), None);
        let f = p.register("/var/log/a.log", 42, 0, None);
        let s = p.span(f, 100).unwrap();
        p.ack(s, AckOutcome::Delivered);
        p.flush();
        assert_eq!(dump(&opts.path).unwrap(), vec![("/var/log/a.log".to_owned(), 100, 42, false)]);
        p.rotated(f, "/var/log/a.log.1");
        assert_eq!(dump(&opts.path).unwrap(), vec![("/var/log/a.log.1".to_owned(), 100, 42, true)]);
        let stored = p.lookup(42).unwrap();
        assert_eq!((stored.offset, stored.name.as_str()), (100, "/var/log/a.log.1"));
        p.close(f, true);
        assert!(dump(&opts.path).unwrap().is_empty());
    }
}
