//! `calicoctl ipam show | release | configure`, and dispatch of `ipam check` (in
//! `ipam_check`). The text comes from the ipam crate's renderers, so it matches Calico's.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use datastore::{ResourceClient, Store};
use ipam::{IpVersion, Ipam};

use crate::cli::{IpamCommand, IpamConfigureArgs, IpamReleaseArgs, IpamShowArgs};
use crate::ipam_check;

/// Runs one `calicoctl ipam` subcommand against `store`.
pub async fn run(store: Arc<dyn Store>, command: IpamCommand) -> Result<()> {
    let resources = ResourceClient::new(Arc::clone(&store));
    let ipam = Ipam::new(store);
    match command {
        IpamCommand::Show(args) => show(&ipam, &args).await,
        IpamCommand::Check(args) => ipam_check::check(&ipam, &args).await,
        IpamCommand::Release(args) => release(&ipam, &resources, &args).await,
        IpamCommand::Configure(args) => configure(&ipam, &args).await,
    }
}

/// Parses an `--ip` value.
fn parse_ip(text: &str) -> Result<IpAddr> {
    text.trim()
        .parse()
        .map_err(|_| anyhow!("Invalid IP address specified: {text}"))
}

/// Every live block, IPv4 then IPv6.
async fn all_blocks(ipam: &Ipam) -> Result<Vec<ipam::AllocationBlock>> {
    let mut blocks = Vec::new();
    for version in [IpVersion::V4, IpVersion::V6] {
        blocks.extend(ipam.blocks(version).await?.into_iter().map(|b| b.value));
    }
    Ok(blocks)
}

async fn show(ipam: &Ipam, args: &IpamShowArgs) -> Result<()> {
    let text = if args.show_configuration {
        ipam::render_configuration(&ipam.config().await?)
    } else if let Some(ip) = &args.ip {
        let ip = parse_ip(ip)?;
        ipam::render_ip_info(ip, ipam.ip_info(ip).await?.as_ref())
    } else if args.show_borrowed {
        ipam::render_borrowed(&ipam::borrowed(&all_blocks(ipam).await?))
    } else {
        let pools = ipam.pools().await?;
        let blocks = all_blocks(ipam).await?;
        ipam::render_usage(&ipam::usage(&pools, &blocks, args.show_blocks))
    };
    print!("{text}");
    Ok(())
}

async fn release(ipam: &Ipam, resources: &ResourceClient, args: &IpamReleaseArgs) -> Result<()> {
    match &args.ip {
        Some(ip) => {
            let ip = parse_ip(ip)?;
            let result = ipam.release_ips(&[ip]).await?;
            print!("{}", ipam::render_release_ip(ip, &result)?);
            Ok(())
        }
        None => {
            ipam_check::release_from_reports(ipam, resources, &args.from_report, args.force).await
        }
    }
}

async fn configure(ipam: &Ipam, args: &IpamConfigureArgs) -> Result<()> {
    ipam.configure(args.strict_affinity, args.max_blocks_per_host)
        .await?;
    println!(
        "Successfully set StrictAffinity to: {}",
        args.strict_affinity
    );
    if let Some(max) = args.max_blocks_per_host {
        println!("Successfully set MaxBlocksPerHost to: {max}");
    }
    Ok(())
}
