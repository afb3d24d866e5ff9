//! Lesson 08, GAN 훈련의 어려움 (the difficulties of training GANs): mode collapse measured, shown
//! happening, and remedied.
//!
//! The slide tells the story: a generator that makes shoes better than anything else drifts to
//! shoes only, the discriminator learns to spot fake shoes, the generator moves on to shirts, and
//! so on, one class at a time. To *see* it, the lesson needs to know what a generated image shows:
//! a **judge**, a small CNN trained on Fashion-MNIST ([`Judge`]), labels a few thousand
//! generated images after every epoch. The figures are the stacked-MNIST methodology of VEEGAN
//! (Srivastava et al., NeurIPS 2017) and PacGAN (Lin et al., NeurIPS 2018), carried to
//! Fashion-MNIST's ten classes: the class histogram of the samples, its KL divergence from the
//! uniform distribution, the number of classes covered, the judge's mean confidence, and a
//! Fréchet distance between the judge's penultimate features of generated and real images (the
//! FID of Heusel et al., NeurIPS 2017, computed with this judge instead of Inception-v3, so its
//! values are not comparable with published FIDs).

use crate::data::{Dataset, IMAGE_PIXELS, Matrix};
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Padding};
use crate::plot::Figure;
use crate::sequential::{Sequential, Shape, Value};
use crate::summary::{Table, cell};
use crate::train::{FitConfig, Loss, Metric, OptimizerConfig};
use burn::module::Module;
use burn::tensor::Device;
use std::path::PathBuf;

/// The classes a sample must reach, as a share of the uniform share 1/10, to count as covered:
/// a class with at least 1% of the samples is "covered".
pub const COVERED_SHARE: f64 = 0.01;

/// The judge's architecture: two 3×3 ReLU convolutions with 2×2 max pooling (32 then 64 maps),
/// a dense layer of 128 ReLU features (the features of the Fréchet distance), and a softmax over
/// the ten classes.
pub fn judge_model(seed: u64, device: &Device) -> Result<Sequential> {
    Sequential::builder("judge", Shape::fashion_image(), seed, device)
        .conv2d(32, 3, 1, Padding::Same, Activation::Relu)
        .max_pool2d(2)
        .conv2d(64, 3, 1, Padding::Same, Activation::Relu)
        .max_pool2d(2)
        .flatten()
        .dense(128, Activation::Relu)
        .dense(10, Activation::Softmax)
        .build()
}

/// How the judge is trained: Adam at 0.001, sparse categorical cross-entropy, batch 64.
pub fn judge_fit_config(epochs: usize) -> FitConfig {
    FitConfig::new(OptimizerConfig::adam(0.001), Loss::SparseCategoricalCrossEntropy)
        .with_metrics(&[Metric::Accuracy])
        .with_epochs(epochs)
        .with_batch_size(64)
}

/// Where the course ships the trained judge.
pub fn judge_path() -> PathBuf {
    crate::data::course_data_dir().join("judge/judge.ckpt")
}

/// The test accuracy recorded when the shipped judge was trained (`data/judge/judge.txt`).
pub fn recorded_accuracy() -> Result<(f64, f64)> {
    let path = judge_path().with_file_name("judge.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| CourseError::io(&path, e))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
            .ok_or_else(|| CourseError::Checkpoint { path: path.clone(), problem: format!("it has no `{name}` line") })
    };
    Ok((field("test_accuracy")?, field("sample_accuracy")?))
}

/// A Fashion-MNIST classifier that labels generated images.
#[derive(Module, Debug)]
pub struct Judge {
    /// The CNN of [`judge_model`].
    pub model: Sequential,
}

/// What the judge says about a set of images.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The most probable class of each image.
    pub labels: Vec<u8>,
    /// The probability of that class.
    pub confidence: Vec<f32>,
    /// The 128 penultimate features of each image.
    pub features: Matrix,
}

impl Judge {
    /// The judge the course ships (`data/judge/judge.ckpt`), on `device`.
    pub fn load(device: &Device) -> Result<Judge> {
        let fresh = judge_model(0, device)?;
        Ok(Judge { model: crate::checkpoint::load_checkpoint(&fresh, judge_path())? })
    }

    /// The judge's verdict on `images` (pixels in [0, 1], one image per row).
    pub fn judge(&self, images: &Matrix) -> Result<Verdict> {
        if images.rows == 0 {
            return Err(CourseError::shape("Judge::judge", "at least one image", "none"));
        }
        if images.cols != IMAGE_PIXELS {
            return Err(CourseError::shape("Judge::judge", format!("images of {IMAGE_PIXELS} pixels"), format!("{} values per row", images.cols)));
        }
        let model = self.model.valid();
        let device = crate::train::model_device(&model);
        let mut labels = Vec::with_capacity(images.rows);
        let mut confidence = Vec::with_capacity(images.rows);
        let mut features = Vec::with_capacity(images.rows * 128);
        let n_layers = model.layers.len();
        for start in (0..images.rows).step_by(500) {
            let rows: Vec<usize> = (start..(start + 500).min(images.rows)).collect();
            let activations = model.activations(images.gather_rows(&rows).into_tensor(&device));
            if let Some(Value::Flat(f)) = activations.get(n_layers - 2) {
                features.extend(Matrix::from_tensor(f.clone()).data);
            }
            if let Some(Value::Flat(p)) = activations.last() {
                let p = Matrix::from_tensor(p.clone());
                for r in 0..p.rows {
                    let row = p.at(r);
                    let (best, prob) = row.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
                    labels.push(best as u8);
                    confidence.push(prob);
                }
            }
        }
        let cols = if images.rows == 0 { 128 } else { features.len() / images.rows };
        Ok(Verdict { labels, confidence, features: Matrix::new(images.rows, cols, features)? })
    }

    /// The judge's accuracy on a labelled set.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        data.check()?;
        let verdict = self.judge(&data.x)?;
        let right = verdict.labels.iter().zip(&data.y).filter(|(a, b)| a == b).count();
        Ok(right as f64 / data.len().max(1) as f64)
    }
}

/// The Gaussian statistics of a set of features: their mean and covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    /// The mean of each feature.
    pub mean: Vec<f64>,
    /// The `d × d` covariance, row-major.
    pub covariance: Vec<f64>,
}

impl FeatureStats {
    /// The mean and (unbiased) covariance of the rows of `features`.
    pub fn of(features: &Matrix) -> Result<FeatureStats> {
        let (n, d) = (features.rows, features.cols);
        if n < 2 {
            return Err(CourseError::shape("FeatureStats::of", "at least 2 samples", format!("{n}")));
        }
        let mean: Vec<f64> = features.column_means().iter().map(|&m| m as f64).collect();
        let mut covariance = vec![0.0f64; d * d];
        for r in 0..n {
            let row = features.at(r);
            for i in 0..d {
                let di = row[i] as f64 - mean[i];
                if di == 0.0 {
                    continue;
                }
                for j in i..d {
                    covariance[i * d + j] += di * (row[j] as f64 - mean[j]);
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                let v = covariance[i * d + j] / (n - 1) as f64;
                covariance[i * d + j] = v;
                covariance[j * d + i] = v;
            }
        }
        Ok(FeatureStats { mean, covariance })
    }
}

/// The Fréchet distance between two Gaussians: |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½), with
/// tr((Σ₁ Σ₂)^½) computed as the sum of the square roots of the eigenvalues of the symmetric
/// Σ₁^½ Σ₂ Σ₁^½.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    let d = a.mean.len();
    if b.mean.len() != d || a.covariance.len() != d * d || b.covariance.len() != d * d {
        return Err(CourseError::shape("frechet_distance", format!("two sets of {d} features"), format!("{} and {} features", d, b.mean.len())));
    }
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let (values, vectors) = crate::linalg::symmetric_eigen(&a.covariance, d);
    // Σ₁^½ = V diag(√λ) Vᵀ (negative round-off eigenvalues clipped to 0).
    let mut sqrt_a = vec![0.0f64; d * d];
    for (k, v) in vectors.iter().enumerate() {
        let s = values[k].max(0.0).sqrt();
        for i in 0..d {
            for j in 0..d {
                sqrt_a[i * d + j] += s * v[i] * v[j];
            }
        }
    }
    let product = |x: &[f64], y: &[f64]| {
        let mut out = vec![0.0f64; d * d];
        for i in 0..d {
            for k in 0..d {
                let xik = x[i * d + k];
                if xik != 0.0 {
                    for j in 0..d {
                        out[i * d + j] += xik * y[k * d + j];
                    }
                }
            }
        }
        out
    };
    let mut m = product(&product(&sqrt_a, &b.covariance), &sqrt_a);
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
    let (eig, _) = crate::linalg::symmetric_eigen(&m, d);
    let tr_sqrt: f64 = eig.iter().map(|v| v.max(0.0).sqrt()).sum();
    let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    Ok((mean_term + trace(&a.covariance) + trace(&b.covariance) - 2.0 * tr_sqrt).max(0.0))
}

/// The share of each class among `labels`. No labels have no shares (an error, not the all-zero
/// histogram, whose KL from uniform would read as a perfect 0), and a label above 9 is no class.
pub fn class_histogram(labels: &[u8]) -> Result<[f64; 10]> {
    if labels.is_empty() {
        return Err(CourseError::shape("class_histogram", "at least one label", "none; judge some images first"));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(CourseError::shape("class_histogram", "labels 0 to 9 (Fashion-MNIST's classes)", format!("label {bad}")));
    }
    let mut h = [0.0f64; 10];
    for &l in labels {
        h[l as usize] += 1.0;
    }
    let n = labels.len() as f64;
    Ok(h.map(|c| c / n))
}

/// KL(histogram ‖ uniform) = Σ p log(10 p), in nats: 0 for a uniform histogram, log 10 ≈ 2.303
/// for a single class. The histogram must be shares (from [`class_histogram`]): values in
/// [0, 1] adding up to 1.
pub fn kl_from_uniform(histogram: &[f64; 10]) -> Result<f64> {
    let total: f64 = histogram.iter().sum();
    if histogram.iter().any(|p| !(0.0..=1.0).contains(p)) || (total - 1.0).abs() > 1e-6 {
        return Err(CourseError::shape("kl_from_uniform", "shares in [0, 1] adding up to 1, as class_histogram gives them", format!("{histogram:?}, adding up to {total}")));
    }
    Ok(histogram.iter().filter(|&&p| p > 0.0).map(|&p| p * (10.0 * p).ln()).sum())
}

/// The number of classes with at least [`COVERED_SHARE`] of the samples.
pub fn classes_covered(histogram: &[f64; 10]) -> usize {
    histogram.iter().filter(|&&p| p >= COVERED_SHARE).count()
}

/// The mode-coverage figures of one set of generated images.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// The share of the samples in each class, as the judge labels them.
    pub histogram: [f64; 10],
    /// KL divergence of the histogram from uniform (nats).
    pub kl: f64,
    /// Classes with at least 1% of the samples.
    pub covered: usize,
    /// The judge's mean confidence in its labels.
    pub confidence: f64,
    /// The Fréchet distance of the judge's features to the real test images'.
    pub frechet: f64,
}

/// Measures `images` (pixels in [0, 1]) against the real images' feature statistics.
pub fn coverage(judge: &Judge, images: &Matrix, real: &FeatureStats) -> Result<Coverage> {
    let verdict = judge.judge(images)?;
    let histogram = class_histogram(&verdict.labels)?;
    let confidence = verdict.confidence.iter().map(|&c| c as f64).sum::<f64>() / verdict.confidence.len().max(1) as f64;
    let frechet = frechet_distance(&FeatureStats::of(&verdict.features)?, real)?;
    Ok(Coverage { kl: kl_from_uniform(&histogram)?, covered: classes_covered(&histogram), histogram, confidence, frechet })
}

/// The feature statistics of real images, the reference of the Fréchet distance.
pub fn real_stats(judge: &Judge, images: &Matrix) -> Result<FeatureStats> {
    FeatureStats::of(&judge.judge(images)?.features)
}

/// A table of coverage figures, one row per named run.
pub fn coverage_table(rows: &[(String, &Coverage)]) -> Table {
    let mut table = Table::new(&["run", "KL from uniform", "classes covered", "judge confidence", "Fréchet distance (judge)"]);
    for (name, c) in rows {
        table.push(&[name.clone(), cell(c.kl, 3), format!("{}/10", c.covered), cell(c.confidence, 3), cell(c.frechet, 2)]);
    }
    table
}

/// The class histograms of successive epochs as a heat map: one row per epoch, one column per
/// class, darker for a larger share; the slide's story (one class, then another) reads down it.
pub fn heatmap(coverages: &[Coverage], title: &str) -> Result<Figure> {
    if coverages.is_empty() {
        return Err(CourseError::bad_config("coverages", "give at least one epoch's coverage"));
    }
    let rows: Vec<Vec<f64>> = coverages.iter().map(|c| c.histogram.to_vec()).collect();
    crate::plot::heatmap(&rows, &crate::data::CLASS_NAMES, title, "epoch", "share of the samples")
}

/// A GAN's training with its mode coverage measured after every epoch.
#[derive(Clone, Debug)]
pub struct CollapseRun {
    /// What the run was (for tables).
    pub name: String,
    /// The losses and samples of every epoch.
    pub history: crate::gan::GanHistory,
    /// The coverage of `samples` generated images after every epoch.
    pub coverage: Vec<Coverage>,
}

impl CollapseRun {
    /// The coverage after the last epoch.
    pub fn last(&self) -> Option<&Coverage> {
        self.coverage.last()
    }

    /// Mean seconds per epoch.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.history.seconds.iter().sum::<f64>() / self.history.seconds.len().max(1) as f64
    }

    /// The class histogram of every epoch as a heat map.
    pub fn heatmap(&self) -> Result<Figure> {
        heatmap(&self.coverage, &format!("{}: the judge's classes of its samples, epoch by epoch", self.name))
    }

    /// KL from uniform and classes covered, epoch by epoch.
    pub fn plot_coverage(&self) -> Result<Figure> {
        let series = vec![
            ("KL from uniform (nats)".to_owned(), self.coverage.iter().map(|c| c.kl).collect()),
            ("classes covered / 10".to_owned(), self.coverage.iter().map(|c| c.covered as f64 / 10.0).collect()),
            ("judge confidence".to_owned(), self.coverage.iter().map(|c| c.confidence).collect()),
        ];
        crate::plot::line_chart(&format!("{}: mode coverage", self.name), "epoch", "value", &series)
    }
}

/// The final coverage of each configuration over its seeds: one row per run name, each figure
/// as the mean over the seeds with the range (min–max) beside it when there are several, and the
/// seconds per epoch.
pub fn remedies_table(runs: &[CollapseRun]) -> Table {
    let mut names: Vec<&str> = Vec::new();
    for run in runs {
        if !names.contains(&run.name.as_str()) {
            names.push(&run.name);
        }
    }
    let mut table = Table::new(&["configuration", "seeds", "KL from uniform", "classes covered", "Fréchet distance (judge)", "s per epoch"]);
    for name in names {
        let mine: Vec<&CollapseRun> = runs.iter().filter(|r| r.name == name).collect();
        let figure = |f: &dyn Fn(&Coverage) -> f64, digits: usize| {
            let values: Vec<f64> = mine.iter().filter_map(|r| r.last()).map(f).collect();
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            if values.len() < 2 {
                return cell(mean, digits);
            }
            let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            format!("{} ({}–{})", cell(mean, digits), cell(lo, digits), cell(hi, digits))
        };
        let seconds = mine.iter().map(|r| r.seconds_per_epoch()).sum::<f64>() / mine.len().max(1) as f64;
        table.push(&[
            name.to_owned(),
            mine.len().to_string(),
            figure(&|c| c.kl, 3),
            figure(&|c| c.covered as f64, 1),
            figure(&|c| c.frechet, 1),
            cell(seconds, 2),
        ]);
    }
    table
}

/// Trains `gan` on `images` with `config`, and after every epoch lets the judge label `samples`
/// images the generator makes of fixed codings (seeded by `config.seed`), measured against
/// `real`, the judge's statistics of real test images.
pub fn train_and_measure(
    name: &str,
    gan: &mut crate::gan::Gan,
    images: &Matrix,
    config: &crate::gan::GanFitConfig,
    judge: &Judge,
    real: &FeatureStats,
    samples: usize,
) -> Result<CollapseRun> {
    if samples < 2 {
        return Err(CourseError::bad_config("samples", "measure at least 2 generated images (a few thousand give stable figures)"));
    }
    let codings = crate::rng::Noise::training(config.seed ^ 0x5eed).codings(samples, gan.codings_size());
    let shown = codings.head(16);
    let mut coverage = Vec::new();
    let history = crate::gan::train_gan_with(gan, images, &shown, config, |gan, epoch| {
        let c = crate::mode_collapse::coverage(judge, &gan.generate(&codings)?, real)?;
        if config.verbose {
            println!("  epoch {epoch}: KL {:.3}, {} classes covered, confidence {:.3}, Fréchet {:.1}", c.kl, c.covered, c.confidence, c.frechet);
        }
        coverage.push(c);
        Ok(())
    })?;
    Ok(CollapseRun { name: name.to_owned(), history, coverage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_figures_by_hand() {
        let uniform: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let h = class_histogram(&uniform).unwrap();
        assert!(h.iter().all(|&p| (p - 0.1).abs() < 1e-12));
        assert!(kl_from_uniform(&h).unwrap().abs() < 1e-12);
        assert_eq!(classes_covered(&h), 10);
        let single = class_histogram(&[3; 50]).unwrap();
        assert!((kl_from_uniform(&single).unwrap() - 10f64.ln()).abs() < 1e-12);
        assert_eq!(classes_covered(&single), 1);
        // Two classes, half each: KL = log 5.
        let two: Vec<u8> = (0..100).map(|i| if i % 2 == 0 { 1 } else { 7 }).collect();
        assert!((kl_from_uniform(&class_histogram(&two).unwrap()).unwrap() - 5f64.ln()).abs() < 1e-12);
    }

    /// Known Gaussians: equal sets are at distance 0; a shifted mean adds |Δμ|²; for diagonal
    /// covariances the trace term is Σ(√a − √b)².
    #[test]
    fn frechet_distance_of_known_gaussians() {
        let stats = |mean: Vec<f64>, diag: Vec<f64>| {
            let d = mean.len();
            let mut covariance = vec![0.0; d * d];
            for i in 0..d {
                covariance[i * d + i] = diag[i];
            }
            FeatureStats { mean, covariance }
        };
        let a = stats(vec![0.0, 0.0, 0.0], vec![1.0, 4.0, 9.0]);
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        let shifted = stats(vec![1.0, 2.0, 0.0], vec![1.0, 4.0, 9.0]);
        assert!((frechet_distance(&a, &shifted).unwrap() - 5.0).abs() < 1e-9);
        let scaled = stats(vec![0.0, 0.0, 0.0], vec![4.0, 1.0, 9.0]);
        // (1 − 2)² + (2 − 1)² + 0 = 2.
        assert!((frechet_distance(&a, &scaled).unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn feature_stats_of_samples() {
        let m = Matrix::new(4, 2, vec![1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 3.0, 2.0]).unwrap();
        let s = FeatureStats::of(&m).unwrap();
        assert_eq!(s.mean, vec![2.0, 1.0]);
        // Unbiased variances 4/3 and 4/3, covariance 0.
        assert!((s.covariance[0] - 4.0 / 3.0).abs() < 1e-12 && s.covariance[1].abs() < 1e-12);
    }
}
