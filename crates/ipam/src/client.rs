//! The IPAM client over a [`Store`]: request and result types, the per-request view of
//! pools, reservations, config and host labels, lookups (`ip_info`, attributes, handles)
//! and `ipam configure`. Assignment lives in `assign`, release in `release`.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use api::{AllowedUse, IPAMConfiguration, IPAMConfigurationSpec, Kind, ObjectMeta, Resource};
use datastore::{ResourceClient, Store};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::block::{AllocationBlock, Reservations};
use crate::cidr::IpVersion;
use crate::error::{Error, Result};
use crate::keys::{block_key, block_prefix, handle_key, parse_block_key};
use crate::pools::Pool;
use crate::records::IpamHandle;
use crate::stored::{self, Versioned};

/// A request for automatically chosen addresses (CNI ADD, tunnel addresses).
#[derive(Clone, Debug)]
pub struct AutoAssignArgs {
    pub num4: usize,
    pub num6: usize,
    /// One handle per workload (e.g. `k8s-pod-network.<containerID>`); release goes by it.
    pub handle: Option<String>,
    /// Stored with each allocation (`node`, `namespace`, `pod`, `type`...).
    pub attrs: BTreeMap<String, String>,
    pub hostname: String,
    /// Pools to use, by name or CIDR; empty means every enabled pool that selects the host.
    pub ipv4_pools: Vec<String>,
    pub ipv6_pools: Vec<String>,
    pub intended_use: AllowedUse,
    /// The pod namespace's labels, matched against pools' namespaceSelector (`None` skips it).
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// Overrides IPAMConfiguration `maxBlocksPerHost` when non-zero.
    pub max_blocks_per_host: usize,
}

impl Default for AutoAssignArgs {
    fn default() -> Self {
        AutoAssignArgs {
            num4: 0,
            num6: 0,
            handle: None,
            attrs: BTreeMap::new(),
            hostname: String::new(),
            ipv4_pools: Vec::new(),
            ipv6_pools: Vec::new(),
            intended_use: AllowedUse::Workload,
            namespace_labels: None,
            max_blocks_per_host: 0,
        }
    }
}

/// A request for one explicit address (CNI `IP`/`ips` args, `ipAddrs` annotation).
#[derive(Clone, Debug)]
pub struct AssignIPArgs {
    pub ip: IpAddr,
    pub handle: Option<String>,
    pub attrs: BTreeMap<String, String>,
    pub hostname: String,
    pub intended_use: AllowedUse,
}

impl AssignIPArgs {
    /// A workload request for `ip` on `hostname` under `handle`.
    pub fn new(ip: IpAddr, handle: &str, hostname: &str) -> Self {
        AssignIPArgs {
            ip,
            handle: Some(handle.to_string()),
            attrs: BTreeMap::new(),
            hostname: hostname.to_string(),
            intended_use: AllowedUse::Workload,
        }
    }
}

/// Addresses handed out, each with its block's prefix length (e.g. `10.65.0.5/26`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignedIps {
    pub ipv4: Vec<IpNet>,
    pub ipv6: Vec<IpNet>,
}

impl AssignedIps {
    /// Every address, IPv4 first.
    pub fn all(&self) -> impl Iterator<Item = &IpNet> {
        self.ipv4.iter().chain(&self.ipv6)
    }
}

/// Who holds an allocated address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationInfo {
    pub ip: IpAddr,
    pub block: IpNet,
    pub block_affinity: Option<String>,
    pub handle: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub sequence_number: Option<u64>,
}

/// The effective IPAMConfiguration (`default`, or Calico's defaults when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpamConfig {
    pub strict_affinity: bool,
    pub auto_allocate_blocks: bool,
    /// 0 means no limit.
    pub max_blocks_per_host: usize,
}

impl From<&IPAMConfigurationSpec> for IpamConfig {
    fn from(spec: &IPAMConfigurationSpec) -> Self {
        IpamConfig {
            strict_affinity: spec.strict_affinity,
            auto_allocate_blocks: spec.auto_allocate_blocks,
            max_blocks_per_host: usize::try_from(spec.max_blocks_per_host).unwrap_or(0),
        }
    }
}

/// What one request reads before deciding anything.
pub(crate) struct Context {
    pub pools: Vec<Pool>,
    pub reservations: Reservations,
    pub config: IpamConfig,
    pub labels: BTreeMap<String, String>,
}

/// Calico's block allocator on a datastore.
#[derive(Clone)]
pub struct Ipam {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) resources: ResourceClient,
}

impl Ipam {
    /// An allocator over `store` (any backend).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let resources = ResourceClient::new(Arc::clone(&store));
        Ipam { store, resources }
    }

    /// The store this allocator writes to.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Every IPPool, parsed.
    pub async fn pools(&self) -> Result<Vec<Pool>> {
        let listed = self.resources.list(Kind::IPPool, None, "").await?;
        listed
            .items
            .iter()
            .filter_map(|r| match r {
                Resource::IPPool(p) => Some(Pool::from_resource(p)),
                _ => None,
            })
            .collect()
    }

    /// Every reserved CIDR of every IPReservation.
    pub async fn reservations(&self) -> Result<Reservations> {
        let listed = self.resources.list(Kind::IPReservation, None, "").await?;
        let mut nets = Vec::new();
        for r in &listed.items {
            if let Resource::IPReservation(res) = r {
                for c in &res.spec.reserved_cidrs {
                    let net: IpNet = match c.parse::<IpNet>() {
                        Ok(n) => n,
                        Err(_) => c.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                            Error::Invalid(format!(
                                "IPReservation {} has invalid CIDR {c}",
                                res.metadata.name
                            ))
                        })?,
                    };
                    nets.push(net.trunc());
                }
            }
        }
        Ok(Reservations(nets))
    }

    /// The effective IPAM configuration.
    pub async fn config(&self) -> Result<IpamConfig> {
        match self
            .resources
            .get(Kind::IPAMConfiguration, None, "default")
            .await
        {
            Ok(Resource::IPAMConfiguration(c)) => Ok(IpamConfig::from(&c.spec)),
            Ok(_) | Err(datastore::Error::NotFound { .. }) => {
                Ok(IpamConfig::from(&IPAMConfigurationSpec::default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `calicoctl ipam configure`: writes IPAMConfiguration `default` with `strictAffinity`
    /// (and `maxBlocksPerHost` when given), keeping its other fields.
    pub async fn configure(
        &self,
        strict_affinity: bool,
        max_blocks_per_host: Option<u32>,
    ) -> Result<IPAMConfiguration> {
        let current = match self
            .resources
            .get(Kind::IPAMConfiguration, None, "default")
            .await
        {
            Ok(Resource::IPAMConfiguration(c)) => Some(c),
            Ok(_) | Err(datastore::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let exists = current.is_some();
        let mut config = current.unwrap_or_else(|| IPAMConfiguration {
            metadata: ObjectMeta::named("default"),
            spec: IPAMConfigurationSpec::default(),
        });
        config.spec.strict_affinity = strict_affinity;
        if let Some(max) = max_blocks_per_host {
            config.spec.max_blocks_per_host = i32::try_from(max)
                .map_err(|_| Error::Invalid(format!("maxBlocksPerHost {max} is too large")))?;
        }
        let resource = Resource::IPAMConfiguration(config);
        let written = if exists {
            self.resources.update(resource).await?
        } else {
            self.resources.create(resource).await?
        };
        match written {
            Resource::IPAMConfiguration(c) => Ok(c),
            other => Err(Error::Invalid(format!(
                "unexpected {} written",
                other.kind()
            ))),
        }
    }

    /// The labels of Node `host` (none when the Node resource does not exist).
    pub(crate) async fn host_labels(&self, host: &str) -> Result<BTreeMap<String, String>> {
        match self.resources.get(Kind::Node, None, host).await {
            Ok(r) => Ok(r.metadata().labels.clone()),
            Err(datastore::Error::NotFound { .. }) => Ok(BTreeMap::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads everything a request on `host` decides with.
    pub(crate) async fn context(&self, host: &str) -> Result<Context> {
        Ok(Context {
            pools: self.pools().await?,
            reservations: self.reservations().await?,
            config: self.config().await?,
            labels: self.host_labels(host).await?,
        })
    }

    /// Every block of one family.
    pub async fn blocks(&self, version: IpVersion) -> Result<Vec<Versioned<AllocationBlock>>> {
        let listed = stored::list::<AllocationBlock>(self.store(), &block_prefix(version)).await?;
        Ok(listed
            .into_iter()
            .map(|(_, b)| b)
            .filter(|b| !b.value.deleted)
            .collect())
    }

    /// The CIDRs of every existing block of one family.
    pub(crate) async fn block_cidrs(&self, version: IpVersion) -> Result<HashSet<IpNet>> {
        let listed = self.store.list(&block_prefix(version)).await?;
        Ok(listed
            .items
            .iter()
            .filter_map(|kv| parse_block_key(&kv.key))
            .collect())
    }

    /// The block holding `ip`, if one exists.
    pub(crate) async fn block_containing(&self, ip: IpAddr) -> Result<Option<IpNet>> {
        let cidrs = self.block_cidrs(IpVersion::of(ip)).await?;
        Ok(cidrs.into_iter().find(|b| b.contains(&ip)))
    }

    /// Who holds `ip`; `None` when it is not allocated.
    pub async fn ip_info(&self, ip: IpAddr) -> Result<Option<AllocationInfo>> {
        let Some(cidr) = self.block_containing(ip).await? else {
            return Ok(None);
        };
        let Some(block) = stored::get::<AllocationBlock>(self.store(), &block_key(&cidr)).await?
        else {
            return Ok(None);
        };
        let block = block.value;
        Ok(block.allocation(ip).map(|attr| AllocationInfo {
            ip,
            block: block.cidr,
            block_affinity: block.affinity.clone(),
            handle: attr.handle_id.clone(),
            attributes: attr.secondary.clone(),
            sequence_number: block.sequence_of(ip),
        }))
    }

    /// The attributes and handle of an allocated address; `Error::NotAssigned` otherwise.
    pub async fn get_assignment_attributes(
        &self,
        ip: IpAddr,
    ) -> Result<(BTreeMap<String, String>, Option<String>)> {
        let info = self.ip_info(ip).await?.ok_or(Error::NotAssigned { ip })?;
        Ok((info.attributes, info.handle))
    }

    /// Every address held by `handle`; `Error::HandleNotFound` when it does not exist.
    pub async fn ips_by_handle(&self, handle: &str) -> Result<Vec<IpAddr>> {
        let stored = stored::get::<IpamHandle>(self.store(), &handle_key(handle))
            .await?
            .ok_or_else(|| Error::HandleNotFound {
                handle: handle.to_string(),
            })?;
        let mut ips = Vec::new();
        for cidr in stored.value.block.keys() {
            let Ok(cidr) = cidr.parse::<IpNet>() else {
                continue;
            };
            if let Some(b) = stored::get::<AllocationBlock>(self.store(), &block_key(&cidr)).await?
            {
                ips.extend(
                    b.value
                        .allocated()
                        .filter(|(_, a)| a.handle_id.as_deref() == Some(handle))
                        .map(|(ip, _)| ip),
                );
            }
        }
        Ok(ips)
    }
}
