//! The thin shell over `ip`: namespaces, links, addresses, routes and sysctls, always
//! inside a namespace the lab owns (`ip -n NS ...`, `ip netns exec NS ...`), never in the
//! root namespace.

use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = describe(cmd);
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: shown.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Command {
            command: shown,
            detail: if stderr.is_empty() {
                out.status.to_string()
            } else {
                stderr
            },
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command line as one string, for error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ip -n NS <args>`.
pub fn ip(ns: &str, args: &[&str]) -> Result<String> {
    run(Command::new("ip").arg("-n").arg(ns).args(args))
}

/// A command that runs `program` inside `ns`.
pub fn exec(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// Creates a named namespace and brings its loopback up.
pub fn add(ns: &str) -> Result<()> {
    run(Command::new("ip").args(["netns", "add", ns]))?;
    ip(ns, &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes a named namespace; one that is already gone is not an error.
pub fn delete(ns: &str) -> Result<()> {
    if !list()?.iter().any(|n| n == ns) {
        return Ok(());
    }
    run(Command::new("ip").args(["netns", "delete", ns]))?;
    Ok(())
}

/// The named namespaces on this machine.
pub fn list() -> Result<Vec<String>> {
    let text = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(parse_list(&text))
}

/// Parses `ip netns list` (`name` or `name (id: N)` per line).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Writes a sysctl inside `ns`.
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    run(exec(ns, "sysctl").args(["-q", "-w", &format!("{key}={value}")]))?;
    Ok(())
}

/// The path a runtime passes as `CNI_NETNS` for a named namespace.
pub fn path(ns: &str) -> String {
    format!("/run/netns/{ns}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespace_list() {
        assert_eq!(
            parse_list("clab-node1 (id: 2)\nclab-fabric\n\n"),
            vec!["clab-node1".to_string(), "clab-fabric".to_string()]
        );
    }

    #[test]
    fn failing_commands_carry_their_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("boom") && text.contains("sh -c"), "{text}");
        assert_eq!(run(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }
}
