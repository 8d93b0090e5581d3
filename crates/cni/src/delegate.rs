//! Running the IPAM plugin named in `ipam.type` from `CNI_PATH`, as a runtime would: same
//! environment except `CNI_COMMAND`, same stdin; its result or error comes back typed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::{Error, Result};

/// Finds `plugin` in the `CNI_PATH` directories.
pub fn find(plugin: &str, path: &[PathBuf]) -> Result<PathBuf> {
    if plugin.is_empty() || plugin.contains('/') {
        return Err(Error::Config(format!(
            "invalid IPAM plugin type {plugin:?}"
        )));
    }
    path.iter()
        .map(|dir| dir.join(plugin))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let dirs: Vec<String> = path.iter().map(|d| d.display().to_string()).collect();
            Error::Env(format!(
                "failed to find plugin {plugin:?} in CNI_PATH [{}]",
                dirs.join(" ")
            ))
        })
}

/// Runs `binary` with `CNI_COMMAND=command` and `stdin`; returns its parsed stdout (if any).
pub fn run(binary: &Path, command: &str, stdin: &[u8]) -> Result<Option<Value>> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut child = Command::new(binary)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::io(format!("running {}", binary.display()), e))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin)
            .map_err(|e| Error::io(format!("writing stdin of {name}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for {name}"), e))?;
    let parsed: Option<Value> = if out.stdout.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(&out.stdout).map_err(|e| Error::Delegate {
                plugin: name.clone(),
                code: 999,
                msg: format!("unparseable output: {e}"),
            })?,
        )
    };
    if out.status.success() {
        return Ok(parsed);
    }
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k).cloned());
    Err(Error::Delegate {
        plugin: name,
        code: field("code")
            .and_then(|c| c.as_u64())
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(999),
        msg: field("msg")
            .and_then(|m| m.as_str().map(String::from))
            .unwrap_or_else(|| format!("exited with {}", out.status)),
    })
}
