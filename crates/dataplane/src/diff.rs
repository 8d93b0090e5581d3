//! Pure diff: previous [`Table`] + desired [`Table`] -> the minimal nft batch (no I/O).
//!
//! Order inside the one transaction (dependencies first, sweep last):
//! 1. `add table` (idempotent);
//! 2. new sets and maps;
//! 3. stale map elements deleted, set members deleted then added;
//! 4. new chains declared (so any rule may jump to any of them);
//! 5. changed chains flushed and refilled; chains about to go flushed;
//! 6. new map elements (their target chains now exist);
//! 7. unused chains, then unused sets and maps, deleted.
//!
//! Chains are compared by their rules' comments (which hash the rule body), so a membership
//! change touches only set elements and never a rule. When a set's type or a base chain's
//! hook changed, or a name moved between set and map, the batch recreates the whole table
//! (`add table`, `delete table`, then everything), still in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::table::{family_name, Chain, SetKey, Table, TABLE_NAME};

/// One nft transaction, as text for `nft -f -`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The commands, one per line.
    pub text: String,
    /// How many commands the batch holds.
    pub commands: usize,
    /// How many rules it (re)writes.
    pub rules_written: usize,
    /// True when the batch recreates the whole table.
    pub recreates_table: bool,
}

impl Batch {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    fn push(&mut self, line: String) {
        self.text.push_str(&line);
        self.text.push('\n');
        self.commands += 1;
    }
}

/// The batch that turns `old` (what is programmed; [`Table::empty`] when nothing is) into `new`.
pub fn diff(old: &Table, new: &Table) -> Batch {
    diff_scoped(old, new, &Scope::all(old, new))
}

/// Names a diff looks at; a name outside the scope is taken to be the same in both tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Chains.
    pub chains: BTreeSet<String>,
    /// Sets (declaration and elements).
    pub sets: BTreeSet<String>,
    /// Verdict maps (the declarations).
    pub maps: BTreeSet<String>,
    /// Verdict-map elements: (map, interface).
    pub map_elements: BTreeSet<(String, String)>,
}

impl Scope {
    /// Every name in either table.
    pub fn all(old: &Table, new: &Table) -> Scope {
        let names = |a: Vec<&String>, b: Vec<&String>| -> BTreeSet<String> {
            a.into_iter().chain(b).cloned().collect()
        };
        let elements = |t: &Table| -> Vec<(String, String)> {
            t.maps
                .iter()
                .flat_map(|(m, map)| map.elements.keys().map(|k| (m.clone(), k.clone())))
                .collect()
        };
        Scope {
            chains: names(old.chains.keys().collect(), new.chains.keys().collect()),
            sets: names(old.sets.keys().collect(), new.sets.keys().collect()),
            maps: names(old.maps.keys().collect(), new.maps.keys().collect()),
            map_elements: elements(old).into_iter().chain(elements(new)).collect(),
        }
    }

    /// True when the scope names nothing.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
            && self.sets.is_empty()
            && self.maps.is_empty()
            && self.map_elements.is_empty()
    }
}

/// Like [`diff`], looking only at the names in `scope`: `old` needs to hold only those
/// (as [`crate::edit::Edits`] records them), so the cost follows the size of the change, not
/// of the table.
pub fn diff_scoped(old: &Table, new: &Table, scope: &Scope) -> Batch {
    assert_eq!(
        old.family, new.family,
        "diffing tables of different families"
    );
    if needs_recreate(old, new, scope) {
        return recreate(new);
    }
    let t = format!("{} {TABLE_NAME}", family_name(new.family));
    let mut b = Batch::default();
    let mut body = Batch::default();
    let element = |table: &Table, map: &str, key: &str| {
        table
            .maps
            .get(map)
            .and_then(|m| m.elements.get(key))
            .cloned()
    };

    for name in &scope.sets {
        if let (Some(set), None) = (new.sets.get(name), old.sets.get(name)) {
            body.push(format!(
                "add set {t} {name} {{ {} }}",
                set.key.declaration()
            ));
        }
    }
    for name in &scope.maps {
        if new.maps.contains_key(name) && !old.maps.contains_key(name) {
            body.push(format!("add map {t} {name} {{ type ifname : verdict; }}"));
        }
    }
    for (map, keys) in group(&scope.map_elements) {
        if !new.maps.contains_key(map) {
            continue;
        }
        let stale: Vec<String> = keys
            .iter()
            .filter(|k| {
                let before = element(old, map, k);
                before.is_some() && before != element(new, map, k)
            })
            .map(|k| quote(k))
            .collect();
        push_elements(&mut body, &format!("delete element {t} {map}"), &stale);
    }
    for name in &scope.sets {
        let Some(set) = new.sets.get(name) else {
            continue;
        };
        let old_elements = old.sets.get(name).map(|s| &s.elements);
        if let Some(old_elements) = old_elements {
            let gone: Vec<String> = old_elements.difference(&set.elements).cloned().collect();
            push_elements(&mut body, &format!("delete element {t} {name}"), &gone);
        }
        let added: Vec<String> = match old_elements {
            Some(o) => set.elements.difference(o).cloned().collect(),
            None => set.elements.iter().cloned().collect(),
        };
        push_elements(&mut body, &format!("add element {t} {name}"), &added);
    }
    for name in &scope.chains {
        let Some(chain) = new.chains.get(name) else {
            continue;
        };
        if !old.chains.contains_key(name) {
            body.push(match &chain.hook {
                Some(h) => format!(
                    "add chain {t} {name} {{ type {} hook {} priority {}; policy accept; }}",
                    h.kind.name(),
                    h.hook.name(),
                    h.priority
                ),
                None => format!("add chain {t} {name}"),
            });
        }
    }
    for name in &scope.chains {
        let Some(chain) = new.chains.get(name) else {
            continue;
        };
        match old.chains.get(name) {
            Some(o) if o.same_as(chain) => {}
            Some(_) => {
                body.push(format!("flush chain {t} {name}"));
                push_rules(&mut body, &t, name, chain);
            }
            None => push_rules(&mut body, &t, name, chain),
        }
    }
    let doomed: Vec<&String> = scope
        .chains
        .iter()
        .filter(|n| old.chains.contains_key(*n) && !new.chains.contains_key(*n))
        .collect();
    for name in &doomed {
        body.push(format!("flush chain {t} {name}"));
    }
    for (map, keys) in group(&scope.map_elements) {
        if !new.maps.contains_key(map) {
            continue;
        }
        let added: Vec<String> = keys
            .iter()
            .filter_map(|k| {
                let now = element(new, map, k)?;
                (element(old, map, k).as_ref() != Some(&now))
                    .then(|| format!("{} : {now}", quote(k)))
            })
            .collect();
        push_elements(&mut body, &format!("add element {t} {map}"), &added);
    }
    for name in &doomed {
        body.push(format!("delete chain {t} {name}"));
    }
    for name in &scope.sets {
        if old.sets.contains_key(name) && !new.sets.contains_key(name) {
            body.push(format!("delete set {t} {name}"));
        }
    }
    for name in &scope.maps {
        if old.maps.contains_key(name) && !new.maps.contains_key(name) {
            body.push(format!("delete map {t} {name}"));
        }
    }

    if body.is_empty() {
        return b;
    }
    b.push(format!("add table {t}"));
    b.text.push_str(&body.text);
    b.commands += body.commands;
    b.rules_written = body.rules_written;
    b
}

/// (map, interface) pairs grouped by map, both in order.
fn group(pairs: &BTreeSet<(String, String)>) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (map, key) in pairs {
        out.entry(map.as_str()).or_default().push(key.as_str());
    }
    out
}

/// The batch that replaces whatever table is programmed with `table`, in one transaction.
pub fn recreate(table: &Table) -> Batch {
    let t = format!("{} {TABLE_NAME}", table.family_name());
    let mut batch = Batch {
        recreates_table: true,
        ..Batch::default()
    };
    batch.push(format!("add table {t}"));
    batch.push(format!("delete table {t}"));
    let rest = diff(&Table::empty(table.family), table);
    batch.text.push_str(&rest.text);
    batch.commands += rest.commands;
    batch.rules_written = rest.rules_written;
    batch
}

fn needs_recreate(old: &Table, new: &Table, scope: &Scope) -> bool {
    let set_changed = scope.sets.iter().any(|n| {
        old.sets.get(n).is_some_and(|s| {
            s.key == SetKey::Unsupported
                || new.sets.get(n).is_some_and(|ns| ns.key != s.key)
                || new.maps.contains_key(n)
        })
    });
    let map_clash = scope
        .maps
        .iter()
        .any(|n| old.maps.contains_key(n) && new.sets.contains_key(n));
    let hook_changed = scope.chains.iter().any(|n| {
        let (Some(c), Some(nc)) = (old.chains.get(n), new.chains.get(n)) else {
            return false;
        };
        nc.hook != c.hook && (nc.hook.is_some() || c.hook.is_some())
    });
    set_changed || map_clash || hook_changed
}

fn push_rules(b: &mut Batch, t: &str, name: &str, chain: &Chain) {
    for r in &chain.rules {
        b.push(format!(
            "add rule {t} {name} {} comment \"{}\"",
            r.body, r.comment
        ));
        b.rules_written += 1;
    }
}

/// Element lists go out in chunks so no single command line grows without bound.
fn push_elements(b: &mut Batch, command: &str, elements: &[String]) {
    for chunk in elements.chunks(2000) {
        b.push(format!("{command} {{ {} }}", chunk.join(", ")));
    }
}

fn quote(iface: &str) -> String {
    format!("\"{iface}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DesiredState, EndpointPolicy, IpVersion, Policy, Profile, Rule, TierPolicies,
        WorkloadEndpoint,
    };
    use crate::render::render;
    use crate::table::{Set, SetKey};

    fn state(ifaces: &[&str], clients: &[&str]) -> DesiredState {
        let mut s = DesiredState::default();
        s.profiles.insert(
            "open".into(),
            Profile {
                ingress: vec![Rule::default()],
                egress: vec![Rule::default()],
            },
        );
        s.policies.insert("p".into(), Policy::default());
        s.ip_sets.insert(
            "clients".into(),
            clients.iter().map(|c| c.parse().unwrap()).collect(),
        );
        for i in ifaces {
            s.workloads.push(WorkloadEndpoint {
                interface: (*i).into(),
                ingress: EndpointPolicy {
                    tiers: vec![TierPolicies {
                        name: "default".into(),
                        policies: vec!["p".into()],
                        ..Default::default()
                    }],
                    profiles: vec!["open".into()],
                },
                egress: EndpointPolicy {
                    tiers: Vec::new(),
                    profiles: vec!["open".into()],
                },
            });
        }
        s
    }

    fn v4(s: &DesiredState) -> Table {
        render(s, IpVersion::V4).unwrap()
    }

    #[test]
    fn identical_tables_need_no_batch() {
        let t = v4(&state(&["cali1"], &["10.0.0.1/32"]));
        assert!(diff(&t, &t).is_empty());
    }

    #[test]
    fn membership_change_is_element_ops_only() {
        let old = v4(&state(&["cali1"], &["10.0.0.1/32", "10.0.0.2/32"]));
        let new = v4(&state(&["cali1"], &["10.0.0.2/32", "10.0.0.3/32"]));
        let b = diff(&old, &new);
        assert_eq!(
            b.text,
            "add table ip calico\n\
             delete element ip calico s_clients { 10.0.0.1/32 }\n\
             add element ip calico s_clients { 10.0.0.3/32 }\n"
        );
        assert_eq!(b.rules_written, 0);
    }

    #[test]
    fn new_endpoint_adds_chains_before_rules_and_map_elements_last() {
        let old = v4(&state(&["cali1"], &[]));
        let new = v4(&state(&["cali1", "cali2"], &[]));
        let b = diff(&old, &new);
        let pos = |needle: &str| {
            b.text
                .find(needle)
                .unwrap_or_else(|| panic!("{needle} missing from\n{}", b.text))
        };
        assert!(pos("add chain ip calico cali-tw-cali2") < pos("add rule ip calico cali-tw-cali2"));
        assert!(pos("add rule ip calico cali-tw-cali2") < pos("add element ip calico cali-to-wl"));
        assert!(
            !b.text.contains("flush"),
            "no existing chain is touched:\n{}",
            b.text
        );
        assert!(!b.text.contains("cali1"), "{}", b.text);
    }

    #[test]
    fn removed_endpoint_drops_map_elements_first_and_chains_last() {
        let old = v4(&state(&["cali1", "cali2"], &[]));
        let new = v4(&state(&["cali1"], &[]));
        let b = diff(&old, &new);
        let lines: Vec<&str> = b.text.lines().collect();
        assert_eq!(lines[0], "add table ip calico");
        assert!(lines[1].starts_with("delete element ip calico cali-from-wl { \"cali2\" }"));
        assert!(lines[2].starts_with("delete element ip calico cali-to-wl { \"cali2\" }"));
        assert_eq!(
            lines[lines.len() - 1],
            "delete chain ip calico cali-tw-cali2"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "delete chain ip calico cali-fw-cali2"
        );
        assert_eq!(b.rules_written, 0);
    }

    #[test]
    fn unused_policy_chain_is_flushed_then_deleted_after_its_users() {
        let old = v4(&state(&["cali1"], &[]));
        let mut s = state(&["cali1"], &[]);
        s.workloads[0].ingress.tiers.clear();
        let new = v4(&s);
        let b = diff(&old, &new);
        let pos = |needle: &str| b.text.find(needle).unwrap();
        assert!(
            pos("flush chain ip calico cali-tw-cali1") < pos("delete chain ip calico cali-pi-p")
        );
        assert!(pos("flush chain ip calico cali-pi-p") < pos("delete chain ip calico cali-pi-p"));
    }

    #[test]
    fn new_set_comes_before_rules_using_it_and_old_set_goes_last() {
        let old = v4(&state(&["cali1"], &[]));
        let mut s = state(&["cali1"], &[]);
        s.ip_sets.clear();
        s.ip_sets
            .insert("web".into(), vec!["10.1.0.0/24".parse().unwrap()]);
        s.policies.get_mut("p").unwrap().ingress = vec![Rule {
            source: crate::model::EndpointMatch {
                selector_set: Some("web".into()),
                ..Default::default()
            },
            ..Default::default()
        }];
        let b = diff(&old, &v4(&s));
        let pos = |needle: &str| b.text.find(needle).unwrap();
        assert!(pos("add set ip calico s_web") < pos("@s_web"));
        assert!(b
            .text
            .trim_end()
            .ends_with("delete set ip calico s_clients"));
    }

    #[test]
    fn set_type_change_recreates_the_table_atomically() {
        let new = v4(&state(&["cali1"], &[]));
        let mut old = new.clone();
        old.sets.insert(
            "s_clients".into(),
            Set {
                key: SetKey::Unsupported,
                elements: Default::default(),
            },
        );
        let b = diff(&old, &new);
        assert!(b.recreates_table);
        assert!(b
            .text
            .starts_with("add table ip calico\ndelete table ip calico\nadd table ip calico\n"));
        assert_eq!(b.rules_written, new.rule_count());
    }

    #[test]
    fn big_membership_changes_are_chunked() {
        let members: Vec<String> = (0..5000u32)
            .map(|i| format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        let b = diff(&v4(&state(&["cali1"], &[])), &v4(&state(&["cali1"], &refs)));
        assert_eq!(b.commands, 1 + 3);
    }
}
