//! The id index: from the id of a live document to its row.
//!
//! The index keeps no strings: each entry is a row number and its id's 32-bit hash
//! ([`Rows::id_hash`]), and the ids themselves are read from [`Rows`] (which, natively,
//! may keep them in the memory map of `rows.dat`). So it takes 8 bytes per document, not
//! a copy of every id, and neither placing a row nor growing a table reads an id: ids
//! are compared byte by byte only when their hashes match.

use crate::codec::Decoded;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use super::Rows;
use crate::par::*;

#[derive(Debug, Clone, Copy)]
struct Entry {
    row: u32,
    hash: u32,
}

/// The index is split by the top bits of the hash into this many tables: building it
/// from a million rows sorts the entries by table first, then fills each table (a few
/// hundred kilobytes, cache-sized) on its own, in parallel natively — instead of a million
/// inserts at random places of one 16 MB table, a cache and TLB miss each. A table that
/// grows also rehashes only its own share.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// Maps each live document's id to its row; see the module docs.
#[derive(Debug)]
pub(crate) struct IdIndex {
    shards: Vec<HashTable<Entry>>,
    len: usize,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            len: 0,
        }
    }
}

/// The table's hash of an entry: its 32 stored bits spread over 64 (the table takes its
/// bucket from the low bits and a tag from the top seven).
fn spread(hash: u32) -> u64 {
    (hash as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn shard(hash: u32) -> usize {
    (hash >> (32 - SHARD_BITS)) as usize
}

/// Inserts `e` into `table`, or points the entry of the same id at `e.row`; returns the
/// row it pointed at before.
fn put(table: &mut HashTable<Entry>, rows: &Rows, e: Entry) -> Option<u32> {
    // Ids are read only when 32 hash bits match: rarely but for the same id.
    match table.entry(
        spread(e.hash),
        |o| o.hash == e.hash && rows.id(o.row as usize) == rows.id(e.row as usize),
        |o| spread(o.hash),
    ) {
        Slot::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().row, e.row)),
        Slot::Vacant(v) => {
            v.insert(e);
            None
        }
    }
}

impl IdIndex {
    /// An index of every live row of `rows`; an id on two live rows is an error that
    /// names it.
    pub(crate) fn build(rows: &Rows) -> Result<IdIndex, String> {
        let mut ix = IdIndex::default();
        // The live rows' entries in row order, sorted by table.
        let entries: Vec<Entry> = (0..rows.len())
            .filter(|&r| rows.live[r])
            .map(|r| Entry {
                row: r as u32,
                hash: rows.id_hash(r),
            })
            .collect();
        let mut counts = [0usize; SHARDS];
        for e in &entries {
            counts[shard(e.hash)] += 1;
        }
        let mut parts: Vec<Vec<Entry>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
        for e in entries {
            parts[shard(e.hash)].push(e);
        }
        // Fill each table; of the ids found twice, name the one whose second row is first.
        let built: Vec<(HashTable<Entry>, Option<u32>)> = parts
            .into_par_iter()
            .map(|part| {
                let mut table = HashTable::with_capacity(part.len());
                let dup = part
                    .into_iter()
                    .find_map(|e| put(&mut table, rows, e).map(|_| e.row));
                (table, dup)
            })
            .collect();
        if let Some(row) = built.iter().filter_map(|(_, d)| *d).min() {
            return Err(format!(
                "id {:?} appears on two live rows",
                rows.id(row as usize)
            ));
        }
        ix.shards = built.into_iter().map(|(t, _)| t).collect();
        ix.len = ix.shards.iter().map(HashTable::len).sum();
        Ok(ix)
    }

    /// The row holding `id`, if live. A row this id's hash points at that cannot be read
    /// (a damaged frame in the row file: see [`Rows::checked_id`]) is an error, since it
    /// may be the one.
    pub(crate) fn get(&self, rows: &Rows, id: &str) -> Decoded<Option<u32>> {
        let h = rows.hash_id(id);
        let mut damaged = None;
        let found = self.shards[shard(h)].find(spread(h), |e| {
            if e.hash != h {
                return false;
            }
            match rows.checked_id(e.row as usize) {
                Ok(stored) => stored == id,
                Err(d) => {
                    damaged.get_or_insert(d);
                    false
                }
            }
        });
        match (found, damaged) {
            (Some(e), _) => Ok(Some(e.row)),
            (None, Some(d)) => Err(d),
            (None, None) => Ok(None),
        }
    }

    /// Points row `row`'s id (read from `rows`) at it; returns the row it pointed at
    /// before, if any.
    pub(crate) fn insert(&mut self, rows: &Rows, row: u32) -> Option<u32> {
        let hash = rows.id_hash(row as usize);
        let old = put(&mut self.shards[shard(hash)], rows, Entry { row, hash });
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes row `row`'s id if it points at that row.
    pub(crate) fn remove_row(&mut self, rows: &Rows, row: u32) {
        let h = rows.id_hash(row as usize);
        if let Ok(e) = self.shards[shard(h)].find_entry(spread(h), |e| e.row == row) {
            e.remove();
            self.len -= 1;
        }
    }

    /// The rows of every indexed id, in no particular order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.shards.iter().flat_map(|t| t.iter().map(|e| e.row))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes of the tables (entries and control bytes).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|t| {
                let buckets = if t.capacity() == 0 {
                    0
                } else {
                    (t.capacity() * 8 / 7).next_power_of_two()
                };
                buckets * (std::mem::size_of::<Entry>() + 1)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: &[&str]) -> Rows {
        let mut rows = Rows::default();
        for id in ids {
            rows.push((*id).into(), None, None, None);
        }
        rows
    }

    #[test]
    fn finds_replaces_and_removes_ids() {
        let mut rows = rows(&["a", "b", "c"]);
        let mut ix = IdIndex::build(&rows).unwrap();
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.get(&rows, "b").unwrap(), Some(1));
        assert_eq!(ix.get(&rows, "z").unwrap(), None);
        // An upsert: a new row with an old id takes its place.
        rows.push("b".into(), None, None, None);
        assert_eq!(ix.insert(&rows, 3), Some(1));
        assert_eq!(ix.get(&rows, "b").unwrap(), Some(3));
        // Removing the old row leaves the new one; removing the new one drops the id.
        ix.remove_row(&rows, 1);
        assert_eq!(ix.get(&rows, "b").unwrap(), Some(3));
        ix.remove_row(&rows, 3);
        assert_eq!(ix.get(&rows, "b").unwrap(), None);
        let mut left: Vec<u32> = ix.rows().collect();
        left.sort();
        assert_eq!(left, vec![0, 2]);
    }

    #[test]
    fn grows_and_rejects_an_id_on_two_live_rows() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("doc-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut rows = rows(&refs);
        let mut ix = IdIndex::default();
        for r in 0..rows.len() {
            assert_eq!(ix.insert(&rows, r as u32), None);
        }
        assert!((0..10_000).all(|i| ix.get(&rows, &ids[i]).unwrap() == Some(i as u32)));
        assert!(ix.heap_bytes() >= 10_000 * 9);
        rows.push("doc-7".into(), None, None, None);
        let err = IdIndex::build(&rows).unwrap_err();
        assert!(err.contains("doc-7"), "{err}");
        // Not when the first is dead.
        rows.kill(7);
        assert_eq!(
            IdIndex::build(&rows).unwrap().get(&rows, "doc-7").unwrap(),
            Some(10_000)
        );
    }
}
