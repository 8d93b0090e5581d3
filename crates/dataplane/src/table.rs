//! The nftables shape of one table (`ip calico` or `ip6 calico`): chains with rules, named sets
//! and verdict maps. The renderer produces it, the reader parses it back from `nft -j`, and the
//! diff compares two of them.
//!
//! A rule's identity is its comment: `<hash>; <why>`, where the hash covers the rule body. The
//! reader cannot rebuild rule bodies from nft's JSON, but it reads comments exactly, so
//! "same comments in the same order" means "same rules".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::model::IpVersion;

/// Name of our table in both families.
pub const TABLE_NAME: &str = "calico";

/// One nftables table we own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `ip` or `ip6`.
    pub family: IpVersion,
    /// Chains by name.
    pub chains: BTreeMap<String, Chain>,
    /// Named sets by name.
    pub sets: BTreeMap<String, Set>,
    /// Verdict maps by name.
    pub maps: BTreeMap<String, VerdictMap>,
}

impl Table {
    /// An empty table of a family (what the reader reports when the table is absent).
    pub fn empty(family: IpVersion) -> Self {
        Table {
            family,
            chains: BTreeMap::new(),
            sets: BTreeMap::new(),
            maps: BTreeMap::new(),
        }
    }

    /// The nft family keyword.
    pub fn family_name(&self) -> &'static str {
        family_name(self.family)
    }

    /// Number of rules in all chains.
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(|c| c.rules.len()).sum()
    }
}

/// The nft family keyword of an IP version.
pub fn family_name(family: IpVersion) -> &'static str {
    match family {
        IpVersion::V4 => "ip",
        IpVersion::V6 => "ip6",
    }
}

/// A chain: a base chain when `hook` is set, else a regular chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// Hook of a base chain.
    pub hook: Option<BaseHook>,
    /// Rules in order.
    pub rules: Vec<NftRule>,
}

impl Chain {
    /// True when both chains hold the same rules (by comment) and hook.
    pub fn same_as(&self, other: &Chain) -> bool {
        self.hook == other.hook
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.comment == b.comment)
    }
}

/// Where a base chain hooks in. All our base chains have policy `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseHook {
    /// `filter` or `nat`.
    pub kind: ChainKind,
    /// Netfilter hook.
    pub hook: Hook,
    /// Priority (filter = 0, srcnat = 100).
    pub priority: i32,
}

/// Base chain type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// `type filter`.
    Filter,
    /// `type nat`.
    Nat,
    /// Any other type (read back only; forces a recreate).
    Unsupported,
}

impl ChainKind {
    /// nft keyword.
    pub fn name(self) -> &'static str {
        match self {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Unsupported => "unsupported",
        }
    }
}

/// Netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
    /// Any other hook (read back only; forces a recreate).
    Unsupported,
}

impl Hook {
    /// nft keyword.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Unsupported => "unsupported",
        }
    }
}

/// One rule: the body (matches, statements, verdict) and its identifying comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftRule {
    /// Rule text without the comment, e.g. `meta l4proto tcp th dport 80 counter accept`.
    /// Empty when read back from the kernel.
    pub body: String,
    /// `<hash>; <why>`.
    pub comment: String,
}

impl NftRule {
    /// A rule whose comment carries a hash of its body and the reason it exists.
    pub fn new(body: impl Into<String>, why: &str) -> Self {
        let body = body.into();
        let comment = format!("{:016x}; {}", fnv1a(body.as_bytes()), sanitize_comment(why));
        let comment = truncate_on_char(&comment, MAX_COMMENT_BYTES).to_owned();
        NftRule { body, comment }
    }
}

/// The kernel keeps at most 128 bytes of comment (user data).
const MAX_COMMENT_BYTES: usize = 127;

/// Keep comments to characters nft accepts inside quotes without escaping.
fn sanitize_comment(why: &str) -> String {
    why.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " @%+=:,./-_<>()#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn truncate_on_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// 64-bit FNV-1a: a stable, dependency-free hash for drift detection (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A named set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// Element type.
    pub key: SetKey,
    /// Canonical element texts: `10.0.0.1/32`, `10.65.0.0/26`, `10.65.0.5 . tcp . 8080`.
    pub elements: BTreeSet<String>,
}

/// Element type of a set. Address sets always carry the `interval` flag; named-port sets
/// (address, protocol, port) never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKey {
    /// `type ipv4_addr; flags interval`.
    Ipv4Net,
    /// `type ipv6_addr; flags interval`.
    Ipv6Net,
    /// `type ipv4_addr . inet_proto . inet_service;`.
    Ipv4ProtoPort,
    /// `type ipv6_addr . inet_proto . inet_service;`.
    Ipv6ProtoPort,
    /// Any other declaration, found only in a table read back from the kernel; the diff
    /// recreates the table when it sees one.
    Unsupported,
}

impl SetKey {
    /// The set's declaration inside `{ }`.
    pub fn declaration(self) -> &'static str {
        match self {
            SetKey::Ipv4Net => "type ipv4_addr; flags interval;",
            SetKey::Ipv6Net => "type ipv6_addr; flags interval;",
            SetKey::Ipv4ProtoPort => "type ipv4_addr . inet_proto . inet_service;",
            SetKey::Ipv6ProtoPort => "type ipv6_addr . inet_proto . inet_service;",
            SetKey::Unsupported => "",
        }
    }
}

/// An interface-name verdict map (`type ifname : verdict`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerdictMap {
    /// Interface name -> verdict.
    pub elements: BTreeMap<String, Verdict>,
}

/// A map element's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `jump <chain>`.
    Jump(String),
    /// `goto <chain>`.
    Goto(String),
}

impl Verdict {
    /// Target chain.
    pub fn target(&self) -> &str {
        match self {
            Verdict::Jump(t) | Verdict::Goto(t) => t,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Jump(t) => write!(f, "jump {t}"),
            Verdict::Goto(t) => write!(f, "goto {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_carries_hash_and_sanitized_reason() {
        let r = NftRule::new("counter accept", "policy \"a\"; rule 1");
        assert!(r.comment.ends_with("; policy _a__ rule 1"), "{}", r.comment);
        assert_eq!(r.comment.len(), 16 + 2 + "policy _a__ rule 1".len());
        let other = NftRule::new("counter drop", "policy \"a\"; rule 1");
        assert_ne!(r.comment, other.comment);
    }

    #[test]
    fn long_comment_is_capped() {
        let r = NftRule::new("accept", &"x".repeat(500));
        assert_eq!(r.comment.len(), MAX_COMMENT_BYTES);
    }
}
