//! Distance kernels: dot product and squared Euclidean distance, and the metric-specific
//! conversion between internal distances (lower is closer) and user-facing scores.
//!
//! The kernels are plain Rust written in 16-lane blocks with independent accumulators so
//! that LLVM vectorises them: SSE2 by default, AVX2 + FMA chosen at run time on x86-64
//! CPUs that have it, and `simd128` on wasm32 (enabled in `.cargo/config.toml`).

use crate::options::Metric;

const LANES: usize = 16;

/// Whether [`prefetch`] does anything on this target (wasm32 has no prefetch
/// instruction): where it does not, a caller can skip a call that would only lead to it
/// (a dynamically dispatched one, which the compiler cannot remove).
pub(crate) const PREFETCH: bool = cfg!(target_arch = "x86_64");

/// Asks the CPU to start loading the two cache lines at the address `at` gives (x86-64; a
/// no-op elsewhere): the first lines of a vector, a code or a link list that is about to
/// be read. The hardware prefetcher follows on once the read begins. The address is
/// computed only where it is used: elsewhere `at` (a row's slice, with its bounds check)
/// is never called.
#[inline(always)]
pub(crate) fn prefetch(at: impl FnOnce() -> *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = at();
        // SAFETY: prefetching is a hint that never faults, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    drop(at);
}

#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<LANES>();
    let (cb, rb) = b[..n].as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = reduce(opaque(acc));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn l2sq_generic(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<LANES>();
    let (cb, rb) = b[..n].as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s = reduce(opaque(acc));
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Hides the accumulators from the optimiser between the loop and the reduction. Without
/// it LLVM's SLP vectoriser shapes the loop after the pairwise reduction and keeps the
/// accumulators in 2-lane vectors (`movsd` / `v128.load64_zero`), at about half the speed
/// of full-width (AVX2 / SSE / simd128) arithmetic. The arithmetic, and so every result,
/// is the same either way.
#[inline(always)]
fn opaque(acc: [f32; LANES]) -> [f32; LANES] {
    std::hint::black_box(acc)
}

#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_generic(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        super::l2sq_generic(a, b)
    }
    /// 32 bytes per step: each half sign-extended to 16 lanes of i16, multiplied and
    /// summed in adjacent pairs by `vpmaddwd` into 8 lanes of i32 (LLVM, given the
    /// portable loop, de-interleaves the pairs with shuffles first, at twice the cost).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        use std::arch::x86_64::*;
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n, so both 16-byte loads at i and i + 16 lie within a and
            // b; they are unaligned loads.
            unsafe {
                let a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i).cast()));
                let b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i).cast()));
                let a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i + 16).cast()));
                let b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i + 16).cast()));
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
            }
            i += 32;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let half = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256(acc, 1),
        );
        let quad = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0b01_00_11_10));
        let pair = _mm_add_epi32(quad, _mm_shuffle_epi32(quad, 0b10_11_00_01));
        let mut s = _mm_cvtsi128_si32(pair);
        for j in i..n {
            s += a[j] as i32 * b[j] as i32;
        }
        s
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

fn dot_avx2_or_generic(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { x86::dot(a, b) };
    }
    dot_generic(a, b)
}

/// Dot product of two vectors (over the shorter length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_avx2_or_generic(a, b)
}

/// Squared Euclidean distance of two vectors (over the shorter length).
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { x86::l2sq(a, b) };
    }
    l2sq_generic(a, b)
}

/// Dot product of two `i8` vectors (over the shorter length), exactly: at most 65,536
/// products of magnitude at most 127 x 128 fit an `i32`. Integer sums do not depend on
/// their order, so every code path (AVX2, SSE, simd128) gives the same result.
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { x86::dot_i8(a, b) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm::dot_i8(a, b);
    #[allow(unreachable_code)]
    dot_i8_generic(a, b)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use std::arch::wasm32::*;

    /// 16 bytes per step: each half sign-extended to 8 lanes of i16, multiplied and summed
    /// in adjacent pairs by `i32x4.dot_i16x8_s` (what `vpmaddwd` does on x86). Written
    /// with plain loops and functions forced inline: the npm module is optimised for
    /// size, which would leave closures and iterator adaptors as calls in this loop.
    #[inline(always)]
    pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        /// `acc` plus the products of the 16 bytes at `x` and `y`.
        ///
        /// # Safety
        /// 16 bytes must be readable at `x` and at `y`.
        #[inline(always)]
        unsafe fn block(acc: v128, x: *const i8, y: *const i8) -> v128 {
            // SAFETY: the caller's promise; v128_load reads 16 unaligned bytes.
            let (x, y) = unsafe { (v128_load(x.cast::<v128>()), v128_load(y.cast::<v128>())) };
            let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
            let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
            i32x4_add(acc, i32x4_add(lo, hi))
        }
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        // Two 16-byte blocks per iteration into two accumulators (independent chains),
        // then the block left, if any, then the bytes left.
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
        let mut i = 0;
        // SAFETY (each block): `i + 32 <= n` (or `i + 16 <= n`) bytes of both `a` and `b`.
        while i + 32 <= n {
            unsafe {
                acc0 = block(acc0, pa.add(i), pb.add(i));
                acc1 = block(acc1, pa.add(i + 16), pb.add(i + 16));
            }
            i += 32;
        }
        let mut acc = i32x4_add(acc0, acc1);
        if i + 16 <= n {
            acc = unsafe { block(acc, pa.add(i), pb.add(i)) };
            i += 16;
        }
        let mut s = i32x4_extract_lane::<0>(acc)
            + i32x4_extract_lane::<1>(acc)
            + i32x4_extract_lane::<2>(acc)
            + i32x4_extract_lane::<3>(acc);
        while i < n {
            s += a[i] as i32 * b[i] as i32;
            i += 1;
        }
        s
    }
}

#[inline(always)]
fn dot_i8_generic(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<32>();
    let (cb, rb) = b[..n].as_chunks::<32>();
    let mut acc = [0i32; 16];
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..16 {
            acc[j] += x[2 * j] as i32 * y[2 * j] as i32 + x[2 * j + 1] as i32 * y[2 * j + 1] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += *x as i32 * *y as i32;
    }
    s
}

/// Euclidean norm.
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// A metric's distance function: lower is closer.
#[derive(Clone, Copy)]
pub(crate) struct Distance {
    metric: Metric,
    kernel: fn(&[f32], &[f32]) -> f32,
}

impl Distance {
    pub(crate) fn new(metric: Metric) -> Self {
        #[cfg(target_arch = "x86_64")]
        let avx = has_avx2();
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        let kernel: fn(&[f32], &[f32]) -> f32 = match (metric, avx) {
            (Metric::L2, true) => |a, b| unsafe_l2(a, b),
            (Metric::L2, false) => l2sq_generic,
            (_, true) => |a, b| -unsafe_dot(a, b),
            (_, false) => |a, b| -dot_generic(a, b),
        };
        Distance { metric, kernel }
    }

    /// The metric.
    pub(crate) fn metric(&self) -> Metric {
        self.metric
    }

    /// Distance between two stored (already normalised for cosine) vectors.
    #[inline(always)]
    pub(crate) fn dist(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.kernel)(a, b)
    }

    /// The user-facing score (higher is better) of an internal distance.
    #[inline(always)]
    pub(crate) fn score(&self, dist: f32) -> f32 {
        match self.metric {
            Metric::Cosine | Metric::Dot => -dist,
            Metric::L2 => 1.0 / (1.0 + dist.max(0.0).sqrt()),
        }
    }
}

#[inline(always)]
fn unsafe_dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: only chosen by `Distance::new` after the AVX2/FMA check.
        unsafe { x86::dot(a, b) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    dot_generic(a, b)
}

#[inline(always)]
fn unsafe_l2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: only chosen by `Distance::new` after the AVX2/FMA check.
        unsafe { x86::l2sq(a, b) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    l2sq_generic(a, b)
}

/// Normalises `v` to unit length in place; returns false when its norm is zero.
pub(crate) fn normalize(v: &mut [f32]) -> bool {
    let n = norm(v);
    if n == 0.0 || !n.is_finite() {
        return false;
    }
    let inv = 1.0 / n;
    v.iter_mut().for_each(|x| *x *= inv);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn int8_dot_is_exact() {
        let mut x = 7u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as i8
        };
        for n in [0usize, 1, 31, 32, 33, 384, 1000] {
            let a: Vec<i8> = (0..n).map(|_| next()).collect();
            let b: Vec<i8> = (0..n).map(|_| next()).collect();
            let naive: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            assert_eq!(dot_i8(&a, &b), naive, "n = {n}");
            assert_eq!(dot_i8_generic(&a, &b), naive);
        }
        let extreme = vec![-128i8; 65_536];
        assert_eq!(dot_i8(&extreme, &extreme), 65_536 * 16_384);
    }

    #[test]
    fn kernels_match_naive_sums() {
        for n in [0usize, 1, 3, 15, 16, 17, 100, 384, 769] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0).collect();
            assert!((dot(&a, &b) - naive_dot(&a, &b)).abs() < 1e-3, "dot n={n}");
            let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!((l2sq(&a, &b) - l2).abs() < 1e-3, "l2 n={n}");
        }
    }

    #[test]
    fn every_code_path_gives_bit_identical_results() {
        // Native (AVX2 or not) and wasm32 run the same additions in the same order, so a
        // snapshot answers identically on every target; check the dispatching kernels
        // against the portable ones bit for bit.
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for n in [1usize, 7, 16, 31, 64, 383, 384, 385, 1536] {
            let a: Vec<f32> = (0..n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_generic(&a, &b).to_bits(),
                "dot n={n}"
            );
            assert_eq!(
                l2sq(&a, &b).to_bits(),
                l2sq_generic(&a, &b).to_bits(),
                "l2 n={n}"
            );
            for m in [Metric::Cosine, Metric::Dot, Metric::L2] {
                let want = if m == Metric::L2 {
                    l2sq_generic(&a, &b)
                } else {
                    -dot_generic(&a, &b)
                };
                assert_eq!(Distance::new(m).dist(&a, &b).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn scores_follow_the_metric() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        let d = Distance::new(Metric::L2);
        assert!((d.score(d.dist(&a, &b)) - 1.0 / (1.0 + 2f32.sqrt())).abs() < 1e-6);
        let c = Distance::new(Metric::Cosine);
        assert!((c.score(c.dist(&a, &a)) - 1.0).abs() < 1e-6);
        assert!(c.dist(&a, &a) < c.dist(&a, &b));
    }

    #[test]
    fn normalize_rejects_zero() {
        let mut z = [0.0f32; 4];
        assert!(!normalize(&mut z));
        let mut v = [3.0f32, 4.0];
        assert!(normalize(&mut v));
        assert!((norm(&v) - 1.0).abs() < 1e-6);
    }
}
