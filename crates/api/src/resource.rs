//! The `Resource` enum over every kind: strict JSON decoding with field paths, encoding
//! with `apiVersion`/`kind` first, and dispatch of validation and defaulting.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::bgp::{BGPConfiguration, BGPFilter, BGPPeer};
use crate::check::{self, Ctx};
use crate::cluster_info::ClusterInformation;
use crate::endpoint::{HostEndpoint, WorkloadEndpoint};
use crate::error::Error;
use crate::felix::FelixConfiguration;
use crate::ipam::{IPAMConfiguration, IPReservation};
use crate::ippool::IPPool;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::netset::{GlobalNetworkSet, NetworkSet};
use crate::node::Node;
use crate::policy::{GlobalNetworkPolicy, NetworkPolicy, Profile, Tier};
use crate::API_VERSION;

/// Any `projectcalico.org/v3` resource.
#[derive(Clone, Debug, PartialEq)]
pub enum Resource {
    IPPool(IPPool),
    IPReservation(IPReservation),
    IPAMConfiguration(IPAMConfiguration),
    BGPConfiguration(BGPConfiguration),
    BGPPeer(BGPPeer),
    BGPFilter(BGPFilter),
    Node(Node),
    Profile(Profile),
    NetworkPolicy(NetworkPolicy),
    GlobalNetworkPolicy(GlobalNetworkPolicy),
    Tier(Tier),
    NetworkSet(NetworkSet),
    GlobalNetworkSet(GlobalNetworkSet),
    HostEndpoint(HostEndpoint),
    WorkloadEndpoint(WorkloadEndpoint),
    /// Boxed: the spec has ~190 optional fields.
    FelixConfiguration(Box<FelixConfiguration>),
    ClusterInformation(ClusterInformation),
}

/// Runs `$e` with `$r` bound to the inner struct, whatever the variant.
macro_rules! each {
    ($value:expr, $r:ident => $e:expr) => {
        match $value {
            Resource::IPPool($r) => $e,
            Resource::IPReservation($r) => $e,
            Resource::IPAMConfiguration($r) => $e,
            Resource::BGPConfiguration($r) => $e,
            Resource::BGPPeer($r) => $e,
            Resource::BGPFilter($r) => $e,
            Resource::Node($r) => $e,
            Resource::Profile($r) => $e,
            Resource::NetworkPolicy($r) => $e,
            Resource::GlobalNetworkPolicy($r) => $e,
            Resource::Tier($r) => $e,
            Resource::NetworkSet($r) => $e,
            Resource::GlobalNetworkSet($r) => $e,
            Resource::HostEndpoint($r) => $e,
            Resource::WorkloadEndpoint($r) => $e,
            Resource::FelixConfiguration($r) => $e,
            Resource::ClusterInformation($r) => $e,
        }
    };
}

impl Resource {
    /// The resource's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Resource::IPPool(_) => Kind::IPPool,
            Resource::IPReservation(_) => Kind::IPReservation,
            Resource::IPAMConfiguration(_) => Kind::IPAMConfiguration,
            Resource::BGPConfiguration(_) => Kind::BGPConfiguration,
            Resource::BGPPeer(_) => Kind::BGPPeer,
            Resource::BGPFilter(_) => Kind::BGPFilter,
            Resource::Node(_) => Kind::Node,
            Resource::Profile(_) => Kind::Profile,
            Resource::NetworkPolicy(_) => Kind::NetworkPolicy,
            Resource::GlobalNetworkPolicy(_) => Kind::GlobalNetworkPolicy,
            Resource::Tier(_) => Kind::Tier,
            Resource::NetworkSet(_) => Kind::NetworkSet,
            Resource::GlobalNetworkSet(_) => Kind::GlobalNetworkSet,
            Resource::HostEndpoint(_) => Kind::HostEndpoint,
            Resource::WorkloadEndpoint(_) => Kind::WorkloadEndpoint,
            Resource::FelixConfiguration(_) => Kind::FelixConfiguration,
            Resource::ClusterInformation(_) => Kind::ClusterInformation,
        }
    }

    /// The object metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, r => &r.metadata)
    }

    /// The object metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, r => &mut r.metadata)
    }

    /// The full object as JSON: `apiVersion`, `kind`, `metadata`, `spec` (and `status`
    /// when set), in that order.
    pub fn to_json(&self) -> Value {
        let body = each!(self, r => serde_json::to_value(r));
        let mut out = Map::new();
        out.insert("apiVersion".into(), Value::from(API_VERSION));
        out.insert("kind".into(), Value::from(self.kind().as_str()));
        // Serialising these plain data types cannot fail: no maps with non-string keys.
        if let Ok(Value::Object(fields)) = body {
            out.extend(fields);
        }
        Value::Object(out)
    }

    /// Strictly decodes one object (unknown fields rejected), dispatching on `kind`.
    /// Errors are reported as document 1.
    pub fn from_json(v: Value) -> Result<Resource, Error> {
        from_json_document(v, 1, "")
    }

    /// Checks the resource on its own (names, addresses, selectors, enums, field
    /// combinations). Cross-resource rules such as pool overlap are separate.
    pub fn validate(&self) -> Result<(), Error> {
        let kind = self.kind();
        let meta = self.metadata();
        let ctx = Ctx::new(kind, meta);
        let ns = meta.namespace.as_deref().unwrap_or("");
        if kind.namespaced() {
            ctx.ensure(
                ns.is_empty() || check::is_dns_label(ns),
                "metadata.namespace",
                || format!("\"{ns}\" is not a valid namespace name"),
            )?;
        } else {
            ctx.ensure(ns.is_empty(), "metadata.namespace", || {
                format!("{kind} is not namespaced, but namespace \"{ns}\" was given")
            })?;
        }
        check::labels(&ctx, "metadata.labels", &meta.labels)?;
        match self {
            Resource::IPPool(r) => r.validate(),
            Resource::IPReservation(r) => r.validate(),
            Resource::IPAMConfiguration(r) => r.validate(),
            Resource::BGPConfiguration(r) => r.validate(),
            Resource::BGPPeer(r) => r.validate(),
            Resource::BGPFilter(r) => r.validate(),
            Resource::Node(r) => r.validate(),
            Resource::Profile(r) => r.validate(),
            Resource::NetworkPolicy(r) => r.validate(),
            Resource::GlobalNetworkPolicy(r) => r.validate(),
            Resource::Tier(r) => r.validate(),
            Resource::NetworkSet(r) => r.validate(),
            Resource::GlobalNetworkSet(r) => r.validate(),
            Resource::HostEndpoint(r) => r.validate(),
            Resource::WorkloadEndpoint(r) => r.validate(),
            Resource::FelixConfiguration(r) => r.validate(),
            Resource::ClusterInformation(r) => r.validate(),
        }
    }

    /// Fills the values Calico fills on create: pool block size by family, `Never`
    /// encapsulation, `all()` node selector, allowed uses, policy tier and types, tier
    /// default actions, and bare IPs in nets written as /32 or /128.
    pub fn apply_defaults(&mut self) {
        match self {
            Resource::IPPool(r) => r.apply_defaults(),
            Resource::IPReservation(r) => r.apply_defaults(),
            Resource::Profile(r) => r.apply_defaults(),
            Resource::NetworkPolicy(r) => r.apply_defaults(),
            Resource::GlobalNetworkPolicy(r) => r.apply_defaults(),
            Resource::Tier(r) => r.apply_defaults(),
            Resource::NetworkSet(r) => r.apply_defaults(),
            Resource::GlobalNetworkSet(r) => r.apply_defaults(),
            Resource::IPAMConfiguration(_)
            | Resource::BGPConfiguration(_)
            | Resource::BGPPeer(_)
            | Resource::BGPFilter(_)
            | Resource::Node(_)
            | Resource::HostEndpoint(_)
            | Resource::WorkloadEndpoint(_)
            | Resource::FelixConfiguration(_)
            | Resource::ClusterInformation(_) => {}
        }
    }
}

/// Decodes one object found in document `document`; `prefix` is prepended to error
/// paths (e.g. `items[2].` for list members).
pub(crate) fn from_json_document(
    v: Value,
    document: usize,
    prefix: &str,
) -> Result<Resource, Error> {
    let err = |path: &str, message: String| Error::Decode {
        document,
        path: if path.is_empty() {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{path}")
        },
        message,
    };
    let Value::Object(mut obj) = v else {
        return Err(err(
            "",
            format!("expected an object, found {}", type_name(&v)),
        ));
    };
    match obj.remove("apiVersion") {
        Some(Value::String(a)) if a == API_VERSION => {}
        Some(Value::String(a)) => {
            return Err(err(
                "apiVersion",
                format!("unsupported apiVersion \"{a}\", expected \"{API_VERSION}\""),
            ))
        }
        Some(other) => {
            return Err(err(
                "apiVersion",
                format!("expected a string, found {}", type_name(&other)),
            ))
        }
        None => {
            return Err(err(
                "apiVersion",
                format!("missing; expected \"{API_VERSION}\""),
            ))
        }
    }
    let kind = match obj.remove("kind") {
        Some(Value::String(k)) => Kind::from_kind_name(&k).ok_or_else(|| {
            err(
                "kind",
                format!("unknown kind \"{k}\", expected one of {}", kind_list()),
            )
        })?,
        Some(other) => {
            return Err(err(
                "kind",
                format!("expected a string, found {}", type_name(&other)),
            ))
        }
        None => {
            return Err(err(
                "kind",
                format!("missing; expected one of {}", kind_list()),
            ))
        }
    };
    let body = Value::Object(obj);
    let de = |v: Value| -> Result<Resource, (String, String)> {
        Ok(match kind {
            Kind::IPPool => Resource::IPPool(strict(v)?),
            Kind::IPReservation => Resource::IPReservation(strict(v)?),
            Kind::IPAMConfiguration => Resource::IPAMConfiguration(strict(v)?),
            Kind::BGPConfiguration => Resource::BGPConfiguration(strict(v)?),
            Kind::BGPPeer => Resource::BGPPeer(strict(v)?),
            Kind::BGPFilter => Resource::BGPFilter(strict(v)?),
            Kind::Node => Resource::Node(strict(v)?),
            Kind::Profile => Resource::Profile(strict(v)?),
            Kind::NetworkPolicy => Resource::NetworkPolicy(strict(v)?),
            Kind::GlobalNetworkPolicy => Resource::GlobalNetworkPolicy(strict(v)?),
            Kind::Tier => Resource::Tier(strict(v)?),
            Kind::NetworkSet => Resource::NetworkSet(strict(v)?),
            Kind::GlobalNetworkSet => Resource::GlobalNetworkSet(strict(v)?),
            Kind::HostEndpoint => Resource::HostEndpoint(strict(v)?),
            Kind::WorkloadEndpoint => Resource::WorkloadEndpoint(strict(v)?),
            Kind::FelixConfiguration => Resource::FelixConfiguration(Box::new(strict(v)?)),
            Kind::ClusterInformation => Resource::ClusterInformation(strict(v)?),
        })
    };
    de(body).map_err(|(path, message)| err(&path, message))
}

/// Deserialises with the failing field's path.
fn strict<T: DeserializeOwned>(v: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, tidy_message(&e.inner().to_string()))
    })
}

/// Rewrites serde's backtick quoting: the offending value in double quotes, the list of
/// accepted names bare (`unknown variant "X", expected one of A, B`).
pub(crate) fn tidy_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut seen = 0;
    for (i, part) in msg.split('`').enumerate() {
        if i % 2 == 1 {
            seen += 1;
            if seen == 1 {
                out.push('"');
                out.push_str(part);
                out.push('"');
            } else {
                out.push_str(part);
            }
        } else {
            out.push_str(part);
        }
    }
    out
}

fn kind_list() -> String {
    Kind::all()
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
