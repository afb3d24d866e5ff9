//! Host kernels for the convolutional layers on the CPU: convolution and transposed convolution
//! as one matrix product over the whole batch (im2col), with the bias and the activation fused
//! in, 2×2 max pooling, and their backward passes. [`crate::fused`] hands them to burn's autodiff
//! as custom operations.
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

use crate::layers::Activation;

/// The geometry of one convolution (or of the frame a transposed convolution writes into):
/// an input frame of `height × width` per channel, an output grid of `out_h × out_w` positions,
/// the kernel side, the stride and the top-left padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
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
}

/// The column matrix of `frame` (`[batch, channels, height, width]`): row `(c, ki, kj)`, column
/// `(b, i, j)` holds `frame[b, c, i·stride + ki − pad_top, j·stride + kj − pad_left]`, 0 outside.
pub fn im2col(frame: &[f32], g: &Geometry, col: &mut [f32]) {
    let cols = g.col_cols();
    debug_assert_eq!(col.len(), g.col_rows() * cols);
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

/// [`im2col`] for the rows of `col` from `first_row` on (`block` holds whole rows).
fn im2col_rows(frame: &[f32], g: &Geometry, block: &mut [f32], first_row: usize) {
    let (positions, cols) = (g.out_h * g.out_w, g.col_cols());
    let rows = first_row..first_row + block.len() / cols;
    for c in 0..g.channels {
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let row = (c * g.kernel + ki) * g.kernel + kj;
                if !rows.contains(&row) {
                    continue;
                }
                let out = &mut block[(row - first_row) * cols..(row - first_row + 1) * cols];
                for b in 0..g.batch {
                    let plane = &frame[(b * g.channels + c) * g.height * g.width..][..g.height * g.width];
                    let dst = &mut out[b * positions..(b + 1) * positions];
                    for i in 0..g.out_h {
                        let y = (i * g.stride + ki) as isize - g.pad_top as isize;
                        let line = &mut dst[i * g.out_w..(i + 1) * g.out_w];
                        if y < 0 || y >= g.height as isize {
                            line.fill(0.0);
                            continue;
                        }
                        let src = &plane[y as usize * g.width..(y as usize + 1) * g.width];
                        // Output columns j whose input column j·stride + kj − pad_left is inside
                        // the frame form one run [first, last): zeros before and after it.
                        let offset = kj as isize - g.pad_left as isize;
                        let first = if offset >= 0 { 0 } else { ((-offset) as usize).div_ceil(g.stride) };
                        let last = if (g.width as isize) > offset { (((g.width as isize - offset) as usize).div_ceil(g.stride)).min(g.out_w) } else { 0 };
                        let (first, last) = (first.min(last), last);
                        line[..first].fill(0.0);
                        line[last..].fill(0.0);
                        let start = (first as isize * g.stride as isize + offset) as usize;
                        if g.stride == 1 {
                            line[first..last].copy_from_slice(&src[start..start + (last - first)]);
                        } else {
                            for (v, x) in line[first..last].iter_mut().zip((start..).step_by(g.stride)) {
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
pub fn col2im_add(col: &[f32], g: &Geometry, frame: &mut [f32]) {
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

/// [`col2im_add`] for the images `batches` of the batch; `frame` holds just those.
fn col2im_batches(col: &[f32], g: &Geometry, frame: &mut [f32], batches: std::ops::Range<usize>) {
    let (positions, cols) = (g.out_h * g.out_w, g.col_cols());
    for c in 0..g.channels {
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let row = (c * g.kernel + ki) * g.kernel + kj;
                let src_row = &col[row * cols..(row + 1) * cols];
                for b in batches.clone() {
                    let plane = &mut frame[((b - batches.start) * g.channels + c) * g.height * g.width..][..g.height * g.width];
                    let src = &src_row[b * positions..(b + 1) * positions];
                    for i in 0..g.out_h {
                        let y = (i * g.stride + ki) as isize - g.pad_top as isize;
                        if y < 0 || y >= g.height as isize {
                            continue;
                        }
                        let line = &mut plane[y as usize * g.width..(y as usize + 1) * g.width];
                        let offset = kj as isize - g.pad_left as isize;
                        let first = if offset >= 0 { 0 } else { ((-offset) as usize).div_ceil(g.stride) };
                        let last = if (g.width as isize) > offset { (((g.width as isize - offset) as usize).div_ceil(g.stride)).min(g.out_w) } else { 0 };
                        let first = first.min(last);
                        let start = (first as isize * g.stride as isize + offset) as usize;
                        let values = &src[i * g.out_w + first..i * g.out_w + last];
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
/// that a transposed operand is the same data with the strides swapped.
#[derive(Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> View<'a> {
        debug_assert!(data.len() >= rows * cols);
        View { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// Its transpose (no copy).
    pub fn t(self) -> View<'a> {
        View { data: self.data, rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride }
    }

    /// Columns `start..end` (no copy).
    fn columns(self, start: usize, end: usize) -> View<'a> {
        View { data: &self.data[start * self.col_stride..], cols: end - start, ..self }
    }

    /// Rows `start..end` (no copy).
    fn row_range(self, start: usize, end: usize) -> View<'a> {
        View { data: &self.data[start * self.row_stride..], rows: end - start, ..self }
    }
}

/// The cores the kernels split their products over (at most 8: the course's matrices are small).
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8))
}

/// A zeroed `f32` buffer whose memory comes back to a process-wide pool when it is dropped.
///
/// Why: the column matrices of a convolution are megabytes, allocated and freed several times a
/// step. Fresh large allocations come from the kernel as untouched pages, and the page faults of
/// touching them took a fifth of a DCGAN iteration (`perf`); reused buffers are already mapped.
pub struct Scratch(Vec<f32>);

/// Buffers returned by dropped [`Scratch`]es, at most [`POOL_BUFFERS`] of them.
static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
const POOL_BUFFERS: usize = 32;
/// Smaller buffers are cheap to allocate: they are not pooled.
const POOL_MIN: usize = 1 << 14;

impl Scratch {
    /// `len` zeros, in the smallest pooled buffer that holds them (or a new one).
    pub fn zeros(len: usize) -> Scratch {
        let reused = if len < POOL_MIN {
            None
        } else {
            POOL.lock().ok().and_then(|mut pool| {
                let best = pool.iter().enumerate().filter(|(_, v)| v.capacity() >= len).min_by_key(|(_, v)| v.capacity())?.0;
                Some(pool.swap_remove(best))
            })
        };
        let mut v = reused.unwrap_or_default();
        v.clear();
        v.resize(len, 0.0);
        Scratch(v)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.capacity() < POOL_MIN {
            return;
        }
        if let Ok(mut pool) = POOL.lock() {
            if pool.len() < POOL_BUFFERS {
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
        let mut copy = Scratch::zeros(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} values)", self.0.len())
    }
}

/// Products of fewer multiply-adds than this run on one core (see [`matmul`]).
const PARALLEL_WORK: usize = 8_000_000;

/// `dst (rows(a) × cols(b), row-major) = a · b`, or `+=` with `accumulate`. Large products are
/// split by columns of `b` (or, when the result is narrow, by the inner dimension into partial
/// sums) over the cores.
pub fn matmul(a: View, b: View, dst: &mut [f32], accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert_eq!(k, b.rows);
    debug_assert_eq!(dst.len(), m * n);
    let work = m * k * n;
    // Below about 200³ multiply-adds, starting threads costs more than it saves (measured: the
    // stacked AE's batch-32 products, 2.5 M, took the step from 0.95 to 2.0 ms when threaded;
    // burn-flex draws its line at 192³ too).
    let t = if work < PARALLEL_WORK { 1 } else { threads() };
    if t == 1 || (n < 64 * t && k < 256 * t) {
        gemm_into(a, b, dst, n, accumulate);
        return;
    }
    if n >= 64 * t {
        // Split the result's columns: each thread writes its own block of every row.
        let chunk = n.div_ceil(t);
        std::thread::scope(|s| {
            let dst_ptr = SendPtr(dst.as_mut_ptr());
            for start in (0..n).step_by(chunk) {
                let end = (start + chunk).min(n);
                let b_part = b.columns(start, end);
                s.spawn(move || {
                    let p = dst_ptr;
                    // SAFETY: the threads write disjoint column ranges of `dst`, which outlives
                    // the scope; `gemm` writes through the pointer with row stride `n`.
                    unsafe { gemm_raw(a, b_part, p.0.add(start), n, accumulate) };
                });
            }
        });
    } else {
        // A narrow result with a long inner dimension (a weight gradient): partial products
        // over slices of the inner dimension, then their sum.
        let chunk = k.div_ceil(t);
        let partials: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..k)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(k);
                    let (a_part, b_part) = (a.columns(start, end), b.row_range(start, end));
                    s.spawn(move || {
                        let mut out = vec![0.0f32; m * n];
                        gemm_into(a_part, b_part, &mut out, n, false);
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        if !accumulate {
            dst.fill(0.0);
        }
        for p in partials {
            for (d, v) in dst.iter_mut().zip(p) {
                *d += v;
            }
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint parts of one buffer to scoped threads.
unsafe impl Send for SendPtr {}

fn gemm_into(a: View, b: View, dst: &mut [f32], dst_row_stride: usize, accumulate: bool) {
    // SAFETY: `dst` holds rows(a) rows of `dst_row_stride` values.
    unsafe { gemm_raw(a, b, dst.as_mut_ptr(), dst_row_stride, accumulate) }
}

/// # Safety
/// `dst` must be valid for `rows(a)` rows of stride `dst_row_stride`, `cols(b)` values each.
unsafe fn gemm_raw(a: View, b: View, dst: *mut f32, dst_row_stride: usize, accumulate: bool) {
    // SAFETY: the views' strides and sizes describe memory inside their slices (checked by the
    // callers' shapes), and `dst` as the caller promises.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst,
            1,
            dst_row_stride as isize,
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
pub fn activate(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Linear => {}
        // Branch-free with the course's vectorisable exponential (see crate::loss): both sides
        // computed, the right one kept.
        Activation::Selu => values.iter_mut().for_each(|v| {
            let negative = SELU_LAMBDA * SELU_ALPHA * (crate::loss::exp_f32(v.min(0.0)) - 1.0);
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
        // Softmax needs a whole row; the convolutional layers never end with it (the builder's
        // layers apply it through burn instead).
        Activation::Softmax => {}
    }
}

/// `grad ⊙ activation′`, the derivative taken from the activation's *output* `y` (each of these
/// activations is monotone, so its output determines its slope).
pub fn activation_backward(grad: &mut [f32], y: &[f32], activation: Activation) {
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
pub fn channel_major_to_nchw(src: &[f32], batch: usize, channels: usize, positions: usize, dst: &mut [f32]) {
    for c in 0..channels {
        for b in 0..batch {
            dst[(b * channels + c) * positions..][..positions].copy_from_slice(&src[c * batch * positions + b * positions..][..positions]);
        }
    }
}

/// The inverse of [`channel_major_to_nchw`].
pub fn nchw_to_channel_major(src: &[f32], batch: usize, channels: usize, positions: usize, dst: &mut [f32]) {
    for c in 0..channels {
        for b in 0..batch {
            dst[c * batch * positions + b * positions..][..positions].copy_from_slice(&src[(b * channels + c) * positions..][..positions]);
        }
    }
}

/// 2×2... `pool × pool` max pooling with stride `pool` (a remainder dropped): the output, and for
/// each output the offset of its maximum in the window (for the backward pass).
pub fn max_pool(x: &[f32], batch: usize, channels: usize, h: usize, w: usize, pool: usize) -> (Vec<f32>, Vec<u8>) {
    let (oh, ow) = (h / pool, w / pool);
    let mut y = vec![0.0f32; batch * channels * oh * ow];
    let mut arg = vec![0u8; y.len()];
    if pool == 2 {
        // The course's pooling: two input rows at a time, no branch in the loop.
        for plane in 0..batch * channels {
            let src = &x[plane * h * w..][..h * w];
            for i in 0..oh {
                let (top, bottom) = (&src[2 * i * w..][..w], &src[(2 * i + 1) * w..][..w]);
                let out = &mut y[(plane * oh + i) * ow..][..ow];
                let at = &mut arg[(plane * oh + i) * ow..][..ow];
                for j in 0..ow {
                    let (a, b, c, d) = (top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]);
                    let (m1, i1) = if b > a { (b, 1u8) } else { (a, 0u8) };
                    let (m2, i2) = if d > c { (d, 3u8) } else { (c, 2u8) };
                    let (m, k) = if m2 > m1 { (m2, i2) } else { (m1, i1) };
                    out[j] = m;
                    at[j] = k;
                }
            }
        }
        return (y, arg);
    }
    for plane in 0..batch * channels {
        let src = &x[plane * h * w..][..h * w];
        for i in 0..oh {
            for j in 0..ow {
                let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
                for di in 0..pool {
                    for dj in 0..pool {
                        let v = src[(i * pool + di) * w + j * pool + dj];
                        // NaN propagates as burn's pooling does: it wins.
                        if v > best || v.is_nan() {
                            best = v;
                            at = (di * pool + dj) as u8;
                        }
                    }
                }
                let o = (plane * oh + i) * ow + j;
                y[o] = best;
                arg[o] = at;
            }
        }
    }
    (y, arg)
}

/// The gradient of [`max_pool`]: each output's gradient goes to its maximum.
pub fn max_pool_backward(dy: &[f32], arg: &[u8], batch: usize, channels: usize, h: usize, w: usize, pool: usize) -> Vec<f32> {
    let (oh, ow) = (h / pool, w / pool);
    let mut dx = vec![0.0f32; batch * channels * h * w];
    for plane in 0..batch * channels {
        for i in 0..oh {
            for j in 0..ow {
                let o = (plane * oh + i) * ow + j;
                let (di, dj) = (arg[o] as usize / pool, arg[o] as usize % pool);
                dx[plane * h * w + (i * pool + di) * w + j * pool + dj] += dy[o];
            }
        }
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_the_schoolbook_product_with_and_without_threads() {
        for (m, k, n) in [(3, 4, 5), (32, 144, 6272), (16, 9000, 9)] {
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

    #[test]
    fn pooling_picks_the_maximum_and_routes_its_gradient() {
        let x = vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let (y, arg) = max_pool(&x, 1, 1, 3, 4, 2);
        assert_eq!(y, vec![5.0, 9.0]);
        let dx = max_pool_backward(&[1.0, 2.0], &arg, 1, 1, 3, 4, 2);
        assert_eq!(dx, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
