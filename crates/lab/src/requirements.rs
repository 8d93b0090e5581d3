//! What the lab needs from the machine (root, `ip`, `nft`, namespaces in the kernel, the
//! Calico binaries, Debian packages for etcd/BIRD/FRR) and one clear error naming everything
//! that is missing and how to get it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths::BIN_DIR_ENV;
use crate::spec::{DatastoreKind, LabSpec, Peering, TorRouter};

/// One thing the lab needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Running as root (namespaces, veths, daemons).
    Root,
    /// Network namespaces in the kernel.
    NetNamespaces,
    /// A program found on PATH, from a Debian package.
    Program {
        name: &'static str,
        package: &'static str,
    },
    /// A file at a fixed place, from a Debian package.
    File {
        path: &'static str,
        package: &'static str,
    },
    /// One of our own binaries in the bin directory.
    Calico { path: PathBuf },
}

impl Need {
    /// How to satisfy this need, for the error message.
    pub fn describe(&self) -> String {
        match self {
            Need::Root => "root privileges (run with sudo)".to_string(),
            Need::NetNamespaces => {
                "network namespaces in the kernel (CONFIG_NET_NS; /proc/self/ns/net)".to_string()
            }
            Need::Program { name, package } => {
                format!("`{name}` on PATH (Debian package {package})")
            }
            Need::File { path, package } => format!("{path} (Debian package {package})"),
            Need::Calico { path } => format!(
                "{} (build with `cargo build -p cni -p node -p ctl`, or set {BIN_DIR_ENV})",
                path.display()
            ),
        }
    }
}

/// What `up` needs for this spec.
pub fn for_up(spec: &LabSpec, bin_dir: &Path) -> Vec<Need> {
    let mut needs = base();
    needs.push(Need::Program {
        name: "nft",
        package: "nftables",
    });
    for bin in ["calico-node", "calico", "calico-ipam", "calicoctl"] {
        needs.push(Need::Calico {
            path: bin_dir.join(bin),
        });
    }
    if spec.datastore == DatastoreKind::Etcd {
        needs.push(Need::Program {
            name: "etcd",
            package: "etcd-server",
        });
    }
    if spec.peering == Peering::Tor {
        match spec.tor {
            TorRouter::Bird => {
                needs.push(Need::Program {
                    name: "bird",
                    package: "bird2",
                });
                needs.push(Need::Program {
                    name: "birdc",
                    package: "bird2",
                });
            }
            TorRouter::Frr => {
                needs.push(Need::File {
                    path: "/usr/lib/frr/zebra",
                    package: "frr",
                });
                needs.push(Need::File {
                    path: "/usr/lib/frr/bgpd",
                    package: "frr",
                });
                needs.push(Need::Program {
                    name: "vtysh",
                    package: "frr",
                });
            }
            TorRouter::Calico | TorRouter::External => {}
        }
    }
    needs
}

/// What every command that touches namespaces needs.
pub fn base() -> Vec<Need> {
    vec![
        Need::Root,
        Need::NetNamespaces,
        Need::Program {
            name: "ip",
            package: "iproute2",
        },
        Need::Program {
            name: "sysctl",
            package: "procps",
        },
    ]
}

/// What an ICMP matrix needs in addition.
pub fn for_icmp() -> Vec<Need> {
    vec![Need::Program {
        name: "ping",
        package: "iputils-ping",
    }]
}

/// Checks every need against `probe`; the error lists all that are missing.
pub fn check_with(needs: &[Need], satisfied: impl Fn(&Need) -> bool) -> Result<()> {
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !satisfied(n))
        .map(|n| format!("  - {}", n.describe()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Missing(missing.join("\n")))
    }
}

/// Checks the needs against this machine.
pub fn check(needs: &[Need]) -> Result<()> {
    check_with(needs, is_satisfied)
}

/// Each need with whether this machine meets it.
pub fn survey(needs: Vec<Need>) -> Vec<(Need, bool)> {
    needs
        .into_iter()
        .map(|n| {
            let ok = is_satisfied(&n);
            (n, ok)
        })
        .collect()
}

fn is_satisfied(need: &Need) -> bool {
    match need {
        Need::Root => nix::unistd::geteuid().is_root(),
        Need::NetNamespaces => Path::new("/proc/self/ns/net").exists(),
        Need::Program { name, .. } => on_path(name),
        Need::File { path, .. } => Path::new(path).is_file(),
        Need::Calico { path } => path.is_file(),
    }
}

fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .any(|dir| dir.join(name).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(datastore: DatastoreKind, peering: Peering, tor: TorRouter) -> LabSpec {
        LabSpec {
            nodes: 1,
            workloads_per_node: 1,
            datastore,
            peering,
            tor,
            ipv6: false,
            pool: "10.244.0.0/16".parse().unwrap(),
            pool6: "fd00:10:244::/64".parse().unwrap(),
        }
    }

    #[test]
    fn needs_follow_the_spec() {
        let bin = Path::new("/b");
        let plain = for_up(
            &spec(DatastoreKind::Embedded, Peering::Mesh, TorRouter::Frr),
            bin,
        );
        assert!(plain.contains(&Need::Calico {
            path: "/b/calico-ipam".into()
        }));
        assert!(!plain
            .iter()
            .any(|n| matches!(n, Need::Program { name: "etcd", .. })));
        assert!(!plain
            .iter()
            .any(|n| matches!(n, Need::File { package: "frr", .. })));
        let full = for_up(
            &spec(DatastoreKind::Etcd, Peering::Tor, TorRouter::Frr),
            bin,
        );
        assert!(full.iter().any(|n| matches!(
            n,
            Need::Program {
                name: "etcd",
                package: "etcd-server"
            }
        )));
        assert!(full.contains(&Need::File {
            path: "/usr/lib/frr/bgpd",
            package: "frr"
        }));
        let bird = for_up(
            &spec(DatastoreKind::Embedded, Peering::Tor, TorRouter::Bird),
            bin,
        );
        assert!(bird
            .iter()
            .any(|n| matches!(n, Need::Program { name: "birdc", .. })));
    }

    #[test]
    fn error_lists_every_missing_need() {
        let needs = [
            Need::Root,
            Need::Program {
                name: "bird",
                package: "bird2",
            },
            Need::Calico {
                path: "/b/calico".into(),
            },
        ];
        let err = check_with(&needs, |n| *n == Need::Root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bird2"), "{err}");
        assert!(
            err.contains("/b/calico") && err.contains("cargo build"),
            "{err}"
        );
        assert!(!err.contains("root"), "{err}");
        check_with(&needs, |_| true).unwrap();
    }
}
