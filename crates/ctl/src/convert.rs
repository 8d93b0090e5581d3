//! `calicoctl convert`: Calico v1 manifests and Kubernetes NetworkPolicies in (file,
//! directory or stdin), the equivalent `projectcalico.org/v3` resources out as YAML or JSON.
//! Needs no datastore.

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::cli::ConvertArgs;
use crate::input;
use crate::k8s_convert;
use crate::output::{self, Format};

pub fn run(args: &ConvertArgs) -> Result<()> {
    let format = match args.output.as_str() {
        "yaml" | "yml" => Format::Yaml,
        "json" => Format::Json,
        other => return Err(anyhow!("unrecognized output format '{other}'")),
    };
    let mut converted = Vec::new();
    let mut warnings = Vec::new();
    for source in input::read_sources(&args.file.filename, args.file.recursive)? {
        let resources = k8s_convert::convert(&source.name, &source.text, &mut warnings)?;
        converted.extend(resources.iter().map(|r| {
            let mut v = r.to_json();
            output::strip_cluster_metadata(&mut v);
            v
        }));
    }
    let text = match (format, converted.as_slice()) {
        (_, []) if args.file.skip_empty => return Ok(()),
        (_, []) => return Err(anyhow!("No resources specified")),
        (Format::Yaml, values) => {
            api::encode_yaml(values).map_err(|e| anyhow!("Failed to execute command: {e}"))?
        }
        (Format::Json, [one]) => output::render(one, Format::Json)?,
        (Format::Json, many) => output::render(&json_list(many), Format::Json)?,
    };
    for warning in warnings {
        eprintln!("{warning}");
    }
    print!("{text}");
    Ok(())
}

/// Several converted resources as one JSON object, shaped like the YAML list:
/// `<Kind>List` when they share a kind, else `List`.
fn json_list(items: &[Value]) -> Value {
    let kinds: Vec<&str> = items.iter().filter_map(|v| v["kind"].as_str()).collect();
    let kind = match kinds.first() {
        Some(k) if kinds.len() == items.len() && kinds.iter().all(|x| x == k) => format!("{k}List"),
        _ => "List".to_string(),
    };
    json!({"apiVersion": api::API_VERSION, "kind": kind, "items": items})
}
