//! `ipam check`, `release --from-report` and `ipam show` against a real embedded store:
//! a leaked address and handle are found, written to a report file, read back and released.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::{pool_yaml, Fixture};
use ipam::{
    render_check, render_ip_info, render_usage, usage, AffinityProblem, AutoAssignArgs,
    CheckReport, IpVersion,
};

fn args(host: &str, handle: &str) -> AutoAssignArgs {
    AutoAssignArgs {
        num4: 1,
        handle: Some(handle.to_string()),
        hostname: host.to_string(),
        attrs: BTreeMap::from([("pod".to_string(), handle.to_string())]),
        ..AutoAssignArgs::default()
    }
}

/// A pod's WorkloadEndpoint (named as Calico derives it: `<node>-k8s-<pod>-eth0`).
fn wep_yaml(pod: &str, node: &str, ip: IpAddr) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {{name: {node}-k8s-{pod}-eth0, namespace: default}}\nspec: {{orchestrator: k8s, node: {node}, pod: {pod}, endpoint: eth0, interfaceName: cali0, ipNetworks: [{ip}/32]}}\n"
    )
}

#[tokio::test]
async fn check_finds_leaks_and_release_from_report_fixes_them() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    f.apply("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n")
        .await;
    let used = f.ipam.auto_assign(&args("n1", "used")).await.unwrap().ipv4[0].addr();
    let leaked = f
        .ipam
        .auto_assign(&args("n1", "leaked"))
        .await
        .unwrap()
        .ipv4[0]
        .addr();
    f.apply(&wep_yaml("used", "n1", used)).await;
    // A workload whose address IPAM never allocated, and a block of a node that is gone.
    f.apply(&wep_yaml("rogue", "n1", "10.0.0.200".parse().unwrap()))
        .await;
    let ghost = f
        .ipam
        .auto_assign(&args("ghost", "ghostpod"))
        .await
        .unwrap()
        .ipv4[0]
        .addr();
    f.apply(&wep_yaml("ghostpod", "ghost", ghost)).await;

    let report = f.ipam.check().await.unwrap();
    assert_eq!(report.allocations, 3);
    assert_eq!(report.workload_ips, 3);
    assert_eq!(report.leaked_ips.len(), 1);
    assert_eq!(report.leaked_ips[0].ip, leaked);
    assert_eq!(report.in_use_not_allocated.len(), 1);
    assert_eq!(report.broken_affinities.len(), 1);
    assert_eq!(report.broken_affinities[0].host, "ghost");
    assert_eq!(
        report.broken_affinities[0].problem,
        AffinityProblem::NodeMissing
    );
    let text = render_check(&report);
    assert!(
        text.contains("Found 1 IPs that are allocated in IPAM but not actually in use.\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Check complete; found 3 problems.\n"),
        "{text}"
    );

    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("report.json");
    std::fs::write(&path, report.to_json()).unwrap();
    let reread = CheckReport::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(reread, report);

    let outcome = f.ipam.release_from_report(&reread).await.unwrap();
    assert_eq!(outcome.released_ips, 1);
    assert_eq!(outcome.fixed_affinities, 1);
    assert!(outcome
        .render(&reread)
        .starts_with("Releasing 1 old IPs...\nReleased 1 IPs successfully\n"));
    assert!(f.ipam.ip_info(leaked).await.unwrap().is_none());
    assert!(f.ipam.ip_info(used).await.unwrap().is_some());
    // The ghost's address survives in a now unaffine block.
    let info = f.ipam.ip_info(ghost).await.unwrap().unwrap();
    assert_eq!(info.block_affinity, None);

    let after = f.ipam.check().await.unwrap();
    assert!(after.leaked_ips.is_empty());
    assert!(after.broken_affinities.is_empty());
    assert_eq!(after.problems(), 1, "only the rogue workload remains");
}

#[tokio::test]
async fn stale_report_never_frees_a_reallocated_address() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/30", 30, "")).await;
    let leaked = f.ipam.auto_assign(&args("n1", "old")).await.unwrap().ipv4[0].addr();
    let report = f.ipam.check().await.unwrap();
    assert_eq!(report.leaked_ips.len(), 1);
    // Meanwhile the address is released and handed to someone else.
    f.ipam.release_ips(&[leaked]).await.unwrap();
    for i in 0..4 {
        f.ipam
            .auto_assign(&args("n1", &format!("new{i}")))
            .await
            .unwrap();
    }
    assert!(f.ipam.ip_info(leaked).await.unwrap().is_some());
    let outcome = f.ipam.release_from_report(&report).await.unwrap();
    assert_eq!(outcome.released_ips, 0);
    assert_eq!(outcome.skipped_ips, 1);
    assert!(f.ipam.ip_info(leaked).await.unwrap().is_some());
}

#[tokio::test]
async fn leaked_handles_are_deleted_from_a_report() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    f.store
        .create(
            &ipam::handle_key("orphan"),
            br#"{"block":{"10.0.0.0/26":1},"deleted":false}"#,
        )
        .await
        .unwrap();
    let report = f.ipam.check().await.unwrap();
    assert_eq!(report.leaked_handles, ["orphan"]);
    let outcome = f.ipam.release_from_report(&report).await.unwrap();
    assert_eq!(outcome.released_handles, 1);
    assert!(!f.exists(&ipam::handle_key("orphan")).await);
}

#[tokio::test]
async fn show_reports_pool_and_block_usage_and_ip_owner() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let mut ips = Vec::new();
    for i in 0..5 {
        ips.push(
            f.ipam
                .auto_assign(&args("n1", &format!("pod{i}")))
                .await
                .unwrap()
                .ipv4[0]
                .addr(),
        );
    }
    let pools = f.ipam.pools().await.unwrap();
    let blocks: Vec<_> = f
        .ipam
        .blocks(IpVersion::V4)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.value)
        .collect();
    let text = render_usage(&usage(&pools, &blocks, true));
    assert!(
        text.contains("| IP Pool  | 10.0.0.0/24 |       256 | 5 (2%)     | 251 (98%) |"),
        "{text}"
    );
    assert!(text.contains("| Block    | "), "{text}");
    let info = f.ipam.ip_info(ips[2]).await.unwrap();
    let text = render_ip_info(ips[2], info.as_ref());
    assert_eq!(
        text,
        format!(
            "IP {} is in use\nHandle ID: pod2\nActive Owner Attributes:\n  pod: pod2\n",
            ips[2]
        )
    );
}
