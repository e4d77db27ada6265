//! Property tests (native only): filter evaluation against a naive evaluator written here
//! from the type rules documented in `src/filter.rs`; malformed filters are
//! `invalid_filter` and arbitrary JSON never panics; fusion properties, both on random
//! lists through `Fusion::fuse` and end to end through hybrid search; and snapshot round
//! trips of random small databases after random inserts, upserts and deletes, including
//! damaged snapshots whose checksums were fixed up (so the parsers behind the CRC checks
//! see the damage), which must be rejected or open cleanly but never panic.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use vjson::{Document, Filter, Fusion, Metric, Options, Query, VectorDB};

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(|i| json!(i)),
        prop::sample::select(vec![-1.5f64, 0.0, 1.0, 2.0, 2.5]).prop_map(|f| json!(f)),
        prop::sample::select(vec!["", "a", "ab", "b", "ba", "rust", "Rust", "1"])
            .prop_map(|s| json!(s)),
    ]
}

/// JSON values a little deep: scalars, arrays and objects with keys the paths use.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "c", "0"]), inner),
                0..4
            )
            .prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b", "c", "tags", "n"]),
            value(),
        ),
        0..5,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

const PATHS: &[&str] = &[
    "a", "b", "c", "tags", "n", "x", "a.b", "a.c", "a.0", "n.a", "n.a.b", "tags.0", "tags.1",
    "n.0", "a.b.c", "c.0.a", "tags.+1", "tags.01",
];

/// One field operator with an operand of the type the operator takes.
#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    Cmp(&'static str, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Contains(Value),
    Prefix(String),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "$eq",
            Op::Ne(_) => "$ne",
            Op::Cmp(n, _) => n,
            Op::In(_) => "$in",
            Op::Nin(_) => "$nin",
            Op::Exists(_) => "$exists",
            Op::Contains(_) => "$contains",
            Op::Prefix(_) => "$prefix",
        }
    }

    fn operand(&self) -> Value {
        match self {
            Op::Eq(v) | Op::Ne(v) | Op::Cmp(_, v) | Op::Contains(v) => v.clone(),
            Op::In(l) | Op::Nin(l) => Value::Array(l.clone()),
            Op::Exists(b) => json!(b),
            Op::Prefix(s) => json!(s),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let cmp_operand = prop_oneof![
        (-3i64..4).prop_map(|i| json!(i)),
        prop::sample::select(vec![-1.5f64, 1.0, 2.5]).prop_map(|f| json!(f)),
        prop::sample::select(vec!["", "a", "ab", "b", "rust", "1"]).prop_map(|s| json!(s)),
    ];
    prop_oneof![
        value().prop_map(Op::Eq),
        value().prop_map(Op::Ne),
        (
            prop::sample::select(vec!["$gt", "$gte", "$lt", "$lte"]),
            cmp_operand
        )
            .prop_map(|(n, v)| Op::Cmp(n, v)),
        prop::collection::vec(value(), 0..4).prop_map(Op::In),
        prop::collection::vec(value(), 0..4).prop_map(Op::Nin),
        any::<bool>().prop_map(Op::Exists),
        value().prop_map(Op::Contains),
        prop::sample::select(vec!["", "a", "r", "ru", "R", "b"]).prop_map(|s| Op::Prefix(s.into())),
    ]
}

/// A filter as the test sees it: the same tree is turned into JSON for the library and
/// evaluated by the naive evaluator below.
#[derive(Debug, Clone)]
enum F {
    /// `{path: value}` — a bare value, meaning `$eq`.
    Bare(&'static str, Value),
    /// `{path: {op: operand, ...}}` — every operator must hold.
    Ops(&'static str, Vec<Op>),
    And(Vec<F>),
    Or(Vec<F>),
    Not(Box<F>),
    /// An object of several entries, all of which must hold.
    Obj(Vec<F>),
}

fn leaf() -> impl Strategy<Value = F> {
    let path = prop::sample::select(PATHS.to_vec());
    prop_oneof![
        // A bare object value whose keys start with '$' would be an operator object.
        (path.clone(), value()).prop_map(|(p, v)| F::Bare(p, v)),
        (path, prop::collection::vec(op(), 1..4)).prop_map(|(p, mut ops)| {
            let mut seen = HashSet::new();
            ops.retain(|o| seen.insert(o.name()));
            F::Ops(p, ops)
        }),
    ]
}

fn filter_tree() -> impl Strategy<Value = F> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(F::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(F::Or),
            inner.clone().prop_map(|f| F::Not(Box::new(f))),
            prop::collection::vec(inner, 2..4).prop_map(F::Obj),
        ]
    })
}

impl F {
    /// The JSON object key of this node when it is an entry of an object.
    fn key(&self) -> &str {
        match self {
            F::Bare(p, _) | F::Ops(p, _) => p,
            F::And(_) => "$and",
            F::Or(_) => "$or",
            F::Not(_) => "$not",
            F::Obj(_) => "",
        }
    }

    /// Entries of an object, the first of each key kept (JSON keys are unique), and a
    /// nested `Obj` flattened into an `$and` entry.
    fn entries(list: &[F]) -> Vec<F> {
        let mut seen = HashSet::new();
        list.iter()
            .map(|f| match f {
                F::Obj(inner) => F::And(vec![F::Obj(inner.clone())]),
                other => other.clone(),
            })
            .filter(|f| seen.insert(f.key().to_string()))
            .collect()
    }

    fn entry_json(&self) -> Value {
        match self {
            F::Bare(_, v) => v.clone(),
            F::Ops(_, ops) => Value::Object(
                ops.iter()
                    .map(|o| (o.name().to_string(), o.operand()))
                    .collect(),
            ),
            F::And(l) | F::Or(l) => Value::Array(l.iter().map(F::to_json).collect()),
            F::Not(f) => f.to_json(),
            F::Obj(_) => unreachable!("flattened by entries"),
        }
    }

    fn to_json(&self) -> Value {
        let entries = match self {
            F::Obj(list) => F::entries(list),
            other => vec![other.clone()],
        };
        let mut m = Map::new();
        for e in entries {
            m.insert(e.key().to_string(), e.entry_json());
        }
        Value::Object(m)
    }

    /// The naive evaluator, from the documented rules.
    fn eval(&self, md: &Value) -> bool {
        match self {
            F::Bare(p, v) => naive_eq(lookup(md, p), v),
            F::Ops(p, ops) => ops.iter().all(|o| naive_op(lookup(md, p), o)),
            F::And(l) => l.iter().all(|f| f.eval(md)),
            F::Or(l) => l.iter().any(|f| f.eval(md)),
            F::Not(f) => !f.eval(md),
            F::Obj(l) => F::entries(l).iter().all(|f| f.eval(md)),
        }
    }
}

/// Follows a dotted path: object keys by name, array elements by a numeric segment.
fn lookup<'a>(md: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = md;
    for seg in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) if seg.chars().all(|c| c.is_ascii_digit()) => {
                a.get(seg.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `$eq`: equal; an array field also when an element equals a non-array operand; a
/// missing field equals `null`.
fn naive_eq(field: Option<&Value>, operand: &Value) -> bool {
    match field {
        None => operand.is_null(),
        Some(f) => {
            same(f, operand)
                || (!operand.is_array()
                    && matches!(f, Value::Array(a) if a.iter().any(|e| same(e, operand))))
        }
    }
}

/// `$gt` and friends on one scalar: both numbers or both strings, else false.
fn naive_cmp(name: &str, f: &Value, operand: &Value) -> bool {
    let ord = match (f, operand) {
        (Value::Number(a), Value::Number(b)) => {
            a.as_f64().unwrap().partial_cmp(&b.as_f64().unwrap())
        }
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    };
    match (name, ord) {
        (_, None) => false,
        ("$gt", Some(o)) => o.is_gt(),
        ("$gte", Some(o)) => o.is_ge(),
        ("$lt", Some(o)) => o.is_lt(),
        ("$lte", Some(o)) => o.is_le(),
        _ => unreachable!(),
    }
}

fn naive_op(field: Option<&Value>, op: &Op) -> bool {
    match op {
        Op::Eq(v) => naive_eq(field, v),
        Op::Ne(v) => !naive_eq(field, v),
        Op::Cmp(n, v) => match field {
            None => false,
            Some(Value::Array(a)) => a.iter().any(|e| naive_cmp(n, e, v)),
            Some(f) => naive_cmp(n, f, v),
        },
        Op::In(list) => list.iter().any(|v| naive_eq(field, v)),
        Op::Nin(list) => !list.iter().any(|v| naive_eq(field, v)),
        Op::Exists(b) => field.is_some() == *b,
        Op::Contains(v) => match field {
            Some(Value::String(s)) => matches!(v, Value::String(n) if s.contains(n.as_str())),
            Some(Value::Array(a)) => a.iter().any(|e| same(e, v)),
            _ => false,
        },
        Op::Prefix(p) => match field {
            Some(Value::String(s)) => s.starts_with(p.as_str()),
            Some(Value::Array(a)) => a
                .iter()
                .any(|e| matches!(e, Value::String(s) if s.starts_with(p.as_str()))),
            _ => false,
        },
    }
}

/// Filters that must be rejected, each with the mistake it makes.
fn malformed() -> impl Strategy<Value = Value> {
    let path = prop::sample::select(PATHS.to_vec());
    let not_cmp = prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!([1])),
        Just(json!({"a": 1}))
    ];
    let not_array = prop_oneof![
        Just(json!(1)),
        Just(json!("a")),
        Just(json!({"a": 1})),
        Just(json!(null))
    ];
    let not_bool = prop_oneof![
        Just(json!(1)),
        Just(json!("true")),
        Just(json!(null)),
        Just(json!([]))
    ];
    let not_string = prop_oneof![
        Just(json!(1)),
        Just(json!(null)),
        Just(json!(["a"])),
        Just(json!(false))
    ];
    let not_filter = prop_oneof![
        Just(json!(1)),
        Just(json!("x")),
        Just(json!([])),
        Just(json!(null))
    ];
    prop_oneof![
        (
            path.clone(),
            prop::sample::select(vec!["$gt", "$gte", "$lt", "$lte"]),
            not_cmp
        )
            .prop_map(|(p, o, v)| json!({p: {o: v}})),
        (
            path.clone(),
            prop::sample::select(vec!["$in", "$nin"]),
            not_array
        )
            .prop_map(|(p, o, v)| json!({p: {o: v}})),
        (path.clone(), not_bool).prop_map(|(p, v)| json!({p: {"$exists": v}})),
        (path.clone(), not_string).prop_map(|(p, v)| json!({p: {"$prefix": v}})),
        (
            path.clone(),
            prop::sample::select(vec!["$regex", "$size", "$EQ", "$", "$all"])
        )
            .prop_map(|(p, o)| json!({p: {o: 1}})),
        (
            path.clone(),
            prop::sample::select(vec!["$and", "$or", "$not"])
        )
            .prop_map(|(p, o)| json!({p: {o: [{"a": 1}]}})),
        (path.clone(), value()).prop_map(|(p, v)| json!({p: {"$eq": v, "plain": 1}})),
        (
            prop::sample::select(vec!["$and", "$or"]),
            not_filter.clone()
        )
            .prop_map(|(o, v)| json!({o: v})),
        prop::sample::select(vec!["$and", "$or"]).prop_map(|o| json!({o: [1, {"a": 1}]})),
        not_filter.clone().prop_map(|v| json!({"$not": v})),
        not_filter.prop_map(|v| v),
        prop::sample::select(vec!["", ".a", "a.", "a..b", "."]).prop_map(|p| json!({p: 1})),
        prop::sample::select(vec!["$nor", "$where", "$exists"]).prop_map(|o| json!({o: [{}]})),
    ]
}

proptest! {
    #![proptest_config(Config::with_cases(3000))]

    #[test]
    fn filters_agree_with_the_naive_evaluator(f in filter_tree(), docs in prop::collection::vec(metadata(), 1..6)) {
        let json = f.to_json();
        let parsed = Filter::from_json(&json).map_err(|e| TestCaseError::fail(format!("{json} rejected: {e}")))?;
        for md in &docs {
            prop_assert_eq!(parsed.matches(Some(md)), f.eval(md), "filter {} on {}", json, md);
        }
        // No metadata at all behaves like an empty object.
        prop_assert_eq!(parsed.matches(None), f.eval(&json!({})), "filter {} without metadata", json);
        // The same filter through its JSON text.
        let again = Filter::parse(&json.to_string()).unwrap();
        prop_assert_eq!(again, parsed);
    }
}

proptest! {
    #![proptest_config(Config::with_cases(1000))]

    #[test]
    fn malformed_filters_are_invalid_filter(bad in malformed()) {
        let err = Filter::from_json(&bad).expect_err(&format!("{bad} was accepted"));
        prop_assert_eq!(err.code(), "invalid_filter");
        prop_assert!(err.to_string().len() > "invalid filter: ".len());
    }

    #[test]
    fn arbitrary_json_never_panics(v in value(), md in metadata()) {
        // Either an invalid_filter error or a filter that evaluates.
        match Filter::from_json(&v) {
            Ok(f) => { let _ = f.matches(Some(&md)); let _ = f.matches(None); }
            Err(e) => prop_assert_eq!(e.code(), "invalid_filter"),
        }
        let obj = json!({"a": v.clone(), "$and": [{"b": v}]});
        if let Err(e) = Filter::from_json(&obj) { prop_assert_eq!(e.code(), "invalid_filter"); }
    }
}

// ---------------------------------------------------------------------------------------
// Fusion
// ---------------------------------------------------------------------------------------

/// A ranked list: distinct keys below 40, scores best first (ties allowed).
fn ranked(max_len: usize) -> impl Strategy<Value = Vec<(u32, f32)>> {
    (
        prop::collection::hash_set(0u32..40, 0..max_len),
        prop::collection::vec(prop_oneof![Just(0.5f32), -5.0f32..5.0f32], max_len),
    )
        .prop_map(|(keys, scores)| {
            let mut keys: Vec<u32> = keys.into_iter().collect();
            keys.sort_unstable();
            let mut scores: Vec<f32> = scores[..keys.len()].to_vec();
            scores.sort_by(|a, b| b.total_cmp(a));
            keys.into_iter().zip(scores).collect()
        })
}

fn fusion() -> impl Strategy<Value = Fusion> {
    prop_oneof![
        (0.0f32..100.0).prop_map(|k| Fusion::Rrf { k }),
        (0.0f32..2.0, 0.0f32..2.0)
            .prop_filter("not both zero", |(v, t)| v + t > 0.0)
            .prop_map(|(vector, text)| Fusion::Weighted { vector, text }),
        (0.0f32..2.0, 0.0f32..2.0)
            .prop_filter("not both zero", |(v, t)| v + t > 0.0)
            .prop_map(|(vector, text)| Fusion::Zscore { vector, text }),
        Just(Fusion::Max),
        Just(Fusion::Min),
        Just(Fusion::Average),
        Just(Fusion::Dbsf),
    ]
}

fn min_max(list: &[(u32, f32)]) -> HashMap<u32, f64> {
    let lo = list
        .iter()
        .map(|x| x.1 as f64)
        .fold(f64::INFINITY, f64::min);
    let hi = list
        .iter()
        .map(|x| x.1 as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    list.iter()
        .map(|&(k, s)| {
            (
                k,
                if hi > lo {
                    (s as f64 - lo) / (hi - lo)
                } else {
                    1.0
                },
            )
        })
        .collect()
}

/// A list's mean score and standard deviation.
fn mean_sd(list: &[(u32, f32)]) -> (f64, f64) {
    let n = list.len() as f64;
    let mean = list.iter().map(|x| x.1 as f64).sum::<f64>() / n;
    let sd = (list
        .iter()
        .map(|x| (x.1 as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    (mean, sd)
}

fn three_sigma(list: &[(u32, f32)]) -> HashMap<u32, f64> {
    let (mean, sd) = mean_sd(list);
    list.iter()
        .map(|&(k, s)| {
            let v = if sd > 0.0 {
                ((s as f64 - (mean - 3.0 * sd)) / (6.0 * sd)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            (k, v)
        })
        .collect()
}

/// Standardised scores, and the value of a row missing from the list (its lowest); a list
/// of equal scores standardises to 1, missing rows to 0.
fn z_scores(list: &[(u32, f32)]) -> (HashMap<u32, f64>, f64) {
    let (mean, sd) = mean_sd(list);
    let z = |s: f32| {
        if sd > 0.0 {
            (s as f64 - mean) / sd
        } else {
            1.0
        }
    };
    let missing = list.iter().map(|x| z(x.1)).fold(f64::INFINITY, f64::min);
    let missing = if sd > 0.0 { missing } else { 0.0 };
    (list.iter().map(|&(k, s)| (k, z(s))).collect(), missing)
}

/// The fused score of `key` by the documented formula.
fn expected_score(f: Fusion, v: &[(u32, f32)], t: &[(u32, f32)], key: u32) -> f64 {
    let rank = |l: &[(u32, f32)]| l.iter().position(|x| x.0 == key).map(|p| p + 1);
    match f {
        Fusion::Rrf { k } => [rank(v), rank(t)]
            .into_iter()
            .flatten()
            .map(|r| 1.0 / (k as f64 + r as f64))
            .sum(),
        _ => {
            let ((nv, mv), (nt, mt)) = match f {
                Fusion::Dbsf => ((three_sigma(v), 0.0), (three_sigma(t), 0.0)),
                Fusion::Zscore { .. } => (z_scores(v), z_scores(t)),
                _ => ((min_max(v), 0.0), (min_max(t), 0.0)),
            };
            let (a, b) = (
                nv.get(&key).copied().unwrap_or(mv),
                nt.get(&key).copied().unwrap_or(mt),
            );
            match f {
                Fusion::Weighted { vector, text } | Fusion::Zscore { vector, text } => {
                    vector as f64 * a + text as f64 * b
                }
                Fusion::Max => a.max(b),
                Fusion::Min => a.min(b),
                Fusion::Average => (a + b) / 2.0,
                Fusion::Dbsf => a + b,
                Fusion::Rrf { .. } => unreachable!(),
            }
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(Config::with_cases(2000))]

    #[test]
    fn fusion_keeps_every_row_once_sorted_with_the_documented_scores(
        f in fusion(), v in ranked(30), t in ranked(30)
    ) {
        let out = f.fuse(&v, &t).unwrap();
        let union: HashSet<u32> = v.iter().chain(&t).map(|x| x.0).collect();
        let keys: Vec<u32> = out.iter().map(|x| x.0).collect();
        prop_assert_eq!(keys.iter().copied().collect::<HashSet<_>>(), union.clone());
        prop_assert_eq!(keys.len(), union.len(), "a row appears twice");
        // Best first; equal scores by the documented tie-breaker (the sum of the normalised
        // scores, i.e. twice `average`'s; for RRF the better side's reciprocal rank; for
        // DBSF the score itself), then by row.
        let tie = |key: u32| -> f64 {
            match f {
                Fusion::Rrf { k } => {
                    let rr = |l: &[(u32, f32)]| {
                        l.iter().position(|x| x.0 == key).map_or(0.0, |p| 1.0 / (k as f64 + p as f64 + 1.0))
                    };
                    rr(&v).max(rr(&t))
                }
                Fusion::Dbsf => expected_score(f, &v, &t, key),
                Fusion::Zscore { .. } => expected_score(Fusion::Zscore { vector: 1.0, text: 1.0 }, &v, &t, key),
                _ => 2.0 * expected_score(Fusion::Average, &v, &t, key),
            }
        };
        for w in out.windows(2) {
            let (t0, t1) = (tie(w[0].0), tie(w[1].0));
            let ordered = w[0].1 > w[1].1
                || (w[0].1 == w[1].1 && (t0 > t1 || (close(t0, t1) && w[0].0 < w[1].0)));
            prop_assert!(ordered, "not sorted: {:?}", out);
        }
        for &(key, score) in &out {
            let want = expected_score(f, &v, &t, key);
            prop_assert!(close(score as f64, want), "{:?} key {}: {} vs {}", f, key, score, want);
            match f {
                Fusion::Max | Fusion::Min | Fusion::Average => prop_assert!((0.0..=1.0).contains(&score)),
                Fusion::Dbsf => prop_assert!((0.0..=2.0).contains(&score)),
                Fusion::Weighted { vector, text } => prop_assert!(score >= 0.0 && score <= (vector + text) * (1.0 + 1e-6)),
                // A standard score is at most sqrt(n - 1) from 0 in a list of n (Samuelson).
                Fusion::Zscore { vector, text } => {
                    let n = v.len().max(t.len()).max(2) as f32;
                    prop_assert!(score.abs() <= (vector + text) * (n - 1.0).sqrt() * (1.0 + 1e-5) + 1e-6)
                }
                Fusion::Rrf { k } => prop_assert!(score > 0.0 && score <= 2.0 / (k + 1.0) * (1.0 + 1e-6)),
            }
        }
        if f == Fusion::Max && !out.is_empty() {
            prop_assert_eq!(out[0].1, 1.0);
        }
    }

    #[test]
    fn max_is_at_least_average_is_at_least_min(v in ranked(30), t in ranked(30)) {
        let score = |f: Fusion| -> HashMap<u32, f32> { f.fuse(&v, &t).unwrap().into_iter().collect() };
        let (mx, avg, mn) = (score(Fusion::Max), score(Fusion::Average), score(Fusion::Min));
        for key in mx.keys() {
            prop_assert!(mx[key] >= avg[key] - 1e-6 && avg[key] >= mn[key] - 1e-6,
                "key {}: max {} avg {} min {}", key, mx[key], avg[key], mn[key]);
        }
    }

    #[test]
    fn a_zero_weight_orders_by_the_other_side(v in ranked(30), t in ranked(30), w in 0.1f32..3.0) {
        for (fusion, side, other) in [
            (Fusion::Weighted { vector: 0.0, text: w }, &t, &v),
            (Fusion::Weighted { vector: w, text: 0.0 }, &v, &t),
        ] {
            let out = fusion.fuse(&v, &t).unwrap();
            let pos: HashMap<u32, usize> = out.iter().enumerate().map(|(i, x)| (x.0, i)).collect();
            let s: HashMap<u32, f32> = side.iter().copied().collect();
            // Rows the weighted side ranks higher come first.
            for a in side.iter() {
                for b in side.iter() {
                    if a.1 > b.1 {
                        prop_assert!(pos[&a.0] < pos[&b.0], "{:?}: {:?} before {:?}", fusion, a, b);
                    }
                }
            }
            // Rows only the zero-weight side found score 0.
            for (key, score) in &out {
                if !s.contains_key(key) {
                    prop_assert!(other.iter().any(|x| x.0 == *key));
                    prop_assert_eq!(*score, 0.0);
                }
            }
        }
    }

    #[test]
    fn rrf_ignores_scores_and_repeated_keys(v in ranked(20), t in ranked(20), k in 0.0f32..100.0) {
        let f = Fusion::Rrf { k };
        let out = f.fuse(&v, &t).unwrap();
        // Any scores in the same order give the same fusion.
        let relabel = |l: &[(u32, f32)]| -> Vec<(u32, f32)> { l.iter().enumerate().map(|(i, x)| (x.0, 1000.0 - i as f32)).collect() };
        prop_assert_eq!(f.fuse(&relabel(&v), &relabel(&t)).unwrap(), out.clone());
        // A key repeated further down a list counts once, at its first rank.
        let mut vv = v.clone();
        if let Some(&first) = v.first() { vv.push((first.0, -100.0)); }
        prop_assert_eq!(f.fuse(&vv, &t).unwrap(), out);
    }
}

#[test]
fn fuse_rejects_bad_parameters_and_scores() {
    let v = [(1, 0.5)];
    assert_eq!(
        Fusion::Rrf { k: -1.0 }.fuse(&v, &[]).unwrap_err().code(),
        "invalid_query"
    );
    assert_eq!(
        Fusion::Weighted {
            vector: 0.0,
            text: 0.0
        }
        .fuse(&v, &[])
        .unwrap_err()
        .code(),
        "invalid_query"
    );
    assert_eq!(
        Fusion::Max.fuse(&[(1, f32::NAN)], &[]).unwrap_err().code(),
        "invalid_query"
    );
    assert!(Fusion::Max.fuse(&[], &[]).unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Random small databases
// ---------------------------------------------------------------------------------------

const DIM: usize = 6;
const WORDS: &[&str] = &[
    "rust",
    "ownership",
    "borrow",
    "lifetime",
    "trait",
    "vector",
    "search",
    "index",
    "graph",
    "filter",
    "running",
    "runs",
];

#[derive(Debug, Clone)]
struct DocSpec {
    id: u8,
    vector: Vec<f32>,
    text: Option<String>,
    title: Option<String>,
    meta: Option<Value>,
}

impl DocSpec {
    fn doc(&self) -> Document {
        let mut d = Document::new(format!("doc-{}", self.id), self.vector.clone());
        if let Some(t) = &self.text {
            d = d.text(t.clone());
        }
        if let Some(t) = &self.title {
            d = d.title(t.clone());
        }
        if let Some(m) = &self.meta {
            d = d.metadata(m.clone());
        }
        d
    }
}

fn vector() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, DIM).prop_map(|mut v| {
        if v.iter().all(|x| *x == 0.0) {
            v[0] = 1.0;
        }
        v
    })
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS.to_vec()), 1..6).prop_map(|w| w.join(" "))
}

fn doc_spec(ids: u8) -> impl Strategy<Value = DocSpec> {
    (
        0..ids,
        vector(),
        prop::option::weighted(0.8, text()),
        prop::option::weighted(0.3, text()),
        prop::option::weighted(
            0.8,
            (0i64..5, any::<bool>(), prop::sample::select(vec!["a", "b"])),
        ),
    )
        .prop_map(|(id, vector, text, title, meta)| DocSpec {
            id,
            vector,
            text,
            title,
            meta: meta
                .map(|(n, b, s)| json!({"n": n, "flag": b, "tags": [s, "all"], "deep": {"n": n}})),
        })
}

#[derive(Debug, Clone)]
enum DbOp {
    Insert(DocSpec),
    Upsert(DocSpec),
    Delete(u8),
    Batch(Vec<DocSpec>),
}

fn db_op() -> impl Strategy<Value = DbOp> {
    prop_oneof![
        3 => doc_spec(40).prop_map(DbOp::Insert),
        2 => doc_spec(40).prop_map(DbOp::Upsert),
        2 => (0u8..40).prop_map(DbOp::Delete),
        // At most 8: batches that small link sequentially, so the same operations on two
        // equal databases give equal graphs.
        1 => prop::collection::vec(doc_spec(60), 1..9).prop_map(DbOp::Batch),
    ]
}

/// Applies `op`; errors (duplicates, missing ids) are expected and change nothing.
fn apply(db: &VectorDB, op: &DbOp) -> Option<&'static str> {
    let r = match op {
        DbOp::Insert(d) => db.insert(d.doc()),
        DbOp::Upsert(d) => db.upsert(d.doc()),
        DbOp::Delete(id) => db.delete(&format!("doc-{id}")),
        DbOp::Batch(ds) => db.insert_batch(ds.iter().map(DocSpec::doc).collect()),
    };
    r.err().map(|e| e.code())
}

fn metric() -> impl Strategy<Value = Metric> {
    prop::sample::select(vec![Metric::Cosine, Metric::Dot, Metric::L2])
}

fn queries() -> impl Strategy<Value = Vec<Query>> {
    let filter = prop::option::of(prop::sample::select(vec![
        json!({"n": {"$gte": 2}}),
        json!({"flag": true}),
        json!({"tags": "a", "deep.n": {"$lt": 4}}),
        json!({"$or": [{"n": 0}, {"meta": {"$exists": false}}]}),
    ]));
    let fusion = prop::sample::select(vec![
        Fusion::Rrf { k: 60.0 },
        Fusion::Weighted {
            vector: 0.3,
            text: 0.7,
        },
        Fusion::Max,
        Fusion::Min,
        Fusion::Average,
        Fusion::Dbsf,
    ]);
    prop::collection::vec(
        (
            vector(),
            text(),
            0u8..3,
            1usize..15,
            filter,
            fusion,
            prop::option::of(1usize..40),
        ),
        1..8,
    )
    .prop_map(|qs| {
        qs.into_iter()
            .map(|(v, t, mode, k, f, fusion, ef)| {
                let mut q = match mode {
                    0 => Query::new().vector(v),
                    1 => Query::new().text(t),
                    _ => Query::new().vector(v).text(t).fusion(fusion),
                };
                q = q.k(k);
                if let Some(f) = f {
                    q = q.filter(Filter::from_json(&f).unwrap());
                }
                if let Some(ef) = ef {
                    q = q.ef_search(ef);
                }
                q
            })
            .collect()
    })
}

/// Every answer and every document of `db`.
fn observe(db: &VectorDB, qs: &[Query]) -> (Vec<Vec<vjson::Hit>>, Vec<Option<Document>>, usize) {
    let answers = qs.iter().map(|q| db.search(q).unwrap()).collect();
    let docs = (0..60)
        .map(|i| db.get(&format!("doc-{i}")).unwrap())
        .collect();
    (answers, docs, db.len())
}

proptest! {
    #![proptest_config(Config::with_cases(150))]

    #[test]
    fn snapshot_round_trip_preserves_every_search_result(
        metric in metric(),
        m in 2usize..8,
        fulltext in prop::bool::weighted(0.85),
        ops in prop::collection::vec(db_op(), 1..60),
        later in prop::collection::vec(db_op(), 0..10),
        qs in queries(),
    ) {
        let opts = Options::new(DIM).metric(metric).m(m).ef_construction(32).fulltext(fulltext);
        let db = VectorDB::in_memory(opts).unwrap();
        for op in &ops {
            if let Some(code) = apply(&db, op) {
                prop_assert!(["duplicate_id", "not_found"].contains(&code), "{:?}: {}", op, code);
            }
        }
        let ok = |q: &Query| db.search(q).map(|_| ()).err().map(|e| e.code());
        // Text queries on a database without full text are unsupported; keep the rest.
        let qs: Vec<Query> = qs.into_iter().filter(|q| ok(q) != Some("unsupported")).collect();
        let bytes = db.export_snapshot().unwrap();
        let back = VectorDB::import_snapshot(&bytes).unwrap();
        prop_assert_eq!(back.options(), db.options());
        prop_assert_eq!(observe(&back, &qs), observe(&db, &qs));
        prop_assert_eq!(back.export_snapshot().unwrap(), bytes);
        // Both go on identically.
        for op in &later {
            prop_assert_eq!(apply(&back, op), apply(&db, op));
        }
        prop_assert_eq!(observe(&back, &qs), observe(&db, &qs));
    }

    #[test]
    fn hybrid_search_fuses_the_two_sides_as_documented(
        specs in prop::collection::vec(doc_spec(255), 1..40),
        qv in vector(),
        qt in text(),
        f in fusion(),
    ) {
        // Insert-only, so a document's row is its insertion index, the fusion's tie-break.
        let mut seen = HashSet::new();
        let specs: Vec<DocSpec> = specs.into_iter().filter(|s| seen.insert(s.id)).collect();
        let db = VectorDB::in_memory(Options::new(DIM).ef_construction(32)).unwrap();
        db.insert_batch(specs.iter().map(DocSpec::doc).collect()).unwrap();
        let row: HashMap<String, u32> = specs.iter().enumerate().map(|(i, s)| (s.doc().id, i as u32)).collect();
        let c = 50;
        let vhits = db.search(&Query::new().vector(qv.clone()).k(c)).unwrap();
        let thits = db.search(&Query::new().text(qt.clone()).k(c)).unwrap();
        prop_assert_eq!(vhits.len(), specs.len());
        let list = |hits: &[vjson::Hit]| -> Vec<(u32, f32)> { hits.iter().map(|h| (row[&h.id], h.score)).collect() };
        let vs: HashMap<&str, f32> = vhits.iter().map(|h| (h.id.as_str(), h.score)).collect();
        let mut ts: HashMap<&str, f32> = thits.iter().map(|h| (h.id.as_str(), h.score)).collect();
        let (vlist, mut tlist) = (list(&vhits), list(&thits));
        // Under z-score (when both sides found something) each side scores the other's
        // candidates: here the vector side found every document, so the text side lists
        // the ones it did not find, which hold no query term, at 0.
        if matches!(f, Fusion::Zscore { .. }) && !thits.is_empty() {
            for h in &vhits {
                if !ts.contains_key(h.id.as_str()) {
                    ts.insert(h.id.as_str(), 0.0);
                    tlist.push((row[&h.id], 0.0));
                }
            }
        }
        let want = f.fuse(&vlist, &tlist).unwrap();
        let hybrid = db.search(&Query::new().vector(qv).text(qt).k(c).candidates(c).fusion(f)).unwrap();
        let got: Vec<(u32, f32)> = hybrid.iter().map(|h| (row[&h.id], h.score)).collect();
        prop_assert_eq!(got, want);
        for h in &hybrid {
            prop_assert_eq!(h.vector_score, vs.get(h.id.as_str()).copied());
            prop_assert_eq!(h.text_score, ts.get(h.id.as_str()).copied());
        }
    }
}

/// Offsets of the checksummed regions of a snapshot: (crc offset, body start, body end).
fn regions(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let hlen = u32_at(8);
    let mut out = vec![(12, 16, 16 + hlen)];
    let mut o = 16 + hlen;
    while o < bytes.len() {
        let len = u64::from_le_bytes(bytes[o + 4..o + 12].try_into().unwrap()) as usize;
        out.push((o + 12, o + 16, o + 16 + len));
        o += 16 + len;
    }
    out
}

proptest! {
    #![proptest_config(Config::with_cases(1000))]

    #[test]
    fn damaged_snapshots_with_fixed_checksums_never_panic(
        ops in prop::collection::vec(db_op(), 1..30),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..4),
        q in vector(),
    ) {
        let db = VectorDB::in_memory(Options::new(DIM).m(3).ef_construction(16)).unwrap();
        for op in &ops {
            apply(&db, op);
        }
        let mut bytes = db.export_snapshot().unwrap();
        let regs = regions(&bytes);
        prop_assert_eq!(regs.len(), 8);
        // Damage bytes inside the checksummed bodies, then fix their checksums, so the
        // parsers behind the CRC checks see the damage. Half the damage goes to the graph
        // as a small change of a low byte, which keeps links in range but may point them
        // anywhere.
        let body: Vec<usize> = regs.iter().flat_map(|&(_, s, e)| s..e).collect();
        let (_, gs, ge) = regs[6];
        for (at, x, graph) in &damage {
            if *graph && ge - gs > 30 {
                let i = gs + 21 + at.index(ge - gs - 21);
                bytes[i] ^= x % 8 + 1;
            } else {
                bytes[body[at.index(body.len())]] ^= x.max(&1);
            }
        }
        for &(crc, s, e) in &regs {
            let sum = crc32fast::hash(&bytes[s..e]);
            bytes[crc..crc + 4].copy_from_slice(&sum.to_le_bytes());
        }
        match VectorDB::import_snapshot(&bytes) {
            Err(e) => prop_assert_eq!(e.code(), "invalid_snapshot"),
            Ok(back) => {
                // Whatever opened must work.
                let _ = back.search(&Query::new().vector(q.clone()).k(5));
                let _ = back.search(&Query::new().vector(q.clone()).text("rust").k(5).ef_search(3));
                let _ = back.search(&Query::new().text("rust trait").k(5).filter(Filter::from_json(&json!({"n": {"$gt": 1}})).unwrap()));
                back.insert(Document::new("fresh", q.clone())).unwrap();
                let _ = back.search(&Query::new().vector(q).k(5));
                for i in 0..60 {
                    let _ = back.delete(&format!("doc-{i}"));
                }
                let _ = back.export_snapshot().unwrap();
            }
        }
    }
}
