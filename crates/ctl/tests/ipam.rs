//! `calicoctl ipam`: addresses are allocated with the ipam library straight into the temp
//! embedded store (as the CNI plugin would), then the real binary shows, checks, releases and
//! configures them.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use common::{pool, Ctl};
use ipam::{AutoAssignArgs, CheckReport, Ipam};

/// Runs `f` with an allocator on `ctl`'s datastore file; the store is closed again before
/// the binary runs.
fn with_ipam<T, F, Fut>(ctl: &Ctl, f: F) -> T
where
    F: FnOnce(Ipam) -> Fut,
    Fut: Future<Output = T>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let store = datastore::EmbeddedStore::open(&ctl.path().join("calico.db")).expect("open store");
    runtime.block_on(f(Ipam::new(Arc::new(store))))
}

/// Allocates `n` IPv4 addresses on node `n1` for pod `pod` (handle = pod name).
fn allocate(ctl: &Ctl, pod: &str, n: usize) -> Vec<IpAddr> {
    let args = AutoAssignArgs {
        num4: n,
        handle: Some(pod.to_string()),
        hostname: "n1".to_string(),
        attrs: BTreeMap::from([
            ("namespace".to_string(), "default".to_string()),
            ("node".to_string(), "n1".to_string()),
            ("pod".to_string(), pod.to_string()),
        ]),
        ..AutoAssignArgs::default()
    };
    with_ipam(ctl, |ipam| async move {
        let assigned = ipam.auto_assign(&args).await.expect("auto-assign");
        assigned.ipv4.iter().map(|n| n.addr()).collect()
    })
}

/// A datastore with pool 10.65.0.0/16 (blocks of 64) and Node n1.
fn cluster() -> Ctl {
    let ctl = Ctl::new();
    ctl.apply(&pool("default-ipv4-ippool", "10.65.0.0/16"));
    ctl.apply("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: n1\n");
    ctl
}

/// Gives `pod` a WorkloadEndpoint on n1 using `ip`, so its allocation is in use.
fn endpoint(ctl: &Ctl, pod: &str, ip: IpAddr) {
    ctl.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: n1-k8s-{pod}-eth0\n  namespace: default\nspec:\n  orchestrator: k8s\n  node: n1\n  pod: {pod}\n  endpoint: eth0\n  interfaceName: cali{pod}\n  ipNetworks: [{ip}/32]\n"
    ));
}

#[test]
fn show_reports_utilisation_blocks_and_owners() {
    let ctl = cluster();
    let ips = allocate(&ctl, "web", 5);
    assert_eq!(
        ctl.run(&["ipam", "show"]).ok(),
        "\
+----------+--------------+-----------+------------+--------------+
| GROUPING |     CIDR     | IPS TOTAL | IPS IN USE |   IPS FREE   |
+----------+--------------+-----------+------------+--------------+
| IP Pool  | 10.65.0.0/16 |     65536 | 5 (0%)     | 65531 (100%) |
+----------+--------------+-----------+------------+--------------+
"
    );

    let IpAddr::V4(first) = ips[0] else {
        panic!("IPv4 expected")
    };
    let [a, b, c, d] = first.octets();
    let block = format!("{a}.{b}.{c}.{}/26", d & 0xc0);
    let blocks = ctl.run(&["ipam", "show", "--show-blocks"]);
    let lines = common::trimmed(blocks.ok());
    // The CIDR column is as wide as the longer of the pool and block CIDRs.
    let w = block.len().max("10.65.0.0/16".len());
    assert_eq!(
        lines[3..],
        [
            format!(
                "| IP Pool  | {:<w$} |     65536 | 5 (0%)     | 65531 (100%) |",
                "10.65.0.0/16"
            ),
            format!("| Block    | {block:<w$} |        64 | 5 (8%)     | 59 (92%)     |"),
            format!(
                "+----------+-{}-+-----------+------------+--------------+",
                "-".repeat(w)
            ),
        ],
        "{lines:#?}"
    );

    let ip = ips[2].to_string();
    assert_eq!(
        ctl.run(&["ipam", "show", &format!("--ip={ip}")]).ok(),
        format!(
            "IP {ip} is in use\nHandle ID: web\nActive Owner Attributes:\n  namespace: default\n  node: n1\n  pod: web\n"
        )
    );
    assert_eq!(
        ctl.run(&["ipam", "show", "--ip", "10.65.255.255"]).ok(),
        "IP 10.65.255.255 is not assigned\n"
    );
    assert_eq!(
        ctl.run(&["ipam", "show", "--ip=10.65.0.300"]).failed(),
        "Invalid IP address specified: 10.65.0.300\n"
    );
    // No address is borrowed: the table has only its header.
    let borrowed = ctl.run(&["ipam", "show", "--show-borrowed"]);
    assert!(borrowed.ok().contains("BORROWING-NODE"));
    assert_eq!(borrowed.stdout.lines().count(), 3);
}

#[test]
fn configure_then_show_configuration() {
    let ctl = cluster();
    let defaults = ctl.run(&["ipam", "show", "--show-configuration"]);
    assert!(
        common::trimmed(defaults.ok()).contains(&"| StrictAffinity     | false |".to_string()),
        "{defaults:#?}"
    );
    assert_eq!(
        ctl.run(&[
            "ipam",
            "configure",
            "--strictaffinity=true",
            "--max-blocks-per-host=4"
        ])
        .ok(),
        "Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 4\n"
    );
    assert_eq!(
        ctl.run(&["ipam", "show", "--show-configuration"]).ok(),
        "\
+--------------------+-------+
|      PROPERTY      | VALUE |
+--------------------+-------+
| StrictAffinity     | true  |
| AutoAllocateBlocks | true  |
| MaxBlocksPerHost   | 4     |
+--------------------+-------+
"
    );
    // The same setting, seen as the IPAMConfiguration resource.
    let yaml = ctl.run(&["get", "ipamconfiguration", "default", "-o", "yaml"]);
    assert!(yaml.ok().contains("strictAffinity: true"), "{yaml:#?}");

    assert_eq!(
        ctl.run(&["ipam", "configure", "--strictaffinity=maybe"])
            .code,
        1
    );
    assert_eq!(ctl.run(&["ipam", "configure"]).code, 1);
}

#[test]
fn check_finds_a_leak_and_release_from_report_fixes_it() {
    let ctl = cluster();
    let web = allocate(&ctl, "web", 1)[0];
    endpoint(&ctl, "web", web);

    let clean = ctl.run(&["ipam", "check"]);
    let text = clean.ok();
    assert!(
        text.starts_with("Checking IPAM for inconsistencies...\n"),
        "{text}"
    );
    assert!(
        text.contains("IPAM blocks record 1 allocations.\n"),
        "{text}"
    );
    assert!(text.contains("Found 1 workload IPs.\n"), "{text}");
    assert!(
        text.ends_with("Check complete; found 0 problems.\n"),
        "{text}"
    );

    // A pod torn down without its CNI DEL: the allocation stays, no endpoint uses it.
    let leaked = allocate(&ctl, "gone", 1)[0];
    let report_path = ctl.path().join("report.json");
    let report_arg = report_path.display().to_string();
    let found = ctl.run(&["ipam", "check", "-o", &report_arg]);
    assert_eq!(found.failed(), "IPAM check found 1 problems\n");
    assert!(found
        .stdout
        .contains("Found 1 IPs that are allocated in IPAM but not actually in use.\n"));
    assert!(!found.stdout.contains("leaked;"), "{}", found.stdout);
    assert!(found
        .stdout
        .ends_with("Check complete; found 1 problems.\n"));
    let report = CheckReport::from_json(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report.leaked_ips.len(), 1);
    assert_eq!(report.leaked_ips[0].ip, leaked);
    assert_eq!(report.leaked_ips[0].handle.as_deref(), Some("gone"));

    let detail = ctl.run(&["ipam", "check", "--show-problem-ips", "--show-all-ips"]);
    assert_eq!(detail.code, 1);
    assert!(detail
        .stdout
        .contains(&format!("  {leaked} leaked; handle=gone\n")));
    assert!(detail.stdout.contains(&format!(
        "Listing all 2 allocated IPs...\n  {web} allocated; handle=web namespace=default node=n1 pod=web\n"
    )));

    // Unlocked datastore: refused without --force, and nothing is released.
    let refused = ctl.run(&["ipam", "release", &format!("--from-report={report_arg}")]);
    assert!(refused.failed().starts_with("Datastore is not locked"));
    assert_eq!(ctl.run(&["ipam", "check"]).code, 1);
    assert_eq!(
        ctl.run(&[
            "ipam",
            "release",
            &format!("--from-report={report_arg}"),
            "--force"
        ])
        .ok(),
        "Releasing 1 old IPs...\nReleased 1 IPs successfully\nReleased 0 leaked handles, fixed 0 block affinities\n"
    );
    assert!(ctl
        .run(&["ipam", "check"])
        .ok()
        .ends_with("Check complete; found 0 problems.\n"));
    assert_eq!(
        ctl.run(&["ipam", "show", &format!("--ip={leaked}")]).ok(),
        format!("IP {leaked} is not assigned\n")
    );

    // A second leak, released while the datastore is locked (no --force needed).
    let again = allocate(&ctl, "gone-again", 2);
    ctl.run(&["ipam", "check", "-o", &report_arg]).failed();
    ctl.seed("apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata:\n  name: default\nspec:\n  datastoreReady: false\n");
    let released = ctl.run(&["ipam", "release", "--from-report", &report_arg]);
    assert!(released
        .ok()
        .starts_with("Releasing 2 old IPs...\nReleased 2 IPs successfully\n"));
    ctl.run(&["ipam", "check"]).ok();
    assert!(ctl
        .run(&["ipam", "show", &format!("--ip={}", again[1])])
        .ok()
        .ends_with("is not assigned\n"));
    // The web pod's address was never touched.
    assert!(ctl
        .run(&["ipam", "show", &format!("--ip={web}")])
        .ok()
        .contains("is in use"));
}

#[test]
fn release_ip_frees_an_address_once() {
    let ctl = cluster();
    let ip = allocate(&ctl, "web", 1)[0].to_string();
    let flag = format!("--ip={ip}");
    assert_eq!(
        ctl.run(&["ipam", "release", &flag]).ok(),
        format!("Successfully released IP address {ip}\n")
    );
    assert_eq!(
        ctl.run(&["ipam", "show", &flag]).ok(),
        format!("IP {ip} is not assigned\n")
    );
    assert_eq!(
        ctl.run(&["ipam", "release", &flag]).failed(),
        format!("IP address {ip} is not assigned\n")
    );
    assert_eq!(
        ctl.run(&["ipam", "release", "--ip=192.168.0.1"]).failed(),
        "IP address 192.168.0.1 is not assigned\n"
    );
    let missing = ctl.run(&["ipam", "release", "--from-report=/nonexistent/report.json"]);
    assert!(missing
        .failed()
        .starts_with("Failed to read report file /nonexistent/report.json: "));
    let bad = ctl.file("bad.json", "{\"version\": 99}");
    let run = ctl.run(&[
        "ipam",
        "release",
        &format!("--from-report={bad}"),
        "--force",
    ]);
    assert!(
        run.failed().starts_with(&format!(
            "Failed to load report file {bad}: not an IPAM check report"
        )),
        "{run:#?}"
    );
    // Release needs --ip or --from-report.
    assert_eq!(ctl.run(&["ipam", "release"]).code, 1);
}
