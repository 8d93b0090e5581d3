//! The guided tour: bring a lab up, show it, draw the matrix, apply a default-deny and an
//! allow-by-label policy with calicoctl, draw it again, show what calicoctl can tell about
//! the cluster, and take everything down, whatever happened on the way.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::lab::{self, Lab, LabContext, UpReport, RESPONDER_PORT};
use crate::matrix::Matrix;
use crate::netns;
use crate::probe::Proto;
use crate::render::resources;
use crate::spec::{DatastoreKind, LabSpec, Peering, TorRouter, DEFAULT_POOL, DEFAULT_POOL6};
use crate::ui::{self, Ui};

/// The workload label the allow policy lets in from, and the one it lets into.
const FROM_APP: &str = "w1";
const TO_APP: &str = "w2";
/// How long the demo waits for the policy to take effect.
const POLICY_WAIT: Duration = Duration::from_secs(6);
/// The Kubernetes namespace the lab's workloads are created in (as podman's CNI call does).
const POD_NAMESPACE: &str = "default";

/// Tells the user, honestly, what the agents did during `up`.
pub fn report_agents(lab: &Lab, report: &UpReport) {
    for (node, status) in &report.exited {
        let tail = std::fs::read_to_string(lab.ctx.paths.log_file(&format!("calico-node-{node}")))
            .unwrap_or_default();
        let last = tail.lines().last().unwrap_or("(no output)");
        ui::warn(&format!(
            "calico-node on {node} exited during start-up ({status}); last log line: {last}"
        ));
    }
    for node in &report.unregistered {
        ui::warn(&format!(
            "calico-node on {node} is running but registered no Node resource in time"
        ));
    }
}

fn show(ui: &Ui, lab: &Lab, member: &str, argv: &[&str]) -> Result<bool> {
    ui.command(&format!("calico-lab exec {member} -- {}", argv.join(" ")));
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut cmd = lab.exec_command(member, &argv)?;
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", netns::describe(&cmd)))?;
    Ok(status.success())
}

fn probe(lab: &mut Lab) -> Result<(Vec<String>, Matrix)> {
    Ok(lab.matrix(
        Proto::Tcp,
        RESPONDER_PORT,
        false,
        Duration::from_millis(800),
    )?)
}

/// Draws the matrix as `up` left it: `up` returns once every endpoint is programmed and
/// every BGP session and route is in place, so there is nothing to wait for.
fn first_matrix(ui: &Ui, lab: &mut Lab) -> Result<Matrix> {
    let (names, matrix) = probe(lab)?;
    print!("{}", matrix.render(&names, ui.color));
    Ok(matrix)
}

/// Runs the tour on lab `ctx`, removing it at the end even when a step failed.
pub fn run(ctx: LabContext, nodes: u32, workloads: u32, ui: Ui) -> Result<()> {
    let started = Instant::now();
    ui.heading("1. Bring up a lab");
    let spec = LabSpec {
        nodes,
        workloads_per_node: workloads,
        datastore: DatastoreKind::Embedded,
        peering: Peering::Mesh,
        tor: TorRouter::Bird,
        ipv6: false,
        pool: DEFAULT_POOL.parse().expect("the default pool is a CIDR"),
        pool6: DEFAULT_POOL6.parse().expect("the default pool is a CIDR"),
    };
    let bar = ui.spinner("bringing the lab up");
    let result = lab::up(ctx.clone(), spec, &|step| bar.set_message(step.to_string()));
    bar.finish_and_clear();
    let (mut lab, report) = result?;
    report_agents(&lab, &report);
    ui.ok(&format!(
        "{} nodes and {} workloads in namespaces {}-*, ready for traffic after {:.1}s \
         (every endpoint programmed, every BGP session up, every route learned)",
        lab.state.topology.nodes.len(),
        lab.state.workloads.len(),
        ctx.name,
        started.elapsed().as_secs_f64()
    ));
    let tour = tour(&ui, &mut lab);
    drop(lab);
    ui.heading("9. Take it all down");
    let down = lab::down(&ctx);
    match &down {
        Ok(r) => ui.ok(&format!(
            "stopped {} processes, removed {} namespaces ({:.1}s in all)",
            r.stopped.len(),
            r.namespaces.len(),
            started.elapsed().as_secs_f64()
        )),
        Err(e) => ui::warn(&format!("down failed: {e}")),
    }
    tour?;
    down?;
    Ok(())
}

fn tour(ui: &Ui, lab: &mut Lab) -> Result<()> {
    ui.heading("2. Status");
    print!("{}", lab.status().render());

    ui.heading("3. Connectivity matrix, no policy (TCP 8080)");
    let before = first_matrix(ui, lab)?;
    let silent: Vec<String> = before
        .pairs
        .iter()
        .filter(|p| !p.reachable)
        .map(|p| {
            let across = node_of(lab, &p.from) != node_of(lab, &p.to);
            format!(
                "{} -> {}{}",
                p.from,
                p.to,
                if across { " (across nodes)" } else { "" }
            )
        })
        .collect();
    if silent.is_empty() {
        ui.ok(&format!(
            "all {} pairs answer, across nodes over the BGP-learned routes",
            before.pairs.len()
        ));
    } else {
        ui.note(&format!(
            "{} of {} pairs do not answer without any policy (every pair should): {}; \
             see `calico-lab status` for BGP sessions and the calico-node logs",
            silent.len(),
            before.pairs.len(),
            silent.join(", ")
        ));
    }

    ui.heading("4. Default deny, then allow app=w1 into app=w2");
    let policy = resources::demo_policies(FROM_APP, TO_APP);
    print!("{policy}");
    let file = lab.ctx.paths.root.join("demo-policy.yaml");
    std::fs::write(&file, &policy).with_context(|| format!("cannot write {}", file.display()))?;
    let file = file.display().to_string();
    if !show(ui, lab, "node1", &["calicoctl", "apply", "-f", &file])? {
        ui::warn("calicoctl apply failed");
    }

    ui.heading("5. Connectivity matrix with the policy");
    let expected = before
        .pairs
        .iter()
        .filter(|p| allowed(lab, &p.from, &p.to))
        .count();
    // Give the agents a moment to program the policy; stop once the matrix is what the
    // policy says.
    let applied = Instant::now();
    let deadline = applied + POLICY_WAIT;
    let (after, wrong) = loop {
        std::thread::sleep(Duration::from_millis(500));
        let (names, now) = probe(lab)?;
        let wrong: Vec<String> = now
            .pairs
            .iter()
            .filter(|p| p.reachable != allowed(lab, &p.from, &p.to))
            .map(|p| {
                let why = if p.reachable {
                    "answers but is denied"
                } else {
                    "is allowed but silent"
                };
                format!("{} -> {} {why}", p.from, p.to)
            })
            .collect();
        if wrong.is_empty() || Instant::now() > deadline {
            print!("{}", now.render(&names, ui.color));
            break (now, wrong);
        }
    };
    let reachable = after.pairs.iter().filter(|p| p.reachable).count();
    if wrong.is_empty() {
        ui.ok(&format!(
            "{reachable}/{} pairs answer, exactly the {expected} the policy allows \
             ({} changed, {:.1}s after apply)",
            after.pairs.len(),
            after.changed_from(&before).len(),
            applied.elapsed().as_secs_f64()
        ));
    } else {
        ui.note(&format!(
            "{reachable}/{} pairs answer where the policy allows {expected}, {}s after \
             apply: {}",
            after.pairs.len(),
            POLICY_WAIT.as_secs(),
            wrong.join(", ")
        ));
    }

    ui.heading("6. Why is a pair denied? (calicoctl policy trace)");
    match after.pairs.iter().find(|p| !allowed(lab, &p.from, &p.to)) {
        Some(pair) => {
            let from = format!("{POD_NAMESPACE}/{}", pair.from);
            let to = format!("{POD_NAMESPACE}/{}", pair.to);
            let port = RESPONDER_PORT.to_string();
            let argv = [
                "calicoctl",
                "policy",
                "trace",
                "--from",
                &from,
                "--to",
                &to,
                "--port",
                &port,
            ];
            if !show(ui, lab, "node1", &argv)? {
                ui::warn("calicoctl policy trace failed");
            }
        }
        None => ui.note("the policy denies no pair in this lab; nothing to trace"),
    }

    ui.heading("7. BGP sessions of node1 (calicoctl node status)");
    if !show(ui, lab, "node1", &["calicoctl", "node", "status"])? {
        ui::warn("calicoctl node status failed");
    }

    ui.heading("8. IP address management (calicoctl ipam show)");
    if !show(ui, lab, "node1", &["calicoctl", "ipam", "show"])? {
        ui::warn("calicoctl ipam show failed");
    }
    Ok(())
}

fn node_of(lab: &Lab, workload: &str) -> Option<String> {
    lab.state.workload(workload).map(|w| w.node.clone())
}

fn app_of(lab: &Lab, workload: &str) -> Option<String> {
    lab.state
        .workload(workload)?
        .labels
        .iter()
        .find(|(k, _)| k == "app")
        .map(|(_, v)| v.clone())
}

/// Whether the demo policy allows `from` to reach `to`.
fn allowed(lab: &Lab, from: &str, to: &str) -> bool {
    app_of(lab, from).as_deref() == Some(FROM_APP) && app_of(lab, to).as_deref() == Some(TO_APP)
}
