//! Lesson 03, 패션 MNIST 데이터셋 시각화 AE를 사용한 차원축소 (visualising Fashion-MNIST: dimensionality
//! reduction with an autoencoder): compress the validation images to 30-D codings with the stacked
//! encoder, then to 2-D with t-SNE, and measure how good each 2-D picture is.
//!
//! t-SNE (van der Maaten & Hinton, 2008) places points in 2-D so that neighbours in the original
//! space stay neighbours. This is the Barnes-Hut version (van der Maaten, 2014) with
//! scikit-learn's defaults and optimisation schedule: affinities from the 3·perplexity nearest
//! neighbours, a quadtree that summarises far-away points, early exaggeration, and gradient
//! descent with momentum and per-coordinate gains. [`tsne_exact`] is the O(n²) algorithm it is
//! tested against. [`trustworthiness`] and [`knn_accuracy`] turn "this picture looks better" into
//! numbers.

use crate::data::Matrix;
use crate::error::{CourseError, Result};
use crate::linalg::Pca;
use std::fmt;

crate::config::course_config! {
    /// t-SNE's knobs, with scikit-learn's defaults (`TSNE()` as the slide calls it).
    pub struct TsneConfig {
        /// The effective number of neighbours each point keeps (5 to 50 are usual).
        perplexity / with_perplexity: f64 = 30.0,
        /// Gradient-descent iterations (scikit-learn's `max_iter`).
        iterations / with_iterations: usize = 1000,
        /// Step size; `None` is scikit-learn's "auto": `max(n / early_exaggeration / 4, 50)`.
        learning_rate / with_learning_rate: Option<f64> = None,
        /// How much the affinities are multiplied by during the first iterations, so that
        /// clusters form before they settle.
        early_exaggeration / with_early_exaggeration: f64 = 12.0,
        /// Iterations with exaggeration (and momentum 0.5 instead of 0.8).
        exaggeration_iterations / with_exaggeration_iterations: usize = 250,
        /// Barnes-Hut accuracy: a quadtree cell is summarised when its size seen from the point
        /// is below this angle (0 computes every pair exactly).
        theta / with_theta: f64 = 0.5,
        /// Threads for the neighbour search and the forces (0: all cores).
        threads / with_threads: usize = 0,
        /// `None` starts from the PCA projection (scikit-learn's default, deterministic);
        /// `Some(seed)` from random points, as `TSNE(init="random", random_state=seed)`.
        seed / with_seed: Option<u64> = None,
    }
}

/// A 2-D embedding and how it was reached.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// One 2-D point per input row.
    pub points: Matrix,
    /// The Kullback-Leibler divergence between the input affinities and the embedding's, at the
    /// end (lower is better; comparable between runs on the same data and perplexity).
    pub kl_divergence: f64,
    /// Seconds the whole computation took.
    pub seconds: f64,
}

/// Sparse symmetric affinities `p_ij`, all summing to 1, in compressed rows: the non-zero
/// affinities of point `i` are `columns[offsets[i]..offsets[i + 1]]` with their `values`.
#[derive(Clone, Debug)]
pub(crate) struct Affinities {
    /// Where each point's row starts; `offsets[n]` is the number of non-zeros.
    pub offsets: Vec<usize>,
    /// The neighbour of each non-zero.
    pub columns: Vec<u32>,
    /// The affinity of each non-zero.
    pub values: Vec<f64>,
}

impl Affinities {
    /// Compressed rows from the non-zero affinities `(j, p_ij)` of each point in turn.
    fn from_rows<R: IntoIterator<Item = (usize, f64)>>(rows: impl IntoIterator<Item = R>) -> Affinities {
        let mut affinities = Affinities { offsets: vec![0], columns: Vec::new(), values: Vec::new() };
        for row in rows {
            for (j, p) in row {
                affinities.columns.push(j as u32);
                affinities.values.push(p);
            }
            affinities.offsets.push(affinities.columns.len());
        }
        affinities
    }

    /// The non-zero affinities `(j, p_ij)` of point `i`.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.offsets[i]..self.offsets[i + 1];
        self.columns[range.clone()].iter().map(|&j| j as usize).zip(self.values[range].iter().copied())
    }
}

impl TsneConfig {
    fn check(&self, n: usize) -> Result<()> {
        if n < 4 {
            return Err(CourseError::shape("t-SNE", "at least 4 points", format!("{n}")));
        }
        if !(self.perplexity > 0.0) || self.perplexity >= (n - 1) as f64 {
            return Err(CourseError::bad_config(
                "perplexity",
                format!("must be positive and below the number of points minus one ({}), got {}; 5 to 50 is usual", n - 1, self.perplexity),
            ));
        }
        if self.iterations == 0 {
            return Err(CourseError::bad_config("iterations", "must be at least 1 (scikit-learn uses 1000)"));
        }
        if let Some(lr) = self.learning_rate
            && !(lr > 0.0 && lr.is_finite())
        {
            return Err(CourseError::bad_config("learning_rate", format!("must be positive, got {lr}; leave it None for scikit-learn's automatic value")));
        }
        if !(self.early_exaggeration > 0.0 && self.early_exaggeration.is_finite()) {
            return Err(CourseError::bad_config("early_exaggeration", format!("must be positive, got {}; scikit-learn uses 12", self.early_exaggeration)));
        }
        if !(self.theta >= 0.0 && self.theta < 2.0) {
            return Err(CourseError::bad_config("theta", format!("must be in [0, 2), got {}; 0.5 is usual", self.theta)));
        }
        Ok(())
    }

    fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// Runs `f(i)` for `i in 0..n` on `threads` threads, returning the results in order.
fn parallel_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let chunk = n.div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || (t * chunk..((t + 1) * chunk).min(n)).map(f).collect::<Vec<T>>()))
            .collect();
        // A worker's panic is raised again here, never turned into missing points.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// Summed in four interleaved partial sums, which the compiler keeps in one vector register
/// (one running sum would make every addition wait for the previous one).
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 4;
    let mut sums = [0.0f64; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            sums[l] += ((x[l] - y[l]) as f64).powi(2);
        }
    }
    sums.iter().sum::<f64>() + tail
}

/// The `k` nearest neighbours of every row (excluding itself), with squared distances, nearest
/// first, ties by index. Memory: the `k` neighbours of each row, plus a scratch row per thread.
///
/// Up to [`BLOCKED_KNN_MIN`] points every distance is computed in `f64`, pair by pair. Above it,
/// the distances of a block of rows to all points come from one matrix product
/// (`|a − b|² = |a|² + |b|² − 2 a·b`, in `f32`), which is several times faster; the
/// [`KNN_MARGIN`] extra candidates it keeps per row are then measured in `f64` as the small case
/// measures them, so that rounding in the product cannot change which `k` are kept except
/// between candidates within `f32` rounding of each other.
pub(crate) fn nearest_neighbours(x: &Matrix, k: usize, threads: usize) -> Vec<Vec<(usize, f64)>> {
    let k = k.min(x.rows.saturating_sub(1));
    if x.rows <= BLOCKED_KNN_MIN {
        return parallel_map(x.rows, threads, |i| {
            let xi = x.at(i);
            let candidates = (0..x.rows).filter(|&j| j != i).map(|j| (j, squared_distance(xi, x.at(j))));
            nearest_of(candidates.collect(), k)
        });
    }
    let (n, dims) = (x.rows, x.cols);
    let norms: Vec<f32> = (0..n).map(|i| x.at(i).iter().map(|v| v * v).sum()).collect();
    let all = crate::engine::kernels::View::new(&x.data, n, dims).t();
    let mut out = Vec::with_capacity(n);
    let mut products = vec![0.0f32; KNN_BLOCK * n];
    for start in (0..n).step_by(KNN_BLOCK) {
        let rows = KNN_BLOCK.min(n - start);
        let block = crate::engine::kernels::View::new(&x.data[start * dims..(start + rows) * dims], rows, dims);
        // [rows × n] dot products, split over the cores by the product itself.
        crate::engine::kernels::matmul(block, all, &mut products[..rows * n], false);
        let products = &products;
        out.extend(parallel_map(rows, threads, |r| {
            let i = start + r;
            let dots = &products[r * n..(r + 1) * n];
            let approx: Vec<(usize, f64)> = (0..n).filter(|&j| j != i).map(|j| (j, (norms[i] + norms[j] - 2.0 * dots[j]) as f64)).collect();
            let xi = x.at(i);
            let exact = nearest_of(approx, k + KNN_MARGIN).into_iter().map(|(j, _)| (j, squared_distance(xi, x.at(j)))).collect();
            nearest_of(exact, k)
        }));
    }
    out
}

/// See `nearest_neighbours`: the point count above which distances come from matrix products.
pub const BLOCKED_KNN_MIN: usize = 10_000;
/// Rows per matrix product of the blocked search (its scratch is `KNN_BLOCK × n` values).
const KNN_BLOCK: usize = 256;
/// Extra candidates the blocked search keeps before measuring them exactly.
const KNN_MARGIN: usize = 16;

/// The `k` nearest of `candidates` `(index, squared distance)`, nearest first, ties by index,
/// in a vector of exactly that size.
fn nearest_of(mut candidates: Vec<(usize, f64)>, k: usize) -> Vec<(usize, f64)> {
    let order = |a: &(usize, f64), b: &(usize, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if k < candidates.len() {
        candidates.select_nth_unstable_by(k, order);
    }
    let mut nearest = candidates[..k.min(candidates.len())].to_vec();
    nearest.sort_unstable_by(order);
    nearest
}

/// The conditional affinities of one point to its neighbours: a Gaussian whose width is found by
/// binary search so that its perplexity (2^entropy) is `perplexity` (scikit-learn's
/// `_binary_search_perplexity`).
fn conditional_affinities(distances: &[f64], perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
    let mut p = vec![0.0; distances.len()];
    for _ in 0..100 {
        let mut sum = 0.0;
        for (pj, &d) in p.iter_mut().zip(distances) {
            *pj = (-d * beta).exp();
            sum += *pj;
        }
        let sum = sum.max(1e-8);
        let mut weighted = 0.0;
        for (pj, &d) in p.iter_mut().zip(distances) {
            *pj /= sum;
            weighted += d * *pj;
        }
        let entropy = sum.ln() + beta * weighted;
        let diff = entropy - target;
        if diff.abs() <= 1e-5 {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_infinite() { beta * 2.0 } else { (beta + hi) / 2.0 };
        } else {
            hi = beta;
            beta = if lo.is_infinite() { beta / 2.0 } else { (beta + lo) / 2.0 };
        }
    }
    p
}

/// Joint affinities from the `k` nearest neighbours: conditional affinities, symmetrised
/// (`p_ij = (p_j|i + p_i|j) / 2n`). `k = n − 1` gives the exact affinities.
pub(crate) fn affinities(x: &Matrix, perplexity: f64, k: usize, threads: usize) -> Affinities {
    let n = x.rows;
    let knn = nearest_neighbours(x, k, threads);
    let conditional: Vec<Vec<(usize, f64)>> = parallel_map(n, threads, |i| {
        let d: Vec<f64> = knn[i].iter().map(|&(_, d)| d).collect();
        knn[i].iter().map(|&(j, _)| j).zip(conditional_affinities(&d, perplexity)).collect()
    });
    drop(knn);
    // p_j|i + p_i|j as compressed rows: each conditional affinity goes into row i and row j, then
    // each row is sorted and its duplicates (pairs that are neighbours both ways) summed.
    let mut counts = vec![0usize; n + 1];
    for (i, row) in conditional.iter().enumerate() {
        counts[i] += row.len();
        for &(j, _) in row {
            counts[j] += 1;
        }
    }
    let mut offsets = vec![0usize; n + 1];
    for i in 0..n {
        offsets[i + 1] = offsets[i] + counts[i];
    }
    let mut fill = offsets.clone();
    let mut entries = vec![(0u32, 0.0f64); offsets[n]];
    for (i, row) in conditional.iter().enumerate() {
        for &(j, p) in row {
            entries[fill[i]] = (j as u32, p);
            fill[i] += 1;
            entries[fill[j]] = (i as u32, p);
            fill[j] += 1;
        }
    }
    drop(conditional);
    let mut total = 0.0;
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n);
    for i in 0..n {
        let row = &mut entries[offsets[i]..offsets[i + 1]];
        row.sort_unstable_by_key(|e| e.0);
        let mut merged: Vec<(usize, f64)> = Vec::with_capacity(row.len());
        for &(j, p) in row.iter() {
            match merged.last_mut() {
                Some(last) if last.0 == j as usize => last.1 += p,
                _ => merged.push((j as usize, p)),
            }
        }
        // One running sum over all values in row order, as before this was sparse (the
        // lesson's pinned embedding depends on the rounding).
        for e in &merged {
            total += e.1;
        }
        rows.push(merged);
    }
    let total = total.max(f64::MIN_POSITIVE);
    Affinities::from_rows(rows.into_iter().map(|row| row.into_iter().map(move |(j, p)| (j, p / total))))
}

/// A quadtree over the embedding, each cell knowing how many points it holds and their centre of
/// mass, so that a far cell acts as one heavy point. It is built over the points sorted along
/// the Z-order (Morton) curve, where every cell's points are one run: building it is a sort and
/// a few binary searches, and consecutive points are close together, which the repulsion's
/// groups use. Cells of at most LEAF points are not split (their points are used one by one).
#[derive(Default)]
struct QuadTree {
    nodes: Vec<Node>,
    /// The Z-order key of each point with its index in the input, sorted.
    keys: Vec<(u32, u32)>,
    /// The points in Z order.
    points: Vec<[f64; 2]>,
}

/// 40 bytes: the whole tree of 5,000 points stays in the CPU caches.
#[derive(Clone, Copy, Default)]
struct Node {
    /// The centre of mass.
    mx: f64,
    my: f64,
    /// Half the cell's width.
    half: f64,
    /// The cell's points are `points[start..start + count]`.
    start: u32,
    count: u32,
    /// The non-empty children are `nodes[first_child..first_child + children]`; none for a leaf.
    first_child: u32,
    children: u32,
}

/// The most points a cell holds without being split. Measured on the lesson's 5,000 codings
/// (seconds for the whole t-SNE): 1 point 4.9, 4 points 4.1, 8 points 3.9, 16 points 3.7,
/// 32 points 4.0.
const LEAF: usize = 16;

/// Bits of each coordinate in a Z-order key: cells are split 16 times at most.
const LEVELS: u32 = 16;

impl QuadTree {
    /// Rebuilds the tree over `y`, reusing its storage (the optimisation rebuilds it on every
    /// iteration).
    fn rebuild(&mut self, y: &[[f64; 2]]) {
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        // A square, so that every cell is one; slightly wider than the points so that the
        // largest coordinate quantises inside it.
        let width = (max[0] - min[0]).max(max[1] - min[1]).max(1e-9) * (1.0 + 1e-9);
        let scale = (1u32 << LEVELS) as f64 / width;
        // Spreads the 16 bits of v to the even bits of a u32.
        let spread_bits = |v: u32| {
            let mut v = v & 0xFFFF;
            v = (v | (v << 8)) & 0x00FF_00FF;
            v = (v | (v << 4)) & 0x0F0F_0F0F;
            v = (v | (v << 2)) & 0x3333_3333;
            (v | (v << 1)) & 0x5555_5555
        };
        self.keys.clear();
        self.keys.extend(y.iter().enumerate().map(|(i, p)| {
            let qx = ((p[0] - min[0]) * scale) as u32;
            let qy = ((p[1] - min[1]) * scale) as u32;
            (spread_bits(qx) | (spread_bits(qy) << 1), i as u32)
        }));
        self.keys.sort_unstable();
        self.points.clear();
        self.points.extend(self.keys.iter().map(|&(_, i)| y[i as usize]));
        self.nodes.clear();
        self.nodes.push(Node::default());
        self.build(0, 0, y.len(), 0, width / 2.0);
    }

    /// Fills node `node`, the cell of `points[start..end]` at depth `level`, and its subtree.
    fn build(&mut self, node: usize, start: usize, end: usize, level: u32, half: f64) {
        let count = end - start;
        let mut cell = Node { half, start: start as u32, count: count as u32, ..Node::default() };
        if count <= LEAF || level == LEVELS {
            for p in &self.points[start..end] {
                cell.mx += p[0];
                cell.my += p[1];
            }
        } else {
            // The two key bits of this level say in which quarter of the cell a point lies; the
            // points of each quarter are consecutive.
            let shift = 2 * (LEVELS - 1 - level);
            let run = &self.keys[start..end];
            let mut bounds = [start, 0, 0, 0, end];
            for quarter in 1..4 {
                bounds[quarter] = start + run.partition_point(|&(key, _)| (key >> shift) & 3 < quarter as u32);
            }
            let quarters: Vec<(usize, usize)> = bounds.windows(2).map(|b| (b[0], b[1])).filter(|(a, b)| a < b).collect();
            cell.first_child = self.nodes.len() as u32;
            cell.children = quarters.len() as u32;
            self.nodes.resize(self.nodes.len() + quarters.len(), Node::default());
            for (c, &(a, b)) in quarters.iter().enumerate() {
                let child = cell.first_child as usize + c;
                self.build(child, a, b, level + 1, half / 2.0);
                cell.mx += self.nodes[child].mx * self.nodes[child].count as f64;
                cell.my += self.nodes[child].my * self.nodes[child].count as f64;
            }
        }
        cell.mx /= count.max(1) as f64;
        cell.my /= count.max(1) as f64;
        self.nodes[node] = cell;
    }

    /// Splits the tree, for a group of points inside the disc of centre `(gx, gy)` and radius
    /// `radius`, into `far` cells (both the cell and the group are small seen from each other:
    /// `max(cell width, group diameter) < θ · distance`) and `near` cells (cells that pass the
    /// usual Barnes-Hut test for every point of the group, and the points of leaves that do
    /// not), each as `(x, y, count)`.
    ///
    /// Far cells act on the whole group through a first-order expansion about the group's centre
    /// (one evaluation per group instead of one per point, in the spirit of the fast multipole
    /// method); near cells act on each point exactly. With θ = 0 nothing is far: exact t-SNE.
    fn interaction_lists(&self, gx: f64, gy: f64, radius: f64, theta2: f64, stack: &mut Vec<u32>, far: &mut Vec<[f64; 3]>, near: &mut Cells) {
        far.clear();
        near.clear();
        stack.clear();
        stack.push(0);
        let diameter2 = 4.0 * radius * radius;
        // Infinite for θ = 0: no cell passes the test below.
        let inverse_theta = 1.0 / theta2.sqrt();
        while let Some(i) = stack.pop() {
            let n = &self.nodes[i as usize];
            let (dx, dy) = (gx - n.mx, gy - n.my);
            let d2 = dx * dx + dy * dy;
            let width = 2.0 * n.half;
            // A cell that passes the usual test (width < θ·distance) seen from the group's edge
            // passes it seen from every point of the group: distance − radius > width / θ,
            // squared to save a square root.
            let reach = radius + width * inverse_theta;
            if (width * width).max(diameter2) < theta2 * d2 {
                far.push([n.mx, n.my, n.count as f64]);
            } else if d2 > reach * reach {
                near.push(n.mx, n.my, n.count as f64);
            } else if n.children == 0 {
                for p in &self.points[n.start as usize..(n.start + n.count) as usize] {
                    near.push(p[0], p[1], 1.0);
                }
            } else {
                stack.extend(n.first_child..n.first_child + n.children);
            }
        }
    }
}

/// Cells `(x, y, count)` as three columns, so that the near-field loop runs over them in SIMD
/// lanes.
#[derive(Default)]
struct Cells {
    x: Vec<f64>,
    y: Vec<f64>,
    m: Vec<f64>,
}

impl Cells {
    fn clear(&mut self) {
        self.x.clear();
        self.y.clear();
        self.m.clear();
    }

    fn push(&mut self, x: f64, y: f64, m: f64) {
        self.x.push(x);
        self.y.push(y);
        self.m.push(m);
    }
}

/// The affinities with each pair once (`i < j`): the attraction between two points is
/// symmetric, so each pair's force is computed once and applied to both. `rows[t]` are the rows
/// of part `t`, split so that every part gets about as many pairs. There are always [`PARTS`]
/// parts, whatever the core count, and their sums are added in part order: the same points on
/// one core or eight.
struct Pairs {
    upper: Affinities,
    rows: Vec<std::ops::Range<usize>>,
}

impl Pairs {
    fn new(p: &Affinities) -> Pairs {
        let n = p.offsets.len() - 1;
        let upper = Affinities::from_rows((0..n).map(|i| p.row(i).filter(move |&(j, _)| j > i)));
        let threads = PARTS;
        let per_thread = upper.columns.len().div_ceil(threads).max(1);
        let mut rows = Vec::with_capacity(threads);
        let mut start = 0;
        for t in 0..threads {
            let end = if t + 1 == threads { n } else { upper.offsets.partition_point(|&o| o < (t + 1) * per_thread).min(n) };
            rows.push(start..end.max(start));
            start = end.max(start);
        }
        Pairs { upper, rows }
    }

    /// Adds the attraction `p_ij·w_ij·(y_i − y_j)` of the pairs of `rows` to both points of each.
    fn attract(&self, y: &[[f64; 2]], rows: std::ops::Range<usize>, forces: &mut [[f64; 2]]) {
        for i in rows {
            let [yx, yy] = y[i];
            let (mut ax, mut ay) = (0.0, 0.0);
            for (j, pij) in self.upper.row(i) {
                let (dx, dy) = (yx - y[j][0], yy - y[j][1]);
                let pw = pij / (1.0 + dx * dx + dy * dy);
                ax += pw * dx;
                ay += pw * dy;
                forces[j][0] -= pw * dx;
                forces[j][1] -= pw * dy;
            }
            forces[i][0] += ax;
            forces[i][1] += ay;
        }
    }
}

/// How many parts the gradient's work is cut into (at most this many cores are used).
const PARTS: usize = 8;

/// The t-SNE gradient with Barnes-Hut repulsion (`theta = 0`: exact), and the normalisation `Z`,
/// its [`PARTS`] parts computed on `threads` threads.
fn gradient(pairs: &Pairs, y: &[[f64; 2]], exaggeration: f64, theta: f64, tree: &mut QuadTree, threads: usize) -> (Vec<[f64; 2]>, f64) {
    let n = y.len();
    tree.rebuild(y);
    let tree = &*tree;
    let theta2 = theta * theta;
    // Groups of GROUP consecutive points along the tree's Z order are close together; each
    // group walks the tree once, and the far field is computed once per group.
    let order: Vec<usize> = tree.keys.iter().map(|&(_, i)| i as usize).collect();
    let groups: Vec<&[usize]> = order.chunks(GROUP).collect();
    // Each part takes a run of groups, whose repulsion it returns, and a run of pairs, whose
    // attraction it sums over all points.
    let parts = pairs.rows.len();
    let groups_per_thread = groups.len().div_ceil(parts);
    let per_thread = parallel_map(parts, threads, |t| {
        let (mut stack, mut far, mut near) = (Vec::<u32>::new(), Vec::<[f64; 3]>::new(), Cells::default());
        let mut repulsion = Vec::with_capacity(groups_per_thread * GROUP);
        for members in groups.iter().skip(t * groups_per_thread).take(groups_per_thread) {
            group_repulsion(y, tree, members, theta2, (&mut stack, &mut far, &mut near), &mut repulsion);
        }
        let mut attraction = vec![[0.0; 2]; n];
        pairs.attract(y, pairs.rows[t].clone(), &mut attraction);
        (repulsion, attraction)
    });
    let mut repulsion = vec![[0.0; 3]; n];
    let mut attraction = vec![[0.0; 2]; n];
    for (thread_repulsion, thread_attraction) in per_thread {
        for (i, r) in thread_repulsion {
            repulsion[i] = r;
        }
        for (sum, a) in attraction.iter_mut().zip(thread_attraction) {
            sum[0] += a[0];
            sum[1] += a[1];
        }
    }
    let z: f64 = repulsion.iter().map(|r| r[2]).sum::<f64>().max(f64::MIN_POSITIVE);
    let grad = attraction.iter().zip(&repulsion).map(|(a, r)| [4.0 * (exaggeration * a[0] - r[0] / z), 4.0 * (exaggeration * a[1] - r[1] / z)]).collect();
    (grad, z)
}

/// Points per group of the repulsion (see [`gradient`]). Measured on the lesson's 5,000 codings
/// with the plain quadtree: 13.3 s with groups of 1 (plain Barnes-Hut), 9.0 s with 8, 8.6 s with
/// 16, 10.4 s with 32; with the tree and loops of today, 8, 16 and 32 all take 3.6-3.9 s.
const GROUP: usize = 16;

/// The repulsion `[rx, ry, z]` of each point of one group, appended to `out` with the point's
/// index.
fn group_repulsion(
    y: &[[f64; 2]],
    tree: &QuadTree,
    members: &[usize],
    theta2: f64,
    (stack, far, near): (&mut Vec<u32>, &mut Vec<[f64; 3]>, &mut Cells),
    out: &mut Vec<(usize, [f64; 3])>,
) {
    let (mut gx, mut gy) = (0.0, 0.0);
    for &i in members {
        gx += y[i][0];
        gy += y[i][1];
    }
    let (gx, gy) = (gx / members.len() as f64, gy / members.len() as f64);
    let radius = members.iter().map(|&i| ((y[i][0] - gx).powi(2) + (y[i][1] - gy).powi(2)).sqrt()).fold(0.0, f64::max);
    tree.interaction_lists(gx, gy, radius, theta2, stack, far, near);
    // The far field at the group's centre, and its first derivatives: for a cell of `m`
    // points at offset r = g − c, w = 1/(1 + |r|²): z = m·w, F = m·w²·r,
    // ∂z/∂g = −2·m·w²·r, ∂F/∂g = m·(w²·I − 4·w³·r·rᵀ).
    let (mut z0, mut zx, mut zy, mut fx0, mut fy0, mut jxx, mut jxy, mut jyy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &[cx, cy, m] in far.iter() {
        let (rx, ry) = (gx - cx, gy - cy);
        let w = 1.0 / (1.0 + rx * rx + ry * ry);
        let (mw, mw2) = (m * w, m * w * w);
        let mw3 = mw2 * w;
        z0 += mw;
        zx -= 2.0 * mw2 * rx;
        zy -= 2.0 * mw2 * ry;
        fx0 += mw2 * rx;
        fy0 += mw2 * ry;
        jxx += mw2 - 4.0 * mw3 * rx * rx;
        jxy -= 4.0 * mw3 * rx * ry;
        jyy += mw2 - 4.0 * mw3 * ry * ry;
    }
    // The near field of every member at once; the last group may be short: its spare lanes
    // repeat its last point and are dropped.
    let (mut px, mut py) = ([0.0; GROUP], [0.0; GROUP]);
    for k in 0..GROUP {
        let i = members[k.min(members.len() - 1)];
        (px[k], py[k]) = (y[i][0], y[i][1]);
    }
    let [nz, nx, ny] = near_repulsion(&px, &py, near);
    out.extend(members.iter().enumerate().map(|(k, &i)| {
        // The far field expanded about the group's centre, plus the near cells.
        let (ex, ey) = (y[i][0] - gx, y[i][1] - gy);
        let z = z0 + zx * ex + zy * ey + nz[k];
        let rx = fx0 + jxx * ex + jxy * ey + nx[k];
        let ry = fy0 + jxy * ex + jyy * ey + ny[k];
        (i, [rx, ry, z])
    }));
}

/// `[Σ m·w, Σ m·w²·dx, Σ m·w²·dy]` over the `near` cells seen from each of the points
/// `(px[k], py[k])`, where a point at distance 0 (the point itself) counts for nothing.
///
/// This loop is most of the t-SNE's time. Its inner loop runs over the group's points, each
/// with its own sums, so the compiler vectorises it without reordering any sum (the result is
/// the same bit for bit whatever the vector width); with AVX2, present on most x86-64 CPUs but
/// not in the baseline Rust compiles for, the lanes are twice as wide.
fn near_repulsion(px: &[f64; GROUP], py: &[f64; GROUP], near: &Cells) -> [[f64; GROUP]; 3] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { near_repulsion_avx2(px, py, near) };
    }
    near_repulsion_lanes(px, py, near)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn near_repulsion_avx2(px: &[f64; GROUP], py: &[f64; GROUP], near: &Cells) -> [[f64; GROUP]; 3] {
    near_repulsion_lanes(px, py, near)
}

#[inline(always)]
fn near_repulsion_lanes(px: &[f64; GROUP], py: &[f64; GROUP], near: &Cells) -> [[f64; GROUP]; 3] {
    let (mut z, mut fx, mut fy) = ([0.0; GROUP], [0.0; GROUP], [0.0; GROUP]);
    for ((&cx, &cy), &m) in near.x.iter().zip(&near.y).zip(&near.m) {
        for k in 0..GROUP {
            let (dx, dy) = (px[k] - cx, py[k] - cy);
            let d2 = dx * dx + dy * dy;
            let w = 1.0 / (1.0 + d2);
            let mw = if d2 > 0.0 { m * w } else { 0.0 };
            z[k] += mw;
            fx[k] += mw * w * dx;
            fy[k] += mw * w * dy;
        }
    }
    [z, fx, fy]
}

/// `KL(P ‖ Q)` over the non-zero affinities, with `Q`'s normalisation `z`.
fn kl_divergence(p: &Affinities, y: &[[f64; 2]], z: f64) -> f64 {
    let mut kl = 0.0;
    for i in 0..y.len() {
        for (j, pij) in p.row(i) {
            let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
            let q = (1.0 / (1.0 + dx * dx + dy * dy) / z).max(1e-12);
            kl += pij * (pij.max(1e-12) / q).ln();
        }
    }
    kl
}

/// scikit-learn's start: PCA to 2-D, scaled so the first coordinate has standard deviation 1e-4.
fn pca_start(x: &Matrix) -> Result<Vec<[f64; 2]>> {
    let y = Pca::fit(x, 2)?.transform(x)?;
    let n = y.rows as f64;
    let mean = (0..y.rows).map(|i| y.at(i)[0] as f64).sum::<f64>() / n;
    let std = ((0..y.rows).map(|i| (y.at(i)[0] as f64 - mean).powi(2)).sum::<f64>() / n).sqrt().max(1e-12);
    Ok((0..y.rows).map(|i| [y.at(i)[0] as f64 / std * 1e-4, y.at(i)[1] as f64 / std * 1e-4]).collect())
}

/// Gradient descent with momentum and gains, scikit-learn's schedule; returns the points and
/// the final KL divergence.
fn optimise(p: &Affinities, mut y: Vec<[f64; 2]>, config: &TsneConfig, theta: f64) -> (Vec<[f64; 2]>, f64) {
    let n = y.len();
    let threads = config.thread_count();
    let lr = config.learning_rate.unwrap_or_else(|| (n as f64 / config.early_exaggeration / 4.0).max(50.0));
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let mut tree = QuadTree::default();
    let pairs = Pairs::new(p);
    for it in 0..config.iterations {
        let early = it < config.exaggeration_iterations;
        let (exaggeration, momentum) = if early { (config.early_exaggeration, 0.5) } else { (1.0, 0.8) };
        let (grad, _) = gradient(&pairs, &y, exaggeration, theta, &mut tree, threads);
        for i in 0..n {
            for k in 0..2 {
                let g = grad[i][k];
                // Grow the step where the gradient keeps its direction, shrink it where it flips.
                gains[i][k] = if update[i][k] * g < 0.0 { gains[i][k] + 0.2 } else { (gains[i][k] * 0.8).max(0.01) };
                update[i][k] = momentum * update[i][k] - lr * gains[i][k] * g;
                y[i][k] += update[i][k];
            }
        }
    }
    let (_, z) = gradient(&pairs, &y, 1.0, theta, &mut tree, threads);
    let kl = kl_divergence(p, &y, z);
    (y, kl)
}

/// The starting points: PCA's projection, or seeded random points of standard deviation 1e-4.
fn starting_points(x: &Matrix, config: &TsneConfig) -> Result<Vec<[f64; 2]>> {
    match config.seed {
        None => pca_start(x),
        Some(seed) => {
            let mut rng = crate::rng::Rng::new(seed);
            Ok((0..x.rows).map(|_| [1e-4 * rng.normal(), 1e-4 * rng.normal()]).collect())
        }
    }
}

fn to_matrix(y: &[[f64; 2]]) -> Matrix {
    Matrix { rows: y.len(), cols: 2, data: y.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect() }
}

/// Bytes a t-SNE of `n` points with `k` neighbours each holds at its peak (the affinities' build:
/// neighbour lists, conditional affinities, both directions of each, the compressed rows), plus
/// the blocked neighbour search's scratch and the optimiser's per-point arrays.
fn tsne_bytes(n: usize, k: usize) -> u64 {
    let (n, k) = (n as u64, k as u64);
    let per_pair = 16 + 16 + 2 * 16 + 2 * 16 + 2 * 12;
    n * k * per_pair + if n as usize > BLOCKED_KNN_MIN { KNN_BLOCK as u64 * n * 4 } else { 0 } + n * 256
}

/// Refuses, before anything is allocated, a computation that needs more memory than the machine
/// has available: a kernel killed by the system loses every variable of the notebook.
fn check_memory(what: &str, needed: u64, smaller: &str) -> Result<()> {
    let Some(available) = available_memory() else { return Ok(()) };
    // Leave a quarter of what is free to the rest of the notebook and the system.
    if needed > available / 4 * 3 {
        let gb = |b: u64| b as f64 / 1e9;
        return Err(CourseError::bad_config(
            what,
            format!("needs about {:.1} GB, and this machine has {:.1} GB available; {smaller}", gb(needed), gb(available)),
        ));
    }
    Ok(())
}

/// `MemAvailable` of `/proc/meminfo` (Linux), in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Barnes-Hut t-SNE of the rows of `x` to 2-D (the slide's `TSNE().fit_transform(X)`).
///
/// Memory grows linearly with the number of points: all 55,000 training codings peaked at
/// 361 MB (`cargo bench --bench tsne`, about 6.6 KB a point at the default perplexity; openTSNE
/// 493 MB in the same run). A run that would not fit in the memory available is refused before
/// it starts; the estimate that decides (`tsne_bytes`, about 11 KB a point) errs on the high side.
pub fn tsne(x: &Matrix, config: &TsneConfig) -> Result<Embedding> {
    x.check()?;
    config.check(x.rows)?;
    let start = std::time::Instant::now();
    let k = ((3.0 * config.perplexity + 1.0) as usize).min(x.rows - 1);
    check_memory("t-SNE", tsne_bytes(x.rows, k), "embed a subsample, such as the first 10,000 rows (`x.head(10_000)`)")?;
    let p = affinities(x, config.perplexity, k, config.thread_count());
    let (y, kl) = optimise(&p, starting_points(x, config)?, config, config.theta);
    Ok(Embedding { points: to_matrix(&y), kl_divergence: kl, seconds: start.elapsed().as_secs_f64() })
}

/// Exact t-SNE: affinities to every other point and every pairwise force. O(n²) per iteration,
/// for small inputs and as the reference [`tsne`] is tested against.
pub fn tsne_exact(x: &Matrix, config: &TsneConfig) -> Result<Embedding> {
    x.check()?;
    config.check(x.rows)?;
    check_memory("exact t-SNE", tsne_bytes(x.rows, x.rows - 1), "use the Barnes-Hut `tsne`, or fewer points")?;
    let start = std::time::Instant::now();
    let p = affinities(x, config.perplexity, x.rows - 1, config.thread_count());
    let (y, kl) = optimise(&p, starting_points(x, config)?, config, 0.0);
    Ok(Embedding { points: to_matrix(&y), kl_divergence: kl, seconds: start.elapsed().as_secs_f64() })
}

/// How well a low-dimensional embedding keeps the `k` nearest neighbours of the original data:
/// 1 when every embedded neighbour is also an original neighbour, lower when points that were
/// far apart come close (Venna & Kaski, 2001; scikit-learn's `trustworthiness`).
pub fn trustworthiness(original: &Matrix, embedded: &Matrix, k: usize) -> Result<f64> {
    let n = original.rows;
    if embedded.rows != n {
        return Err(CourseError::shape("trustworthiness", format!("{n} embedded points"), format!("{}", embedded.rows)));
    }
    if k == 0 || 2 * k >= n {
        return Err(CourseError::bad_config("k", format!("must be at least 1 and below half the number of points ({n}), got {k}")));
    }
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let low = nearest_neighbours(embedded, k, threads);
    let penalties: Vec<f64> = parallel_map(n, threads, |i| {
        // The rank (1 = nearest) in the original space of each of i's embedded neighbours.
        let xi = original.at(i);
        let d: Vec<f64> = (0..n).map(|j| if j == i { f64::INFINITY } else { squared_distance(xi, original.at(j)) }).collect();
        low[i]
            .iter()
            .map(|&(j, _)| {
                let rank = d.iter().enumerate().filter(|&(m, &dm)| dm < d[j] || (dm == d[j] && m < j)).count() + 1;
                (rank as f64 - k as f64).max(0.0)
            })
            .sum()
    });
    let (n, k) = (n as f64, k as f64);
    Ok(1.0 - penalties.iter().sum::<f64>() * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
}

/// Leave-one-out `k`-nearest-neighbour classification accuracy in `points`: how often the
/// majority class of a point's `k` nearest neighbours is its own class. A picture where classes
/// form clean clusters scores high.
pub fn knn_accuracy(points: &Matrix, labels: &[u8], k: usize) -> Result<f64> {
    if labels.len() != points.rows {
        return Err(CourseError::shape("knn_accuracy", format!("one label per point ({})", points.rows), format!("{}", labels.len())));
    }
    if k == 0 || k >= points.rows {
        return Err(CourseError::bad_config("k", format!("must be between 1 and the number of points minus one, got {k}")));
    }
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let knn = nearest_neighbours(points, k, threads);
    let correct = knn
        .iter()
        .enumerate()
        .filter(|(i, neighbours)| {
            let mut votes = [0usize; 256];
            for &(j, _) in neighbours.iter() {
                votes[labels[j] as usize] += 1;
            }
            // Ties go to the class of the nearest neighbour among the tied classes.
            let best = *votes.iter().max().unwrap_or(&0);
            let winner = neighbours.iter().map(|&(j, _)| labels[j]).find(|&l| votes[l as usize] == best);
            winner == Some(labels[*i])
        })
        .count();
    Ok(correct as f64 / points.rows as f64)
}

/// One 2-D picture of the data and its two quality figures.
#[derive(Clone, Debug)]
pub struct EmbeddingQuality {
    /// What was embedded, and how.
    pub name: String,
    /// Trustworthiness with `k` neighbours, against the space the picture was made from.
    pub trustworthiness: f64,
    /// Leave-one-out k-NN accuracy in 2-D.
    pub knn_accuracy: f64,
    /// Points scored.
    pub points: usize,
    /// Points the timed embedding had (more than `points` when the scored ones were cut from a
    /// larger embedding).
    pub timed_points: usize,
    /// Seconds the embedding took.
    pub seconds: f64,
}

/// A table of [`EmbeddingQuality`] rows.
#[derive(Clone, Debug, Default)]
pub struct QualityTable {
    /// The neighbours both figures use.
    pub k: usize,
    /// The rows.
    pub rows: Vec<EmbeddingQuality>,
}

impl QualityTable {
    /// Measures one embedding of `original` (whose rows `points` are) and adds its row; `seconds`
    /// timed the embedding of these points.
    pub fn add(&mut self, name: &str, original: &Matrix, points: &Matrix, labels: &[u8], seconds: f64) -> Result<()> {
        self.add_timed(name, original, points, labels, seconds, points.rows)
    }

    /// [`QualityTable::add`] for points cut from a larger embedding: `seconds` timed the
    /// embedding of `timed_points` points, of which the table scores the first `points.rows`.
    pub fn add_timed(&mut self, name: &str, original: &Matrix, points: &Matrix, labels: &[u8], seconds: f64, timed_points: usize) -> Result<()> {
        self.rows.push(EmbeddingQuality {
            name: name.to_owned(),
            trustworthiness: trustworthiness(original, points, self.k)?,
            knn_accuracy: knn_accuracy(points, labels, self.k)?,
            points: points.rows,
            timed_points,
            seconds,
        });
        Ok(())
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }
}

impl fmt::Display for QualityTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<34}{:>8}{:>18}{:>16}{:>10}{:>10}", "", "points", "trustworthiness", format!("{}-NN accuracy", self.k), "seconds", "timed on")?;
        for (i, r) in self.rows.iter().enumerate() {
            write!(f, "{:<34}{:>8}{:>18.4}{:>16.4}{:>10.1}{:>10}", r.name, r.points, r.trustworthiness, r.knn_accuracy, r.seconds, r.timed_points)?;
            if i + 1 < self.rows.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Above `BLOCKED_KNN_MIN` points the neighbours come from matrix products: the same
    /// neighbours, in the same order, as measuring every pair.
    #[test]
    fn blocked_neighbours_are_the_exact_ones() {
        let n = BLOCKED_KNN_MIN + 300;
        let mut rng = crate::rng::Rng::new(3);
        let data: Vec<f32> = (0..n * 12).map(|_| rng.normal() as f32).collect();
        let x = Matrix { rows: n, cols: 12, data };
        let knn = nearest_neighbours(&x, 15, 2);
        assert_eq!(knn.len(), n);
        for i in (0..n).step_by(997) {
            let all = (0..n).filter(|&j| j != i).map(|j| (j, squared_distance(x.at(i), x.at(j)))).collect();
            assert_eq!(knn[i], nearest_of(all, 15), "row {i}");
        }
    }

    #[test]
    fn a_run_that_would_not_fit_in_memory_is_refused_first() {
        // 3 million points of exact t-SNE: terabytes.
        let err = check_memory("exact t-SNE", tsne_bytes(3_000_000, 2_999_999), "use fewer points").unwrap_err();
        assert!(err.to_string().contains("needs about") && err.to_string().contains("use fewer points"), "{err}");
        assert!(check_memory("t-SNE", tsne_bytes(5_000, 91), "").is_ok());
    }
    use crate::rng::Rng;

    /// `clusters` Gaussian blobs in `dim` dimensions, `per` points each, labelled by blob.
    pub(crate) fn blobs(clusters: usize, per: usize, dim: usize, seed: u64) -> (Matrix, Vec<u8>) {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f64>> = (0..clusters).map(|_| (0..dim).map(|_| 10.0 * rng.normal()).collect()).collect();
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                data.extend(centre.iter().map(|&m| (m + rng.normal()) as f32));
                labels.push(c as u8);
            }
        }
        (Matrix::new(clusters * per, dim, data).unwrap(), labels)
    }

    #[test]
    fn conditional_affinities_reach_the_perplexity() {
        let d: Vec<f64> = (1..=90).map(|i| i as f64 * 0.1).collect();
        let p = conditional_affinities(&d, 30.0);
        let entropy: f64 = -p.iter().filter(|&&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>();
        assert!((entropy.exp() - 30.0).abs() < 0.01, "perplexity {}", entropy.exp());
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn barnes_hut_with_theta_zero_is_the_exact_gradient() {
        let (x, _) = blobs(3, 40, 5, 1);
        let p = affinities(&x, 10.0, 31, 2);
        let mut rng = Rng::new(2);
        let y: Vec<[f64; 2]> = (0..x.rows).map(|_| [rng.normal(), rng.normal()]).collect();
        let (bh, z_bh) = gradient(&Pairs::new(&p), &y, 1.0, 0.0, &mut QuadTree::default(), 2);
        // The gradient written out pair by pair.
        let n = y.len();
        let w = |i: usize, j: usize| 1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2));
        let z: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| w(i, j)).sum();
        assert!((z - z_bh).abs() < 1e-9 * z);
        for i in 0..n {
            let mut g = [0.0; 2];
            for j in (0..n).filter(|&j| j != i) {
                let pij = p.row(i).find(|e| e.0 == j).map_or(0.0, |e| e.1);
                for k in 0..2 {
                    g[k] += 4.0 * (pij - w(i, j) / z) * w(i, j) * (y[i][k] - y[j][k]);
                }
            }
            for k in 0..2 {
                assert!((g[k] - bh[i][k]).abs() < 1e-9 * (1.0 + g[k].abs()), "{i} {k}: {} vs {}", g[k], bh[i][k]);
            }
        }
    }

    #[test]
    fn the_tree_holds_every_point_once_with_its_centre_of_mass() {
        // Clustered points, and 40 copies of one point: more than a leaf holds, never separable.
        let mut rng = Rng::new(4);
        let mut y: Vec<[f64; 2]> = (0..500).map(|i| [rng.normal() + (i % 3) as f64 * 20.0, rng.normal()]).collect();
        y.extend(std::iter::repeat_n([1.5, -2.0], 40));
        let mut tree = QuadTree::default();
        tree.rebuild(&y);
        let mut seen = vec![0; y.len()];
        for node in &tree.nodes {
            let points = &tree.points[node.start as usize..(node.start + node.count) as usize];
            let mean = |k: usize| points.iter().map(|p| p[k]).sum::<f64>() / points.len() as f64;
            assert!((node.mx - mean(0)).abs() < 1e-9 && (node.my - mean(1)).abs() < 1e-9);
            if node.children == 0 {
                for k in node.start..node.start + node.count {
                    seen[tree.keys[k as usize].1 as usize] += 1;
                }
            } else {
                let children = &tree.nodes[node.first_child as usize..(node.first_child + node.children) as usize];
                assert_eq!(children.iter().map(|c| c.count).sum::<u32>(), node.count);
                assert!(children.iter().all(|c| c.count > 0 && c.half == node.half / 2.0));
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "every point in exactly one leaf");
        assert!(tree.points.iter().zip(&tree.keys).all(|(p, &(_, i))| *p == y[i as usize]));
    }

    #[test]
    fn barnes_hut_gradient_is_close_to_the_exact_one() {
        let (x, _) = blobs(4, 150, 10, 5);
        let p = affinities(&x, 30.0, 91, 2);
        let pairs = Pairs::new(&p);
        let mut rng = Rng::new(6);
        let y: Vec<[f64; 2]> = (0..x.rows).map(|i| [3.0 * rng.normal() + (i / 150) as f64 * 10.0, 3.0 * rng.normal()]).collect();
        let (exact, z_exact) = gradient(&pairs, &y, 1.0, 0.0, &mut QuadTree::default(), 2);
        let (bh, z_bh) = gradient(&pairs, &y, 1.0, 0.5, &mut QuadTree::default(), 2);
        let norm = |g: &[[f64; 2]]| g.iter().map(|v| v[0] * v[0] + v[1] * v[1]).sum::<f64>().sqrt();
        let error: Vec<[f64; 2]> = exact.iter().zip(&bh).map(|(e, b)| [e[0] - b[0], e[1] - b[1]]).collect();
        let relative = norm(&error) / norm(&exact);
        assert!(relative < 0.01, "relative gradient error {relative}");
        assert!((z_bh - z_exact).abs() < 5e-3 * z_exact, "Z {z_bh} vs {z_exact}");
    }

    #[test]
    fn barnes_hut_stays_close_to_exact_tsne() {
        let (x, labels) = blobs(4, 50, 10, 3);
        let config = TsneConfig::new().with_perplexity(15.0).with_iterations(500);
        let exact = tsne_exact(&x, &config).unwrap();
        let bh = tsne(&x, &config).unwrap();
        let t_exact = trustworthiness(&x, &exact.points, 10).unwrap();
        let t_bh = trustworthiness(&x, &bh.points, 10).unwrap();
        assert!((t_exact - t_bh).abs() < 0.01, "trustworthiness {t_exact} vs {t_bh}");
        // Different affinities (all pairs against 46 neighbours): the KL divergences are close,
        // not equal.
        assert!((exact.kl_divergence - bh.kl_divergence).abs() < 0.1 * exact.kl_divergence.max(0.1), "KL {} vs {}", exact.kl_divergence, bh.kl_divergence);
        assert_eq!(knn_accuracy(&bh.points, &labels, 5).unwrap(), 1.0);
    }

    #[test]
    fn trustworthiness_of_a_perfect_and_a_shuffled_embedding() {
        let (x, _) = blobs(2, 30, 2, 4);
        assert!((trustworthiness(&x, &x, 5).unwrap() - 1.0).abs() < 1e-12);
        let mut shuffled = x.clone();
        let perm = Rng::new(5).permutation(x.rows);
        shuffled = shuffled.gather_rows(&perm);
        assert!(trustworthiness(&x, &shuffled, 5).unwrap() < 0.8);
    }

    #[test]
    fn bad_knobs_are_refused_with_the_usual_range() {
        let (x, _) = blobs(2, 10, 3, 6);
        let err = tsne(&x, &TsneConfig::new().with_perplexity(50.0)).unwrap_err().to_string();
        assert!(err.contains("perplexity") && err.contains("5 to 50"), "{err}");
        let err = tsne(&x, &TsneConfig::new().with_perplexity(5.0).with_learning_rate(Some(-1.0))).unwrap_err().to_string();
        assert!(err.contains("learning_rate"), "{err}");
    }
}
