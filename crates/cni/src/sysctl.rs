//! Sysctl writes under /proc/sys. They apply to the network namespace of the calling thread.

use crate::error::{Error, Result};

/// Writes `value` to `/proc/sys/<segments joined by />`.
pub fn set(segments: &[&str], value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", segments.join("/"));
    std::fs::write(&path, value).map_err(|e| Error::io(format!("writing {value} to {path}"), e))
}
