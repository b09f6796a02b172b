//! The invariants of `docs/ARCHITECTURE.md` that are about manifests and
//! source text rather than the dependency graph:
//!
//! - every `[workspace.dependencies]` entry is used by some member;
//! - every normal dependency a member declares is named in its sources;
//! - the server's API dialects (`bins/facecore-server/src/api/`) never reach
//!   the store or redb: they go through the facade.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::layering::RuleResult;

/// Declared dependencies that are used without their name in the sources,
/// with the reason: (crate, dependency, why).
const USED_WITHOUT_NAME: &[(&str, &str, &str)] = &[];

/// What the dialect modules must not name, with the reason.
const FORBIDDEN_IN_DIALECTS: &[(&str, &str)] = &[
    ("redb", "storage is the store crate's business"),
    (
        "facecore_store",
        "the store crate is reached only through the facade",
    ),
    (
        "store::Store",
        "dialects go through the facade's Collections and Keys",
    ),
    (".store()", "dialects go through the facade, not the store"),
];

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Package {
    id: String,
    name: String,
    manifest_path: PathBuf,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    name: String,
    #[serde(default)]
    rename: Option<String>,
    /// `null` for normal dependencies.
    #[serde(default)]
    kind: Option<String>,
}

/// Runs the three checks on `cargo metadata` output.
pub fn check(metadata_json: &str) -> Result<Vec<RuleResult>> {
    let meta: Metadata =
        serde_json::from_str(metadata_json).context("cannot parse `cargo metadata` output")?;
    let members: Vec<&Package> = meta
        .packages
        .iter()
        .filter(|p| meta.workspace_members.contains(&p.id))
        .collect();
    let root_manifest = meta.workspace_root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&root_manifest)
        .with_context(|| format!("cannot read {}", root_manifest.display()))?;
    let declared = workspace_dependencies(&manifest);
    let mut used = BTreeSet::new();
    for p in &members {
        for d in &p.dependencies {
            used.insert(d.name.as_str());
        }
    }
    Ok(vec![
        unused_workspace_dependencies(&declared, &used),
        unused_member_dependencies(&members)?,
        dialects_use_the_facade(&meta.workspace_root.join("bins/facecore-server/src/api"))?,
    ])
}

/// The names under `[workspace.dependencies]` of a root manifest.
fn workspace_dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[workspace.dependencies]";
            continue;
        }
        if inside
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            names.push(name.trim().trim_matches('"').to_string());
        }
    }
    names
}

fn unused_workspace_dependencies(declared: &[String], used: &BTreeSet<&str>) -> RuleResult {
    RuleResult {
        rule: "every [workspace.dependencies] entry is used by a member".into(),
        violations: declared
            .iter()
            .filter(|name| !used.contains(name.as_str()))
            .map(|name| format!("{name} is declared in the root Cargo.toml but no member uses it"))
            .collect(),
        notes: Vec::new(),
    }
}

/// Every `.rs` file below `dir` (none when it does not exist), sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `text` names the crate `ident` as code does: a path, a `use`,
/// or a macro.
fn names_crate(text: &str, ident: &str) -> bool {
    text.match_indices(ident).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + ident.len()..];
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        starts_word && (after.starts_with("::") || after.starts_with('!'))
    })
}

fn unused_member_dependencies(members: &[&Package]) -> Result<RuleResult> {
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    for p in members {
        let dir = p.manifest_path.parent().unwrap_or(Path::new("."));
        let mut text = String::new();
        let mut files = rust_files(&dir.join("src"))?;
        files.push(dir.join("build.rs"));
        for file in files.iter().filter(|f| f.exists()) {
            text.push_str(
                &std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            );
            text.push('\n');
        }
        for d in p.dependencies.iter().filter(|d| d.kind.is_none()) {
            let ident = d.rename.as_deref().unwrap_or(&d.name).replace('-', "_");
            if names_crate(&text, &ident) {
                continue;
            }
            match USED_WITHOUT_NAME
                .iter()
                .find(|(krate, dep, _)| *krate == p.name && *dep == d.name)
            {
                Some((_, _, why)) => notes.push(format!("{} -> {}: {why}", p.name, d.name)),
                None => violations.push(format!(
                    "{} declares {} but its sources never name `{ident}`",
                    p.name, d.name
                )),
            }
        }
    }
    Ok(RuleResult {
        rule: "every normal dependency of a member is used in its sources".into(),
        violations,
        notes,
    })
}

fn dialects_use_the_facade(api_dir: &Path) -> Result<RuleResult> {
    let mut violations = Vec::new();
    for file in rust_files(api_dir)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            for (needle, why) in FORBIDDEN_IN_DIALECTS {
                if line.contains(needle) {
                    violations.push(format!(
                        "{}:{}: names `{needle}` ({why})",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    Ok(RuleResult {
        rule: "the server's API dialects (src/api/) reach storage only through the facade".into(),
        violations,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_dependencies_are_read_from_their_section_only() {
        let manifest = "[workspace]\nmembers = [\"a\"]\n\n[workspace.dependencies]\n\
                        # a comment\nserde = { version = \"1\" }\n\"quoted\" = \"2\"\n\n\
                        [profile.release]\ndebug = true\n";
        assert_eq!(workspace_dependencies(manifest), ["serde", "quoted"]);
    }

    #[test]
    fn an_unused_workspace_dependency_is_named() {
        let declared = vec!["serde".to_string(), "ndarray".to_string()];
        let used = BTreeSet::from(["serde"]);
        let result = unused_workspace_dependencies(&declared, &used);
        assert_eq!(result.violations.len(), 1);
        assert!(result.violations[0].starts_with("ndarray "), "{result:?}");
    }

    #[test]
    fn crate_names_count_as_paths_and_macros_only() {
        assert!(names_crate("use serde::Deserialize;", "serde"));
        assert!(names_crate("#[derive(thiserror::Error)]", "thiserror"));
        assert!(names_crate("x = format_args!(); tracing!(a)", "tracing"));
        assert!(!names_crate("a serde_json::Value", "serde"));
        assert!(!names_crate("// uses image processing", "image"));
        assert!(!names_crate("facecore_image::decode", "image"));
    }

    #[test]
    fn a_dialect_naming_the_store_is_a_violation() {
        let dir = std::env::temp_dir().join(format!("xtask-dialects-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("recognition")).expect("mkdir");
        std::fs::write(dir.join("recognition/mod.rs"), "let s = app.store();\n").expect("write");
        std::fs::write(dir.join("mod.rs"), "use facecore::collections;\n").expect("write");
        let result = dialects_use_the_facade(&dir).expect("check");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(result.violations.len(), 1, "{result:?}");
        assert!(result.violations[0].contains("recognition/mod.rs:1"));
    }
}
