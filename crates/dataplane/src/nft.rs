//! Thin shell around the `nft` binary: apply one batch atomically, read our table back.
//!
//! Both run `nft` as a child of the calling thread, so they act in that thread's network
//! namespace (the agent's own, or a test's after `setns`).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::diff::Batch;
use crate::error::Error;
use crate::model::IpVersion;
use crate::reader::parse_table;
use crate::table::{family_name, Table, TABLE_NAME};

/// Load a batch with `nft -f -`: one kernel transaction, all or nothing. An empty batch runs
/// nothing.
pub fn apply(batch: &Batch) -> Result<(), Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let command = "nft -f -".to_owned();
    let spawn_err = |source| Error::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(batch.text.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().map_err(spawn_err)?;
    if !output.status.success() {
        return Err(Error::Nft {
            command,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    written.map_err(spawn_err)
}

/// Read our table of one family; an absent table reads as [`Table::empty`].
pub fn read_table(family: IpVersion) -> Result<Table, Error> {
    let fam = family_name(family);
    let command = format!("nft -j list table {fam} {TABLE_NAME}");
    let output = Command::new("nft")
        .args(["-j", "list", "table", fam, TABLE_NAME])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No such file or directory") {
            return Ok(Table::empty(family));
        }
        return Err(Error::Nft {
            command,
            stderr: stderr.trim().to_owned(),
        });
    }
    parse_table(&String::from_utf8_lossy(&output.stdout), family)
}

/// Converge the kernel on `desired`: read what is programmed, apply the minimal batch.
/// Returns the batch that was applied (empty when nothing had drifted).
pub fn converge(desired: &Table) -> Result<Batch, Error> {
    let actual = read_table(desired.family)?;
    let batch = crate::diff::diff(&actual, desired);
    apply(&batch)?;
    Ok(batch)
}
