//! No input a user feeds the harness makes it panic: matrix files, `.env` files, policies,
//! reports to merge and gate, image maps. Each parser gets arbitrary text and structured
//! mutations of the real files shipped here; whatever parses is carried on as far as the
//! commands carry it (a matrix expanded, a report rendered, merged and gated). An error is a
//! fine answer; a panic is a bug.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use harness::deployment::bundled;
use harness::envfile::EnvDocument;
use harness::images::ImageMap;
use harness::matrix::Matrix;
use harness::policy::Policy;
use harness::recipe::RecipeBook;
use harness::report::{Format, Report};
use harness::values::{Origin, ValueSets};
use proptest::prelude::*;

fn read(rel: &str) -> String {
    std::fs::read_to_string(bundled::root().join(rel)).unwrap()
}

fn seeds(dir: &str, ext: &str) -> Vec<String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(bundled::root().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// One edit of a text, positions taken modulo its length (in chars, so never inside one).
#[derive(Clone, Debug)]
enum Edit {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        text: String,
    },
    /// A whole line put in at a line start (a key, a table header, junk).
    InsertLine {
        line: usize,
        text: String,
    },
    DuplicateLine {
        line: usize,
    },
    Truncate {
        at: usize,
    },
}

fn lines_of(chars: &[char]) -> Vec<String> {
    let s: String = chars.iter().collect();
    s.split_inclusive('\n').map(str::to_owned).collect()
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match e {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Edit::Insert { at, text } => {
                let at = (at % n).min(chars.len());
                chars.splice(at..at, text.chars());
            }
            Edit::InsertLine { line, text } => {
                let mut lines = lines_of(&chars);
                let at = line % (lines.len() + 1);
                lines.insert(at, format!("{text}\n"));
                chars = lines.concat().chars().collect();
            }
            Edit::DuplicateLine { line } => {
                let mut lines = lines_of(&chars);
                let at = line % (lines.len() + 1);
                if let Some(l) = lines.get(at).cloned() {
                    lines.insert(at, l);
                }
                chars = lines.concat().chars().collect();
            }
            Edit::Truncate { at } => chars.truncate(at % n),
        }
    }
    chars.into_iter().collect()
}

/// Text that a TOML or `.env` parser meets at its edges: quotes, brackets, huge and negative
/// numbers, dates, non-ASCII, control characters.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]]".to_string()),
        Just("=".to_string()),
        Just("'''".to_string()),
        Just("\\u00e9".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e400".to_string()),
        Just("2027-02-30".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("\u{0}\r\n\t".to_string()),
        Just("ü€𝄞".to_string()),
        Just("*".to_string()),
        Just("${X:-${Y}}".to_string()),
    ]
}

/// A line in TOML's shape whose key is one the harness reads, with a value of any shape.
fn toml_line(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let values = prop_oneof![
        Just("\"\"".to_string()),
        Just("\"pgvector\"".to_string()),
        Just("\"*\"".to_string()),
        Just("\"local\"".to_string()),
        Just("\"all\"".to_string()),
        Just("[]".to_string()),
        Just("[\"\", \"*\", \"a.b\"]".to_string()),
        Just("[1, 2]".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("9223372036854775807".to_string()),
        Just("true".to_string()),
        Just("2027-06-30".to_string()),
        Just("2027-06-30T00:00:00".to_string()),
        Just("{}".to_string()),
        Just("{ VECTOR_STORE = \"x\" }".to_string()),
        "\"[ -~]{0,12}\"",
    ];
    let headers = prop_oneof![
        Just("[axes]"),
        Just("[cell]"),
        Just("[[cells]]"),
        Just("[[include]]"),
        Just("[cell.env]"),
        Just("[cell.service_env.worker]"),
        Just("[cells]"),
        Just("[checks]"),
        Just("[not_run]"),
        Just("[[accept]]"),
        Just("[images]"),
    ];
    prop_oneof![
        (prop::sample::select(keys), values).prop_map(|(k, v)| format!("{k} = {v}")),
        headers.prop_map(str::to_owned),
    ]
}

const MATRIX_KEYS: &[&str] = &[
    "description",
    "policy",
    "allow_unknown",
    "vector_store",
    "storage_type",
    "timeout_secs",
    "required",
    "env",
    "service_env",
    "exclude",
    "axes",
    "cell",
    "cells",
    "include",
];
const POLICY_KEYS: &[&str] = &[
    "description",
    "required",
    "fail_on",
    "check",
    "cells",
    "reason",
    "expires",
    "excluded",
    "external",
    "not_runnable_here",
    "licensed",
];
const IMAGE_KEYS: &[&str] = &["\"nginx:latest\"", "images", "\"\"", "\"a\""];

fn edits(line: BoxedStrategy<String>) -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), nasty()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), line).prop_map(|(line, text)| Edit::InsertLine { line, text }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ];
    prop::collection::vec(edit, 1..6)
}

fn sets() -> ValueSets {
    ValueSets {
        vector_stores: vec!["pgvector".into(), "chroma".into(), "weaviate".into()],
        storage_types: vec!["opendal".into(), "s3".into(), "local".into()],
        release: Some("1.13".into()),
        origin: Origin::ReleaseFacts,
        source: String::new(),
        profiles: BTreeMap::new(),
    }
}

/// What `plan` and `run` do with a matrix: parse, expand on a deployment and without one.
fn exercise_matrix(text: &str) {
    static RECIPES: OnceLock<RecipeBook> = OnceLock::new();
    let recipes = RECIPES.get_or_init(|| RecipeBook::load(&bundled::recipes()).unwrap());
    if let Ok(m) = Matrix::parse(Path::new("m.toml"), text) {
        let _ = m.expand(Some(&sets()), recipes);
        let _ = m.expand(None, recipes);
        let _ = m.policy();
    }
}

fn exercise_env(text: &str) {
    if let Ok(mut doc) = EnvDocument::parse(Path::new(".env"), text) {
        let values = doc.values();
        for k in values.keys().take(3) {
            let _ = doc.get(k);
            doc.set(k, "x y \"z\" # $w");
        }
        doc.set("NEW_KEY", "");
        let rendered = doc.render();
        // What the harness writes, it must read back.
        EnvDocument::parse(Path::new(".env"), &rendered).unwrap();
        let _ = harness::workspace::active_profiles(&doc);
    }
}

fn known_bad() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        Report::parse(
            Path::new("r.json"),
            &read("fixtures/reports/full-known-bad.json"),
        )
        .unwrap()
    })
}

fn shard_1() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        Report::parse(
            Path::new("s.json"),
            &read("fixtures/reports/full-known-bad.shard-1-of-2.json"),
        )
        .unwrap()
    })
}

fn exercise_policy(text: &str) {
    if let Ok(policy) = Policy::parse(Path::new("policy.toml"), text) {
        let verdict = harness::gate::evaluate(known_bad(), &policy, harness::gate::today());
        let _ = verdict.render(&policy);
    }
}

fn exercise_report(text: &str) {
    if let Ok(report) = Report::parse(Path::new("r.json"), text) {
        for f in Format::ALL {
            let _ = report.render(f);
        }
        let policy = Policy::default();
        let mut verdict = harness::gate::evaluate(&report, &policy, harness::gate::today());
        verdict.baseline = Some(harness::gate::compare(
            &report,
            std::slice::from_ref(&report),
        ));
        let _ = verdict.render(&policy);
        let _ = harness::report::merge::merge(vec![
            (PathBuf::from("r.json"), report.clone()),
            (PathBuf::from("s.json"), shard_1().clone()),
        ]);
        let _ = harness::report::merge::merge(vec![
            (PathBuf::from("a.json"), report.clone()),
            (PathBuf::from("b.json"), report),
        ]);
    }
}

fn exercise_images(text: &str) {
    if let Ok(map) = ImageMap::parse(Path::new("images.toml"), text) {
        for (from, _) in map.entries() {
            let _ = map.local_for(from);
        }
        let _ = map.local_for("docker.io/library/nginx");
        let _ = map.local_for("");
        let _ = map.local_for("a@sha256:00");
    }
}

/// A JSON report with one value somewhere replaced by another of any type.
fn mutate_json(seed: &serde_json::Value, path_seed: usize, with: &serde_json::Value) -> String {
    fn walk(mut v: &mut serde_json::Value, mut n: usize) -> &mut serde_json::Value {
        loop {
            let len = match v {
                serde_json::Value::Object(m) => m.len(),
                serde_json::Value::Array(a) => a.len(),
                _ => 0,
            };
            if len == 0 || n.is_multiple_of(4) {
                return v;
            }
            let i = (n / 4) % len;
            n /= 7;
            v = match v {
                serde_json::Value::Object(m) => m.values_mut().nth(i).unwrap(),
                serde_json::Value::Array(a) => &mut a[i],
                _ => unreachable!(),
            };
        }
    }
    let mut doc = seed.clone();
    *walk(&mut doc, path_seed) = with.clone();
    doc.to_string()
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1.5)),
        Just(serde_json::json!("")),
        Just(serde_json::json!("dify-conformance/report/v1")),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!("1/0")),
        Just(serde_json::json!("0/2")),
        Just(serde_json::json!("3/2")),
        Just(serde_json::json!("pgvector.opendal")),
        any::<String>().prop_map(serde_json::Value::String),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise_matrix(&text);
        exercise_env(&text);
        exercise_policy(&text);
        exercise_report(&text);
        exercise_images(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        exercise_matrix(&text);
        exercise_env(&text);
        exercise_policy(&text);
        exercise_report(&text);
        exercise_images(&text);
    }

    #[test]
    fn mutated_matrices_never_panic(
        seed in prop::sample::select(
            [seeds("matrices", "toml"), seeds("fixtures/matrices", "toml")].concat()
        ),
        edits in edits(toml_line(MATRIX_KEYS).boxed()),
    ) {
        exercise_matrix(&apply(&seed, &edits));
    }

    #[test]
    fn mutated_env_files_never_panic(
        edits in edits(
            prop_oneof![
                "[A-Z_]{1,12}=[ -~]{0,20}",
                "export [A-Z_]{1,8}=\"[ -~]{0,10}",
                "[A-Z]{1,5}='[ -~]{0,10}",
                nasty(),
            ].boxed()
        ),
    ) {
        exercise_env(&apply(&read("fixtures/standin/docker/.env.example"), &edits));
    }

    #[test]
    fn mutated_policies_never_panic(
        edits in edits(toml_line(POLICY_KEYS).boxed()),
    ) {
        exercise_policy(&apply(&read("matrices/release-policy.toml"), &edits));
    }

    #[test]
    fn mutated_image_maps_never_panic(
        edits in edits(toml_line(IMAGE_KEYS).boxed()),
    ) {
        exercise_images(&apply(&read("fixtures/images.toml"), &edits));
    }

    #[test]
    fn reports_with_a_value_of_the_wrong_shape_never_panic(
        seed in prop::sample::select(seeds("fixtures/reports", "json")),
        at in any::<usize>(),
        with in json_value(),
    ) {
        let seed: serde_json::Value = serde_json::from_str(&seed).unwrap();
        exercise_report(&mutate_json(&seed, at, &with));
    }

    #[test]
    fn textually_mutated_reports_never_panic(
        edits in edits(nasty().boxed()),
    ) {
        exercise_report(&apply(&read("fixtures/reports/full-known-bad.shard-2-of-2.json"), &edits));
    }
}
