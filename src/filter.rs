//! Metadata filters: Mongo-style JSON parsed once into a [`Filter`], evaluated per document.
//! The syntax and type rules are documented on [`Filter`].

use serde_json::{Map, Value};

use crate::error::{Error, Result, json_type};
use crate::options::{MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH};

/// A parsed metadata filter: Mongo-style JSON, parsed once, evaluated per document.
///
/// # Syntax
///
/// A filter is a JSON object. Each key is either a logical operator (`$and`, `$or`, `$not`)
/// or a field path (dotted for nested objects, `"a.b.c"`; a numeric segment indexes an
/// array, `"tags.0"`). A field's value is either an object of operators,
/// `{"$gte": 2020, "$lt": 2025}` (all must hold), or a bare value, which means `$eq`.
/// Several keys in one object must all hold. `{}` matches everything.
///
/// ```
/// use vjson::Filter;
/// use serde_json::json;
/// let f = Filter::from_json(&json!({"year": {"$gte": 2020}, "tags": {"$contains": "rust"}})).unwrap();
/// assert!(f.matches(Some(&json!({"year": 2024, "tags": ["rust", "db"]}))));
/// assert!(!f.matches(Some(&json!({"year": 2019, "tags": ["rust"]}))));
/// ```
///
/// # Type rules
///
/// | operator | operand | true when |
/// |---|---|---|
/// | `$eq` | any JSON | the field equals the operand (numbers compare by value, `1 == 1.0`); an array field also matches when one element equals a non-array operand; `null` matches a missing field |
/// | `$ne` | any JSON | `$eq` is false (so a missing field matches `$ne: 5`) |
/// | `$gt $gte $lt $lte` | number or string | field and operand are both numbers, or both strings (byte-wise order); for an array field, any element; any other pairing is simply false |
/// | `$in` | array | `$eq` holds for some element of the operand |
/// | `$nin` | array | `$in` is false |
/// | `$exists` | boolean | the path is present (even if `null`) == operand |
/// | `$contains` | any JSON | the field is a string containing the operand string, or an array with an element equal to the operand |
/// | `$prefix` | string | the field is a string starting with the operand, or an array with such a string |
/// | `$and` `$or` | non-empty array of filters | all / any hold |
/// | `$not` | a filter object | it does not hold |
///
/// Anything else (an unknown operator, an operand of the wrong type, an empty `$and`, a field
/// object that mixes operators and plain keys) is an [`Error::InvalidFilter`] naming the
/// offending path. So is a filter that nests `$and` / `$or` / `$not` more than
/// [`MAX_FILTER_DEPTH`] levels or holds more than [`MAX_FILTER_CONDITIONS`] conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    node: Node,
    /// The deepest `$and` / `$or` / `$not` level and the conditions, for a database's
    /// [`crate::Limits`].
    depth: usize,
    conditions: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Field(Vec<String>, Op),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(Value),
    Ne(Value),
    Cmp(Cmp, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Contains(Value),
    Prefix(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// The operators a filter may use.
pub const OPERATORS: [&str; 14] = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$contains",
    "$prefix",
    "$and",
    "$or",
    "$not",
];

/// The conditions parsing may still take.
struct Budget {
    conditions: usize,
    deepest: usize,
}

impl Budget {
    fn take(&mut self, path: &str) -> Result<()> {
        if self.conditions == 0 {
            return Err(invalid(
                path,
                format!("a filter holds at most {MAX_FILTER_CONDITIONS} conditions"),
            ));
        }
        self.conditions -= 1;
        Ok(())
    }
}

fn invalid(path: &str, msg: impl std::fmt::Display) -> Error {
    if path.is_empty() {
        Error::InvalidFilter(msg.to_string())
    } else {
        Error::InvalidFilter(format!("at `{path}`: {msg}"))
    }
}

impl Filter {
    /// A filter that matches every document.
    pub fn all() -> Self {
        Filter {
            node: Node::All(Vec::new()),
            depth: 1,
            conditions: 0,
        }
    }

    /// Parses a filter from JSON.
    /// Filters nest at most [`MAX_FILTER_DEPTH`] levels and hold at most
    /// [`MAX_FILTER_CONDITIONS`] conditions; beyond, an `invalid_filter` error (never a
    /// stack overflow, however the value was built).
    pub fn from_json(value: &Value) -> Result<Self> {
        let mut budget = Budget {
            conditions: MAX_FILTER_CONDITIONS,
            deepest: 1,
        };
        let node = parse_object(value, "", 1, &mut budget)?;
        Ok(Filter {
            node,
            depth: budget.deepest,
            conditions: MAX_FILTER_CONDITIONS - budget.conditions,
        })
    }

    /// How deeply `$and` / `$or` / `$not` nest (the top object is level 1) and how many
    /// conditions the filter holds.
    pub fn size(&self) -> (usize, usize) {
        (self.depth, self.conditions)
    }

    /// Parses a filter from a JSON string.
    pub fn parse(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::InvalidFilter(format!("not valid JSON: {e}")))?;
        Self::from_json(&value)
    }

    /// True when the filter matches everything (`{}`).
    pub fn is_all(&self) -> bool {
        matches!(&self.node, Node::All(v) if v.is_empty())
    }

    /// Whether a document with this metadata passes the filter (`None`: no metadata).
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        eval(&self.node, metadata)
    }
}

fn parse_object(value: &Value, path: &str, depth: usize, budget: &mut Budget) -> Result<Node> {
    budget.deepest = budget.deepest.max(depth);
    if depth > MAX_FILTER_DEPTH {
        return Err(invalid(
            path,
            format!("$and, $or and $not nest at most {MAX_FILTER_DEPTH} levels"),
        ));
    }
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            format!("a filter must be a JSON object, got {}", json_type(value)),
        )
    })?;
    let mut nodes = Vec::with_capacity(obj.len());
    for (key, v) in obj {
        nodes.push(parse_entry(key, v, path, depth, budget)?);
    }
    Ok(if nodes.len() == 1 {
        nodes.pop().expect("one node")
    } else {
        Node::All(nodes)
    })
}

fn parse_entry(
    key: &str,
    v: &Value,
    path: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Node> {
    budget.take(path)?;
    match key {
        "$and" | "$or" => {
            let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                invalid(path, format!("{key} takes a non-empty array of filters"))
            })?;
            let nodes = items
                .iter()
                .enumerate()
                .map(|(i, f)| parse_object(f, &format!("{key}[{i}]"), depth + 1, budget))
                .collect::<Result<Vec<_>>>()?;
            Ok(if key == "$and" {
                Node::All(nodes)
            } else {
                Node::Any(nodes)
            })
        }
        "$not" => Ok(Node::Not(Box::new(parse_object(
            v,
            "$not",
            depth + 1,
            budget,
        )?))),
        k if k.starts_with('$') => Err(invalid(
            path,
            format!(
                "unknown top-level operator `{k}`; use $and, $or, $not, or a field name ({})",
                OPERATORS.join(" ")
            ),
        )),
        field => {
            if field.is_empty() || field.split('.').any(str::is_empty) {
                return Err(invalid(
                    field,
                    "field paths must be non-empty names separated by single dots",
                ));
            }
            let segs: Vec<String> = field.split('.').map(str::to_owned).collect();
            parse_field(segs, field, v, budget)
        }
    }
}

fn parse_field(segs: Vec<String>, path: &str, v: &Value, budget: &mut Budget) -> Result<Node> {
    let ops = match v {
        Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => m,
        other => return Ok(Node::Field(segs, Op::Eq(other.clone()))),
    };
    if ops.keys().any(|k| !k.starts_with('$')) {
        return Err(invalid(
            path,
            "an operator object cannot also hold plain keys; write {\"$eq\": {...}} to compare with an object",
        ));
    }
    let mut nodes = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        budget.take(path)?;
        nodes.push(Node::Field(segs.clone(), parse_op(op, operand, path, ops)?));
    }
    Ok(if nodes.len() == 1 {
        nodes.pop().expect("one node")
    } else {
        Node::All(nodes)
    })
}

fn parse_op(op: &str, operand: &Value, path: &str, _all: &Map<String, Value>) -> Result<Op> {
    let comparable = |cmp| match operand {
        Value::Number(_) | Value::String(_) => Ok(Op::Cmp(cmp, operand.clone())),
        other => Err(invalid(
            path,
            format!(
                "{op} compares with a number or a string, got {}",
                json_type(other)
            ),
        )),
    };
    let list = || {
        operand.as_array().cloned().ok_or_else(|| {
            invalid(
                path,
                format!("{op} takes an array of values, got {}", json_type(operand)),
            )
        })
    };
    match op {
        "$eq" => Ok(Op::Eq(operand.clone())),
        "$ne" => Ok(Op::Ne(operand.clone())),
        "$gt" => comparable(Cmp::Gt),
        "$gte" => comparable(Cmp::Gte),
        "$lt" => comparable(Cmp::Lt),
        "$lte" => comparable(Cmp::Lte),
        "$in" => Ok(Op::In(list()?)),
        "$nin" => Ok(Op::Nin(list()?)),
        "$exists" => operand.as_bool().map(Op::Exists).ok_or_else(|| {
            invalid(
                path,
                format!("$exists takes true or false, got {}", json_type(operand)),
            )
        }),
        "$contains" => Ok(Op::Contains(operand.clone())),
        "$prefix" => operand
            .as_str()
            .map(|s| Op::Prefix(s.to_owned()))
            .ok_or_else(|| {
                invalid(
                    path,
                    format!("$prefix takes a string, got {}", json_type(operand)),
                )
            }),
        "$and" | "$or" | "$not" => Err(invalid(
            path,
            format!("{op} belongs at the top level of a filter, not inside a field"),
        )),
        other => Err(invalid(
            path,
            format!(
                "unknown operator `{other}`; expected one of {}",
                OPERATORS.join(" ")
            ),
        )),
    }
}

fn resolve<'a>(metadata: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
    let mut cur = metadata?;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            // Only a segment of ASCII digits indexes an array ("+1" or " 1" do not).
            Value::Array(a) if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) => {
                a.get(seg.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// JSON equality with numbers compared by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn eq_field(field: Option<&Value>, operand: &Value) -> bool {
    match field {
        None => operand.is_null(),
        Some(f) => {
            json_eq(f, operand)
                || (!operand.is_array()
                    && f.as_array()
                        .is_some_and(|a| a.iter().any(|e| json_eq(e, operand))))
        }
    }
}

fn cmp_scalar(cmp: Cmp, f: &Value, operand: &Value) -> bool {
    let ord = match (f, operand) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match cmp {
        Cmp::Gt => ord.is_gt(),
        Cmp::Gte => ord.is_ge(),
        Cmp::Lt => ord.is_lt(),
        Cmp::Lte => ord.is_le(),
    }
}

fn eval(node: &Node, md: Option<&Value>) -> bool {
    match node {
        Node::All(nodes) => nodes.iter().all(|n| eval(n, md)),
        Node::Any(nodes) => nodes.iter().any(|n| eval(n, md)),
        Node::Not(n) => !eval(n, md),
        Node::Field(path, op) => {
            let f = resolve(md, path);
            match op {
                Op::Eq(v) => eq_field(f, v),
                Op::Ne(v) => !eq_field(f, v),
                Op::Cmp(c, v) => match f {
                    Some(Value::Array(a)) => a.iter().any(|e| cmp_scalar(*c, e, v)),
                    Some(x) => cmp_scalar(*c, x, v),
                    None => false,
                },
                Op::In(list) => list.iter().any(|v| eq_field(f, v)),
                Op::Nin(list) => !list.iter().any(|v| eq_field(f, v)),
                Op::Exists(b) => f.is_some() == *b,
                Op::Contains(v) => match f {
                    Some(Value::String(s)) => v.as_str().is_some_and(|needle| contains(s, needle)),
                    Some(Value::Array(a)) => a.iter().any(|e| json_eq(e, v)),
                    _ => false,
                },
                Op::Prefix(p) => match f {
                    Some(Value::String(s)) => s.starts_with(p.as_str()),
                    Some(Value::Array(a)) => a
                        .iter()
                        .any(|e| e.as_str().is_some_and(|s| s.starts_with(p.as_str()))),
                    _ => false,
                },
            }
        }
    }
}

/// Whether `needle` occurs in `haystack`: `str::contains` natively. On wasm32 a plain
/// window-by-window comparison, the same answer (both compare UTF-8 bytes) without the
/// two-way searcher's ~2.5 KB in the npm package's module; it costs up to
/// `haystack × needle` byte comparisons, nothing for the short strings metadata holds.
#[cfg(not(target_arch = "wasm32"))]
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.contains(needle)
}

#[cfg(target_arch = "wasm32")]
fn contains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w == n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(f: Value, md: Value) -> bool {
        Filter::from_json(&f).unwrap().matches(Some(&md))
    }

    #[test]
    fn operators() {
        let d = json!({"year": 2024, "title": "Rust book", "tags": ["a", "b"], "n": {"x": 1.0}, "z": null});
        assert!(m(json!({"year": 2024}), d.clone()));
        assert!(m(json!({"year": {"$eq": 2024.0}}), d.clone()));
        assert!(m(json!({"year": {"$ne": 2023}}), d.clone()));
        assert!(m(json!({"year": {"$gt": 2023, "$lte": 2024}}), d.clone()));
        assert!(!m(json!({"year": {"$gt": "x"}}), d.clone()));
        assert!(m(json!({"title": {"$lt": "S"}}), d.clone()));
        assert!(m(json!({"year": {"$in": [1, 2024]}}), d.clone()));
        assert!(m(json!({"year": {"$nin": [1, 2]}}), d.clone()));
        assert!(m(json!({"z": {"$exists": true}}), d.clone()));
        assert!(m(json!({"q": {"$exists": false}}), d.clone()));
        assert!(m(json!({"tags": {"$contains": "b"}}), d.clone()));
        assert!(m(json!({"tags": "a"}), d.clone()));
        assert!(m(json!({"title": {"$contains": "book"}}), d.clone()));
        assert!(m(json!({"title": {"$prefix": "Ru"}}), d.clone()));
        assert!(m(json!({"n.x": 1}), d.clone()));
        assert!(m(json!({"tags.1": "b"}), d.clone()));
        assert!(m(
            json!({"$or": [{"year": 1}, {"n.x": {"$gte": 1}}]}),
            d.clone()
        ));
        assert!(m(json!({"$not": {"year": 1}}), d.clone()));
        assert!(!m(
            json!({"$and": [{"year": 2024}, {"title": "x"}]}),
            d.clone()
        ));
        assert!(m(json!({"missing": null}), d.clone()));
        assert!(m(json!({}), d));
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for bad in [
            json!([1]),
            json!({"year": {"$gt": [1]}}),
            json!({"year": {"$in": 3}}),
            json!({"year": {"$exists": 1}}),
            json!({"year": {"$prefix": 1}}),
            json!({"year": {"$foo": 1}}),
            json!({"$and": []}),
            json!({"$or": 1}),
            json!({"$not": 1}),
            json!({"$nope": {}}),
            json!({"a..b": 1}),
            json!({"a": {"$eq": 1, "b": 2}}),
            json!({"a": {"$and": []}}),
        ] {
            let err = Filter::from_json(&bad).unwrap_err();
            assert_eq!(err.code(), "invalid_filter", "{bad}");
        }
        let err = Filter::from_json(&json!({"year": {"$foo": 1}})).unwrap_err();
        assert!(err.to_string().contains("`year`") && err.to_string().contains("$foo"));
    }

    #[test]
    fn depth_and_size_are_capped_without_exhausting_the_stack() {
        fn nots(levels: usize) -> Value {
            let mut v = json!({"x": 1});
            for _ in 1..levels {
                v = json!({ "$not": v });
            }
            v
        }
        assert!(Filter::from_json(&nots(MAX_FILTER_DEPTH)).is_ok());
        for levels in [MAX_FILTER_DEPTH + 1, 2_000] {
            let e = Filter::from_json(&nots(levels)).unwrap_err();
            assert!(e.to_string().contains("nest at most 32 levels"), "{e}");
        }
        // 10,000 levels as JSON text: refused by the JSON parser's own depth limit.
        let text = "{\"$not\": ".repeat(10_000) + "{}" + &"}".repeat(10_000);
        assert_eq!(Filter::parse(&text).unwrap_err().code(), "invalid_filter");
        // Conditions: 1,024 pass, one more is refused.
        let wide = |n: usize| Value::Object((0..n).map(|i| (format!("f{i}"), json!(i))).collect());
        assert!(Filter::from_json(&wide(MAX_FILTER_CONDITIONS)).is_ok());
        let e = Filter::from_json(&wide(MAX_FILTER_CONDITIONS + 1)).unwrap_err();
        assert!(e.to_string().contains("at most 1024 conditions"), "{e}");
        let ors = json!({"$or": (0..600).map(|i| json!({"a": {"$gt": i, "$lt": i + 2}})).collect::<Vec<_>>()});
        assert!(Filter::from_json(&ors).is_err());
    }
}
