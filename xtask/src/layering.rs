//! `check-layering`: the crate layering rules of `docs/ARCHITECTURE.md`,
//! checked on the normal-dependency graph of `cargo metadata`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Library crates, in layering order. `facecore-store` is optional (not written yet).
const LIBRARY_CRATES: &[&str] = &[
    "facecore-image",
    "facecore-tract",
    "facecore-detect",
    "facecore-align",
    "facecore-embed",
    "facecore-attributes",
    "facecore-liveness",
    "facecore-score",
    "facecore-scan",
    "facecore-store",
    "facecore-wire",
    "facecore",
];
/// Library crates that may be absent from the workspace.
const OPTIONAL_CRATES: &[&str] = &["facecore-store", "facecore-wire"];
/// The crates below the facade (and `facecore-wire`, beside it).
/// `facecore-score` and `facecore-scan` are below it too, but not listed:
/// their own rules (no workspace crate, and none but `facecore-score`)
/// are stricter.
const LOWER_CRATES: &[&str] = &[
    "facecore-image",
    "facecore-tract",
    "facecore-detect",
    "facecore-align",
    "facecore-embed",
    "facecore-attributes",
    "facecore-liveness",
    "facecore-store",
    "facecore-wire",
];
/// Binary (and tooling) crates.
const BINARY_CRATES: &[&str] = &["facecore-cli", "facecore-server", "xtask"];
/// Application-level crates no library may pull in.
const FORBIDDEN_IN_LIBRARIES: &[&str] = &[
    "hyper",
    "tokio",
    "clap",
    "anyhow",
    "axum",
    "actix-web",
    "warp",
];

/// Third-party dependency edges that are exempt from `FORBIDDEN_IN_LIBRARIES`:
/// (crate, forbidden dependency, reason). Each one is printed when it is used, and
/// any other path to a forbidden crate (including a direct dependency of one of
/// our libraries) still fails.
const ALLOWED_THIRD_PARTY_EDGES: &[(&str, &str, &str)] = &[
    (
        "tract-core",
        "anyhow",
        "tract's own error type; our crates wrap it in their thiserror enums",
    ),
    (
        "tract-data",
        "anyhow",
        "tract's own error type; our crates wrap it in their thiserror enums",
    ),
];

/// The subset of `cargo metadata --format-version 1` we read.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    workspace_members: Vec<String>,
    resolve: Option<MetaResolve>,
}

#[derive(Debug, Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    #[serde(default)]
    targets: Vec<MetaTarget>,
}

#[derive(Debug, Deserialize)]
struct MetaTarget {
    #[serde(default)]
    kind: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct MetaResolve {
    nodes: Vec<MetaNode>,
}

#[derive(Debug, Deserialize)]
struct MetaNode {
    id: String,
    #[serde(default)]
    deps: Vec<MetaDep>,
}

#[derive(Debug, Deserialize)]
struct MetaDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<MetaDepKind>,
}

#[derive(Debug, Deserialize)]
struct MetaDepKind {
    /// `null` for normal dependencies, `"dev"` or `"build"` otherwise.
    kind: Option<String>,
}

/// A package dependency graph restricted to normal dependencies.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    /// Package id -> crate name.
    names: BTreeMap<String, String>,
    /// Package id -> ids of its normal dependencies.
    deps: BTreeMap<String, Vec<String>>,
    /// Ids of the workspace members.
    workspace: Vec<String>,
    /// Ids of proc-macro crates: their own dependencies run only inside the
    /// compiler and are not linked into the dependent, so they are not followed.
    proc_macros: HashSet<String>,
}

impl Graph {
    /// Adds a package (`workspace` marks a workspace member).
    pub fn add_package(&mut self, id: &str, name: &str, workspace: bool) {
        self.names.insert(id.to_string(), name.to_string());
        self.deps.entry(id.to_string()).or_default();
        if workspace && !self.workspace.iter().any(|w| w == id) {
            self.workspace.push(id.to_string());
        }
    }

    /// Marks a package as a proc-macro crate.
    pub fn mark_proc_macro(&mut self, id: &str) {
        self.proc_macros.insert(id.to_string());
    }

    /// Adds a normal dependency edge.
    pub fn add_dep(&mut self, from: &str, to: &str) {
        self.deps
            .entry(from.to_string())
            .or_default()
            .push(to.to_string());
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    /// The id of the workspace member called `name`.
    fn member(&self, name: &str) -> Option<&str> {
        self.workspace
            .iter()
            .find(|id| self.name(id) == name)
            .map(String::as_str)
    }

    fn member_names(&self) -> Vec<&str> {
        self.workspace.iter().map(|id| self.name(id)).collect()
    }

    /// True if some package called `from` has a normal dependency called `to`.
    fn has_edge_named(&self, from: &str, to: &str) -> bool {
        self.deps
            .iter()
            .any(|(id, deps)| self.name(id) == from && deps.iter().any(|d| self.name(d) == to))
    }

    /// Builds the graph from `cargo metadata --format-version 1` output.
    pub fn from_metadata_json(json: &str) -> Result<Self> {
        let meta: Metadata =
            serde_json::from_str(json).context("cannot parse `cargo metadata` output")?;
        let resolve = meta
            .resolve
            .context("`cargo metadata` output has no `resolve` graph (was --no-deps used?)")?;
        let members: HashSet<&str> = meta.workspace_members.iter().map(String::as_str).collect();
        let mut graph = Graph::default();
        for p in &meta.packages {
            graph.add_package(&p.id, &p.name, members.contains(p.id.as_str()));
            if p.targets
                .iter()
                .any(|t| t.kind.iter().any(|k| k == "proc-macro"))
            {
                graph.mark_proc_macro(&p.id);
            }
        }
        for node in &resolve.nodes {
            for dep in &node.deps {
                if dep.dep_kinds.iter().any(|k| k.kind.is_none()) {
                    graph.add_dep(&node.id, &dep.pkg);
                }
            }
        }
        Ok(graph)
    }

    /// Shortest normal-dependency paths from `start` to every reachable package
    /// whose name is in `targets`, as crate-name paths (`[start, .., target]`).
    ///
    /// Dependencies of proc-macro crates (other than `start`) are not followed:
    /// they are compile-time only, like build dependencies.
    /// Edges `(from, to)` (crate names) in `skip` are not followed.
    pub fn paths_to(
        &self,
        start: &str,
        targets: &[&str],
        skip: &[(&str, &str)],
    ) -> Vec<Vec<String>> {
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            if id != start && targets.contains(&self.name(id)) {
                found.push(id);
            }
            if id != start && self.proc_macros.contains(id) {
                continue;
            }
            let from = self.name(id);
            for dep in self.deps.get(id).into_iter().flatten() {
                if skip.contains(&(from, self.name(dep))) {
                    continue;
                }
                if seen.insert(dep.as_str()) {
                    parent.insert(dep.as_str(), id);
                    queue.push_back(dep.as_str());
                }
            }
        }
        found
            .into_iter()
            .map(|mut id| {
                let mut path = vec![self.name(id).to_string()];
                while let Some(&p) = parent.get(id) {
                    path.push(self.name(p).to_string());
                    id = p;
                }
                path.reverse();
                path
            })
            .collect()
    }
}

/// The outcome of one layering rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// What the rule says.
    pub rule: String,
    /// Violations: dependency paths such as `facecore-detect -> foo -> tokio`,
    /// or a problem with the workspace itself. Empty means the rule holds.
    pub violations: Vec<String>,
    /// Exemptions that were used, printed for the record.
    pub notes: Vec<String>,
}

impl RuleResult {
    /// True if the rule holds.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks `crates` (those present) against forbidden dependency `targets`.
fn forbid(graph: &Graph, rule: String, crates: &[&str], targets: &[&str]) -> RuleResult {
    forbid_except(graph, rule, crates, targets, &[])
}

/// Like [`forbid`], but the third-party edges in `allowed` are not followed;
/// each allowed edge that some crate reaches is recorded as a note.
fn forbid_except(
    graph: &Graph,
    rule: String,
    crates: &[&str],
    targets: &[&str],
    allowed: &[(&str, &str, &str)],
) -> RuleResult {
    let skip: Vec<(&str, &str)> = allowed.iter().map(|&(from, to, _)| (from, to)).collect();
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    for name in crates {
        if let Some(id) = graph.member(name) {
            for path in graph.paths_to(id, targets, &skip) {
                violations.push(path.join(" -> "));
            }
        }
    }
    for &(from, to, reason) in allowed {
        if !graph.has_edge_named(from, to) {
            continue;
        }
        let path = crates
            .iter()
            .filter_map(|n| graph.member(n))
            .find_map(|id| graph.paths_to(id, &[from], &skip).into_iter().next());
        if let Some(path) = path {
            notes.push(format!("allowed: {} -> {to} ({reason})", path.join(" -> ")));
        }
    }
    RuleResult {
        rule,
        violations,
        notes,
    }
}

/// Applies all layering rules to a graph.
pub fn check_rules(graph: &Graph) -> Vec<RuleResult> {
    let mut results = Vec::new();

    let missing: Vec<String> = LIBRARY_CRATES
        .iter()
        .filter(|n| !OPTIONAL_CRATES.contains(n) && graph.member(n).is_none())
        .map(|n| format!("{n} is not a workspace member (renamed? update xtask check-layering)"))
        .collect();
    results.push(RuleResult {
        rule: "all library crates are workspace members".into(),
        violations: missing,
        notes: Vec::new(),
    });

    let members = graph.member_names();
    let others: Vec<&str> = members
        .iter()
        .copied()
        .filter(|n| *n != "facecore-score")
        .collect();
    results.push(forbid(
        graph,
        "facecore-score depends on no workspace crate".into(),
        &["facecore-score"],
        &others,
    ));

    let others: Vec<&str> = members
        .iter()
        .copied()
        .filter(|n| *n != "facecore-scan" && *n != "facecore-score")
        .collect();
    results.push(forbid(
        graph,
        "facecore-scan depends on no workspace crate but facecore-score".into(),
        &["facecore-scan"],
        &others,
    ));

    let mut upper = vec!["facecore"];
    upper.extend_from_slice(BINARY_CRATES);
    results.push(forbid(
        graph,
        format!(
            "{} never depend on facecore or a binary crate ({})",
            LOWER_CRATES.join(", "),
            BINARY_CRATES.join(", ")
        ),
        LOWER_CRATES,
        &upper,
    ));

    results.push(forbid_except(
        graph,
        format!(
            "no library crate depends on {}",
            FORBIDDEN_IN_LIBRARIES.join(", ")
        ),
        LIBRARY_CRATES,
        FORBIDDEN_IN_LIBRARIES,
        ALLOWED_THIRD_PARTY_EDGES,
    ));

    results.push(forbid(
        graph,
        "facecore-wire (request parsing, fuzzed on its own) depends on no model runtime or pipeline crate"
            .into(),
        &["facecore-wire"],
        &[
            "tract-onnx",
            "facecore-tract",
            "facecore-image",
            "facecore-detect",
            "facecore-align",
            "facecore-embed",
            "facecore-attributes",
            "facecore-liveness",
        ],
    ));

    results.push(forbid(
        graph,
        "facecore-attributes and facecore-liveness (model crates) depend on no embedder, store or wire crate".into(),
        &["facecore-attributes", "facecore-liveness"],
        &["facecore-embed", "facecore-store", "facecore-wire"],
    ));

    results.push(forbid(
        graph,
        format!(
            "facecore does not depend on a binary crate ({})",
            BINARY_CRATES.join(", ")
        ),
        &["facecore"],
        BINARY_CRATES,
    ));

    results
}

/// Prints the results; returns true if every rule holds.
fn report(results: &[RuleResult]) -> bool {
    println!(
        "layering: normal dependencies only (dev and build dependencies, and the \
         dependencies of proc-macro crates, are compile-time only and not followed)"
    );
    for r in results {
        println!("{:<4}  {}", if r.ok() { "OK" } else { "FAIL" }, r.rule);
        for v in &r.violations {
            println!("        {v}");
        }
        for n in &r.notes {
            println!("        {n}");
        }
    }
    let failed = results.iter().filter(|r| !r.ok()).count();
    if failed == 0 {
        println!("layering: all {} rules hold", results.len());
    } else {
        println!(
            "layering: {failed} of {} rules violated (see docs/ARCHITECTURE.md, Invariants)",
            results.len()
        );
    }
    failed == 0
}

/// `check-layering`: runs `cargo metadata` in `root`, checks, prints; true if all hold.
pub fn check_layering_command(root: &Path) -> Result<bool> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("cannot run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let json = String::from_utf8(output.stdout).context("`cargo metadata` output is not UTF-8")?;
    let graph = Graph::from_metadata_json(&json)?;
    let mut results = check_rules(&graph);
    results.extend(crate::deps::check(&json)?);
    Ok(report(&results))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small healthy workspace; package ids are the names.
    fn healthy() -> Graph {
        let mut g = Graph::default();
        for n in [
            "facecore-image",
            "facecore-tract",
            "facecore-detect",
            "facecore-align",
            "facecore-embed",
            "facecore-score",
            "facecore-scan",
            "facecore-attributes",
            "facecore-liveness",
            "facecore",
            "facecore-cli",
            "xtask",
        ] {
            g.add_package(n, n, true);
        }
        for n in [
            "image",
            "tract-onnx",
            "ndarray",
            "clap",
            "anyhow",
            "tokio",
            "foo",
            "thiserror",
        ] {
            g.add_package(n, n, false);
        }
        g.add_dep("facecore-image", "image");
        g.add_dep("facecore-tract", "tract-onnx");
        g.add_dep("facecore-detect", "tract-onnx");
        g.add_dep("facecore-detect", "facecore-tract");
        g.add_dep("facecore-detect", "facecore-image");
        g.add_dep("facecore-embed", "tract-onnx");
        g.add_dep("facecore-embed", "facecore-tract");
        g.add_dep("facecore-attributes", "tract-onnx");
        g.add_dep("facecore-attributes", "facecore-detect");
        g.add_dep("facecore-liveness", "tract-onnx");
        g.add_dep("facecore-liveness", "facecore-detect");
        g.add_dep("tract-onnx", "ndarray");
        g.add_dep("facecore-score", "thiserror");
        g.add_dep("facecore-scan", "facecore-score");
        for lower in [
            "facecore-image",
            "facecore-detect",
            "facecore-align",
            "facecore-embed",
            "facecore-attributes",
            "facecore-liveness",
            "facecore-score",
            "facecore-scan",
        ] {
            g.add_dep("facecore", lower);
        }
        g.add_dep("facecore-cli", "facecore");
        g.add_dep("facecore-cli", "clap");
        g.add_dep("facecore-cli", "anyhow");
        g.add_dep("xtask", "anyhow");
        g
    }

    #[test]
    fn liveness_must_not_reach_the_store() {
        let mut g = healthy();
        g.add_package("facecore-store", "facecore-store", true);
        assert!(failures(&g).is_empty(), "{:?}", failures(&g));
        g.add_dep("facecore-liveness", "facecore-store");
        assert!(
            failures(&g).contains(&"facecore-liveness -> facecore-store".to_string()),
            "{:?}",
            failures(&g)
        );
    }

    #[test]
    fn attributes_must_not_reach_the_embedder() {
        let mut g = healthy();
        assert!(failures(&g).is_empty(), "{:?}", failures(&g));
        g.add_dep("facecore-attributes", "facecore-embed");
        assert!(
            failures(&g).contains(&"facecore-attributes -> facecore-embed".to_string()),
            "{:?}",
            failures(&g)
        );
    }

    fn failures(g: &Graph) -> Vec<String> {
        check_rules(g)
            .into_iter()
            .flat_map(|r| r.violations)
            .collect()
    }

    #[test]
    fn healthy_graph_passes() {
        let results = check_rules(&healthy());
        assert!(results.iter().all(RuleResult::ok), "{results:#?}");
    }

    #[test]
    fn transitive_forbidden_dependency_fails_with_path() {
        let mut g = healthy();
        g.add_dep("tract-onnx", "foo");
        g.add_dep("foo", "tokio");
        let f = failures(&g);
        assert!(
            f.contains(&"facecore-detect -> tract-onnx -> foo -> tokio".to_string()),
            "{f:?}"
        );
        assert!(f.contains(&"facecore-embed -> tract-onnx -> foo -> tokio".to_string()));
        // The facade reaches it through a lower crate, by a shortest path.
        assert!(
            f.iter()
                .any(|p| p.starts_with("facecore -> ") && p.ends_with("-> tokio"))
        );
    }

    #[test]
    fn proc_macro_dependencies_are_not_followed() {
        let mut g = healthy();
        g.add_package("prost", "prost", false);
        g.add_package("prost-derive", "prost-derive", false);
        g.mark_proc_macro("prost-derive");
        g.add_dep("tract-onnx", "prost");
        g.add_dep("prost", "prost-derive");
        g.add_dep("prost-derive", "anyhow");
        assert!(failures(&g).is_empty(), "{:?}", failures(&g));
        // ...but a runtime path next to it is still found.
        g.add_dep("prost", "anyhow");
        assert!(
            failures(&g).contains(&"facecore-detect -> tract-onnx -> prost -> anyhow".to_string())
        );
    }

    #[test]
    fn allowed_third_party_edge_is_noted_but_direct_use_fails() {
        let mut g = healthy();
        g.add_package("tract-core", "tract-core", false);
        g.add_dep("tract-onnx", "tract-core");
        g.add_dep("tract-core", "anyhow");
        let results = check_rules(&g);
        assert!(results.iter().all(RuleResult::ok), "{results:#?}");
        let notes: Vec<_> = results.iter().flat_map(|r| r.notes.clone()).collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("allowed: facecore-tract -> tract-onnx -> tract-core -> anyhow")
        );
        // The exemption is for that edge only: another path to anyhow still fails.
        g.add_dep("facecore-align", "anyhow");
        assert_eq!(
            failures(&g),
            vec![
                "facecore-align -> anyhow".to_string(),
                "facecore -> facecore-align -> anyhow".to_string()
            ]
        );
    }

    #[test]
    fn lower_crate_depending_on_facade_or_binary_fails() {
        let mut g = healthy();
        g.add_dep("facecore-align", "facecore");
        g.add_dep("facecore-image", "xtask");
        let results = check_rules(&g);
        let rule = results
            .iter()
            .find(|r| r.rule.contains("never depend on facecore"))
            .expect("rule present");
        assert!(!rule.ok());
        assert!(
            rule.violations
                .contains(&"facecore-align -> facecore".to_string())
        );
        assert!(
            rule.violations
                .contains(&"facecore-image -> xtask".to_string())
        );
        // xtask pulls anyhow into facecore-image: also caught by the heavy-deps rule.
        assert!(failures(&g).contains(&"facecore-image -> xtask -> anyhow".to_string()));
    }

    #[test]
    fn score_depending_on_workspace_crate_fails() {
        let mut g = healthy();
        g.add_dep("facecore-score", "facecore-image");
        let results = check_rules(&g);
        let rule = results
            .iter()
            .find(|r| r.rule.starts_with("facecore-score"))
            .expect("rule present");
        assert_eq!(
            rule.violations,
            vec!["facecore-score -> facecore-image".to_string()]
        );
    }

    #[test]
    fn scan_depending_on_workspace_crate_but_score_fails() {
        let rule_of = |g: &Graph| {
            check_rules(g)
                .into_iter()
                .find(|r| r.rule.starts_with("facecore-scan"))
                .expect("rule present")
        };
        // The healthy graph has facecore-scan -> facecore-score: allowed.
        assert!(rule_of(&healthy()).ok());

        let mut g = healthy();
        g.add_dep("facecore-scan", "facecore-image");
        assert_eq!(
            rule_of(&g).violations,
            vec!["facecore-scan -> facecore-image".to_string()]
        );

        // Through facecore-score counts too, and breaks score's own rule.
        let mut g = healthy();
        g.add_dep("facecore-score", "facecore-align");
        assert_eq!(
            rule_of(&g).violations,
            vec!["facecore-scan -> facecore-score -> facecore-align".to_string()]
        );

        // The facade and the binaries are workspace crates like any other.
        let mut g = healthy();
        g.add_dep("facecore-scan", "facecore");
        g.add_dep("facecore-scan", "xtask");
        let violations = rule_of(&g).violations;
        assert!(
            violations.contains(&"facecore-scan -> facecore".to_string()),
            "{violations:?}"
        );
        assert!(violations.contains(&"facecore-scan -> xtask".to_string()));
    }

    #[test]
    fn score_depending_on_scan_fails() {
        let mut g = healthy();
        g.add_dep("facecore-score", "facecore-scan");
        let rule = check_rules(&g)
            .into_iter()
            .find(|r| r.rule.starts_with("facecore-score"))
            .expect("rule present");
        assert_eq!(
            rule.violations,
            vec!["facecore-score -> facecore-scan".to_string()]
        );
    }

    #[test]
    fn facade_depending_on_binary_fails() {
        let mut g = healthy();
        g.add_dep("facecore", "facecore-cli");
        let results = check_rules(&g);
        let rule = results
            .iter()
            .find(|r| r.rule.starts_with("facecore does not depend"))
            .expect("rule present");
        assert_eq!(
            rule.violations,
            vec!["facecore -> facecore-cli".to_string()]
        );
    }

    #[test]
    fn missing_library_crate_fails_but_store_is_optional() {
        let mut g = Graph::default();
        g.add_package("facecore-score", "facecore-score", true);
        let results = check_rules(&g);
        assert!(!results[0].ok());
        assert!(
            results[0]
                .violations
                .iter()
                .all(|v| !v.contains("facecore-store"))
        );
    }

    #[test]
    fn parses_metadata_and_keeps_only_normal_deps() {
        let json = r#"{
          "packages": [
            {"id": "a 0.1.0 (path+file:///a)", "name": "facecore-score", "version": "0.1.0"},
            {"id": "anyhow 1.0.0", "name": "anyhow"},
            {"id": "cc 1.0.0", "name": "cc"},
            {"id": "pm 1.0.0", "name": "pm", "targets": [{"kind": ["proc-macro"], "name": "pm"}]},
            {"id": "thiserror 2.0.0", "name": "thiserror"}
          ],
          "workspace_members": ["a 0.1.0 (path+file:///a)"],
          "resolve": {"root": null, "nodes": [
            {"id": "a 0.1.0 (path+file:///a)", "deps": [
              {"name": "anyhow", "pkg": "anyhow 1.0.0", "dep_kinds": [{"kind": "dev", "target": null}]},
              {"name": "cc", "pkg": "cc 1.0.0", "dep_kinds": [{"kind": "build", "target": null}]},
              {"name": "thiserror", "pkg": "thiserror 2.0.0",
               "dep_kinds": [{"kind": null, "target": null}, {"kind": "dev", "target": null}]}
            ]},
            {"id": "anyhow 1.0.0", "deps": []}
          ]}
        }"#;
        let g = Graph::from_metadata_json(json).expect("parse");
        assert!(g.proc_macros.contains("pm 1.0.0"));
        assert!(!g.proc_macros.contains("cc 1.0.0"));
        let id = g.member("facecore-score").expect("member");
        assert_eq!(g.deps[id], vec!["thiserror 2.0.0".to_string()]);
        assert!(g.paths_to(id, &["anyhow", "cc"], &[]).is_empty());
        assert_eq!(
            g.paths_to(id, &["thiserror"], &[]),
            vec![vec!["facecore-score".to_string(), "thiserror".to_string()]]
        );
    }
}
