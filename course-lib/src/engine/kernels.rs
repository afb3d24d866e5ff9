//! Host kernels for the convolutional layers on the CPU: convolution and transposed convolution
//! as one matrix product over the whole batch (im2col), with the bias and the activation fused
//! in, max pooling (2×2 tiles, and lesson 09's overlapping 3×3 windows), lesson 09's depthwise 3×3
//! convolution and 2× upsampling, and their backward passes. [`crate::engine::fused`] hands them
//! to burn's autodiff as custom operations.
//!
//! Why: burn's CPU convolution made a step of lesson 04's convolutional autoencoder take about
//! 48 ms (PyTorch: about 10 ms on the same machine). Its profile (`perf`): the convolutions'
//! im2col and small per-image products, SELU as five recorded element-wise operations (exp and
//! mask_where forward and backward), pooling with index bookkeeping, and copies between them.
//! Here each layer is one product of `[out, k·k·in] × [k·k·in, batch·positions]`, split over the
//! cores, with the activation applied in the same pass and its derivative taken from the output.
//!
//! Layout: images are `[batch, channels, height, width]`, row-major (burn's). The weights of a
//! convolution are `[out, in, k, k]`, those of a transposed convolution `[in, out, k, k]`, both
//! read as row-major matrices with `k·k·channels` columns.

use crate::engine::activation::Activation;

/// The geometry of one convolution (or of the frame a transposed convolution writes into):
/// an input frame of `height × width` per channel, an output grid of `out_h × out_w` positions,
/// the kernel side, the stride and the top-left padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Images in the batch.
    pub batch: usize,
    /// Channels of the frame.
    pub channels: usize,
    /// Rows of the frame.
    pub height: usize,
    /// Columns of the frame.
    pub width: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Step between kernel positions.
    pub stride: usize,
    /// Padding rows above the frame.
    pub pad_top: usize,
    /// Padding columns left of the frame.
    pub pad_left: usize,
    /// Output rows.
    pub out_h: usize,
    /// Output columns.
    pub out_w: usize,
}

impl Geometry {
    /// Rows of the column matrix: `channels · kernel²`.
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the column matrix: `batch · out_h · out_w`.
    pub fn col_cols(&self) -> usize {
        self.batch * self.out_h * self.out_w
    }

    /// Panics unless a frame of `frame_len` values is `batch × channels × height × width`. The
    /// copies are safe Rust (every index is bounds-checked); this check turns a wrong geometry
    /// into a message instead of a wrong result. The callers derive the geometry from the
    /// tensors' own shapes, so a failure here is a bug in the library, not a student's input.
    fn check(&self, frame_len: usize) {
        assert!(self.kernel >= 1 && self.stride >= 1, "geometry: kernel {} and stride {} must be at least 1", self.kernel, self.stride);
        assert_eq!(frame_len, self.batch * self.channels * self.height * self.width, "geometry: the frame holds {frame_len} values, not {self:?}");
    }
}

/// The column matrix of `frame` (`[batch, channels, height, width]`): row `(c, ki, kj)`, column
/// `(b, i, j)` holds `frame[b, c, i·stride + ki − pad_top, j·stride + kj − pad_left]`, 0 outside.
pub(crate) fn im2col(frame: &[f32], g: &Geometry, col: &mut [f32]) {
    let cols = g.col_cols();
    g.check(frame.len());
    assert_eq!(col.len(), g.col_rows() * cols, "im2col: the column matrix holds {} values, its geometry needs {}", col.len(), g.col_rows() * cols);
    let t = if col.len() < PARALLEL_COPY { 1 } else { threads() };
    if t == 1 {
        return im2col_rows(frame, g, col, 0);
    }
    // Each thread fills its own block of rows of `col`.
    let rows_per = g.col_rows().div_ceil(t);
    std::thread::scope(|s| {
        for (i, block) in col.chunks_mut(rows_per * cols).enumerate() {
            s.spawn(move || im2col_rows(frame, g, block, i * rows_per));
        }
    });
}

/// Copies below this many values run on one core (see [`im2col`], [`col2im_add`]).
const PARALLEL_COPY: usize = 1 << 20;

/// The output positions `i` (of `out`) whose input coordinate `i·stride + k − pad` lies inside
/// `0..size`: one run, for one kernel offset `k` along one axis.
fn inside(k: usize, pad: usize, stride: usize, size: usize, out: usize) -> std::ops::Range<usize> {
    let offset = k as isize - pad as isize;
    let first = if offset >= 0 { 0 } else { ((-offset) as usize).div_ceil(stride) };
    let last = if (size as isize) > offset { ((size as isize - offset) as usize).div_ceil(stride).min(out) } else { 0 };
    first.min(last)..last
}

/// [`im2col`] for the rows of `col` from `first_row` on (`block` holds whole rows). For each
/// kernel offset the output lines and columns that fall inside the frame are worked out once
/// ([`inside`]), not per line. (Measured on lesson 09's U-Net, whose 4 × 4 and 8 × 8 images have
/// lines of a few values: no faster than per line; the copies' memory traffic is the cost.)
fn im2col_rows(frame: &[f32], g: &Geometry, block: &mut [f32], first_row: usize) {
    let (positions, cols) = (g.out_h * g.out_w, g.col_cols());
    let rows = first_row..first_row + block.len() / cols;
    for c in 0..g.channels {
        for ki in 0..g.kernel {
            let lines = inside(ki, g.pad_top, g.stride, g.height, g.out_h);
            for kj in 0..g.kernel {
                let row = (c * g.kernel + ki) * g.kernel + kj;
                if !rows.contains(&row) {
                    continue;
                }
                let out = &mut block[(row - first_row) * cols..(row - first_row + 1) * cols];
                let across = inside(kj, g.pad_left, g.stride, g.width, g.out_w);
                if lines.is_empty() || across.is_empty() {
                    out.fill(0.0); // the kernel offset misses the frame everywhere
                    continue;
                }
                // The first input column read, for output column `across.start`.
                let start = across.start * g.stride + kj - g.pad_left;
                for b in 0..g.batch {
                    let plane = &frame[(b * g.channels + c) * g.height * g.width..][..g.height * g.width];
                    let dst = &mut out[b * positions..(b + 1) * positions];
                    dst[..lines.start * g.out_w].fill(0.0);
                    dst[lines.end * g.out_w..].fill(0.0);
                    for i in lines.clone() {
                        let src = &plane[(i * g.stride + ki - g.pad_top) * g.width..][..g.width];
                        let line = &mut dst[i * g.out_w..(i + 1) * g.out_w];
                        line[..across.start].fill(0.0);
                        line[across.end..].fill(0.0);
                        if g.stride == 1 {
                            line[across.clone()].copy_from_slice(&src[start..start + across.len()]);
                        } else {
                            for (v, x) in line[across.clone()].iter_mut().zip((start..).step_by(g.stride)) {
                                *v = src[x];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back into its place of `frame`.
pub(crate) fn col2im_add(col: &[f32], g: &Geometry, frame: &mut [f32]) {
    g.check(frame.len());
    assert_eq!(col.len(), g.col_rows() * g.col_cols(), "col2im: the column matrix holds {} values, its geometry needs {}", col.len(), g.col_rows() * g.col_cols());
    let t = if col.len() < PARALLEL_COPY { 1 } else { threads().min(g.batch) };
    if t == 1 {
        return col2im_batches(col, g, frame, 0..g.batch);
    }
    // Each thread adds into its own images of the batch (`frame` is batch-major).
    let per = g.batch.div_ceil(t);
    let image = g.channels * g.height * g.width;
    std::thread::scope(|s| {
        for (i, part) in frame.chunks_mut(per * image).enumerate() {
            let first = i * per;
            s.spawn(move || col2im_batches(col, g, part, first..first + part.len() / image));
        }
    });
}

/// [`col2im_add`] for the images `batches` of the batch; `frame` holds just those. The runs of
/// lines and columns inside the frame are worked out once per kernel offset, as in
/// [`im2col_rows`].
fn col2im_batches(col: &[f32], g: &Geometry, frame: &mut [f32], batches: std::ops::Range<usize>) {
    let (positions, cols) = (g.out_h * g.out_w, g.col_cols());
    for c in 0..g.channels {
        for ki in 0..g.kernel {
            let lines = inside(ki, g.pad_top, g.stride, g.height, g.out_h);
            for kj in 0..g.kernel {
                let across = inside(kj, g.pad_left, g.stride, g.width, g.out_w);
                if lines.is_empty() || across.is_empty() {
                    continue; // the kernel offset misses the frame everywhere
                }
                let start = across.start * g.stride + kj - g.pad_left;
                let row = (c * g.kernel + ki) * g.kernel + kj;
                let src_row = &col[row * cols..(row + 1) * cols];
                for b in batches.clone() {
                    let plane = &mut frame[((b - batches.start) * g.channels + c) * g.height * g.width..][..g.height * g.width];
                    let src = &src_row[b * positions..(b + 1) * positions];
                    for i in lines.clone() {
                        let line = &mut plane[(i * g.stride + ki - g.pad_top) * g.width..][..g.width];
                        let values = &src[i * g.out_w..][across.clone()];
                        if g.stride == 1 {
                            for (d, &v) in line[start..start + values.len()].iter_mut().zip(values) {
                                *d += v;
                            }
                        } else {
                            for (&v, x) in values.iter().zip((start..).step_by(g.stride)) {
                                line[x] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Row-major matrix view for [`matmul`]: `rows × cols` with a row stride and a column stride, so
/// that a transposed operand is the same data with the strides swapped. Every view is made by
/// [`View::new`], which checks that the matrix lies inside its slice, and the derived views
/// (transpose, column and row ranges) stay inside it: what the `unsafe` product relies on.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix; panics unless `data` holds exactly that many values.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> View<'a> {
        assert_eq!(data.len(), rows * cols, "matrix view: {} values for a {rows} × {cols} matrix", data.len());
        View { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// Its transpose (no copy).
    pub fn t(self) -> View<'a> {
        View { data: self.data, rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride }
    }

    /// Columns `start..end` (no copy).
    fn columns(self, start: usize, end: usize) -> View<'a> {
        assert!(start <= end && end <= self.cols, "columns {start}..{end} of {}", self.cols);
        View { data: &self.data[(start * self.col_stride).min(self.data.len())..], cols: end - start, ..self }
    }

    /// Rows `start..end` (no copy).
    fn row_range(self, start: usize, end: usize) -> View<'a> {
        assert!(start <= end && end <= self.rows, "rows {start}..{end} of {}", self.rows);
        View { data: &self.data[(start * self.row_stride).min(self.data.len())..], rows: end - start, ..self }
    }

    /// Whether every element the strides address lies inside `data` (the last one included).
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// The cores the kernels split their products and copies over, at most [`BLOCKS`]: what the
/// machine offers, or `COURSE_THREADS` (the determinism test runs 1, 2 and 8). How work is split
/// never depends on this number, only which thread does which block, so the results are the
/// same bits on any machine.
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        let asked = std::env::var("COURSE_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
        asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).clamp(1, BLOCKS)
    })
}

/// Runs `work(i)` for every block `i` of `0..blocks`, the blocks dealt out in runs over up to
/// [`threads`] scoped threads. A worker's panic is raised again here, never swallowed.
fn for_each_block(blocks: usize, work: impl Fn(usize) + Sync) {
    let t = threads().min(blocks);
    if t <= 1 {
        return (0..blocks).for_each(work);
    }
    let per = blocks.div_ceil(t);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..blocks).step_by(per).map(|first| s.spawn(move || (first..(first + per).min(blocks)).for_each(work))).collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// A zeroed `f32` buffer whose memory comes back to a process-wide pool when it is dropped.
///
/// Why: the column matrices of a convolution are megabytes, allocated and freed several times a
/// step. Fresh large allocations come from the kernel as untouched pages, and the page faults of
/// touching them took a fifth of a DCGAN iteration (`perf`); reused buffers are already mapped.
/// The pool is capped ([`POOL_MAX`], [`POOL_TOTAL`]): the column matrix of a 1,000-image
/// `predict` (113 MB for lesson 04's second convolution) is freed, not kept for the rest of a
/// notebook's life.
pub(crate) struct Scratch(Vec<f32>);

/// Buffers returned by dropped [`Scratch`]es.
static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
/// Smaller buffers are cheap to allocate: they are not pooled.
const POOL_MIN: usize = 1 << 14;
/// Larger buffers (64 MB) are freed when dropped: they come from inference over large batches,
/// not from the training steps the pool is for (the DCGAN's largest is 10 M values).
const POOL_MAX: usize = 1 << 24;
/// The pool holds at most this many values in all (96 MB); a buffer that would pass it is freed.
const POOL_TOTAL: usize = 24 << 20;

impl Scratch {
    /// `len` zeros, in the smallest pooled buffer that holds them (or a new one).
    pub fn zeros(len: usize) -> Scratch {
        let mut v = Scratch::pooled_buffer(len);
        v.clear();
        v.resize(len, 0.0);
        Scratch(v)
    }

    /// `len` values for a caller that writes every one of them before reading any (a column
    /// matrix, a product's result, a layout conversion): the pooled buffer's old values are left
    /// where they are instead of being zeroed first, which cost a twentieth of a convolutional
    /// step (`perf`: memset). Safe Rust either way: the values are initialised, only stale.
    pub fn for_overwrite(len: usize) -> Scratch {
        let mut v = Scratch::pooled_buffer(len);
        v.truncate(len);
        v.resize(len, 0.0);
        Scratch(v)
    }

    /// The smallest pooled buffer of at least `len` values, or an empty one.
    fn pooled_buffer(len: usize) -> Vec<f32> {
        let reused = if !(POOL_MIN..=POOL_MAX).contains(&len) {
            None
        } else {
            POOL.lock().ok().and_then(|mut pool| {
                let best = pool.iter().enumerate().filter(|(_, v)| v.capacity() >= len).min_by_key(|(_, v)| v.capacity())?.0;
                Some(pool.swap_remove(best))
            })
        };
        reused.unwrap_or_default()
    }

    /// The values the pool holds now (for the tests).
    #[cfg(test)]
    fn pooled() -> usize {
        POOL.lock().map_or(0, |pool| pool.iter().map(Vec::capacity).sum())
    }
}

/// Whether a pool holding `held` values keeps a dropped buffer of `capacity` values.
fn pool_keeps(held: usize, capacity: usize) -> bool {
    (POOL_MIN..=POOL_MAX).contains(&capacity) && held + capacity <= POOL_TOTAL
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut pool) = POOL.lock() {
            let held: usize = pool.iter().map(Vec::capacity).sum();
            if pool_keeps(held, self.0.capacity()) {
                pool.push(std::mem::take(&mut self.0));
            }
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Scratch {
        let mut copy = Scratch::for_overwrite(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} values)", self.0.len())
    }
}

/// Products of fewer multiply-adds than this are one call of `gemm` on one core (see [`matmul`]).
/// Below about 200³ multiply-adds, starting threads costs more than it saves (measured: the
/// stacked AE's batch-32 products, 2.5 M, took the step from 0.95 to 2.0 ms when threaded;
/// burn-flex draws its line at 192³ too).
const PARALLEL_WORK: usize = 8_000_000;
/// A larger product is cut into at most this many blocks, whatever the core count (at most this
/// many cores are used).
const BLOCKS: usize = 8;
/// A result at least this wide is cut by columns, into 2, 4 or 8 blocks of at least
/// [`MIN_BLOCK_COLUMNS`]; a narrower one with an inner dimension of at least [`SPLIT_INNER`] is
/// cut along the inner dimension into [`BLOCKS`] partial sums.
const SPLIT_COLUMNS: usize = 2 * MIN_BLOCK_COLUMNS;
const MIN_BLOCK_COLUMNS: usize = 64;
const SPLIT_INNER: usize = 256 * BLOCKS;

/// How many column blocks a result `n` wide is cut into: the largest power of two up to
/// [`BLOCKS`] that leaves each block [`MIN_BLOCK_COLUMNS`] wide (a power of two, so that 2, 4 or
/// 8 cores share the blocks evenly). It depends on `n` alone.
fn column_blocks(n: usize) -> usize {
    let mut blocks = BLOCKS;
    while blocks > 1 && n < blocks * MIN_BLOCK_COLUMNS {
        blocks /= 2;
    }
    blocks
}

/// `dst (rows(a) × cols(b), row-major) = a · b`, or `+=` with `accumulate`. Panics unless the
/// shapes agree (always checked: the product below is `unsafe`).
///
/// Large products are cut into blocks fixed by the shapes alone, by columns of the result or (a
/// narrow result with a long inner dimension: a weight gradient) by the inner dimension, with the
/// partial sums added in block order. The blocks are spread over the cores,
/// and each block is the same `gemm` call whichever core runs it, so the result is the same bits
/// on one core or eight.
pub(crate) fn matmul(a: View, b: View, dst: &mut [f32], accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    #[cfg(test)]
    MULTIPLY_ADDS.set(MULTIPLY_ADDS.get() + (m * k * n) as u64);
    assert_eq!(k, b.rows, "matmul: {m} × {k} times {} × {n}", b.rows);
    assert_eq!(dst.len(), m * n, "matmul: a {m} × {n} result in {} values", dst.len());
    if m * k * n < PARALLEL_WORK || (n < SPLIT_COLUMNS && k < SPLIT_INNER) {
        gemm_checked(a, b, dst, 0, n, accumulate);
    } else if n >= SPLIT_COLUMNS {
        // Each block writes its own columns of every row of `dst`.
        let width = n.div_ceil(column_blocks(n));
        let (dst_ptr, dst_len) = (SendPtr(dst.as_mut_ptr()), dst.len());
        for_each_block(n.div_ceil(width), |i| {
            let (start, end) = (i * width, ((i + 1) * width).min(n));
            let p = dst_ptr;
            // SAFETY: `gemm_block` checks that the block lies inside the `dst_len` values at
            // `p`, which `dst` holds until `for_each_block` returns; blocks write disjoint
            // columns, so no two threads write the same value.
            unsafe { gemm_block(a, b.columns(start, end), p.0, dst_len, start, n, accumulate) };
        });
    } else {
        // Partial products over fixed slices of the inner dimension, summed in slice order.
        let depth = k.div_ceil(BLOCKS);
        let parts: Vec<std::sync::Mutex<Scratch>> = (0..k.div_ceil(depth)).map(|_| std::sync::Mutex::new(Scratch::zeros(m * n))).collect();
        for_each_block(parts.len(), |i| {
            let (start, end) = (i * depth, ((i + 1) * depth).min(k));
            // Each block locks only its own part: the lock never waits.
            if let Ok(mut part) = parts[i].lock() {
                gemm_checked(a.columns(start, end), b.row_range(start, end), &mut part, 0, n, false);
            }
        });
        if !accumulate {
            dst.fill(0.0);
        }
        for part in parts {
            let part = part.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (d, v) in dst.iter_mut().zip(part.iter()) {
                *d += v;
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// The multiply-adds of the products this thread asked for (the tests count what a training
    /// step computes: `multiply_adds`).
    static MULTIPLY_ADDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The multiply-adds of the products `f` asks for on this thread (its autodiff backward
/// included: burn runs it on the calling thread).
#[cfg(test)]
pub(crate) fn multiply_adds(f: impl FnOnce()) -> u64 {
    let before = MULTIPLY_ADDS.get();
    f();
    MULTIPLY_ADDS.get() - before
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint parts of one buffer to scoped threads (see `matmul`).
unsafe impl Send for SendPtr {}
// SAFETY: as above; the threads only read the pointer's value.
unsafe impl Sync for SendPtr {}

/// `dst[.., col..col + cols(b)] (=|+=) a · b`, where `dst` is a row-major matrix of `rows(a)`
/// rows of `row_stride` values: the one safe door to `gemm`.
fn gemm_checked(a: View, b: View, dst: &mut [f32], col: usize, row_stride: usize, accumulate: bool) {
    // SAFETY: `gemm_block` checks the bounds against `dst.len()`; `dst` is borrowed mutably for
    // the whole call.
    unsafe { gemm_block(a, b, dst.as_mut_ptr(), dst.len(), col, row_stride, accumulate) }
}

/// The block of columns `col..col + cols(b)` of a row-major `dst` with `row_stride` values per
/// row, computed by `gemm` after checking (always, not only in debug builds) that the operands'
/// shapes agree and that every value read or written lies inside its buffer.
///
/// # Safety
/// `dst` must be valid for reads and writes of `dst_len` values, and no other thread may touch
/// the block's values during the call.
unsafe fn gemm_block(a: View, b: View, dst: *mut f32, dst_len: usize, col: usize, row_stride: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(k == b.rows && a.in_bounds() && b.in_bounds(), "matmul: operands of {m} × {k} and {} × {n} outside their buffers", b.rows);
    assert!(col + n <= row_stride && (m == 0 || n == 0 || (m - 1) * row_stride + col + n <= dst_len), "matmul: a {m} × {n} block at column {col} outside {dst_len} values");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: checked just above: `a` and `b` address only values inside their slices, and the
    // block's rows `dst[i·row_stride + col..][..n]` lie inside the `dst_len` values the caller
    // vouches for.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.add(col),
            1,
            row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// SELU's constants.
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_LAMBDA: f32 = 1.050_701;

/// `activation` applied in place.
pub(crate) fn activate(values: &mut [f32], activation: Activation) {
    // The same code compiled for AVX2 where the CPU has it: twice the lanes of the baseline's
    // SSE2 for SELU's exponential (a tenth of a convolutional step, `perf`). Element-wise
    // without fused multiply-adds, so the values are the same bits either way.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { activate_avx2(values, activation) };
    }
    activate_lanes(values, activation)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn activate_avx2(values: &mut [f32], activation: Activation) {
    activate_lanes(values, activation)
}

#[inline(always)]
fn activate_lanes(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Linear => {}
        // Branch-free with the course's vectorisable exponential (see crate::loss): both sides
        // computed, the right one kept.
        Activation::Selu => values.iter_mut().for_each(|v| {
            let negative = SELU_LAMBDA * SELU_ALPHA * (crate::engine::activation::exp_f32(v.min(0.0)) - 1.0);
            *v = if *v > 0.0 { SELU_LAMBDA * *v } else { negative };
        }),
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::LeakyRelu(slope) => values.iter_mut().for_each(|v| {
            if *v < 0.0 {
                *v *= slope
            }
        }),
        Activation::Sigmoid => values.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
        // Never fused (Activation::host_split): the layers apply it with burn's operations.
        Activation::Softmax => {}
    }
}

/// `grad ⊙ activation′`, the derivative taken from the activation's *output* `y`: each activation
/// the host fuses is monotone, so its output determines its slope (a leaky ReLU only with a
/// positive slope, which is why [`Activation::host_split`] keeps the others out).
pub(crate) fn activation_backward(grad: &mut [f32], y: &[f32], activation: Activation) {
    match activation {
        Activation::Linear | Activation::Softmax => {}
        // y = λx for x > 0; y = λα(eˣ − 1) otherwise, so λαeˣ = y + λα.
        Activation::Selu => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= if y > 0.0 { SELU_LAMBDA } else { y + SELU_LAMBDA * SELU_ALPHA }),
        Activation::Relu => grad.iter_mut().zip(y).for_each(|(g, &y)| {
            if y <= 0.0 {
                *g = 0.0
            }
        }),
        Activation::LeakyRelu(slope) => grad.iter_mut().zip(y).for_each(|(g, &y)| {
            if y < 0.0 {
                *g *= slope
            }
        }),
        Activation::Sigmoid => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= y * (1.0 - y)),
        Activation::Tanh => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= 1.0 - y * y),
    }
}

/// `[channels, batch·positions]` (a product's output) to `[batch, channels, positions]`.
///
/// On one core: split over the cores by channel, these copies made the conv AE's epoch 10-20%
/// slower in alternating quiet runs (2026-12-05).
pub(crate) fn channel_major_to_nchw(src: &[f32], batch: usize, channels: usize, positions: usize, dst: &mut [f32]) {
    layout_check(src, dst, batch * channels * positions);
    for c in 0..channels {
        for b in 0..batch {
            dst[(b * channels + c) * positions..][..positions].copy_from_slice(&src[c * batch * positions + b * positions..][..positions]);
        }
    }
}

/// Panics unless both sides of a layout conversion hold `len` values: then every value of `dst`
/// is written (what [`Scratch::for_overwrite`] relies on).
fn layout_check(src: &[f32], dst: &[f32], len: usize) {
    assert!(src.len() == len && dst.len() == len, "layout conversion: {} and {} values for {len}", src.len(), dst.len());
}

/// The inverse of [`channel_major_to_nchw`].
pub(crate) fn nchw_to_channel_major(src: &[f32], batch: usize, channels: usize, positions: usize, dst: &mut [f32]) {
    layout_check(src, dst, batch * channels * positions);
    for c in 0..channels {
        for b in 0..batch {
            dst[c * batch * positions + b * positions..][..positions].copy_from_slice(&src[(b * channels + c) * positions..][..positions]);
        }
    }
}

/// Where a max pooling's windows lie: `size × size` windows every `stride` pixels, `out`
/// windows down and across. A window that runs past the end of a side is cut short there (the
/// padding TensorFlow adds at the end for `padding="same"` never wins a maximum).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Windows {
    pub size: usize,
    pub stride: usize,
    pub out: (usize, usize),
}

impl Windows {
    /// `pool × pool` windows with stride `pool`, a remainder dropped (Keras's default pooling).
    pub fn tiled(h: usize, w: usize, pool: usize) -> Windows {
        Windows { size: pool, stride: pool, out: (h / pool.max(1), w / pool.max(1)) }
    }

    /// `size × size` windows every `stride` pixels with TensorFlow's `padding="same"` where its
    /// padding falls at the end only: ⌈side / stride⌉ windows (lesson 09's
    /// `MaxPooling2D(3, strides=2, padding="same")` on sides 32, 16 and 8).
    pub fn same(h: usize, w: usize, size: usize, stride: usize) -> Windows {
        Windows { size, stride, out: (h.div_ceil(stride.max(1)), w.div_ceil(stride.max(1))) }
    }
}

/// Max pooling over `windows`: the output, and for each output the offset of its maximum in its
/// window (row-major in a full window, for the backward pass), with a faster path for the course's
/// usual 2 × 2 tiles without NaNs. A NaN anywhere in a window wins, as in burn's pooling (and
/// PyTorch's): the last NaN in row order; among equal values the first wins. The planes are
/// spread over the cores, each computed whole by one of them: the same bits on any core count.
/// Panics unless `x` is `batch × channels × h × w` and every window starts inside the image (the
/// builder refuses a pool of 0 with a message first).
pub(crate) fn max_pool_windows(x: &[f32], batch: usize, channels: usize, h: usize, w: usize, windows: Windows) -> (Vec<f32>, Vec<u32>) {
    let Windows { size, stride, out: (oh, ow) } = windows;
    assert!(
        size >= 1 && stride >= 1 && x.len() == batch * channels * h * w && (oh == 0 || (oh - 1) * stride < h) && (ow == 0 || (ow - 1) * stride < w),
        "max pooling: {windows:?} over {} values for {batch} × {channels} × {h} × {w}",
        x.len()
    );
    if windows == Windows::tiled(h, w, 2) && !x.chunks(256).fold(false, |nan, c| nan | c.iter().fold(false, |n, v| n | v.is_nan())) {
        // The course's pooling: two input rows at a time, no branch in the loop. Without NaNs
        // (checked above: a scan costs a tenth of the pooling) `b > a` alone decides, and the
        // compiler vectorises it; the NaN test in the comparison made the pooling 30% slower.
        let wins = |b: f32, a: f32| b > a;
        let mut y = vec![0.0f32; batch * channels * oh * ow];
        let mut arg = vec![0u32; y.len()];
        for plane in 0..batch * channels {
            let src = &x[plane * h * w..][..h * w];
            for i in 0..oh {
                let (top, bottom) = (&src[2 * i * w..][..w], &src[(2 * i + 1) * w..][..w]);
                let out = &mut y[(plane * oh + i) * ow..][..ow];
                let at = &mut arg[(plane * oh + i) * ow..][..ow];
                for j in 0..ow {
                    let (a, b, c, d) = (top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]);
                    let (m1, i1) = if wins(b, a) { (b, 1) } else { (a, 0) };
                    let (m2, i2) = if wins(d, c) { (d, 3) } else { (c, 2) };
                    let (m, k) = if wins(m2, m1) { (m2, i2) } else { (m1, i1) };
                    out[j] = m;
                    at[j] = k;
                }
            }
        }
        return (y, arg);
    }
    // Without NaNs `b > a` alone decides, a comparison the compiler keeps branch-free; with
    // one, a NaN must win as well.
    if x.iter().any(|v| v.is_nan()) {
        pool_windows_with(x, batch * channels, h, w, windows, |b, a| b > a || b.is_nan())
    } else {
        pool_windows_with(x, batch * channels, h, w, windows, |b, a| b > a)
    }
}

/// [`max_pool_windows`]' general path, where `wins(b, a)` says whether `b`, later in row order,
/// replaces the best so far `a`.
fn pool_windows_with(x: &[f32], planes: usize, h: usize, w: usize, windows: Windows, wins: impl Fn(f32, f32) -> bool + Sync) -> (Vec<f32>, Vec<u32>) {
    let Windows { size, stride, out: (oh, ow) } = windows;
    let mut pooled = vec![(0.0f32, 0u32); planes * oh * ow];
    for_each_plane_run(&mut pooled, oh * ow, x.len() >= PARALLEL_PLANES, |first, run| {
        for (p, out) in run.chunks_mut((oh * ow).max(1)).enumerate() {
            let src = &x[(first + p) * h * w..][..h * w];
            for i in 0..oh {
                let (top, rows) = (i * stride, size.min(h - i * stride));
                for j in 0..ow {
                    let (left, cols) = (j * stride, size.min(w - j * stride));
                    let (mut best, mut at) = (src[top * w + left], 0u32);
                    for di in 0..rows {
                        for (dj, &v) in src[(top + di) * w + left..][..cols].iter().enumerate() {
                            if wins(v, best) {
                                best = v;
                                at = (di * size + dj) as u32;
                            }
                        }
                    }
                    out[i * ow + j] = (best, at);
                }
            }
        }
    });
    pooled.into_iter().unzip()
}

/// The gradient of [`max_pool_windows`]: each output's gradient goes to its maximum (added, where
/// windows overlap, in the outputs' row order), plane by plane over the cores.
pub(crate) fn max_pool_windows_backward(dy: &[f32], arg: &[u32], batch: usize, channels: usize, h: usize, w: usize, windows: Windows) -> Vec<f32> {
    let Windows { size, stride, out: (oh, ow) } = windows;
    assert!(dy.len() == batch * channels * oh * ow && arg.len() == dy.len(), "max pooling's gradient: {} values and {} positions for {batch} × {channels} × {oh} × {ow}", dy.len(), arg.len());
    let mut dx = vec![0.0f32; batch * channels * h * w];
    let parallel = dx.len() >= PARALLEL_PLANES;
    for_each_plane_run(&mut dx, h * w, parallel, |first, run| {
        for (p, plane) in run.chunks_mut((h * w).max(1)).enumerate() {
            let o = (first + p) * oh * ow;
            for (k, (&g, &at)) in dy[o..][..oh * ow].iter().zip(&arg[o..][..oh * ow]).enumerate() {
                let (di, dj) = (at as usize / size, at as usize % size);
                plane[(k / ow * stride + di) * w + k % ow * stride + dj] += g;
            }
        }
    });
    dx
}

// ---------------------------------------------------------------------------------------------
// Per-plane work spread over the cores: pooling, upsampling and depthwise convolutions
// ---------------------------------------------------------------------------------------------

/// Below this many values, per-plane work stays on the calling thread (starting threads would
/// cost more than it saves).
const PARALLEL_PLANES: usize = 1 << 15;

/// Runs `work(first, run)` over `out` cut into runs of whole planes of `plane` values (`first` is
/// the run's first plane), the runs spread over up to [`threads`] scoped threads when `parallel`.
/// Every plane is computed by one call, whichever thread makes it, so the result is the same bits
/// on any core count. A worker's panic is raised again here.
fn for_each_plane_run<T: Send>(out: &mut [T], plane: usize, parallel: bool, work: impl Fn(usize, &mut [T]) + Sync) {
    let planes = out.len().checked_div(plane).unwrap_or(0);
    let t = if parallel { threads().min(planes) } else { 1 };
    if t <= 1 {
        return work(0, out);
    }
    let per = planes.div_ceil(t);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = out.chunks_mut(per * plane).enumerate().map(|(i, run)| s.spawn(move || work(i * per, run))).collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Keras's `UpSampling2D(2)` on `planes` planes of `h × w`: every pixel repeated into a 2 × 2
/// block. The planes are spread over the cores.
pub(crate) fn upsample2(x: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    assert!(x.len() == planes * h * w, "upsampling: {} values for {planes} planes of {h} × {w}", x.len());
    let mut y = vec![0.0f32; 4 * x.len()];
    for_each_plane_run(&mut y, 4 * h * w, 4 * x.len() >= PARALLEL_PLANES, |first, run| {
        for (p, plane) in run.chunks_mut((4 * h * w).max(1)).enumerate() {
            let src = &x[(first + p) * h * w..][..h * w];
            for (i, rows) in plane.chunks_mut((4 * w).max(1)).enumerate() {
                let (top, bottom) = rows.split_at_mut(2 * w);
                for (pair, &v) in top.chunks_mut(2).zip(&src[i * w..][..w]) {
                    pair.fill(v);
                }
                bottom.copy_from_slice(top);
            }
        }
    });
    y
}

/// The gradient of [`upsample2`]: each pixel's is the sum of its 2 × 2 block's, added in row
/// order.
pub(crate) fn upsample2_backward(dy: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    assert!(dy.len() == 4 * planes * h * w, "upsampling's gradient: {} values for {planes} planes of {} × {}", dy.len(), 2 * h, 2 * w);
    let mut dx = vec![0.0f32; planes * h * w];
    let parallel = dy.len() >= PARALLEL_PLANES;
    for_each_plane_run(&mut dx, h * w, parallel, |first, run| {
        for (p, plane) in run.chunks_mut((h * w).max(1)).enumerate() {
            let src = &dy[(first + p) * 4 * h * w..][..4 * h * w];
            for (i, row) in plane.chunks_mut(w.max(1)).enumerate() {
                let (top, bottom) = (&src[2 * i * 2 * w..][..2 * w], &src[(2 * i + 1) * 2 * w..][..2 * w]);
                for (j, d) in row.iter_mut().enumerate() {
                    *d = top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
                }
            }
        }
    });
    dx
}

/// One `h × w` plane as the taps of a 3 × 3 filter read it: flat, each tap one contiguous run of
/// the plane shifted by `di` rows and `dj` columns. A run that reads one column to the left wraps,
/// at each line's first pixel, to the line above's last; so those taps read a copy of the plane
/// whose last column is zero, and the taps that read one column to the right a copy whose first
/// column is zero, which makes every wrapped read a zero: exactly the padding Keras's
/// `padding="same"` adds. (Line by line, lesson 09's 4 × 4 and 8 × 8 planes made loops of a few
/// values, nine times per plane.)
struct ShiftedPlane<'a> {
    h: usize,
    w: usize,
    /// The plane.
    src: &'a [f32],
    /// The plane with its last column zeroed (read by the taps one column to the left).
    no_last: &'a [f32],
    /// The plane with its first column zeroed (read by the taps one column to the right).
    no_first: &'a [f32],
}

impl<'a> ShiftedPlane<'a> {
    /// `src` (`h × w`, not empty), its two edge-zeroed copies made in `scratch`.
    fn new(src: &'a [f32], h: usize, w: usize, scratch: &'a mut Vec<f32>) -> ShiftedPlane<'a> {
        scratch.clear();
        scratch.extend_from_slice(src);
        scratch.extend_from_slice(src);
        let (no_last, no_first) = scratch.split_at_mut(src.len());
        no_last.chunks_mut(w).for_each(|line| line[w - 1] = 0.0);
        no_first.chunks_mut(w).for_each(|line| line[0] = 0.0);
        ShiftedPlane { h, w, src, no_last, no_first }
    }

    /// For the tap that reads `di` rows down and `dj` columns right (each −1, 0 or 1): the output
    /// positions it reaches (one run of the flat plane) and the values they read, in order.
    fn tap(&self, di: isize, dj: isize) -> (std::ops::Range<usize>, &'a [f32]) {
        let (h, w) = (self.h as isize, self.w as isize);
        let from = match dj {
            -1 => self.no_last,
            1 => self.no_first,
            _ => self.src,
        };
        // The output lines whose source line lies inside the plane, then the run's two ends
        // trimmed where its read would fall off the plane (a wrapped read, which is zero).
        let (first_line, end_line) = ((-di).max(0), (h - di).min(h));
        let offset = di * w + dj;
        let run = (first_line * w).max(-offset)..(end_line * w).min(h * w - offset);
        if run.start >= run.end {
            return (0..0, &[]); // the tap misses the plane (a plane of one line or column)
        }
        let read = &from[(run.start + offset) as usize..(run.end + offset) as usize];
        (run.start as usize..run.end as usize, read)
    }
}

/// The nine taps of a 3 × 3 filter `k` on one `h × w` plane, added into `out`:
/// `out[i][j] += Σ k[a][b] · src[i + s(a − 1)][j + s(b − 1)]`, the pixels outside the plane zero
/// (one pixel of padding around: Keras's `padding="same"`). `s = 1` is the convolution's forward
/// (a correlation, as in every deep-learning library); `s = −1` (`mirrored`) is its input's
/// gradient. Tap by tap over the whole plane ([`ShiftedPlane`]), so that the inner loop is one
/// vectorisable `y += k·x`; `scratch` holds the plane's edge-zeroed copies.
fn taps3x3(src: &[f32], k: &[f32], h: usize, w: usize, mirrored: bool, out: &mut [f32], scratch: &mut Vec<f32>) {
    if h * w == 0 {
        return;
    }
    let plane = ShiftedPlane::new(src, h, w, scratch);
    let sign: isize = if mirrored { -1 } else { 1 };
    for a in 0..3 {
        for b in 0..3 {
            let (run, read) = plane.tap(sign * (a as isize - 1), sign * (b as isize - 1));
            let kv = k[a * 3 + b];
            for (o, &x) in out[run].iter_mut().zip(read) {
                *o += kv * x;
            }
        }
    }
}

/// A depthwise 3 × 3 convolution, stride 1, Keras's `padding="same"` (the first step of
/// `SeparableConv2D`): each channel `c` of `x` (`batch × channels × h × w`) correlated with its own
/// filter `k[c]` (`channels × 3 × 3`), no bias. The planes are spread over the cores.
pub(crate) fn depthwise3x3(x: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
    depthwise_pass(x, k, batch, channels, h, w, false)
}

/// The gradient of [`depthwise3x3`]'s input from its output's, `dy`: the same taps mirrored.
pub(crate) fn depthwise3x3_input_gradient(dy: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
    depthwise_pass(dy, k, batch, channels, h, w, true)
}

fn depthwise_pass(src: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize, mirrored: bool) -> Vec<f32> {
    assert!(src.len() == batch * channels * h * w && k.len() == channels * 9, "depthwise convolution: {} values for {batch} × {channels} × {h} × {w} and {} filter values for {channels} × 3 × 3", src.len(), k.len());
    let mut out = vec![0.0f32; src.len()];
    for_each_plane_run(&mut out, h * w, src.len() >= PARALLEL_PLANES, |first, run| {
        let mut scratch = Vec::new();
        for (p, plane) in run.chunks_mut((h * w).max(1)).enumerate() {
            let at = first + p;
            taps3x3(&src[at * h * w..][..h * w], &k[at % channels * 9..][..9], h, w, mirrored, plane, &mut scratch);
        }
    });
    out
}

/// The gradient of [`depthwise3x3`]'s filters (`channels × 3 × 3`) from its output's, `dy`, and
/// its input `x`: for each channel and tap, the sum over the batch and the positions of
/// `dy · x` shifted by the tap. The channels are spread over the cores, each summed in batch
/// order by one of them: the same bits on any core count.
pub(crate) fn depthwise3x3_filter_gradient(dy: &[f32], x: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
    assert!(dy.len() == batch * channels * h * w && x.len() == dy.len(), "depthwise convolution's gradient: {} and {} values for {batch} × {channels} × {h} × {w}", dy.len(), x.len());
    let mut dk = vec![0.0f32; channels * 9];
    for_each_plane_run(&mut dk, 9, x.len() >= PARALLEL_PLANES, |first, run| {
        let mut scratch = Vec::new();
        for (ci, g) in run.chunks_mut(9).enumerate() {
            let c = first + ci;
            for b in 0..batch {
                let plane = (b * channels + c) * h * w;
                tap_products(&dy[plane..][..h * w], &x[plane..][..h * w], h, w, g, &mut scratch);
            }
        }
    });
    dk
}

/// Adds to `g[a·3 + t]`, for each tap `(a, t)` of a 3 × 3 filter, the sum over one `h × w`
/// plane of `d · src` shifted by the tap (the pixels outside the plane zero): a tap's share of a
/// filter gradient. Tap by tap over the whole plane, as [`taps3x3`].
fn tap_products(d: &[f32], src: &[f32], h: usize, w: usize, g: &mut [f32], scratch: &mut Vec<f32>) {
    if h * w == 0 {
        return;
    }
    let plane = ShiftedPlane::new(src, h, w, scratch);
    for a in 0..3 {
        for t in 0..3 {
            let (run, read) = plane.tap(a as isize - 1, t as isize - 1);
            let mut sum = LaneSum::default();
            sum.add_products(&d[run], read);
            g[a * 3 + t] += sum.total();
        }
    }
}

/// The sum of one plane's values, in eight lanes ([`LaneSum`]).
pub(crate) fn plane_sum(values: &[f32]) -> f32 {
    LaneSum::of(values)
}

/// A sum kept in eight lanes: each lane's additions depend only on that lane's last, so the
/// compiler vectorises them, where a plain `.sum()` is one chain in which every addition waits
/// for the one before (the filter gradients', the batch normalisation's and the biases' sums of
/// lesson 09). The lanes are added in a fixed order: the same bits on any machine.
#[derive(Default)]
struct LaneSum {
    lanes: [f32; 8],
    tail: f32,
}

impl LaneSum {
    /// Adds `f(a[i], b[i])` for every `i` (`a` and `b` the same length).
    fn add_with(&mut self, a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
            self.tail += f(x, y);
        }
        for (x, y) in ca.zip(cb) {
            for ((lane, &x), &y) in self.lanes.iter_mut().zip(x).zip(y) {
                *lane += f(x, y);
            }
        }
    }

    /// Adds `Σ a[i]·b[i]`.
    fn add_products(&mut self, a: &[f32], b: &[f32]) {
        self.add_with(a, b, |x, y| x * y);
    }

    /// The sum of `values`, in lanes.
    fn of(values: &[f32]) -> f32 {
        let mut sum = LaneSum::default();
        sum.add_with(values, values, |x, _| x);
        sum.total()
    }

    fn total(&self) -> f32 {
        self.lanes.iter().sum::<f32>() + self.tail
    }
}

// ---------------------------------------------------------------------------------------------
// 3 × 3 convolutions with few output maps, plane by plane: no column matrix
// ---------------------------------------------------------------------------------------------

/// A 3 × 3 convolution, stride 1, `padding="same"`, computed plane by plane with the depthwise
/// convolution's taps: `y[b, o] += Σ_c x[b, c] ⋆ w[o, c]`, onto what `y` holds (the bias). For a
/// layer with few output maps (lesson 09's head: 48 maps in, one out, at 32 × 32) im2col's column
/// matrix is nine times its input, written and read again forward and backward, for a product
/// that is a matrix-vector one. The output planes are spread over the cores.
pub(crate) fn conv3x3_planes(x: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize, y: &mut [f32]) {
    let out_c = k.len().checked_div(channels * 9).unwrap_or(0);
    assert!(x.len() == batch * channels * h * w && k.len() == out_c * channels * 9 && y.len() == batch * out_c * h * w, "3 × 3 convolution: {} values for {batch} × {channels} × {h} × {w}, {} filter values, {} outputs", x.len(), k.len(), y.len());
    planes_pass(x, k, channels, h, w, false, |o, c| o * channels + c, y);
}

/// Adds into every plane `(b, m)` of `out` the taps of each plane `(b, n)` of `src` (`src_maps`
/// per image) with the filter `k[filter(m, n)]`: [`conv3x3_planes`] and, `mirrored`, its input's
/// gradient. The planes of `out` are spread over the cores.
fn planes_pass(src: &[f32], k: &[f32], src_maps: usize, h: usize, w: usize, mirrored: bool, filter: impl Fn(usize, usize) -> usize + Sync, out: &mut [f32]) {
    let out_maps = out.len().checked_div(src.len().checked_div(src_maps).unwrap_or(0)).unwrap_or(0);
    for_each_plane_run(out, h * w, src.len() >= PARALLEL_PLANES, |first, run| {
        let mut scratch = Vec::new();
        for (p, plane) in run.chunks_mut((h * w).max(1)).enumerate() {
            let (b, m) = ((first + p) / out_maps, (first + p) % out_maps);
            for n in 0..src_maps {
                taps3x3(&src[(b * src_maps + n) * h * w..][..h * w], &k[filter(m, n) * 9..][..9], h, w, mirrored, plane, &mut scratch);
            }
        }
    });
}

/// The gradient of [`conv3x3_planes`]'s input from its output's, `dy`: each input plane gets the
/// mirrored taps of every output plane of its image.
pub(crate) fn conv3x3_planes_input_gradient(dy: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
    let out_c = k.len().checked_div(channels * 9).unwrap_or(0);
    assert!(dy.len() == batch * out_c * h * w && k.len() == out_c * channels * 9, "3 × 3 convolution's gradient: {} values for {batch} × {out_c} × {h} × {w}, {} filter values", dy.len(), k.len());
    let mut dx = vec![0.0f32; batch * channels * h * w];
    planes_pass(dy, k, out_c, h, w, true, |c, o| o * channels + c, &mut dx);
    dx
}

/// The gradient of [`conv3x3_planes`]'s filters (`out × channels × 3 × 3`): for each pair of an
/// output and an input map, the taps' sums over the batch. The pairs are spread over the cores,
/// each summed in batch order by one of them: the same bits on any core count.
pub(crate) fn conv3x3_planes_filter_gradient(dy: &[f32], x: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
    let out_c = dy.len().checked_div(batch * h * w).unwrap_or(0);
    assert!(dy.len() == batch * out_c * h * w && x.len() == batch * channels * h * w, "3 × 3 convolution's gradient: {} and {} values for {batch} images of {h} × {w}", dy.len(), x.len());
    let mut dk = vec![0.0f32; out_c * channels * 9];
    for_each_plane_run(&mut dk, 9, x.len() >= PARALLEL_PLANES, |first, run| {
        let mut scratch = Vec::new();
        for (i, g) in run.chunks_mut(9).enumerate() {
            let (o, c) = ((first + i) / channels, (first + i) % channels);
            for b in 0..batch {
                tap_products(&dy[(b * out_c + o) * h * w..][..h * w], &x[(b * channels + c) * h * w..][..h * w], h, w, g, &mut scratch);
            }
        }
    });
    dk
}

// ---------------------------------------------------------------------------------------------
// 1 × 1 convolutions image by image: no column matrix, no layout conversion
// ---------------------------------------------------------------------------------------------

/// Below this many multiply-adds in all, the images' products stay on the calling thread.
const PARALLEL_IMAGES_WORK: usize = 1 << 20;

/// `dst[i] (=|+=) a · b[i]` for each of the matrices `b[i]` (`cols(a) × n`, one after another in
/// `b`), `dst[i]` being `rows(a) × n`: a 1 × 1 convolution's product on `[batch, channels, h, w]`
/// images, where each image already is a `channels × positions` matrix. The images are spread
/// over the cores, each product one `gemm` call whichever thread makes it: the same bits on any
/// core count.
pub(crate) fn matmul_each_image(a: View, b: &[f32], n: usize, dst: &mut [f32], accumulate: bool) {
    let (m, k) = (a.rows, a.cols);
    let images = b.len().checked_div(k * n).unwrap_or(0);
    assert!(b.len() == images * k * n && dst.len() == images * m * n, "matmul per image: {} and {} values for {images} images of {k} × {n} and {m} × {n}", b.len(), dst.len());
    #[cfg(test)]
    MULTIPLY_ADDS.set(MULTIPLY_ADDS.get() + (images * m * k * n) as u64);
    if m * n == 0 {
        return;
    }
    for_each_plane_run(dst, m * n, images * m * k * n >= PARALLEL_IMAGES_WORK, |first, run| {
        for (i, d) in run.chunks_mut(m * n).enumerate() {
            gemm_checked(a, View::new(&b[(first + i) * k * n..][..k * n], k, n), d, 0, n, accumulate);
        }
    });
}

/// `Σ_i a[i] · b[i]ᵀ` over the image pairs `a[i]` (`m × n`) and `b[i]` (`k × n`), one after
/// another in `a` and `b`: a 1 × 1 convolution's weight gradient, `dy · xᵀ` summed over the
/// batch. Each image's product is one `gemm` call, the images spread over the cores, and the
/// products are added in image order: the same bits on any core count.
pub(crate) fn matmul_transposed_sum(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let images = a.len().checked_div(m * n).unwrap_or(0);
    assert!(a.len() == images * m * n && b.len() == images * k * n, "weight gradient per image: {} and {} values for {images} images of {m} × {n} and {k} × {n}", a.len(), b.len());
    #[cfg(test)]
    MULTIPLY_ADDS.set(MULTIPLY_ADDS.get() + (images * m * k * n) as u64);
    let mut sum = vec![0.0f32; m * k];
    if m * k == 0 {
        return sum;
    }
    let mut parts = Scratch::for_overwrite(images * m * k);
    for_each_plane_run(&mut parts, m * k, images * m * k * n >= PARALLEL_IMAGES_WORK, |first, run| {
        for (i, d) in run.chunks_mut(m * k).enumerate() {
            let at = first + i;
            gemm_checked(View::new(&a[at * m * n..][..m * n], m, n), View::new(&b[at * k * n..][..k * n], k, n).t(), d, 0, k, false);
        }
    });
    for part in parts.chunks(m * k) {
        for (s, v) in sum.iter_mut().zip(part) {
            *s += v;
        }
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation over [batch, channels, h, w]: one channel's statistics over its planes
// ---------------------------------------------------------------------------------------------

/// Calls `work(c, plane)` for each of channel `c`'s planes in `x` (`batch × channels` planes of
/// `plane` values), in batch order.
fn channel_planes<'a>(x: &'a [f32], channels: usize, plane: usize, c: usize) -> impl Iterator<Item = &'a [f32]> {
    x.chunks(plane.max(1)).skip(c).step_by(channels.max(1))
}

/// Each channel's mean and (biased) variance over the batch and the positions, as a batch
/// normalisation in training takes them: one read of `x` instead of burn's two, each plane's sums
/// of `x` and `x²` (in eight `f32` lanes) added up in `f64`, and the variance E[x²] − mean². That
/// loses digits where a channel's mean is many times its spread (at a ratio of 1,000, about six
/// of `f32`'s seven); the course's convolutions feed it activations near zero, and the unit test
/// checks a mean of 3 against a spread of about 1 with burn's two-pass result. The channels are
/// spread over the cores, each summed in batch order by one of them: the same bits on any core
/// count.
pub(crate) fn channel_moments(x: &[f32], batch: usize, channels: usize, plane: usize) -> Vec<(f32, f32)> {
    assert!(x.len() == batch * channels * plane && batch * plane > 0, "batch normalisation: {} values for {batch} × {channels} planes of {plane}", x.len());
    let mut moments = vec![(0.0f32, 0.0f32); channels];
    let n = (batch * plane) as f64;
    for_each_plane_run(&mut moments, 1, x.len() >= PARALLEL_PLANES, |first, run| {
        for (i, m) in run.iter_mut().enumerate() {
            let (mut sum, mut squares) = (0.0f64, 0.0f64);
            for p in channel_planes(x, channels, plane, first + i) {
                // f32 partial sums over one plane (at most 32 × 32 values), then f64 across them.
                sum += LaneSum::of(p) as f64;
                let mut sq = LaneSum::default();
                sq.add_products(p, p);
                squares += sq.total() as f64;
            }
            let mean = sum / n;
            *m = (mean as f32, (squares / n - mean * mean).max(0.0) as f32);
        }
    });
    moments
}

/// `y = x · scale[c] + shift[c]` on every plane of channel `c`: a batch normalisation's output
/// once its statistics and parameters are folded into one scale and shift per channel. The
/// planes are spread over the cores.
pub(crate) fn scale_shift_planes(x: &[f32], scale: &[f32], shift: &[f32], plane: usize) -> Vec<f32> {
    let channels = scale.len();
    assert!(shift.len() == channels && channels > 0 && plane > 0 && x.len() % (channels * plane) == 0, "batch normalisation: {} values for planes of {plane} in {channels} channels", x.len());
    let mut y = vec![0.0f32; x.len()];
    for_each_plane_run(&mut y, plane, x.len() >= PARALLEL_PLANES, |first, run| {
        for (p, out) in run.chunks_mut(plane).enumerate() {
            let at = first + p;
            let (a, b) = (scale[at % channels], shift[at % channels]);
            for (o, &v) in out.iter_mut().zip(&x[at * plane..][..plane]) {
                *o = v * a + b;
            }
        }
    });
    y
}

/// The gradients of a batch normalisation in training, `y = γ·x̂ + β` with
/// `x̂ = (x − mean)·inv_std` and the statistics the batch's own: from the output's gradient `dy`,
/// per channel `dβ = Σ dy` and `dγ = Σ dy·x̂`, and
/// `dx = γ·inv_std·(dy − dβ/n − x̂·dγ/n)` (the statistics' own dependence on `x` included).
/// Returns `(dx, dγ, dβ)`. The channels' sums and the planes of `dx` are spread over the cores,
/// each sum in batch order: the same bits on any core count.
pub(crate) fn batch_norm_backward(dy: &[f32], x: &[f32], mean: &[f32], inv_std: &[f32], gamma: &[f32], batch: usize, plane: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = gamma.len();
    assert!(
        dy.len() == batch * channels * plane && x.len() == dy.len() && mean.len() == channels && inv_std.len() == channels && batch * plane > 0,
        "batch normalisation's gradient: {} and {} values for {batch} × {channels} planes of {plane}",
        dy.len(),
        x.len()
    );
    let parallel = x.len() >= PARALLEL_PLANES;
    // (Σ dy, Σ dy·x̂) per channel.
    let mut sums = vec![(0.0f32, 0.0f32); channels];
    for_each_plane_run(&mut sums, 1, parallel, |first, run| {
        for (i, s) in run.iter_mut().enumerate() {
            let c = first + i;
            let (mut d, mut dx_hat) = (0.0f64, 0.0f64);
            for (g, v) in channel_planes(dy, channels, plane, c).zip(channel_planes(x, channels, plane, c)) {
                d += LaneSum::of(g) as f64;
                let mut centred = LaneSum::default();
                centred.add_with(g, v, |g, v| g * (v - mean[c]));
                dx_hat += centred.total() as f64;
            }
            *s = (d as f32, (dx_hat * inv_std[c] as f64) as f32);
        }
    });
    let n = (batch * plane) as f32;
    let mut dx = vec![0.0f32; x.len()];
    for_each_plane_run(&mut dx, plane, parallel, |first, run| {
        for (p, out) in run.chunks_mut(plane).enumerate() {
            let at = first + p;
            let c = at % channels;
            let (scale, (d_beta, d_gamma)) = (gamma[c] * inv_std[c], sums[c]);
            let (mean_dy, projection) = (d_beta / n, d_gamma / n * inv_std[c]);
            for ((o, &g), &v) in out.iter_mut().zip(&dy[at * plane..][..plane]).zip(&x[at * plane..][..plane]) {
                *o = scale * (g - mean_dy - (v - mean[c]) * projection);
            }
        }
    });
    let (d_beta, d_gamma) = sums.into_iter().unzip();
    (dx, d_gamma, d_beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small products (one `gemm` call), large ones split by columns, and narrow ones with a
    /// long inner dimension split into partial sums: each equals the schoolbook product.
    #[test]
    fn matmul_matches_the_schoolbook_product_on_every_path() {
        // Lesson 04's second convolution; a weight gradient (16 × 60,000 × 9); lesson 04's third
        // convolution's weight gradient (64 × 1,568 × 288: four blocks of 72 columns).
        let cases = [(3, 4, 5), (32, 144, 6272), (16, 60_000, 9), (1, 9000, 1000), (64, 1568, 288)];
        // Which path each case takes, so that the test cannot pass without running the blocks.
        let paths: Vec<&str> = cases
            .iter()
            .map(|&(m, k, n)| {
                if m * k * n < PARALLEL_WORK || (n < SPLIT_COLUMNS && k < SPLIT_INNER) {
                    "one call"
                } else if n >= SPLIT_COLUMNS {
                    "columns"
                } else {
                    "inner"
                }
            })
            .collect();
        assert_eq!(paths, ["one call", "columns", "inner", "columns", "columns"]);
        assert_eq!([150, 288, 576, 6272].map(column_blocks), [2, 4, 8, 8]);
        for (m, k, n) in cases {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5).collect();
            let mut dst = vec![1.0f32; m * n];
            matmul(View::new(&a, m, k), View::new(&b, k, n), &mut dst, false);
            for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3)] {
                let expected: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((dst[i * n + j] - expected).abs() < 1e-3 * (1.0 + expected.abs()), "{m}×{k}×{n} at {i},{j}");
            }
            // Transposed operands: (bᵀ aᵀ) = (a b)ᵀ.
            let mut t = vec![0.0f32; n * m];
            matmul(View::new(&b, k, n).t(), View::new(&a, m, k).t(), &mut t, false);
            assert!((t[(n - 1) * m + (m - 1)] - dst[(m - 1) * n + (n - 1)]).abs() < 1e-3);
        }
    }

    /// im2col and col2im are adjoint: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = Geometry { batch: 2, channels: 3, height: 7, width: 6, kernel: 3, stride: 2, pad_top: 1, pad_left: 0, out_h: 4, out_w: 2 };
        let x: Vec<f32> = (0..2 * 3 * 7 * 6).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let c: Vec<f32> = (0..g.col_rows() * g.col_cols()).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let mut col = vec![0.0; c.len()];
        im2col(&x, &g, &mut col);
        let mut back = vec![0.0; x.len()];
        col2im_add(&c, &g, &mut back);
        let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-6, "{lhs} vs {rhs}");
    }

    /// Above [`PARALLEL_COPY`] the copies are split over threads: the same values as one core.
    #[test]
    fn threaded_copies_match_the_single_core_ones() {
        let g = Geometry { batch: 32, channels: 64, height: 14, width: 14, kernel: 5, stride: 2, pad_top: 1, pad_left: 2, out_h: 7, out_w: 7 };
        assert!(g.col_rows() * g.col_cols() >= PARALLEL_COPY);
        let x: Vec<f32> = (0..32 * 64 * 14 * 14).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let (mut threaded, mut single) = (vec![0.0; g.col_rows() * g.col_cols()], vec![0.0; g.col_rows() * g.col_cols()]);
        im2col(&x, &g, &mut threaded);
        im2col_rows(&x, &g, &mut single, 0);
        assert_eq!(threaded, single);
        let (mut back_t, mut back_s) = (vec![0.5; x.len()], vec![0.5; x.len()]);
        col2im_add(&threaded, &g, &mut back_t);
        col2im_batches(&single, &g, &mut back_s, 0..g.batch);
        assert_eq!(back_t, back_s);
    }

    /// The pool keeps the buffers of training steps, frees those of large inference batches, and
    /// never holds more than its cap.
    #[test]
    fn the_scratch_pool_is_capped() {
        // The DCGAN's largest column matrix (10 M values) is kept; lesson 04's 1,000-image
        // predict (28 M) is not; nothing is kept past the total.
        assert!(pool_keeps(0, 10 << 20));
        assert!(!pool_keeps(0, 28 << 20));
        assert!(!pool_keeps(POOL_TOTAL - (1 << 20), 10 << 20));
        assert!(!pool_keeps(0, POOL_MIN - 1));
        let buffers: Vec<Scratch> = (0..8).map(|_| Scratch::zeros(POOL_MAX)).collect();
        drop(buffers);
        assert!(Scratch::pooled() <= POOL_TOTAL, "{} values pooled", Scratch::pooled());
    }

    /// A wrong shape is refused by an always-on check before `gemm` sees a pointer.
    #[test]
    #[should_panic(expected = "matrix view")]
    fn a_view_longer_than_its_slice_is_refused() {
        let short = [0.0f32; 5];
        let _ = View::new(&short, 2, 3);
    }

    #[test]
    #[should_panic(expected = "matmul")]
    fn a_product_of_mismatched_shapes_is_refused() {
        let (a, b) = ([1.0f32; 6], [1.0f32; 6]);
        let mut dst = [0.0f32; 4];
        matmul(View::new(&a, 2, 3), View::new(&b, 2, 3), &mut dst, false);
    }

    #[test]
    fn pooling_picks_the_maximum_and_routes_its_gradient() {
        let x = vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let tiles = Windows::tiled(3, 4, 2);
        let (y, arg) = max_pool_windows(&x, 1, 1, 3, 4, tiles);
        assert_eq!(y, vec![5.0, 9.0]);
        let dx = max_pool_windows_backward(&[1.0, 2.0], &arg, 1, 1, 3, 4, tiles);
        assert_eq!(dx, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    /// Lesson 09's `MaxPooling2D(3, strides=2, padding="same")` on a 4 × 4 plane: windows at 0
    /// and 2, the last cut short by the edge; where windows overlap, both gradients arrive.
    #[test]
    fn overlapping_windows_cut_at_the_edge_pool_and_add_their_gradients() {
        #[rustfmt::skip]
        let x = vec![
            1.0, 2.0, 3.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 7.0, 8.0,
            0.0, 0.0, 0.0, 9.0,
        ];
        let same = Windows::same(4, 4, 3, 2);
        assert_eq!(same.out, (2, 2));
        let (y, arg) = max_pool_windows(&x, 1, 1, 4, 4, same);
        assert_eq!(y, vec![7.0, 8.0, 7.0, 9.0]);
        let dx = max_pool_windows_backward(&[1.0, 2.0, 4.0, 8.0], &arg, 1, 1, 4, 4, same);
        let mut expected = vec![0.0; 16];
        (expected[10], expected[11], expected[15]) = (5.0, 2.0, 8.0);
        assert_eq!(dx, expected);
    }

    #[test]
    fn upsampling_repeats_each_pixel_and_sums_its_gradient() {
        let y = upsample2(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 1, 3);
        assert_eq!(y[..12], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        assert_eq!(y[12..18], [4.0, 4.0, 5.0, 5.0, 6.0, 6.0]);
        let dy: Vec<f32> = (0..24).map(|v| v as f32).collect();
        // Plane 0's first pixel gathers 0, 1, 6 and 7.
        assert_eq!(upsample2_backward(&dy, 2, 1, 3), vec![14.0, 22.0, 30.0, 62.0, 70.0, 78.0]);
    }

    /// The schoolbook depthwise convolution: every output a sum over the 3 × 3 neighbourhood,
    /// zeros outside the plane.
    fn depthwise_by_the_book(x: &[f32], k: &[f32], batch: usize, channels: usize, h: usize, w: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; x.len()];
        for plane in 0..batch * channels {
            let c = plane % channels;
            for i in 0..h as isize {
                for j in 0..w as isize {
                    let mut sum = 0.0f64;
                    for a in 0..3isize {
                        for b in 0..3isize {
                            let (r, s) = (i + a - 1, j + b - 1);
                            if (0..h as isize).contains(&r) && (0..w as isize).contains(&s) {
                                sum += (k[c * 9 + (a * 3 + b) as usize] * x[plane * h * w + (r * w as isize + s) as usize]) as f64;
                            }
                        }
                    }
                    y[plane * h * w + (i * w as isize + j) as usize] = sum as f32;
                }
            }
        }
        y
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    /// The depthwise kernel against the schoolbook sum, and its two gradients against the
    /// definition: ⟨dy, f(x + δ)⟩ is linear in x and in the filters, so the gradient of
    /// L = ⟨dy, y⟩ is exact by summing dy over where each value went. A plane of 1 × 1 and one
    /// large enough to take the threads are both checked.
    #[test]
    fn the_depthwise_kernel_and_its_gradients_match_the_definition() {
        let mut rng = crate::rng::Rng::new(5);
        for (batch, channels, h, w) in [(2, 3, 5, 4), (1, 2, 1, 1), (1, 2, 1, 6), (2, 1, 5, 1), (2, 2, 2, 2), (4, 8, 32, 32)] {
            let n = batch * channels * h * w;
            let x: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let k: Vec<f32> = (0..channels * 9).map(|_| rng.normal() as f32).collect();
            let dy: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            close(&depthwise3x3(&x, &k, batch, channels, h, w), &depthwise_by_the_book(&x, &k, batch, channels, h, w), "forward");
            // dL/dx[p] = Σ_q dy[q] · ∂y[q]/∂x[p]: y is linear in x, so the column p of that
            // Jacobian is the output of the unit image e_p.
            let dx = depthwise3x3_input_gradient(&dy, &k, batch, channels, h, w);
            let dk = depthwise3x3_filter_gradient(&dy, &x, batch, channels, h, w);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
            for p in (0..n).step_by(n / 7 + 1) {
                let mut e = vec![0.0f32; n];
                e[p] = 1.0;
                let want = dot(&dy, &depthwise_by_the_book(&e, &k, batch, channels, h, w));
                assert!((dx[p] as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "dx[{p}]: {} vs {want}", dx[p]);
            }
            for t in 0..channels * 9 {
                let mut e = vec![0.0f32; channels * 9];
                e[t] = 1.0;
                let want = dot(&dy, &depthwise_by_the_book(&x, &e, batch, channels, h, w));
                assert!((dk[t] as f64 - want).abs() <= 1e-3 * (1.0 + want.abs()), "dk[{t}]: {} vs {want}", dk[t]);
            }
        }
    }
}
