//! Pure renderer: [`DesiredState`] + IP version -> [`Table`] (no I/O).
//!
//! Layout (see DESIGN.md): base chains `filter-FORWARD|INPUT|OUTPUT` and `nat-POSTROUTING`;
//! dispatch chains that look the interface up in a verdict map and `goto` the endpoint chain;
//! per-endpoint chains (conntrack first, then tiers, profiles, final drop); per-policy and
//! per-profile chains that set the ACCEPT or PASS mark and return, or drop. Rule matches are
//! in [`matches`].
//!
//! [`Pieces`] renders one part at a time (the base, one endpoint, one policy or profile
//! chain, one set), so a caller that keeps a table up to date re-renders only what changed;
//! [`render`] composes the whole table from the same pieces.

mod matches;

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Error;
use crate::model::{
    Action, DesiredState, EndpointPolicy, EndpointToHostAction, FailsafePort, HostEndpoint,
    IpVersion, NamedPortMember, NodeConfig, Policy, Profile, Rule, TierDefault, WorkloadEndpoint,
};
use crate::names::{self, mark, ACCEPT_MARK, PASS_MARK};
use crate::table::{
    BaseHook, Chain, ChainKind, Hook, NftRule, Set, SetKey, Table, Verdict, VerdictMap,
};
use matches::{protocol_name, without_contained};

/// Render the table of one IP version.
pub fn render(state: &DesiredState, family: IpVersion) -> Result<Table, Error> {
    let known = |kind: SetKind, id: &str| match kind {
        SetKind::Selector => state.ip_sets.contains_key(id),
        SetKind::NamedPort => state.named_port_sets.contains_key(id),
    };
    let pieces = Pieces::new(&state.config, family)?.checking_sets(&known);
    let mut table = pieces.base();
    for (id, members) in &state.ip_sets {
        let (name, set) = pieces.selector_set(id, members);
        table.sets.insert(name, set);
    }
    for (id, members) in &state.named_port_sets {
        let (name, set) = pieces.named_port_set(id, members);
        table.sets.insert(name, set);
    }
    let workloads = state.workloads.iter().map(|w| pieces.workload(w));
    let heps = state.host_endpoints.iter().map(|h| pieces.host_endpoint(h));
    let endpoints = state.workloads.iter().map(|w| (&w.ingress, &w.egress));
    let endpoints = endpoints.chain(state.host_endpoints.iter().map(|h| (&h.ingress, &h.egress)));
    for (chains, (ingress, egress)) in workloads.chain(heps).zip(endpoints) {
        let chains = chains?;
        for (map, iface, verdict) in &chains.map_elements {
            let elements = &mut table
                .maps
                .get_mut(*map)
                .expect("the base has every map")
                .elements;
            if elements.insert(iface.clone(), verdict.clone()).is_some() {
                return Err(Error::DuplicateInterface(iface.clone()));
            }
        }
        table.chains.extend(chains.chains);
        for (policy, dir) in [(ingress, Direction::Ingress), (egress, Direction::Egress)] {
            for id in policy.tiers.iter().flat_map(|t| &t.policies) {
                if !table.chains.contains_key(&names::policy_chain(id, dir)) {
                    let p = state
                        .policies
                        .get(id)
                        .ok_or_else(|| Error::UnknownPolicy(id.clone()))?;
                    let (name, chain) = pieces.policy_chain(id, p, dir)?;
                    table.chains.insert(name, chain);
                }
            }
            for name in &policy.profiles {
                if !table.chains.contains_key(&names::profile_chain(name, dir)) {
                    let p = state
                        .profiles
                        .get(name)
                        .ok_or_else(|| Error::UnknownProfile(name.clone()))?;
                    let (name, chain) = pieces.profile_chain(name, p, dir)?;
                    table.chains.insert(name, chain);
                }
            }
        }
    }
    Ok(table)
}

/// Interface names go into nft text inside quotes: refuse anything that could break out of
/// them (Linux interface names are at most 15 bytes anyway).
fn check_interface(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInterfaceName(name.to_owned()))
    }
}

/// The node settings that go into nft text: the workload prefix and the log prefix.
fn check_config(cfg: &NodeConfig) -> Result<(), Error> {
    check_interface(&cfg.workload_iface_prefix)?;
    let prefix_ok = cfg.log_prefix.len() <= 60
        && cfg
            .log_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.-:".contains(c));
    if !prefix_ok {
        return Err(Error::InvalidLogPrefix(cfg.log_prefix.clone()));
    }
    Ok(())
}

/// Which side of an endpoint a chain polices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Traffic towards the endpoint (for a host endpoint: arriving at the host through it).
    Ingress,
    /// Traffic sent by the endpoint (for a host endpoint: the host sending through it).
    Egress,
}

impl Direction {
    /// Both directions, ingress first.
    pub const BOTH: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The two chains of one endpoint and the verdict-map elements that dispatch to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointChains {
    /// Chains by name (ingress, egress).
    pub chains: [(String, Chain); 2],
    /// `(map, interface, verdict)` for both directions.
    pub map_elements: [(&'static str, String, Verdict); 2],
}

/// The two kinds of named set a rule can reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// A selector set (addresses).
    Selector,
    /// A named-port set (address, protocol, port).
    NamedPort,
}

/// Says whether the set of a kind and id exists.
pub type KnownSet<'a> = dyn Fn(SetKind, &str) -> bool + 'a;

/// Renders one table's parts for a node configuration and IP version.
#[derive(Clone, Copy)]
pub struct Pieces<'a> {
    config: &'a NodeConfig,
    family: IpVersion,
    /// Says whether a set exists; rules naming one that does not are errors.
    known_set: Option<&'a KnownSet<'a>>,
}

impl<'a> Pieces<'a> {
    /// A renderer for `config`; fails when the configuration cannot go into nft text.
    pub fn new(config: &'a NodeConfig, family: IpVersion) -> Result<Self, Error> {
        check_config(config)?;
        Ok(Pieces {
            config,
            family,
            known_set: None,
        })
    }

    /// Also refuse rules naming a set for which `known` is false.
    pub fn checking_sets(self, known: &'a KnownSet<'a>) -> Self {
        Pieces {
            known_set: Some(known),
            ..self
        }
    }

    /// The parts every table has: base, dispatch and helper chains, the pool sets and the
    /// (empty) verdict maps.
    pub fn base(&self) -> Table {
        let mut table = Table::empty(self.family);
        let pools = &self.config.ip_pools;
        let all = self.of_family(pools.iter().map(|p| &p.cidr));
        let masq = self.of_family(pools.iter().filter(|p| p.nat_outgoing).map(|p| &p.cidr));
        table
            .sets
            .insert(names::ALL_POOLS_SET.to_owned(), self.set(all));
        table
            .sets
            .insert(names::MASQ_POOLS_SET.to_owned(), self.set(masq));
        for (name, chain) in self.static_chains() {
            table.chains.insert(name.to_owned(), chain);
        }
        for map in [
            names::FROM_WL_MAP,
            names::TO_WL_MAP,
            names::FROM_HEP_MAP,
            names::TO_HEP_MAP,
        ] {
            table.maps.insert(map.to_owned(), VerdictMap::default());
        }
        table
    }

    /// The set of selector `id` holding the members of this family.
    pub fn selector_set<'n>(
        &self,
        id: &str,
        members: impl IntoIterator<Item = &'n IpNet>,
    ) -> (String, Set) {
        (names::selector_set(id), self.set(self.of_family(members)))
    }

    /// The set of named port `id` holding the members of this family
    /// (`address . protocol . port`).
    pub fn named_port_set<'m>(
        &self,
        id: &str,
        members: impl IntoIterator<Item = &'m NamedPortMember>,
    ) -> (String, Set) {
        let (key, in_family): (_, fn(&IpAddr) -> bool) = match self.family {
            IpVersion::V4 => (SetKey::Ipv4ProtoPort, IpAddr::is_ipv4),
            IpVersion::V6 => (SetKey::Ipv6ProtoPort, IpAddr::is_ipv6),
        };
        let elements = members
            .into_iter()
            .filter(|m| in_family(&m.addr))
            .map(|m| format!("{} . {} . {}", m.addr, protocol_name(m.protocol), m.port))
            .collect();
        (names::named_port_set(id), Set { key, elements })
    }

    /// A workload's chains (`cali-tw-*` ingress, `cali-fw-*` egress) and map elements.
    pub fn workload(&self, wl: &WorkloadEndpoint) -> Result<EndpointChains, Error> {
        check_interface(&wl.interface)?;
        let tw = names::to_workload_chain(&wl.interface);
        let fw = names::from_workload_chain(&wl.interface);
        let who = format!("workload {}", wl.interface);
        let ingress = self.endpoint_rules(&who, &wl.ingress, Direction::Ingress, None);
        let egress = self.endpoint_rules(&who, &wl.egress, Direction::Egress, None);
        Ok(EndpointChains {
            map_elements: [
                (
                    names::TO_WL_MAP,
                    wl.interface.clone(),
                    Verdict::Goto(tw.clone()),
                ),
                (
                    names::FROM_WL_MAP,
                    wl.interface.clone(),
                    Verdict::Goto(fw.clone()),
                ),
            ],
            chains: [(tw, chain(ingress)), (fw, chain(egress))],
        })
    }

    /// A host endpoint's chains (`cali-fh-*` ingress, `cali-th-*` egress) and map elements.
    pub fn host_endpoint(&self, hep: &HostEndpoint) -> Result<EndpointChains, Error> {
        check_interface(&hep.interface)?;
        let fh = names::from_host_endpoint_chain(&hep.interface);
        let th = names::to_host_endpoint_chain(&hep.interface);
        let who = format!("host endpoint {}", hep.interface);
        let failsafe = Some(names::FAILSAFE_IN);
        let ingress = self.endpoint_rules(&who, &hep.ingress, Direction::Ingress, failsafe);
        let failsafe = Some(names::FAILSAFE_OUT);
        let egress = self.endpoint_rules(&who, &hep.egress, Direction::Egress, failsafe);
        Ok(EndpointChains {
            map_elements: [
                (
                    names::FROM_HEP_MAP,
                    hep.interface.clone(),
                    Verdict::Goto(fh.clone()),
                ),
                (
                    names::TO_HEP_MAP,
                    hep.interface.clone(),
                    Verdict::Goto(th.clone()),
                ),
            ],
            chains: [(fh, chain(ingress)), (th, chain(egress))],
        })
    }

    /// The chain of policy `id` for one direction.
    pub fn policy_chain(
        &self,
        id: &str,
        policy: &Policy,
        dir: Direction,
    ) -> Result<(String, Chain), Error> {
        let rules = match dir {
            Direction::Ingress => &policy.ingress,
            Direction::Egress => &policy.egress,
        };
        let why = format!("tier {} policy {id} {}", policy.tier, dir.name());
        let body = self.rule_chain(&why, rules, dir, true)?;
        Ok((names::policy_chain(id, dir), chain(body)))
    }

    /// The chain of profile `name` for one direction.
    pub fn profile_chain(
        &self,
        name: &str,
        profile: &Profile,
        dir: Direction,
    ) -> Result<(String, Chain), Error> {
        let rules = match dir {
            Direction::Ingress => &profile.ingress,
            Direction::Egress => &profile.egress,
        };
        let why = format!("profile {name} {}", dir.name());
        let body = self.rule_chain(&why, rules, dir, false)?;
        Ok((names::profile_chain(name, dir), chain(body)))
    }

    fn addr_keyword(&self) -> &'static str {
        match self.family {
            IpVersion::V4 => "ip",
            IpVersion::V6 => "ip6",
        }
    }

    fn of_family<'n>(&self, nets: impl IntoIterator<Item = &'n IpNet>) -> Vec<IpNet> {
        let nets: Vec<IpNet> = nets
            .into_iter()
            .filter(|n| {
                matches!(
                    (n, self.family),
                    (IpNet::V4(_), IpVersion::V4) | (IpNet::V6(_), IpVersion::V6)
                )
            })
            .copied()
            .collect();
        without_contained(nets)
    }

    fn set(&self, nets: Vec<IpNet>) -> Set {
        let elements = nets
            .iter()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>();
        let key = match self.family {
            IpVersion::V4 => SetKey::Ipv4Net,
            IpVersion::V6 => SetKey::Ipv6Net,
        };
        Set { key, elements }
    }

    fn static_chains(&self) -> Vec<(&'static str, Chain)> {
        let cfg = self.config;
        let mut out = Vec::new();
        let wl = format!("\"{}*\"", cfg.workload_iface_prefix);
        let clear = mark(!(ACCEPT_MARK | PASS_MARK));
        let accepted = format!("meta mark & {0} == {0}", mark(ACCEPT_MARK));
        let filter = |hook| {
            Some(BaseHook {
                kind: ChainKind::Filter,
                hook,
                priority: 0,
            })
        };

        push(
            &mut out,
            names::BASE_FORWARD,
            filter(Hook::Forward),
            vec![
                NftRule::new(
                    format!("meta mark set meta mark & {clear}"),
                    "forward: clear accept and pass marks",
                ),
                NftRule::new(
                    format!("iifname {wl} jump {}", names::FROM_WL_DISPATCH),
                    "forward: egress policy of the sending workload",
                ),
                NftRule::new(
                    format!("oifname {wl} jump {}", names::TO_WL_DISPATCH),
                    "forward: ingress policy of the receiving workload",
                ),
                NftRule::new(
                    format!("{accepted} counter accept"),
                    "forward: policy explicitly accepted packet",
                ),
            ],
        );
        push(
            &mut out,
            names::BASE_INPUT,
            filter(Hook::Input),
            vec![
                NftRule::new(
                    format!("iifname {wl} jump {}", names::WL_TO_HOST),
                    "input: workload to host traffic",
                ),
                NftRule::new(
                    format!("jump {}", names::FROM_HEP_DISPATCH),
                    "input: ingress policy of host endpoints",
                ),
                NftRule::new(
                    format!("{accepted} counter accept"),
                    "input: policy explicitly accepted packet",
                ),
            ],
        );
        push(
            &mut out,
            names::BASE_OUTPUT,
            filter(Hook::Output),
            vec![
                NftRule::new(
                    format!("oifname {wl} return"),
                    "output: host to local workload is not policed",
                ),
                NftRule::new(
                    format!("jump {}", names::TO_HEP_DISPATCH),
                    "output: egress policy of host endpoints",
                ),
                NftRule::new(
                    format!("{accepted} counter accept"),
                    "output: policy explicitly accepted packet",
                ),
            ],
        );
        push(
            &mut out,
            names::BASE_POSTROUTING,
            Some(BaseHook {
                kind: ChainKind::Nat,
                hook: Hook::Postrouting,
                priority: 110,
            }),
            vec![NftRule::new(
                format!("jump {}", names::NAT_OUTGOING),
                "postrouting: nat outgoing",
            )],
        );

        let dispatch = |dir: &str, map: &str, unknown_drop: bool, why: &str| {
            let mut rules = vec![NftRule::new(format!("{dir} vmap @{map}"), why)];
            if unknown_drop {
                rules.push(NftRule::new(
                    format!("{dir} {wl} counter drop"),
                    "unknown workload interface",
                ));
            }
            rules
        };
        let from_wl = dispatch(
            "iifname",
            names::FROM_WL_MAP,
            true,
            "dispatch from workload",
        );
        let to_wl = dispatch("oifname", names::TO_WL_MAP, true, "dispatch to workload");
        let from_hep = dispatch(
            "iifname",
            names::FROM_HEP_MAP,
            false,
            "dispatch from host endpoint",
        );
        let to_hep = dispatch(
            "oifname",
            names::TO_HEP_MAP,
            false,
            "dispatch to host endpoint",
        );
        push(&mut out, names::FROM_WL_DISPATCH, None, from_wl);
        push(&mut out, names::TO_WL_DISPATCH, None, to_wl);
        push(&mut out, names::FROM_HEP_DISPATCH, None, from_hep);
        push(&mut out, names::TO_HEP_DISPATCH, None, to_hep);

        let mut to_host = Vec::new();
        if self.family == IpVersion::V6 {
            to_host.push(NftRule::new(
                "icmpv6 type { 130, 131, 132, 133, 135, 136 } counter accept",
                "workload to host: ICMPv6 neighbour discovery and MLD",
            ));
        }
        to_host.push(NftRule::new(
            format!("jump {}", names::FROM_WL_DISPATCH),
            "workload to host: egress policy of the workload",
        ));
        let (verdict, action) = match cfg.endpoint_to_host_action {
            EndpointToHostAction::Drop => ("counter drop", "Drop"),
            EndpointToHostAction::Accept => ("counter accept", "Accept"),
            EndpointToHostAction::Return => ("return", "Return"),
        };
        to_host.push(NftRule::new(
            verdict,
            &format!("workload to host: DefaultEndpointToHostAction {action}"),
        ));
        push(&mut out, names::WL_TO_HOST, None, to_host);

        let failsafe = |ports: &[FailsafePort], dir: &str| {
            ports
                .iter()
                .map(|p| {
                    let proto = protocol_name(p.protocol);
                    NftRule::new(
                        format!("meta l4proto {proto} th dport {} counter accept", p.port),
                        &format!("failsafe {dir} {proto}:{}", p.port),
                    )
                })
                .collect::<Vec<_>>()
        };
        let fin = failsafe(&cfg.failsafe_inbound, "inbound");
        let fout = failsafe(&cfg.failsafe_outbound, "outbound");
        push(&mut out, names::FAILSAFE_IN, None, fin);
        push(&mut out, names::FAILSAFE_OUT, None, fout);

        let mut nat = Vec::new();
        let pools = &cfg.ip_pools;
        if !self
            .of_family(pools.iter().filter(|p| p.nat_outgoing).map(|p| &p.cidr))
            .is_empty()
        {
            let a = self.addr_keyword();
            nat.push(NftRule::new(
                format!(
                    "{a} saddr @{} {a} daddr != @{} counter masquerade fully-random",
                    names::MASQ_POOLS_SET,
                    names::ALL_POOLS_SET
                ),
                "nat outgoing: pool with natOutgoing to outside all pools",
            ));
        }
        push(&mut out, names::NAT_OUTGOING, None, nat);
        out
    }

    /// Rules of one endpoint chain.
    fn endpoint_rules(
        &self,
        who: &str,
        policy: &EndpointPolicy,
        dir: Direction,
        failsafe: Option<&str>,
    ) -> Vec<NftRule> {
        let d = dir.name();
        let accepted = format!("meta mark & {0} == {0}", mark(ACCEPT_MARK));
        let not_passed = format!("meta mark & {} == {}", mark(PASS_MARK), mark(0));
        let mut rules = vec![
            NftRule::new(
                "ct state established,related counter accept",
                &format!("{who} {d}: accept established and related"),
            ),
            NftRule::new(
                "ct state invalid counter drop",
                &format!("{who} {d}: drop invalid"),
            ),
        ];
        if let Some(chain) = failsafe {
            rules.push(NftRule::new(
                format!("jump {chain}"),
                &format!("{who} {d}: failsafe ports"),
            ));
        }
        rules.push(NftRule::new(
            format!(
                "meta mark set meta mark & {}",
                mark(!(ACCEPT_MARK | PASS_MARK))
            ),
            &format!("{who} {d}: clear accept and pass marks"),
        ));
        if failsafe.is_none() && dir == Direction::Egress && self.family == IpVersion::V4 {
            rules.push(NftRule::new(
                "meta l4proto udp th dport 4789 counter drop",
                &format!("{who} {d}: drop VXLAN from workload"),
            ));
            rules.push(NftRule::new(
                "meta l4proto 4 counter drop",
                &format!("{who} {d}: drop IPIP from workload"),
            ));
        }
        for tier in &policy.tiers {
            let t = &tier.name;
            rules.push(NftRule::new(
                format!("meta mark set meta mark & {}", mark(!PASS_MARK)),
                &format!("{who} {d}: start of tier {t}"),
            ));
            for id in &tier.policies {
                let chain = names::policy_chain(id, dir);
                rules.push(NftRule::new(
                    format!("{not_passed} jump {chain}"),
                    &format!("{who} {d}: tier {t} policy {id}"),
                ));
                rules.push(NftRule::new(
                    format!("{accepted} return"),
                    &format!("{who} {d}: tier {t} policy {id} accepted"),
                ));
            }
            if tier.default_action == TierDefault::Deny {
                rules.push(NftRule::new(
                    format!("{not_passed} counter drop"),
                    &format!("{who} {d}: end of tier {t}, drop if no policy passed"),
                ));
            }
        }
        for name in &policy.profiles {
            let chain = names::profile_chain(name, dir);
            rules.push(NftRule::new(
                format!("jump {chain}"),
                &format!("{who} {d}: profile {name}"),
            ));
            rules.push(NftRule::new(
                format!("{accepted} return"),
                &format!("{who} {d}: profile {name} accepted"),
            ));
        }
        rules.push(NftRule::new(
            "counter drop",
            &format!("{who} {d}: drop if no profile matched"),
        ));
        rules
    }

    /// The rules of a policy or profile chain. `pass_allowed` is false for profiles, where
    /// Pass behaves as "no match" and so renders nothing.
    fn rule_chain(
        &self,
        why: &str,
        rules: &[Rule],
        dir: Direction,
        pass_allowed: bool,
    ) -> Result<Vec<NftRule>, Error> {
        let mut out = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            if rule.action == Action::Pass && !pass_allowed {
                continue;
            }
            let context = || format!("{why} rule {index}");
            let variants = self
                .rule_matches(rule)
                .map_err(|reason| Error::InvalidRule {
                    context: context(),
                    reason,
                })?;
            let action = match rule.action {
                Action::Allow => format!(
                    "counter meta mark set meta mark | {} return",
                    mark(ACCEPT_MARK)
                ),
                Action::Pass => format!(
                    "counter meta mark set meta mark | {} return",
                    mark(PASS_MARK)
                ),
                Action::Deny => "counter drop".to_owned(),
                Action::Log => {
                    let cfg = self.config;
                    let group = match dir {
                        Direction::Ingress => cfg.log_group,
                        Direction::Egress => cfg.log_group.wrapping_add(1),
                    };
                    format!("log prefix \"{}: \" group {group}", cfg.log_prefix)
                }
            };
            for matches in variants {
                let body = if matches.is_empty() {
                    action.clone()
                } else {
                    format!("{} {action}", matches.join(" "))
                };
                out.push(NftRule::new(body, &context()));
            }
        }
        if out.is_empty() {
            out.push(NftRule::new("counter", &format!("{why}: no rules")));
        }
        Ok(out)
    }
}

fn chain(rules: Vec<NftRule>) -> Chain {
    Chain { hook: None, rules }
}

fn push(
    out: &mut Vec<(&'static str, Chain)>,
    name: &'static str,
    hook: Option<BaseHook>,
    rules: Vec<NftRule>,
) {
    out.push((name, Chain { hook, rules }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_target_and_set_reference_exists() {
        let input = include_str!("../tests/golden/02-input-tiers-and-rules.json");
        let state: DesiredState = serde_json::from_str(input).unwrap();
        for family in [IpVersion::V4, IpVersion::V6] {
            let t = render(&state, family).unwrap();
            for chain in t.chains.values() {
                for rule in &chain.rules {
                    let words: Vec<&str> = rule.body.split_whitespace().collect();
                    for w in words.windows(2) {
                        if w[0] == "jump" || w[0] == "goto" {
                            assert!(t.chains.contains_key(w[1]), "{}", rule.body);
                        }
                    }
                    for w in &words {
                        if let Some(set) = w.strip_prefix('@') {
                            assert!(t.sets.contains_key(set) || t.maps.contains_key(set), "{w}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn named_ports_render_one_rule_per_alternative_and_family_sets() {
        let input = include_str!("../tests/golden/04-input-named-ports.json");
        let mut state: DesiredState = serde_json::from_str(input).unwrap();
        let v4 = render(&state, IpVersion::V4).unwrap();
        let v6 = render(&state, IpVersion::V6).unwrap();
        let elements = |t: &Table, set: &str| -> Vec<String> {
            t.sets[set].elements.iter().cloned().collect()
        };
        assert_eq!(v4.sets["n_web-http"].key, SetKey::Ipv4ProtoPort);
        assert_eq!(v6.sets["n_web-http"].key, SetKey::Ipv6ProtoPort);
        assert_eq!(
            elements(&v4, "n_web-http"),
            ["10.65.1.2 . tcp . 8080", "10.65.1.3 . tcp . 80"]
        );
        assert_eq!(elements(&v6, "n_web-http"), ["fd00:65::1:2 . tcp . 8080"]);
        assert_eq!(elements(&v6, "n_dns"), ["fd00:65::2:2 . sctp . 53"]);
        let bodies = |t: &Table, chain: &str| -> Vec<String> {
            t.chains[chain]
                .rules
                .iter()
                .map(|r| r.body.clone())
                .collect()
        };
        let allow = " counter meta mark set meta mark | 0x00010000 return";
        let tuple = "ip6 daddr . meta l4proto . th dport";
        let clients = "meta l4proto tcp ip6 saddr @s_clients";
        assert_eq!(
            bodies(&v6, "cali-pi-np/demo/allow-named"),
            [
                format!("{tuple} @n_web-http{allow}"),
                format!("{clients} th dport 443{allow}"),
                format!("{clients} {tuple} @n_web-http{allow}"),
                format!("{clients} {tuple} @n_web-admin{allow}"),
                format!("{tuple} != @n_web-admin counter drop"),
            ]
        );
        assert_eq!(
            bodies(&v4, "cali-po-np/demo/egress-named"),
            [format!(
                "meta l4proto udp ip saddr . meta l4proto . th sport @n_dns \
                 ip daddr . meta l4proto . th dport @n_dns{allow}"
            )]
        );
        state.named_port_sets.remove("web-admin");
        let err = render(&state, IpVersion::V4).unwrap_err().to_string();
        assert_eq!(
            err,
            "tier default policy np/demo/allow-named ingress rule 1: \
             unknown named-port set web-admin"
        );
    }

    #[test]
    fn invalid_rules_and_references_are_errors() {
        let mut state = DesiredState::default();
        state.workloads.push(crate::model::WorkloadEndpoint {
            interface: "cali1".into(),
            ingress: EndpointPolicy {
                tiers: vec![crate::model::TierPolicies {
                    name: "t".into(),
                    policies: vec!["p".into()],
                    default_action: TierDefault::Deny,
                }],
                profiles: Vec::new(),
            },
            egress: EndpointPolicy::default(),
        });
        assert!(matches!(
            render(&state, IpVersion::V4),
            Err(Error::UnknownPolicy(_))
        ));
        let mut rule = Rule::default();
        rule.destination.ports = vec![crate::model::PortRange { first: 1, last: 1 }];
        state.policies.insert(
            "p".into(),
            crate::model::Policy {
                tier: "t".into(),
                ingress: vec![rule],
                egress: Vec::new(),
            },
        );
        let err = render(&state, IpVersion::V4).unwrap_err().to_string();
        assert_eq!(
            err,
            "tier t policy p ingress rule 0: ports need protocol tcp, udp, sctp or udplite"
        );
        state.workloads.push(state.workloads[0].clone());
        state.policies.get_mut("p").unwrap().ingress.clear();
        assert!(matches!(
            render(&state, IpVersion::V4),
            Err(Error::DuplicateInterface(_))
        ));
    }
}
