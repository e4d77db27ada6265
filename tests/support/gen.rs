//! Random test data shared by the tests, benchmarks and examples (`#[path]`-included): a
//! seeded xorshift generator and random documents with text and metadata.

#![allow(dead_code)]

use serde_json::json;
use vjson::Document;

/// A xorshift64 generator: fast, seeded, the same on every platform.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `[-0.5, 0.5)`, 24 bits.
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    /// `dim` values from [`Rng::f32`].
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.f32()).collect()
    }
}

/// Words for random texts.
pub const WORDS: &[&str] = &[
    "ownership",
    "borrow",
    "lifetime",
    "trait",
    "generic",
    "iterator",
    "closure",
    "vector",
    "string",
    "slice",
    "pattern",
    "match",
    "enum",
    "struct",
    "module",
    "crate",
    "macro",
    "async",
    "thread",
    "channel",
    "mutex",
    "arc",
    "box",
    "reference",
    "error",
    "result",
    "option",
    "unsafe",
    "pointer",
    "memory",
    "allocation",
    "hash",
    "map",
    "set",
    "sort",
];

/// `n` random documents of dimension `dim`, each with 60 random words of text and
/// metadata `{"n", "group", "tag"}`.
pub fn documents(n: usize, dim: usize, seed: u64) -> Vec<Document> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let vector = rng.vector(dim);
            let text: Vec<&str> = (0..60).map(|_| WORDS[rng.index(WORDS.len())]).collect();
            Document::new(format!("doc-{seed}-{i}"), vector)
                .text(text.join(" "))
                .metadata(json!({"n": i, "group": i % 10, "tag": format!("t{}", i % 7)}))
        })
        .collect()
}
