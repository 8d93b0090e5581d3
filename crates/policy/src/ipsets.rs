//! Rule IP sets: for every selector a rule uses (and every named port it
//! resolves), the reference-counted members (CIDRs, or CIDR and port) of the
//! items the selector matches, and a coalesced queue of changes for the
//! dataplane.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ipnet::IpNet;
use serde::Serialize;
use sha2::{Digest, Sha224};

use crate::selector_index::SelId;

/// A named port an IP set resolves: members are the endpoints' (IP, port).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NamedPortRef {
    /// IANA protocol number of the port (6, 17 or 132).
    pub protocol: u8,
    /// The port name as written in the rule.
    pub name: String,
}

/// Identity of one IP set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IpSetId {
    /// Stable ID: the selector's Calico unique ID (`s:...`) for plain sets;
    /// `n:` + base64url(SHA-224) of selector, protocol and name for named ports.
    pub id: String,
    /// Canonical text of the (rewritten) selector.
    pub selector: String,
    /// Set for named-port sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_port: Option<NamedPortRef>,
}

/// One member of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Member {
    /// An endpoint address (/32, /128) or a network set CIDR.
    pub net: IpNet,
    /// The resolved port number, for named-port sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A change to the IP sets since the last `take_deltas`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum IpSetDelta {
    /// A set came into use, with all its members.
    Created {
        /// The set.
        set: IpSetId,
        /// Its members, sorted.
        members: Vec<Member>,
    },
    /// Members of a set in use changed.
    Updated {
        /// The set.
        set: IpSetId,
        /// New members, sorted.
        added: Vec<Member>,
        /// Members gone, sorted.
        removed: Vec<Member>,
    },
    /// No rule uses the set any more.
    Deleted {
        /// The set.
        set: IpSetId,
    },
}

/// Internal key of a set: its selector and optional (protocol, port name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SetKey {
    pub(crate) sel: SelId,
    pub(crate) named: Option<(u8, String)>,
}

struct SetState {
    public: IpSetId,
    refs: u32,
    members: HashMap<Member, u32>,
    prefix_lens: BTreeMap<u8, u32>,
}

struct Pending {
    existed: bool,
    exists: bool,
    added: BTreeSet<Member>,
    removed: BTreeSet<Member>,
}

impl Pending {
    fn new(existed: bool) -> Pending {
        Pending {
            existed,
            exists: existed,
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    fn note_added(&mut self, m: Member) {
        if !self.removed.remove(&m) {
            self.added.insert(m);
        }
    }

    fn note_removed(&mut self, m: Member) {
        if !self.added.remove(&m) {
            self.removed.insert(m);
        }
    }
}

/// All IP sets in use. See the module comment.
#[derive(Default)]
pub(crate) struct IpSets {
    sets: HashMap<SetKey, SetState>,
    by_sel: HashMap<SelId, HashSet<SetKey>>,
    pending: BTreeMap<IpSetId, Pending>,
}

impl IpSets {
    /// Takes another reference on a set if it exists.
    pub(crate) fn acquire_existing(&mut self, key: &SetKey) -> bool {
        match self.sets.get_mut(key) {
            Some(state) => {
                state.refs += 1;
                true
            }
            None => false,
        }
    }

    /// Creates a set (one reference) with its initial members.
    pub(crate) fn create(
        &mut self,
        key: &SetKey,
        selector_text: &str,
        selector_id: &str,
        initial: impl IntoIterator<Item = Member>,
    ) {
        let public = public_id(selector_text, selector_id, key.named.as_ref());
        let pending = self
            .pending
            .entry(public.clone())
            .or_insert_with(|| Pending::new(false));
        pending.exists = true;
        let mut state = SetState {
            public,
            refs: 1,
            members: HashMap::new(),
            prefix_lens: BTreeMap::new(),
        };
        for m in initial {
            add_one(&mut state, pending, m);
        }
        self.sets.insert(key.clone(), state);
        self.by_sel.entry(key.sel).or_default().insert(key.clone());
    }

    /// Drops a reference, deleting the set with the last one.
    pub(crate) fn release(&mut self, key: &SetKey) {
        let Some(state) = self.sets.get_mut(key) else {
            return;
        };
        state.refs -= 1;
        if state.refs > 0 {
            return;
        }
        let Some(state) = self.sets.remove(key) else {
            return;
        };
        if let Some(keys) = self.by_sel.get_mut(&key.sel) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_sel.remove(&key.sel);
            }
        }
        let pending = self
            .pending
            .entry(state.public.clone())
            .or_insert_with(|| Pending::new(true));
        pending.exists = false;
        for m in state.members.keys() {
            pending.note_removed(*m);
        }
    }

    /// The sets built on a selector.
    pub(crate) fn keys_for(&self, sel: SelId) -> Vec<SetKey> {
        self.by_sel
            .get(&sel)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// An existing set and its pending change (started if none is pending yet).
    fn live_set(&mut self, key: &SetKey) -> Option<(&mut SetState, &mut Pending)> {
        let state = self.sets.get_mut(key)?;
        let pending = self
            .pending
            .entry(state.public.clone())
            .or_insert_with(|| Pending::new(true));
        Some((state, pending))
    }

    /// Adds one contribution of each member.
    pub(crate) fn add_members(&mut self, key: &SetKey, members: impl IntoIterator<Item = Member>) {
        let Some((state, pending)) = self.live_set(key) else {
            return;
        };
        for m in members {
            add_one(state, pending, m);
        }
    }

    /// Removes one contribution of each member.
    pub(crate) fn remove_members(
        &mut self,
        key: &SetKey,
        members: impl IntoIterator<Item = Member>,
    ) {
        let Some((state, pending)) = self.live_set(key) else {
            return;
        };
        for m in members {
            let Some(count) = state.members.get_mut(&m) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                state.members.remove(&m);
                let len = m.net.prefix_len();
                if let Some(n) = state.prefix_lens.get_mut(&len) {
                    *n -= 1;
                    if *n == 0 {
                        state.prefix_lens.remove(&len);
                    }
                }
                pending.note_removed(m);
            }
        }
    }

    /// Whether `ip` falls in one of the set's CIDRs (plain sets).
    pub(crate) fn contains_ip(&self, key: &SetKey, ip: IpAddr) -> bool {
        let Some(state) = self.sets.get(key) else {
            return false;
        };
        state.prefix_lens.keys().any(|&len| {
            IpNet::new(ip, len).is_ok_and(|net| {
                state.members.contains_key(&Member {
                    net: net.trunc(),
                    port: None,
                })
            })
        })
    }

    /// Whether (`ip`, `port`) is a member (named-port sets).
    pub(crate) fn contains_ip_port(&self, key: &SetKey, ip: IpAddr, port: u16) -> bool {
        self.sets.get(key).is_some_and(|state| {
            state.members.contains_key(&Member {
                net: IpNet::from(ip),
                port: Some(port),
            })
        })
    }

    /// The public identity of a set.
    pub(crate) fn public(&self, key: &SetKey) -> Option<&IpSetId> {
        self.sets.get(key).map(|s| &s.public)
    }

    /// Every set with its members, sorted by id.
    pub(crate) fn snapshot(&self) -> BTreeMap<IpSetId, BTreeSet<Member>> {
        self.sets
            .values()
            .map(|s| (s.public.clone(), s.members.keys().copied().collect()))
            .collect()
    }

    /// Drains the coalesced changes since the last call.
    pub(crate) fn take_deltas(&mut self) -> Vec<IpSetDelta> {
        let mut out = Vec::new();
        for (set, p) in std::mem::take(&mut self.pending) {
            match (p.existed, p.exists) {
                (false, true) => out.push(IpSetDelta::Created {
                    set,
                    members: p.added.into_iter().collect(),
                }),
                (true, false) => out.push(IpSetDelta::Deleted { set }),
                (true, true) if !p.added.is_empty() || !p.removed.is_empty() => {
                    out.push(IpSetDelta::Updated {
                        set,
                        added: p.added.into_iter().collect(),
                        removed: p.removed.into_iter().collect(),
                    })
                }
                _ => {}
            }
        }
        out
    }
}

fn add_one(state: &mut SetState, pending: &mut Pending, m: Member) {
    let count = state.members.entry(m).or_insert(0);
    *count += 1;
    if *count == 1 {
        *state.prefix_lens.entry(m.net.prefix_len()).or_insert(0) += 1;
        pending.note_added(m);
    }
}

fn public_id(selector_text: &str, selector_id: &str, named: Option<&(u8, String)>) -> IpSetId {
    match named {
        None => IpSetId {
            id: selector_id.to_owned(),
            selector: selector_text.to_owned(),
            named_port: None,
        },
        Some((protocol, name)) => {
            let mut hasher = Sha224::new();
            hasher.update(format!("n:{selector_text},{protocol},{name}").as_bytes());
            IpSetId {
                id: format!("n:{}", URL_SAFE_NO_PAD.encode(hasher.finalize())),
                selector: selector_text.to_owned(),
                named_port: Some(NamedPortRef {
                    protocol: *protocol,
                    name: name.clone(),
                }),
            }
        }
    }
}
