//! The node's name: `NODENAME`, else the `nodename` file an earlier start wrote under the
//! state directory, else the host name (lower-cased). Written back to that file so the CNI
//! plugin and later starts agree on it.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The file under the state directory that records the node name.
pub fn nodename_file(state_dir: &Path) -> PathBuf {
    state_dir.join("nodename")
}

/// Picks the name from the sources, in order of precedence.
pub fn choose(env: Option<&str>, file: Option<&str>, hostname: Option<&str>) -> Option<String> {
    let clean = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    env.and_then(clean)
        .or_else(|| file.and_then(clean))
        .or_else(|| hostname.and_then(clean).map(|h| h.to_ascii_lowercase()))
}

/// Resolves the node name from `NODENAME` (`env`), the state file and the host name.
pub fn resolve(env: Option<&str>, state_dir: &Path) -> Result<String> {
    let file = std::fs::read_to_string(nodename_file(state_dir)).ok();
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok());
    choose(env, file.as_deref(), hostname.as_deref()).ok_or_else(|| {
        Error::NodeName("NODENAME is unset, there is no nodename file and no host name".into())
    })
}

/// Records `name` in the state directory (creating it), replacing the file atomically.
pub fn write(state_dir: &Path, name: &str) -> Result<()> {
    let path = nodename_file(state_dir);
    std::fs::create_dir_all(state_dir)
        .map_err(|e| Error::io("cannot create state directory", state_dir, e))?;
    let tmp = state_dir.join(".nodename.tmp");
    std::fs::write(&tmp, name).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("cannot write", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        assert_eq!(
            choose(Some("a"), Some("b"), Some("C")).as_deref(),
            Some("a")
        );
        assert_eq!(
            choose(Some(" "), Some("b\n"), Some("C")).as_deref(),
            Some("b")
        );
        assert_eq!(
            choose(None, None, Some("Host-A")).as_deref(),
            Some("host-a")
        );
        assert_eq!(choose(None, Some(""), None), None);
    }

    #[test]
    fn writes_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        write(&state, "node-7").unwrap();
        assert_eq!(resolve(None, &state).unwrap(), "node-7");
        assert_eq!(resolve(Some("other"), &state).unwrap(), "other");
    }
}
