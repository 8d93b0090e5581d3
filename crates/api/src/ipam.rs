//! IPReservation (addresses IPAM must not hand out) and IPAMConfiguration (the `default`
//! singleton with cluster-wide IPAM settings).

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::skip::is_zero;

/// Reserved address ranges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IPReservation {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IPReservationSpec,
}

/// IPReservation spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IPReservationSpec {
    #[serde(
        default,
        rename = "reservedCIDRs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reserved_cidrs: Vec<String>,
}

impl IPReservation {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::IPReservation, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        for (i, c) in self.spec.reserved_cidrs.iter().enumerate() {
            check::net(&ctx, &format!("spec.reservedCIDRs[{i}]"), c)?;
        }
        Ok(())
    }

    pub(crate) fn apply_defaults(&mut self) {
        crate::rule::normalise_nets(&mut self.spec.reserved_cidrs);
    }
}

/// Cluster IPAM settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IPAMConfiguration {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IPAMConfigurationSpec,
}

/// IPAMConfiguration spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPAMConfigurationSpec {
    #[serde(default)]
    pub strict_affinity: bool,
    /// 0 means unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_blocks_per_host: i32,
    #[serde(default = "default_true")]
    pub auto_allocate_blocks: bool,
    #[serde(
        default,
        rename = "kubeVirtVMAddressPersistence",
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_virt_vm_address_persistence: Option<VmAddressPersistence>,
    #[serde(default, rename = "ipCooldownSeconds", skip_serializing_if = "is_zero")]
    pub ip_cooldown_seconds: i32,
}

fn default_true() -> bool {
    true
}

impl Default for IPAMConfigurationSpec {
    fn default() -> Self {
        IPAMConfigurationSpec {
            strict_affinity: false,
            max_blocks_per_host: 0,
            auto_allocate_blocks: true,
            kube_virt_vm_address_persistence: None,
            ip_cooldown_seconds: 0,
        }
    }
}

/// Whether KubeVirt VMs keep their IPs across restarts and migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VmAddressPersistence {
    Enabled,
    Disabled,
}

const MAX_COOLDOWN: i32 = 1200;

impl IPAMConfiguration {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::IPAMConfiguration, &self.metadata);
        ctx.ensure(self.metadata.name == "default", "metadata.name", || {
            format!(
                "IPAMConfiguration is a singleton named \"default\", not \"{}\"",
                self.metadata.name
            )
        })?;
        let s = &self.spec;
        ctx.ensure(s.max_blocks_per_host >= 0, "spec.maxBlocksPerHost", || {
            "must be greater than or equal to 0".to_string()
        })?;
        ctx.ensure(
            s.max_blocks_per_host == 0 || s.strict_affinity,
            "spec.maxBlocksPerHost",
            || "a block limit requires strictAffinity: true".to_string(),
        )?;
        ctx.ensure(
            s.auto_allocate_blocks || s.strict_affinity,
            "spec.autoAllocateBlocks",
            || "autoAllocateBlocks: false requires strictAffinity: true".to_string(),
        )?;
        ctx.ensure(
            (0..=MAX_COOLDOWN).contains(&s.ip_cooldown_seconds),
            "spec.ipCooldownSeconds",
            || format!("must be between 0 and {MAX_COOLDOWN}"),
        )
    }
}
