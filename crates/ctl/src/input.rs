//! Reading resources given with `-f`: a file, `-` for stdin, or a directory of
//! `*.yaml`/`*.yml`/`*.json` files (`-R` descends into subdirectories). Each YAML document is
//! decoded on its own, so one bad document is reported (by number) without hiding the others.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use api::Resource;

/// One input file's text and the name used for it in messages.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// A resource read from the input, or why a document could not be read.
pub enum Entry {
    Resource {
        resource: Box<Resource>,
        /// `<file>: document <n>` when the file holds several documents, to prefix errors.
        origin: Option<String>,
    },
    Invalid(String),
}

/// Reads the text of every input named by `-f`.
pub fn read_sources(filename: &str, recursive: bool) -> Result<Vec<Source>> {
    if filename == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("Failed to execute command: reading stdin")?;
        return Ok(vec![Source {
            name: "stdin".to_string(),
            text,
        }]);
    }
    let path = Path::new(filename);
    let mut files = Vec::new();
    if path.is_dir() {
        collect_dir(path, recursive, &mut files)?;
    } else {
        files.push(path.to_path_buf());
    }
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).map_err(|e| {
                anyhow!("Failed to execute command: reading {}: {e}", file.display())
            })?;
            Ok(Source {
                name: file.display().to_string(),
                text,
            })
        })
        .collect()
}

fn collect_dir(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<()> {
    let read = fs::read_dir(dir)
        .map_err(|e| anyhow!("Failed to execute command: reading {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = read
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| anyhow!("Failed to execute command: reading {}: {e}", dir.display()))?;
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if recursive {
                collect_dir(&path, recursive, files)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(path);
        }
    }
    Ok(())
}

/// Splits YAML text into documents at `---` lines. JSON text is one document.
fn split_documents(text: &str) -> Vec<String> {
    if text.trim_start().starts_with(['{', '[']) {
        return vec![text.to_string()];
    }
    let mut docs = vec![String::new()];
    for line in text.lines() {
        let marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']));
        if marker {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|doc| {
        doc.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Decodes every document of `source`; an undecodable document becomes an `Entry::Invalid`
/// naming the source and the document number (from 1). Resources from a file of several
/// documents remember which one they came from.
pub fn decode_source(source: &Source) -> Vec<Entry> {
    let docs = split_documents(&source.text);
    let multi = docs.len() > 1;
    let mut entries = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        match api::decode_documents(doc) {
            Ok(resources) => {
                let origin = multi.then(|| format!("{}: document {}", source.name, i + 1));
                entries.extend(resources.into_iter().map(|r| Entry::Resource {
                    resource: Box::new(r),
                    origin: origin.clone(),
                }))
            }
            Err(mut e) => {
                if let api::Error::Decode { document, .. } = &mut e {
                    *document = i + 1;
                }
                entries.push(Entry::Invalid(format!("{}: {e}", source.name)));
            }
        }
    }
    entries
}

/// Reads and decodes everything named by `-f`. Fails when a file holds no resources unless
/// `skip_empty` is set.
pub fn load(filename: &str, recursive: bool, skip_empty: bool) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for source in read_sources(filename, recursive)? {
        let decoded = decode_source(&source);
        if decoded.is_empty() && !skip_empty {
            return Err(anyhow!("No resources specified in file {}", source.name));
        }
        entries.extend(decoded);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_yaml_documents_and_drops_empty_ones() {
        let docs =
            split_documents("---\na: 1\n--- # two\nb: 2\n---\n# only a comment\n---\nc: 3\n");
        assert_eq!(docs, vec!["a: 1\n", "b: 2\n", "c: 3\n"]);
    }

    #[test]
    fn json_is_one_document() {
        let text = "{\"a\": \"---\"}\n";
        assert_eq!(split_documents(text), vec![text.to_string()]);
    }

    #[test]
    fn dashes_inside_a_line_do_not_split() {
        assert_eq!(split_documents("a: ---x\nb: 1\n").len(), 1);
    }
}
