//! Criterion benchmarks of the core engine on the bundled rustdocs sample (2,000 × 384):
//! HNSW build, vector search QPS at several `ef_search` values (recall@10 against brute
//! force printed beside each, computed once outside the timing), BM25 text search, hybrid
//! search, and fusion of two 100-long lists.
//!
//! ```text
//! cargo bench --bench core                                      # the sample, ~2 minutes
//! VJSON_CORPUS=/path/to/rustdocs cargo bench --bench core       # also the full corpus
//! cargo bench --bench core -- vector_search                     # one group
//! ```
//!
//! With `VJSON_CORPUS` pointing at a dataset directory laid out like `tests/data/sample`
//! (e.g. the full 19,132-document rustdocs corpus), the build and search groups also run on
//! it. Searches run one query at a time on one thread; throughput is reported in queries
//! per second (criterion's "elem/s").

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use vjson::dataset::Dataset;
use vjson::{Document, Fusion, Options, Query, VectorDB};

const K: usize = 10;
const EFS: [usize; 6] = [10, 16, 32, 64, 128, 256];

struct Data {
    name: &'static str,
    set: Dataset,
}

fn datasets() -> Vec<Data> {
    let mut out = vec![Data {
        name: "sample",
        set: vjson::bundled_sample!(),
    }];
    if let Some(dir) = std::env::var_os("VJSON_CORPUS") {
        let set = Dataset::load(std::path::Path::new(&dir), 384)
            .unwrap_or_else(|e| panic!("VJSON_CORPUS={}: {e}", dir.to_string_lossy()));
        out.push(Data {
            name: "corpus",
            set,
        });
    }
    out
}

/// Documents with vectors only (the HNSW alone) or with text and metadata.
fn documents(d: &Dataset, full: bool) -> Vec<Document> {
    if full {
        d.documents()
    } else {
        (0..d.docs.len())
            .map(|i| Document::new(d.docs[i].id.clone(), d.doc_vector(i).to_vec()))
            .collect()
    }
}

fn build(d: &Dataset, full: bool) -> VectorDB {
    let db = VectorDB::in_memory(Options::new(d.dim).fulltext(full)).expect("options");
    db.insert_batch(documents(d, full)).expect("insert");
    db
}

/// Exact top-10 document indices of every query (inner product = cosine: unit vectors).
fn ground_truth(d: &Dataset) -> Vec<Vec<usize>> {
    (0..d.queries.len())
        .into_par_iter()
        .map(|qi| {
            let q = d.query_vector(qi);
            let mut all: Vec<(f32, usize)> = (0..d.docs.len())
                .map(|i| (vjson::dot(q, d.doc_vector(i)), i))
                .collect();
            all.select_nth_unstable_by(K - 1, |a, b| b.0.total_cmp(&a.0));
            all.truncate(K);
            all.into_iter().map(|x| x.1).collect()
        })
        .collect()
}

fn recall(db: &VectorDB, d: &Dataset, truth: &[Vec<usize>], ef: usize) -> f64 {
    let mut hit = 0;
    for (qi, exact) in truth.iter().enumerate() {
        let hits = db
            .search(
                &Query::new()
                    .vector(d.query_vector(qi).to_vec())
                    .k(K)
                    .ef_search(ef),
            )
            .expect("search");
        hit += exact
            .iter()
            .filter(|&&i| hits.iter().any(|h| h.id == d.docs[i].id))
            .count();
    }
    hit as f64 / (truth.len() * K) as f64
}

fn bench_build(c: &mut Criterion) {
    for data in datasets() {
        let d = &data.set;
        let mut g = c.benchmark_group("hnsw_build");
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(if data.name == "sample" {
                5
            } else {
                60
            }))
            .throughput(Throughput::Elements(d.docs.len() as u64));
        let id = format!("{}_{}x{}", data.name, d.docs.len(), d.dim);
        g.bench_function(id, |b| {
            b.iter_batched(
                || documents(d, false),
                |docs| {
                    let db = VectorDB::in_memory(Options::new(d.dim).fulltext(false)).unwrap();
                    db.insert_batch(docs).unwrap();
                    db
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn bench_vector_search(c: &mut Criterion) {
    for data in datasets() {
        let d = &data.set;
        let db = build(d, false);
        let truth = ground_truth(d);
        let queries: Vec<Vec<f32>> = (0..d.queries.len())
            .map(|i| d.query_vector(i).to_vec())
            .collect();
        let mut g = c.benchmark_group(format!("vector_search_{}", data.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(queries.len() as u64));
        for ef in EFS {
            let r = recall(&db, d, &truth, ef);
            println!(
                "vector_search_{}/ef={ef}: recall@10 vs brute force = {r:.4} ({} docs, {} queries)",
                data.name,
                d.docs.len(),
                queries.len()
            );
            g.bench_with_input(BenchmarkId::new("ef", ef), &ef, |b, &ef| {
                b.iter(|| {
                    for q in &queries {
                        black_box(
                            db.search(&Query::new().vector(q.clone()).k(K).ef_search(ef))
                                .unwrap(),
                        );
                    }
                })
            });
        }
        g.finish();
    }
}

fn bench_text_and_hybrid(c: &mut Criterion) {
    for data in datasets() {
        let d = &data.set;
        let db = build(d, true);
        let texts: Vec<String> = d.queries.iter().map(|q| q.text.clone()).collect();
        let mut g = c.benchmark_group(format!("text_hybrid_{}", data.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(texts.len() as u64));
        g.bench_function("bm25", |b| {
            b.iter(|| {
                for t in &texts {
                    black_box(db.search(&Query::new().text(t.as_str()).k(K)).unwrap());
                }
            })
        });
        for (name, fusion) in [
            ("hybrid_rrf", Fusion::default()),
            ("hybrid_dbsf", Fusion::Dbsf),
        ] {
            g.bench_function(name, |b| {
                b.iter(|| {
                    for (i, t) in texts.iter().enumerate() {
                        black_box(
                            db.search(
                                &Query::new()
                                    .vector(d.query_vector(i).to_vec())
                                    .text(t.as_str())
                                    .k(K)
                                    .fusion(fusion),
                            )
                            .unwrap(),
                        );
                    }
                })
            });
        }
        g.finish();
    }
}

fn bench_fusion(c: &mut Criterion) {
    // Two 100-long ranked lists sharing half their rows.
    let vector: Vec<(u32, f32)> = (0..100).map(|i| (i * 2, 0.9 - i as f32 * 0.004)).collect();
    let text: Vec<(u32, f32)> = (0..100).map(|i| (i * 3, 14.0 - i as f32 * 0.1)).collect();
    let mut g = c.benchmark_group("fusion_100x100");
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, f) in [
        ("rrf", Fusion::Rrf { k: 60.0 }),
        (
            "weighted",
            Fusion::Weighted {
                vector: 0.7,
                text: 0.3,
            },
        ),
        ("max", Fusion::Max),
        ("min", Fusion::Min),
        ("average", Fusion::Average),
        ("dbsf", Fusion::Dbsf),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(f.fuse(&vector, &text).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_build,
    bench_vector_search,
    bench_text_and_hybrid,
    bench_fusion
);
criterion_main!(benches);
