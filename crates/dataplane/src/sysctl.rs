//! Per-interface sysctls written under /proc/sys (of the calling thread's network namespace).
//!
//! Only named interfaces are touched; names are checked so they cannot escape the directory.

use std::fs;

use crate::error::Error;
use crate::model::IpVersion;

/// The sysctls Calico's CNI plugin sets on a workload's host-side veth.
pub fn configure_workload_interface(iface: &str, version: IpVersion) -> Result<(), Error> {
    check_name(iface)?;
    let settings: &[(String, &str)] = match version {
        IpVersion::V4 => &[
            (format!("net/ipv4/conf/{iface}/forwarding"), "1"),
            (format!("net/ipv4/conf/{iface}/proxy_arp"), "1"),
            (format!("net/ipv4/neigh/{iface}/proxy_delay"), "0"),
            (format!("net/ipv4/conf/{iface}/route_localnet"), "1"),
        ],
        IpVersion::V6 => &[
            (format!("net/ipv6/conf/{iface}/disable_ipv6"), "0"),
            (format!("net/ipv6/conf/{iface}/accept_dad"), "0"),
            (format!("net/ipv6/conf/{iface}/accept_ra"), "0"),
            (format!("net/ipv6/conf/{iface}/forwarding"), "1"),
        ],
    };
    for (key, value) in settings {
        write(key, value)?;
    }
    Ok(())
}

/// Read one per-interface sysctl, e.g. `read("net/ipv4/conf/cali1/proxy_arp")`.
pub fn read(key: &str) -> Result<String, Error> {
    let path = format!("/proc/sys/{key}");
    fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| Error::Sysctl { path, source })
}

fn write(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|source| Error::Sysctl { path, source })
}

fn check_name(iface: &str) -> Result<(), Error> {
    let ok = !iface.is_empty()
        && iface.len() < 16
        && iface != "."
        && iface != ".."
        && !iface.contains(['/', '\0'])
        && !iface.chars().any(char::is_whitespace)
        && !matches!(iface, "all" | "default");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInterfaceName(iface.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_escape_or_widen_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "all",
            "default",
            "x y",
            "abcdefghijklmnop",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("cali1a2b3c4d5e6").is_ok());
    }
}
