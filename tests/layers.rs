//! The layering of the crate's modules (ARCHITECTURE.md): every `crate::…` path in a
//! module's code must lead to a module that layer may use — no arrow points up. Reads the
//! sources, so a new `use crate::db::…` in `store/` (or anywhere the table forbids) fails
//! here with the file and line.
//!
//! Test modules (`#[cfg(test)]` at the end of a file) are not checked: tests may reach
//! anywhere.

#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::{Path, PathBuf};

/// What each module may import from the crate (module, or `module::Item` for one item).
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("fault", &[]),
    ("codec", &["error"]),
    ("options", &["error"]),
    ("distance", &["options"]),
    ("document", &[]),
    ("filter", &["error", "options"]),
    ("fusion", &["error", "rank"]),
    ("query", &["filter", "fusion"]),
    ("par", &["sync"]),
    ("heap", &[]),
    ("rank", &[]),
    ("sync", &[]),
    (
        "hnsw",
        &["codec", "error", "options", "distance", "par", "sync"],
    ),
    (
        "text",
        &["codec", "error", "fault", "options", "distance", "rank"],
    ),
    (
        "store",
        &[
            "codec",
            "error",
            "fault",
            "options",
            "distance",
            "par",
            "hnsw::VectorSource",
        ],
    ),
    (
        "state",
        &[
            "store", "hnsw", "text", "filter", "fusion", "codec", "error", "options", "distance",
            "document", "par", "rank",
        ],
    ),
    (
        "snapshot",
        &[
            "state", "codec", "store", "hnsw", "error", "options", "distance",
        ],
    ),
    (
        "durable",
        &[
            "state", "store", "hnsw", "text", "codec", "error", "options", "distance", "par",
        ],
    ),
    ("dataset", &["document", "error"]),
    (
        "db",
        &[
            "durable", "snapshot", "state", "store", "hnsw", "text", "filter", "fusion", "query",
            "document", "codec", "error", "options", "distance", "par", "sync",
        ],
    ),
];

/// Bindings, the fuzz entry points and the crate root may use anything public.
const UNCHECKED: &[&str] = &["lib", "wasm", "bin", "fuzz"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The `crate::` paths in a line of code, groups expanded one level
/// (`crate::{a::X, b}` gives `a::X` and `b`; `crate::a::{X, Y}` gives `a::X`, `a::Y`).
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        // Skip `$crate::` (macros expand in the caller) and identifiers ending in "crate".
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue;
        }
        let prefix: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let after = &rest[prefix.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                if let Some(item) = item.split_whitespace().next() {
                    out.push(format!("{prefix}{item}"));
                }
            }
        } else {
            out.push(prefix.trim_end_matches(':').to_string());
        }
    }
    out
}

fn allows(rules: &[&str], own: &str, path: &str) -> bool {
    path.split("::").next() == Some(own)
        || rules
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}::")))
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let module = module_of(&src, file);
        if UNCHECKED.contains(&module.as_str()) {
            continue;
        }
        let rules = ALLOWED
            .iter()
            .find(|(m, _)| *m == module)
            .unwrap_or_else(|| {
                panic!(
                    "{}: module `{module}` has no row in ALLOWED; add it with the layers it may use",
                    file.display()
                )
            })
            .1;
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") || code.starts_with("#[cfg(all(test") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for path in crate_paths(code) {
                checked += 1;
                if !allows(rules, &module, &path) {
                    violations.push(format!(
                        "{}:{}: `{module}` uses crate::{path}",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "found only {checked} crate paths: is the scan broken?"
    );
    assert!(
        violations.is_empty(),
        "imports against the layering (see ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_must_refuse() {
    assert_eq!(
        crate_paths("use crate::db::{State, Row};"),
        vec!["db::State", "db::Row"]
    );
    assert_eq!(
        crate_paths("use crate::{db::Inner, codec};"),
        vec!["db::Inner", "codec"]
    );
    assert_eq!(
        crate_paths("let x = crate::db::MAX_K + $crate::x::y;"),
        vec!["db::MAX_K"]
    );
    let store = ALLOWED.iter().find(|(m, _)| *m == "store").unwrap().1;
    assert!(!allows(store, "store", "db::Row"));
    assert!(!allows(store, "store", "state::State"));
    assert!(!allows(store, "store", "hnsw::Hnsw"));
    assert!(allows(store, "store", "hnsw::VectorSource"));
    assert!(allows(store, "store", "codec::Decoder"));
}

#[test]
fn the_core_knows_nothing_of_python() {
    // The Python binding is a crate of its own over the core (bindings/python), as the
    // CLI and wasm.rs only translate: the core neither depends on PyO3 or numpy nor
    // mentions them, so a plain `cargo test` never links libpython.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps: Vec<&str> = manifest
        .split("\n[")
        .filter(|section| section.contains("dependencies]"))
        .collect();
    assert!(!deps.is_empty());
    for section in deps {
        for name in ["pyo3", "numpy"] {
            assert!(
                !section.lines().any(|l| l.trim_start().starts_with(name)),
                "the core's Cargo.toml depends on {name}"
            );
        }
    }
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("pyo3") && !text.contains("PyErr"),
            "{} mentions PyO3",
            f.display()
        );
    }
}
