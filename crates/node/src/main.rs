//! `calico-node`: the per-node agent. Prints one line and exits non-zero when it cannot
//! start; exits 0 after SIGTERM or SIGINT.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use node::agent::{self, AgentOptions, DEFAULT_STATUS_SOCKET};

/// The Calico node agent (settings come from the environment, as for calico/node).
#[derive(Parser, Debug)]
#[command(name = "calico-node", version)]
struct Args {
    /// Unix socket where `calicoctl node status` reads the agent's status.
    #[arg(long, env = "CALICO_STATUS_SOCKET", default_value = DEFAULT_STATUS_SOCKET)]
    status_socket: PathBuf,
    /// Record every datastore update the agent handles to this file (JSON lines), for replay.
    #[arg(long, env = "CALICO_RECORD_EVENTS")]
    record_events: Option<PathBuf>,
    /// A CalicoAPIConfig file with the datastore settings (default: the environment).
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    /// Print what this node wants programmed (policy state, nft text with the reason for
    /// every rule, routes) and what an agent would change now, as JSON; then exit.
    #[arg(long)]
    dump_dataplane: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calico-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.dump_dataplane {
        let text = runtime.block_on(node::dataplane_driver::dump(args.config.as_deref()))?;
        println!("{text}");
        return Ok(());
    }
    runtime.block_on(agent::run(AgentOptions {
        datastore_config: args.config,
        status_socket: args.status_socket,
        record_events: args.record_events,
    }))?;
    Ok(())
}
