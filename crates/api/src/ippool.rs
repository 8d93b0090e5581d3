//! IPPool: an address range IPAM hands out from, with its encapsulation, NAT and node
//! selection settings; defaults, validation and the cross-pool overlap check.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::error::Error;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::skip::{is_false, is_zero};

/// An IP pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IPPool {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IPPoolSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IPPoolStatus>,
}

/// IPPool spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPPoolSpec {
    #[serde(default)]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<EncapMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<EncapMode>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub nat_outgoing: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(default, rename = "disableBGPExport", skip_serializing_if = "is_false")]
    pub disable_bgp_export: bool,
    /// Block size (prefix length); 0 means "use the family default".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub block_size: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_uses: Vec<AllowedUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_mode: Option<AssignmentMode>,
}

/// IPPool status, written by Calico.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IPPoolStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A Kubernetes-style status condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// IPIP or VXLAN encapsulation mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EncapMode {
    #[default]
    Never,
    Always,
    CrossSubnet,
}

impl fmt::Display for EncapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncapMode::Never => "Never",
            EncapMode::Always => "Always",
            EncapMode::CrossSubnet => "CrossSubnet",
        })
    }
}

/// What addresses from a pool may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllowedUse {
    Workload,
    Tunnel,
    LoadBalancer,
}

/// Whether IPAM may pick the pool on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssignmentMode {
    #[default]
    Automatic,
    Manual,
}

const V4_BLOCK: (u8, u8, u8) = (20, 32, 26);
const V6_BLOCK: (u8, u8, u8) = (116, 128, 122);

impl IPPoolSpec {
    /// The parsed CIDR, if it parses.
    pub fn network(&self) -> Option<IpNet> {
        self.cidr.parse().ok()
    }

    /// The block size, or the family default when unset.
    pub fn effective_block_size(&self) -> u8 {
        match (self.block_size, self.network()) {
            (0, Some(IpNet::V6(_))) => V6_BLOCK.2,
            (0, _) => V4_BLOCK.2,
            (b, _) => b,
        }
    }

    /// The node selector, with "" meaning `all()`.
    pub fn effective_node_selector(&self) -> &str {
        if self.node_selector.trim().is_empty() {
            "all()"
        } else {
            &self.node_selector
        }
    }
}

impl IPPool {
    pub(crate) fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        if let Ok(net) = check::parse_net(&s.cidr) {
            if !s.cidr.contains('/') {
                s.cidr = net.to_string();
            }
        }
        s.block_size = s.effective_block_size();
        s.ipip_mode.get_or_insert(EncapMode::Never);
        s.vxlan_mode.get_or_insert(EncapMode::Never);
        if s.node_selector.trim().is_empty() {
            s.node_selector = "all()".to_string();
        }
        if s.allowed_uses.is_empty() {
            s.allowed_uses = vec![AllowedUse::Workload, AllowedUse::Tunnel];
        }
        s.assignment_mode.get_or_insert(AssignmentMode::Automatic);
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::IPPool, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        if s.cidr.is_empty() {
            return Err(ctx.fail("spec.cidr", "IPPool CIDR must be specified"));
        }
        let parsed = check::parse_net(&s.cidr).map_err(|e| ctx.fail("spec.cidr", e))?;
        let net = parsed.trunc();
        if net != parsed {
            return Err(ctx.fail(
                "spec.cidr",
                format!("\"{}\" has host bits set (network is {net})", s.cidr),
            ));
        }
        let (min, max, _) = match net {
            IpNet::V4(_) => V4_BLOCK,
            IpNet::V6(_) => V6_BLOCK,
        };
        let family = if matches!(net, IpNet::V4(_)) { 4 } else { 6 };
        let block = s.effective_block_size();
        ctx.ensure((min..=max).contains(&block), "spec.blockSize", || {
            format!("block size {block} is out of range for IPv{family} (must be {min}..{max})")
        })?;
        ctx.ensure(s.disabled || net.prefix_len() <= block, "spec.cidr", || {
            format!(
                "IP pool size is too small (/{} is smaller than the /{block} block size)",
                net.prefix_len()
            )
        })?;
        let link_local: IpNet = match net {
            IpNet::V4(_) => "169.254.0.0/16",
            IpNet::V6(_) => "fe80::/10",
        }
        .parse()
        .unwrap_or(net);
        ctx.ensure(!overlaps(&net, &link_local), "spec.cidr", || {
            format!("{net} overlaps with the link-local range {link_local}")
        })?;
        let ipip = s.ipip_mode.unwrap_or_default();
        let vxlan = s.vxlan_mode.unwrap_or_default();
        ctx.ensure(
            !(family == 6 && ipip != EncapMode::Never),
            "spec.ipipMode",
            || "IPIP is not supported on an IPv6 IP pool".to_string(),
        )?;
        ctx.ensure(
            ipip == EncapMode::Never || vxlan == EncapMode::Never,
            "spec.vxlanMode",
            || format!("ipipMode {ipip} and vxlanMode {vxlan} cannot both be enabled"),
        )?;
        check::selector(&ctx, "spec.nodeSelector", &s.node_selector, false)?;
        check::selector(&ctx, "spec.namespaceSelector", &s.namespace_selector, false)?;
        validate_allowed_uses(&ctx, s, ipip, vxlan)
    }
}

fn validate_allowed_uses(ctx: &Ctx, s: &IPPoolSpec, ipip: EncapMode, vxlan: EncapMode) -> Check {
    for (i, u) in s.allowed_uses.iter().enumerate() {
        ctx.ensure(!s.allowed_uses[..i].contains(u), "spec.allowedUses", || {
            format!("{u:?} is listed more than once")
        })?;
    }
    if s.allowed_uses.contains(&AllowedUse::Tunnel) && !s.namespace_selector.is_empty() {
        return Err(ctx.fail(
            "spec.namespaceSelector",
            "cannot be set on a pool whose allowedUses includes Tunnel",
        ));
    }
    if !s.allowed_uses.contains(&AllowedUse::LoadBalancer) {
        return Ok(());
    }
    ctx.ensure(s.allowed_uses.len() == 1, "spec.allowedUses", || {
        "LoadBalancer cannot be combined with Workload or Tunnel".to_string()
    })?;
    ctx.ensure(
        s.effective_node_selector().trim() == "all()",
        "spec.nodeSelector",
        || "must be all() on a LoadBalancer pool".to_string(),
    )?;
    ctx.ensure(
        ipip == EncapMode::Never && vxlan == EncapMode::Never,
        "spec.allowedUses",
        || "LoadBalancer pools cannot use IPIP or VXLAN".to_string(),
    )?;
    ctx.ensure(!s.disable_bgp_export, "spec.disableBGPExport", || {
        "cannot be set on a LoadBalancer pool".to_string()
    })
}

/// Whether two networks share any address.
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Cross-resource check: an enabled pool must not overlap any other enabled pool in
/// `existing` (entries with the same name are the pool's own previous version and skipped).
pub fn check_pool_overlap(pool: &IPPool, existing: &[IPPool]) -> Result<(), Error> {
    if pool.spec.disabled {
        return Ok(());
    }
    let ctx = Ctx::new(Kind::IPPool, &pool.metadata);
    let Some(net) = pool.spec.network().map(|n| n.trunc()) else {
        return Err(ctx.fail(
            "spec.cidr",
            format!("\"{}\" is not a valid CIDR", pool.spec.cidr),
        ));
    };
    for other in existing {
        if other.metadata.name == pool.metadata.name || other.spec.disabled {
            continue;
        }
        if let Some(o) = other.spec.network().map(|n| n.trunc()) {
            if overlaps(&net, &o) {
                return Err(ctx.fail(
                    "spec.cidr",
                    format!(
                        "{net} overlaps with IPPool({}) CIDR {o}",
                        other.metadata.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
