//! Matrix transposes, the executor's hot loop: converting between PyTorch's
//! `[out, in]` Linear layout and `[in, out]` transposes every 2-D weight of
//! a checkpoint.
//!
//! The matrix is walked in strips of [`STRIP`] source columns (= output
//! rows). Down each strip, blocks of `K x K` elements are read as `K` short
//! runs of source rows, transposed in registers and written as `K` short
//! runs of output rows, so every cache line read is used whole before it is
//! evicted, even when the source's row stride is a multiple of 4 KiB and all
//! its rows fall into the same cache sets. On x86_64 the blocks of 2- and
//! 4-byte elements (bf16, f16, f32, i32) are transposed with SSE2 shuffles,
//! which every x86_64 processor has; other element sizes and the ragged
//! edges go element by element.

/// Output rows (source columns) handled together: their partial lines stay
/// in cache while the strip is walked down.
const STRIP: usize = 64;

/// Rows `c0..c1` of the transpose of a `rows` x `cols` matrix of `N`-byte
/// elements (that is, columns `c0..c1` of `src`) into `dst`, which holds
/// `(c1 - c0) * rows` elements.
pub fn transpose_rows<const N: usize>(
    src: &[[u8; N]],
    rows: usize,
    cols: usize,
    c0: usize,
    c1: usize,
    dst: &mut [[u8; N]],
) {
    assert!(c0 <= c1 && c1 <= cols && src.len() >= rows * cols);
    assert!(dst.len() >= (c1 - c0) * rows);
    let k = block::<N>();
    for cb in (c0..c1).step_by(STRIP) {
        let ce = (cb + STRIP).min(c1);
        // Columns of the strip that whole K x K blocks cover.
        let cfull = cb + (ce - cb) / k * k;
        let mut r = 0;
        while r + k <= rows {
            let mut c = cb;
            while c < cfull {
                // SAFETY: r + k <= rows and c + k <= c1 <= cols, so every
                // element the block reads lies in src (rows * cols elements)
                // and every element it writes in dst ((c1 - c0) * rows),
                // both asserted above.
                unsafe { transpose_block::<N>(src, cols, r, c, dst, rows, c - c0) };
                c += k;
            }
            scalar(src, cols, r..r + k, cfull..ce, dst, rows, c0);
            r += k;
        }
        scalar(src, cols, r..rows, cb..ce, dst, rows, c0);
    }
}

/// Element by element, for the edges and for element sizes without a block
/// kernel.
fn scalar<const N: usize>(
    src: &[[u8; N]],
    cols: usize,
    rs: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
    dst: &mut [[u8; N]],
    rows: usize,
    c0: usize,
) {
    for c in cs {
        let out = &mut dst[(c - c0) * rows..(c - c0 + 1) * rows];
        for r in rs.clone() {
            out[r] = src[r * cols + c];
        }
    }
}

/// The edge of the square blocks transposed in registers for `N`-byte
/// elements (1: element by element).
const fn block<const N: usize>() -> usize {
    if cfg!(target_arch = "x86_64") {
        match N {
            2 => 8,
            4 => 4,
            _ => 1,
        }
    } else {
        1
    }
}

/// Transposes the `K x K` block at source row `r`, column `c` into output
/// rows `oc..oc + K`, columns `r..r + K`.
///
/// # Safety
/// `(r + K - 1) * cols + c + K <= src.len()` and
/// `(oc + K - 1) * rows + r + K <= dst.len()`, with K = `block::<N>()`.
#[inline(always)]
unsafe fn transpose_block<const N: usize>(
    src: &[[u8; N]],
    cols: usize,
    r: usize,
    c: usize,
    dst: &mut [[u8; N]],
    rows: usize,
    oc: usize,
) {
    let s = src.as_ptr().add(r * cols + c) as *const u8;
    let d = dst.as_mut_ptr().add(oc * rows + r) as *mut u8;
    let (s_stride, d_stride) = (cols * N, rows * N);
    #[cfg(target_arch = "x86_64")]
    match N {
        2 => return sse2::block_8x8_u16(s, s_stride, d, d_stride),
        4 => return sse2::block_4x4_u32(s, s_stride, d, d_stride),
        _ => {}
    }
    // One element (K = 1).
    std::ptr::copy_nonoverlapping(s, d, N);
    let _ = (s_stride, d_stride);
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// 8 x 8 two-byte elements: three rounds of interleaving (16-, 32- and
    /// 64-bit lanes).
    ///
    /// # Safety
    /// 8 rows of 16 bytes at `s` + k * `ss` are readable and 8 rows of 16
    /// bytes at `d` + k * `ds` writable.
    #[inline(always)]
    pub unsafe fn block_8x8_u16(s: *const u8, ss: usize, d: *mut u8, ds: usize) {
        let ld = |k: usize| _mm_loadu_si128(s.add(k * ss) as *const __m128i);
        let (a0, a1, a2, a3) = (ld(0), ld(1), ld(2), ld(3));
        let (a4, a5, a6, a7) = (ld(4), ld(5), ld(6), ld(7));
        let b0 = _mm_unpacklo_epi16(a0, a1);
        let b1 = _mm_unpackhi_epi16(a0, a1);
        let b2 = _mm_unpacklo_epi16(a2, a3);
        let b3 = _mm_unpackhi_epi16(a2, a3);
        let b4 = _mm_unpacklo_epi16(a4, a5);
        let b5 = _mm_unpackhi_epi16(a4, a5);
        let b6 = _mm_unpacklo_epi16(a6, a7);
        let b7 = _mm_unpackhi_epi16(a6, a7);
        let c0 = _mm_unpacklo_epi32(b0, b2);
        let c1 = _mm_unpackhi_epi32(b0, b2);
        let c2 = _mm_unpacklo_epi32(b1, b3);
        let c3 = _mm_unpackhi_epi32(b1, b3);
        let c4 = _mm_unpacklo_epi32(b4, b6);
        let c5 = _mm_unpackhi_epi32(b4, b6);
        let c6 = _mm_unpacklo_epi32(b5, b7);
        let c7 = _mm_unpackhi_epi32(b5, b7);
        let st = |k: usize, v: __m128i| _mm_storeu_si128(d.add(k * ds) as *mut __m128i, v);
        st(0, _mm_unpacklo_epi64(c0, c4));
        st(1, _mm_unpackhi_epi64(c0, c4));
        st(2, _mm_unpacklo_epi64(c1, c5));
        st(3, _mm_unpackhi_epi64(c1, c5));
        st(4, _mm_unpacklo_epi64(c2, c6));
        st(5, _mm_unpackhi_epi64(c2, c6));
        st(6, _mm_unpacklo_epi64(c3, c7));
        st(7, _mm_unpackhi_epi64(c3, c7));
    }

    /// 4 x 4 four-byte elements: two rounds of interleaving.
    ///
    /// # Safety
    /// 4 rows of 16 bytes at `s` + k * `ss` are readable and 4 rows of 16
    /// bytes at `d` + k * `ds` writable.
    #[inline(always)]
    pub unsafe fn block_4x4_u32(s: *const u8, ss: usize, d: *mut u8, ds: usize) {
        let ld = |k: usize| _mm_loadu_si128(s.add(k * ss) as *const __m128i);
        let (a0, a1, a2, a3) = (ld(0), ld(1), ld(2), ld(3));
        let b0 = _mm_unpacklo_epi32(a0, a1);
        let b1 = _mm_unpackhi_epi32(a0, a1);
        let b2 = _mm_unpacklo_epi32(a2, a3);
        let b3 = _mm_unpackhi_epi32(a2, a3);
        let st = |k: usize, v: __m128i| _mm_storeu_si128(d.add(k * ds) as *mut __m128i, v);
        st(0, _mm_unpacklo_epi64(b0, b2));
        st(1, _mm_unpackhi_epi64(b0, b2));
        st(2, _mm_unpacklo_epi64(b1, b3));
        st(3, _mm_unpackhi_epi64(b1, b3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elements numbered by position, so a misplaced one is visible.
    fn numbered<const N: usize>(len: usize) -> Vec<[u8; N]> {
        (0..len)
            .map(|i| {
                let mut e = [0u8; N];
                for (b, x) in e.iter_mut().enumerate() {
                    *x = (i >> (8 * (b % 4))) as u8 ^ (b as u8).wrapping_mul(37);
                }
                e
            })
            .collect()
    }

    fn check<const N: usize>(rows: usize, cols: usize, c0: usize, c1: usize) {
        let src = numbered::<N>(rows * cols);
        let mut dst = vec![[0u8; N]; (c1 - c0) * rows];
        transpose_rows(&src, rows, cols, c0, c1, &mut dst);
        for c in c0..c1 {
            for r in 0..rows {
                assert_eq!(
                    dst[(c - c0) * rows + r],
                    src[r * cols + c],
                    "N={N} {rows}x{cols} cols {c0}..{c1}: element ({r}, {c})"
                );
            }
        }
    }

    fn all_sizes(rows: usize, cols: usize, c0: usize, c1: usize) {
        check::<1>(rows, cols, c0, c1);
        check::<2>(rows, cols, c0, c1);
        check::<4>(rows, cols, c0, c1);
        check::<8>(rows, cols, c0, c1);
    }

    #[test]
    fn whole_matrices_of_every_element_size_and_ragged_shape() {
        for rows in [0, 1, 3, 4, 7, 8, 9, 16, 31, 64, 65, 130] {
            for cols in [0, 1, 2, 5, 8, 12, 63, 64, 65, 129] {
                all_sizes(rows, cols, 0, cols);
            }
        }
    }

    #[test]
    fn column_ranges_that_start_and_end_off_the_block_grid() {
        for (c0, c1) in [(0, 1), (3, 11), (7, 70), (64, 129), (100, 200), (199, 200)] {
            all_sizes(37, 200, c0, c1);
            all_sizes(64, 200, c0, c1);
        }
    }

    #[test]
    fn rows_a_page_apart() {
        // A 4 KiB row stride, where every source row maps to the same cache sets.
        all_sizes(72, 2048, 0, 2048);
    }
}
