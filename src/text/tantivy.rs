//! Tantivy on disk as the native full-text index (native only).
//!
//! Two halves, because Tantivy's writer and its readers live under different locks in
//! [`crate::VectorDB`]:
//!
//! - [`TantivyWriter`] (held by the single writer) owns the `Index` in an `MmapDirectory`,
//!   one long-lived `IndexWriter` and the `IndexReader`. Every write queues its adds and
//!   deletes at once; nothing is committed until a checkpoint, whose commit carries the
//!   write-ahead-log sequence number it covers as its payload. A reopened database replays
//!   only the log records past that number into Tantivy, so text and vectors always agree
//!   about which documents exist.
//! - [`TantivyText`] (the [`TextIndex`] searches use) holds the last committed `Searcher`
//!   plus an in-memory [`Bm25Index`] *delta* with the rows written since that commit, so a
//!   document is text-searchable as soon as its insert returns. Both halves are scored with
//!   the same collection statistics (Tantivy's committed totals plus the delta's), through
//!   Tantivy's `Bm25StatisticsProvider`, and the delta quantises document lengths the way
//!   Tantivy's field norms do, so a row scores the same before and after its commit.
//!
//! Documents: `row` (u64, indexed and fast: deletes go by row, hits map back to rows),
//! `body` and `title` (the two text fields, analysed with the shared pipeline registered
//! as [`ANALYZER`], term frequencies only, not stored: texts live in the row store). A
//! query is a should-clause per term and field, the title's boosted by `title_boost`.
//! Rows without any term are not added, as in the BM25 index. As in Lucene, a deleted
//! document counts in the statistics until Tantivy merges its segment away. An index from
//! before titles (no `title` field) is rebuilt from the stored texts when a writer opens
//! it; a read-only open searches its body alone (it cannot hold titles).

use std::path::Path;
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, SegmentReader, TantivyDocument,
    TantivyError, Term,
};

use super::{
    ANALYZER, Analyzed, AvgLengths, BM25_K1, BODY, Bm25Index, FIELDS, FieldTexts, LengthNorm,
    MAX_TOKEN_BYTES, Prepared, QueryTerm, TITLE, TextIndex, idf, normalize_token, query_terms,
};
use crate::error::{Error, Result};
use crate::fault;
use crate::rank::{self, Best};

const ROW: &str = "row";
const BODY_FIELD: &str = "body";
const TITLE_FIELD: &str = "title";
/// Indexing memory shared by Tantivy's indexing threads.
const WRITER_MEMORY: usize = 64 << 20;

fn text_err(what: &str, e: TantivyError) -> Error {
    Error::Text(format!("{what}: {e}"))
}

/// The shared analysis as a Tantivy analyser: Tantivy's `SimpleTokenizer` (runs of
/// alphanumerics) and `RemoveLongFilter` (drop tokens over 40 bytes), then our
/// [`normalize_token`] (lower-case, English stem) — the same steps as [`super::analyze`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(Normalize)
        .build()
}

/// Token filter applying [`normalize_token`].
#[derive(Clone)]
struct Normalize;

impl TokenFilter for Normalize {
    type Tokenizer<T: Tokenizer> = NormalizeTokenizer<T>;
    fn transform<T: Tokenizer>(self, tokenizer: T) -> NormalizeTokenizer<T> {
        NormalizeTokenizer(tokenizer)
    }
}

#[derive(Clone)]
struct NormalizeTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for NormalizeTokenizer<T> {
    type TokenStream<'a> = NormalizeStream<T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        NormalizeStream(self.0.token_stream(text))
    }
}

struct NormalizeStream<S>(S);

impl<S: TokenStream> TokenStream for NormalizeStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let t = self.0.token_mut();
        t.text = normalize_token(&t.text);
        true
    }
    fn token(&self) -> &Token {
        self.0.token()
    }
    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field(ROW, INDEXED | FAST);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = TextOptions::default().set_indexing_options(indexing);
    b.add_text_field(BODY_FIELD, text.clone());
    b.add_text_field(TITLE_FIELD, text);
    b.build()
}

/// The commit an index's `meta.json` names: its log sequence number (the payload) and
/// Tantivy's opstamp (which every commit raises).
struct CommitMeta {
    seq: u64,
    opstamp: u64,
}

/// Opens the index in `dir` and reads its last commit; `None` when there is no index or
/// no commit of ours yet.
/// A read-only open goes through [`ReaderDir`].
fn open_index(dir: &Path, read_only: bool) -> Result<Option<(Index, CommitMeta)>> {
    if !dir.join("meta.json").is_file() {
        return Ok(None);
    }
    let opened = if read_only {
        MmapDirectory::open(dir)
            .map_err(TantivyError::from)
            .and_then(|d| Index::open(ReaderDir(d)))
    } else {
        Index::open_in_dir(dir)
    };
    let index = opened.map_err(|e| {
        text_err(
            &format!(
                "opening {} (delete that directory to have it rebuilt from the stored texts)",
                dir.display()
            ),
            e,
        )
    })?;
    let meta = commit_meta(&index, dir)?;
    Ok(meta.map(|m| (index, m)))
}

/// The directory of a read-only open: Tantivy's memory-mapped directory, except that
/// where this process cannot write (a read-only mount, no write permission) the reader's
/// lock on `meta.json` is skipped. That lock keeps a writer's cleanup from removing the
/// files a reader is opening; no writer can work there either (vjson's writer cannot even
/// take its own lock), and a commit that lands meanwhile is caught by the opstamp check of
/// [`TantivyText::open_read_only`].
#[derive(Clone, Debug)]
struct ReaderDir(MmapDirectory);

impl Directory for ReaderDir {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> std::result::Result<Arc<dyn FileHandle>, OpenReadError> {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> std::result::Result<(), DeleteError> {
        self.0.delete(path)
    }

    fn exists(&self, path: &Path) -> std::result::Result<bool, OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(&self, path: &Path) -> std::result::Result<WritePtr, OpenWriteError> {
        self.0.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> std::result::Result<Vec<u8>, OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.0.atomic_write(path, data)
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        self.0.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> std::result::Result<DirectoryLock, LockError> {
        match self.0.acquire_lock(lock) {
            Err(LockError::IoError(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                Ok(DirectoryLock::from(Box::new(())))
            }
            other => other,
        }
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.0.watch(callback)
    }
}

fn commit_meta(index: &Index, dir: &Path) -> Result<Option<CommitMeta>> {
    let metas = index
        .load_metas()
        .map_err(|e| text_err(&format!("reading {}", dir.display()), e))?;
    Ok(metas
        .payload
        .as_deref()
        .and_then(|p| p.parse::<u64>().ok())
        .map(|seq| CommitMeta {
            seq,
            opstamp: metas.opstamp,
        }))
}

/// The index's fields: row, and each text field by field number (the title `None` in an
/// index from before titles).
fn fields(index: &Index, dir: &Path) -> Result<(Field, [Option<Field>; FIELDS])> {
    let schema = index.schema();
    match (schema.get_field(ROW), schema.get_field(BODY_FIELD)) {
        (Ok(row), Ok(body)) => Ok((row, [Some(body), schema.get_field(TITLE_FIELD).ok()])),
        _ => Err(Error::Text(format!(
            "{} is not a vjson full-text index (fields row and body missing)",
            dir.display()
        ))),
    }
}

/// The writing half: index, writer, reader. Held by the database's single writer.
pub(crate) struct TantivyWriter {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    row: Field,
    /// The text fields by field number (both present: see [`TantivyWriter::open`]).
    text: [Option<Field>; FIELDS],
    committed_seq: u64,
}

impl TantivyWriter {
    /// Creates an empty index in `dir` (which must not hold one), with no commit yet: until
    /// the first [`TantivyWriter::commit`] names the sequence number it covers, an open
    /// finds no usable index there (a build that was cut short is rebuilt, never used).
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let index = Index::create_in_dir(dir, schema())
            .map_err(|e| text_err(&format!("creating the index in {}", dir.display()), e))?;
        Self::with_index(index, dir, 0)
    }

    /// Opens the index in `dir`; `Ok(None)` when `dir` holds no committed index (none at
    /// all, or a build cut short before its first commit) or one from before titles: it is
    /// then rebuilt from the rows. Damage is a `text_index` error.
    pub(crate) fn open(dir: &Path) -> Result<Option<Self>> {
        match open_index(dir, false)? {
            Some((index, _)) if fields(&index, dir)?.1[TITLE].is_none() => Ok(None),
            Some((index, meta)) => Self::with_index(index, dir, meta.seq).map(Some),
            None => Ok(None),
        }
    }

    fn with_index(index: Index, dir: &Path, seq: u64) -> Result<Self> {
        let (row, text) = fields(&index, dir)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 2);
        let writer = index
            .writer_with_num_threads(threads, WRITER_MEMORY)
            .map_err(|e| text_err(&format!("opening a writer on {}", dir.display()), e))?;
        // A process killed during a commit leaves files that no commit references. Removing
        // them rewrites Tantivy's list of its files, which a full disk refuses: then they
        // stay until the next open (segment names are random, nothing collides), and the
        // database still opens.
        if let Err(e) = writer.garbage_collect_files().wait() {
            log::warn!("cleaning up {}: {e}", dir.display());
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| text_err(&format!("opening a reader on {}", dir.display()), e))?;
        Ok(TantivyWriter {
            writer,
            reader,
            row,
            text,
            committed_seq: seq,
        })
    }

    /// The log sequence number the last commit covers.
    pub(crate) fn committed_seq(&self) -> u64 {
        self.committed_seq
    }

    /// Queues a row's fields (not visible to Tantivy searchers before the next commit).
    pub(crate) fn add(&self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        if texts.is_empty() {
            return Ok(());
        }
        let mut doc = TantivyDocument::new();
        doc.add_u64(self.row, row as u64);
        for (field, text) in self.text.iter().zip(texts.by_field()) {
            if let (Some(field), Some(text)) = (field, text) {
                doc.add_text(*field, text);
            }
        }
        self.writer
            .add_document(doc)
            .map(|_| ())
            .map_err(|e| text_err("adding a document", e))
    }

    /// Queues the deletion of `row` (whether committed or only queued).
    pub(crate) fn delete(&self, row: u32) {
        self.writer
            .delete_term(Term::from_field_u64(self.row, row as u64));
    }

    /// Commits everything queued, with `seq` as the commit payload; returns a searcher
    /// over the new commit.
    pub(crate) fn commit(&mut self, seq: u64) -> Result<Searcher> {
        fault::check("text.commit").map_err(|e| text_err("committing", e.into()))?;
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(|e| text_err("preparing a commit", e))?;
        prepared.set_payload(&seq.to_string());
        prepared.commit().map_err(|e| text_err("committing", e))?;
        self.committed_seq = seq;
        self.reader
            .reload()
            .map_err(|e| text_err("reloading the reader", e))?;
        Ok(self.reader.searcher())
    }

    /// A searcher over the last commit.
    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// A search half over the last commit, for rows `0..next_row` (all committed).
    pub(crate) fn text_index(&self, next_row: u32) -> Result<TantivyText> {
        TantivyText::new(self.searcher(), self.text, next_row)
    }

    /// Waits for Tantivy's background merges, so that nothing writes to the directory
    /// once this returns. Uncommitted changes are dropped.
    pub(crate) fn close(self) -> Result<()> {
        self.writer
            .wait_merging_threads()
            .map_err(|e| text_err("finishing merges", e))
    }

    #[cfg(test)]
    fn num_committed_docs(&self) -> u64 {
        self.searcher().num_docs()
    }
}

/// The search half: the last committed searcher plus the uncommitted delta.
pub(crate) struct TantivyText {
    searcher: Searcher,
    /// The text fields by field number (the title `None` in an index from before titles).
    text: [Option<Field>; FIELDS],
    /// Committed documents (including deleted ones not merged away yet) and their terms,
    /// per field.
    committed_docs: u64,
    committed_terms: [u64; FIELDS],
    /// Rows written since the commit, stored at `row - base`.
    delta: Bm25Index,
    base: u32,
    /// Per committed segment, `(row, document)` by row (see `row_docs`).
    row_docs: std::sync::OnceLock<Vec<Vec<(u32, u32)>>>,
}

impl TantivyText {
    /// Heap bytes of the in-memory delta (rows written since the commit) and of the map
    /// from rows to committed documents, once built.
    pub(crate) fn heap_bytes(&self) -> usize {
        let row_docs = self.row_docs.get().map_or(0, |segs| {
            segs.iter()
                .map(|m| m.capacity() * std::mem::size_of::<(u32, u32)>())
                .sum()
        });
        self.delta.heap_bytes() + row_docs
    }

    /// Opens the index in `dir` for searching only, with no writer and writing nothing (a
    /// read-only open of the database; the writer may be committing meanwhile): the search
    /// half for rows `0..next_row` over the last commit, and the log sequence number that
    /// commit covers. `Ok(None)` when there is no committed index, or a commit landed while
    /// it was being opened (the caller tries again).
    pub(crate) fn open_read_only(dir: &Path, next_row: u32) -> Result<Option<(Self, u64)>> {
        let Some((index, before)) = open_index(dir, true)? else {
            return Ok(None);
        };
        let (_, text) = fields(&index, dir)?;
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| text_err(&format!("opening a reader on {}", dir.display()), e))?;
        // The reader loaded the commit that was current while it opened: the one read above
        // unless the opstamp moved.
        match commit_meta(&index, dir)? {
            Some(after) if after.opstamp == before.opstamp => Ok(Some((
                TantivyText::new(reader.searcher(), text, next_row)?,
                before.seq,
            ))),
            _ => Ok(None),
        }
    }

    fn new(searcher: Searcher, text: [Option<Field>; FIELDS], base: u32) -> Result<Self> {
        let mut t = TantivyText {
            committed_docs: 0,
            committed_terms: [0; FIELDS],
            searcher,
            text,
            delta: Bm25Index::new(),
            base,
            row_docs: std::sync::OnceLock::new(),
        };
        t.count_committed()?;
        Ok(t)
    }

    /// Tantivy committed everything added so far and `searcher` sees it; rows from
    /// `next_row` on are new.
    pub(crate) fn committed(&mut self, searcher: Searcher, next_row: u32) -> Result<()> {
        self.searcher = searcher;
        self.delta = Bm25Index::new();
        self.base = next_row;
        self.row_docs = std::sync::OnceLock::new();
        self.count_committed()
    }

    fn count_committed(&mut self) -> Result<()> {
        let (mut docs, mut terms) = (0u64, [0u64; FIELDS]);
        for seg in self.searcher.segment_readers() {
            docs += seg.max_doc() as u64;
            for (n, field) in terms.iter_mut().zip(self.text) {
                if let Some(field) = field {
                    *n += seg
                        .inverted_index(field)
                        .map_err(|e| text_err("reading the inverted index", e))?
                        .total_num_tokens();
                }
            }
        }
        self.committed_docs = docs;
        self.committed_terms = terms;
        Ok(())
    }
}

/// Collection statistics over the committed index and the delta together.
struct Totals<'a> {
    docs: u64,
    /// Per text field: the field and its terms.
    terms: [(Option<Field>, u64); FIELDS],
    /// Per query term and field: the term and the whole collection's document frequency.
    df: &'a [(Term, u64)],
}

impl Bm25StatisticsProvider for Totals<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(self
            .terms
            .iter()
            .find(|(f, _)| *f == Some(field))
            .map_or(0, |(_, n)| *n))
    }
    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.docs)
    }
    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        Ok(self
            .df
            .iter()
            .find(|(t, _)| t == term)
            .map_or(0, |(_, df)| *df))
    }
}

/// A hit ordered so that the worst comes out of a max-heap first: lower score, then
/// higher row.
#[derive(PartialEq)]
struct Worst(f32, u32);

impl Eq for Worst {}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// The `limit` best `(row, score)` seen so far.
struct Top {
    limit: usize,
    heap: std::collections::BinaryHeap<Worst>,
}

impl Top {
    fn new(limit: usize) -> Self {
        Top {
            limit,
            heap: std::collections::BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// Adds a hit; returns [`Top::threshold`].
    fn push(&mut self, row: u32, score: f32) -> f32 {
        self.heap.push(Worst(score, row));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
        self.threshold()
    }

    /// The score a new hit must reach (and then win on its row) once the list is full;
    /// `f32::MIN` before.
    fn threshold(&self) -> f32 {
        match self.heap.peek() {
            Some(w) if self.heap.len() == self.limit => w.0,
            _ => f32::MIN,
        }
    }

    fn finish(self) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = self.heap.into_iter().map(|w| (w.1, w.0)).collect();
        rank::sort(&mut v, Best::Highest);
        v
    }
}

impl TextIndex for TantivyText {
    fn add_analyzed(&mut self, row: u32, texts: Analyzed) -> Result<()> {
        debug_assert!(row >= self.base);
        self.delta.add_analyzed(row - self.base, texts)
    }

    fn remove(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        if row >= self.base {
            self.delta.remove(row - self.base, texts)?;
        }
        // A committed row stays in Tantivy until the next commit; searches pass `accept`,
        // which rejects deleted rows.
        Ok(())
    }

    /// The query's terms weighted with the whole collection's statistics (the committed
    /// totals plus the delta's), and Tantivy's weight of the query over the committed
    /// segments.
    fn prepare(&self, query: &str, title_boost: f32) -> Result<Prepared> {
        let terms = query_terms(query);
        let docs = self.committed_docs + self.delta.num_docs() as u64;
        if terms.is_empty() || docs == 0 {
            return Ok(Prepared::nothing());
        }
        let total_terms =
            [BODY, TITLE].map(|f| self.committed_terms[f] + self.delta.total_terms(f));
        // Per field searched and query term: the field number, the term's number in the
        // delta (if there), its boost, the term and the whole collection's document frequency.
        let mut df: Vec<(usize, Option<u32>, f32, Term, u64)> = Vec::with_capacity(2 * terms.len());
        for (f, boost) in [(BODY, 1.0), (TITLE, title_boost)] {
            let Some(field) = self.text[f] else {
                continue;
            };
            if boost <= 0.0 {
                continue;
            }
            for t in &terms {
                let term = Term::from_field_text(field, t);
                let committed = if self.committed_docs > 0 {
                    self.searcher
                        .doc_freq(&term)
                        .map_err(|e| text_err("reading a document frequency", e))?
                } else {
                    0
                };
                let delta = self.delta.term(f, t);
                let n = committed + delta.map_or(0, |d| d.1 as u64);
                if n > 0 {
                    df.push((f, delta.map(|d| d.0), boost, term, n));
                }
            }
        }
        if df.is_empty() {
            return Ok(Prepared::nothing());
        }
        let weight = if self.committed_docs > 0 {
            let term_df: Vec<(Term, u64)> = df.iter().map(|d| (d.3.clone(), d.4)).collect();
            let totals = Totals {
                docs,
                terms: [BODY, TITLE].map(|f| (self.text[f], total_terms[f])),
                df: &term_df,
            };
            let clauses: Vec<(Occur, Box<dyn Query>)> = df
                .iter()
                .map(|(f, _, boost, t, _)| {
                    let q: Box<dyn Query> =
                        Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs));
                    let q = match *f {
                        BODY => q,
                        _ => Box::new(BoostQuery::new(q, *boost)),
                    };
                    (Occur::Should, q)
                })
                .collect();
            let query = BooleanQuery::new(clauses);
            Some(
                query
                    .weight(EnableScoring::enabled_from_statistics_provider(
                        &totals,
                        &self.searcher,
                    ))
                    .map_err(|e| text_err("preparing a query", e))?,
            )
        } else {
            None
        };
        let weights = df
            .iter()
            .map(|&(field, id, boost, _, n)| QueryTerm {
                field,
                id,
                weight: idf(docs as f32, n as f32) * (BM25_K1 + 1.0) * boost,
            })
            .collect();
        Ok(Prepared {
            terms: weights,
            avg: AvgLengths(total_terms.map(|n| n as f32 / docs as f32)),
            weight,
        })
    }

    fn search(
        &self,
        q: &Prepared,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        if limit == 0 || q.terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut top = Top::new(limit);
        if let Some(weight) = &q.weight {
            for seg in self.searcher.segment_readers() {
                let row_of = live_rows(seg)?;
                // Tantivy passes on only scores *above* the threshold; a hit that ties the
                // worst kept one may still win on its row number, so the threshold sits
                // just below it. (Taking the worst score itself made ties come out by
                // segment order, which differs from run to run.)
                let mut threshold = top.threshold().next_down();
                weight
                    .for_each_pruning(threshold, seg, &mut |doc, score| {
                        if let Some(row) = row_of(doc)
                            && accept(row)
                        {
                            threshold = top.push(row, score).next_down();
                        }
                        threshold
                    })
                    .map_err(|e| text_err("searching", e))?;
            }
        }
        // The delta, scored with the same statistics and Tantivy's length quantisation.
        let base = self.base;
        for (r, s) in self
            .delta
            .search_weighted(&q.terms, &QuantisedLengths(q.avg), limit, &|r| {
                accept(r + base)
            })
        {
            top.push(r + base, s);
        }
        Ok(top.finish())
    }

    fn score_rows(&self, q: &Prepared, rows: &[u32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; rows.len()];
        if q.terms.is_empty() {
            return Ok(out);
        }
        // Committed rows: per segment, its documents in order, each scored by seeking the
        // query's scorer to it (the scores `for_each_pruning` passes to a search).
        if let Some(weight) = &q.weight {
            let docs = self.row_docs()?;
            let mut wanted: Vec<(u32, u32, usize)> = Vec::new(); // (segment, doc, position)
            for (i, &row) in rows.iter().enumerate() {
                if row >= self.base {
                    continue;
                }
                for (seg, map) in docs.iter().enumerate() {
                    if let Ok(at) = map.binary_search_by_key(&row, |m| m.0) {
                        wanted.push((seg as u32, map[at].1, i));
                        break;
                    }
                }
            }
            wanted.sort_unstable();
            let readers = self.searcher.segment_readers();
            for group in wanted.chunk_by(|a, b| a.0 == b.0) {
                let seg = &readers[group[0].0 as usize];
                let mut scorer = weight
                    .scorer(seg, 1.0)
                    .map_err(|e| text_err("scoring documents", e))?;
                for &(_, doc, i) in group {
                    let at = if scorer.doc() < doc {
                        scorer.seek(doc)
                    } else {
                        scorer.doc()
                    };
                    if at == doc {
                        out[i] = scorer.score();
                    }
                }
            }
        }
        // Rows of the delta.
        let (at, delta_rows): (Vec<usize>, Vec<u32>) = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| **r >= self.base)
            .map(|(i, r)| (i, r - self.base))
            .unzip();
        if !delta_rows.is_empty() {
            let scores =
                self.delta
                    .score_rows_weighted(&q.terms, &QuantisedLengths(q.avg), &delta_rows);
            for (i, s) in at.into_iter().zip(scores) {
                out[i] = s;
            }
        }
        Ok(out)
    }
}

impl TantivyText {
    /// Per committed segment, its live documents' `(row, document)`, by row: built on the
    /// first call after each commit (the scores of given rows need their documents), one
    /// pass over the row numbers (a few milliseconds and 8 bytes per document at a million).
    fn row_docs(&self) -> Result<&[Vec<(u32, u32)>]> {
        if let Some(docs) = self.row_docs.get() {
            return Ok(docs);
        }
        let mut all = Vec::new();
        for seg in self.searcher.segment_readers() {
            let row_of = live_rows(seg)?;
            let mut map: Vec<(u32, u32)> = (0..seg.max_doc())
                .filter_map(|doc| Some((row_of(doc)?, doc)))
                .collect();
            map.sort_unstable();
            all.push(map);
        }
        Ok(self.row_docs.get_or_init(|| all))
    }
}

/// The row of each document of `seg`: `None` for a deleted document (or one without a
/// row number that fits a row).
fn live_rows(seg: &SegmentReader) -> Result<impl Fn(DocId) -> Option<u32> + '_> {
    let rows = seg
        .fast_fields()
        .u64(ROW)
        .map_err(|e| text_err("reading row numbers", e))?;
    let alive = seg.alive_bitset();
    Ok(move |doc| {
        if alive.is_some_and(|a| !a.is_alive(doc)) {
            return None;
        }
        u32::try_from(rows.first(doc)?).ok()
    })
}

/// [`LengthNorm`] of lengths rounded the way Tantivy stores them (one-byte field norms), so
/// rows not yet committed score as they will once they are.
struct QuantisedLengths(AvgLengths);

impl LengthNorm for QuantisedLengths {
    fn norm(&self, field: usize, len: u32) -> f32 {
        let q = FieldNormReader::id_to_fieldnorm(FieldNormReader::fieldnorm_to_id(len));
        self.0.norm(field, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::analyze;
    use crate::text::search_text;

    fn body(text: &str) -> FieldTexts<'_> {
        FieldTexts {
            text: Some(text),
            title: None,
        }
    }

    #[test]
    fn tantivy_analyzer_equals_ours() {
        let mut a = analyzer();
        let long = "y".repeat(41);
        let texts = [
            format!("Running dogs, HashMap::insert() {long} été ΟΔΟΣ Vec<T> x86_64"),
            "The quick-brown fox's 3rd jump: über-cool!".to_string(),
            String::new(),
        ];
        for text in &texts {
            let mut ours = Vec::new();
            analyze(text, |t| ours.push(t));
            let mut theirs = Vec::new();
            let mut s = a.token_stream(text);
            while s.advance() {
                theirs.push(s.token().text.clone());
            }
            assert_eq!(ours, theirs, "{text:?}");
        }
    }

    #[test]
    fn ties_are_broken_by_row_whatever_the_segment_order() {
        // Forty equal texts in four segments, committed highest rows first: a top 5 of
        // equal scores is rows 0..5, wherever Tantivy happens to visit them.
        let dir = tempfile::tempdir().unwrap();
        let mut w = TantivyWriter::create(dir.path()).unwrap();
        for (seq, block) in [30u32, 20, 10, 0].into_iter().enumerate() {
            for row in block..block + 10 {
                w.add(row, body("ownership and borrowing")).unwrap();
            }
            w.commit(seq as u64 + 1).unwrap();
        }
        let t = w.text_index(40).unwrap();
        assert!(
            t.searcher.segment_readers().len() > 1,
            "needs several segments"
        );
        let hits = search_text(&t, "ownership", 5, 0.5, &|_| true).unwrap();
        let rows: Vec<u32> = hits.iter().map(|h| h.0).collect();
        assert_eq!(rows, vec![0, 1, 2, 3, 4]);
        w.close().unwrap();
    }

    #[test]
    fn an_index_without_a_commit_is_not_used() {
        // A rebuild cut short: documents added, no commit naming a sequence number yet.
        let dir = tempfile::tempdir().unwrap();
        let w = TantivyWriter::create(dir.path()).unwrap();
        w.add(0, body("ownership")).unwrap();
        drop(w);
        assert!(TantivyWriter::open(dir.path()).unwrap().is_none());
        assert!(
            TantivyText::open_read_only(dir.path(), 1)
                .unwrap()
                .is_none()
        );
        // Rebuilt and committed, both halves open it at that sequence number.
        std::fs::remove_dir_all(dir.path()).unwrap();
        let mut w = TantivyWriter::create(dir.path()).unwrap();
        w.add(0, body("ownership")).unwrap();
        w.commit(3).unwrap();
        let (t, seq) = TantivyText::open_read_only(dir.path(), 1).unwrap().unwrap();
        assert_eq!(seq, 3);
        assert_eq!(
            search_text(&t, "ownership", 5, 0.5, &|_| true)
                .unwrap()
                .len(),
            1
        );
        drop(w);
        assert_eq!(
            TantivyWriter::open(dir.path())
                .unwrap()
                .unwrap()
                .committed_seq(),
            3
        );
    }

    #[test]
    fn delta_and_commit_score_alike() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TantivyWriter::create(dir.path()).unwrap();
        let docs = [
            "ownership and borrowing in rust",
            "rust ownership rules: each value has an owner",
            "the quick brown fox",
            "borrow checker errors explained at length with many more words here",
        ];
        let titles = [
            Some("Borrowing"),
            None,
            Some("Fox"),
            Some("Rust borrow checker"),
        ];
        let mut t = w.text_index(0).unwrap();
        for (i, d) in docs.iter().enumerate() {
            let texts = FieldTexts {
                text: Some(d),
                title: titles[i],
            };
            w.add(i as u32, texts).unwrap();
            t.add(i as u32, texts).unwrap();
        }
        let before = search_text(&t, "rust borrowing", 10, 0.5, &|_| true).unwrap();
        let s = w.commit(7).unwrap();
        t.committed(s, docs.len() as u32).unwrap();
        assert_eq!(w.committed_seq(), 7);
        assert_eq!(w.num_committed_docs(), 4);
        let after = search_text(&t, "rust borrowing", 10, 0.5, &|_| true).unwrap();
        assert_eq!(before.len(), 3);
        assert_eq!(
            before.iter().map(|h| h.0).collect::<Vec<_>>(),
            after.iter().map(|h| h.0).collect::<Vec<_>>()
        );
        for (b, a) in before.iter().zip(&after) {
            assert!((b.1 - a.1).abs() < 1e-4, "{before:?} vs {after:?}");
        }
        // Filter and delete.
        let only3 = search_text(&t, "borrow", 10, 0.5, &|r| r == 3).unwrap();
        assert_eq!(only3.iter().map(|h| h.0).collect::<Vec<_>>(), vec![3]);
        w.delete(0);
        let s = w.commit(8).unwrap();
        t.committed(s, 4).unwrap();
        let hits = search_text(&t, "borrowing", 10, 0.5, &|_| true).unwrap();
        assert!(hits.iter().all(|h| h.0 != 0), "{hits:?}");
        drop(w);
        let w2 = TantivyWriter::open(dir.path()).unwrap().unwrap();
        assert_eq!(w2.committed_seq(), 8);
    }
}
