//! The same commands against a real etcd v3 (started privately on 127.0.0.1 by the testkit
//! crate's test harness): create, duplicate refusal, get table and YAML, replace conflict,
//! label, delete and a missing delete.

mod common;

use common::{pool, trimmed, Ctl};
use testkit::etcd::EtcdServer;

#[test]
fn resource_commands_against_etcd() {
    let server = EtcdServer::start();
    let ctl = Ctl::etcd(server.endpoint());

    let text = format!(
        "{}---\n{}",
        pool("p1", "10.1.0.0/16"),
        pool("p2", "10.2.0.0/16")
    );
    assert_eq!(
        ctl.run_stdin(&["create", "-f", "-"], &text).ok(),
        "Successfully created 2 'IPPool' resource(s)\n"
    );
    let dup = ctl.run_stdin(&["create", "-f", "-"], &pool("p1", "10.1.0.0/16"));
    assert!(
        dup.failed().contains("resource already exists: IPPool(p1)"),
        "{dup:?}"
    );

    assert_eq!(
        trimmed(ctl.run(&["get", "ippool"]).ok()),
        [
            "NAME   CIDR          SELECTOR",
            "p1     10.1.0.0/16   all()",
            "p2     10.2.0.0/16   all()",
            "",
        ]
    );
    // The key layout is Calico's.
    let keys = server.ctl(&[
        "get",
        "--prefix",
        "--keys-only",
        "/calico/resources/v3/projectcalico.org/ippools/",
    ]);
    assert!(
        keys.contains("/calico/resources/v3/projectcalico.org/ippools/p1"),
        "{keys}"
    );

    let yaml = ctl
        .run(&["get", "ippool", "p1", "-o", "yaml"])
        .ok()
        .to_string();
    ctl.run(&["label", "ippool", "p1", "env=prod"]).ok();
    let stale = ctl.run_stdin(&["replace", "-f", "-"], &yaml);
    assert!(
        stale.failed().contains("update conflict: IPPool(p1)"),
        "{stale:?}"
    );

    assert_eq!(
        ctl.run(&["delete", "ippool", "p1", "p2"]).ok(),
        "Successfully deleted 2 'IPPool' resource(s)\n"
    );
    let missing = ctl.run(&["delete", "ippool", "p1"]);
    assert!(missing
        .failed()
        .contains("resource does not exist: IPPool(p1)"));
    assert_eq!(
        ctl.run(&["delete", "ippool", "p1", "--skip-not-exists"])
            .code,
        0
    );
}
