//! `calico-lab`: builds a whole Calico cluster on one machine inside network namespaces it
//! owns (a fabric, nodes running calico-node, workloads made through the calico CNI plugin),
//! shows its state, probes its connectivity, and removes it again.

mod cli;
mod cni;
mod demo;
mod error;
mod lab;
mod lock;
mod matrix;
mod netns;
mod paths;
mod probe;
mod process;
mod readiness;
mod render;
mod requirements;
mod spec;
mod state;
mod status;
mod store;
mod topology;
mod tor;
mod tor_sessions;
mod ui;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, Command, NodeCommand, Output, UpArgs, WorkloadCommand};
use crate::lab::{Lab, LabContext, Scope};
use crate::spec::LabSpec;
use crate::ui::Ui;

/// How long `workload add` waits for the agents to program the new workload.
const WORKLOAD_READY_WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("calico-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn spec_of(args: &UpArgs) -> LabSpec {
    LabSpec {
        nodes: args.nodes,
        workloads_per_node: args.workloads,
        datastore: args.datastore,
        peering: args.peering,
        tor: args.tor,
        ipv6: args.ipv6,
        pool: args.pool,
        pool6: args.pool6,
    }
}

/// `1 node`, `2 nodes`, `3 processes`.
fn count(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn open(name: &str) -> Result<Lab> {
    requirements::check(&requirements::base())?;
    Ok(Lab::open(LabContext::from_env(name)?)?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let ui = Ui::detect();
    match cli.command {
        Command::Up(args) => {
            let ctx = LabContext::from_env(&cli.name)?;
            let started = std::time::Instant::now();
            let bar = ui.spinner("bringing the lab up");
            let result = lab::up(ctx, spec_of(&args), &|step| {
                bar.set_message(step.to_string())
            });
            bar.finish_and_clear();
            let (lab, report) = result?;
            demo::report_agents(&lab, &report);
            println!(
                "lab {} is up: {}, {} (`calico-lab status --name {}`)",
                lab.ctx.name,
                count(lab.state.topology.nodes.len(), "node"),
                count(lab.state.workloads.len(), "workload"),
                lab.ctx.name
            );
            println!(
                "ready for traffic after {:.1}s ({:.1}s of it waiting for calico-node to \
                 program the workloads and for BGP sessions and routes)",
                started.elapsed().as_secs_f64(),
                report.ready_wait.as_secs_f64()
            );
            println!("logs: {}", lab.ctx.paths.log_dir().display());
        }
        Command::Check(args) => {
            let spec = spec_of(&args).validate()?;
            let mut needs = requirements::for_up(&spec, &paths::bin_dir());
            needs.extend(requirements::for_icmp());
            let survey = requirements::survey(needs);
            for (need, ok) in &survey {
                println!(
                    "{} {}",
                    if *ok { "ok     " } else { "MISSING" },
                    need.describe()
                );
            }
            if survey.iter().any(|(_, ok)| !ok) {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Down => {
            requirements::check(&requirements::base())?;
            let ctx = LabContext::from_env(&cli.name)?;
            let report = lab::down(&ctx)?;
            if !report.found {
                println!("no lab {} found; nothing to remove", ctx.name);
            } else {
                println!(
                    "lab {} is down: stopped {}, removed {}",
                    ctx.name,
                    count(report.stopped.len(), "process"),
                    count(report.namespaces.len(), "namespace")
                );
            }
            for (ns, pid) in &report.strays {
                ui::warn(&format!(
                    "process {pid} was running in {ns} but was not started by the lab; left alone"
                ));
            }
        }
        Command::Status(args) => {
            let lab = open(&cli.name)?;
            let report = lab.status();
            match args.output {
                Output::Json => print_json(&report)?,
                Output::Text => print!("{}", report.render()),
            }
        }
        Command::Matrix(args) => {
            if args.proto == probe::Proto::Icmp {
                requirements::check(&requirements::for_icmp())?;
            }
            let mut lab = open(&cli.name)?;
            let (names, matrix) = lab.matrix(
                args.proto,
                args.port,
                args.ipv6,
                Duration::from_millis(args.timeout_ms),
            )?;
            match args.output {
                Output::Json => print_json(&matrix)?,
                Output::Text => print!("{}", matrix.render(&names, ui.color)),
            }
        }
        Command::Workload(WorkloadCommand::Add {
            workload,
            node,
            ip,
            labels,
        }) => {
            let mut lab = open(&cli.name)?;
            let labels = spec::parse_labels(&labels)?;
            lab.add_workload(&workload, &node, ip, labels)?;
            let bar = ui.spinner("waiting for calico-node to program the workload");
            let ready = lab.await_ready(
                std::slice::from_ref(&workload),
                Scope::NewWorkloads,
                WORKLOAD_READY_WAIT,
                &|step| bar.set_message(step.to_string()),
            );
            bar.finish_and_clear();
            ready.with_context(|| {
                format!(
                    "workload {workload} was created on {node} but is not ready for traffic \
                     (`calico-lab workload del {workload}` removes it)"
                )
            })?;
            let w = lab.state.workload(&workload).expect("just added");
            let addrs: Vec<String> = w.addresses.iter().map(|a| a.to_string()).collect();
            println!(
                "workload {} on {} in namespace {}: {}",
                w.name,
                w.node,
                w.namespace,
                addrs.join(", ")
            );
        }
        Command::Workload(WorkloadCommand::Del { workload }) => {
            let mut lab = open(&cli.name)?;
            lab.del_workload(&workload)?;
            println!("workload {workload} removed");
        }
        Command::Node(NodeCommand::Restart { node }) => {
            let mut lab = open(&cli.name)?;
            let pid = lab.restart_node(&node)?;
            let names: Vec<String> = lab.state.workloads.iter().map(|w| w.name.clone()).collect();
            let bar = ui.spinner("waiting for the restarted calico-node to be ready");
            let ready = lab.await_ready(&names, Scope::WholeLab, WORKLOAD_READY_WAIT, &|step| {
                bar.set_message(step.to_string())
            });
            bar.finish_and_clear();
            let took = ready.with_context(|| {
                format!("calico-node on {node} was restarted (PID {pid}) but the lab is not ready")
            })?;
            println!(
                "calico-node on {node} restarted (PID {pid}), ready after {:.1}s",
                took.as_secs_f64()
            );
        }
        Command::Exec(args) => {
            let lab = open(&cli.name)?;
            let mut cmd = lab.exec_command(&args.member, &args.command)?;
            let status = cmd
                .status()
                .with_context(|| format!("cannot run {}", netns::describe(&cmd)))?;
            let code = status.code().unwrap_or(1);
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Command::Demo(args) => {
            let ctx = LabContext::from_env(&cli.name)?;
            demo::run(ctx, args.nodes, args.workloads, ui)?;
        }
        Command::Responder { port } => probe::respond(port)?,
        Command::Probe {
            proto,
            port,
            timeout_ms,
            targets,
        } => {
            let answers =
                probe::probe_all(proto, &targets, port, Duration::from_millis(timeout_ms));
            println!("{}", serde_json::to_string(&answers)?);
        }
        Command::TorRouter {
            asn,
            router_id,
            local,
            peers,
            status_socket,
        } => tor::run(
            tor::TorConfig {
                asn,
                router_id,
                local,
                peers,
            },
            &status_socket,
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
