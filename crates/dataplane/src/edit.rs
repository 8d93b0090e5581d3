//! Pure: edit a desired [`Table`] in place while remembering what every touched name held
//! before, so the diff against the previous state looks at those names only
//! ([`crate::diff::diff_scoped`]). A caller that keeps the tables it last programmed up to
//! date this way pays for the size of a change, not for the size of the table.

use crate::diff::{diff_scoped, Batch, Scope};
use crate::table::{Chain, Set, Table, Verdict};

/// The edits made to one table since [`Edits::new`]: the touched names and their previous
/// contents (a name absent from `before` did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edits {
    before: Table,
    scope: Scope,
}

impl Edits {
    /// No edits yet, for a table of `table`'s family.
    pub fn new(table: &Table) -> Self {
        Edits {
            before: Table::empty(table.family),
            scope: Scope::default(),
        }
    }

    /// True when nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.scope.is_empty()
    }

    /// The names touched so far.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Sets chain `name` (adding or replacing it).
    pub fn put_chain(&mut self, table: &mut Table, name: String, chain: Chain) {
        self.touch_chain(table, &name);
        table.chains.insert(name, chain);
    }

    /// Removes chain `name` if it exists.
    pub fn remove_chain(&mut self, table: &mut Table, name: &str) {
        self.touch_chain(table, name);
        table.chains.remove(name);
    }

    /// Sets set `name` (adding or replacing it).
    pub fn put_set(&mut self, table: &mut Table, name: String, set: Set) {
        self.touch_set(table, &name);
        table.sets.insert(name, set);
    }

    /// Removes set `name` if it exists.
    pub fn remove_set(&mut self, table: &mut Table, name: &str) {
        self.touch_set(table, name);
        table.sets.remove(name);
    }

    /// Sets the element `key` of verdict map `map` (which must exist).
    pub fn put_map_element(&mut self, table: &mut Table, map: &str, key: &str, verdict: Verdict) {
        self.touch_element(table, map, key);
        if let Some(m) = table.maps.get_mut(map) {
            m.elements.insert(key.to_owned(), verdict);
        }
    }

    /// Removes the element `key` of verdict map `map` if it exists.
    pub fn remove_map_element(&mut self, table: &mut Table, map: &str, key: &str) {
        self.touch_element(table, map, key);
        if let Some(m) = table.maps.get_mut(map) {
            m.elements.remove(key);
        }
    }

    /// The batch that turns the table as it was before the edits into `table` now.
    pub fn batch(&self, table: &Table) -> Batch {
        diff_scoped(&self.before, table, &self.scope)
    }

    fn touch_chain(&mut self, table: &Table, name: &str) {
        if self.scope.chains.insert(name.to_owned()) {
            if let Some(c) = table.chains.get(name) {
                self.before.chains.insert(name.to_owned(), c.clone());
            }
        }
    }

    fn touch_set(&mut self, table: &Table, name: &str) {
        if self.scope.sets.insert(name.to_owned()) {
            if let Some(s) = table.sets.get(name) {
                self.before.sets.insert(name.to_owned(), s.clone());
            }
        }
    }

    fn touch_element(&mut self, table: &Table, map: &str, key: &str) {
        if !self
            .scope
            .map_elements
            .insert((map.to_owned(), key.to_owned()))
        {
            return;
        }
        // The map itself exists before and after (maps are never edited here), so the
        // scoped diff sees only the element change.
        let Some(m) = table.maps.get(map) else {
            return;
        };
        let old = self.before.maps.entry(map.to_owned()).or_default();
        if let Some(v) = m.elements.get(key) {
            old.elements.insert(key.to_owned(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::model::{DesiredState, EndpointPolicy, IpVersion, Profile, Rule, WorkloadEndpoint};
    use crate::render::{render, Pieces};

    fn state(ifaces: &[&str], members: &[&str]) -> DesiredState {
        let mut s = DesiredState::default();
        s.profiles.insert(
            "open".into(),
            Profile {
                ingress: vec![Rule::default()],
                egress: vec![Rule::default()],
            },
        );
        s.ip_sets.insert(
            "web".into(),
            members.iter().map(|m| m.parse().unwrap()).collect(),
        );
        for i in ifaces {
            let side = EndpointPolicy {
                tiers: Vec::new(),
                profiles: vec!["open".into()],
            };
            s.workloads.push(WorkloadEndpoint {
                interface: (*i).into(),
                ingress: side.clone(),
                egress: side,
            });
        }
        s
    }

    #[test]
    fn edits_give_the_same_batch_as_a_full_diff() {
        let old_state = state(&["cali1", "cali2"], &["10.0.0.1/32", "10.0.0.2/32"]);
        let new_state = state(&["cali2", "cali3"], &["10.0.0.2/32", "10.0.0.3/32"]);
        let old = render(&old_state, IpVersion::V4).unwrap();
        let want = render(&new_state, IpVersion::V4).unwrap();

        let mut table = old.clone();
        let mut edits = Edits::new(&table);
        let pieces = Pieces::new(&new_state.config, IpVersion::V4).unwrap();
        let gone = pieces.workload(&old_state.workloads[0]).unwrap();
        for (name, _) in &gone.chains {
            edits.remove_chain(&mut table, name);
        }
        for (map, key, _) in &gone.map_elements {
            edits.remove_map_element(&mut table, map, key);
        }
        let added = pieces.workload(&new_state.workloads[1]).unwrap();
        for (name, chain) in added.chains {
            edits.put_chain(&mut table, name, chain);
        }
        for (map, key, verdict) in added.map_elements {
            edits.put_map_element(&mut table, map, &key, verdict);
        }
        let (name, set) = pieces.selector_set("web", &new_state.ip_sets["web"]);
        edits.put_set(&mut table, name, set);

        assert_eq!(table, want);
        let batch = edits.batch(&table);
        assert_eq!(batch, diff(&old, &want));
        assert!(batch
            .text
            .contains("delete element ip calico s_web { 10.0.0.1/32 }"));
        assert!(!batch.text.contains("cali2"), "untouched:\n{}", batch.text);
        assert!(Edits::new(&table).batch(&table).is_empty());
    }
}
