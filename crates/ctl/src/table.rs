//! The `ps`, `wide` and `custom-columns` table layouts of `calicoctl get`: which columns each
//! kind has and how each cell is rendered from the resource's JSON.

use anyhow::{anyhow, Result};
use api::Kind;
use serde_json::Value;

use crate::tabwriter;

/// Which columns to print.
pub enum Layout {
    Ps,
    Wide,
    Custom(Vec<String>),
}

/// Values a cell may need from outside the resource.
pub struct TableContext {
    /// The cluster's default AS number (BGPConfiguration `default`, else 64512), shown in
    /// parentheses for nodes without their own.
    pub default_as: String,
}

/// Columns of `kind`: (every heading the kind knows, ps headings, wide headings).
fn headings(
    kind: Kind,
) -> (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
) {
    match kind {
        Kind::IPPool => {
            const ALL: &[&str] = &[
                "NAME",
                "CIDR",
                "NAT",
                "IPIPMODE",
                "VXLANMODE",
                "DISABLED",
                "DISABLEBGPEXPORT",
                "SELECTOR",
                "ASSIGNMENTMODE",
            ];
            (ALL, &["NAME", "CIDR", "SELECTOR"], ALL)
        }
        Kind::IPReservation => (&["NAME", "CIDRS"], &["NAME"], &["NAME", "CIDRS"]),
        Kind::IPAMConfiguration => {
            const ALL: &[&str] = &[
                "NAME",
                "STRICTAFFINITY",
                "AUTOALLOCATEBLOCKS",
                "MAXBLOCKSPERHOST",
            ];
            (ALL, &["NAME", "STRICTAFFINITY", "AUTOALLOCATEBLOCKS"], ALL)
        }
        Kind::BGPConfiguration => {
            const H: &[&str] = &["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"];
            (H, H, H)
        }
        Kind::BGPPeer => {
            const H: &[&str] = &["NAME", "PEERIP", "NODE", "ASN"];
            (H, H, H)
        }
        Kind::BGPFilter => (&["NAME"], &["NAME"], &["NAME"]),
        Kind::Node => (
            &["NAME", "ASN", "IPV4", "IPV6"],
            &["NAME"],
            &["NAME", "ASN", "IPV4", "IPV6"],
        ),
        Kind::Profile => (&["NAME", "LABELS"], &["NAME"], &["NAME", "LABELS"]),
        Kind::NetworkPolicy => (
            &["NAMESPACE", "NAME", "TIER", "ORDER", "SELECTOR"],
            &["NAME", "TIER"],
            &["NAME", "TIER", "ORDER", "SELECTOR"],
        ),
        Kind::GlobalNetworkPolicy => (
            &["NAME", "TIER", "ORDER", "SELECTOR"],
            &["NAME", "TIER"],
            &["NAME", "TIER", "ORDER", "SELECTOR"],
        ),
        Kind::Tier => {
            const H: &[&str] = &["NAME", "ORDER"];
            (H, H, H)
        }
        Kind::NetworkSet => (&["NAMESPACE", "NAME", "NETS"], &["NAME"], &["NAME", "NETS"]),
        Kind::GlobalNetworkSet => (&["NAME", "NETS"], &["NAME"], &["NAME", "NETS"]),
        Kind::HostEndpoint => (
            &["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"],
            &["NAME", "NODE"],
            &["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"],
        ),
        Kind::WorkloadEndpoint => (
            &[
                "NAMESPACE",
                "NAME",
                "WORKLOAD",
                "NODE",
                "NETWORKS",
                "INTERFACE",
                "PROFILES",
                "NATS",
                "ORCHESTRATOR",
            ],
            &["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
            &[
                "NAME",
                "WORKLOAD",
                "NODE",
                "NETWORKS",
                "INTERFACE",
                "PROFILES",
                "NATS",
            ],
        ),
        Kind::FelixConfiguration => (&["NAME"], &["NAME"], &["NAME"]),
        Kind::ClusterInformation => {
            const H: &[&str] = &[
                "NAME",
                "CLUSTERGUID",
                "CLUSTERTYPE",
                "CALICOVERSION",
                "DATASTOREREADY",
            ];
            (H, H, H)
        }
    }
}

/// The headings to print for `kind`: ps and wide get a leading NAMESPACE for namespaced kinds
/// when `with_namespace`; custom columns are exactly those asked for (unknown ones are an
/// error listing the valid ones).
pub fn columns(kind: Kind, layout: &Layout, with_namespace: bool) -> Result<Vec<String>> {
    let (known, ps, wide) = headings(kind);
    let fixed = match layout {
        Layout::Ps => ps,
        Layout::Wide => wide,
        Layout::Custom(cols) => {
            if let Some(unknown) = cols.iter().find(|c| !known.contains(&c.as_str())) {
                return Err(anyhow!(
                    "Unknown heading {unknown}, valid values are: {}",
                    known.join(", ")
                ));
            }
            return Ok(cols.clone());
        }
    };
    let namespace = (with_namespace && kind.namespaced()).then_some("NAMESPACE");
    Ok(namespace
        .into_iter()
        .chain(fixed.iter().copied())
        .map(String::from)
        .collect())
}

/// Renders one table: the headings row, then one row per resource (given as JSON).
pub fn render(kind: Kind, cols: &[String], items: &[Value], ctx: &TableContext) -> String {
    let mut rows = vec![cols.to_vec()];
    rows.extend(
        items
            .iter()
            .map(|item| cols.iter().map(|c| cell(kind, c, item, ctx)).collect()),
    );
    tabwriter::render(&rows)
}

fn cell(kind: Kind, heading: &str, r: &Value, ctx: &TableContext) -> String {
    let spec = &r["spec"];
    match (kind, heading) {
        (_, "NAME") => text(&r["metadata"]["name"]),
        (_, "NAMESPACE") => text(&r["metadata"]["namespace"]),
        (Kind::IPPool, "CIDR") => text(&spec["cidr"]),
        (Kind::IPPool, "NAT") => flag(&spec["natOutgoing"]),
        (Kind::IPPool, "IPIPMODE") => or(&spec["ipipMode"], "Never"),
        (Kind::IPPool, "VXLANMODE") => or(&spec["vxlanMode"], "Never"),
        (Kind::IPPool, "DISABLED") => flag(&spec["disabled"]),
        (Kind::IPPool, "DISABLEBGPEXPORT") => flag(&spec["disableBGPExport"]),
        (Kind::IPPool, "SELECTOR") => text(&spec["nodeSelector"]),
        (Kind::IPPool, "ASSIGNMENTMODE") => or(&spec["assignmentMode"], "Automatic"),
        (Kind::IPReservation, "CIDRS") => truncate(join(&spec["reservedCIDRs"]), 80),
        (Kind::IPAMConfiguration, "STRICTAFFINITY") => flag(&spec["strictAffinity"]),
        (Kind::IPAMConfiguration, "AUTOALLOCATEBLOCKS") => or(&spec["autoAllocateBlocks"], "true"),
        (Kind::IPAMConfiguration, "MAXBLOCKSPERHOST") => or(&spec["maxBlocksPerHost"], "0"),
        (Kind::BGPConfiguration, "LOGSEVERITY") => text(&spec["logSeverityScreen"]),
        // Both are optional in the API: set (even to false or 0) prints the value, unset `-`.
        (Kind::BGPConfiguration, "MESHENABLED") => or(&spec["nodeToNodeMeshEnabled"], "-"),
        (Kind::BGPConfiguration, "ASNUMBER") => or(&spec["asNumber"], "-"),
        (Kind::BGPPeer, "PEERIP") => text(&spec["peerIP"]),
        (Kind::BGPPeer, "NODE") => {
            let node = text(&spec["node"]);
            let selector = text(&spec["nodeSelector"]);
            match (node.is_empty(), selector.is_empty()) {
                (false, _) => node,
                (true, false) => selector,
                (true, true) => "(global)".to_string(),
            }
        }
        (Kind::BGPPeer, "ASN") => or(&spec["asNumber"], "0"),
        (Kind::Node, "ASN") => match &spec["bgp"] {
            Value::Null => String::new(),
            bgp => match text(&bgp["asNumber"]) {
                own if own.is_empty() || own == "0" => format!("({})", ctx.default_as),
                own => own,
            },
        },
        (Kind::Node, "IPV4") => text(&spec["bgp"]["ipv4Address"]),
        (Kind::Node, "IPV6") => text(&spec["bgp"]["ipv6Address"]),
        (Kind::Profile, "LABELS") => join(&spec["labelsToApply"]),
        (Kind::NetworkPolicy | Kind::GlobalNetworkPolicy, "TIER") => or(&spec["tier"], "default"),
        (Kind::NetworkPolicy | Kind::GlobalNetworkPolicy | Kind::Tier, "ORDER") => {
            // Go prints an unset (nil) order as `<nil>`.
            spec["order"]
                .as_f64()
                .map(go_float)
                .unwrap_or_else(|| "<nil>".to_string())
        }
        (Kind::NetworkPolicy | Kind::GlobalNetworkPolicy, "SELECTOR") => text(&spec["selector"]),
        (Kind::NetworkSet | Kind::GlobalNetworkSet, "NETS") => truncate(join(&spec["nets"]), 80),
        (Kind::HostEndpoint, "NODE") => text(&spec["node"]),
        (Kind::HostEndpoint, "INTERFACE") => text(&spec["interfaceName"]),
        (Kind::HostEndpoint, "IPS") => join(&spec["expectedIPs"]),
        (Kind::HostEndpoint, "PROFILES") => join(&spec["profiles"]),
        (Kind::WorkloadEndpoint, "WORKLOAD") => match text(&spec["workload"]) {
            w if w.is_empty() => text(&spec["pod"]),
            w => w,
        },
        (Kind::WorkloadEndpoint, "NODE") => text(&spec["node"]),
        (Kind::WorkloadEndpoint, "NETWORKS") => join(&spec["ipNetworks"]),
        (Kind::WorkloadEndpoint, "INTERFACE") => text(&spec["interfaceName"]),
        (Kind::WorkloadEndpoint, "PROFILES") => join(&spec["profiles"]),
        (Kind::WorkloadEndpoint, "ORCHESTRATOR") => text(&spec["orchestrator"]),
        (Kind::WorkloadEndpoint, "NATS") => spec["ipNATs"]
            .as_array()
            .map(|nats| {
                nats.iter()
                    .map(|n| format!("{{{} {}}}", text(&n["internalIP"]), text(&n["externalIP"])))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        (Kind::ClusterInformation, "CLUSTERGUID") => text(&spec["clusterGUID"]),
        (Kind::ClusterInformation, "CLUSTERTYPE") => text(&spec["clusterType"]),
        (Kind::ClusterInformation, "CALICOVERSION") => text(&spec["calicoVersion"]),
        (Kind::ClusterInformation, "DATASTOREREADY") => or(&spec["datastoreReady"], "<nil>"),
        _ => String::new(),
    }
}

/// A scalar as text; missing values are empty.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A scalar, or `default` when missing or empty.
fn or(v: &Value, default: &str) -> String {
    match text(v) {
        s if s.is_empty() => default.to_string(),
        s => s,
    }
}

/// A boolean the way Go prints an unset one: `false`.
fn flag(v: &Value) -> String {
    v.as_bool().unwrap_or(false).to_string()
}

/// List items joined with `,`; maps as sorted `k=v` pairs.
fn join(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Object(map) => {
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            pairs.sort();
            pairs.join(",")
        }
        other => text(other),
    }
}

/// Cuts `s` to `max` characters, ending in `...` when cut.
fn truncate(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max - 3).collect();
    cut.push_str("...");
    cut
}

/// A float the way Go's `%v` prints it: shortest digits, in exponent form from 1e6 up and
/// below 1e-4 (e.g. `100`, `0.5`, `1e+06`).
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return f.to_string();
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> TableContext {
        TableContext {
            default_as: "64512".to_string(),
        }
    }

    #[test]
    fn go_float_matches_go_formatting() {
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1000.25), "1000.25");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(10_000_000.0), "1e+07");
        assert_eq!(go_float(1_234_567.0), "1.234567e+06");
        assert_eq!(go_float(123_456.0), "123456");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-3.0), "-3");
        assert_eq!(go_float(123_456_789.0), "1.23456789e+08");
    }

    #[test]
    fn cell_rules() {
        let pool = json!({"metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/16"}});
        assert_eq!(cell(Kind::IPPool, "IPIPMODE", &pool, &ctx()), "Never");
        assert_eq!(cell(Kind::IPPool, "NAT", &pool, &ctx()), "false");
        let peer = json!({"spec": {"peerIP": "10.0.0.1"}});
        assert_eq!(cell(Kind::BGPPeer, "NODE", &peer, &ctx()), "(global)");
        let node = json!({"spec": {"bgp": {"ipv4Address": "10.0.0.5/24"}}});
        assert_eq!(cell(Kind::Node, "ASN", &node, &ctx()), "(64512)");
        let bare = json!({"spec": {}});
        assert_eq!(
            cell(Kind::GlobalNetworkPolicy, "ORDER", &bare, &ctx()),
            "<nil>"
        );
        assert_eq!(cell(Kind::Node, "ASN", &bare, &ctx()), "");
        assert_eq!(
            cell(Kind::BGPConfiguration, "MESHENABLED", &bare, &ctx()),
            "-"
        );
        assert_eq!(cell(Kind::BGPConfiguration, "ASNUMBER", &bare, &ctx()), "-");
        let mesh_off = json!({"spec": {"nodeToNodeMeshEnabled": false, "asNumber": 63400}});
        assert_eq!(
            cell(Kind::BGPConfiguration, "MESHENABLED", &mesh_off, &ctx()),
            "false"
        );
        assert_eq!(
            cell(Kind::BGPConfiguration, "ASNUMBER", &mesh_off, &ctx()),
            "63400"
        );
        let nets = json!({"spec": {"nets": vec!["10.0.0.0/24"; 10]}});
        let shown = cell(Kind::GlobalNetworkSet, "NETS", &nets, &ctx());
        assert_eq!(shown.len(), 80);
        assert!(shown.ends_with("..."));
    }

    #[test]
    fn unknown_custom_heading_lists_valid_ones() {
        let err = columns(
            Kind::Tier,
            &Layout::Custom(vec!["NAME".into(), "FOO".into()]),
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown heading FOO, valid values are: NAME, ORDER"
        );
    }

    #[test]
    fn namespace_column_leads_for_namespaced_kinds_only() {
        let np = columns(Kind::NetworkPolicy, &Layout::Ps, true).unwrap();
        assert_eq!(np, ["NAMESPACE", "NAME", "TIER"]);
        let pool = columns(Kind::IPPool, &Layout::Ps, true).unwrap();
        assert_eq!(pool, ["NAME", "CIDR", "SELECTOR"]);
    }
}
