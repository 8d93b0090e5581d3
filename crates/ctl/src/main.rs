//! `calicoctl`: manage Calico `projectcalico.org/v3` resources in the configured datastore.
//! Success messages go to stdout; every failure is printed to stderr and exits 1.

mod batch;
mod cli;
mod convert;
mod get;
mod input;
mod ipam;
mod ipam_check;
mod json_patch;
mod k8s_convert;
mod label;
mod node_status;
mod output;
mod patch;
mod table;
mod tabwriter;
mod trace;
mod trace_peer;
mod version;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use clap::Parser;
use datastore::{DatastoreConfig, ResourceClient, Store};

use crate::batch::{Action, Target};
use crate::cli::{Cli, Command, DeleteArgs, GlobalArgs, PolicyCommand, WriteArgs};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let failed = e.use_stderr();
            let _ = e.print();
            return if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Failed to start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the datastore named by `-c` or the environment, and checks the cluster's version.
async fn connect(global: &GlobalArgs) -> Result<ResourceClient> {
    Ok(ResourceClient::new(connect_store(global).await?))
}

/// [`connect`], returning the raw store (for IPAM, which reads its own keys).
async fn connect_store(global: &GlobalArgs) -> Result<Arc<dyn Store>> {
    let store = open_store(global).await?;
    if !global.allow_version_mismatch {
        version::check_mismatch(&ResourceClient::new(Arc::clone(&store))).await?;
    }
    Ok(store)
}

async fn open(global: &GlobalArgs) -> Result<ResourceClient> {
    Ok(ResourceClient::new(open_store(global).await?))
}

async fn open_store(global: &GlobalArgs) -> Result<Arc<dyn Store>> {
    let config = DatastoreConfig::load(global.config.as_deref())
        .map_err(|e| anyhow!("Failed to create Calico API client: {e}"))?;
    if matches!(global.log_level.as_str(), "info" | "debug" | "trace") {
        match &config {
            DatastoreConfig::Embedded { path } => {
                eprintln!("Using the embedded datastore at {}", path.display())
            }
            DatastoreConfig::Etcd(etcd) => {
                eprintln!("Using etcd at {}", etcd.endpoints.join(","))
            }
        }
    }
    datastore::connect(&config)
        .await
        .map_err(|e| anyhow!("Failed to create Calico API client: {e}"))
}

async fn run(cli: Cli) -> Result<()> {
    let Cli { global, command } = cli;
    match command {
        Command::Validate(file) => {
            let entries = input::load(&file.filename, file.recursive, file.skip_empty)?;
            batch::run(Action::Validate, entries, None, None).await
        }
        Command::Convert(args) => convert::run(&args),
        Command::Version(args) => {
            let client = match args.client {
                true => None,
                false => open(&global).await.ok(),
            };
            version::run(client.as_ref(), args.client).await;
            Ok(())
        }
        Command::Create(args) => {
            let action = Action::Create {
                skip_exists: args.skip_exists,
            };
            write(&global, action, args.write).await
        }
        Command::Apply(args) => write(&global, Action::Apply, args).await,
        Command::Replace(args) => write(&global, Action::Replace, args).await,
        Command::Delete(args) => delete(&connect(&global).await?, args).await,
        Command::Get(args) => get::run(&connect(&global).await?, args).await,
        Command::Patch(args) => patch::run(&connect(&global).await?, args).await,
        Command::Label(args) => label::run(&connect(&global).await?, args).await,
        Command::Ipam(args) => ipam::run(connect_store(&global).await?, args.command).await,
        Command::Node(args) => node_status::run(&args).await,
        Command::Policy(args) => match args.command {
            PolicyCommand::Trace(trace) => trace::run(&connect(&global).await?, &trace).await,
        },
    }
}

/// create / apply / replace from `-f`.
async fn write(global: &GlobalArgs, action: Action, args: WriteArgs) -> Result<()> {
    let file = &args.file;
    let entries = input::load(&file.filename, file.recursive, file.skip_empty)?;
    let client = connect(global).await?;
    batch::run(action, entries, args.namespace.as_deref(), Some(&client)).await
}

/// delete from `-f`, or `delete KIND NAME...`.
async fn delete(client: &ResourceClient, args: DeleteArgs) -> Result<()> {
    if let Some(file) = &args.filename {
        let entries = input::load(file, args.recursive, args.skip_empty)?;
        let action = Action::Delete {
            skip_not_exists: args.skip_not_exists,
        };
        return batch::run(action, entries, args.namespace.as_deref(), Some(client)).await;
    }
    let Some(kind) = &args.kind else {
        return Err(anyhow!("No resources specified"));
    };
    let kind = get::parse_kind(kind)?;
    if args.names.is_empty() {
        return Err(anyhow!("No resources specified"));
    }
    if args.names.iter().any(String::is_empty) {
        return Err(anyhow!("resource name may not be empty"));
    }
    let namespace =
        batch::place_namespace(kind, None, args.namespace.as_deref()).map_err(|e| anyhow!(e))?;
    let targets = Target::named(kind, &namespace, &args.names);
    batch::delete_named(client, targets, args.skip_not_exists).await
}
