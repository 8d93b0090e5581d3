//! Incremental selector membership: which items each selector matches, kept
//! up to date with a label index so that one item change re-evaluates only the
//! selectors whose result can change.
//!
//! Selectors are shared by canonical text and reference counted. Each one is
//! filed either under an *anchor* (a `k == "v"` it requires, so it can only
//! match items carrying exactly that pair) or, unanchored, under every label
//! key it reads plus, when it matches an item with none of its keys (`all()`,
//! `!has(x)`, `x != "v"`), the `empty_matchers` set. Items are indexed by
//! `key -> value -> items` so a new selector starts from a candidate set.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use selector::{CompareOp, Expr, Selector};

use crate::id_hash::{IdMap, IdSet};

/// Dense id of an item (endpoint or network set) inside the model.
pub(crate) type ItemId = u32;

/// Effective labels of an item.
pub(crate) type LabelMap = BTreeMap<String, String>;

/// Id of a live selector in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SelId(u32);

struct Entry {
    selector: Selector,
    refs: u32,
    members: IdSet<ItemId>,
    anchor: Option<(String, String)>,
}

/// The index. See the module comment.
#[derive(Default)]
pub(crate) struct SelectorIndex {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_text: HashMap<String, SelId>,
    anchored: HashMap<String, HashMap<String, IdSet<SelId>>>,
    by_key: HashMap<String, IdSet<SelId>>,
    empty_matchers: IdSet<SelId>,
    items: IdMap<ItemId, LabelMap>,
    values: HashMap<String, HashMap<String, IdSet<ItemId>>>,
    item_sels: IdMap<ItemId, IdSet<SelId>>,
}

impl SelectorIndex {
    /// Takes a reference on `selector`, creating it (and computing its
    /// members) if it is new.
    pub(crate) fn acquire(&mut self, selector: &Selector) -> SelId {
        if let Some(&id) = self.by_text.get(selector.as_str()) {
            self.entry_mut(id).refs += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(slot) => SelId(slot),
            None => {
                self.entries.push(None);
                SelId((self.entries.len() - 1) as u32)
            }
        };
        let anchor = anchor_of(selector.expr());
        match &anchor {
            Some((k, v)) => {
                self.anchored
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .insert(id);
            }
            None => {
                for key in selector.label_keys() {
                    self.by_key.entry(key.to_owned()).or_default().insert(id);
                }
                if selector.matches(&LabelMap::new()) {
                    self.empty_matchers.insert(id);
                }
            }
        }
        let members: IdSet<ItemId> = match self.candidates(selector.expr()) {
            Some(c) => c
                .iter()
                .filter(|i| selector.matches(&self.items[i]))
                .collect(),
            None => self
                .items
                .iter()
                .filter(|(_, l)| selector.matches(*l))
                .map(|(i, _)| *i)
                .collect(),
        };
        for m in &members {
            self.item_sels.entry(*m).or_default().insert(id);
        }
        self.by_text.insert(selector.canonical(), id);
        self.entries[id.0 as usize] = Some(Entry {
            selector: selector.clone(),
            refs: 1,
            members,
            anchor,
        });
        id
    }

    /// Drops a reference; the selector is forgotten when the last one goes.
    pub(crate) fn release(&mut self, id: SelId) {
        let entry = self.entry_mut(id);
        entry.refs -= 1;
        if entry.refs > 0 {
            return;
        }
        let Some(entry) = self.entries[id.0 as usize].take() else {
            return;
        };
        self.free.push(id.0);
        self.by_text.remove(entry.selector.as_str());
        match &entry.anchor {
            Some((k, v)) => remove_nested(&mut self.anchored, k, v, &id),
            None => {
                for key in entry.selector.label_keys() {
                    remove_from(&mut self.by_key, key, &id);
                }
                self.empty_matchers.remove(&id);
            }
        }
        for m in &entry.members {
            remove_from(&mut self.item_sels, m, &id);
        }
    }

    /// The items a selector currently matches.
    pub(crate) fn members(&self, id: SelId) -> &IdSet<ItemId> {
        &self.entry(id).members
    }

    /// An item's labels as last set.
    pub(crate) fn labels(&self, item: ItemId) -> Option<&LabelMap> {
        self.items.get(&item)
    }

    /// The selectors an item currently matches.
    pub(crate) fn selectors_of(&self, item: ItemId) -> impl Iterator<Item = SelId> + '_ {
        self.item_sels.get(&item).into_iter().flatten().copied()
    }

    /// Sets an item's labels (adding the item if new) and returns the
    /// selectors whose membership changed, with `true` for joined.
    pub(crate) fn upsert_item(&mut self, item: ItemId, labels: LabelMap) -> Vec<(SelId, bool)> {
        let old = self.items.remove(&item);
        let mut candidates: IdSet<SelId> = IdSet::default();
        match &old {
            None => {
                for (k, v) in &labels {
                    self.collect_for_pair(k, v, &mut candidates);
                }
                candidates.extend(self.empty_matchers.iter().copied());
            }
            Some(old) => {
                let changed = changed_keys(old, &labels);
                if changed.is_empty() {
                    self.items.insert(item, labels);
                    return Vec::new();
                }
                for k in &changed {
                    candidates.extend(self.by_key.get(*k).into_iter().flatten().copied());
                }
                // Anchored selectors may read any key; only those anchored on
                // a pair the item has (before or after) can change.
                for (k, v) in old.iter().chain(labels.iter()) {
                    if let Some(set) = self.anchored.get(k).and_then(|m| m.get(v)) {
                        candidates.extend(set.iter().copied());
                    }
                }
                for (k, v) in old {
                    remove_nested(&mut self.values, k, v, &item);
                }
            }
        }
        for (k, v) in &labels {
            self.values
                .entry(k.clone())
                .or_default()
                .entry(v.clone())
                .or_default()
                .insert(item);
        }
        let mut changes = Vec::new();
        for id in candidates {
            let entry = self.entries[id.0 as usize]
                .as_mut()
                .expect("indexed selector is live");
            let now = entry.selector.matches(&labels);
            let was = entry.members.contains(&item);
            if now == was {
                continue;
            }
            if now {
                entry.members.insert(item);
                self.item_sels.entry(item).or_default().insert(id);
            } else {
                entry.members.remove(&item);
                remove_from(&mut self.item_sels, &item, &id);
            }
            changes.push((id, now));
        }
        self.items.insert(item, labels);
        changes.sort_unstable();
        changes
    }

    /// Forgets an item; returns the selectors it was a member of.
    pub(crate) fn remove_item(&mut self, item: ItemId) -> Vec<SelId> {
        if let Some(old) = self.items.remove(&item) {
            for (k, v) in &old {
                remove_nested(&mut self.values, k, v, &item);
            }
        }
        let mut left: Vec<SelId> = self.item_sels.remove(&item).into_iter().flatten().collect();
        for id in &left {
            if let Some(entry) = self.entries[id.0 as usize].as_mut() {
                entry.members.remove(&item);
            }
        }
        left.sort_unstable();
        left
    }

    fn collect_for_pair(&self, k: &str, v: &str, out: &mut IdSet<SelId>) {
        out.extend(self.by_key.get(k).into_iter().flatten().copied());
        if let Some(set) = self.anchored.get(k).and_then(|m| m.get(v)) {
            out.extend(set.iter().copied());
        }
    }

    /// Items that might match `expr`; `None` means every item must be checked.
    fn candidates(&self, expr: &Expr) -> Option<Candidates<'_>> {
        let with_value =
            |label: &str, value: &str| match self.values.get(label).and_then(|m| m.get(value)) {
                Some(set) => Candidates::Borrowed(set),
                None => Candidates::Owned(IdSet::default()),
            };
        let union = |sets: &mut dyn Iterator<Item = &IdSet<ItemId>>| {
            let mut all = IdSet::default();
            for set in sets {
                all.extend(set.iter().copied());
            }
            Candidates::Owned(all)
        };
        match expr {
            Expr::Compare {
                label,
                op: CompareOp::Eq,
                value,
            } => Some(with_value(label, value)),
            Expr::In { label, values } if values.values().len() == 1 => {
                Some(with_value(label, &values.values()[0]))
            }
            Expr::In { label, values } => {
                let by_value = self.values.get(label);
                Some(union(
                    &mut values
                        .values()
                        .iter()
                        .filter_map(|v| by_value.and_then(|m| m.get(v))),
                ))
            }
            Expr::Compare {
                label,
                op: CompareOp::Contains | CompareOp::StartsWith | CompareOp::EndsWith,
                ..
            }
            | Expr::Has(label) => Some(union(
                &mut self.values.get(label).into_iter().flat_map(|m| m.values()),
            )),
            Expr::And(ops) => {
                // Exact pairs are free to look up: use the smallest if there is one.
                let exact = ops
                    .iter()
                    .filter(|e| anchor_of(e).is_some() && !matches!(e, Expr::And(_)))
                    .filter_map(|e| self.candidates(e))
                    .min_by_key(Candidates::len);
                exact.or_else(|| {
                    ops.iter()
                        .filter_map(|e| self.candidates(e))
                        .min_by_key(Candidates::len)
                })
            }
            Expr::Or(ops) => {
                let mut all = IdSet::default();
                for e in ops {
                    all.extend(self.candidates(e)?.iter());
                }
                Some(Candidates::Owned(all))
            }
            _ => None,
        }
    }

    fn entry(&self, id: SelId) -> &Entry {
        self.entries[id.0 as usize]
            .as_ref()
            .expect("selector id refers to a live selector")
    }

    fn entry_mut(&mut self, id: SelId) -> &mut Entry {
        self.entries[id.0 as usize]
            .as_mut()
            .expect("selector id refers to a live selector")
    }
}

/// Items to check for a new selector: a set from the value index, or one
/// built from several.
enum Candidates<'a> {
    Borrowed(&'a IdSet<ItemId>),
    Owned(IdSet<ItemId>),
}

impl Candidates<'_> {
    fn len(&self) -> usize {
        match self {
            Candidates::Borrowed(s) => s.len(),
            Candidates::Owned(s) => s.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = ItemId> + '_ {
        match self {
            Candidates::Borrowed(s) => s.iter(),
            Candidates::Owned(s) => s.iter(),
        }
        .copied()
    }
}

/// A `k == "v"` the whole selector requires, if there is one at its top level.
fn anchor_of(expr: &Expr) -> Option<(String, String)> {
    match expr {
        Expr::Compare {
            label,
            op: CompareOp::Eq,
            value,
        } => Some((label.clone(), value.clone())),
        Expr::In { label, values } if values.values().len() == 1 => {
            Some((label.clone(), values.values()[0].clone()))
        }
        Expr::And(ops) => ops.iter().find_map(anchor_of),
        _ => None,
    }
}

/// Keys present in one map but not the other, or with different values.
fn changed_keys<'a>(old: &'a LabelMap, new: &'a LabelMap) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for (k, v) in old {
        if new.get(k) != Some(v) {
            out.push(k);
        }
    }
    for k in new.keys() {
        if !old.contains_key(k) {
            out.push(k);
        }
    }
    out
}

/// Removes `value` from the set at `key`, dropping the set when it empties.
fn remove_from<K, Q, V, S1, S2>(map: &mut HashMap<K, HashSet<V, S2>, S1>, key: &Q, value: &V)
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
    V: Hash + Eq,
    S1: BuildHasher,
    S2: BuildHasher,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// `remove_from` one level down: `map[k][v]`.
fn remove_nested<V: Hash + Eq, S: BuildHasher>(
    map: &mut HashMap<String, HashMap<String, HashSet<V, S>>>,
    k: &str,
    v: &str,
    value: &V,
) {
    if let Some(inner) = map.get_mut(k) {
        remove_from(inner, v, value);
        if inner.is_empty() {
            map.remove(k);
        }
    }
}
