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
pub struct Affinities {
    /// Where each point's row starts; `offsets[n]` is the number of non-zeros.
    pub offsets: Vec<usize>,
    /// The neighbour of each non-zero.
    pub columns: Vec<u32>,
    /// The affinity of each non-zero.
    pub values: Vec<f64>,
}

impl Affinities {
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
    parallel_map_with(n, threads, || (), |_, i| f(i))
}

/// [`parallel_map`] with per-thread scratch state made by `init`.
fn parallel_map_with<S, T: Send>(n: usize, threads: usize, init: impl Fn() -> S + Sync, f: impl Fn(&mut S, usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    let chunk = n.div_ceil(threads);
    let (f, init) = (&f, &init);
    let run = move |t: usize| {
        let mut state = init();
        (t * chunk..((t + 1) * chunk).min(n)).map(|i| f(&mut state, i)).collect::<Vec<T>>()
    };
    if threads == 1 {
        return run(0);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|t| scope.spawn(move || run(t))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("t-SNE worker thread")).collect()
    })
}

fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum()
}

/// The `k` nearest neighbours of every row (excluding itself), with squared distances, nearest
/// first. Brute force: exact, and fast enough for the lesson's 5,000 points.
pub fn nearest_neighbours(x: &Matrix, k: usize, threads: usize) -> Vec<Vec<(usize, f64)>> {
    parallel_map(x.rows, threads, |i| {
        let xi = x.row(i);
        let mut d: Vec<(usize, f64)> = (0..x.rows).filter(|&j| j != i).map(|j| (j, squared_distance(xi, x.row(j)))).collect();
        let k = k.min(d.len());
        if k < d.len() {
            d.select_nth_unstable_by(k, |a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            d.truncate(k);
        }
        d.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        d
    })
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
pub fn affinities(x: &Matrix, perplexity: f64, k: usize, threads: usize) -> Affinities {
    let n = x.rows;
    let knn = nearest_neighbours(x, k, threads);
    let conditional: Vec<Vec<(usize, f64)>> = parallel_map(n, threads, |i| {
        let d: Vec<f64> = knn[i].iter().map(|&(_, d)| d).collect();
        knn[i].iter().map(|&(j, _)| j).zip(conditional_affinities(&d, perplexity)).collect()
    });
    let mut merged: Vec<std::collections::BTreeMap<usize, f64>> = vec![Default::default(); n];
    for (i, row) in conditional.iter().enumerate() {
        for &(j, p) in row {
            *merged[i].entry(j).or_default() += p;
            *merged[j].entry(i).or_default() += p;
        }
    }
    let total: f64 = merged.iter().flat_map(|m| m.values()).sum::<f64>().max(f64::MIN_POSITIVE);
    let mut affinities = Affinities { offsets: vec![0], columns: Vec::new(), values: Vec::new() };
    for row in merged {
        for (j, p) in row {
            affinities.columns.push(j as u32);
            affinities.values.push(p / total);
        }
        affinities.offsets.push(affinities.columns.len());
    }
    affinities
}

/// A quadtree over the embedding, each cell knowing how many points it holds and their centre of
/// mass, so that a far cell acts as one heavy point. Nodes live in one vector; the four children
/// of a node are consecutive.
#[derive(Default)]
struct QuadTree {
    nodes: Vec<Node>,
    /// The point of each leaf holding one, needed when it splits.
    leaf_point: Vec<[f64; 2]>,
}

/// 48 bytes: the whole tree of 5,000 points stays in the CPU caches.
#[derive(Clone, Copy)]
struct Node {
    cx: f64,
    cy: f64,
    half: f64,
    /// Sums of the coordinates while building, the centre of mass afterwards.
    mx: f64,
    my: f64,
    count: u32,
    /// Index of the first of the four children; 0 for a leaf (the root is never a child).
    first_child: u32,
}

impl Node {
    fn new(cx: f64, cy: f64, half: f64) -> Node {
        Node { cx, cy, half, mx: 0.0, my: 0.0, count: 0, first_child: 0 }
    }
}

impl QuadTree {
    /// Rebuilds the tree over `points`, reusing its storage (the optimisation rebuilds it on
    /// every iteration).
    fn rebuild(&mut self, points: &[[f64; 2]]) {
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let half = ((max[0] - min[0]).max(max[1] - min[1]) / 2.0).max(1e-6) * (1.0 + 1e-6);
        self.nodes.clear();
        self.leaf_point.clear();
        self.nodes.push(Node::new((min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0, half));
        self.leaf_point.push([0.0; 2]);
        for p in points {
            self.insert(p[0], p[1]);
        }
        for n in &mut self.nodes {
            if n.count > 0 {
                n.mx /= n.count as f64;
                n.my /= n.count as f64;
            }
        }
    }

    fn child_for(&self, node: usize, x: f64, y: f64) -> usize {
        let n = &self.nodes[node];
        n.first_child as usize + usize::from(x >= n.cx) + 2 * usize::from(y >= n.cy)
    }

    fn insert(&mut self, x: f64, y: f64) {
        let mut node = 0;
        loop {
            let n = &mut self.nodes[node];
            n.count += 1;
            n.mx += x;
            n.my += y;
            if n.first_child != 0 {
                node = self.child_for(node, x, y);
                continue;
            }
            if n.count == 1 {
                self.leaf_point[node] = [x, y];
                return;
            }
            // Coincident points (or a cell too small to split) stay together in one leaf.
            let old = self.leaf_point[node];
            if n.half < 1e-9 || (n.count == 2 && old == [x, y]) || n.count > 2 {
                return;
            }
            let (cx, cy, h) = (n.cx, n.cy, n.half / 2.0);
            let first = self.nodes.len();
            self.nodes[node].first_child = first as u32;
            for (dx, dy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
                self.nodes.push(Node::new(cx + dx * h, cy + dy * h, h));
                self.leaf_point.push([0.0; 2]);
            }
            // The old point's count and mass are in this node already: add them below only.
            let child = self.child_for(node, old[0], old[1]);
            let c = &mut self.nodes[child];
            c.count = 1;
            c.mx = old[0];
            c.my = old[1];
            self.leaf_point[child] = old;
            node = self.child_for(node, x, y);
        }
    }

    /// Splits the tree, for a group of points inside the disc of centre `(gx, gy)` and radius
    /// `radius`, into `far` cells (both the cell and the group are small seen from each other:
    /// `max(cell width, group diameter) < θ · distance`) and `near` cells (cells that pass the
    /// usual Barnes-Hut test for every point of the group, and leaves), each as `(x, y, count)`.
    ///
    /// Far cells act on the whole group through a first-order expansion about the group's centre
    /// (one evaluation per group instead of one per point, in the spirit of the fast multipole
    /// method); near cells act on each point exactly. With θ = 0 nothing is far: exact t-SNE.
    fn interaction_lists(&self, gx: f64, gy: f64, radius: f64, theta2: f64, stack: &mut Vec<u32>, far: &mut Vec<[f64; 3]>, near: &mut Vec<[f64; 3]>) {
        far.clear();
        near.clear();
        stack.clear();
        stack.push(0);
        let diameter2 = 4.0 * radius * radius;
        while let Some(i) = stack.pop() {
            let n = &self.nodes[i as usize];
            let (dx, dy) = (gx - n.mx, gy - n.my);
            let d2 = dx * dx + dy * dy;
            let width2 = 4.0 * n.half * n.half;
            // The distance from the group's edge: a cell that passes the usual test seen from
            // there passes it seen from every point of the group.
            let edge = d2.sqrt() - radius;
            if width2.max(diameter2) < theta2 * d2 {
                far.push([n.mx, n.my, n.count as f64]);
            } else if n.first_child == 0 || (edge > 0.0 && width2 < theta2 * edge * edge) {
                near.push([n.mx, n.my, n.count as f64]);
            } else {
                let first = n.first_child;
                for c in first..first + 4 {
                    if self.nodes[c as usize].count > 0 {
                        stack.push(c);
                    }
                }
            }
        }
    }

}

/// The t-SNE gradient with Barnes-Hut repulsion (`theta = 0`: exact), and the normalisation `Z`.
fn gradient(p: &Affinities, y: &[[f64; 2]], exaggeration: f64, theta: f64, threads: usize, tree: &mut QuadTree) -> (Vec<[f64; 2]>, f64) {
    tree.rebuild(y);
    let tree = &*tree;
    let theta2 = theta * theta;
    // Groups of GROUP consecutive points along a space-filling curve (Z order) are close
    // together; each group walks the tree once, and the far field is computed once per group.
    // Measured on the lesson's 5,000 codings: 13.3 s with groups of 1 (plain Barnes-Hut),
    // 9.0 s with 8, 8.6 s with 16, 10.4 s with 32.
    const GROUP: usize = 16;
    let order = z_order(y);
    let groups: Vec<&[usize]> = order.chunks(GROUP).collect();
    // Each thread takes a run of groups and returns the forces of their points.
    let threads = threads.clamp(1, groups.len().max(1));
    let groups_per_thread = groups.len().div_ceil(threads);
    let per_thread = parallel_map(threads, threads, |t| {
        let (mut stack, mut far, mut near) = (Vec::<u32>::new(), Vec::<[f64; 3]>::new(), Vec::<[f64; 3]>::new());
        let mut out = Vec::with_capacity(groups_per_thread * GROUP);
        for members in groups.iter().skip(t * groups_per_thread).take(groups_per_thread) {
            group_forces(p, y, tree, members, theta2, (&mut stack, &mut far, &mut near), &mut out);
        }
        out
    });
    let mut forces = vec![[0.0; 5]; y.len()];
    for (i, f) in per_thread.into_iter().flatten() {
        forces[i] = f;
    }
    let z: f64 = forces.iter().map(|f| f[4]).sum::<f64>().max(f64::MIN_POSITIVE);
    let grad = forces.iter().map(|f| [4.0 * (exaggeration * f[0] - f[2] / z), 4.0 * (exaggeration * f[1] - f[3] / z)]).collect();
    (grad, z)
}

/// The attraction and repulsion `[ax, ay, rx, ry, z]` of each point of one group, appended to
/// `out` with the point's index.
fn group_forces(
    p: &Affinities,
    y: &[[f64; 2]],
    tree: &QuadTree,
    members: &[usize],
    theta2: f64,
    (stack, far, near): (&mut Vec<u32>, &mut Vec<[f64; 3]>, &mut Vec<[f64; 3]>),
    out: &mut Vec<(usize, [f64; 5])>,
) {
    {
        let (mut gx, mut gy) = (0.0, 0.0);
        for &i in members {
            gx += y[i][0];
            gy += y[i][1];
        }
        let (gx, gy) = (gx / members.len() as f64, gy / members.len() as f64);
        let radius = members.iter().map(|&i| ((y[i][0] - gx).powi(2) + (y[i][1] - gy).powi(2)).sqrt()).fold(0.0, f64::max);
        tree.interaction_lists(gx, gy, radius, theta2, stack, far, near);
        let (far, near) = (&*far, &*near);
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
        let forces = members
            .iter()
            .map(|&i| {
                // Attraction to the affinity neighbours.
                let (mut ax, mut ay) = (0.0, 0.0);
                let [yx, yy] = y[i];
                for (j, pij) in p.row(i) {
                    let (dx, dy) = (yx - y[j][0], yy - y[j][1]);
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    ax += pij * w * dx;
                    ay += pij * w * dy;
                }
                // Repulsion: the far field expanded about the centre, the near cells exactly.
                let (ex, ey) = (y[i][0] - gx, y[i][1] - gy);
                let [nz, nx, ny] = near_repulsion(y[i], near);
                let z = z0 + zx * ex + zy * ey + nz;
                let rx = fx0 + jxx * ex + jxy * ey + nx;
                let ry = fy0 + jxy * ex + jyy * ey + ny;
                (i, [ax, ay, rx, ry, z])
            });
        out.extend(forces);
    }
}

/// `[Σ m·w, Σ m·w²·dx, Σ m·w²·dy]` over the `near` cells `(x, y, m)` seen from `point`, where
/// the point itself (at distance 0) counts for nothing.
fn near_repulsion(point: [f64; 2], near: &[[f64; 3]]) -> [f64; 3] {
    let (mut z, mut fx, mut fy) = (0.0, 0.0, 0.0);
    for &[cx, cy, m] in near {
        let (dx, dy) = (point[0] - cx, point[1] - cy);
        let d2 = dx * dx + dy * dy;
        if d2 > 0.0 {
            let w = 1.0 / (1.0 + d2);
            let mw = m * w;
            z += mw;
            fx += mw * w * dx;
            fy += mw * w * dy;
        }
    }
    [z, fx, fy]
}

/// The indices of `y` sorted along the Z-order (Morton) curve of their quantised coordinates.
fn z_order(y: &[[f64; 2]]) -> Vec<usize> {
    let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in y {
        for k in 0..2 {
            min[k] = min[k].min(p[k]);
            max[k] = max[k].max(p[k]);
        }
    }
    let spread = |k: usize| (max[k] - min[k]).max(f64::MIN_POSITIVE);
    // Spread the 16 bits of v to the even bits of a u32.
    let spread_bits = |v: u32| {
        let mut v = v & 0xFFFF;
        v = (v | (v << 8)) & 0x00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    let mut keyed: Vec<(u32, usize)> = y
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let qx = ((p[0] - min[0]) / spread(0) * 65535.0) as u32;
            let qy = ((p[1] - min[1]) / spread(1) * 65535.0) as u32;
            (spread_bits(qx) | (spread_bits(qy) << 1), i)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
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
    let y = Pca::fit(x, 2)?.transform(x);
    let n = y.rows as f64;
    let mean = (0..y.rows).map(|i| y.row(i)[0] as f64).sum::<f64>() / n;
    let std = ((0..y.rows).map(|i| (y.row(i)[0] as f64 - mean).powi(2)).sum::<f64>() / n).sqrt().max(1e-12);
    Ok((0..y.rows).map(|i| [y.row(i)[0] as f64 / std * 1e-4, y.row(i)[1] as f64 / std * 1e-4]).collect())
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
    for it in 0..config.iterations {
        let early = it < config.exaggeration_iterations;
        let (exaggeration, momentum) = if early { (config.early_exaggeration, 0.5) } else { (1.0, 0.8) };
        let (grad, _) = gradient(p, &y, exaggeration, theta, threads, &mut tree);
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
    let (_, z) = gradient(p, &y, 1.0, theta, threads, &mut tree);
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

/// Barnes-Hut t-SNE of the rows of `x` to 2-D (the slide's `TSNE().fit_transform(X)`).
pub fn tsne(x: &Matrix, config: &TsneConfig) -> Result<Embedding> {
    config.check(x.rows)?;
    let start = std::time::Instant::now();
    let k = ((3.0 * config.perplexity + 1.0) as usize).min(x.rows - 1);
    let p = affinities(x, config.perplexity, k, config.thread_count());
    let (y, kl) = optimise(&p, starting_points(x, config)?, config, config.theta);
    Ok(Embedding { points: to_matrix(&y), kl_divergence: kl, seconds: start.elapsed().as_secs_f64() })
}

/// Exact t-SNE: affinities to every other point and every pairwise force. O(n²) per iteration,
/// for small inputs and as the reference [`tsne`] is tested against.
pub fn tsne_exact(x: &Matrix, config: &TsneConfig) -> Result<Embedding> {
    config.check(x.rows)?;
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
        let xi = original.row(i);
        let d: Vec<f64> = (0..n).map(|j| if j == i { f64::INFINITY } else { squared_distance(xi, original.row(j)) }).collect();
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
    /// Points embedded.
    pub points: usize,
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
    /// Measures one embedding of `original` (whose rows `points` are) and adds its row.
    pub fn add(&mut self, name: &str, original: &Matrix, points: &Matrix, labels: &[u8], seconds: f64) -> Result<()> {
        self.rows.push(EmbeddingQuality {
            name: name.to_owned(),
            trustworthiness: trustworthiness(original, points, self.k)?,
            knn_accuracy: knn_accuracy(points, labels, self.k)?,
            points: points.rows,
            seconds,
        });
        Ok(())
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/plain\n{self}\nEVCXR_END_CONTENT");
    }
}

impl fmt::Display for QualityTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<34}{:>8}{:>18}{:>16}{:>10}", "", "points", format!("trustworthiness"), format!("{}-NN accuracy", self.k), "seconds")?;
        for (i, r) in self.rows.iter().enumerate() {
            write!(f, "{:<34}{:>8}{:>18.4}{:>16.4}{:>10.1}", r.name, r.points, r.trustworthiness, r.knn_accuracy, r.seconds)?;
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
        let (bh, z_bh) = gradient(&p, &y, 1.0, 0.0, 2, &mut QuadTree::default());
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
        shuffled = shuffled.gather(&perm);
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
