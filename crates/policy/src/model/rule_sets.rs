//! Installing and removing compiled rules: each selector a rule uses takes
//! a reference on its IP set (created with its current members on first use).

use super::*;

impl Model {
    pub(super) fn acquire_set(
        &mut self,
        selector: &Selector,
        named: Option<(u8, String)>,
    ) -> SetKey {
        let sel = self.index.acquire(selector);
        let key = SetKey { sel, named };
        if !self.ipsets.acquire_existing(&key) {
            let members: Vec<Member> = self
                .index
                .members(sel)
                .iter()
                .filter_map(|i| self.items[*i as usize].as_ref())
                .flat_map(|item| item_members(item, &key))
                .collect();
            self.ipsets
                .create(&key, selector.as_str(), &selector.unique_id(), members);
        }
        key
    }

    pub(super) fn release_set(&mut self, key: &SetKey) {
        self.ipsets.release(key);
        self.index.release(key.sel);
    }

    pub(super) fn install_entity(&mut self, e: &CompiledEntity, protocol: u8) -> EntitySets {
        let selector = e.selector.as_ref().map(|s| self.acquire_set(s, None));
        let not_selector = e.not_selector.as_ref().map(|s| self.acquire_set(s, None));
        let base = e.selector.clone().unwrap_or_else(Selector::all);
        let named = e
            .named_ports
            .iter()
            .map(|n| self.acquire_set(&base, Some((protocol, n.clone()))))
            .collect();
        let not_named = e
            .not_named_ports
            .iter()
            .map(|n| self.acquire_set(&base, Some((protocol, n.clone()))))
            .collect();
        EntitySets {
            selector,
            not_selector,
            named,
            not_named,
        }
    }

    pub(super) fn install_rules(&mut self, rules: Vec<CompiledRule>) -> Vec<InstalledRule> {
        rules
            .into_iter()
            .map(|rule| {
                let protocol = rule.named_port_protocol();
                let src = self.install_entity(&rule.src, protocol);
                let dst = self.install_entity(&rule.dst, protocol);
                InstalledRule { rule, src, dst }
            })
            .collect()
    }

    pub(super) fn uninstall_rules<'a>(
        &mut self,
        rules: impl IntoIterator<Item = &'a InstalledRule>,
    ) {
        for r in rules {
            for key in r.src.keys().chain(r.dst.keys()) {
                self.release_set(key);
            }
        }
    }
}
