//! What the user asked `up` for: node and workload counts, datastore, peering, top-of-rack
//! router, address families and pools, validated before anything is created.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most nodes a lab holds (node addresses are 172.31.0.11 .. 172.31.0.210).
pub const MAX_NODES: u32 = 200;
/// The most workloads `up` creates per node.
pub const MAX_WORKLOADS_PER_NODE: u32 = 50;
/// The default IPv4 pool.
pub const DEFAULT_POOL: &str = "10.244.0.0/16";
/// The default IPv6 pool (with `--ipv6`).
pub const DEFAULT_POOL6: &str = "fd00:10:244::/64";
/// Longest lab name: namespace names stay short and readable.
pub const MAX_NAME_LEN: usize = 12;

/// Where the cluster's resources live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DatastoreKind {
    /// The embedded SQLite file, under the lab's state directory.
    Embedded,
    /// A real etcd the lab starts in the fabric namespace.
    Etcd,
}

/// How the nodes exchange routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Peering {
    /// Calico's node-to-node mesh, every node in one AS.
    Mesh,
    /// No mesh; every node (each in its own AS) peers with a top-of-rack router.
    Tor,
}

/// Which router answers at the top-of-rack address when peering is `tor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TorRouter {
    /// Our own BGP speaker (crate `bgp`, run as `calico-lab tor-router`).
    Calico,
    /// BIRD 2 (Debian `bird2`).
    Bird,
    /// FRR's bgpd and zebra (Debian `frr`).
    Frr,
    /// None: the address and AS are left for the user's own router.
    External,
}

/// A validated request for a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSpec {
    pub nodes: u32,
    pub workloads_per_node: u32,
    pub datastore: DatastoreKind,
    pub peering: Peering,
    pub tor: TorRouter,
    pub ipv6: bool,
    pub pool: IpNet,
    pub pool6: IpNet,
}

#[cfg(test)]
impl LabSpec {
    /// A spec for unit tests: the embedded datastore and the default test pools.
    pub(crate) fn for_test(
        nodes: u32,
        workloads_per_node: u32,
        peering: Peering,
        tor: TorRouter,
        ipv6: bool,
    ) -> LabSpec {
        LabSpec {
            nodes,
            workloads_per_node,
            datastore: DatastoreKind::Embedded,
            peering,
            tor,
            ipv6,
            pool: "10.244.0.0/16".parse().unwrap(),
            pool6: "fd00:10:244::/64".parse().unwrap(),
        }
    }
}

impl LabSpec {
    /// Checks the numbers and the pools (families, at least one block).
    pub fn validate(self) -> Result<Self> {
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return Err(Error::Spec(format!(
                "--nodes must be between 1 and {MAX_NODES}, not {}",
                self.nodes
            )));
        }
        if self.workloads_per_node > MAX_WORKLOADS_PER_NODE {
            return Err(Error::Spec(format!(
                "--workloads must be at most {MAX_WORKLOADS_PER_NODE}, not {}",
                self.workloads_per_node
            )));
        }
        if !matches!(self.pool, IpNet::V4(_)) {
            return Err(Error::Spec(format!(
                "--pool must be an IPv4 CIDR, not {}",
                self.pool
            )));
        }
        if !matches!(self.pool6, IpNet::V6(_)) {
            return Err(Error::Spec(format!(
                "--pool6 must be an IPv6 CIDR, not {}",
                self.pool6
            )));
        }
        if self.pool.prefix_len() > 26 {
            return Err(Error::Spec(format!(
                "--pool {} is smaller than one /26 block",
                self.pool
            )));
        }
        if self.pool6.prefix_len() > 122 {
            return Err(Error::Spec(format!(
                "--pool6 {} is smaller than one /122 block",
                self.pool6
            )));
        }
        Ok(LabSpec {
            pool: self.pool.trunc(),
            pool6: self.pool6.trunc(),
            ..self
        })
    }
}

/// Checks a lab name: lower-case letters and digits, starting with a letter, at most
/// [`MAX_NAME_LEN`] characters. No dashes, so `<name>-` is a prefix no other lab shares.
pub fn validate_lab_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !ok_chars || !starts || name.len() > MAX_NAME_LEN {
        return Err(Error::Spec(format!(
            "lab name {name:?} must start with a letter, hold only a-z and 0-9, and be at \
             most {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

/// Checks a workload name given to `workload add`: like a lab name but up to 40 characters.
pub fn validate_workload_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !ok_chars || !starts || name.ends_with('-') || name.len() > 40 || name == "fabric" {
        return Err(Error::Spec(format!(
            "workload name {name:?} must start with a letter, hold only a-z, 0-9 and '-', be \
             at most 40 characters and not be \"fabric\""
        )));
    }
    Ok(())
}

/// Parses `k=v,k2=v2` into label pairs.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(Error::Spec(format!(
                "label {pair:?} is not of the form key=value"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LabSpec {
        LabSpec::for_test(3, 2, Peering::Mesh, TorRouter::Bird, false)
    }

    #[test]
    fn accepts_defaults_and_truncates_pools() {
        let s = LabSpec {
            pool: "10.244.3.4/16".parse().unwrap(),
            ..spec()
        }
        .validate()
        .unwrap();
        assert_eq!(s.pool.to_string(), "10.244.0.0/16");
    }

    #[test]
    fn refuses_bad_counts_and_families() {
        let err = |s: LabSpec| s.validate().unwrap_err().to_string();
        assert!(err(LabSpec { nodes: 0, ..spec() }).contains("--nodes"));
        assert!(err(LabSpec {
            nodes: 201,
            ..spec()
        })
        .contains("--nodes"));
        assert!(err(LabSpec {
            workloads_per_node: 51,
            ..spec()
        })
        .contains("--workloads"));
        assert!(err(LabSpec {
            pool: "fd00::/64".parse().unwrap(),
            ..spec()
        })
        .contains("IPv4"));
        assert!(err(LabSpec {
            pool: "10.0.0.0/28".parse().unwrap(),
            ..spec()
        })
        .contains("/26"));
        assert!(LabSpec {
            peering: Peering::Tor,
            tor: TorRouter::Calico,
            ..spec()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn names() {
        for good in ["clab", "t1", "lab2"] {
            validate_lab_name(good).unwrap();
        }
        for bad in ["", "1lab", "Lab", "lab-2", "a_b", "muchtoolongname"] {
            assert!(validate_lab_name(bad).is_err(), "{bad}");
        }
        validate_workload_name("node1-w9").unwrap();
        assert!(validate_workload_name("fabric").is_err());
        assert!(validate_workload_name("x y").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(
            parse_labels("app=web, tier=fe,").unwrap(),
            vec![
                ("app".to_string(), "web".to_string()),
                ("tier".to_string(), "fe".to_string())
            ]
        );
        assert!(parse_labels("app").is_err());
        assert!(parse_labels("=x").is_err());
        assert!(parse_labels("").unwrap().is_empty());
    }
}
