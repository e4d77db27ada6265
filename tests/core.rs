//! The core engine's integration tests on the bundled rustdocs sample: HNSW recall against
//! brute force (fresh, after heavy deletes, after re-inserting), filtered search at exact
//! selectivities, text-only and hybrid search, every fusion, the three metrics, batch
//! atomicity, snapshots (round trip and damage), and every error code the in-memory core
//! can produce.
//!
//! The same file runs natively and on wasm32 under Node (wasm-bindgen-test): it uses no
//! threads, no files and no proptest. Recall figures are printed (`-- --nocapture`).

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[macro_use]
mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use serde_json::{Value, json};
use vjson::{Document, Error, Filter, Fusion, Hit, Limits, Metric, Options, Query, VectorDB};

const K: usize = 10;

fn ids(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| h.id.clone()).collect()
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.code(),
    }
}

/// The error code of importing `bytes`, which must fail; `what` names the damage.
fn import_code(bytes: &[u8], what: &dyn std::fmt::Display) -> &'static str {
    match VectorDB::import_snapshot(bytes) {
        Ok(db) => panic!("{what}: import succeeded ({} docs)", db.len()),
        Err(e) => e.code(),
    }
}

fn assert_sorted(hits: &[Hit], what: &str) {
    for w in hits.windows(2) {
        assert!(
            w[0].score >= w[1].score,
            "{what}: scores not sorted: {} then {}",
            w[0].score,
            w[1].score
        );
    }
    for h in hits {
        assert!(h.score.is_finite(), "{what}: score {}", h.score);
    }
}

/// Vector-only recall@10 of `db` against brute force over the sample documents `keep`
/// allows; also checks that no hit is outside `keep` and that scores are the cosine.
fn vector_recall(
    db: &VectorDB,
    keep: &dyn Fn(usize) -> bool,
    index: &HashMap<String, usize>,
) -> f64 {
    let s = sample();
    let mut recall = Recall::default();
    for qi in 0..s.queries.len() {
        let q = s.query_vector(qi);
        let hits = db.search(&Query::new().vector(q.to_vec()).k(K)).unwrap();
        assert_eq!(hits.len(), K);
        assert_sorted(&hits, "vector search");
        for h in &hits {
            let i = index[&h.id];
            assert!(keep(i), "query {qi} returned excluded document {}", h.id);
            let c = cosine(q, s.doc_vector(i)) as f32;
            assert!(
                (h.score - c).abs() < 1e-4,
                "score {} vs cosine {c}",
                h.score
            );
            assert_eq!(h.vector_score, Some(h.score));
            assert_eq!(h.text_score, None);
        }
        let exact: Vec<String> = brute_top_k(q, K, keep)
            .into_iter()
            .map(|(i, _)| id(i))
            .collect();
        recall.add(&ids(&hits), &exact);
    }
    recall.value()
}

fn id_index() -> HashMap<String, usize> {
    (0..sample().docs.len()).map(|i| (id(i), i)).collect()
}

/// A fixed pseudo-random permutation of `0..n`.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut s = seed;
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

#[test]
fn hnsw_recall_at_default_settings() {
    let db = shared_db();
    assert_eq!(db.len(), 2000);
    let r = vector_recall(db, &|_| true, &id_index());
    say!("HNSW recall@10 vs brute force, 500 sample queries, default settings: {r:.4}");
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn int8_walks_rerank_to_exact_scores_with_the_recall_of_f32_walks() {
    // The default walks the graph on int8 codes and re-ranks with the f32 vectors: every
    // score it returns is the exact one, and recall matches a walk on the f32 vectors.
    let s = sample();
    let f32_db =
        VectorDB::in_memory(vjson::Options::new(s.dim).quantization(vjson::Quantization::None))
            .unwrap();
    f32_db.insert_batch(s.documents()).unwrap();
    let (mut r8, mut r32) = (Recall::default(), Recall::default());
    for qi in 0..s.queries.len() {
        let q = s.query_vector(qi);
        let exact: Vec<(usize, f64)> = brute_top_k(q, K, |_| true);
        let exact_ids: Vec<String> = exact.iter().map(|(i, _)| id(*i)).collect();
        let query = Query::new().vector(q.to_vec()).k(K);
        let h8 = shared_db().search(&query).unwrap();
        r8.add(&ids(&h8), &exact_ids);
        r32.add(&ids(&f32_db.search(&query).unwrap()), &exact_ids);
        for h in &h8 {
            let i = s.docs.iter().position(|d| d.id == h.id).unwrap();
            let c = cosine(q, s.doc_vector(i));
            assert!(
                (h.score as f64 - c).abs() < 1e-5,
                "{}: {} vs {c}",
                h.id,
                h.score
            );
        }
    }
    let (r8, r32) = (r8.value(), r32.value());
    say!("recall@10 at default ef: int8 walk + re-rank {r8:.4}, f32 walk {r32:.4}");
    assert!(r8 >= r32 - 0.01, "int8 {r8} vs f32 {r32}");
}

#[test]
fn an_exhaustive_ef_finds_the_exact_top_10() {
    // With ef as large as the database, HNSW search must find the exact answer unless some
    // node cannot be reached (a parallel-build race once left a few such nodes).
    let s = sample();
    let db = shared_db();
    let mut recall = Recall::default();
    for qi in 0..s.queries.len() {
        let q = s.query_vector(qi);
        let hits = db
            .search(&Query::new().vector(q.to_vec()).k(K).ef_search(2000))
            .unwrap();
        let exact: Vec<String> = brute_top_k(q, K, |_| true)
            .into_iter()
            .map(|(i, _)| id(i))
            .collect();
        recall.add(&ids(&hits), &exact);
    }
    let r = recall.value();
    say!("HNSW recall@10 at ef_search = 2000 (every node reachable): {r:.4}");
    assert!(r >= 0.999, "recall@10 with an exhaustive ef {r}");
}

#[test]
fn recall_holds_after_deleting_30_percent_and_reinserting() {
    let s = sample();
    let db = sample_db();
    let index = id_index();
    let n = s.docs.len();
    let gone: Vec<usize> = shuffled(n, 0x5eed)[..n * 3 / 10].to_vec();
    for &i in &gone {
        db.delete(&id(i)).unwrap();
    }
    assert_eq!(db.len(), n - gone.len());
    let dead: HashSet<usize> = gone.iter().copied().collect();
    let keep = |i: usize| !dead.contains(&i);
    let r = vector_recall(&db, &keep, &index);
    say!(
        "HNSW recall@10 after deleting 30% ({} docs): {r:.4}",
        gone.len()
    );
    assert!(r >= 0.95, "recall@10 after deletes {r}");

    // Deleted documents are gone from every kind of search and from get.
    for qi in 0..s.queries.len() {
        let q = &s.queries[qi];
        let v = s.query_vector(qi).to_vec();
        for query in [
            Query::new().text(q.text.clone()).k(50),
            Query::new().vector(v.clone()).text(q.text.clone()).k(50),
            Query::new().vector(v).k(50).ef_search(200),
        ] {
            for h in db.search(&query).unwrap() {
                assert!(keep(index[&h.id]), "deleted {} returned", h.id);
            }
        }
    }
    for &i in gone.iter().take(50) {
        assert_eq!(db.get(&id(i)).unwrap(), None);
        assert_eq!(code(db.delete(&id(i))), "not_found");
    }

    // Compaction drops the tombstones and answers the same.
    let before: Vec<Vec<Hit>> = (0..50)
        .map(|qi| {
            db.search(&Query::new().text(s.queries[qi].text.clone()).k(K))
                .unwrap()
        })
        .collect();
    db.compact().unwrap();
    let st = db.stats();
    assert_eq!(
        (st.documents, st.rows, st.deleted),
        (n - gone.len(), n - gone.len(), 0)
    );
    for (qi, b) in before.iter().enumerate() {
        let after = db
            .search(&Query::new().text(s.queries[qi].text.clone()).k(K))
            .unwrap();
        assert_eq!(after, *b, "text answers changed by compaction");
    }
    let r = vector_recall(&db, &keep, &index);
    say!("HNSW recall@10 after compacting: {r:.4}");
    assert!(r >= 0.95, "recall@10 after compaction {r}");

    db.insert_batch(gone.iter().map(|&i| doc(i)).collect())
        .unwrap();
    assert_eq!(db.len(), n);
    let r = vector_recall(&db, &|_| true, &index);
    say!("HNSW recall@10 after re-inserting them: {r:.4}");
    assert!(r >= 0.95, "recall@10 after re-insert {r}");
    // Re-inserted documents come back whole.
    for &i in gone.iter().take(20) {
        let got = db.get(&id(i)).unwrap().expect("re-inserted");
        assert_eq!(got.text, doc(i).text);
        assert_eq!(got.metadata, doc(i).metadata);
    }
}

/// The analysed terms of every sample document's text.
fn doc_terms() -> Vec<HashSet<String>> {
    docs()
        .iter()
        .map(|d| {
            let mut set = HashSet::new();
            vjson::analyze(d.text.as_deref().unwrap_or(""), |t| {
                set.insert(t);
            });
            set
        })
        .collect()
}

fn bucket(i: usize) -> usize {
    i % 1000
}

/// (name, filter JSON, the same predicate on the document index, exact matching count).
type Case = (&'static str, Value, fn(usize) -> bool, usize);

fn selectivity_cases() -> Vec<Case> {
    vec![
        (
            "50%",
            json!({"bucket": {"$lt": 500}}),
            |i| bucket(i) < 500,
            1000,
        ),
        (
            "5%",
            json!({"nested.bucket": {"$gte": 950}}),
            |i| bucket(i) >= 950,
            100,
        ),
        (
            "0.1%",
            json!({"bucket": {"$in": [7]}}),
            |i| bucket(i) == 7,
            2,
        ),
    ]
}

#[test]
fn filtered_vector_search_returns_k_passing_hits_with_high_recall() {
    let s = sample();
    let db = shared_db();
    let index = id_index();
    for (name, fj, pred, matching) in selectivity_cases() {
        let f = filter(fj.clone());
        assert_eq!((0..s.docs.len()).filter(|&i| pred(i)).count(), matching);
        let mut recall = Recall::default();
        for qi in 0..s.queries.len() {
            let q = s.query_vector(qi);
            let hits = db
                .search(&Query::new().vector(q.to_vec()).k(K).filter(f.clone()))
                .unwrap();
            assert_eq!(hits.len(), K.min(matching), "{name} query {qi}");
            assert_sorted(&hits, name);
            for h in &hits {
                assert!(pred(index[&h.id]), "{name}: {} fails the filter", h.id);
                assert!(f.matches(h.metadata.as_ref()));
            }
            let exact: Vec<String> = brute_top_k(q, K, pred)
                .into_iter()
                .map(|(i, _)| id(i))
                .collect();
            recall.add(&ids(&hits), &exact);
        }
        let r = recall.value();
        say!("filtered recall@10 at {name} selectivity ({matching} of 2000 docs match): {r:.4}");
        assert!(r >= 0.95, "{name}: recall {r}");
    }
}

#[test]
fn filter_aware_graph_traversal_returns_k_passing_hits() {
    // With a small ef the 5% filter is served by filter-aware graph traversal rather than
    // the exact scan; it must still return k hits that all pass.
    let s = sample();
    let db = shared_db();
    let index = id_index();
    for (name, fj, pred, matching) in selectivity_cases() {
        let f = filter(fj);
        let mut recall = Recall::default();
        for qi in 0..s.queries.len() {
            let q = s.query_vector(qi);
            let hits = db
                .search(
                    &Query::new()
                        .vector(q.to_vec())
                        .k(K)
                        .ef_search(K)
                        .filter(f.clone()),
                )
                .unwrap();
            assert_eq!(hits.len(), K.min(matching), "{name} query {qi}");
            for h in &hits {
                assert!(pred(index[&h.id]), "{name}: {} fails the filter", h.id);
            }
            let exact: Vec<String> = brute_top_k(q, K, pred)
                .into_iter()
                .map(|(i, _)| id(i))
                .collect();
            recall.add(&ids(&hits), &exact);
        }
        say!(
            "filtered recall@10 at {name} with ef_search = 10: {:.4}",
            recall.value()
        );
    }
}

#[test]
fn filtered_text_and_hybrid_search_return_k_passing_hits() {
    let s = sample();
    let db = shared_db();
    let index = id_index();
    let terms = doc_terms();
    for (name, fj, pred, matching) in selectivity_cases() {
        let f = filter(fj);
        let (mut text_hits, mut full) = (0usize, 0usize);
        for (qi, q) in s.queries.iter().enumerate() {
            let mut qterms = HashSet::new();
            vjson::analyze(&q.text, |t| {
                qterms.insert(t);
            });
            let text_matching = (0..s.docs.len())
                .filter(|&i| pred(i) && terms[i].iter().any(|t| qterms.contains(t)))
                .count();
            let hits = db
                .search(&Query::new().text(q.text.clone()).k(K).filter(f.clone()))
                .unwrap();
            assert_eq!(hits.len(), K.min(text_matching), "{name} text query {qi}");
            assert_sorted(&hits, "filtered text");
            for h in &hits {
                assert!(
                    pred(index[&h.id]),
                    "{name}: text hit {} fails the filter",
                    h.id
                );
                assert_eq!(h.vector_score, None);
                assert_eq!(h.text_score, Some(h.score));
            }
            text_hits += hits.len();
            full += (hits.len() == K) as usize;

            let hits = db
                .search(
                    &Query::new()
                        .vector(s.query_vector(qi).to_vec())
                        .text(q.text.clone())
                        .k(K)
                        .filter(f.clone()),
                )
                .unwrap();
            assert_eq!(hits.len(), K.min(matching), "{name} hybrid query {qi}");
            assert_sorted(&hits, "filtered hybrid");
            for h in &hits {
                assert!(
                    pred(index[&h.id]),
                    "{name}: hybrid hit {} fails the filter",
                    h.id
                );
            }
        }
        say!(
            "filtered text search at {name}: {text_hits} hits over 500 queries, {full} queries with a full top-{K}"
        );
    }
}

#[test]
fn insert_batch_is_all_or_nothing() {
    let s = sample();
    let db = VectorDB::in_memory(Options::new(384)).unwrap();
    db.insert_batch((0..100).map(doc).collect()).unwrap();
    assert_eq!(db.len(), 100);
    let batch = || (100..120).map(doc).collect::<Vec<Document>>();
    type Spoil = Box<dyn Fn(&mut Document)>;
    let mut spoilers: Vec<(&str, Spoil)> = vec![
        (
            "dimension_mismatch",
            Box::new(|d| {
                d.vector.pop();
            }),
        ),
        ("non_finite_vector", Box::new(|d| d.vector[3] = f32::NAN)),
        (
            "non_finite_vector",
            Box::new(|d| d.vector[0] = f32::INFINITY),
        ),
        (
            "zero_vector",
            Box::new(|d| d.vector.iter_mut().for_each(|x| *x = 0.0)),
        ),
        ("empty_id", Box::new(|d| d.id.clear())),
        (
            "id_too_long",
            Box::new(|d| d.id = "x".repeat(vjson::MAX_ID_BYTES + 1)),
        ),
        (
            "invalid_metadata",
            Box::new(|d| d.metadata = Some(json!([1, 2]))),
        ),
        ("duplicate_id", Box::new(|d| d.id = id(5))),
        ("duplicate_id", Box::new(|d| d.id = id(100))),
    ];
    for (want, spoil) in spoilers.drain(..) {
        let mut b = batch();
        spoil(&mut b[10]);
        assert_eq!(code(db.insert_batch(b)), want);
        assert_eq!(db.len(), 100, "{want}: len changed");
        for i in 100..120 {
            assert_eq!(db.get(&id(i)).unwrap(), None, "{want}: {} present", id(i));
        }
        let hits = db
            .search(&Query::new().vector(s.doc_vector(110).to_vec()).k(100))
            .unwrap();
        assert!(
            hits.iter().all(|h| index_of(&h.id) < 100),
            "{want}: batch doc searchable"
        );
        let hits = db
            .search(&Query::new().text(s.docs[110].title.clone()).k(100))
            .unwrap();
        assert!(
            hits.iter().all(|h| index_of(&h.id) < 100),
            "{want}: batch text searchable"
        );
    }
    db.insert_batch(batch()).unwrap();
    assert_eq!(db.len(), 120);
    let hits = db
        .search(&Query::new().vector(s.doc_vector(110).to_vec()).k(1))
        .unwrap();
    assert_eq!(hits[0].id, id(110));
    // An empty batch is fine and changes nothing.
    db.insert_batch(Vec::new()).unwrap();
    assert_eq!(db.len(), 120);
}

fn index_of(id: &str) -> usize {
    sample()
        .docs
        .iter()
        .position(|d| d.id == id)
        .expect("sample id")
}

#[test]
fn upsert_batch_replaces_and_inserts_all_or_nothing() {
    let db = VectorDB::in_memory(Options::new(384)).unwrap();
    db.insert_batch((0..50).map(doc).collect()).unwrap();
    db.upsert_batch(vec![doc(10).text("zyzzyva replaced ten"), doc(60)])
        .unwrap();
    assert_eq!(db.len(), 51);
    assert_eq!(
        db.get(&id(10)).unwrap().unwrap().text.as_deref(),
        Some("zyzzyva replaced ten")
    );
    let hits = db.search(&Query::new().text("zyzzyva").k(5)).unwrap();
    assert_eq!(ids(&hits), vec![id(10)]);
    // A repeated id or a bad document rejects the whole batch.
    assert_eq!(
        code(db.upsert_batch(vec![doc(11).text("x"), doc(11)])),
        "duplicate_id"
    );
    assert_eq!(
        code(db.upsert_batch(vec![doc(12).text("y"), Document::new("bad", vec![1.0])])),
        "dimension_mismatch"
    );
    assert_eq!(db.get(&id(11)).unwrap().unwrap().text, doc(11).text);
    assert_eq!(db.get(&id(12)).unwrap().unwrap().text, doc(12).text);
    assert_eq!(db.len(), 51);
}

#[test]
fn upsert_replaces_delete_removes_get_fetches() {
    let s = sample();
    let db = VectorDB::in_memory(Options::new(384)).unwrap();
    db.insert_batch((0..200).map(doc).collect()).unwrap();
    let target = id(3);
    // insert refuses an existing id; upsert replaces it.
    assert_eq!(code(db.insert(doc(3))), "duplicate_id");
    let replacement = Document::new(
        target.clone(),
        s.doc_vector(150).iter().map(|x| -x).collect(),
    )
    .text("zyzzyva quokka")
    .metadata(json!({"replaced": true}));
    db.upsert(replacement).unwrap();
    assert_eq!(db.len(), 200);
    let got = db.get(&target).unwrap().unwrap();
    assert_eq!(got.text.as_deref(), Some("zyzzyva quokka"));
    assert_eq!(got.metadata, Some(json!({"replaced": true})));
    let want: Vec<f32> = s.doc_vector(150).iter().map(|x| -x).collect();
    let c = cosine(&got.vector, &want);
    assert!(
        (c - 1.0).abs() < 1e-5,
        "stored vector is the new one (cos {c})"
    );
    // The new vector and text find it; the old ones do not.
    let hits = db.search(&Query::new().vector(want).k(1)).unwrap();
    assert_eq!(hits[0].id, target);
    let hits = db.search(&Query::new().text("zyzzyva").k(5)).unwrap();
    assert_eq!(ids(&hits), vec![target.clone()]);
    let hits = db
        .search(&Query::new().vector(s.doc_vector(3).to_vec()).k(5))
        .unwrap();
    assert!(
        hits.iter().all(|h| h.id != target),
        "old vector still finds it"
    );
    let old_title = &s.docs[3].title;
    let hits = db
        .search(&Query::new().text(old_title.clone()).k(200))
        .unwrap();
    assert!(
        hits.iter().all(|h| h.id != target),
        "old text still finds it"
    );
    let hits = db
        .search(
            &Query::new()
                .vector(s.doc_vector(0).to_vec())
                .k(200)
                .filter(filter(json!({"replaced": true}))),
        )
        .unwrap();
    assert_eq!(ids(&hits), vec![target.clone()]);
    // upsert of a new id inserts.
    db.upsert(doc(500)).unwrap();
    assert_eq!(db.len(), 201);
    assert_eq!(db.get(&id(500)).unwrap().unwrap().text, doc(500).text);

    // delete, then get and search no longer see it.
    db.delete(&target).unwrap();
    assert_eq!(db.len(), 200);
    assert_eq!(db.get(&target).unwrap(), None);
    assert!(
        db.search(&Query::new().text("zyzzyva").k(5))
            .unwrap()
            .is_empty()
    );
    assert_eq!(code(db.delete(&target)), "not_found");
    assert_eq!(code(db.delete("never-there")), "not_found");
    assert_eq!(db.get("never-there").unwrap(), None);
    // get returns what was inserted (vector normalised under cosine; the sample is unit).
    let d = db.get(&id(7)).unwrap().unwrap();
    assert_eq!(d.text, doc(7).text);
    assert_eq!(d.metadata, doc(7).metadata);
    assert!((cosine(&d.vector, s.doc_vector(7)) - 1.0).abs() < 1e-6);
    // Re-inserting a deleted id works.
    db.insert(Document::new(target.clone(), s.doc_vector(3).to_vec()))
        .unwrap();
    assert_eq!(db.len(), 201);
    let hits = db
        .search(&Query::new().vector(s.doc_vector(3).to_vec()).k(1))
        .unwrap();
    assert_eq!(hits[0].id, target);
    let st = db.stats();
    assert_eq!((st.documents, st.dimension), (201, 384));
}

#[test]
fn text_only_search_works_without_a_vector() {
    let s = sample();
    let db = shared_db();
    let mut runs = Vec::new();
    for q in &s.queries {
        let hits = db.search(&Query::new().text(q.text.clone()).k(K)).unwrap();
        assert_sorted(&hits, "text");
        for h in &hits {
            assert_eq!(h.vector_score, None);
            assert_eq!(h.text_score, Some(h.score));
            assert!(h.score > 0.0);
        }
        runs.push((hits, q.relevant.clone()));
    }
    let (mrr, recall) =
        vjson::dataset::mrr_recall_at_10(runs.iter().map(|(h, r)| (h.as_slice(), r.as_str())));
    say!("text-only search on the sample: MRR@10 {mrr:.4}, recall@10 {recall:.4}");
    assert!(
        recall > 0.5,
        "BM25 finds the relevant document for most queries: {recall}"
    );
    // A text with no known term finds nothing; a database without vectors searched by text.
    assert!(
        db.search(&Query::new().text("qqqxxyzzz").k(5))
            .unwrap()
            .is_empty()
    );
    let small = VectorDB::in_memory(Options::new(2)).unwrap();
    assert!(
        small
            .search(&Query::new().text("anything").k(5))
            .unwrap()
            .is_empty()
    );
    small
        .insert(Document::new("a", vec![1.0, 0.0]).text("Ownership and borrowing"))
        .unwrap();
    small.insert(Document::new("b", vec![0.0, 1.0])).unwrap();
    let hits = small
        .search(&Query::new().text("borrowed owners").k(5))
        .unwrap();
    assert_eq!(ids(&hits), vec!["a".to_string()]);
}

#[test]
fn hybrid_hits_from_one_side_carry_none_for_the_other() {
    // Under a fusion of the two lists as they are (here weighted), a hit only one side
    // found has no score from the other.
    let s = sample();
    let db = shared_db();
    let (mut only_vec, mut only_text, mut both) = (0, 0, 0);
    let fusion = Fusion::Weighted {
        vector: 0.5,
        text: 0.5,
    };
    for (qi, q) in s.queries.iter().enumerate() {
        let v = s.query_vector(qi);
        let hits = db.hybrid_search(v, Some(&q.text), K, fusion).unwrap();
        assert_eq!(hits.len(), K);
        assert_sorted(&hits, "hybrid");
        for h in &hits {
            match (h.vector_score, h.text_score) {
                (Some(vs), None) => {
                    only_vec += 1;
                    let c = cosine(v, s.doc_vector(index_of(&h.id))) as f32;
                    assert!((vs - c).abs() < 1e-4);
                }
                (None, Some(_)) => only_text += 1,
                (Some(_), Some(_)) => both += 1,
                (None, None) => panic!("hit {} found by neither side", h.id),
            }
        }
    }
    say!(
        "hybrid (weighted) hits over 500 queries: {both} on both sides, {only_vec} vector only, {only_text} text only"
    );
    assert!(only_vec > 0 && only_text > 0 && both > 0);
    // hybrid_search without text is a vector search.
    let a = db
        .hybrid_search(s.query_vector(0), None, K, Fusion::Max)
        .unwrap();
    let b = db
        .search(&Query::new().vector(s.query_vector(0).to_vec()).k(K))
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn zscore_hybrid_hits_carry_both_sides_exact_scores() {
    // The default fusion scores every candidate on both sides: a hit's vector score is its
    // exact cosine, its text score what a text search gives it (0 when it holds no query
    // term), whichever side found it.
    let s = sample();
    let db = shared_db();
    let (mut zero_text, mut runs) = (0, Vec::new());
    for (qi, q) in s.queries.iter().enumerate().take(200) {
        let v = s.query_vector(qi);
        let hits = db
            .hybrid_search(v, Some(&q.text), K, Fusion::default())
            .unwrap();
        assert_eq!(hits.len(), K);
        let text: std::collections::HashMap<String, f32> = db
            .search(&Query::new().text(q.text.clone()).k(s.docs.len()))
            .unwrap()
            .into_iter()
            .map(|h| (h.id, h.score))
            .collect();
        for h in &hits {
            let (Some(vs), Some(ts)) = (h.vector_score, h.text_score) else {
                panic!("hit {} lacks a side's score: {h:?}", h.id);
            };
            let c = cosine(v, s.doc_vector(index_of(&h.id))) as f32;
            assert!((vs - c).abs() < 1e-4, "{}: {vs} vs {c}", h.id);
            let want = text.get(&h.id).copied().unwrap_or(0.0);
            assert!(
                (ts - want).abs() <= 1e-5 * want.max(1.0),
                "{}: {ts} vs {want}",
                h.id
            );
            zero_text += (ts == 0.0) as usize;
        }
        runs.push((hits, q.relevant.clone()));
    }
    say!("z-score hybrid: {zero_text} hits over 200 queries hold no query term");
    let (mrr, recall) =
        vjson::dataset::mrr_recall_at_10(runs.iter().map(|(h, r)| (h.as_slice(), r.as_str())));
    say!("hybrid search on the sample: MRR@10 {mrr:.4}, recall@10 {recall:.4}");
}

#[test]
fn sides_are_what_search_fuses() {
    // Fusing the lists `sides` returns with `Fusion::fuse` gives the search's own ranking,
    // under the default (both lists complete) and under list fusions (each side's own).
    let s = sample();
    let db = shared_db();
    for fusion in [Fusion::default(), Fusion::Rrf { k: 60.0 }, Fusion::Max] {
        for (qi, q) in s.queries.iter().enumerate().take(100) {
            let query = Query::new()
                .vector(s.query_vector(qi).to_vec())
                .text(q.text.clone())
                .fusion(fusion)
                .k(K);
            let hits = db.search(&query).unwrap();
            let sides = db.sides(&query).unwrap();
            assert!(sides.vector_found <= sides.vector.len());
            assert!(sides.text_found <= sides.text.len());
            if fusion != Fusion::default() {
                assert_eq!(sides.vector_found, sides.vector.len());
                assert_eq!(sides.text_found, sides.text.len());
            } else {
                // Both lists hold every candidate.
                let ids = |l: &[(String, f32)]| {
                    let mut v: Vec<String> = l.iter().map(|p| p.0.clone()).collect();
                    v.sort();
                    v
                };
                assert_eq!(ids(&sides.vector), ids(&sides.text), "{fusion} query {qi}");
            }
            // Fuse by position (keys are row-like numbers: ties order by key, as rows).
            let key: std::collections::HashMap<&str, u32> = s
                .docs
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id.as_str(), i as u32))
                .collect();
            let keyed = |l: &[(String, f32)]| -> Vec<(u32, f32)> {
                l.iter().map(|(id, sc)| (key[id.as_str()], *sc)).collect()
            };
            let fused = fusion
                .fuse(&keyed(&sides.vector), &keyed(&sides.text))
                .unwrap();
            let want: Vec<(u32, f32)> =
                hits.iter().map(|h| (key[h.id.as_str()], h.score)).collect();
            let got: Vec<(u32, f32)> = fused.into_iter().take(K).collect();
            let scores = |l: &[(u32, f32)]| l.iter().map(|p| p.1).collect::<Vec<_>>();
            assert_eq!(scores(&got), scores(&want), "{fusion} query {qi}");
        }
    }
    // A query without both sides has no sides.
    let err = db
        .sides(&Query::new().vector(s.query_vector(0).to_vec()))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_query");
}

#[test]
fn the_default_hybrid_ranks_better_than_either_side_alone() {
    let s = sample();
    let db = shared_db();
    let mrr = |make: &dyn Fn(usize) -> Query| {
        let runs: Vec<(Vec<Hit>, String)> = s
            .queries
            .iter()
            .enumerate()
            .map(|(i, q)| (db.search(&make(i).k(K)).unwrap(), q.relevant.clone()))
            .collect();
        vjson::dataset::mrr_recall_at_10(runs.iter().map(|(h, r)| (h.as_slice(), r.as_str())))
    };
    let vector = mrr(&|i| Query::new().vector(s.query_vector(i).to_vec()));
    let text = mrr(&|i| Query::new().text(s.queries[i].text.clone()));
    let hybrid = mrr(&|i| {
        Query::new()
            .vector(s.query_vector(i).to_vec())
            .text(s.queries[i].text.clone())
    });
    let rrf = mrr(&|i| {
        Query::new()
            .vector(s.query_vector(i).to_vec())
            .text(s.queries[i].text.clone())
            .fusion(Fusion::Rrf { k: 60.0 })
    });
    say!(
        "MRR@10 / recall@10 on the sample: vector {:.4} / {:.4}, text {:.4} / {:.4}, default hybrid {:.4} / {:.4}, rrf {:.4} / {:.4}",
        vector.0,
        vector.1,
        text.0,
        text.1,
        hybrid.0,
        hybrid.1,
        rrf.0,
        rrf.1
    );
    let best = vector.0.max(text.0);
    assert!(
        hybrid.0 > best * 1.03,
        "the default hybrid ranks clearly above the better side: {} vs {best}",
        hybrid.0
    );
    assert!(
        hybrid.1 >= vector.1.max(text.1),
        "and finds at least as much"
    );
}

#[test]
fn every_fusion_produces_sorted_scores() {
    let s = sample();
    let db = shared_db();
    let fusions = [
        Fusion::Rrf { k: 60.0 },
        Fusion::Rrf { k: 0.0 },
        Fusion::Weighted {
            vector: 0.7,
            text: 0.3,
        },
        Fusion::Weighted {
            vector: 0.0,
            text: 1.0,
        },
        Fusion::default(),
        Fusion::Zscore {
            vector: 0.2,
            text: 0.8,
        },
        Fusion::Max,
        Fusion::Min,
        Fusion::Average,
        Fusion::Dbsf,
    ];
    for f in fusions {
        let mut runs = Vec::new();
        for (qi, q) in s.queries.iter().enumerate().take(200) {
            let hits = db
                .search(
                    &Query::new()
                        .vector(s.query_vector(qi).to_vec())
                        .text(q.text.clone())
                        .k(K)
                        .fusion(f),
                )
                .unwrap();
            assert_eq!(hits.len(), K, "{f:?}");
            assert_sorted(&hits, &format!("{f:?}"));
            let set: HashSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
            assert_eq!(set.len(), hits.len(), "{f:?}: duplicate hits");
            for h in &hits {
                assert!(h.vector_score.is_some() || h.text_score.is_some());
                match f {
                    Fusion::Max | Fusion::Min | Fusion::Average => {
                        assert!((0.0..=1.0 + 1e-6).contains(&h.score), "{f:?} {}", h.score)
                    }
                    Fusion::Dbsf => assert!((0.0..=2.0 + 1e-6).contains(&h.score)),
                    _ => {}
                }
            }
            runs.push((hits, q.relevant.clone()));
        }
        let (mrr, recall) =
            vjson::dataset::mrr_recall_at_10(runs.iter().map(|(h, r)| (h.as_slice(), r.as_str())));
        say!("fusion {f:?} on 200 sample queries: MRR@10 {mrr:.4}, recall@10 {recall:.4}");
    }
}

/// A database of the first `n` sample documents under `metric`, vectors scaled by
/// `scale(i)` (so dot products differ from cosines).
fn metric_db(metric: Metric, n: usize, scale: fn(usize) -> f32) -> (VectorDB, Vec<Vec<f32>>) {
    let s = sample();
    let db = VectorDB::in_memory(Options::new(384).metric(metric)).unwrap();
    let vecs: Vec<Vec<f32>> = (0..n)
        .map(|i| s.doc_vector(i).iter().map(|x| x * scale(i)).collect())
        .collect();
    db.insert_batch(
        (0..n)
            .map(|i| Document::new(id(i), vecs[i].clone()).text(s.docs[i].text.clone()))
            .collect(),
    )
    .unwrap();
    (db, vecs)
}

fn check_metric(metric: Metric, score: fn(&[f32], &[f32]) -> f64) {
    let s = sample();
    let n = 600;
    let (db, vecs) = metric_db(metric, n, |i| 0.5 + (i % 7) as f32 * 0.25);
    let index: HashMap<String, usize> = (0..n).map(|i| (id(i), i)).collect();
    let mut recall = Recall::default();
    for qi in 0..200 {
        let q: Vec<f32> = s.query_vector(qi).iter().map(|x| x * 1.5).collect();
        let hits = db.search(&Query::new().vector(q.clone()).k(K)).unwrap();
        assert_eq!(hits.len(), K);
        assert_sorted(&hits, metric.name());
        for h in &hits {
            let want = score(&q, &vecs[index[&h.id]]);
            assert!(
                (h.score as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
                "{}: score {} vs {want}",
                metric.name(),
                h.score
            );
        }
        let mut all: Vec<(usize, f64)> = (0..n).map(|i| (i, score(&q, &vecs[i]))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        let exact: Vec<String> = all[..K].iter().map(|&(i, _)| id(i)).collect();
        recall.add(&ids(&hits), &exact);
    }
    let r = recall.value();
    say!(
        "{} metric: recall@10 vs brute force on 600 docs: {r:.4}",
        metric.name()
    );
    assert!(r >= 0.95, "{}: recall {r}", metric.name());
}

#[test]
fn l2_metric_scores_one_over_one_plus_distance() {
    check_metric(Metric::L2, |a, b| {
        let d: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum();
        1.0 / (1.0 + d.sqrt())
    });
    // The exact vector scores 1.
    let db = VectorDB::in_memory(Options::new(3).metric(Metric::L2)).unwrap();
    db.insert(Document::new("a", vec![1.0, 2.0, 3.0])).unwrap();
    db.insert(Document::new("b", vec![4.0, 6.0, 3.0])).unwrap();
    let hits = db
        .search(&Query::new().vector(vec![1.0, 2.0, 3.0]).k(2))
        .unwrap();
    assert_eq!(ids(&hits), vec!["a", "b"]);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    assert!((hits[1].score - 1.0 / 6.0).abs() < 1e-6);
    // L2 and dot accept a zero vector; cosine does not.
    db.insert(Document::new("zero", vec![0.0; 3])).unwrap();
}

#[test]
fn dot_metric_scores_the_inner_product() {
    check_metric(Metric::Dot, |a, b| {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    });
    let db = VectorDB::in_memory(Options::new(2).metric(Metric::Dot)).unwrap();
    db.insert(Document::new("small", vec![1.0, 0.0])).unwrap();
    db.insert(Document::new("big", vec![3.0, 0.5])).unwrap();
    db.insert(Document::new("zero", vec![0.0, 0.0])).unwrap();
    let hits = db
        .search(&Query::new().vector(vec![1.0, 0.0]).k(3))
        .unwrap();
    assert_eq!(ids(&hits), vec!["big", "small", "zero"]);
    assert_eq!(
        hits.iter().map(|h| h.score).collect::<Vec<_>>(),
        vec![3.0, 1.0, 0.0]
    );
    // Dot stores vectors as given (no normalisation).
    assert_eq!(db.get("big").unwrap().unwrap().vector, vec![3.0, 0.5]);
}

/// Every search the snapshot test compares: vector, text, hybrid, filtered.
fn all_answers(db: &VectorDB) -> Vec<Vec<Hit>> {
    let s = sample();
    let f = filter(json!({"$or": [{"kind": "book"}, {"bucket": {"$lt": 100}}]}));
    let mut out = Vec::new();
    for (qi, q) in s.queries.iter().enumerate() {
        let v = s.query_vector(qi).to_vec();
        out.push(db.search(&Query::new().vector(v.clone()).k(K)).unwrap());
        out.push(db.search(&Query::new().text(q.text.clone()).k(K)).unwrap());
        out.push(
            db.search(&Query::new().vector(v.clone()).text(q.text.clone()).k(K))
                .unwrap(),
        );
        if qi % 5 == 0 {
            out.push(
                db.search(
                    &Query::new()
                        .vector(v)
                        .text(q.text.clone())
                        .k(K)
                        .fusion(Fusion::Dbsf)
                        .filter(f.clone()),
                )
                .unwrap(),
            );
        }
    }
    out
}

#[test]
fn snapshot_round_trip_answers_every_query_identically() {
    let s = sample();
    let db = sample_db();
    // Tombstones and replaced rows travel too.
    for i in (0..2000).step_by(17) {
        db.delete(&id(i)).unwrap();
    }
    for i in (1..2000).step_by(31) {
        db.upsert(doc(i).text(format!("replaced text number {i}")))
            .unwrap();
    }
    let bytes = db.export_snapshot().unwrap();
    assert_eq!(&bytes[..4], vjson::SNAPSHOT_MAGIC);
    let back = VectorDB::import_snapshot(&bytes).unwrap();
    assert_eq!(back.len(), db.len());
    assert_eq!(back.options(), db.options());
    // Counts and options alike; memory differs (buffers grown by writes vs sized once).
    let (mut sb, mut sd) = (back.stats(), db.stats());
    (sb.memory, sd.memory) = (Default::default(), Default::default());
    assert_eq!(sb, sd);
    let (a, b) = (all_answers(&db), all_answers(&back));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "an answer changed across the snapshot");
    }
    say!(
        "snapshot: {} bytes, {} answers (vector, text, hybrid, filtered) identical after import",
        bytes.len(),
        a.len()
    );
    for i in [0usize, 1, 17, 32, 1999] {
        assert_eq!(back.get(&id(i)).unwrap(), db.get(&id(i)).unwrap());
    }
    // Exporting the imported database gives the same bytes.
    assert_eq!(back.export_snapshot().unwrap(), bytes);
    // The imported database keeps working: insert, then search finds it.
    back.insert(Document::new("new-doc", s.query_vector(0).to_vec()).text("brand new"))
        .unwrap();
    let hits = back
        .search(&Query::new().vector(s.query_vector(0).to_vec()).k(1))
        .unwrap();
    assert_eq!(hits[0].id, "new-doc");
    // An empty database round-trips too.
    let empty = VectorDB::in_memory(Options::new(4).fulltext(false)).unwrap();
    let e2 = VectorDB::import_snapshot(&empty.export_snapshot().unwrap()).unwrap();
    assert!(e2.is_empty());
    assert_eq!(e2.options(), empty.options());
}

fn tiny_db() -> VectorDB {
    let db = VectorDB::in_memory(Options::new(8).m(4)).unwrap();
    for i in 0..12u32 {
        let v: Vec<f32> = (0..8)
            .map(|j| ((i * 3 + j * 5) % 11) as f32 - 4.5)
            .collect();
        let mut d = Document::new(format!("d{i}"), v).metadata(json!({"i": i, "tag": ["x", "y"]}));
        if i % 3 != 0 {
            d = d.text(format!("tiny document number {i} about ownership"));
        }
        db.insert(d).unwrap();
    }
    db.delete("d4").unwrap();
    db
}

#[test]
fn damaged_snapshots_are_invalid_snapshot_errors() {
    let db = tiny_db();
    let bytes = db.export_snapshot().unwrap();
    assert!(VectorDB::import_snapshot(&bytes).is_ok());
    // Every single byte changed, two ways; every truncation; trailing garbage.
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            let what = format!("byte {i} ^ {mask:#x}");
            assert_eq!(import_code(&b, &what), "invalid_snapshot", "{what}");
        }
    }
    for len in 0..bytes.len() {
        let what = format!("truncated to {len} bytes");
        assert_eq!(import_code(&bytes[..len], &what), "invalid_snapshot");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(import_code(&long, &"a trailing byte"), "invalid_snapshot");
    say!(
        "snapshot damage: all {} single-byte changes (x2) and truncations of a small snapshot rejected",
        bytes.len()
    );

    // The sample's snapshot: wrong magic, damage and truncation at offsets across it.
    let big = shared_db().export_snapshot().unwrap();
    let mut wrong = big.clone();
    wrong[..4].copy_from_slice(b"NOPE");
    assert_eq!(import_code(&wrong, &"wrong magic"), "invalid_snapshot");
    assert_eq!(import_code(b"", &"empty"), "invalid_snapshot");
    assert_eq!(
        import_code(b"{\"json\": true}", &"json"),
        "invalid_snapshot"
    );
    let n = big.len();
    let offsets = [
        4,
        8,
        12,
        20,
        100,
        300,
        1000,
        n / 7,
        n / 3,
        n / 2,
        2 * n / 3,
        n - 5000,
        n - 100,
        n - 1,
    ];
    for &o in &offsets {
        let mut b = big.clone();
        b[o] = b[o].wrapping_add(1);
        let what = format!("sample snapshot, byte {o} changed");
        assert_eq!(import_code(&b, &what), "invalid_snapshot", "{what}");
        let what = format!("sample snapshot truncated to {o} bytes");
        assert_eq!(import_code(&big[..o], &what), "invalid_snapshot");
    }
}

#[test]
fn every_limit_is_configurable_and_refuses_with_a_typed_error() {
    let limits = Limits {
        max_id_bytes: 4,
        max_text_bytes: 10,
        max_metadata_bytes: 20,
        max_metadata_depth: 2,
        max_batch_docs: 3,
        max_snapshot_bytes: 100,
        max_k: 5,
        max_filter_depth: 2,
        max_filter_conditions: 3,
    };
    let db = VectorDB::in_memory(Options::new(2).limits(limits.clone())).unwrap();
    let d = |id: &str| Document::new(id, vec![1.0, 0.5]);
    // At each limit: accepted.
    db.insert_batch(vec![
        d("abcd").text("0123456789"),
        d("b").metadata(json!({"a": {"b": 1}})),
        d("c").metadata(json!({"k": "0123456789"})),
    ])
    .unwrap();
    // One past each: refused, naming the limit, changing nothing.
    fn refused<T>(r: Result<T, Error>, code: &str, needle: &str) {
        let Err(e) = r else {
            panic!("accepted; expected a {code} error");
        };
        assert_eq!(e.code(), code, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    refused(db.insert(d("abcde")), "id_too_long", "4 bytes");
    refused(
        db.insert(d("t").text("0123456789!")),
        "limit_exceeded",
        "max_text_bytes",
    );
    refused(
        db.insert(d("m").metadata(json!({"k": "0123456789ABC"}))),
        "limit_exceeded",
        "max_metadata_bytes",
    );
    refused(
        db.insert(d("n").metadata(json!({"a": {"b": {"c": 1}}}))),
        "invalid_metadata",
        "max_metadata_depth",
    );
    refused(
        db.insert_batch(vec![d("w"), d("x"), d("y"), d("z")]),
        "limit_exceeded",
        "max_batch_docs",
    );
    assert_eq!(db.len(), 3);
    let q = || Query::new().vector(vec![1.0, 0.0]);
    assert_eq!(db.search(&q().k(5)).unwrap().len(), 3);
    refused(db.search(&q().k(6)), "invalid_query", "between 1 and 5");
    refused(
        db.search(&q().ef_search(6)),
        "invalid_query",
        "between 1 and 5",
    );
    let nested = Filter::from_json(&json!({"$not": {"$not": {"k": "x"}}})).unwrap();
    refused(
        db.search(&q().filter(nested)),
        "invalid_filter",
        "max_filter_depth",
    );
    let wide = Filter::from_json(&json!({"a": 1, "b": 2, "c": 3, "d": 4})).unwrap();
    refused(
        db.search(&q().filter(wide)),
        "invalid_filter",
        "max_filter_conditions",
    );
    let ok = Filter::from_json(&json!({"$not": {"k": "x"}, "b": 2})).unwrap();
    assert!(db.search(&q().filter(ok)).is_ok());
    // Snapshots: refused above the cap, before they are read.
    let snap = db.export_snapshot().unwrap();
    assert!(snap.len() > 100);
    refused(
        VectorDB::import_snapshot_with_limits(&snap, limits.clone()),
        "limit_exceeded",
        "max_snapshot_bytes",
    );
    let back = VectorDB::import_snapshot_with_limits(
        &snap,
        Limits {
            max_snapshot_bytes: snap.len() as u64,
            ..limits
        },
    )
    .unwrap();
    assert_eq!(back.len(), 3);
    refused(back.search(&q().k(6)), "invalid_query", "between 1 and 5");
    // Limits themselves are checked.
    let bad = Limits {
        max_k: 0,
        ..Limits::default()
    };
    refused(
        VectorDB::in_memory(Options::new(2).limits(bad)),
        "invalid_options",
        "limits.max_k",
    );
    let bad = Limits {
        max_filter_depth: vjson::MAX_FILTER_DEPTH + 1,
        ..Limits::default()
    };
    refused(
        VectorDB::in_memory(Options::new(2).limits(bad)),
        "invalid_options",
        "limits.max_filter_depth",
    );
}

#[test]
fn every_in_memory_error_code_is_reachable() {
    let mut reached: HashSet<&'static str> = HashSet::new();
    let mut expect = |want: &'static str, got: &'static str| {
        assert_eq!(got, want);
        reached.insert(got);
    };
    let db = VectorDB::in_memory(Options::new(3)).unwrap();
    db.insert(Document::new("a", vec![1.0, 0.0, 0.0]).text("alpha"))
        .unwrap();
    let v = |x: [f32; 3]| x.to_vec();

    expect(
        "dimension_mismatch",
        code(db.insert(Document::new("b", vec![1.0; 4]))),
    );
    expect(
        "dimension_mismatch",
        code(db.search(&Query::new().vector(vec![1.0; 2]))),
    );
    expect(
        "non_finite_vector",
        code(db.insert(Document::new("b", v([1.0, f32::NAN, 0.0])))),
    );
    expect(
        "non_finite_vector",
        code(db.search(&Query::new().vector(v([f32::NEG_INFINITY, 0.0, 0.0])))),
    );
    expect(
        "zero_vector",
        code(db.insert(Document::new("b", v([0.0; 3])))),
    );
    expect(
        "zero_vector",
        code(db.search(&Query::new().vector(v([0.0; 3])))),
    );
    expect("empty_id", code(db.insert(Document::new("", v([1.0; 3])))));
    expect(
        "id_too_long",
        code(db.upsert(Document::new("é".repeat(513), v([1.0; 3])))),
    );
    expect(
        "duplicate_id",
        code(db.insert(Document::new("a", v([1.0; 3])))),
    );
    expect(
        "duplicate_id",
        code(db.insert_batch(vec![
            Document::new("c", v([1.0; 3])),
            Document::new("c", v([1.0; 3])),
        ])),
    );
    expect("not_found", code(db.delete("zzz")));
    expect(
        "invalid_metadata",
        code(db.insert(Document::new("b", v([1.0; 3])).metadata(json!("a string")))),
    );
    expect(
        "invalid_filter",
        code(Filter::from_json(&json!({"x": {"$bogus": 1}}))),
    );
    expect("invalid_filter", code(Filter::parse("{not json")));
    expect("invalid_query", code(db.search(&Query::new())));
    expect(
        "invalid_query",
        code(db.search(&Query::new().text("a").k(0))),
    );
    expect(
        "invalid_query",
        code(db.search(&Query::new().text("a").k(vjson::MAX_K + 1))),
    );
    expect(
        "invalid_query",
        code(db.search(&Query::new().text("a").ef_search(0))),
    );
    expect(
        "invalid_query",
        code(
            db.search(
                &Query::new()
                    .text("a")
                    .vector(v([1.0; 3]))
                    .fusion(Fusion::Rrf { k: f32::NAN }),
            ),
        ),
    );
    expect(
        "invalid_query",
        code(db.search(&Query::new().text("a").fusion(Fusion::Weighted {
            vector: 0.0,
            text: 0.0,
        }))),
    );
    expect("invalid_query", code("fancy".parse::<Fusion>()));
    let hybrid = || Query::new().text("alpha").vector(v([1.0, 0.0, 0.0]));
    expect(
        "invalid_query",
        code(db.search(&hybrid().candidates(usize::MAX))),
    );
    expect(
        "invalid_query",
        code(db.search(&hybrid().candidates(vjson::MAX_K + 1))),
    );
    expect("invalid_query", code(db.search(&hybrid().candidates(0))));
    assert_eq!(
        db.search(&hybrid().candidates(vjson::MAX_K)).unwrap().len(),
        1
    );
    expect(
        "invalid_options",
        code(VectorDB::in_memory(Options::new(0)).map(|d| d.len())),
    );
    expect(
        "invalid_options",
        code(VectorDB::in_memory(Options::new(vjson::MAX_DIMENSION + 1)).map(|d| d.len())),
    );
    expect(
        "invalid_options",
        code(VectorDB::in_memory(Options::new(4).m(1)).map(|d| d.len())),
    );
    expect(
        "invalid_options",
        code(VectorDB::in_memory(Options::new(4).ef_construction(0)).map(|d| d.len())),
    );
    expect(
        "invalid_options",
        code(VectorDB::in_memory(Options::new(4).ef_search(0)).map(|d| d.len())),
    );
    expect("invalid_options", code("manhattan".parse::<Metric>()));
    expect("invalid_snapshot", import_code(b"VJSN", &"magic only"));
    let small = Limits {
        max_text_bytes: 8,
        max_batch_docs: 1,
        ..Limits::default()
    };
    let capped = VectorDB::in_memory(Options::new(3).limits(small)).unwrap();
    expect(
        "limit_exceeded",
        code(capped.insert(Document::new("t", v([1.0; 3])).text("nine bytes"))),
    );
    expect(
        "limit_exceeded",
        code(capped.insert_batch(vec![
            Document::new("x", v([1.0; 3])),
            Document::new("y", v([1.0; 3])),
        ])),
    );
    assert!(capped.is_empty());
    let plain = VectorDB::in_memory(Options::new(3).fulltext(false)).unwrap();
    plain
        .insert(Document::new("a", v([1.0, 0.0, 0.0])).text("alpha"))
        .unwrap();
    expect(
        "unsupported",
        code(plain.search(&Query::new().text("alpha"))),
    );
    // Nothing above changed the database.
    assert_eq!(db.len(), 1);
    assert_eq!(db.search(&Query::new().text("alpha")).unwrap().len(), 1);

    let disk_only = ["corrupt", "locked", "read_only", "io", "text_index"];
    for c in Error::CODES {
        assert!(
            reached.contains(c) || disk_only.contains(c),
            "error code {c} is not reached by this test"
        );
    }
    assert_eq!(reached.len() + disk_only.len(), Error::CODES.len());
    say!(
        "error codes reached: {} of {} (the other {} are disk-only)",
        reached.len(),
        Error::CODES.len(),
        disk_only.len()
    );
}

#[test]
fn recall_holds_under_churn() {
    // Every document replaced twice, then half deleted: 6,000 rows, 1,000 live.
    let db = sample_db();
    let index = id_index();
    for round in 0..2 {
        for i in shuffled(2000, 99 + round) {
            db.upsert(doc(i)).unwrap();
        }
    }
    assert_eq!(db.len(), 2000);
    let r = vector_recall(&db, &|_| true, &index);
    say!("HNSW recall@10 after upserting every document twice: {r:.4}");
    assert!(r >= 0.95, "recall after upserts {r}");
    let gone: HashSet<usize> = shuffled(2000, 7)[..1000].iter().copied().collect();
    for &i in &gone {
        db.delete(&id(i)).unwrap();
    }
    let st = db.stats();
    assert_eq!((st.documents, st.rows, st.deleted), (1000, 6000, 5000));
    let r = vector_recall(&db, &|i| !gone.contains(&i), &index);
    say!("HNSW recall@10 with 5,000 of 6,000 rows tombstoned: {r:.4}");
    assert!(r >= 0.95, "recall after churn {r}");
}

#[test]
fn small_and_emptied_databases_answer_sensibly() {
    let db = VectorDB::in_memory(Options::new(2)).unwrap();
    let q = || Query::new().vector(vec![1.0, 0.2]).text("word").k(5);
    assert!(db.search(&q()).unwrap().is_empty());
    assert!(db.export_snapshot().is_ok());
    for i in 0..3 {
        let a = i as f32;
        db.insert(Document::new(format!("d{i}"), vec![1.0, a]).text(format!("word {i}")))
            .unwrap();
    }
    // k larger than the database: everything, best first.
    let hits = db
        .search(&Query::new().vector(vec![1.0, 2.0]).k(50))
        .unwrap();
    assert_eq!(ids(&hits), vec!["d2", "d1", "d0"]);
    assert_eq!(db.search(&q()).unwrap().len(), 3);
    // Delete everything: searches come back empty, and the database fills up again.
    for i in 0..3 {
        db.delete(&format!("d{i}")).unwrap();
    }
    assert!(db.is_empty());
    assert!(db.search(&q()).unwrap().is_empty());
    assert!(db.search(&Query::new().text("word")).unwrap().is_empty());
    let back = VectorDB::import_snapshot(&db.export_snapshot().unwrap()).unwrap();
    assert!(back.is_empty() && back.search(&q()).unwrap().is_empty());
    db.insert(Document::new("d1", vec![0.0, 1.0]).text("word again"))
        .unwrap();
    let hits = db.search(&q()).unwrap();
    assert_eq!(ids(&hits), vec!["d1"]);
    assert!(hits[0].vector_score.is_some() && hits[0].text_score.is_some());
    // One dimension works too.
    let one = VectorDB::in_memory(Options::new(1).metric(Metric::L2)).unwrap();
    for i in 0..100 {
        one.insert(Document::new(format!("p{i}"), vec![i as f32]))
            .unwrap();
    }
    let hits = one.search(&Query::new().vector(vec![41.2]).k(3)).unwrap();
    assert_eq!(ids(&hits), vec!["p41", "p42", "p40"]);
}
