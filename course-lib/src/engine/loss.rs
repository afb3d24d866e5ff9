//! The losses and metrics of [`fit`](crate::train::fit), computed on the host from the model's
//! output, with the loss's gradient written out by hand.
//!
//! Why not let burn's autodiff differentiate the loss like the rest of the model: a binary
//! cross-entropy written in tensor operations is a dozen element-wise passes forward and as many
//! backward, each recorded in the autodiff graph, on top of the output layer's sigmoid and its
//! backward pass; at the slides' batch of 32 that was about half the time of a training step of
//! the stacked autoencoder (measured with `perf`, see `benches/train_speed.rs`). Here the loss,
//! its gradient and the metrics are one loop over the output, and the model's graph receives the
//! gradient through `sum(output · gradient)`, whose derivative is exactly that gradient.
//!
//! Like tf.keras, the loss is taken from the logits when the output layer's activation and the
//! loss belong together (sigmoid with binary cross-entropy, softmax with sparse categorical
//! cross-entropy): Keras notices the sigmoid or softmax op and calls
//! `sigmoid_cross_entropy_with_logits`, which is exact where the probabilities saturate.
//! Otherwise probabilities are clipped to `[ε, 1 − ε]` as Keras clips them.

use crate::error::{CourseError, Result};
use crate::engine::activation::{Activation, exp_f32};

/// The training loss (Keras's `loss=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `"mse"`: mean squared error.
    Mse,
    /// `"binary_crossentropy"` on outputs in (0, 1): reconstruction as multi-label binary
    /// classification, one "class" per pixel.
    BinaryCrossEntropy,
    /// `"sparse_categorical_crossentropy"` on class probabilities and integer labels.
    SparseCategoricalCrossEntropy,
    /// The Wasserstein loss of a WGAN critic (Arjovsky et al., ICML 2017): the mean of
    /// `target · output` over the batch, with target +1 for the samples whose score should go
    /// down (fakes, for the critic) and −1 for those whose score should go up. The output is a
    /// score, not a probability (no activation).
    Wasserstein,
    /// `tf.keras.losses.Huber()` (δ = 1): ½e² where the error |e| ≤ 1, |e| − ½ beyond, averaged
    /// over every output. Squared for small errors, absolute for large ones, so that a few large
    /// errors pull less than under MSE. The loss the book trains its diffusion model with
    /// (lesson 09; the DDPM paper's is MSE).
    Huber,
}

/// A metric reported next to the loss (Keras's `metrics=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The book's `rounded_accuracy`: the fraction of pixels whose rounded output equals the
    /// rounded target (`binary_accuracy(round(y_true), round(y_pred))`).
    RoundedAccuracy,
    /// The fraction of samples whose most probable class is the label.
    Accuracy,
}

/// The mean binary cross-entropy of `predictions` (probabilities) against `targets`, clipped as
/// Keras clips it: the reconstruction loss of any autoencoder from its outputs alone, so that
/// models whose training losses differ (the VAE's includes its latent loss) compare on the same
/// footing (lesson 06).
pub fn binary_cross_entropy(predictions: &crate::engine::matrix::Matrix, targets: &crate::engine::matrix::Matrix) -> Result<f64> {
    if predictions.rows != targets.rows || predictions.cols != targets.cols {
        return Err(CourseError::shape(
            "binary_cross_entropy",
            format!("predictions shaped like the targets ({} × {})", targets.rows, targets.cols),
            format!("{} × {}", predictions.rows, predictions.cols),
        ));
    }
    let sum: f64 = predictions
        .data
        .iter()
        .zip(&targets.data)
        .map(|(&p, &y)| {
            let (p, y) = ((p as f64).clamp(EPSILON, 1.0 - EPSILON), y as f64);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    Ok(sum / predictions.data.len().max(1) as f64)
}

/// Keras clips probabilities to `[ε, 1 − ε]` with this ε before taking logarithms.
pub(crate) const EPSILON: f64 = 1e-7;

/// What a batch's outputs are compared with, on the host.
pub(crate) enum BatchTarget {
    /// One value per output.
    Values(Vec<f32>),
    /// One class label per sample.
    Labels(Vec<u8>),
}

/// The loss of one batch, its gradient with respect to the output given to [`Loss::batch`]
/// (empty unless asked for), and the metrics.
pub(crate) struct BatchLoss {
    pub value: f64,
    pub gradient: Vec<f32>,
    pub metrics: Vec<f64>,
}

impl Loss {
    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::SparseCategoricalCrossEntropy => "sparse_categorical_crossentropy",
            Loss::Wasserstein => "wasserstein",
            Loss::Huber => "huber",
        }
    }

    /// Whether the loss is computed from the values before `activation` (the logits) rather
    /// than after it. [`Loss::batch`] handles these pairs and outputs with no activation left.
    pub(crate) fn takes_logits_of(self, activation: Activation) -> bool {
        matches!(
            (self, activation),
            (Loss::BinaryCrossEntropy | Loss::Mse, Activation::Sigmoid) | (Loss::SparseCategoricalCrossEntropy, Activation::Softmax)
        )
    }

    /// The mean loss over a batch of `rows` samples of `cols` outputs `z`, where `activation`
    /// (`Linear`, or one that [`takes_logits_of`](Loss::takes_logits_of) accepts) is still to be
    /// applied to `z`; with `gradient`, also its gradient with respect to `z`.
    pub(crate) fn batch(self, activation: Activation, z: &[f32], cols: usize, target: &BatchTarget, metrics: &[Metric], gradient: bool) -> Result<BatchLoss> {
        let rows = z.len() / cols.max(1);
        let mut grad = if gradient { vec![0.0f32; z.len()] } else { Vec::new() };
        let mut sum = 0.0f64;
        let mut metric_sums = vec![0.0f64; metrics.len()];
        match (self, target) {
            (Loss::Mse | Loss::BinaryCrossEntropy | Loss::Huber, BatchTarget::Values(y)) => {
                check_values(y.len(), z.len(), cols)?;
                for metric in metrics {
                    metric.check_values_target()?;
                }
                let rounded = !metrics.is_empty();
                let scale = 1.0 / z.len() as f64;
                // Each arm is its own loop, so that the loop body has no branch on the loss.
                // The exponentials and logarithms are in f32 (twice as fast as in f64, and as
                // precise as the f32 output), the sums in f64.
                let (loss_sum, matches) = match (self, activation) {
                    (Loss::BinaryCrossEntropy, Activation::Sigmoid) => bce_from_logits(z, y, &mut grad, scale as f32),
                    (Loss::Mse, Activation::Sigmoid) => sum_terms(z, y, &mut grad, scale, rounded, |z, y| {
                        let (p, y) = ((1.0 / (1.0 + (-z).exp())) as f64, y as f64);
                        ((p - y).powi(2), 2.0 * (p - y) * p * (1.0 - p), p)
                    }),
                    (Loss::BinaryCrossEntropy, _) => sum_terms(z, y, &mut grad, scale, rounded, |z, y| {
                        let (z, y) = (z as f64, y as f64);
                        let p = z.clamp(EPSILON, 1.0 - EPSILON);
                        // The clipped part of the range passes no gradient, as in Keras.
                        let dz = if z == p { (p - y) / (p * (1.0 - p)) } else { 0.0 };
                        (-(y * p.ln() + (1.0 - y) * (1.0 - p).ln()), dz, z)
                    }),
                    (Loss::Huber, _) => sum_terms(z, y, &mut grad, scale, rounded, |z, y| {
                        let e = z as f64 - y as f64;
                        if e.abs() <= 1.0 { (0.5 * e * e, e, z as f64) } else { (e.abs() - 0.5, e.signum(), z as f64) }
                    }),
                    _ => sum_terms(z, y, &mut grad, scale, rounded, |z, y| {
                        let (z, y) = (z as f64, y as f64);
                        ((z - y).powi(2), 2.0 * (z - y), z)
                    }),
                };
                sum = loss_sum;
                metric_sums.fill(matches as f64 / cols as f64);
            }
            (Loss::Wasserstein, BatchTarget::Values(y)) => {
                check_values(y.len(), z.len(), cols)?;
                if !metrics.is_empty() {
                    return Err(CourseError::bad_config("metrics", "the Wasserstein loss has no metrics; leave them out"));
                }
                if activation != Activation::Linear {
                    return Err(CourseError::bad_config(
                        "loss",
                        format!("the Wasserstein loss reads a score, but the model ends with {}; give its last layer no activation", activation.name()),
                    ));
                }
                let scale = 1.0 / rows.max(1) as f64;
                for (k, (&zk, &yk)) in z.iter().zip(y).enumerate() {
                    sum += zk as f64 * yk as f64;
                    if let Some(g) = grad.get_mut(k) {
                        *g = (yk as f64 * scale) as f32;
                    }
                }
            }
            (Loss::SparseCategoricalCrossEntropy, BatchTarget::Labels(labels)) => {
                if labels.len() != rows {
                    return Err(CourseError::shape("loss", format!("{rows} labels, one per sample"), format!("{}", labels.len())));
                }
                let scale = 1.0 / rows as f64;
                for (r, &label) in labels.iter().enumerate() {
                    let label = label as usize;
                    if label >= cols {
                        return Err(CourseError::shape(
                            "labels",
                            format!("labels below {cols}, the model's number of outputs"),
                            format!("label {label}"),
                        ));
                    }
                    let row = &z[r * cols..(r + 1) * cols];
                    if activation == Activation::Softmax {
                        // −log softmax(z)[label], from the largest logit for stability.
                        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                        let total: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
                        sum += max + total.ln() - row[label] as f64;
                        if gradient {
                            for (j, &v) in row.iter().enumerate() {
                                let p = (v as f64 - max).exp() / total;
                                grad[r * cols + j] = ((p - f64::from(u8::from(j == label))) * scale) as f32;
                            }
                        }
                    } else {
                        let p = (row[label] as f64).clamp(EPSILON, 1.0);
                        sum -= p.ln();
                        if gradient && row[label] as f64 == p {
                            grad[r * cols + label] = (-scale / p) as f32;
                        }
                    }
                    // The most probable class, the first one on ties: the same for z and softmax(z).
                    let predicted = row.iter().enumerate().fold(0, |best, (j, &v)| if v > row[best] { j } else { best });
                    for (m, metric) in metrics.iter().enumerate() {
                        if *metric == Metric::Accuracy && predicted == label {
                            metric_sums[m] += 1.0;
                        }
                    }
                }
                for metric in metrics {
                    metric.check_labels_target()?;
                }
            }
            (loss, BatchTarget::Labels(_)) => {
                return Err(CourseError::bad_config(
                    "loss",
                    format!(
                        "{} compares outputs with values, but the targets are class labels; use \
                         Loss::SparseCategoricalCrossEntropy for labels",
                        loss.name()
                    ),
                ));
            }
            (loss, BatchTarget::Values(_)) => {
                return Err(CourseError::bad_config(
                    "loss",
                    format!(
                        "{} needs class labels, but the targets are values; use Loss::Mse or \
                         Loss::BinaryCrossEntropy",
                        loss.name()
                    ),
                ));
            }
        }
        let count = match (self, target) {
            (Loss::Wasserstein, _) | (_, BatchTarget::Labels(_)) => rows,
            (_, BatchTarget::Values(_)) => z.len(),
        };
        Ok(BatchLoss {
            value: sum / count.max(1) as f64,
            gradient: grad,
            metrics: metric_sums.iter().map(|s| s / rows.max(1) as f64).collect(),
        })
    }
}

/// Sums `term(z, y) = (loss, ∂loss/∂z, output probability)` over the outputs, writes
/// `scale · ∂loss/∂z` into `grad` unless it is empty, and counts (if `rounded`) the outputs whose
/// probability rounds to the rounded target.
#[inline(always)]
fn sum_terms(z: &[f32], y: &[f32], grad: &mut [f32], scale: f64, rounded: bool, term: impl Fn(f32, f32) -> (f64, f64, f64)) -> (f64, usize) {
    let (mut sum, mut matches) = (0.0, 0);
    for (k, (&zk, &yk)) in z.iter().zip(y).enumerate() {
        let (loss, dz, p) = term(zk, yk);
        sum += loss;
        if let Some(g) = grad.get_mut(k) {
            *g = (dz * scale) as f32;
        }
        if rounded && p.round_ties_even() == (yk as f64).round_ties_even() {
            matches += 1;
        }
    }
    (sum, matches)
}

/// Binary cross-entropy from logits, the stacked autoencoders' loss: [`sum_terms`] for that
/// pair, written so that the compiler vectorises it (no branch, no libm call, no running sum in
/// the element loop), with AVX2 where the CPU has it. Returns the loss sum and the number of
/// outputs whose probability rounds to the rounded target (targets are in [0, 1] here).
fn bce_from_logits(z: &[f32], y: &[f32], grad: &mut [f32], scale: f32) -> (f64, usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { bce_from_logits_avx2(z, y, grad, scale) };
    }
    bce_from_logits_lanes(z, y, grad, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bce_from_logits_avx2(z: &[f32], y: &[f32], grad: &mut [f32], scale: f32) -> (f64, usize) {
    bce_from_logits_lanes(z, y, grad, scale)
}

#[inline(always)]
fn bce_from_logits_lanes(z: &[f32], y: &[f32], grad: &mut [f32], scale: f32) -> (f64, usize) {
    let (mut sum, mut matches) = (0.0f64, 0usize);
    let mut add = |start: usize, len: usize, (terms, dz, hits): ([f32; LANES], [f32; LANES], [u8; LANES])| {
        sum += terms[..len].iter().map(|&t| t as f64).sum::<f64>();
        matches += hits[..len].iter().map(|&h| h as usize).sum::<usize>();
        if let Some(g) = grad.get_mut(start..start + len) {
            g.copy_from_slice(&dz[..len]);
        }
    };
    let (z_chunks, y_chunks) = (z.chunks_exact(LANES), y.chunks_exact(LANES));
    let (z_tail, y_tail) = (z_chunks.remainder(), y_chunks.remainder());
    for (c, (zs, ys)) in z_chunks.zip(y_chunks).enumerate() {
        add(c * LANES, LANES, bce_lanes(zs.try_into().unwrap(), ys.try_into().unwrap(), scale));
    }
    // The last few outputs, padded to a whole chunk.
    let (mut zs, mut ys) = ([0.0f32; LANES], [0.0f32; LANES]);
    zs[..z_tail.len()].copy_from_slice(z_tail);
    ys[..y_tail.len()].copy_from_slice(y_tail);
    add(z.len() - z_tail.len(), z_tail.len(), bce_lanes(&zs, &ys, scale));
    (sum, matches)
}

/// Outputs per step of [`bce_from_logits`]: one AVX2 register of f32.
const LANES: usize = 8;

/// Loss terms, scaled gradients and rounded hits of LANES outputs.
#[inline(always)]
fn bce_lanes(zs: &[f32; LANES], ys: &[f32; LANES], scale: f32) -> ([f32; LANES], [f32; LANES], [u8; LANES]) {
    let (mut terms, mut dz, mut hits) = ([0.0f32; LANES], [0.0f32; LANES], [0u8; LANES]);
    for l in 0..LANES {
        let (z, y) = (zs[l], ys[l]);
        // softplus(z) − y·z, with softplus(z) = max(z, 0) + ln(1 + e^−|z|), and
        // σ(z) = 1 / (1 + e^−|z|) or e^−|z| / (1 + e^−|z|) by the sign of z.
        let e = exp_f32(-z.abs());
        let p = if z >= 0.0 { 1.0 } else { e } / (1.0 + e);
        terms[l] = z.max(0.0) - y * z + ln_1p_f32(e);
        dz[l] = (p - y) * scale;
        hits[l] = u8::from((p > 0.5) == (y > 0.5));
    }
    (terms, dz, hits)
}


/// `ln(1 + e)` for 0 ≤ e ≤ 1, branch-free: 2·atanh(s) with s = e / (2 + e) ≤ 1/3, by its series
/// (exact for small e, where ln(1 + e) would lose digits).
#[inline(always)]
fn ln_1p_f32(e: f32) -> f32 {
    let s = e / (2.0 + e);
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
    2.0 * s * series
}

fn check_values(targets: usize, outputs: usize, cols: usize) -> Result<()> {
    if targets != outputs {
        return Err(CourseError::shape(
            "targets",
            format!("targets of {cols} values per sample, as the model outputs"),
            format!("{} values in all for {} outputs", targets, outputs),
        ));
    }
    Ok(())
}

impl Metric {
    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::RoundedAccuracy => "rounded_accuracy",
            Metric::Accuracy => "accuracy",
        }
    }

    fn check_values_target(self) -> Result<()> {
        match self {
            Metric::RoundedAccuracy => Ok(()),
            Metric::Accuracy => Err(self.mismatch()),
        }
    }

    fn check_labels_target(self) -> Result<()> {
        match self {
            Metric::Accuracy => Ok(()),
            Metric::RoundedAccuracy => Err(self.mismatch()),
        }
    }

    fn mismatch(self) -> CourseError {
        CourseError::bad_config(
            "metrics",
            format!(
                "{} does not apply to these targets: rounded_accuracy is for reconstructions, \
                 accuracy for class labels",
                self.name()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradient by central differences of the loss.
    fn numeric_gradient(loss: Loss, activation: Activation, z: &[f32], cols: usize, target: &BatchTarget) -> Vec<f64> {
        (0..z.len())
            .map(|k| {
                let h = 1e-3f32;
                let at = |d: f32| {
                    let mut z = z.to_vec();
                    z[k] += d;
                    loss.batch(activation, &z, cols, target, &[], false).unwrap().value
                };
                (at(h) - at(-h)) / (2.0 * h as f64)
            })
            .collect()
    }

    #[test]
    fn hand_written_gradients_match_the_loss() {
        let z = [0.3f32, -1.2, 2.0, 0.05, -0.4, 1.1];
        let values = BatchTarget::Values(vec![0.0, 1.0, 0.7, 0.2, 0.5, 1.0]);
        let labels = BatchTarget::Labels(vec![2, 0]);
        let probabilities = [0.2f32, 0.5, 0.3, 0.6, 0.3, 0.1];
        let cases: [(Loss, Activation, &[f32], &BatchTarget); 7] = [
            (Loss::Huber, Activation::Linear, &z, &values),
            (Loss::BinaryCrossEntropy, Activation::Sigmoid, &z, &values),
            (Loss::Mse, Activation::Sigmoid, &z, &values),
            (Loss::Mse, Activation::Linear, &z, &values),
            (Loss::BinaryCrossEntropy, Activation::Linear, &probabilities, &values),
            (Loss::SparseCategoricalCrossEntropy, Activation::Softmax, &z, &labels),
            (Loss::SparseCategoricalCrossEntropy, Activation::Linear, &probabilities, &labels),
        ];
        for (loss, activation, z, target) in cases {
            let exact = loss.batch(activation, z, 3, target, &[], true).unwrap().gradient;
            for (e, n) in exact.iter().zip(numeric_gradient(loss, activation, z, 3, target)) {
                assert!((*e as f64 - n).abs() < 1e-3, "{loss:?} after {activation:?}: {e} vs {n}");
            }
        }
    }

    /// Huber is half the squared error inside |e| ≤ 1 and |e| − ½ outside (Keras's values).
    #[test]
    fn huber_is_kerass() {
        let z = [0.5f32, 3.0, -2.0, 0.0];
        let y = BatchTarget::Values(vec![0.0; 4]);
        let loss = Loss::Huber.batch(Activation::Linear, &z, 4, &y, &[], false).unwrap().value;
        assert!((loss - (0.125 + 2.5 + 1.5 + 0.0) / 4.0).abs() < 1e-12, "{loss}");
    }

    #[test]
    fn cross_entropy_from_logits_equals_it_from_probabilities() {
        let z = [0.3f32, -1.2, 2.0, 0.05];
        let p: Vec<f32> = z.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        let y = BatchTarget::Values(vec![0.0, 1.0, 0.7, 0.2]);
        let metrics = [Metric::RoundedAccuracy];
        let from_logits = Loss::BinaryCrossEntropy.batch(Activation::Sigmoid, &z, 2, &y, &metrics, false).unwrap();
        let from_p = Loss::BinaryCrossEntropy.batch(Activation::Linear, &p, 2, &y, &metrics, false).unwrap();
        assert!((from_logits.value - from_p.value).abs() < 1e-6);
        // Rounded: p = (0.57, 0.23, 0.88, 0.51) against y = (0, 1, 1, 0): one pixel of four right.
        assert_eq!(from_logits.metrics, vec![0.25]);
        assert_eq!(from_p.metrics, vec![0.25]);
    }

    #[test]
    fn fast_exp_and_log_agree_with_libm() {
        for i in 0..=10_000 {
            let x = -30.0 * i as f32 / 10_000.0;
            let (fast, libm) = (exp_f32(x), x.exp());
            assert!((fast - libm).abs() <= 4.0 * f32::EPSILON * libm, "exp({x}): {fast} vs {libm}");
            let e = i as f32 / 10_000.0;
            let (fast, libm) = (ln_1p_f32(e), (e as f64).ln_1p() as f32);
            assert!((fast - libm).abs() <= 4.0 * f32::EPSILON * libm.max(f32::MIN_POSITIVE), "ln_1p({e}): {fast} vs {libm}");
        }
        assert!(exp_f32(-200.0) > 0.0 && exp_f32(-200.0) < 1e-37);
    }

    #[test]
    fn mismatched_targets_and_labels_are_refused() {
        let z = [0.1f32, 0.2, 0.3, 0.4];
        let labels = BatchTarget::Labels(vec![1, 7]);
        let err = Loss::SparseCategoricalCrossEntropy.batch(Activation::Softmax, &z, 2, &labels, &[], false).err().unwrap();
        assert!(err.to_string().contains("label 7"), "{err}");
        let err = Loss::Mse.batch(Activation::Linear, &z, 2, &labels, &[], false).err().unwrap();
        assert!(err.to_string().contains("SparseCategoricalCrossEntropy"), "{err}");
        let values = BatchTarget::Values(vec![0.0; 4]);
        let err = Loss::Mse.batch(Activation::Linear, &z, 2, &values, &[Metric::Accuracy], false).err().unwrap();
        assert!(err.to_string().contains("accuracy for class labels"), "{err}");
    }
}
