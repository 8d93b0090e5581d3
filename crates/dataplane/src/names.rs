//! Names of our chains, sets and maps, and the mark bits rules use.
//!
//! Ids from the caller (policy ids such as `np/demo/allow-http`, set ids, interface names) go
//! into nft identifiers. nft identifiers allow letters, digits and `/ _ . -`; an id with any
//! other character, one starting with `_`, or one too long is replaced by `_` + a hex hash so
//! the name stays valid and unique.

use crate::render::Direction;
use crate::table::fnv1a;

/// Mark bit meaning "policy or profile accepted the packet".
pub const ACCEPT_MARK: u32 = 0x0001_0000;
/// Mark bit meaning "a policy passed the packet to the next tier".
pub const PASS_MARK: u32 = 0x0002_0000;

/// Longest id used verbatim in a name (nft allows 256 bytes per name).
const MAX_ID_LEN: usize = 200;

/// Map: workload interface -> `goto cali-fw-<iface>`.
pub const FROM_WL_MAP: &str = "cali-from-wl";
/// Map: workload interface -> `goto cali-tw-<iface>`.
pub const TO_WL_MAP: &str = "cali-to-wl";
/// Map: host endpoint interface -> `goto cali-fh-<iface>`.
pub const FROM_HEP_MAP: &str = "cali-from-hep";
/// Map: host endpoint interface -> `goto cali-th-<iface>`.
pub const TO_HEP_MAP: &str = "cali-to-hep";

/// Chain dispatching traffic from workloads through [`FROM_WL_MAP`].
pub const FROM_WL_DISPATCH: &str = "cali-from-wl-dispatch";
/// Chain dispatching traffic to workloads through [`TO_WL_MAP`].
pub const TO_WL_DISPATCH: &str = "cali-to-wl-dispatch";
/// Chain dispatching traffic from host endpoints through [`FROM_HEP_MAP`].
pub const FROM_HEP_DISPATCH: &str = "cali-from-hep-dispatch";
/// Chain dispatching traffic to host endpoints through [`TO_HEP_MAP`].
pub const TO_HEP_DISPATCH: &str = "cali-to-hep-dispatch";
/// Chain for workload -> host traffic.
pub const WL_TO_HOST: &str = "cali-wl-to-host";
/// Inbound failsafe ports.
pub const FAILSAFE_IN: &str = "cali-failsafe-in";
/// Outbound failsafe ports.
pub const FAILSAFE_OUT: &str = "cali-failsafe-out";
/// Masquerade rule for pools with natOutgoing.
pub const NAT_OUTGOING: &str = "cali-nat-outgoing";

/// Base chain on the forward hook.
pub const BASE_FORWARD: &str = "filter-FORWARD";
/// Base chain on the input hook.
pub const BASE_INPUT: &str = "filter-INPUT";
/// Base chain on the output hook.
pub const BASE_OUTPUT: &str = "filter-OUTPUT";
/// Base chain on the postrouting hook (nat).
pub const BASE_POSTROUTING: &str = "nat-POSTROUTING";

/// Set of all pool CIDRs.
pub const ALL_POOLS_SET: &str = "all_pools";
/// Set of CIDRs of pools with natOutgoing.
pub const MASQ_POOLS_SET: &str = "masq_pools";

/// `prefix` + id, or `prefix` + `_` + hash when the id cannot be used as is.
fn name_with(prefix: &str, id: &str) -> String {
    let usable = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    if usable {
        format!("{prefix}{id}")
    } else {
        format!("{prefix}_{:016x}", fnv1a(id.as_bytes()))
    }
}

/// Ingress (to-workload) chain of a workload interface.
pub fn to_workload_chain(iface: &str) -> String {
    name_with("cali-tw-", iface)
}

/// Egress (from-workload) chain of a workload interface.
pub fn from_workload_chain(iface: &str) -> String {
    name_with("cali-fw-", iface)
}

/// Ingress (into the host) chain of a host endpoint.
pub fn from_host_endpoint_chain(iface: &str) -> String {
    name_with("cali-fh-", iface)
}

/// Egress (out of the host) chain of a host endpoint.
pub fn to_host_endpoint_chain(iface: &str) -> String {
    name_with("cali-th-", iface)
}

/// Ingress chain of a policy.
pub fn policy_ingress_chain(id: &str) -> String {
    name_with("cali-pi-", id)
}

/// Egress chain of a policy.
pub fn policy_egress_chain(id: &str) -> String {
    name_with("cali-po-", id)
}

/// Ingress chain of a profile.
pub fn profile_ingress_chain(name: &str) -> String {
    name_with("cali-pri-", name)
}

/// Egress chain of a profile.
pub fn profile_egress_chain(name: &str) -> String {
    name_with("cali-pro-", name)
}

/// Chain of a policy for one direction.
pub fn policy_chain(id: &str, dir: Direction) -> String {
    match dir {
        Direction::Ingress => policy_ingress_chain(id),
        Direction::Egress => policy_egress_chain(id),
    }
}

/// Chain of a profile for one direction.
pub fn profile_chain(name: &str, dir: Direction) -> String {
    match dir {
        Direction::Ingress => profile_ingress_chain(name),
        Direction::Egress => profile_egress_chain(name),
    }
}

/// Named set of a selector.
pub fn selector_set(id: &str) -> String {
    name_with("s_", id)
}

/// Named set of a named port (elements `address . protocol . port`).
pub fn named_port_set(id: &str) -> String {
    name_with("n_", id)
}

/// nft text of a mark value.
pub fn mark(value: u32) -> String {
    format!("0x{value:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_ids_are_kept() {
        assert_eq!(
            policy_ingress_chain("np/demo/allow-http"),
            "cali-pi-np/demo/allow-http"
        );
        assert_eq!(selector_set("clients"), "s_clients");
        assert_eq!(named_port_set("web-http"), "n_web-http");
        assert_eq!(to_workload_chain("cali1a2b"), "cali-tw-cali1a2b");
    }

    #[test]
    fn unusable_ids_are_hashed() {
        for id in ["a b", "x\"y", "_lead", "", &"a".repeat(300)] {
            let name = selector_set(id);
            assert!(name.starts_with("s__"), "{name}");
            assert_eq!(name.len(), 2 + 1 + 16);
        }
        assert_ne!(selector_set("a b"), selector_set("a c"));
    }
}
