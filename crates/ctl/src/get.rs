//! `calicoctl get`: look resources up by kind and name (or list a kind, or the resources named
//! in a file) and print them as a table, YAML or JSON.

use anyhow::{anyhow, Result};
use api::{Kind, Resource};
use datastore::{Error as StoreError, ResourceClient};
use serde_json::Value;

use crate::batch::{place_namespace, Target};
use crate::cli::GetArgs;
use crate::input::{self, Entry};
use crate::output::{self, Format};
use crate::table::{self, Layout, TableContext};

/// The AS number nodes use when neither they nor BGPConfiguration `default` set one.
const DEFAULT_AS: &str = "64512";

enum Output {
    Table(Layout),
    Structured(Format),
}

fn parse_output(spec: &str) -> Result<Output> {
    Ok(match spec {
        "ps" => Output::Table(Layout::Ps),
        "wide" => Output::Table(Layout::Wide),
        "yaml" | "yml" => Output::Structured(Format::Yaml),
        "json" => Output::Structured(Format::Json),
        other => match other.strip_prefix("custom-columns") {
            Some("" | "=") => return Err(anyhow!("need to specify at least one column")),
            Some(cols) if cols.starts_with('=') => Output::Table(Layout::Custom(
                cols[1..].split(',').map(str::to_string).collect(),
            )),
            _ => return Err(anyhow!("unrecognized output format '{other}'")),
        },
    })
}

/// Resolves a kind name given on the command line.
pub fn parse_kind(name: &str) -> Result<Kind> {
    Kind::from_alias(name).ok_or_else(|| anyhow!("resource type '{name}' is not supported"))
}

/// What one `get` looks up.
enum Query {
    /// Every resource of the kind (in one namespace, or all for `None`).
    List(Kind, Option<String>),
    /// Specific resources.
    Named(Vec<Target>),
}

pub async fn run(client: &ResourceClient, args: GetArgs) -> Result<()> {
    let out = parse_output(&args.output)?;
    if args.all_namespaces && args.namespace.is_some() {
        return Err(anyhow!(
            "cannot use both --namespace and --all-namespaces flags at the same time"
        ));
    }
    let mut errors = Vec::new();
    let queries = match (&args.filename, &args.kind) {
        (Some(file), _) => file_queries(file, &args, &mut errors)?,
        (None, Some(kind)) => vec![arg_query(parse_kind(kind)?, &args)?],
        (None, None) => return Err(anyhow!("No resources specified")),
    };
    let mut results = Vec::new();
    for query in queries {
        match query {
            Query::List(kind, ns) => {
                let list = client.list(kind, ns.as_deref(), "").await?;
                results.push(Found::List(kind, list.items, list.revision));
            }
            Query::Named(targets) => {
                for t in targets {
                    match client.get(t.kind, t.namespace.as_deref(), &t.name).await {
                        Ok(r) => results.push(Found::One(Box::new(r))),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
            }
        }
    }
    let with_namespace = args.all_namespaces || args.namespace.is_some();
    print_results(client, &results, &out, with_namespace, args.export).await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(errors.join("\n")))
    }
}

fn arg_query(kind: Kind, args: &GetArgs) -> Result<Query> {
    if !kind.namespaced() && (args.all_namespaces || args.namespace.is_some()) {
        return Err(anyhow!("{kind} is not namespaced"));
    }
    let namespace = match (kind.namespaced(), args.all_namespaces) {
        (true, true) => None,
        (true, false) => Some(
            args.namespace
                .clone()
                .unwrap_or_else(|| datastore::DEFAULT_NAMESPACE.to_string()),
        ),
        (false, _) => None,
    };
    if args.names.is_empty() {
        return Ok(Query::List(kind, namespace));
    }
    if kind.namespaced() && args.all_namespaces {
        return Err(anyhow!(
            "cannot use --all-namespace flag for getting a single resource"
        ));
    }
    if args.names.iter().any(String::is_empty) {
        return Err(anyhow!("resource name may not be empty"));
    }
    let targets = Target::named(kind, &namespace, &args.names);
    Ok(Query::Named(targets))
}

/// One query per resource named in the file; undecodable documents become errors.
fn file_queries(file: &str, args: &GetArgs, errors: &mut Vec<String>) -> Result<Vec<Query>> {
    let mut queries = Vec::new();
    for entry in input::load(file, args.recursive, args.skip_empty)? {
        match entry {
            Entry::Invalid(message) => errors.push(message),
            Entry::Resource { resource: r, .. } => {
                let meta = r.metadata();
                match place_namespace(
                    r.kind(),
                    meta.namespace.as_deref(),
                    args.namespace.as_deref(),
                ) {
                    Ok(namespace) => queries.push(Query::Named(vec![Target {
                        kind: r.kind(),
                        namespace,
                        name: meta.name.clone(),
                        revision: None,
                    }])),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    Ok(queries)
}

/// What a query found: a whole list of one kind (with the revision it was read at) or one
/// resource.
enum Found {
    List(Kind, Vec<Resource>, i64),
    One(Box<Resource>),
}

impl Found {
    fn kind(&self) -> Kind {
        match self {
            Found::List(kind, _, _) => *kind,
            Found::One(r) => r.kind(),
        }
    }

    fn items(&self) -> Vec<&Resource> {
        match self {
            Found::List(_, items, _) => items.iter().collect(),
            Found::One(r) => vec![r],
        }
    }
}

/// Prints a table per list or resource found (as calicoctl does), or everything found as
/// one YAML/JSON object: the resource itself, or a list.
async fn print_results(
    client: &ResourceClient,
    results: &[Found],
    out: &Output,
    with_namespace: bool,
    export: bool,
) -> Result<()> {
    let json_of = |r: &Resource| {
        let mut v = r.to_json();
        if export {
            output::strip_cluster_metadata(&mut v);
        }
        v
    };
    match out {
        Output::Table(layout) => {
            for found in results {
                let kind = found.kind();
                let cols = table::columns(kind, layout, with_namespace)?;
                let ctx = TableContext {
                    default_as: default_as(client, kind).await,
                };
                let items: Vec<Value> = found.items().into_iter().map(json_of).collect();
                println!("{}", table::render(kind, &cols, &items, &ctx));
            }
        }
        Output::Structured(format) => {
            let value = match results {
                [] => return Ok(()),
                [Found::One(r)] => json_of(r),
                [Found::List(kind, items, rev)] => output::list_object(
                    &format!("{kind}List"),
                    items.iter().map(json_of).collect(),
                    (!export).then_some(*rev),
                ),
                many => {
                    let first = many[0].kind();
                    let list_kind = match many.iter().all(|f| f.kind() == first) {
                        true => format!("{first}List"),
                        false => "List".to_string(),
                    };
                    let items = many.iter().flat_map(Found::items).map(json_of).collect();
                    output::list_object(&list_kind, items, None)
                }
            };
            print!("{}", output::render(&value, *format)?);
        }
    }
    Ok(())
}

/// The AS number shown in parentheses for nodes without their own: BGPConfiguration
/// `default`'s, else 64512 (`unknown` when the datastore cannot tell).
async fn default_as(client: &ResourceClient, kind: Kind) -> String {
    if kind != Kind::Node {
        return DEFAULT_AS.to_string();
    }
    match client.get(Kind::BGPConfiguration, None, "default").await {
        Ok(config) => match &config.to_json()["spec"]["asNumber"] {
            Value::Number(n) => n.to_string(),
            _ => DEFAULT_AS.to_string(),
        },
        Err(StoreError::NotFound { .. }) => DEFAULT_AS.to_string(),
        Err(_) => "unknown".to_string(),
    }
}
