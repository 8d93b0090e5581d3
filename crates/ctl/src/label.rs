//! `calicoctl label`: set, overwrite or remove one label on a stored resource.

use anyhow::{anyhow, Result};
use datastore::ResourceClient;

use crate::batch::{place_namespace, refuse_readonly};
use crate::cli::LabelArgs;
use crate::get::parse_kind;

pub async fn run(client: &ResourceClient, args: LabelArgs) -> Result<()> {
    let (kind_arg, name) = (&args.kind, &args.name);
    let kind = parse_kind(kind_arg)?;
    refuse_readonly(kind, "apply or replace")
        .map_err(|e| anyhow!("failed to update {kind_arg} {name}, label not changed: {e}"))?;
    let (key, value) = if args.remove {
        (args.label.clone(), None)
    } else {
        match args.label.split('=').collect::<Vec<_>>().as_slice() {
            [k, v] => (k.to_string(), Some(v.to_string())),
            _ => return Err(anyhow!("invalid label {}", args.label)),
        }
    };
    let namespace =
        place_namespace(kind, None, args.namespace.as_deref()).map_err(|e| anyhow!(e))?;
    let mut resource = client
        .get(kind, namespace.as_deref(), name)
        .await
        .map_err(|e| anyhow!("failed to get {kind_arg} {name}, error {e}"))?;
    let labels = &mut resource.metadata_mut().labels;
    let message = match value {
        None => {
            if labels.remove(&key).is_none() {
                return Err(anyhow!(
                    "cannot remove label of {kind_arg} {name}, key {key} does not exist"
                ));
            }
            format!("Successfully removed label {key} from {kind_arg} {name}")
        }
        Some(value) => match labels.get(&key) {
            Some(old) if !args.overwrite && *old != value => {
                return Err(anyhow!(
                    "failed to update label of {kind_arg} {name}, key {key} is already present. please use '--overwrite' to set a new value."
                ));
            }
            Some(_) => {
                labels.insert(key.clone(), value);
                format!("Successfully updated label {key} on {kind_arg} {name}")
            }
            None => {
                labels.insert(key.clone(), value);
                format!("Successfully set label {key} on {kind_arg} {name}")
            }
        },
    };
    client
        .update(resource)
        .await
        .map_err(|e| anyhow!("failed to update {kind_arg} {name}, label not changed: {e}"))?;
    println!("{message}");
    Ok(())
}
