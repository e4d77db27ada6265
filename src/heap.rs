//! The wasm32 module's heap: talc (smaller and faster than Rust's default dlmalloc there),
//! fed by [`GrowByQuarter`], which grows the module's memory as a `Vec` grows its buffer.
//!
//! Both allocators ask the engine for just the pages each allocation lacks, so building
//! an index grew memory 64 KiB at a time: ~2,000 `memory.grow` calls for rustdocs'
//! 19 K documents, each ~0.1-0.4 ms in V8, ~20 % of the insert. Growing by a quarter of
//! the memory at least (1 MiB at the least) makes that a few dozen calls, for at most a
//! quarter of the memory reserved ahead of need. Native builds keep the system allocator.

use std::alloc::Layout;
use std::ptr::NonNull;

use talc::base::Talc;
use talc::base::binning::Binning;
use talc::cell::TalcSyncCell;
use talc::wasm::WasmBinning;

#[global_allocator]
static HEAP: TalcSyncCell<GrowByQuarter, WasmBinning> =
    TalcSyncCell::new_wasm(GrowByQuarter { end: None });

/// A wasm page.
const PAGE: usize = 64 * 1024;

/// Memory grows by at least this many pages (1 MiB).
const MIN_GROWTH: usize = 16;

/// talc's source of memory: `memory.grow` by the larger of what the allocation needs and
/// a quarter of the memory so far; the new pages extend talc's heap when they follow it.
#[derive(Debug)]
struct GrowByQuarter {
    /// The end of the heap talc manages, once it has one.
    end: Option<NonNull<u8>>,
}

// SAFETY: `acquire` gives talc only pages it has just grown, which nothing else uses, and
// allocates nothing itself.
unsafe impl talc::source::Source for GrowByQuarter {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        // What the allocation needs, with room for talc's chunk headers and alignment.
        let needed = (layout.size() + layout.align() + 4 * talc::base::CHUNK_UNIT).div_ceil(PAGE);
        let wanted = needed
            .max(core::arch::wasm32::memory_size(0) / 4)
            .max(MIN_GROWTH);
        // Near the 4 GiB limit, fall back to just what is needed.
        let (old_pages, pages) = match core::arch::wasm32::memory_grow(0, wanted) {
            usize::MAX => match core::arch::wasm32::memory_grow(0, needed) {
                usize::MAX => return Err(()),
                old => (old, needed),
            },
            old => (old, wanted),
        };
        let base = (old_pages * PAGE) as *mut u8;
        let bytes = pages * PAGE;
        if let Some(end) = talc.source.end.take()
            && end.as_ptr() == base
        {
            // SAFETY: the new pages start where talc's heap ends.
            talc.source.end = Some(unsafe { talc.extend(end, base.wrapping_add(bytes)) });
            return Ok(());
        }
        // SAFETY: fresh pages, owned by nobody else.
        talc.source.end = unsafe { talc.claim(base, bytes) };
        Ok(())
    }
}
