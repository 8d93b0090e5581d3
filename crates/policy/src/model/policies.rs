//! Profiles, tiers and policies: compiled and checked before any change,
//! then linked to their selectors and to the endpoints they select.

use super::*;

impl Model {
    pub(super) fn put_profile(&mut self, p: Profile) -> Result<(), Error> {
        let name = p.metadata.name.clone();
        let ingress = compile_rules(Kind::Profile, &name, "spec.ingress", &p.spec.ingress, None)?;
        let egress = compile_rules(Kind::Profile, &name, "spec.egress", &p.spec.egress, None)?;
        let state = ProfileState {
            labels: p.spec.labels_to_apply.clone(),
            ingress: self.install_rules(ingress),
            egress: self.install_rules(egress),
        };
        let labels_changed = match self.profiles.insert(name.clone(), state) {
            Some(old) => {
                self.uninstall_rules(old.ingress.iter().chain(old.egress.iter()));
                old.labels != p.spec.labels_to_apply
            }
            None => !p.spec.labels_to_apply.is_empty(),
        };
        if labels_changed {
            self.refresh_users(&name);
        }
        Ok(())
    }

    pub(super) fn delete_profile(&mut self, name: &str) {
        if let Some(old) = self.profiles.remove(name) {
            self.uninstall_rules(old.ingress.iter().chain(old.egress.iter()));
            if !old.labels.is_empty() {
                self.refresh_users(name);
            }
        }
    }

    pub(super) fn refresh_users(&mut self, profile: &str) {
        let users: Vec<ItemId> = self
            .profile_users
            .get(profile)
            .map(|u| u.iter().copied().collect())
            .unwrap_or_default();
        for id in users {
            self.refresh_item(id);
        }
    }

    pub(super) fn put_tier(&mut self, t: Tier) {
        let state = TierState {
            order: t.spec.order,
            default_action: t.spec.default_action.unwrap_or(Action::Deny),
        };
        let previous = self.tiers.insert(t.metadata.name.clone(), state);
        if previous.is_some_and(|p| p != state) {
            self.mark_tier_endpoints(&t.metadata.name);
        }
    }

    pub(super) fn delete_tier(&mut self, name: &str) -> Result<(), Error> {
        if BUILTIN_TIERS.iter().any(|(n, _, _)| *n == name) {
            return Err(Error::BuiltinTier(name.to_owned()));
        }
        if let Some(members) = self.tier_members.get(name).filter(|m| !m.is_empty()) {
            return Err(Error::TierInUse {
                tier: name.to_owned(),
                count: members.len(),
                example: members
                    .iter()
                    .next()
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
            });
        }
        self.tiers.remove(name);
        Ok(())
    }

    pub(super) fn mark_tier_endpoints(&mut self, tier: &str) {
        let Some(members) = self.tier_members.get(tier) else {
            return;
        };
        for key in members {
            if let Some(p) = self.policies.get(key) {
                for id in self.index.members(p.sel) {
                    if self.endpoint_policies.contains_key(id) {
                        self.changed.insert(*id);
                    }
                }
            }
        }
    }

    // ----- policies -----

    pub(super) fn put_network_policy(&mut self, p: NetworkPolicy) -> Result<(), Error> {
        let ns = require_namespace(Kind::NetworkPolicy, &p.metadata)?;
        let s = &p.spec;
        self.put_policy(PolicyInput {
            kind: Kind::NetworkPolicy,
            key: PolicyKey::namespaced(ns, p.metadata.name.clone()),
            tier: &s.tier,
            order: s.order,
            selector: &s.selector,
            namespace_selector: "",
            service_account_selector: &s.service_account_selector,
            ingress: &s.ingress,
            egress: &s.egress,
            types: &s.types,
            normal: true,
        })
    }

    pub(super) fn put_global_policy(&mut self, p: GlobalNetworkPolicy) -> Result<(), Error> {
        let s = &p.spec;
        self.put_policy(PolicyInput {
            kind: Kind::GlobalNetworkPolicy,
            key: PolicyKey::global(p.metadata.name.clone()),
            tier: &s.tier,
            order: s.order,
            selector: &s.selector,
            namespace_selector: &s.namespace_selector,
            service_account_selector: &s.service_account_selector,
            ingress: &s.ingress,
            egress: &s.egress,
            types: &s.types,
            normal: !s.do_not_track && !s.pre_dnat,
        })
    }

    pub(super) fn put_policy(&mut self, input: PolicyInput<'_>) -> Result<(), Error> {
        let name = input.key.to_string();
        let ns = input.key.namespace.as_deref();
        let o = origin(input.kind, &name);
        let selector = policy_selector(
            o,
            ns,
            input.selector,
            input.namespace_selector,
            input.service_account_selector,
        )?;
        let compile = |field: &str, rules: &[Rule], ty: PolicyType| {
            if input.types.contains(&ty) {
                compile_rules(input.kind, &name, field, rules, ns).map(Some)
            } else {
                Ok(None)
            }
        };
        let ingress = compile("spec.ingress", input.ingress, PolicyType::Ingress)?;
        let egress = compile("spec.egress", input.egress, PolicyType::Egress)?;
        let tier = if input.tier.is_empty() {
            DEFAULT_TIER
        } else {
            input.tier
        };
        if !self.tiers.contains_key(tier) {
            return Err(Error::UnknownTier {
                kind: input.kind,
                name,
                tier: tier.to_owned(),
            });
        }
        // Everything is checked: from here on nothing can fail.
        let pid = self.intern_policy(&input.key);
        let sel = self.index.acquire(&selector);
        let state = PolicyState {
            tier: tier.to_owned(),
            order: input.order,
            sel,
            ingress: ingress.map(|r| self.install_rules(r)),
            egress: egress.map(|r| self.install_rules(r)),
            normal: input.normal,
        };
        let key = input.key;
        let old = self.policies.remove(&key);
        let layout_changed = old.as_ref().is_none_or(|o| {
            o.tier != state.tier
                || o.order != state.order
                || o.ingress.is_some() != state.ingress.is_some()
                || o.egress.is_some() != state.egress.is_some()
                || o.normal != state.normal
        });
        let old_members: Vec<ItemId> = match &old {
            Some(o) if o.normal && !(state.normal && o.sel == sel) => self.local_members(o.sel),
            _ => Vec::new(),
        };
        if let Some(o) = &old {
            self.unlink_policy(&key, pid, o);
        }
        self.tier_members
            .entry(state.tier.clone())
            .or_default()
            .insert(key.clone());
        if state.normal {
            self.sel_policies.entry(sel).or_default().insert(pid);
        }
        let selects =
            |model: &Model, id: &ItemId| state.normal && model.index.members(sel).contains(id);
        for id in old_members {
            if !selects(self, &id) {
                self.drop_policy_from(id, pid);
            }
        }
        if state.normal {
            // Disjoint fields: the index is read while the endpoint sets change.
            for id in self.index.members(sel) {
                if let Some(set) = self.endpoint_policies.get_mut(id) {
                    if set.insert(pid) || layout_changed {
                        self.changed.insert(*id);
                    }
                }
            }
        }
        self.policies.insert(key, state);
        if let Some(o) = old {
            self.uninstall_rules(o.ingress.iter().flatten().chain(o.egress.iter().flatten()));
            self.index.release(o.sel);
        }
        Ok(())
    }

    pub(super) fn delete_policy(&mut self, key: &PolicyKey) {
        let Some(old) = self.policies.remove(key) else {
            return;
        };
        let Some(pid) = self.policy_ids.remove(key) else {
            return;
        };
        if old.normal {
            for id in self.local_members(old.sel) {
                self.drop_policy_from(id, pid);
            }
        }
        self.unlink_policy(key, pid, &old);
        self.policy_keys[pid as usize] = None;
        self.free_policy_ids.push(pid);
        self.uninstall_rules(
            old.ingress
                .iter()
                .flatten()
                .chain(old.egress.iter().flatten()),
        );
        self.index.release(old.sel);
    }

    /// The dense id of a policy key, allocated on first use.
    pub(super) fn intern_policy(&mut self, key: &PolicyKey) -> PolicyId {
        if let Some(&pid) = self.policy_ids.get(key) {
            return pid;
        }
        let pid = match self.free_policy_ids.pop() {
            Some(pid) => pid,
            None => {
                self.policy_keys.push(None);
                (self.policy_keys.len() - 1) as PolicyId
            }
        };
        self.policy_keys[pid as usize] = Some(key.clone());
        self.policy_ids.insert(key.clone(), pid);
        pid
    }

    pub(super) fn unlink_policy(&mut self, key: &PolicyKey, pid: PolicyId, old: &PolicyState) {
        if let Some(m) = self.tier_members.get_mut(&old.tier) {
            m.remove(key);
            if m.is_empty() {
                self.tier_members.remove(&old.tier);
            }
        }
        if let Some(m) = self.sel_policies.get_mut(&old.sel) {
            m.remove(&pid);
            if m.is_empty() {
                self.sel_policies.remove(&old.sel);
            }
        }
    }

    pub(super) fn drop_policy_from(&mut self, id: ItemId, pid: PolicyId) {
        if self
            .endpoint_policies
            .get_mut(&id)
            .is_some_and(|set| set.remove(&pid))
        {
            self.changed.insert(id);
        }
    }

    pub(super) fn local_members(&self, sel: SelId) -> Vec<ItemId> {
        self.index
            .members(sel)
            .iter()
            .copied()
            .filter(|id| self.endpoint_policies.contains_key(id))
            .collect()
    }
}
