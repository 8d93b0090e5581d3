//! create / apply / replace / delete / validate through the real binary: summary messages,
//! per-resource failures, exit codes, stdin and directory input, and multi-document files
//! with a bad document.

mod common;

use common::{pool, Ctl};

#[test]
fn create_reports_count_and_kind_then_refuses_duplicates() {
    let ctl = Ctl::new();
    let file = ctl.file(
        "pools.yaml",
        &format!(
            "{}---\n{}",
            pool("p1", "10.1.0.0/16"),
            pool("p2", "10.2.0.0/16")
        ),
    );
    let out = ctl.run(&["create", "-f", &file]);
    assert_eq!(out.ok(), "Successfully created 2 'IPPool' resource(s)\n");

    let again = ctl.run(&["create", "-f", &file]);
    let err = again.failed();
    assert!(
        err.contains(&format!(
            "Failed to create 'IPPool' resource: [{file}: document 1: resource already exists: IPPool(p1)]"
        )),
        "{err}"
    );
    assert!(err.contains("resource already exists: IPPool(p2)"), "{err}");
    assert_eq!(
        err.lines().count(),
        2,
        "one line per failed resource: {err}"
    );

    let skipped = ctl.run(&["create", "--skip-exists", "-f", &file]);
    assert_eq!(
        skipped.ok(),
        "Successfully created 2 'IPPool' resource(s)\n"
    );
}

#[test]
fn mixed_kinds_are_counted_without_a_kind() {
    let ctl = Ctl::new();
    let text = format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: dns\nspec:\n  nets: [8.8.8.8/32]\n",
        pool("p1", "10.1.0.0/16")
    );
    let out = ctl.run_stdin(&["apply", "-f", "-"], &text);
    assert_eq!(out.ok(), "Successfully applied 2 resource(s)\n");
}

#[test]
fn apply_reports_the_bad_document_and_applies_the_others() {
    let ctl = Ctl::new();
    let text = format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p2\nspec:\n  cidr: [not, a, string]\n---\n{}",
        pool("p1", "10.1.0.0/16"),
        pool("p3", "10.3.0.0/16")
    );
    let file = ctl.file("three.yaml", &text);
    let out = ctl.run(&["apply", "-f", &file]);
    let err = out.failed();
    assert!(err.contains("document 2"), "{err}");
    assert!(
        !err.contains("document 1") && !err.contains("document 3"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        out.stdout
            .starts_with("Partial success: applied the first 2 out of 3 'IPPool' resources:"),
        "{out:?}"
    );

    let listed = ctl.run(&["get", "ippools"]);
    let listed = listed.ok();
    assert!(
        listed.contains("p1") && listed.contains("p3") && !listed.contains("p2"),
        "{listed}"
    );

    // Documents that decode but are refused are reported with their number too.
    let overlapping = format!(
        "{}---\n{}",
        pool("p4", "10.4.0.0/16"),
        pool("p5", "10.1.2.0/24")
    );
    let out = ctl.run_stdin(&["apply", "-f", "-"], &overlapping);
    assert_eq!(
        out.stdout,
        "Partial success: applied the first 1 out of 2 'IPPool' resources:\n"
    );
    let err = out.failed();
    assert!(
        err.starts_with("Hit error: stdin: document 2: IPPool(p5): spec.cidr:"),
        "{err}"
    );
}

#[test]
fn invalid_resources_fail_with_their_name() {
    let ctl = Ctl::new();
    let out = ctl.run_stdin(&["create", "-f", "-"], &pool("bad", "10.0.0.1/16"));
    let err = out.failed();
    assert!(
        err.starts_with("Failed to create 'IPPool' resource: [IPPool(bad)"),
        "{err}"
    );
    assert!(err.contains("spec.cidr"), "{err}");
}

#[test]
fn replace_needs_an_existing_resource_and_honours_resource_version() {
    let ctl = Ctl::new();
    let missing = ctl.run_stdin(&["replace", "-f", "-"], &pool("p1", "10.1.0.0/16"));
    assert!(
        missing
            .failed()
            .contains("resource does not exist: IPPool(p1)"),
        "{missing:?}"
    );

    ctl.apply(&pool("p1", "10.1.0.0/16"));
    let yaml = ctl.run(&["get", "ippool", "p1", "-o", "yaml"]);
    let current = yaml.ok().to_string();
    assert!(current.contains("resourceVersion:"), "{current}");

    // Replace with the current version succeeds and bumps it; the old text is now stale.
    let changed = current.replace(
        "cidr: 10.1.0.0/16",
        "cidr: 10.1.0.0/16\n  natOutgoing: true",
    );
    let out = ctl.run_stdin(&["replace", "-f", "-"], &changed);
    assert_eq!(out.ok(), "Successfully replaced 1 'IPPool' resource(s)\n");
    let stale = ctl.run_stdin(&["replace", "-f", "-"], &changed);
    let err = stale.failed();
    assert!(err.contains("update conflict: IPPool(p1)"), "{err}");

    let wide = ctl.run(&["get", "ippool", "-o", "wide"]);
    assert!(
        wide.ok().lines().nth(1).unwrap().contains("true"),
        "{wide:?}"
    );
}

#[test]
fn delete_by_name_and_file_with_skip_not_exists() {
    let ctl = Ctl::new();
    ctl.apply(&format!(
        "{}---\n{}",
        pool("p1", "10.1.0.0/16"),
        pool("p2", "10.2.0.0/16")
    ));

    let out = ctl.run(&["delete", "ippool", "p1"]);
    assert_eq!(out.ok(), "Successfully deleted 1 'IPPool' resource(s)\n");

    let missing = ctl.run(&["delete", "ippool", "p1"]);
    assert_eq!(
        missing.failed(),
        "Failed to delete 'IPPool' resource: resource does not exist: IPPool(p1)\n"
    );
    let skipped = ctl.run(&["delete", "pools", "p1", "-s"]);
    assert_eq!(
        skipped.ok(),
        "Successfully deleted 1 'IPPool' resource(s)\n"
    );

    let file = ctl.file("p2.yaml", &pool("p2", "10.2.0.0/16"));
    assert_eq!(
        ctl.run(&["delete", "-f", &file]).ok(),
        "Successfully deleted 1 'IPPool' resource(s)\n"
    );
    let listed = ctl.run(&["get", "ippool", "-o", "json"]);
    assert!(listed.ok().contains("\"items\": []"), "{listed:?}");

    let unknown = ctl.run(&["delete", "frobnicator", "x"]);
    assert!(unknown
        .failed()
        .contains("resource type 'frobnicator' is not supported"));
}

#[test]
fn directory_input_reads_yaml_and_json_files_recursively_with_r() {
    let ctl = Ctl::new();
    ctl.file("in/a.yaml", &pool("a", "10.1.0.0/16"));
    ctl.file(
        "in/b.json",
        r#"{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "b"}, "spec": {"cidr": "10.2.0.0/16"}}"#,
    );
    ctl.file("in/notes.txt", "not a resource");
    ctl.file("in/sub/c.yml", &pool("c", "10.3.0.0/16"));
    let dir = ctl.path().join("in").display().to_string();

    assert_eq!(
        ctl.run(&["create", "-f", &dir]).ok(),
        "Successfully created 2 'IPPool' resource(s)\n"
    );
    assert_eq!(
        ctl.run(&["apply", "-R", "-f", &dir]).ok(),
        "Successfully applied 3 'IPPool' resource(s)\n"
    );
}

#[test]
fn empty_input_and_missing_files() {
    let ctl = Ctl::new();
    let empty = ctl.file("empty.yaml", "# nothing here\n");
    let out = ctl.run(&["apply", "-f", &empty]);
    assert!(
        out.failed().contains("No resources specified in file"),
        "{out:?}"
    );
    assert_eq!(
        ctl.run(&["apply", "--skip-empty", "-f", &empty]).ok(),
        "No resources specified\n"
    );
    let missing = ctl.run(&["apply", "-f", "/nonexistent/x.yaml"]);
    assert!(
        missing.failed().contains("/nonexistent/x.yaml"),
        "{missing:?}"
    );
}

#[test]
fn namespaces_from_flag_file_and_default() {
    let ctl = Ctl::new();
    let np = |ns: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: allow-x\n{ns}spec:\n  selector: all()\n"
        )
    };
    ctl.run_stdin(&["create", "-f", "-"], &np("")).ok();
    ctl.run_stdin(&["create", "-n", "ns1", "-f", "-"], &np(""))
        .ok();
    let dup = ctl.run_stdin(&["create", "-f", "-"], &np("  namespace: ns1\n"));
    assert!(
        dup.failed()
            .contains("resource already exists: NetworkPolicy(ns1/allow-x)"),
        "{dup:?}"
    );
    let clash = ctl.run_stdin(
        &["create", "-n", "ns2", "-f", "-"],
        &np("  namespace: ns1\n"),
    );
    assert!(clash
        .failed()
        .contains("resource namespace does not match client namespace. ns1 != ns2"));
    ctl.run(&["get", "networkpolicy", "allow-x", "-n", "default"])
        .ok();
    let cluster = ctl.run_stdin(
        &["create", "-n", "ns1", "-f", "-"],
        &pool("p", "10.1.0.0/16"),
    );
    assert!(
        cluster.failed().contains("IPPool is not namespaced"),
        "{cluster:?}"
    );
}

#[test]
fn validate_checks_offline() {
    let ctl = Ctl::new();
    let good = ctl.file("good.yaml", &pool("p1", "10.1.0.0/16"));
    assert_eq!(
        ctl.run(&["validate", "-f", &good]).ok(),
        "Successfully validated 1 'IPPool' resource(s)\n"
    );
    let bad = ctl.file("bad.yaml", &pool("p1", "10.1.0.1/16"));
    assert!(ctl
        .run(&["validate", "-f", &bad])
        .failed()
        .contains("spec.cidr"));
    // Nothing was written.
    assert!(ctl
        .run(&["get", "ippool", "p1"])
        .failed()
        .contains("resource does not exist: IPPool(p1)"));
}

#[test]
fn config_file_selects_the_datastore() {
    let ctl = Ctl::new();
    let other_db = ctl.path().join("other.db").display().to_string();
    let cfg = ctl.file(
        "calicoctl.cfg",
        &format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: embedded\n  datastorePath: {other_db}\n"),
    );
    ctl.run_stdin(
        &["apply", "-c", &cfg, "-f", "-"],
        &pool("elsewhere", "10.1.0.0/16"),
    )
    .ok();
    assert!(ctl
        .run(&["get", "ippool", "-c", &cfg])
        .ok()
        .contains("elsewhere"));
    assert!(!ctl.run(&["get", "ippool"]).ok().contains("elsewhere"));
    let bad = ctl.run(&["get", "ippool", "-c", "/nonexistent.cfg"]);
    assert!(
        bad.failed()
            .starts_with("Failed to create Calico API client:"),
        "{bad:?}"
    );
}
