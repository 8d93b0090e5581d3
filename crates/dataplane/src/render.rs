//! Pure renderer: [`DesiredState`] + IP version -> [`Table`] (no I/O).
//!
//! Layout (see DESIGN.md): base chains `filter-FORWARD|INPUT|OUTPUT` and `nat-POSTROUTING`;
//! dispatch chains that look the interface up in a verdict map and `goto` the endpoint chain;
//! per-endpoint chains (conntrack first, then tiers, profiles, final drop); per-policy and
//! per-profile chains that set the ACCEPT or PASS mark and return, or drop. Rule matches are
//! in [`matches`].

mod matches;

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::error::Error;
use crate::model::{
    Action, DesiredState, EndpointPolicy, EndpointToHostAction, FailsafePort, IpVersion, Rule,
    TierDefault,
};
use crate::names::{self, mark, ACCEPT_MARK, PASS_MARK};
use crate::table::{
    BaseHook, Chain, ChainKind, Hook, NftRule, Set, SetKey, Table, Verdict, VerdictMap,
};
use matches::{protocol_name, without_contained};

/// Render the table of one IP version.
pub fn render(state: &DesiredState, family: IpVersion) -> Result<Table, Error> {
    check_names(state)?;
    let mut r = Renderer {
        state,
        family,
        table: Table::empty(family),
    };
    r.sets();
    r.static_chains();
    r.workloads()?;
    r.host_endpoints()?;
    Ok(r.table)
}

/// Interface names and the log prefix go into nft text inside quotes: refuse anything that
/// could break out of them (Linux interface names are at most 15 bytes anyway).
fn check_names(state: &DesiredState) -> Result<(), Error> {
    let iface_ok = |name: &str| {
        !name.is_empty()
            && name.len() <= 15
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c))
    };
    let cfg = &state.config;
    let interfaces = state
        .workloads
        .iter()
        .map(|w| &w.interface)
        .chain(state.host_endpoints.iter().map(|h| &h.interface))
        .chain([&cfg.workload_iface_prefix]);
    for name in interfaces {
        if !iface_ok(name) {
            return Err(Error::InvalidInterfaceName(name.clone()));
        }
    }
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

/// Which side of the node an endpoint chain polices.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

struct Renderer<'a> {
    state: &'a DesiredState,
    family: IpVersion,
    table: Table,
}

impl Renderer<'_> {
    fn addr_keyword(&self) -> &'static str {
        match self.family {
            IpVersion::V4 => "ip",
            IpVersion::V6 => "ip6",
        }
    }

    fn set_key(&self) -> SetKey {
        match self.family {
            IpVersion::V4 => SetKey::Ipv4Net,
            IpVersion::V6 => SetKey::Ipv6Net,
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

    fn add_set(&mut self, name: String, nets: Vec<IpNet>) {
        let elements = nets
            .iter()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>();
        let key = self.set_key();
        self.table.sets.insert(name, Set { key, elements });
    }

    fn sets(&mut self) {
        for (id, members) in &self.state.ip_sets {
            let nets = self.of_family(members);
            self.add_set(names::selector_set(id), nets);
        }
        let pools = &self.state.config.ip_pools;
        let all = self.of_family(pools.iter().map(|p| &p.cidr));
        let masq = self.of_family(pools.iter().filter(|p| p.nat_outgoing).map(|p| &p.cidr));
        self.add_set(names::ALL_POOLS_SET.to_owned(), all);
        self.add_set(names::MASQ_POOLS_SET.to_owned(), masq);
    }

    fn chain(&mut self, name: &str, hook: Option<BaseHook>, rules: Vec<NftRule>) {
        self.table
            .chains
            .insert(name.to_owned(), Chain { hook, rules });
    }

    fn static_chains(&mut self) {
        let cfg = &self.state.config;
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

        self.chain(
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
        self.chain(
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
        self.chain(
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
        self.chain(
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
        self.chain(names::FROM_WL_DISPATCH, None, from_wl);
        self.chain(names::TO_WL_DISPATCH, None, to_wl);
        self.chain(names::FROM_HEP_DISPATCH, None, from_hep);
        self.chain(names::TO_HEP_DISPATCH, None, to_hep);

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
        self.chain(names::WL_TO_HOST, None, to_host);

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
        self.chain(names::FAILSAFE_IN, None, fin);
        self.chain(names::FAILSAFE_OUT, None, fout);

        let mut nat = Vec::new();
        if !self.table.sets[names::MASQ_POOLS_SET].elements.is_empty() {
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
        self.chain(names::NAT_OUTGOING, None, nat);

        for map in [
            names::FROM_WL_MAP,
            names::TO_WL_MAP,
            names::FROM_HEP_MAP,
            names::TO_HEP_MAP,
        ] {
            self.table
                .maps
                .insert(map.to_owned(), VerdictMap::default());
        }
    }

    fn map_element(&mut self, map: &str, iface: &str, chain: &str) -> Result<(), Error> {
        let elements = &mut self
            .table
            .maps
            .get_mut(map)
            .expect("static maps are created first")
            .elements;
        if elements
            .insert(iface.to_owned(), Verdict::Goto(chain.to_owned()))
            .is_some()
        {
            return Err(Error::DuplicateInterface(iface.to_owned()));
        }
        Ok(())
    }

    fn workloads(&mut self) -> Result<(), Error> {
        for wl in &self.state.workloads {
            let tw = names::to_workload_chain(&wl.interface);
            let fw = names::from_workload_chain(&wl.interface);
            self.map_element(names::TO_WL_MAP, &wl.interface, &tw)?;
            self.map_element(names::FROM_WL_MAP, &wl.interface, &fw)?;
            let who = format!("workload {}", wl.interface);
            let rules = self.endpoint_rules(&who, &wl.ingress, Direction::Ingress, None)?;
            self.chain(&tw, None, rules);
            let rules = self.endpoint_rules(&who, &wl.egress, Direction::Egress, None)?;
            self.chain(&fw, None, rules);
        }
        Ok(())
    }

    fn host_endpoints(&mut self) -> Result<(), Error> {
        for hep in &self.state.host_endpoints {
            let fh = names::from_host_endpoint_chain(&hep.interface);
            let th = names::to_host_endpoint_chain(&hep.interface);
            self.map_element(names::FROM_HEP_MAP, &hep.interface, &fh)?;
            self.map_element(names::TO_HEP_MAP, &hep.interface, &th)?;
            let who = format!("host endpoint {}", hep.interface);
            let failsafe = Some(names::FAILSAFE_IN);
            let rules = self.endpoint_rules(&who, &hep.ingress, Direction::Ingress, failsafe)?;
            self.chain(&fh, None, rules);
            let failsafe = Some(names::FAILSAFE_OUT);
            let rules = self.endpoint_rules(&who, &hep.egress, Direction::Egress, failsafe)?;
            self.chain(&th, None, rules);
        }
        Ok(())
    }

    /// Rules of one endpoint chain; also renders the policy and profile chains it jumps to.
    fn endpoint_rules(
        &mut self,
        who: &str,
        policy: &EndpointPolicy,
        dir: Direction,
        failsafe: Option<&str>,
    ) -> Result<Vec<NftRule>, Error> {
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
                let chain = self.policy_chain(id, dir)?;
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
            let chain = self.profile_chain(name, dir)?;
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
        Ok(rules)
    }

    fn policy_chain(&mut self, id: &str, dir: Direction) -> Result<String, Error> {
        let policy = self
            .state
            .policies
            .get(id)
            .ok_or_else(|| Error::UnknownPolicy(id.to_owned()))?;
        let (chain, rules) = match dir {
            Direction::Ingress => (names::policy_ingress_chain(id), &policy.ingress),
            Direction::Egress => (names::policy_egress_chain(id), &policy.egress),
        };
        if !self.table.chains.contains_key(&chain) {
            let why = format!("tier {} policy {id} {}", policy.tier, dir.name());
            let body = self.rule_chain(&why, rules, dir, true)?;
            self.chain(&chain, None, body);
        }
        Ok(chain)
    }

    fn profile_chain(&mut self, name: &str, dir: Direction) -> Result<String, Error> {
        let profile = self
            .state
            .profiles
            .get(name)
            .ok_or_else(|| Error::UnknownProfile(name.to_owned()))?;
        let (chain, rules) = match dir {
            Direction::Ingress => (names::profile_ingress_chain(name), &profile.ingress),
            Direction::Egress => (names::profile_egress_chain(name), &profile.egress),
        };
        if !self.table.chains.contains_key(&chain) {
            let why = format!("profile {name} {}", dir.name());
            let body = self.rule_chain(&why, rules, dir, false)?;
            self.chain(&chain, None, body);
        }
        Ok(chain)
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
            let Some(matches) = self.rule_match(rule).map_err(|reason| Error::InvalidRule {
                context: context(),
                reason,
            })?
            else {
                continue;
            };
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
                    let cfg = &self.state.config;
                    let group = match dir {
                        Direction::Ingress => cfg.log_group,
                        Direction::Egress => cfg.log_group.wrapping_add(1),
                    };
                    format!("log prefix \"{}: \" group {group}", cfg.log_prefix)
                }
            };
            let body = if matches.is_empty() {
                action
            } else {
                format!("{} {action}", matches.join(" "))
            };
            out.push(NftRule::new(body, &context()));
        }
        if out.is_empty() {
            out.push(NftRule::new("counter", &format!("{why}: no rules")));
        }
        Ok(out)
    }
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
