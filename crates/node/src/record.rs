//! Recording and replaying the agent's input: every syncer update the agent loop handles can
//! be appended to a file as one JSON line (`--record-events`), and [`read`] gives the stream
//! back so a bug seen in the field replays in a test.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::syncer::SyncUpdate;
use crate::{Error, Result};

/// Appends updates to a file, one JSON object per line.
pub struct Recorder {
    out: BufWriter<File>,
    path: PathBuf,
}

impl Recorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Recorder> {
        let file = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        Ok(Recorder {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Appends one update; status markers also flush, so a complete snapshot is on disk.
    pub fn record(&mut self, update: &SyncUpdate) -> Result<()> {
        let io = |e| Error::io("cannot write", &self.path, e);
        serde_json::to_writer(&mut self.out, update).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        if matches!(update, SyncUpdate::Status { .. }) {
            self.out.flush().map_err(io)?;
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Reads a recording made by [`Recorder`].
pub fn read(path: &Path) -> Result<Vec<SyncUpdate>> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut updates = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io("cannot read", path, e))?;
        let update = serde_json::from_str(&line).map_err(|e| {
            let what = format!("line {} of", n + 1);
            Error::io(
                what,
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        updates.push(update);
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncer::SyncStatus;

    #[test]
    fn round_trips_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let stream = vec![
            SyncUpdate::Status {
                status: SyncStatus::ResyncInProgress {
                    reason: "start".into(),
                },
            },
            SyncUpdate::Status {
                status: SyncStatus::InSync { revision: 4 },
            },
        ];
        {
            let mut r = Recorder::create(&path).unwrap();
            for u in &stream {
                r.record(u).unwrap();
            }
        }
        assert_eq!(read(&path).unwrap(), stream);
        std::fs::write(&path, "{\"op\":\"nope\"}\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
