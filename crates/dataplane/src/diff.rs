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
    assert_eq!(old.family, new.family, "diffing tables of different families");
    if needs_recreate(old, new) {
        return recreate(new);
    }
    let t = format!("{} {TABLE_NAME}", family_name(new.family));
    let mut b = Batch::default();
    let mut body = Batch::default();

    for (name, set) in &new.sets {
        if !old.sets.contains_key(name) {
            body.push(format!("add set {t} {name} {{ {} }}", set.key.declaration()));
        }
    }
    for name in new.maps.keys() {
        if !old.maps.contains_key(name) {
            body.push(format!("add map {t} {name} {{ type ifname : verdict; }}"));
        }
    }
    for (name, map) in &old.maps {
        let Some(new_map) = new.maps.get(name) else {
            continue;
        };
        let stale: Vec<String> = map
            .elements
            .iter()
            .filter(|(k, v)| new_map.elements.get(*k) != Some(v))
            .map(|(k, _)| quote(k))
            .collect();
        push_elements(&mut body, &format!("delete element {t} {name}"), &stale);
    }
    for (name, set) in &new.sets {
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
    for (name, chain) in &new.chains {
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
    for (name, chain) in &new.chains {
        match old.chains.get(name) {
            Some(o) if o.same_as(chain) => {}
            Some(_) => {
                body.push(format!("flush chain {t} {name}"));
                push_rules(&mut body, &t, name, chain);
            }
            None => push_rules(&mut body, &t, name, chain),
        }
    }
    let doomed: Vec<&String> = old
        .chains
        .keys()
        .filter(|n| !new.chains.contains_key(*n))
        .collect();
    for name in &doomed {
        body.push(format!("flush chain {t} {name}"));
    }
    for (name, map) in &new.maps {
        let old_map = old.maps.get(name);
        let added: Vec<String> = map
            .elements
            .iter()
            .filter(|(k, v)| old_map.and_then(|m| m.elements.get(*k)) != Some(v))
            .map(|(k, v)| format!("{} : {v}", quote(k)))
            .collect();
        push_elements(&mut body, &format!("add element {t} {name}"), &added);
    }
    for name in &doomed {
        body.push(format!("delete chain {t} {name}"));
    }
    for name in old.sets.keys().filter(|n| !new.sets.contains_key(*n)) {
        body.push(format!("delete set {t} {name}"));
    }
    for name in old.maps.keys().filter(|n| !new.maps.contains_key(*n)) {
        body.push(format!("delete map {t} {name}"));
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

fn needs_recreate(old: &Table, new: &Table) -> bool {
    let set_changed = old
        .sets
        .iter()
        .any(|(n, s)| {
            s.key == SetKey::Unsupported
                || new.sets.get(n).is_some_and(|ns| ns.key != s.key)
                || new.maps.contains_key(n)
        });
    let map_clash = old.maps.keys().any(|n| new.sets.contains_key(n));
    let hook_changed = old.chains.iter().any(|(n, c)| {
        new.chains
            .get(n)
            .is_some_and(|nc| nc.hook != c.hook && (nc.hook.is_some() || c.hook.is_some()))
    });
    set_changed || map_clash || hook_changed
}

fn push_rules(b: &mut Batch, t: &str, name: &str, chain: &Chain) {
    for r in &chain.rules {
        b.push(format!("add rule {t} {name} {} comment \"{}\"", r.body, r.comment));
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
