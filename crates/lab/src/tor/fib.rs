//! The ToR's kernel routes: the pure choice and diff of what the fabric namespace's main
//! table should hold (one route per learned prefix, through the node that announced it), and
//! a thin shell on [`GatewayRoutes`] that only ever lists, replaces and deletes routes of protocol
//! [`TOR_ROUTE_PROTOCOL`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use dataplane::gateway_routes::{GatewayRoute, GatewayRoutes};
use ipnet::IpNet;

/// Protocol number of the ToR's routes (`ip route ... proto 201`): not BIRD's 12 (where
/// calico-node puts its learned routes), FRR's 186-197 or the dataplane's 80, and unnamed in
/// iproute2's `rt_protos`.
pub const TOR_ROUTE_PROTOCOL: u8 = 201;

/// The kernel routes wanted for the learned best routes (prefix → next hop): those whose next
/// hop is of the prefix's family.
pub fn desired(learned: &BTreeMap<IpNet, IpAddr>) -> BTreeMap<IpNet, IpAddr> {
    learned
        .iter()
        .filter(|(dst, via)| dst.addr().is_ipv4() == via.is_ipv4())
        .map(|(dst, via)| (*dst, *via))
        .collect()
}

/// Routes to replace (new or moved) and prefixes to delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibDiff {
    pub replace: Vec<(IpNet, IpAddr)>,
    pub delete: Vec<IpNet>,
}

/// Pure diff of the routes we have against the routes we want.
pub fn diff(actual: &BTreeMap<IpNet, IpAddr>, desired: &BTreeMap<IpNet, IpAddr>) -> FibDiff {
    FibDiff {
        replace: desired
            .iter()
            .filter(|(dst, via)| actual.get(dst) != Some(via))
            .map(|(dst, via)| (*dst, *via))
            .collect(),
        delete: actual
            .keys()
            .filter(|dst| !desired.contains_key(dst))
            .copied()
            .collect(),
    }
}

/// The netlink shell, in the namespace of the thread that made it.
pub struct Fib {
    routes: GatewayRoutes,
}

impl Fib {
    /// Opens a netlink socket; call inside a tokio runtime.
    pub fn new() -> anyhow::Result<Fib> {
        Ok(Fib {
            routes: GatewayRoutes::new(TOR_ROUTE_PROTOCOL)?,
        })
    }

    /// Makes our routes exactly `desired`; returns what changed.
    pub async fn sync(&self, desired: &BTreeMap<IpNet, IpAddr>) -> anyhow::Result<FibDiff> {
        let actual: BTreeMap<IpNet, _> = self
            .routes
            .list()
            .await?
            .into_iter()
            .map(|(route, msg)| (route.dst, (route, msg)))
            .collect();
        let have = actual.iter().map(|(dst, (r, _))| (*dst, r.via)).collect();
        let diff = diff(&have, desired);
        for (dst, via) in &diff.replace {
            let (dst, via) = (*dst, *via);
            self.routes.replace(GatewayRoute { dst, via }).await?;
        }
        for dst in &diff.delete {
            let (route, msg) = &actual[dst];
            self.routes.delete(*route, msg.clone()).await?;
        }
        Ok(diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(pairs: &[(&str, &str)]) -> BTreeMap<IpNet, IpAddr> {
        pairs
            .iter()
            .map(|(d, v)| (d.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn desired_drops_cross_family_next_hops() {
        let learned = routes(&[
            ("10.244.0.0/26", "172.31.0.11"),
            ("fd00:10:244::/122", "fd00:172:31::11"),
            ("10.244.0.64/26", "fd00:172:31::12"),
        ]);
        assert_eq!(desired(&learned).len(), 2);
    }

    #[test]
    fn diff_replaces_new_and_moved_and_deletes_gone() {
        let actual = routes(&[
            ("10.244.0.0/26", "172.31.0.11"),
            ("10.244.0.64/26", "172.31.0.12"),
            ("10.244.200.5/32", "172.31.0.11"),
        ]);
        let want = routes(&[
            ("10.244.0.0/26", "172.31.0.11"),
            ("10.244.0.64/26", "172.31.0.12"),
            ("10.244.200.5/32", "172.31.0.13"),
            ("10.244.0.128/26", "172.31.0.13"),
        ]);
        let d = diff(&actual, &want);
        assert_eq!(
            d.replace,
            vec![
                (
                    "10.244.0.128/26".parse().unwrap(),
                    "172.31.0.13".parse().unwrap()
                ),
                (
                    "10.244.200.5/32".parse().unwrap(),
                    "172.31.0.13".parse().unwrap()
                ),
            ]
        );
        assert!(d.delete.is_empty());
        let d = diff(&want, &BTreeMap::new());
        assert_eq!(d.delete.len(), 4);
        assert_eq!(diff(&want, &want), FibDiff::default());
    }
}
