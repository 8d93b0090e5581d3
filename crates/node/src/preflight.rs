//! Checks that the agent can do its job before it starts: the privileges netlink writes need
//! and the `nft` program when the dataplane is enabled. Each failure is one clear sentence.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Linux capability number of CAP_NET_ADMIN.
const CAP_NET_ADMIN: u32 = 12;

/// Whether the `CapEff:` line of `/proc/self/status` includes CAP_NET_ADMIN.
pub fn has_net_admin(proc_status: &str) -> bool {
    proc_status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// The first executable `program` on a `PATH`-style list.
pub fn find_program(program: &str, path_var: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs the checks the enabled features need.
pub fn check(dataplane_enabled: bool) -> Result<()> {
    if !dataplane_enabled {
        return Ok(());
    }
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::io("cannot read", "/proc/self/status", e))?;
    if !has_net_admin(&status) {
        return Err(Error::Prerequisite(
            "CAP_NET_ADMIN is needed to program routes and nftables over netlink (run as root, or set CALICO_DATAPLANE=none)".into(),
        ));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    if find_program("nft", &path).is_none() {
        return Err(Error::Prerequisite(
            "the nft program (Debian package nftables) is not on PATH; it is needed when the dataplane is enabled (or set CALICO_DATAPLANE=none)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_capabilities() {
        let root = "Name:\tx\nCapInh:\t0\nCapEff:\t000001ffffffffff\n";
        assert!(has_net_admin(root));
        let user = "CapEff:\t0000000000000000\n";
        assert!(!has_net_admin(user));
        assert!(has_net_admin("CapEff:\t0000000000001000\n"));
        assert!(!has_net_admin("CapEff:\t0000000000000fff\n"));
        assert!(!has_net_admin("nothing"));
    }

    #[test]
    fn finds_programs_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(find_program("tool", &path), None, "not executable yet");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("tool", &path), Some(exe));
        assert_eq!(find_program("absent", &path), None);
    }
}
