//! The guided tour: bring a lab up, show it, draw the matrix, apply a default-deny and an
//! allow-by-label policy with calicoctl, draw it again, show what calicoctl can tell about
//! the cluster, and take everything down, whatever happened on the way.

use std::process::Stdio;
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
const POLICY_WAIT: Duration = Duration::from_secs(4);

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

/// Which sub-commands this calicoctl offers (from its `--help`).
fn calicoctl_commands(lab: &Lab) -> Vec<String> {
    let Ok(mut cmd) = lab.exec_command("fabric", &["calicoctl".into(), "--help".into()]) else {
        return Vec::new();
    };
    let Ok(out) = cmd.stderr(Stdio::null()).output() else {
        return Vec::new();
    };
    parse_commands(&String::from_utf8_lossy(&out.stdout))
}

/// The command names listed under `Commands:` in clap-style help.
pub fn parse_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.trim_start().starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
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

fn draw(ui: &Ui, lab: &mut Lab) -> Result<Matrix> {
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
        "{} nodes and {} workloads in namespaces {}-*",
        lab.state.topology.nodes.len(),
        lab.state.workloads.len(),
        ctx.name
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
    let before = draw(ui, lab)?;
    let cross_node_down = before
        .pairs
        .iter()
        .any(|p| !p.reachable && node_of(lab, &p.from) != node_of(lab, &p.to));
    if cross_node_down {
        ui.note(
            "pairs across nodes need routes to the other nodes' blocks (BGP from calico-node); \
             where calico-node does not program them yet, only same-node pairs answer",
        );
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
    let should_close = before
        .pairs
        .iter()
        .filter(|p| p.reachable && !allowed(lab, &p.from, &p.to))
        .count();
    // Give the agents a moment to program the policy; stop as soon as anything changes.
    let deadline = Instant::now() + POLICY_WAIT;
    let after = loop {
        std::thread::sleep(Duration::from_millis(700));
        let (names, now) = probe(lab)?;
        if !now.changed_from(&before).is_empty() || Instant::now() > deadline {
            print!("{}", now.render(&names, ui.color));
            break now;
        }
    };
    let changed = after.changed_from(&before);
    if should_close > 0 && changed.is_empty() {
        ui.note(&format!(
            "{should_close} pairs the policy denies still answer after {}s: calico-node did \
             not enforce the policy",
            POLICY_WAIT.as_secs()
        ));
    } else {
        ui.ok(&format!("{} pairs changed with the policy", changed.len()));
    }

    let commands = calicoctl_commands(lab);
    ui.heading("6. Why is a pair denied? (policy trace)");
    let denied = after
        .pairs
        .iter()
        .find(|p| !allowed(lab, &p.from, &p.to))
        .cloned();
    match (commands.iter().any(|c| c == "policy"), denied) {
        (true, Some(pair)) => {
            let from = workload_endpoint(lab, &pair.from);
            let to = workload_endpoint(lab, &pair.to);
            show(
                ui,
                lab,
                "node1",
                &[
                    "calicoctl",
                    "policy",
                    "trace",
                    &from,
                    &to,
                    "--protocol",
                    "tcp",
                    "--port",
                    "8080",
                ],
            )?;
        }
        (true, None) => ui.note("no pair is denied by the policy in this lab; nothing to trace"),
        (false, _) => ui.note("skipped: this calicoctl has no `policy` (trace) command yet"),
    }

    ui.heading("7. BGP sessions of node1 (calicoctl node status)");
    if commands.iter().any(|c| c == "node") {
        show(ui, lab, "node1", &["calicoctl", "node", "status"])?;
    } else {
        ui.note("skipped: this calicoctl has no `node` command yet");
    }

    ui.heading("8. IP address management (calicoctl ipam show)");
    if commands.iter().any(|c| c == "ipam") {
        show(ui, lab, "node1", &["calicoctl", "ipam", "show"])?;
    } else {
        ui.note("skipped: this calicoctl has no `ipam` command yet");
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

fn workload_endpoint(lab: &Lab, workload: &str) -> String {
    lab.status()
        .workloads
        .into_iter()
        .find(|w| w.name == workload)
        .and_then(|w| w.endpoint)
        .unwrap_or_else(|| workload.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_from_clap_help() {
        let help = "calicoctl: manage\n\nUsage: calicoctl <COMMAND>\n\nCommands:\n  create   Create\n  \
                    apply    Apply\n  node     Node things\n  help     Print\n\nOptions:\n  -h  Help\n";
        assert_eq!(parse_commands(help), ["create", "apply", "node", "help"]);
        assert!(parse_commands("no commands here").is_empty());
    }
}
