//! Defaulting: pools, policy tier and types inference, tiers, nets normalisation, and
//! overlap between pools.

use api::{
    check_pool_overlap, decode_documents, infer_policy_types, Action, AllowedUse, AssignmentMode,
    EncapMode, Error, IPPool, IPPoolSpec, ObjectMeta, PolicyType, Resource, Rule,
};

fn one(yaml: &str) -> Resource {
    let mut r = decode_documents(yaml).unwrap().remove(0);
    r.apply_defaults();
    r
}

#[test]
fn pool_defaults_by_family() {
    let Resource::IPPool(v4) = one("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16}\n") else {
        panic!()
    };
    assert_eq!(v4.spec.block_size, 26);
    assert_eq!(v4.spec.ipip_mode, Some(EncapMode::Never));
    assert_eq!(v4.spec.vxlan_mode, Some(EncapMode::Never));
    assert_eq!(v4.spec.node_selector, "all()");
    assert_eq!(
        v4.spec.allowed_uses,
        vec![AllowedUse::Workload, AllowedUse::Tunnel]
    );
    assert_eq!(v4.spec.assignment_mode, Some(AssignmentMode::Automatic));
    let Resource::IPPool(v6) = one("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 'fd00::/48', blockSize: 0}\n") else {
        panic!()
    };
    assert_eq!(v6.spec.block_size, 122);
    let Resource::IPPool(kept) = one("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16, blockSize: 24, ipipMode: Always, nodeSelector: has(x)}\n") else {
        panic!()
    };
    assert_eq!(kept.spec.block_size, 24);
    assert_eq!(kept.spec.ipip_mode, Some(EncapMode::Always));
    assert_eq!(kept.spec.node_selector, "has(x)");
}

fn types_of(spec: &str) -> Vec<PolicyType> {
    let yaml = format!("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: n}}\nspec: {spec}\n");
    match one(&yaml) {
        Resource::NetworkPolicy(p) => {
            assert_eq!(p.spec.tier, "default");
            assert_eq!(p.metadata.labels["projectcalico.org/tier"], "default");
            p.spec.types
        }
        _ => panic!(),
    }
}

#[test]
fn policy_types_inference() {
    use PolicyType::{Egress, Ingress};
    assert_eq!(types_of("{}"), vec![Ingress]);
    assert_eq!(types_of("{ingress: [{action: Allow}]}"), vec![Ingress]);
    assert_eq!(types_of("{egress: [{action: Allow}]}"), vec![Egress]);
    assert_eq!(
        types_of("{ingress: [{action: Allow}], egress: [{action: Deny}]}"),
        vec![Ingress, Egress]
    );
    // Explicit types are never overridden.
    assert_eq!(
        types_of("{types: [Egress], ingress: [{action: Allow}]}"),
        vec![Egress]
    );
    let r = Rule::new(Action::Allow);
    assert_eq!(
        infer_policy_types(&[], std::slice::from_ref(&r)),
        vec![Egress]
    );
    assert_eq!(infer_policy_types(&[r], &[]), vec![Ingress]);
}

#[test]
fn gnp_defaults_and_net_normalisation() {
    let Resource::GlobalNetworkPolicy(p) = one("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec: {egress: [{action: Allow, destination: {nets: [10.1.2.3, 'fd00::1', 10.0.0.0/8]}}]}\n") else {
        panic!()
    };
    assert_eq!(p.spec.tier, "default");
    assert_eq!(p.spec.types, vec![PolicyType::Egress]);
    assert_eq!(
        p.spec.egress[0].destination.nets,
        vec!["10.1.2.3/32", "fd00::1/128", "10.0.0.0/8"]
    );
    let Resource::GlobalNetworkSet(s) = one("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {nets: [8.8.8.8]}\n") else {
        panic!()
    };
    assert_eq!(s.spec.nets, vec!["8.8.8.8/32"]);
}

#[test]
fn tier_defaults() {
    let Resource::Tier(t) =
        one("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: custom}\n")
    else {
        panic!()
    };
    assert_eq!(t.spec.default_action, Some(Action::Deny));
    assert_eq!(t.spec.order, None);
    let Resource::Tier(admin) =
        one("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: kube-admin}\n")
    else {
        panic!()
    };
    assert_eq!(admin.spec.order, Some(1000.0));
    assert_eq!(admin.spec.default_action, Some(Action::Pass));
}

#[test]
fn ipam_configuration_defaults_auto_allocate_on() {
    let Resource::IPAMConfiguration(c) = one(
        "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: default}\n",
    ) else {
        panic!()
    };
    assert!(c.spec.auto_allocate_blocks);
    assert!(!c.spec.strict_affinity);
}

#[test]
fn defaults_are_idempotent_and_valid() {
    let text = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16}\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec: {egress: [{action: Allow}]}\n";
    for mut r in decode_documents(text).unwrap() {
        r.apply_defaults();
        let once = r.clone();
        r.apply_defaults();
        assert_eq!(r, once);
        r.validate().unwrap();
    }
}

fn pool(name: &str, cidr: &str, disabled: bool) -> IPPool {
    IPPool {
        metadata: ObjectMeta::named(name),
        spec: IPPoolSpec {
            cidr: cidr.into(),
            disabled,
            ..Default::default()
        },
        status: None,
    }
}

#[test]
fn pool_overlap() {
    let existing = vec![
        pool("a", "10.0.0.0/16", false),
        pool("b", "10.2.0.0/16", true),
    ];
    check_pool_overlap(&pool("c", "10.1.0.0/16", false), &existing).unwrap();
    let err = check_pool_overlap(&pool("c", "10.0.128.0/24", false), &existing).unwrap_err();
    match &err {
        Error::Validation { field, reason, .. } => {
            assert_eq!(field, "spec.cidr");
            assert!(reason.contains("IPPool(a)"), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(check_pool_overlap(&pool("c", "10.0.0.0/8", false), &existing).is_err());
    // Disabled pools neither block nor are blocked; a pool's own old version is skipped.
    check_pool_overlap(&pool("c", "10.2.1.0/24", false), &existing).unwrap();
    check_pool_overlap(&pool("c", "10.0.0.0/24", true), &existing).unwrap();
    check_pool_overlap(&pool("a", "10.0.0.0/15", false), &existing).unwrap();
}
