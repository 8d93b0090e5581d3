//! The syncer's output: typed, ordered, serde-serialisable updates (so a recorded stream
//! replays in a test), the keys they are about and how raw datastore entries become them.

use api::{Kind, Resource};
use datastore::{ResourceId, Revision, RESOURCE_PREFIX};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Every datastore key the syncer reads lives under this prefix (resources and IPAM).
pub const SYNC_PREFIX: &str = "/calico/";

/// Where IPAM blocks live (`ipv4/block/<cidr>` and `ipv6/block/<cidr>` below it).
const BLOCK_PREFIX: &str = "/calico/ipam/v2/assignment/";

/// The resource kinds the agent needs.
pub const SYNCED_KINDS: &[Kind] = &[
    Kind::WorkloadEndpoint,
    Kind::HostEndpoint,
    Kind::Profile,
    Kind::NetworkPolicy,
    Kind::GlobalNetworkPolicy,
    Kind::Tier,
    Kind::NetworkSet,
    Kind::GlobalNetworkSet,
    Kind::IPPool,
    Kind::Node,
    Kind::BGPPeer,
    Kind::BGPFilter,
    Kind::BGPConfiguration,
    Kind::FelixConfiguration,
    Kind::ClusterInformation,
];

/// What an update is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SyncKey {
    /// A `projectcalico.org/v3` resource.
    #[serde(rename_all = "camelCase")]
    Resource {
        #[serde(with = "kind_name")]
        kind: Kind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        name: String,
    },
    /// An IPAM allocation block (for routes to workloads).
    IpamBlock { cidr: IpNet },
}

impl SyncKey {
    /// The key's place in the datastore, if it is one the syncer delivers.
    pub fn parse(store_key: &str) -> Option<SyncKey> {
        if let Some(rest) = store_key.strip_prefix(RESOURCE_PREFIX) {
            let (plural, rest) = rest.split_once('/')?;
            let kind = *SYNCED_KINDS.iter().find(|k| k.plural() == plural)?;
            let (namespace, name) = match (kind.namespaced(), rest.split_once('/')) {
                (true, Some((ns, name))) => (Some(ns.to_string()), name),
                (false, None) => (None, rest),
                _ => return None,
            };
            return (!name.is_empty()).then(|| SyncKey::Resource {
                kind,
                namespace,
                name: name.to_string(),
            });
        }
        let rest = store_key.strip_prefix(BLOCK_PREFIX)?;
        let name = rest
            .strip_prefix("ipv4/block/")
            .or_else(|| rest.strip_prefix("ipv6/block/"))?;
        let (addr, prefix) = name.rsplit_once('-')?;
        let cidr = IpNet::new(addr.parse().ok()?, prefix.parse().ok()?).ok()?;
        Some(SyncKey::IpamBlock { cidr })
    }

    /// The datastore key this names.
    pub fn store_key(&self) -> String {
        match self {
            SyncKey::Resource {
                kind,
                namespace,
                name,
            } => ResourceId::new(*kind, namespace.as_deref(), name).key(),
            SyncKey::IpamBlock { cidr } => ipam::block_key(cidr),
        }
    }

    /// Decodes a stored value of this key (filling a resource's resourceVersion).
    pub fn decode(&self, value: &[u8], revision: Revision) -> Result<SyncValue, String> {
        match self {
            SyncKey::Resource { kind, .. } => {
                let json: serde_json::Value =
                    serde_json::from_slice(value).map_err(|e| e.to_string())?;
                let mut resource = Resource::from_json(json).map_err(|e| e.to_string())?;
                if resource.kind() != *kind {
                    return Err(format!("holds a {} instead of a {kind}", resource.kind()));
                }
                resource.metadata_mut().resource_version = Some(revision.to_string());
                Ok(SyncValue::Resource(Box::new(resource)))
            }
            SyncKey::IpamBlock { .. } => serde_json::from_slice(value)
                .map(|b| SyncValue::IpamBlock(Box::new(b)))
                .map_err(|e| e.to_string()),
        }
    }
}

/// The new value carried by a `Put`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "camelCase")]
pub enum SyncValue {
    #[serde(with = "resource_json")]
    Resource(Box<Resource>),
    IpamBlock(Box<ipam::AllocationBlock>),
}

/// Where the syncer is in its cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum SyncStatus {
    /// A (re-)list started; the differences it finds follow, then `InSync`.
    ResyncInProgress { reason: String },
    /// Everything up to `revision` has been delivered; watch updates follow.
    InSync { revision: Revision },
}

/// One item of the syncer's ordered stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum SyncUpdate {
    /// `key` now holds `value` (written at `revision`).
    Put {
        key: SyncKey,
        revision: Revision,
        value: SyncValue,
    },
    /// `key` no longer exists (as of `revision`).
    Delete { key: SyncKey, revision: Revision },
    /// A change of the syncer's state.
    Status { status: SyncStatus },
}

/// `Kind` as its `kind:` name.
mod kind_name {
    use api::Kind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Kind::from_kind_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown kind {name:?}")))
    }
}

/// A resource as its v3 JSON object.
mod resource_json {
    use api::Resource;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(resource: &Resource, s: S) -> Result<S::Ok, S::Error> {
        resource.to_json().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Resource>, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        Resource::from_json(json)
            .map(Box::new)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_round_trip() {
        for key in [
            "/calico/resources/v3/projectcalico.org/ippools/pool1",
            "/calico/resources/v3/projectcalico.org/networkpolicies/ns1/allow",
            "/calico/resources/v3/projectcalico.org/workloadendpoints/default/n-k8s-p-eth0",
            "/calico/resources/v3/projectcalico.org/clusterinformations/default",
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26",
            "/calico/ipam/v2/assignment/ipv6/block/fd00::-122",
        ] {
            let parsed = SyncKey::parse(key).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(parsed.store_key(), key);
        }
        for ignored in [
            "/calico/resources/v3/projectcalico.org/ipreservations/r1",
            "/calico/resources/v3/projectcalico.org/ipamconfigurations/default",
            "/calico/resources/v3/projectcalico.org/networkpolicies/no-namespace",
            "/calico/resources/v3/projectcalico.org/ippools/ns/too-deep",
            "/calico/ipam/v2/handle/k8s-pod-network.abc",
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26",
            "/calico/ipam/v2/assignment/ipv4/block/garbage",
            "/other/thing",
        ] {
            assert_eq!(SyncKey::parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn updates_serialise_and_replay() {
        let key = SyncKey::parse("/calico/resources/v3/projectcalico.org/ippools/p").unwrap();
        let stored = br#"{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p"},"spec":{"cidr":"10.1.0.0/16"}}"#;
        let value = key.decode(stored, 7).unwrap();
        let SyncValue::Resource(r) = &value else {
            panic!("not a resource")
        };
        assert_eq!(r.metadata().resource_version.as_deref(), Some("7"));
        let block_key = SyncKey::IpamBlock {
            cidr: "10.1.0.0/26".parse().unwrap(),
        };
        let block = block_key
            .decode(
                br#"{"cidr":"10.1.0.0/26","affinity":"host:n1","allocations":[null],"unallocated":[0]}"#,
                8,
            )
            .unwrap();
        let stream = vec![
            SyncUpdate::Status {
                status: SyncStatus::ResyncInProgress {
                    reason: "start".into(),
                },
            },
            SyncUpdate::Put {
                key: key.clone(),
                revision: 7,
                value,
            },
            SyncUpdate::Put {
                key: block_key.clone(),
                revision: 8,
                value: block,
            },
            SyncUpdate::Status {
                status: SyncStatus::InSync { revision: 8 },
            },
            SyncUpdate::Delete { key, revision: 9 },
        ];
        let text = serde_json::to_string(&stream).unwrap();
        assert!(
            text.contains(r#""op":"put","key":{"type":"resource","kind":"IPPool","name":"p"}"#),
            "{text}"
        );
        let replayed: Vec<SyncUpdate> = serde_json::from_str(&text).unwrap();
        assert_eq!(replayed, stream);
    }

    #[test]
    fn decode_rejects_wrong_kind_and_garbage() {
        let key = SyncKey::parse("/calico/resources/v3/projectcalico.org/ippools/p").unwrap();
        let tier = br#"{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"p"},"spec":{}}"#;
        assert!(key.decode(tier, 1).unwrap_err().contains("Tier"));
        assert!(key.decode(b"{", 1).is_err());
    }
}
