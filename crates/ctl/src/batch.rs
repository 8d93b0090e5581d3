//! `create`, `apply`, `replace`, `delete` and `validate` over many resources: run the action on
//! each resource in order, keep going past failures, then report like calicoctl
//! (`Successfully created 2 'IPPool' resource(s)`, `Partial success: ...`, one line per error).

use anyhow::{anyhow, Result};
use api::{Kind, Resource};
use datastore::{Error as StoreError, ResourceClient, Revision};

use crate::input::Entry;

/// What to do with each resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create { skip_exists: bool },
    Apply,
    Replace,
    Delete { skip_not_exists: bool },
    Validate,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Apply => "apply",
            Action::Replace => "replace",
            Action::Delete { .. } => "delete",
            Action::Validate => "validate",
        }
    }

    /// The operation named when refusing to write ClusterInformation, as calicoctl names it.
    fn readonly_operation(self) -> Option<&'static str> {
        match self {
            Action::Create { .. } => Some("create or apply"),
            Action::Apply => Some("apply"),
            Action::Replace => Some("apply or replace"),
            Action::Delete { .. } => Some("delete"),
            Action::Validate => None,
        }
    }

    fn past(self) -> &'static str {
        match self {
            Action::Create { .. } => "created",
            Action::Apply => "applied",
            Action::Replace => "replaced",
            Action::Delete { .. } => "deleted",
            Action::Validate => "validated",
        }
    }
}

/// calicoctl never writes ClusterInformation (calico-node owns it): refuses `operation` on it.
pub fn refuse_readonly(kind: Kind, operation: &str) -> std::result::Result<(), String> {
    match kind {
        Kind::ClusterInformation if operation == "apply" => Err(format!(
            "operation {operation} is not supported on {kind}: resource is readonly"
        )),
        Kind::ClusterInformation => {
            Err(format!("operation {operation} is not supported on {kind}"))
        }
        _ => Ok(()),
    }
}

/// A resource named on the command line or in a file, for `delete` and `get`.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
    /// Only for deletes from a file: delete only at this revision.
    pub revision: Option<Revision>,
}

impl Target {
    /// One target per name given on the command line, all of `kind` in `namespace`.
    pub fn named(kind: Kind, namespace: &Option<String>, names: &[String]) -> Vec<Target> {
        names
            .iter()
            .map(|name| Target {
                kind,
                namespace: namespace.clone(),
                name: name.clone(),
                revision: None,
            })
            .collect()
    }
}

/// Places a resource in the namespace calicoctl would: its own, else `-n`, else `default`;
/// cluster-scoped kinds take none.
pub fn place_namespace(
    kind: Kind,
    own: Option<&str>,
    cli: Option<&str>,
) -> std::result::Result<Option<String>, String> {
    match (kind.namespaced(), own, cli) {
        (true, Some(own), Some(cli)) if own != cli => Err(format!(
            "resource namespace does not match client namespace. {own} != {cli}"
        )),
        (true, Some(own), _) => Ok(Some(own.to_string())),
        (true, None, Some(cli)) => Ok(Some(cli.to_string())),
        (true, None, None) => Ok(Some(datastore::DEFAULT_NAMESPACE.to_string())),
        (false, Some(_), _) => Err(format!(
            "namespace should not be specified for a non-namespaced resource. {kind} is not a namespaced resource"
        )),
        (false, None, Some(_)) => Err(format!("{kind} is not namespaced")),
        (false, None, None) => Ok(None),
    }
}

/// How the resources of one command fared.
struct Outcome {
    /// Kind of every resource attempted (decoded ones only).
    kinds: Vec<Kind>,
    /// Resources attempted, including documents that could not be decoded.
    total: usize,
    handled: usize,
    /// Failures: the resource's kind when known, and the error.
    errors: Vec<(Option<Kind>, String)>,
}

impl Outcome {
    fn single_kind(&self) -> Option<Kind> {
        let first = *self.kinds.first()?;
        self.kinds.iter().all(|k| *k == first).then_some(first)
    }
}

/// Runs `action` on every entry and reports. `client` is `None` only for `validate`.
pub async fn run(
    action: Action,
    entries: Vec<Entry>,
    namespace: Option<&str>,
    client: Option<&ResourceClient>,
) -> Result<()> {
    let mut outcome = Outcome {
        kinds: Vec::new(),
        total: entries.len(),
        handled: 0,
        errors: Vec::new(),
    };
    for entry in entries {
        let (resource, origin) = match entry {
            Entry::Resource { resource, origin } => (*resource, origin),
            Entry::Invalid(message) => {
                outcome.errors.push((None, message));
                continue;
            }
        };
        let kind = resource.kind();
        outcome.kinds.push(kind);
        match execute(action, resource, namespace, client).await {
            Ok(()) => outcome.handled += 1,
            Err(message) => {
                let message = match &origin {
                    Some(origin) => format!("{origin}: {message}"),
                    None => message,
                };
                outcome.errors.push((Some(kind), message));
            }
        }
    }
    report(action, &outcome)
}

async fn execute(
    action: Action,
    mut resource: Resource,
    namespace: Option<&str>,
    client: Option<&ResourceClient>,
) -> std::result::Result<(), String> {
    let kind = resource.kind();
    if let Some(operation) = action.readonly_operation() {
        refuse_readonly(kind, operation)?;
    }
    let ns = place_namespace(kind, resource.metadata().namespace.as_deref(), namespace)?;
    resource.metadata_mut().namespace = ns;
    let Some(client) = client else {
        resource.apply_defaults();
        return resource.validate().map_err(|e| e.to_string());
    };
    let result = match action {
        Action::Create { .. } => client.create(resource).await.map(drop),
        Action::Apply => client.apply(resource).await.map(drop),
        Action::Replace => client.update(resource).await.map(drop),
        Action::Delete { .. } => {
            let target = target_of(&resource)?;
            delete(client, &target).await
        }
        Action::Validate => Ok(()),
    };
    match (action, result) {
        (Action::Create { skip_exists: true }, Err(StoreError::AlreadyExists { .. }))
        | (
            Action::Delete {
                skip_not_exists: true,
            },
            Err(StoreError::NotFound { .. }),
        ) => Ok(()),
        (_, result) => result.map_err(|e| e.to_string()),
    }
}

/// The target of a resource read from a file (its resourceVersion, if any, guards a delete).
fn target_of(resource: &Resource) -> std::result::Result<Target, String> {
    let meta = resource.metadata();
    let revision = match meta.resource_version.as_deref() {
        Some(rv) => Some(
            rv.parse()
                .map_err(|_| format!("resourceVersion '{rv}' is not a revision number"))?,
        ),
        None => None,
    };
    Ok(Target {
        kind: resource.kind(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        revision,
    })
}

async fn delete(client: &ResourceClient, t: &Target) -> std::result::Result<(), StoreError> {
    client
        .delete(t.kind, t.namespace.as_deref(), &t.name, t.revision)
        .await
        .map(drop)
}

/// `delete KIND NAME...`: deletes each named resource.
pub async fn delete_named(
    client: &ResourceClient,
    targets: Vec<Target>,
    skip_not_exists: bool,
) -> Result<()> {
    let mut outcome = Outcome {
        kinds: targets.iter().map(|t| t.kind).collect(),
        total: targets.len(),
        handled: 0,
        errors: Vec::new(),
    };
    for t in &targets {
        if let Err(e) = refuse_readonly(t.kind, "delete") {
            outcome.errors.push((Some(t.kind), e));
            continue;
        }
        match delete(client, t).await {
            Ok(()) => outcome.handled += 1,
            Err(StoreError::NotFound { .. }) if skip_not_exists => outcome.handled += 1,
            Err(e) => outcome.errors.push((Some(t.kind), e.to_string())),
        }
    }
    report(
        Action::Delete {
            skip_not_exists: false,
        },
        &outcome,
    )
}

/// Prints the summary line(s) to stdout; failures come back as one error line each.
fn report(action: Action, outcome: &Outcome) -> Result<()> {
    let (verb, past) = (action.verb(), action.past());
    if outcome.total == 0 {
        println!("No resources specified");
        return Ok(());
    }
    let kind = outcome.single_kind();
    let counted = |n: usize, plural: &str| match kind {
        Some(k) => format!("{n} '{k}' {plural}"),
        None => format!("{n} {plural}"),
    };
    let is_delete = matches!(action, Action::Delete { .. });
    // create, apply and validate print their errors as a list, like calicoctl's `%v` of one.
    let bracketed = !matches!(action, Action::Delete { .. } | Action::Replace);
    if outcome.handled > 0 && (outcome.errors.is_empty() || is_delete) {
        println!(
            "Successfully {past} {}",
            counted(outcome.handled, "resource(s)")
        );
    } else if outcome.handled > 0 {
        println!(
            "Partial success: {past} the first {} out of {}:",
            outcome.handled,
            counted(outcome.total, "resources")
        );
    }
    if outcome.errors.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = outcome
        .errors
        .iter()
        .map(|(kind, error)| {
            let what = match kind {
                Some(k) => format!("'{k}' resource"),
                None => "resource".to_string(),
            };
            match (is_delete, outcome.handled > 0, bracketed) {
                (false, true, _) => format!("Hit error: {error}"),
                (_, _, true) => format!("Failed to {verb} {what}: [{error}]"),
                (_, _, false) => format!("Failed to {verb} {what}: {error}"),
            }
        })
        .collect();
    Err(anyhow!(lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_placement_follows_calicoctl() {
        let np = Kind::NetworkPolicy;
        assert_eq!(place_namespace(np, None, None), Ok(Some("default".into())));
        assert_eq!(place_namespace(np, None, Some("a")), Ok(Some("a".into())));
        assert_eq!(
            place_namespace(np, Some("a"), Some("a")),
            Ok(Some("a".into()))
        );
        assert_eq!(
            place_namespace(np, Some("a"), Some("b")),
            Err("resource namespace does not match client namespace. a != b".into())
        );
        assert_eq!(place_namespace(Kind::IPPool, None, None), Ok(None));
        assert_eq!(
            place_namespace(Kind::IPPool, None, Some("x")),
            Err("IPPool is not namespaced".into())
        );
        assert!(place_namespace(Kind::IPPool, Some("x"), None)
            .unwrap_err()
            .contains("IPPool is not a namespaced resource"));
    }
}
