//! Text for `calicoctl ipam show`: the pool (and block) utilisation table in go-pretty's box
//! style, `--ip` ownership, and `--show-configuration`. Pure: data in, text out.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::block::AllocationBlock;
use crate::cidr::size;
use crate::client::{AllocationInfo, IpamConfig};
use crate::error::{Error, Result};
use crate::pools::Pool;
use crate::release::ReleaseResult;

/// What a utilisation row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    Pool,
    Block,
}

/// One row of `ipam show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub grouping: Grouping,
    pub cidr: IpNet,
    pub total: u128,
    pub in_use: u128,
}

/// Utilisation of every pool (in CIDR order) and, with `show_blocks`, of each block after
/// its pool.
pub fn usage(pools: &[Pool], blocks: &[AllocationBlock], show_blocks: bool) -> Vec<UsageRow> {
    let mut pools: Vec<&Pool> = pools.iter().collect();
    pools.sort_by_key(|p| p.cidr);
    let mut rows = Vec::new();
    for pool in pools {
        let mut mine: Vec<&AllocationBlock> = blocks
            .iter()
            .filter(|b| pool.contains_block(&b.cidr))
            .collect();
        mine.sort_by_key(|b| b.cidr);
        rows.push(UsageRow {
            grouping: Grouping::Pool,
            cidr: pool.cidr,
            total: size(&pool.cidr),
            in_use: mine.iter().map(|b| b.in_use() as u128).sum(),
        });
        if show_blocks {
            rows.extend(mine.iter().map(|b| UsageRow {
                grouping: Grouping::Block,
                cidr: b.cidr,
                total: b.len() as u128,
                in_use: b.in_use() as u128,
            }));
        }
    }
    rows
}

/// The `ipam show` table.
pub fn render_usage(rows: &[UsageRow]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let free = r.total.saturating_sub(r.in_use);
            vec![
                match r.grouping {
                    Grouping::Pool => "IP Pool".to_string(),
                    Grouping::Block => "Block".to_string(),
                },
                r.cidr.to_string(),
                format_g5(r.total as f64),
                with_percent(r.in_use, r.total),
                with_percent(free, r.total),
            ]
        })
        .collect();
    render_table(
        &["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"],
        &[false, false, true, false, false],
        &body,
    )
}

/// One address used by a node other than its block's owner (`--show-borrowed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BorrowedIp {
    pub ip: IpAddr,
    pub borrowing_node: String,
    pub block: IpNet,
    pub block_owner: String,
    /// `pod`, or the tunnel type from the `type` attribute.
    pub kind: String,
    /// `namespace/pod` for pods, else the node.
    pub allocated_to: String,
}

/// Addresses whose `node` attribute differs from their block's host, in address order.
pub fn borrowed(blocks: &[AllocationBlock]) -> Vec<BorrowedIp> {
    let mut out = Vec::new();
    for b in blocks {
        let Some(owner) = b.host() else {
            continue;
        };
        for (ip, attr) in b.allocated() {
            let Some(node) = attr.secondary.get("node").filter(|n| n.as_str() != owner) else {
                continue;
            };
            let pod = attr.secondary.get("pod");
            let kind = match (attr.secondary.get("type"), pod) {
                (Some(t), _) => t.clone(),
                (None, Some(_)) => "pod".to_string(),
                (None, None) => String::new(),
            };
            let allocated_to = match (attr.secondary.get("namespace"), pod) {
                (Some(ns), Some(p)) => format!("{ns}/{p}"),
                (None, Some(p)) => p.clone(),
                _ => node.clone(),
            };
            out.push(BorrowedIp {
                ip,
                borrowing_node: node.clone(),
                block: b.cidr,
                block_owner: owner.to_string(),
                kind,
                allocated_to,
            });
        }
    }
    out.sort_by_key(|r| r.ip);
    out
}

/// The `ipam show --show-borrowed` table.
pub fn render_borrowed(rows: &[BorrowedIp]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.ip.to_string(),
                r.borrowing_node.clone(),
                r.block.to_string(),
                r.block_owner.clone(),
                r.kind.clone(),
                r.allocated_to.clone(),
            ]
        })
        .collect();
    render_table(
        &[
            "IP",
            "BORROWING-NODE",
            "BLOCK",
            "BLOCK OWNER",
            "TYPE",
            "ALLOCATED-TO",
        ],
        &[false; 6],
        &body,
    )
}

/// `ipam show --ip=ADDR`.
pub fn render_ip_info(ip: IpAddr, info: Option<&AllocationInfo>) -> String {
    let Some(info) = info else {
        return format!("IP {ip} is not assigned\n");
    };
    let mut out = format!("IP {ip} is in use\n");
    if let Some(h) = &info.handle {
        out.push_str(&format!("Handle ID: {h}\n"));
    }
    out.push_str("Active Owner Attributes:\n");
    for (k, v) in &info.attributes {
        out.push_str(&format!("  {k}: {v}\n"));
    }
    out
}

/// `ipam release --ip=ADDR`: the success line, or `IP address ADDR is not assigned`.
pub fn render_release_ip(ip: IpAddr, result: &ReleaseResult) -> Result<String> {
    if result.released.contains(&ip) {
        Ok(format!("Successfully released IP address {ip}\n"))
    } else {
        Err(Error::NotAssigned { ip })
    }
}

/// `ipam show --show-configuration`.
pub fn render_configuration(config: &IpamConfig) -> String {
    let rows = vec![
        vec![
            "StrictAffinity".to_string(),
            config.strict_affinity.to_string(),
        ],
        vec![
            "AutoAllocateBlocks".to_string(),
            config.auto_allocate_blocks.to_string(),
        ],
        vec![
            "MaxBlocksPerHost".to_string(),
            config.max_blocks_per_host.to_string(),
        ],
    ];
    render_table(&["PROPERTY", "VALUE"], &[false, false], &rows)
}

/// `N (P%)` with N in `%.5g` and P rounded to an integer.
fn with_percent(n: u128, total: u128) -> String {
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * n as f64 / total as f64
    };
    format!("{} ({pct:.0}%)", format_g5(n as f64))
}

/// Go's `%.5g`: 5 significant digits, exponent form when the exponent is < -4 or >= 5,
/// trailing zeros dropped.
pub fn format_g5(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{v:.4e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..5).contains(&exp) {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (4 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A go-pretty default-style table: `+---+` rules, centred headers, one space of padding.
pub(crate) fn render_table(headers: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule = {
        let cells: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        format!("+{}+\n", cells.join("+"))
    };
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = rule.clone();
    out.push_str(&line(
        headers
            .iter()
            .zip(&widths)
            .map(|(h, &w)| {
                let pad = w - h.chars().count();
                format!("{}{h}{}", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
            })
            .collect(),
    ));
    out.push_str(&rule);
    for row in rows {
        out.push_str(&line(
            row.iter()
                .zip(&widths)
                .zip(right)
                .map(|((c, &w), &r)| {
                    if r {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect(),
        ));
    }
    if !rows.is_empty() {
        out.push_str(&rule);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use api::AllowedUse;

    use super::*;
    use crate::block::Reservations;

    #[test]
    fn g5_matches_go() {
        assert_eq!(format_g5(65536.0), "65536");
        assert_eq!(format_g5(65531.0), "65531");
        assert_eq!(format_g5(1048576.0), "1.0486e+06");
        assert_eq!(format_g5(100000.0), "1e+05");
        assert_eq!(format_g5(5.0), "5");
        assert_eq!(format_g5(0.0), "0");
        assert_eq!(format_g5(2f64.powi(80)), "1.2089e+24");
    }

    #[test]
    fn usage_table_like_calico() {
        let pool = Pool {
            name: "p".into(),
            cidr: "10.65.0.0/16".parse().unwrap(),
            block_size: 26,
            disabled: false,
            node_selector: selector::parse("all()").unwrap(),
            namespace_selector: None,
            allowed_uses: vec![AllowedUse::Workload],
            manual: false,
        };
        let mut b = AllocationBlock::new("10.65.0.0/26".parse().unwrap(), Some("n"));
        b.auto_assign(5, Some("h"), &BTreeMap::new(), &Reservations::default());
        let text = render_usage(&usage(
            std::slice::from_ref(&pool),
            std::slice::from_ref(&b),
            false,
        ));
        assert_eq!(
            text,
            "\
+----------+--------------+-----------+------------+--------------+
| GROUPING |     CIDR     | IPS TOTAL | IPS IN USE |   IPS FREE   |
+----------+--------------+-----------+------------+--------------+
| IP Pool  | 10.65.0.0/16 |     65536 | 5 (0%)     | 65531 (100%) |
+----------+--------------+-----------+------------+--------------+
"
        );
        let rows = usage(&[pool], &[b], true);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].grouping, Grouping::Block);
        assert!(render_usage(&rows)
            .contains("| Block    | 10.65.0.0/26 |        64 | 5 (8%)     | 59 (92%)     |"));
    }

    #[test]
    fn borrowed_addresses_are_listed() {
        let mut b = AllocationBlock::new("10.0.0.0/30".parse().unwrap(), Some("n1"));
        let none = Reservations::default();
        let own = BTreeMap::from([("node".to_string(), "n1".to_string())]);
        let pod = BTreeMap::from([
            ("node".to_string(), "n2".to_string()),
            ("namespace".to_string(), "default".to_string()),
            ("pod".to_string(), "web".to_string()),
        ]);
        let tunnel = BTreeMap::from([
            ("node".to_string(), "n3".to_string()),
            ("type".to_string(), "vxlanTunnelAddress".to_string()),
        ]);
        b.auto_assign(1, Some("a"), &own, &none);
        b.auto_assign(1, Some("b"), &pod, &none);
        b.auto_assign(1, Some("c"), &tunnel, &none);
        let rows = borrowed(&[b]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].allocated_to, "default/web");
        assert_eq!(rows[0].kind, "pod");
        assert_eq!(rows[1].kind, "vxlanTunnelAddress");
        assert_eq!(rows[1].allocated_to, "n3");
        let text = render_borrowed(&rows);
        assert!(text.contains("| 10.0.0.1 | n2             | 10.0.0.0/30 | n1          | pod                | default/web  |"), "{text}");
    }

    #[test]
    fn ip_info_text() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(render_ip_info(ip, None), "IP 10.0.0.5 is not assigned\n");
        let info = AllocationInfo {
            ip,
            block: "10.0.0.0/26".parse().unwrap(),
            block_affinity: Some("host:n1".into()),
            handle: Some("k8s-pod-network.abc".into()),
            attributes: BTreeMap::from([("pod".to_string(), "web".to_string())]),
            sequence_number: Some(0),
        };
        assert_eq!(
            render_ip_info(ip, Some(&info)),
            "IP 10.0.0.5 is in use\nHandle ID: k8s-pod-network.abc\nActive Owner Attributes:\n  pod: web\n"
        );
        let released = ReleaseResult {
            released: vec![ip],
            ..ReleaseResult::default()
        };
        assert_eq!(
            render_release_ip(ip, &released).unwrap(),
            "Successfully released IP address 10.0.0.5\n"
        );
        let err = render_release_ip(ip, &ReleaseResult::default()).unwrap_err();
        assert_eq!(err.to_string(), "IP address 10.0.0.5 is not assigned");
        let cfg = render_configuration(&IpamConfig {
            strict_affinity: true,
            auto_allocate_blocks: true,
            max_blocks_per_host: 0,
        });
        assert!(cfg.contains("| StrictAffinity     | true  |"), "{cfg}");
    }
}
