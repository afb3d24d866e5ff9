//! Lesson 05, 잡음제거 AE (denoising autoencoders), and sparse autoencoders.
//!
//! A denoising autoencoder learns useful features by reconstructing clean inputs from corrupted
//! ones (Vincent et al., "Stacked Denoising Autoencoders", JMLR 11, 2010: 3371-3408; the idea goes
//! back to Yann LeCun's 1987 thesis, as the slide says). The slide's two corruptions are a
//! `GaussianNoise(0.2)` layer and a `Dropout(0.5)` layer on the input, both active only while
//! training; the rest is the stacked autoencoder of lesson 02 (784 → 100 → 30 → 100 → 784,
//! SELU, sigmoid output, binary cross-entropy), trained with SGD at 1.0 for 10 epochs.
//!
//! Beyond the slide, the book's notebook also builds sparse autoencoders: 300 sigmoid codings
//! with an L1 activity penalty, or with a KL-divergence loss pulling each coding unit's mean
//! activation towards a target of 0.1 (Ng, "Sparse autoencoder", CS294A lecture notes, 2011).

use crate::data::Matrix;
use crate::error::{CourseError, Result};
use crate::layers::Activation;
use crate::plot::Figure;
use crate::rng::Noise;
use crate::autoencoder::Autoencoder;
use crate::sequential::{Sequential, Shape};
use crate::train::{Data, FitConfig, Loss, Metric, OptimizerConfig, predict};
use burn::tensor::Device;
use std::fmt;

/// The slides' `SGD(learning_rate=1.0)`.
pub const LEARNING_RATE: f64 = 1.0;
/// The book's `fit(..., epochs=10)`.
pub const EPOCHS: usize = 10;

/// The book's training setup: binary cross-entropy, SGD at 1.0, batch 32, rounded accuracy, 10
/// epochs.
pub fn fit_config() -> FitConfig {
    FitConfig::new(OptimizerConfig::sgd(LEARNING_RATE), Loss::BinaryCrossEntropy)
        .with_metrics(&[Metric::RoundedAccuracy])
        .with_epochs(EPOCHS)
}

/// How the input is corrupted while training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Corruption {
    /// `GaussianNoise(stddev)`: add N(0, stddev²) to every pixel (the slide's 0.2).
    Gaussian(f64),
    /// `Dropout(rate)`: zero each pixel with probability `rate` and scale the rest by
    /// `1 / (1 − rate)` (the slide's 0.5).
    Dropout(f64),
}

impl Corruption {
    /// The slide's Gaussian noise, σ = 0.2.
    pub fn gaussian() -> Corruption {
        Corruption::Gaussian(0.2)
    }

    /// The slide's dropout, rate 0.5.
    pub fn dropout() -> Corruption {
        Corruption::Dropout(0.5)
    }

    fn check(self) -> Result<()> {
        match self {
            Corruption::Gaussian(s) if !(s.is_finite() && s >= 0.0) => {
                Err(CourseError::bad_config("Corruption::Gaussian", format!("the standard deviation must be 0 or more, got {s}")))
            }
            Corruption::Dropout(r) if !(0.0..1.0).contains(&r) => {
                Err(CourseError::bad_config("Corruption::Dropout", format!("the rate must be in [0, 1), got {r}")))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Gaussian(s) => write!(f, "Gaussian noise σ={s}"),
            Corruption::Dropout(r) => write!(f, "dropout {r}"),
        }
    }
}

crate::config::course_config! {
    /// The slide's denoising autoencoder: a corruption layer, then 784 → 100 → 30 → 100 → 784.
    pub struct DenoisingAeConfig {
        /// The corruption applied to the input while training.
        corruption / with_corruption: Corruption = Corruption::gaussian(),
        /// Units of the hidden layers.
        hidden / with_hidden: usize = 100,
        /// Size of the coding.
        codings / with_codings: usize = 30,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl DenoisingAeConfig {
    /// Builds the autoencoder on `device`.
    pub fn init(&self, device: &Device) -> Result<Autoencoder> {
        self.corruption.check()?;
        let input = Sequential::builder("denoising_encoder", Shape::Flat(crate::data::IMAGE_PIXELS), self.seed, device);
        let input = match self.corruption {
            Corruption::Gaussian(s) => input.gaussian_noise(s),
            Corruption::Dropout(r) => input.dropout(r),
        };
        let encoder = input.dense(self.hidden, Activation::Selu).dense(self.codings, Activation::Selu).build()?;
        let decoder = dense_decoder("denoising_decoder", self.codings, self.hidden, self.seed, device)?;
        let name = match self.corruption {
            Corruption::Gaussian(s) => format!("denoising_ae_gaussian{s}"),
            Corruption::Dropout(r) => format!("denoising_ae_dropout{r}"),
        };
        Autoencoder::new(&name, encoder, decoder)
    }
}

/// The decoder of the lesson's dense autoencoders: `codings` → `hidden` (SELU) → 784 (sigmoid).
fn dense_decoder(name: &str, codings: usize, hidden: usize, seed: u64, device: &Device) -> Result<Sequential> {
    Sequential::builder(name, Shape::Flat(codings), seed.wrapping_add(1), device)
        .dense(hidden, Activation::Selu)
        .dense(crate::data::IMAGE_PIXELS, Activation::Sigmoid)
        .build()
}

/// `x` corrupted as `corruption` corrupts a training batch, with noise from `seed`: the top row of
/// the slide's figure (the book's `noise(X_valid, training=True)`).
pub fn corrupt(x: &Matrix, corruption: Corruption, seed: u64) -> Result<Matrix> {
    x.check()?;
    corruption.check()?;
    let device = crate::device::device();
    let mut noise = Noise::training(seed);
    let t = x.to_tensor(&device);
    let out = match corruption {
        Corruption::Gaussian(s) => t.clone() + noise.normal(t.dims(), s as f32, &device),
        Corruption::Dropout(r) => t.clone() * noise.dropout_mask(t.dims(), r, &device),
    };
    Ok(Matrix::from_tensor(out))
}

/// One row of [`noise_sweep`]: a model trained with Gaussian noise of `stddev`, and how well it
/// reconstructs clean and noisy validation images (binary cross-entropy against the clean ones).
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseLevel {
    /// The training noise's σ, also the σ of the noisy validation images.
    pub stddev: f64,
    /// Loss on clean validation images.
    pub clean_loss: f64,
    /// Loss on noisy validation images, against the clean ones: how well it denoises.
    pub denoised_loss: f64,
}

/// The knob of the lesson: denoising autoencoders trained with each Gaussian noise `levels`,
/// and their validation losses on clean and on noisy inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSweep {
    /// One row per level, in the order given.
    pub rows: Vec<NoiseLevel>,
}

/// Trains one denoising autoencoder per noise level (σ in `levels`) for `epochs` on `train`, and
/// measures each on `valid` (noise from a fixed seed, so every model sees the same noisy images
/// at a given level).
pub fn noise_sweep(levels: &[f64], train: &Matrix, valid: &Matrix, epochs: usize, device: &Device) -> Result<NoiseSweep> {
    if levels.is_empty() {
        return Err(CourseError::bad_config("levels", "give at least one noise level, such as [0.0, 0.1, 0.2, 0.4]"));
    }
    for &s in levels {
        Corruption::Gaussian(s).check()?;
    }
    let mut rows = Vec::new();
    for &stddev in levels {
        let mut ae = DenoisingAeConfig::new().with_corruption(Corruption::Gaussian(stddev)).init(device)?;
        ae.fit(Data::autoencoder(train), None, &fit_config().with_epochs(epochs).with_verbose(false))?;
        let clean_loss = ae.evaluate(Data::autoencoder(valid), Loss::BinaryCrossEntropy, &[])?[0];
        let noisy = corrupt(valid, Corruption::Gaussian(stddev), 7)?;
        let denoised_loss = ae.evaluate(Data::pairs(&noisy, valid), Loss::BinaryCrossEntropy, &[])?[0];
        println!("σ = {stddev}: clean {clean_loss:.4}, noisy {denoised_loss:.4}");
        rows.push(NoiseLevel { stddev, clean_loss, denoised_loss });
    }
    Ok(NoiseSweep { rows })
}

impl NoiseSweep {
    /// Both losses against the noise level.
    pub fn plot(&self) -> Result<Figure> {
        let xs: Vec<f64> = self.rows.iter().map(|r| r.stddev).collect();
        let series = vec![
            ("clean validation images".to_owned(), self.rows.iter().map(|r| r.clean_loss).collect()),
            ("noisy validation images (σ as trained)".to_owned(), self.rows.iter().map(|r| r.denoised_loss).collect()),
        ];
        crate::plot::xy_chart("Validation loss against the training noise", "noise σ", "binary cross-entropy", &xs, &series)
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }
}

impl fmt::Display for NoiseSweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>8}{:>14}{:>14}", "noise σ", "clean loss", "noisy loss")?;
        for r in &self.rows {
            write!(f, "\n{:>8}{:>14.4}{:>14.4}", r.stddev, r.clean_loss, r.denoised_loss)?;
        }
        Ok(())
    }
}

/// The sparsity constraint on a sparse autoencoder's codings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sparsity {
    /// None: the book's "simple" autoencoder with sigmoid codings, for comparison.
    None,
    /// `ActivityRegularization(l1=weight)` (the book's 1e-3).
    L1(f64),
    /// The book's `KLDivergenceRegularizer(weight, target)` (0.05 and 0.1).
    Kl {
        /// The loss's weight.
        weight: f64,
        /// The target mean activation.
        target: f64,
    },
}

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsity::None => write!(f, "no sparsity loss"),
            Sparsity::L1(w) => write!(f, "L1 activity penalty {w}"),
            Sparsity::Kl { weight, target } => write!(f, "KL sparsity loss {weight}, target {target}"),
        }
    }
}

crate::config::course_config! {
    /// The book's sparse autoencoders: 784 → 100 (SELU) → `codings` (sigmoid) → 100 → 784.
    pub struct SparseAeConfig {
        /// The sparsity constraint.
        sparsity / with_sparsity: Sparsity = Sparsity::L1(1e-3),
        /// Units of the coding layer: 300 in the book's sparse models, 30 in its simple one.
        codings / with_codings: usize = 300,
        /// Units of the hidden layers.
        hidden / with_hidden: usize = 100,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl SparseAeConfig {
    /// The book's `simple_ae`: 30 sigmoid codings, no sparsity loss.
    pub fn simple() -> SparseAeConfig {
        SparseAeConfig::new().with_sparsity(Sparsity::None).with_codings(30)
    }

    /// The book's `sparse_l1_ae`: 300 codings, L1 penalty 1e-3.
    pub fn l1() -> SparseAeConfig {
        SparseAeConfig::new()
    }

    /// The book's `sparse_kl_ae`: 300 codings, KL loss of weight 0.05 towards 0.1.
    pub fn kl() -> SparseAeConfig {
        SparseAeConfig::new().with_sparsity(Sparsity::Kl { weight: 0.05, target: 0.1 })
    }

    /// Builds the autoencoder on `device`.
    pub fn init(&self, device: &Device) -> Result<Autoencoder> {
        let encoder = Sequential::builder("sparse_encoder", Shape::Flat(crate::data::IMAGE_PIXELS), self.seed, device)
            .dense(self.hidden, Activation::Selu)
            .dense(self.codings, Activation::Sigmoid);
        let encoder = match self.sparsity {
            Sparsity::None => encoder,
            Sparsity::L1(weight) => encoder.activity_l1(weight),
            Sparsity::Kl { weight, target } => encoder.kl_sparsity(weight, target),
        }
        .build()?;
        let decoder = dense_decoder("sparse_decoder", self.codings, self.hidden, self.seed, device)?;
        let name = match self.sparsity {
            Sparsity::None => "sparse_ae_none".to_owned(),
            Sparsity::L1(_) => "sparse_ae_l1".to_owned(),
            Sparsity::Kl { .. } => "sparse_ae_kl".to_owned(),
        };
        Autoencoder::new(&name, encoder, decoder)
    }
}

/// The book's `plot_activations_histogram`: on the left, the share of all coding activations in
/// each tenth of [0, 1]; on the right, the share of coding units whose mean activation falls in
/// each tenth, with the overall mean marked. Sparsity shows as activations piled near 0 and unit
/// means near the target.
pub fn activation_histograms(ae: &Autoencoder, x: &Matrix, title: &str) -> Result<Figure> {
    let codings = predict(&ae.encoder, x)?;
    let means = codings.column_means();
    let overall = means.iter().map(|&m| m as f64).sum::<f64>() / means.len().max(1) as f64;
    let left = crate::plot::histogram(&codings.data, 10, (0.0, 1.0), "all activations", "activation", "% of activations", Some(overall))?;
    let right = crate::plot::histogram(&means, 10, (0.0, 1.0), "mean activation of each unit", "unit's mean activation", "% of units", Some(overall))?;
    let row = Figure::row(&[left, right]);
    Ok(Figure::column(&[(format!("{title} (overall mean activation {overall:.3})"), row)]))
}
