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

/// Sparse symmetric affinities: `neighbours[i]` lists `(j, p_ij)`; all of them sum to 1.
#[derive(Clone, Debug)]
pub struct Affinities {
    /// The non-zero affinities of each point.
    pub neighbours: Vec<Vec<(usize, f64)>>,
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
    Affinities { neighbours: merged.into_iter().map(|m| m.into_iter().map(|(j, p)| (j, p / total)).collect()).collect() }
}

/// A quadtree over the embedding, each cell knowing how many points it holds and their centre of
/// mass, so that a far cell acts as one heavy point.
struct QuadTree {
    nodes: Vec<Node>,
}

struct Node {
    cx: f64,
    cy: f64,
    half: f64,
    count: usize,
    sum_x: f64,
    sum_y: f64,
    /// Index of the first of four children, if split.
    children: Option<usize>,
    /// The point of a leaf holding one point.
    point: Option<(f64, f64)>,
}

impl Node {
    fn new(cx: f64, cy: f64, half: f64) -> Node {
        Node { cx, cy, half, count: 0, sum_x: 0.0, sum_y: 0.0, children: None, point: None }
    }
}

impl QuadTree {
    fn build(points: &[[f64; 2]]) -> QuadTree {
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let half = ((max[0] - min[0]).max(max[1] - min[1]) / 2.0).max(1e-6) * (1.0 + 1e-6);
        let mut tree = QuadTree { nodes: vec![Node::new((min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0, half)] };
        tree.nodes.reserve(4 * points.len());
        for p in points {
            tree.insert(0, p[0], p[1]);
        }
        tree
    }

    fn child_for(&self, node: usize, x: f64, y: f64) -> usize {
        let n = &self.nodes[node];
        let first = n.children.expect("a split node");
        first + usize::from(x >= n.cx) + 2 * usize::from(y >= n.cy)
    }

    fn insert(&mut self, mut node: usize, x: f64, y: f64) {
        loop {
            let n = &mut self.nodes[node];
            n.count += 1;
            n.sum_x += x;
            n.sum_y += y;
            if n.children.is_some() {
                node = self.child_for(node, x, y);
                continue;
            }
            if n.count == 1 {
                n.point = Some((x, y));
                return;
            }
            // Coincident points (or a cell too small to split) stay together in one leaf.
            if n.half < 1e-9 || n.point == Some((x, y)) {
                return;
            }
            let (cx, cy, h) = (n.cx, n.cy, n.half / 2.0);
            let old = n.point.take();
            let first = self.nodes.len();
            self.nodes[node].children = Some(first);
            for (dx, dy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
                self.nodes.push(Node::new(cx + dx * h, cy + dy * h, h));
            }
            if let Some((ox, oy)) = old {
                // The old point's count and mass are in this node already: add them below only.
                let child = self.child_for(node, ox, oy);
                self.insert(child, ox, oy);
            }
            node = self.child_for(node, x, y);
        }
    }

    /// The repulsive force on `(x, y)` (unnormalised: `Σ w²·(y_i − y_j)`) and its share of the
    /// normalisation `Σ w`, with `w = 1 / (1 + d²)`.
    fn repulsion(&self, x: f64, y: f64, theta: f64) -> (f64, f64, f64) {
        let (mut fx, mut fy, mut z) = (0.0, 0.0, 0.0);
        let mut stack = vec![0usize];
        let theta2 = theta * theta;
        while let Some(i) = stack.pop() {
            let n = &self.nodes[i];
            if n.count == 0 {
                continue;
            }
            let count = n.count as f64;
            let (dx, dy) = (x - n.sum_x / count, y - n.sum_y / count);
            let d2 = dx * dx + dy * dy;
            let width = 2.0 * n.half;
            if n.children.is_none() || width * width < theta2 * d2 {
                if d2 == 0.0 {
                    continue; // the point itself (or points on top of it: no direction, no force)
                }
                let w = 1.0 / (1.0 + d2);
                z += count * w;
                fx += count * w * w * dx;
                fy += count * w * w * dy;
            } else {
                let first = n.children.expect("a split node");
                stack.extend(first..first + 4);
            }
        }
        (fx, fy, z)
    }
}

/// The t-SNE gradient with Barnes-Hut repulsion (`theta = 0`: exact), and the normalisation `Z`.
fn gradient(p: &Affinities, y: &[[f64; 2]], exaggeration: f64, theta: f64, threads: usize) -> (Vec<[f64; 2]>, f64) {
    let tree = QuadTree::build(y);
    let repulsion = parallel_map(y.len(), threads, |i| tree.repulsion(y[i][0], y[i][1], theta));
    let z: f64 = repulsion.iter().map(|r| r.2).sum::<f64>().max(f64::MIN_POSITIVE);
    let grad = parallel_map(y.len(), threads, |i| {
        let (mut ax, mut ay) = (0.0, 0.0);
        for &(j, pij) in &p.neighbours[i] {
            let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            ax += pij * w * dx;
            ay += pij * w * dy;
        }
        let (rx, ry, _) = repulsion[i];
        [4.0 * (exaggeration * ax - rx / z), 4.0 * (exaggeration * ay - ry / z)]
    });
    (grad, z)
}

/// `KL(P ‖ Q)` over the non-zero affinities, with `Q`'s normalisation `z`.
fn kl_divergence(p: &Affinities, y: &[[f64; 2]], z: f64) -> f64 {
    let mut kl = 0.0;
    for (i, row) in p.neighbours.iter().enumerate() {
        for &(j, pij) in row {
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
    for it in 0..config.iterations {
        let early = it < config.exaggeration_iterations;
        let (exaggeration, momentum) = if early { (config.early_exaggeration, 0.5) } else { (1.0, 0.8) };
        let (grad, _) = gradient(p, &y, exaggeration, theta, threads);
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
    let (_, z) = gradient(p, &y, 1.0, theta, threads);
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
        let (bh, z_bh) = gradient(&p, &y, 1.0, 0.0, 2);
        // The gradient written out pair by pair.
        let n = y.len();
        let w = |i: usize, j: usize| 1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2));
        let z: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| w(i, j)).sum();
        assert!((z - z_bh).abs() < 1e-9 * z);
        for i in 0..n {
            let mut g = [0.0; 2];
            for j in (0..n).filter(|&j| j != i) {
                let pij = p.neighbours[i].iter().find(|e| e.0 == j).map_or(0.0, |e| e.1);
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
