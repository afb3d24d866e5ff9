//! Lesson 06, 변이형 오토인코더 (VAE) and VAE 활용 패션 MNIST 이미지 생성 (generating
//! Fashion-MNIST images with a VAE).
//!
//! A variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014) is
//! probabilistic and generative: its encoder gives, for each image, the mean μ and the log
//! variance γ = log σ² of a Gaussian over codings; a coding is *sampled* from it
//! (`z = μ + exp(γ/2)·ε`, ε ~ N(0, I): the reparameterisation trick, which keeps the sampling
//! differentiable in μ and γ); and the decoder reconstructs the image from z. A latent loss, the
//! KL divergence of the codings' Gaussian from N(0, I), −½ Σ(1 + γ − exp(γ) − μ²), pushes the
//! codings towards a standard Gaussian cloud, so that decoding a sample of N(0, I) gives a new
//! image. The book's model: codings of size 10, Dense 150 → 100 (SELU) on both sides, the latent
//! loss averaged over the batch and divided by 784 (to match the per-pixel binary cross-entropy),
//! RMSprop, batch 128, 25 epochs.

use crate::checkpoint::Description;
use crate::data::{IMAGE_PIXELS, Matrix};
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Dense};
use crate::rng::{Noise, Rng};
use crate::sequential::{Sequential, Shape, Value};
use crate::summary::{ModelSummary, Summary};
use crate::train::{FitConfig, Loss, Metric, OptimizerConfig, TrainModel, TrainOutput, predict, predict_with};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// The book's `optimizer="rmsprop"`: Keras's default learning rate 0.001.
pub const LEARNING_RATE: f64 = 0.001;
/// The book's `fit(..., epochs=25, batch_size=128)`.
pub const EPOCHS: usize = 25;
/// The book's batch size.
pub const BATCH_SIZE: usize = 128;

/// The book's training setup: binary cross-entropy (plus the model's latent loss), RMSprop,
/// batch 128, rounded accuracy, 25 epochs.
pub fn fit_config() -> FitConfig {
    FitConfig::new(OptimizerConfig::rmsprop(LEARNING_RATE), Loss::BinaryCrossEntropy)
        .with_metrics(&[Metric::RoundedAccuracy])
        .with_epochs(EPOCHS)
        .with_batch_size(BATCH_SIZE)
}

crate::config::course_config! {
    /// The book's variational autoencoder.
    pub struct VaeConfig {
        /// Size of the coding (the book's `codings_size = 10`; 2 to draw the latent space).
        codings / with_codings: usize = 10,
        /// Units of the hidden layers, input side first (the decoder mirrors them).
        hidden / with_hidden: [usize; 2] = [150, 100],
        /// The weight of the latent loss (β; the book's 1). Larger values give smoother, more
        /// Gaussian codings and blurrier reconstructions (Higgins et al., β-VAE, ICLR 2017).
        beta / with_beta: f64 = 1.0,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl VaeConfig {
    /// Builds the variational autoencoder on `device`.
    pub fn init(&self, device: &Device) -> Result<Vae> {
        if self.codings == 0 || self.hidden.contains(&0) {
            return Err(CourseError::bad_config("VaeConfig", "codings and the hidden sizes must all be at least 1"));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(CourseError::bad_config("beta", format!("the latent loss's weight must be 0 or more, got {}", self.beta)));
        }
        let [h1, h2] = self.hidden;
        let encoder = Sequential::builder("variational_encoder", Shape::Flat(IMAGE_PIXELS), self.seed, device)
            .dense(h1, Activation::Selu)
            .dense(h2, Activation::Selu)
            .build()?;
        let mut rng = Rng::new(self.seed.wrapping_add(1));
        let mean = Dense::new(h2, self.codings, Activation::Linear, &mut rng, device);
        let log_var = Dense::new(h2, self.codings, Activation::Linear, &mut rng, device);
        let decoder = Sequential::builder("variational_decoder", Shape::Flat(self.codings), self.seed.wrapping_add(2), device)
            .dense(h2, Activation::Selu)
            .dense(h1, Activation::Selu)
            .dense(IMAGE_PIXELS, Activation::Sigmoid)
            .build()?;
        Ok(Vae { encoder, mean, log_var, decoder, beta: self.beta })
    }
}

/// The variational autoencoder.
#[derive(Module, Debug)]
pub struct Vae {
    /// Images to the hidden features the two heads read.
    pub encoder: Sequential,
    /// The head giving μ, the codings' mean.
    pub mean: Dense,
    /// The head giving γ = log σ², the codings' log variance.
    pub log_var: Dense,
    /// Codings to images.
    pub decoder: Sequential,
    /// The latent loss's weight.
    #[module(skip)]
    pub beta: f64,
}

/// The reparameterisation trick: `z = μ + exp(γ / 2) · ε` with ε drawn from N(0, I) by `noise`.
/// The gradient reaches μ and γ through the product and the sum; ε is a constant.
///
/// # Shapes
/// `[batch, codings]`, `[batch, codings]` → `[batch, codings]`
pub fn sample(mean: Tensor<2>, log_var: Tensor<2>, noise: &mut Noise) -> Tensor<2> {
    let epsilon = noise.normal(mean.dims(), 1.0, &mean.device());
    epsilon * log_var.mul_scalar(0.5).exp() + mean
}

/// The latent loss of a batch: −½ Σ(1 + γ − exp(γ) − μ²) over the codings, averaged over the
/// batch, divided by 784 as in the book (so that it weighs like the per-pixel cross-entropy).
///
/// # Shapes
/// `[batch, codings]`, `[batch, codings]` → `[1]`
pub fn latent_loss(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let per_sample = (log_var.clone().add_scalar(1.0) - log_var.exp() - mean.powi_scalar(2)).sum_dim(1).mul_scalar(-0.5);
    per_sample.mean().div_scalar(IMAGE_PIXELS as f64)
}

impl Vae {
    /// The size of the coding.
    pub fn codings_size(&self) -> usize {
        self.mean.units()
    }

    /// μ and γ for a batch of images.
    ///
    /// # Shapes
    /// `[batch, 784]` → `[batch, codings]`, `[batch, codings]`
    pub(crate) fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = self.encoder.forward(x);
        (self.mean.forward(h.clone()), self.log_var.forward(h))
    }

    /// The codings' means of every row of `x`: where the encoder puts each image.
    pub fn codings(&self, x: &Matrix) -> Result<Matrix> {
        predict_with(self, x, |m, t| m.encode(t).0)
    }

    /// Images decoded from the rows of `codings` (the book's `variational_decoder(codings)`).
    pub fn decode(&self, codings: &Matrix) -> Result<Matrix> {
        predict(&self.decoder, codings)
    }

    /// `n` new images: codings drawn from N(0, temperature²·I) with `seed`, decoded (the slide's
    /// `tf.random.normal(shape=[12, codings_size])`, at temperature 1).
    pub fn generate(&self, n: usize, temperature: f64, seed: u64) -> Result<Matrix> {
        self.decode(&random_codings(n, self.codings_size(), temperature, seed)?)
    }
}

/// `n` codings of `size` values drawn from N(0, temperature²) with `seed`.
pub fn random_codings(n: usize, size: usize, temperature: f64, seed: u64) -> Result<Matrix> {
    if n == 0 || size == 0 {
        return Err(CourseError::bad_config("n", "ask for at least one coding of at least one value"));
    }
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(CourseError::bad_config("temperature", format!("must be 0 or more, got {temperature}")));
    }
    let mut values = vec![0.0f32; n * size];
    Rng::new(seed).fill_normal(&mut values);
    values.iter_mut().for_each(|v| *v *= temperature as f32);
    Matrix::new(n, size, values)
}

impl TrainModel for Vae {
    fn input_size(&self) -> usize {
        self.encoder.input_size()
    }

    /// At inference the course decodes the mean coding (the book's model samples even then, so
    /// its reconstructions vary from call to call; the mean is the most likely coding).
    ///
    /// # Shapes
    /// `[batch, 784]` → `[batch, 784]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(self.encode(x).0)
    }

    fn forward_train(&self, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let (mean, log_var) = self.encode(x);
        let z = sample(mean.clone(), log_var.clone(), noise);
        let latent = latent_loss(mean, log_var).mul_scalar(self.beta);
        let (reconstruction, activation) = self.decoder.forward_split(Value::Flat(z), noise, None);
        TrainOutput::split(reconstruction.into_rows(), activation).with_term("latent_loss", latent)
    }

    fn describe(&self) -> Description {
        let hidden: Vec<String> = self.encoder.layers.iter().filter_map(|l| match l {
            crate::sequential::Layer::Dense(d) => Some(d.units().to_string()),
            _ => None,
        }).collect();
        Description::new("vae", &[("codings", self.codings_size().to_string()), ("hidden", hidden.join(",")), ("beta", self.beta.to_string())])
    }
}

crate::train::compiled_training_methods!(Vae);

impl Summary for Vae {
    fn summary(&self) -> ModelSummary {
        let k = self.codings_size();
        ModelSummary::new("variational_ae")
            .nested("encoder", self.encoder.summary())
            .layer("encoder/codings_mean", "Dense, linear", &[k], self.mean.num_params())
            .layer("encoder/codings_log_var", "Dense, linear", &[k], self.log_var.num_params())
            .layer("encoder/sampling", "Sampling", &[k], 0)
            .nested("decoder", self.decoder.summary())
    }
}

/// TensorFlow's bilinear `tf.image.resize` of a `rows × cols` grid of codings to
/// `out_rows × out_cols` (half-pixel centres): the book's semantic interpolation, which decodes
/// codings in between the ones it was given.
pub fn interpolate_grid(codings: &Matrix, rows: usize, cols: usize, out_rows: usize, out_cols: usize) -> Result<Matrix> {
    if codings.rows != rows * cols || rows == 0 || cols == 0 || out_rows == 0 || out_cols == 0 {
        return Err(CourseError::shape("interpolate_grid", format!("{rows} × {cols} = {} codings, and a non-empty output grid", rows * cols), format!("{} codings", codings.rows)));
    }
    let source = |i: usize, n_out: usize, n_in: usize| {
        let x = ((i as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).clamp(0.0, (n_in - 1) as f64);
        let lo = x.floor() as usize;
        (lo, (lo + 1).min(n_in - 1), x - lo as f64)
    };
    let k = codings.cols;
    let mut data = Vec::with_capacity(out_rows * out_cols * k);
    for r in 0..out_rows {
        let (r0, r1, fr) = source(r, out_rows, rows);
        for c in 0..out_cols {
            let (c0, c1, fc) = source(c, out_cols, cols);
            for j in 0..k {
                let at = |rr: usize, cc: usize| codings.at(rr * cols + cc)[j] as f64;
                let top = at(r0, c0) * (1.0 - fc) + at(r0, c1) * fc;
                let bottom = at(r1, c0) * (1.0 - fc) + at(r1, c1) * fc;
                data.push((top * (1.0 - fr) + bottom * fr) as f32);
            }
        }
    }
    Matrix::new(out_rows * out_cols, k, data)
}

/// Codings equal to `base` but for coding `axis`, which takes each of `values`: decoded, they
/// show what that one latent dimension controls.
pub fn sweep_axis(base: &[f32], axis: usize, values: &[f32]) -> Result<Matrix> {
    if axis >= base.len() {
        return Err(CourseError::bad_config("axis", format!("the codings have {} values, so axis must be below {}", base.len(), base.len())));
    }
    let rows: Vec<Vec<f32>> = values.iter().map(|&v| {
        let mut z = base.to_vec();
        z[axis] = v;
        z
    }).collect();
    Matrix::from_rows(&rows)
}

/// The codings of a `n × n` grid over a 2-D latent space, at the standard normal's quantiles
/// from 5% to 95% (so the grid covers the Gaussian's mass evenly), first row at the top.
pub fn latent_grid(n: usize) -> Result<Matrix> {
    if n < 2 {
        return Err(CourseError::bad_config("n", "the grid needs at least 2 points a side"));
    }
    let q: Vec<f32> = (0..n).map(|i| normal_quantile(0.05 + 0.9 * i as f64 / (n - 1) as f64) as f32).collect();
    let rows: Vec<[f32; 2]> = (0..n).flat_map(|r| (0..n).map(move |c| (r, c))).map(|(r, c)| [q[c], q[n - 1 - r]]).collect();
    Matrix::from_rows(&rows)
}

/// The standard normal's quantile function (Acklam's rational approximation, relative error
/// below 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
    const B: [f64; 5] = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    const C: [f64; 6] = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    let tail = |q: f64| (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0);
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_keras() {
        let vae = VaeConfig::new().init(&Device::flex()).unwrap();
        // Keras: variational_encoder 134,870 + variational_decoder 134,634.
        assert_eq!(vae.summary().total_params(), 269_504);
    }

    /// The latent loss of the book, checked by hand: μ = 0, γ = 0 gives 0; μ = 1 gives ½ per
    /// coding; γ = ln 2 gives −½(1 + ln 2 − 2) per coding.
    #[test]
    fn latent_loss_by_hand() {
        let d = Device::flex();
        let t = |v: f32| Tensor::<2>::full([2, 3], v, &d);
        let value = |m: f32, g: f32| latent_loss(t(m), t(g)).into_scalar::<f32>() as f64 * 784.0;
        assert!(value(0.0, 0.0).abs() < 1e-6);
        assert!((value(1.0, 0.0) - 1.5).abs() < 1e-5);
        let g = 2f64.ln();
        assert!((value(0.0, g as f32) - 3.0 * -0.5 * (1.0 + g - 2.0)).abs() < 1e-5);
    }

    #[test]
    fn interpolation_keeps_the_corners_and_blends_between() {
        let codings = Matrix::new(4, 1, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let grid = interpolate_grid(&codings, 2, 2, 2, 2).unwrap();
        assert_eq!(grid.data, codings.data);
        let wide = interpolate_grid(&Matrix::new(2, 1, vec![0.0, 1.0]).unwrap(), 1, 2, 1, 4).unwrap();
        // TensorFlow's half-pixel rule: sources at −0.25, 0.25, 0.75, 1.25, clamped.
        assert_eq!(wide.data, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn quantiles_are_the_normal_ones() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.05) + 1.644854).abs() < 1e-5);
    }
}
