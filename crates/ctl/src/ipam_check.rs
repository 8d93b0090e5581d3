//! `calicoctl ipam check` and `ipam release --from-report`. Check prints Calico's report
//! text, writes the JSON report with `-o`, and fails (exit 1) when it found any problem;
//! release reads such reports back and frees what they found leaked, only while the
//! datastore is locked (`ClusterInformation.datastoreReady: false`) unless `--force`.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use api::{Kind, Resource};
use datastore::ResourceClient;
use ipam::{CheckReport, Ipam, IpamSnapshot};

use crate::cli::IpamCheckArgs;

/// The report line before which `--show-all-ips` lists every allocation.
const LEAK_SCAN: &str = "Scanning for IPs that are allocated but not actually in use...\n";

pub async fn check(ipam: &Ipam, args: &IpamCheckArgs) -> Result<()> {
    let snapshot = ipam.snapshot().await?;
    let report = ipam::check(&snapshot);
    let mut text = ipam::render_check(&report);
    if !args.show_problem_ips {
        text = text
            .lines()
            .filter(|l| !is_problem_ip_line(l))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    if args.show_all_ips {
        let at = text.find(LEAK_SCAN).unwrap_or(0);
        text.insert_str(at, &all_ips(&snapshot));
    }
    print!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, report.to_json())
            .map_err(|e| anyhow!("Failed to write report to {}: {e}", path.display()))?;
    }
    match report.problems() {
        0 => Ok(()),
        n => Err(anyhow!("IPAM check found {n} problems")),
    }
}

/// A per-address problem line of the report (`  <ip> leaked; ...`, `  <ip> in use by ...`).
fn is_problem_ip_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let mut words = rest.split(' ');
    let is_ip = words.next().is_some_and(|w| w.parse::<IpAddr>().is_ok());
    is_ip && matches!(words.next(), Some("leaked;" | "in"))
}

/// One line per allocated address: handle and owner attributes.
fn all_ips(snapshot: &IpamSnapshot) -> String {
    let mut rows: Vec<(IpAddr, String)> = snapshot
        .blocks
        .iter()
        .flat_map(|b| b.allocated())
        .map(|(ip, attr)| {
            let mut line = format!(
                "  {ip} allocated; handle={}",
                attr.handle_id.as_deref().unwrap_or("<none>")
            );
            for (k, v) in &attr.secondary {
                line.push_str(&format!(" {k}={v}"));
            }
            (ip, line)
        })
        .collect();
    rows.sort();
    let mut out = format!("Listing all {} allocated IPs...\n", rows.len());
    for (_, line) in rows {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `ipam release --from-report=FILE...`.
pub async fn release_from_reports(
    ipam: &Ipam,
    resources: &ResourceClient,
    files: &[PathBuf],
    force: bool,
) -> Result<()> {
    let mut reports = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow!("Failed to read report file {}: {e}", file.display()))?;
        let report = CheckReport::from_json(&text)
            .map_err(|e| anyhow!("Failed to load report file {}: {e}", file.display()))?;
        reports.push(report);
    }
    if !force && !datastore_locked(resources).await? {
        return Err(anyhow!(
            "Datastore is not locked: run `calicoctl datastore migrate lock` before releasing IPs from a report, or use --force"
        ));
    }
    for report in &reports {
        let outcome = ipam.release_from_report(report).await?;
        print!("{}", outcome.render(report));
    }
    Ok(())
}

/// True when ClusterInformation `default` says the datastore is not ready (locked).
async fn datastore_locked(resources: &ResourceClient) -> Result<bool> {
    match resources
        .get(Kind::ClusterInformation, None, "default")
        .await
    {
        Ok(Resource::ClusterInformation(ci)) => Ok(ci.spec.datastore_ready == Some(false)),
        Ok(_) | Err(datastore::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(anyhow!("Failed to read ClusterInformation: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_lines_are_recognised() {
        assert!(is_problem_ip_line("  10.0.0.1 leaked; handle=h"));
        assert!(is_problem_ip_line(
            "  fd00::5 in use by WorkloadEndpoint(ns/w) but not allocated"
        ));
        assert!(!is_problem_ip_line("  10.0.0.0/24"));
        assert!(!is_problem_ip_line("  n1 has 3 allocations"));
        assert!(!is_problem_ip_line("  10.0.0.1 has 3 allocations"));
        assert!(!is_problem_ip_line("Found 1 IPs with missing handle."));
    }
}
