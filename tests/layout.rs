//! The source tree's shape: imports between the core's services, and between the server's
//! modules, point one way. A loop (a service that imports another that imports it back, maybe
//! through others) fails here, naming the modules in it, before it makes the next split hard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kiln_tests::repo_root;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The text of a Rust file without its `#[cfg(test)]` module (tests may import anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The module names `text` reaches through `prefix` (`super::` or `crate::`): `prefix NAME`
/// and `use prefix{NAME, NAME::…}`.
fn named(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(0)];
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                out.insert(name);
            }
        } else {
            out.insert(
                rest.chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect(),
            );
        }
    }
    out
}

/// The modules of `dir` (its `*.rs` files and sub-directories, the files inside counted as
/// their directory's) and the ones each names through `prefixes`.
fn graph(dir: &Path, prefixes: &[&str], skip: &[&str]) -> Graph {
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut walk = vec![dir.to_path_buf()];
    while let Some(d) = walk.pop() {
        for entry in std::fs::read_dir(&d).expect("source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(dir).expect("inside");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .expect("name")
                .trim_end_matches(".rs")
                .to_owned();
            if skip.contains(&top.as_str()) {
                continue;
            }
            texts.entry(top).or_default().push_str(&code(&path));
        }
    }
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(m, text)| {
            let deps = prefixes
                .iter()
                .flat_map(|p| named(text, p))
                .filter(|d| d != m && modules.contains(d))
                .collect();
            (m.clone(), deps)
        })
        .collect()
}

/// A loop in `g`, as the modules in it (the first one again at the end), if there is one.
fn find_loop(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn the_core_services_import_one_way() {
    let g = graph(
        &repo_root().join("app/core/src/services"),
        &["super::", "crate::services::"],
        &["mod"],
    );
    assert!(g.len() > 10, "the services were not found: {g:?}");
    // The ones the others build on import no other service.
    assert!(g["access"].is_empty(), "{:?}", g["access"]);
    assert!(g["outbound"].is_empty(), "{:?}", g["outbound"]);
    if let Some(cycle) = find_loop(&g) {
        panic!(
            "the services import each other in a loop: {}\n{g:#?}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_servers_modules_import_one_way() {
    let g = graph(
        &repo_root().join("app/server/src"),
        &["crate::"],
        &["lib", "main"],
    );
    assert!(g.contains_key("cli") && g.contains_key("handlers"), "{g:?}");
    if let Some(cycle) = find_loop(&g) {
        panic!(
            "the server's modules import each other in a loop: {}\n{g:#?}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn a_loop_is_found_and_named() {
    let mut g = Graph::new();
    for (m, deps) in [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ] {
        g.insert(m.into(), deps.into_iter().map(str::to_owned).collect());
    }
    assert_eq!(
        find_loop(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    g.get_mut("c").expect("c").clear();
    assert_eq!(find_loop(&g), None);
    assert_eq!(
        named(
            "use super::{access, audit::record};\nsuper::tasks::x()",
            "super::"
        ),
        ["access", "audit", "tasks"].map(str::to_owned).into()
    );
}

/// The README's route table, as the routes make it.
fn route_table() -> String {
    let mut table = String::from("| methods | path |\n|---|---|\n");
    for (path, methods) in kiln_tests::server_routes() {
        table.push_str(&format!("| {} | `{path}` |\n", methods.join(", ")));
    }
    table
}

/// Checks that README.md holds `table` between the markers `begin` and `end`; with
/// `KILN_UPDATE_README=1` in the environment, writes it there instead.
fn readme_section(what: &str, begin: &str, end: &str, table: &str) {
    let readme_path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let (Some(start), Some(stop)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {what} between {begin:?} and {end:?}");
    };
    let listed = &readme[start + begin.len()..stop];
    if listed != table {
        if std::env::var_os("KILN_UPDATE_README").is_some() {
            let updated = format!("{}{begin}{table}{}", &readme[..start], &readme[stop..]);
            std::fs::write(&readme_path, updated).expect("README");
            return;
        }
        panic!(
            "README.md's {what} is out of date (KILN_UPDATE_README=1 rewrites it); it should \
             read:\n{table}"
        );
    }
}

/// The README lists every route the server has, as `routes.rs` declares them. To bring it up
/// to date after changing the routes: `KILN_UPDATE_README=1 cargo test -p kiln-tests --test
/// layout`.
#[test]
fn the_readme_lists_every_route() {
    let routes = kiln_tests::server_routes();
    assert!(routes.len() > 50, "the routes were not found: {routes:?}");
    assert!(
        routes
            .iter()
            .any(|(p, m)| p == "/api/v1/repos/{owner}/{repo}" && m == &["GET", "PATCH", "DELETE"]),
        "{routes:?}"
    );
    assert!(routes.iter().all(|(_, m)| !m.is_empty()), "{routes:?}");
    readme_section(
        "route table",
        "<!-- routes: made from app/server/src/routes.rs by tests/layout.rs -->\n",
        "<!-- /routes -->",
        &route_table(),
    );
}

/// The first sentence of a module's `//!` doc.
fn module_summary(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let doc: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with("#!"))
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim())
        .collect();
    let doc = doc.join(" ");
    let end = doc
        .char_indices()
        .find(|(i, c)| *c == '.' && (doc[i + 1..].starts_with(' ') || i + 1 == doc.len()))
        .map(|(i, _)| i + 1)
        .unwrap_or(doc.len());
    let first = doc[..end].trim().to_owned();
    (!first.is_empty()).then_some(first)
}

/// A table of the modules under `dir` (files and directories with a `mod.rs`), each with the
/// first sentence of its doc.
fn module_table(dir: &str) -> String {
    let root = repo_root().join(dir);
    let mut rows = BTreeMap::new();
    for entry in std::fs::read_dir(&root).expect("read_dir").flatten() {
        let path = entry.path();
        let (name, file) = if path.is_dir() {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (format!("{name}/"), path.join("mod.rs"))
        } else {
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            if name == "mod" || name == "lib" || name == "main" {
                continue;
            }
            (format!("{name}.rs"), path.clone())
        };
        if !file.is_file() {
            continue;
        }
        let summary =
            module_summary(&file).unwrap_or_else(|| panic!("{} has no //! doc", file.display()));
        rows.insert(name, summary.replace('|', "\\|"));
    }
    let mut table = String::from("| module | what it does |\n|---|---|\n");
    for (name, summary) in rows {
        table.push_str(&format!("| `{name}` | {summary} |\n"));
    }
    table
}

/// The README's map of the core's services and the server's modules is made from their `//!`
/// docs (`KILN_UPDATE_README=1` rewrites it), so it cannot drift from the tree.
#[test]
fn the_readme_maps_every_module() {
    for (dir, what) in [
        ("app/core/src/services", "core services map"),
        ("app/core/src", "core modules map"),
        ("app/server/src", "server modules map"),
        ("builder-agent/src", "agent modules map"),
    ] {
        let table = module_table(dir);
        assert!(table.lines().count() > 2, "{dir}: {table}");
        readme_section(
            what,
            &format!("<!-- modules: made from {dir} by tests/layout.rs -->\n"),
            &format!("<!-- /modules {dir} -->"),
            &table,
        );
    }
}

/// Files that only declare (settings, schema changes, the route table) may be long.
const DECLARATIVE: [&str; 2] = ["app/core/src/config.rs", "app/server/src/routes.rs"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// No source file of `app/` or the agent grows past 800 lines (declarative ones aside): a file
/// that long mixes jobs and should be split by responsibility.
#[test]
fn no_source_file_is_over_800_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["app", "builder-agent/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&root).ok()?.to_string_lossy().into_owned();
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > 800 && !DECLARATIVE.contains(&rel.as_str())).then(|| format!("{rel}: {lines}"))
        })
        .collect();
    assert!(long.is_empty(), "split these by responsibility: {long:?}");
}
