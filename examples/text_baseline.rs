//! The text side against Tantivy's defaults (see `vjson eval` for the fusions): MRR@10 and
//! recall@10 of vjson's BM25 and of Tantivy's default full-text setup on a judged corpus
//! laid out like `tests/data/sample`.
//!
//! ```text
//! cargo run --release --example text_baseline -- CORPUS_DIR
//! ```
//!
//! - vjson: its analyser (split on non-alphanumerics, drop tokens over 40 bytes,
//!   lower-case, English stemming) and BM25 (k1 1.2, b 0.75), through the public API.
//! - Tantivy's defaults: one `TEXT` field with Tantivy's `default` tokenizer
//!   (`SimpleTokenizer`, `RemoveLongFilter(40)`, `LowerCaser`; no stemming), the query text
//!   through `QueryParser::parse_query_lenient` (terms OR-ed), BM25 `TopDocs`.
//!
//! - Tantivy's defaults over two fields: the same with the title in a field of its own,
//!   the query parser searching both (its default: equal weights).
//!
//! Each indexes `title: text`, as the corpora were embedded; vjson and the two-field
//! Tantivy also index the title alone as a title field (vjson at its default
//! `title_boost`). Queries are grouped by the relevant document's `kind`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::collections::HashMap;

    use tantivy::collector::TopDocs;
    use tantivy::query::QueryParser;
    use tantivy::schema::{STORED, STRING, Schema, TEXT, Value};
    use tantivy::{Index, TantivyDocument, doc};
    use vjson::dataset::{Dataset, Quality};
    use vjson::{Options, Query, VectorDB};

    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: text_baseline CORPUS_DIR")?;
    let dir = std::path::Path::new(&dir);
    let ds = Dataset::load(dir, Dataset::dimension_of(dir)?)?;
    let kind: HashMap<&str, &str> = ds
        .docs
        .iter()
        .map(|d| (d.id.as_str(), d.kind.as_str()))
        .collect();

    // vjson's BM25 (in memory; Tantivy on disk ranks the same: tests/tantivy_parity.rs).
    let db = VectorDB::in_memory(Options::new(ds.dim))?;
    db.insert_batch(ds.documents())?;

    // Tantivy's defaults.
    let mut schema = Schema::builder();
    let id = schema.add_text_field("id", STRING | STORED);
    let body = schema.add_text_field("body", TEXT);
    let index = Index::create_in_ram(schema.build());
    let mut writer = index.writer(100_000_000)?;
    for d in &ds.docs {
        writer
            .add_document(doc!(id => d.id.clone(), body => format!("{}: {}", d.title, d.text)))?;
    }
    writer.commit()?;
    let searcher = index.reader()?.searcher();
    let parser = QueryParser::for_index(&index, vec![body]);
    // Tantivy's defaults over a title and a body field.
    let mut schema = Schema::builder();
    let id2 = schema.add_text_field("id", STRING | STORED);
    let title2 = schema.add_text_field("title", TEXT);
    let body2 = schema.add_text_field("body", TEXT);
    let index2 = Index::create_in_ram(schema.build());
    let mut writer = index2.writer(100_000_000)?;
    for d in &ds.docs {
        writer.add_document(doc!(
            id2 => d.id.clone(),
            title2 => d.title.clone(),
            body2 => format!("{}: {}", d.title, d.text)
        ))?;
    }
    writer.commit()?;
    let searcher2 = index2.reader()?.searcher();
    let parser2 = QueryParser::for_index(&index2, vec![title2, body2]);
    let top10 = |searcher: &tantivy::Searcher,
                 parser: &QueryParser,
                 id: tantivy::schema::Field,
                 text: &str|
     -> tantivy::Result<Vec<String>> {
        let (query, _errors) = parser.parse_query_lenient(text);
        searcher
            .search(&query, &TopDocs::with_limit(10).order_by_score())?
            .into_iter()
            .map(|(_, addr)| {
                let d: TantivyDocument = searcher.doc(addr)?;
                Ok(d.get_first(id)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string())
            })
            .collect()
    };
    const SYSTEMS: [&str; 3] = ["vjson BM25", "tantivy default", "tantivy 2 fields"];

    let mut stats: HashMap<(&str, &str), Quality> = HashMap::new();
    for q in &ds.queries {
        let vj: Vec<String> = db
            .search(&Query::new().text(q.text.clone()).k(10))?
            .into_iter()
            .map(|h| h.id)
            .collect();
        let tv = top10(&searcher, &parser, id, &q.text)?;
        let tv2 = top10(&searcher2, &parser2, id2, &q.text)?;
        let group = kind.get(q.relevant.as_str()).copied().unwrap_or("");
        for (system, ranked) in SYSTEMS.into_iter().zip([&vj, &tv, &tv2]) {
            let pos = ranked.iter().position(|r| *r == q.relevant);
            for g in ["all", group] {
                stats.entry((system, g)).or_default().add(pos);
            }
        }
    }
    let mut groups: Vec<&str> = stats.keys().map(|k| k.1).collect();
    groups.sort_unstable();
    groups.dedup();
    println!(
        "{:<18} {}",
        "system",
        groups
            .iter()
            .map(|g| format!("{:>26}", format!("{g}: MRR@10 recall@10")))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for system in SYSTEMS {
        let cells: Vec<String> = groups
            .iter()
            .map(|g| {
                let q = stats[&(system, *g)];
                format!("{:>26}", format!("{:.4} {:.4}", q.mrr(), q.recall()))
            })
            .collect();
        println!("{system:<18} {}", cells.join(" "));
    }
    Ok(())
}
