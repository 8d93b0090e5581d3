//! The crate's single error type: updates the model refuses (so they never
//! poison it) and lookups that find nothing.

use api::Kind;

/// Why an update was rejected or a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The resource breaks one of Calico's validation rules.
    #[error(transparent)]
    Invalid(#[from] api::Error),
    /// A selector field does not parse.
    #[error("{kind}({name}): {field}: {source}")]
    Selector {
        /// Kind of the offending resource.
        kind: Kind,
        /// `name` or `namespace/name`.
        name: String,
        /// Field path such as `spec.ingress[0].source.selector`.
        field: String,
        /// The parse failure.
        #[source]
        source: selector::ParseError,
    },
    /// An address field does not parse.
    #[error("{kind}({name}): {field}: \"{value}\" is not an IP address or CIDR")]
    Address {
        /// Kind of the offending resource.
        kind: Kind,
        /// `name` or `namespace/name`.
        name: String,
        /// Field path such as `spec.ipNetworks[0]`.
        field: String,
        /// The text that failed to parse.
        value: String,
    },
    /// A policy names a tier the model does not know.
    #[error("{kind}({name}): spec.tier: tier \"{tier}\" does not exist")]
    UnknownTier {
        /// Kind of the policy.
        kind: Kind,
        /// `name` or `namespace/name`.
        name: String,
        /// The missing tier.
        tier: String,
    },
    /// A tier cannot be deleted while policies are in it.
    #[error("Tier({tier}): cannot delete: {count} policies still use it (e.g. {example})")]
    TierInUse {
        /// The tier.
        tier: String,
        /// How many policies are in it.
        count: usize,
        /// One of them.
        example: String,
    },
    /// Built-in tiers cannot be deleted.
    #[error("Tier({0}): built-in tiers cannot be deleted")]
    BuiltinTier(String),
    /// A namespaced kind arrived without a namespace.
    #[error("{kind}({name}): metadata.namespace: a namespace is required")]
    MissingNamespace {
        /// Kind of the resource.
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// A trace peer could not be resolved to an address.
    #[error("cannot resolve {0}")]
    Unresolved(String),
    /// A Kubernetes NetworkPolicy could not be converted.
    #[error("k8s NetworkPolicy {name}: {reason}")]
    K8sConversion {
        /// `namespace/name`.
        name: String,
        /// What was wrong.
        reason: String,
    },
}
