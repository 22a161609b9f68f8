//! The spool: OTLP requests the backend could not take, kept in a local file and sent again
//! once it answers. Records are `[u32 body length][u32 event count][protobuf body]`
//! (little-endian), appended at the end and replayed from a read offset; the file is
//! truncated when everything in it has been delivered. Its size is bounded: a record that
//! does not fit is dropped and counted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const HEADER: u64 = 8;

/// One spooled request.
pub struct Record {
    /// The encoded `ExportTraceServiceRequest`.
    pub body: Vec<u8>,
    /// Events folded into its spans.
    pub events: u64,
    end: u64,
}

/// A spool file. Not thread-safe by itself: the sender pool keeps it behind a mutex.
pub struct Spool {
    path: PathBuf,
    file: File,
    read_at: u64,
    len: u64,
    max_bytes: u64,
}

impl Spool {
    /// Opens (or creates) the spool at `path`. Returns the spool and the events already in
    /// it, left over from an earlier process with the same path.
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<(Self, u64)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let len = file.metadata()?.len();
        let mut spool = Self {
            path: path.to_owned(),
            file,
            read_at: 0,
            len,
            max_bytes,
        };
        let carried = spool.count_events()?;
        Ok((spool, carried))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether records are waiting.
    pub fn has_records(&self) -> bool {
        self.read_at < self.len
    }

    /// Appends a record; `Ok(false)` when it would grow the file past its bound.
    pub fn push(&mut self, body: &[u8], events: u64) -> std::io::Result<bool> {
        let size = HEADER + body.len() as u64;
        if self.len + size > self.max_bytes {
            return Ok(false);
        }
        let mut buf = Vec::with_capacity(size as usize);
        buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
        buf.extend_from_slice(&(events.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        buf.extend_from_slice(body);
        self.file.seek(SeekFrom::Start(self.len))?;
        self.file.write_all(&buf)?;
        self.len += size;
        Ok(true)
    }

    /// The oldest record not yet delivered (it stays in the spool until [`Spool::consume`]).
    pub fn peek(&mut self) -> std::io::Result<Option<Record>> {
        if !self.has_records() {
            return Ok(None);
        }
        self.read_record(self.read_at).map(Some)
    }

    /// Marks `record` (the one [`Spool::peek`] returned) delivered; truncates the file once
    /// nothing is left in it.
    pub fn consume(&mut self, record: &Record) -> std::io::Result<()> {
        self.read_at = record.end;
        if self.read_at >= self.len {
            self.file.set_len(0)?;
            self.read_at = 0;
            self.len = 0;
        }
        Ok(())
    }

    fn read_record(&mut self, at: u64) -> std::io::Result<Record> {
        let mut header = [0u8; HEADER as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut header)?;
        let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let events = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let end = at + HEADER + u64::from(body_len);
        if end > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "spool {}: truncated record at byte {at}",
                    self.path.display()
                ),
            ));
        }
        let mut body = vec![0u8; body_len as usize];
        self.file.read_exact(&mut body)?;
        Ok(Record {
            body,
            events: u64::from(events),
            end,
        })
    }

    /// Events in the records left in the file; a torn last record (a crash mid-write) is cut off.
    fn count_events(&mut self) -> std::io::Result<u64> {
        let mut at = 0;
        let mut events = 0;
        while at < self.len {
            match self.read_record(at) {
                Ok(r) => {
                    events += r.events;
                    at = r.end;
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => break,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        if at < self.len {
            self.file.set_len(at)?;
            self.len = at;
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nemo-flow-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn records_replay_in_order_and_the_file_empties() {
        let p = temp("order");
        let (mut s, carried) = Spool::open(&p, 1 << 20).unwrap();
        assert_eq!(carried, 0);
        assert!(s.push(b"one", 2).unwrap());
        assert!(s.push(b"two", 3).unwrap());
        let r = s.peek().unwrap().unwrap();
        assert_eq!((r.body.as_slice(), r.events), (&b"one"[..], 2));
        // Not consumed: peeking again gives the same record.
        assert_eq!(s.peek().unwrap().unwrap().body, b"one");
        s.consume(&r).unwrap();
        let r = s.peek().unwrap().unwrap();
        assert_eq!((r.body.as_slice(), r.events), (&b"two"[..], 3));
        s.consume(&r).unwrap();
        assert!(s.peek().unwrap().is_none());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    }

    #[test]
    fn the_bound_refuses_what_does_not_fit() {
        let p = temp("bound");
        let (mut s, _) = Spool::open(&p, 20).unwrap();
        assert!(s.push(b"12345678", 1).unwrap()); // 16 bytes
        assert!(!s.push(b"x", 1).unwrap()); // would be 25
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 16);
    }

    #[test]
    fn a_later_process_finds_the_records_and_a_torn_tail_is_cut() {
        let p = temp("carry");
        {
            let (mut s, _) = Spool::open(&p, 1 << 20).unwrap();
            s.push(b"abc", 4).unwrap();
            s.push(b"defg", 5).unwrap();
        }
        // A crash mid-append leaves half a record.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[9, 0, 0, 0, 1]).unwrap();
        drop(f);
        let (mut s, carried) = Spool::open(&p, 1 << 20).unwrap();
        assert_eq!(carried, 9);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 8 + 3 + 8 + 4);
        assert_eq!(s.peek().unwrap().unwrap().body, b"abc");
    }
}
