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

/// Every route of `app/server/src/routes.rs` as `(path, methods)`, with the prefix each router
/// is mounted at (`lib.rs`: `/api/v1`, `/auth`, `/forms`; the others at the root).
fn routes() -> Vec<(String, Vec<String>)> {
    let text = code(&repo_root().join("app/server/src/routes.rs"));
    let mut out = Vec::new();
    let mut prefix = "";
    let mut rest = text.as_str();
    while let Some(at) = rest.find(".route(") {
        // The router function this route is in.
        for (func, p) in [
            ("pub fn api(", "/api/v1"),
            ("pub fn auth(", "/auth"),
            ("pub fn forms(", "/forms"),
            ("pub fn repos(", ""),
            ("pub fn ops<", ""),
        ] {
            if rest[..at].contains(func) {
                prefix = p;
            }
        }
        let call = &rest[at + ".route(".len()..];
        // The call's arguments: up to its closing parenthesis.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap_or(call.len());
        let args = &call[..end];
        let path = args.split('"').nth(1).unwrap_or_default();
        let mut methods = Vec::new();
        for m in ["get", "post", "put", "patch", "delete"] {
            let called = args.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0 || !args[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if called {
                methods.push(m.to_uppercase());
            }
        }
        out.push((format!("{prefix}{path}"), methods));
        rest = &call[end..];
    }
    out
}

/// The README's route table, as the routes make it.
fn route_table() -> String {
    let mut table = String::from("| methods | path |\n|---|---|\n");
    for (path, methods) in routes() {
        table.push_str(&format!("| {} | `{path}` |\n", methods.join(", ")));
    }
    table
}

const BEGIN: &str = "<!-- routes: made from app/server/src/routes.rs by tests/layout.rs -->\n";
const END: &str = "<!-- /routes -->";

/// The README lists every route the server has, as `routes.rs` declares them. To bring it up
/// to date after changing the routes: `KILN_UPDATE_README=1 cargo test -p kiln-tests --test
/// layout`.
#[test]
fn the_readme_lists_every_route() {
    let routes = routes();
    assert!(routes.len() > 50, "the routes were not found: {routes:?}");
    assert!(
        routes
            .iter()
            .any(|(p, m)| p == "/api/v1/repos/{owner}/{repo}" && m == &["GET", "PATCH", "DELETE"]),
        "{routes:?}"
    );
    assert!(routes.iter().all(|(_, m)| !m.is_empty()), "{routes:?}");
    let readme_path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let (Some(start), Some(stop)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no route table between {BEGIN:?} and {END:?}");
    };
    let listed = &readme[start + BEGIN.len()..stop];
    let table = route_table();
    if listed != table {
        if std::env::var_os("KILN_UPDATE_README").is_some() {
            let updated = format!("{}{BEGIN}{table}{}", &readme[..start], &readme[stop..]);
            std::fs::write(&readme_path, updated).expect("README");
            return;
        }
        panic!(
            "README.md's route table is out of date (KILN_UPDATE_README=1 rewrites it); it \
             should read:\n{table}"
        );
    }
}
