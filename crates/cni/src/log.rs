//! Plugin logging as Calico's netconf configures it: `log_level` (error, warning, info,
//! debug; default info) and `log_file_path` (appended to; stderr when unset, since stdout
//! carries the result).

use std::fs::OpenOptions;
use std::io::Write;

use crate::netconf::NetConf;

/// Severity, least verbose first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// A per-invocation logger.
#[derive(Clone, Debug)]
pub struct Log {
    level: Level,
    file: Option<String>,
    context: String,
}

impl Log {
    /// A logger configured by the netconf; `context` prefixes every line (plugin, container).
    pub fn new(conf: &NetConf, context: String) -> Self {
        let level = match conf.log_level.as_deref().map(str::to_lowercase).as_deref() {
            Some("error") | Some("fatal") | Some("panic") => Level::Error,
            Some("warning") | Some("warn") => Level::Warning,
            Some("debug") | Some("trace") => Level::Debug,
            _ => Level::Info,
        };
        Log {
            level,
            file: conf.log_file_path.clone().filter(|p| !p.is_empty()),
            context,
        }
    }

    /// Writes one line if `level` is enabled. Logging failures are ignored: they must never
    /// fail a network operation.
    pub fn log(&self, level: Level, msg: &str) {
        if level > self.level {
            return;
        }
        let line = format!(
            "{} [{:?}][{}] {} {msg}\n",
            crate::names::timestamp_now(),
            level,
            std::process::id(),
            self.context
        );
        match &self.file {
            Some(path) => {
                if let Some(dir) = std::path::Path::new(path).parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.log(Level::Warning, msg);
    }
}
