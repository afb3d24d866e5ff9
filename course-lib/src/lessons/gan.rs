//! Lesson 07, 생성적 적대 신경망 (generative adversarial networks), 패션 MNIST 데이터셋으로 간단한
//! GAN 실행 (a simple GAN on Fashion-MNIST) and 심층 합성곱 GAN (DCGAN).
//!
//! A GAN (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014) is two networks with
//! opposite goals: the generator turns random codings into images, the discriminator tells real
//! images from generated ones. They cannot be trained with one `fit`: each training iteration has
//! two phases, (1) one step of the discriminator on a batch of fake images labelled 0 and real
//! ones labelled 1, (2) one step of the generator, through the frozen discriminator, on fake images
//! labelled 1. The slide's dense GAN has codings of 30; the DCGAN (Radford et al., "Unsupervised
//! Representation Learning with Deep Convolutional GANs", ICLR 2016), codings of 100, transposed
//! convolutions with batch normalisation in the generator and strided convolutions with leaky
//! ReLU and dropout in the discriminator, images in [−1, 1].
//!
//! [`train_gan`] is the slide's `train_gan` loop; notebook 07 writes the same loop out cell by
//! cell, and lesson 08 runs this one.

use crate::checkpoint::Description;
use crate::data::Matrix;
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Dense, Padding};
use crate::plot::{Figure, image_grid, xy_chart};
use crate::rng::Noise;
use crate::sequential::{Sequential, Shape, Value};
use crate::summary::{ModelSummary, Summary};
use crate::train::{Data, Loss, Optimizer, OptimizerConfig, StepReport, TrainModel, TrainOutput, predict, train_step};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The slide's `codings_size = 30`.
pub const CODINGS: usize = 30;
/// The book's DCGAN `codings_size = 100`.
pub const DCGAN_CODINGS: usize = 100;
/// The slide's `batch_size = 32`.
pub const BATCH_SIZE: usize = 32;
/// The book's `train_gan(..., n_epochs=50)`.
pub const EPOCHS: usize = 50;

/// The slides' `optimizer="rmsprop"`: RMSprop with Keras's default learning rate, 0.001. Each
/// network gets its own (the slide compiles the discriminator and the combined model apart).
pub fn optimizer() -> Optimizer {
    Optimizer::new(OptimizerConfig::rmsprop(0.001))
}

/// The range the generator draws its pixels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelRange {
    /// [0, 1], the data's own range: the dense GAN's sigmoid output.
    Unit,
    /// [−1, 1]: the DCGAN's tanh output (the book rescales the images with `X * 2 − 1`).
    Symmetric,
}

/// The loss the two networks play with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GanLoss {
    /// The slide's: the discriminator's sigmoid probability of "real", binary cross-entropy.
    BinaryCrossEntropy,
    /// WGAN-GP (Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017): the
    /// discriminator becomes a *critic* with a linear score, trained to score real images above
    /// fakes; the generator to raise its fakes' scores; and a penalty of this weight (the paper's
    /// λ = 10) keeps the critic's gradient norm near 1 on points between real and fake images.
    Wasserstein {
        /// λ, the gradient penalty's weight.
        gradient_penalty: f64,
    },
}

crate::config::course_config! {
    /// The slide's GAN: generator 30 → 100 → 150 → 784 (SELU, sigmoid output), discriminator
    /// 784 → 150 → 100 → 1 (SELU, sigmoid output); and lesson 08's switches, each one change to it.
    pub struct GanConfig {
        /// Size of the codings the generator starts from.
        codings / with_codings: usize = CODINGS,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
        /// The game's loss (lesson 08: `GanLoss::Wasserstein` for WGAN-GP).
        loss / with_loss: GanLoss = GanLoss::BinaryCrossEntropy,
        /// ProGAN's minibatch standard deviation before the discriminator's last layer (lesson 08).
        minibatch_std / with_minibatch_std: bool = false,
        /// ProGAN's equalized learning rate in both networks and pixel-wise normalisation in the
        /// generator (lesson 08).
        progan / with_progan: bool = false,
        /// StyleGAN's generator: a mapping network of this many layers turning the codings into a
        /// style, which modulates every layer of a generator that starts from a learned constant
        /// (lesson 08); 0: the slide's generator.
        style_mapping / with_style_mapping: usize = 0,
        /// With `style_mapping`: StyleGAN's noise inputs, fresh N(0, 1) noise added to every
        /// modulated layer while training, scaled per unit by a learned weight that starts at 0.
        style_noise / with_style_noise: bool = true,
        /// With `style_mapping`: StyleGAN's learning-rate multiplier of the mapping network
        /// (0.01): its weights are stored 1/0.01 times larger and scaled down by as much when
        /// used, so that an adaptive optimizer moves the mapping 100 times slower than the rest.
        /// 1: no multiplier (Keras's plain initialisation).
        mapping_lr_multiplier / with_mapping_lr_multiplier: f64 = 0.01,
        /// With `style_mapping`: StyleGAN's style mixing, the share of training batches (0.9 in
        /// the paper) whose later layers take their style from a second coding, so that no layer
        /// can count on the style of the one before.
        style_mixing / with_style_mixing: f64 = 0.9,
    }
}

impl GanConfig {
    /// Builds the GAN on `device`.
    pub fn init(&self, device: &Device) -> Result<Gan> {
        if self.codings == 0 {
            return Err(CourseError::bad_config("codings", "must be at least 1 (the slide's is 30)"));
        }
        let wgan = matches!(self.loss, GanLoss::Wasserstein { .. });
        if let GanLoss::Wasserstein { gradient_penalty } = self.loss {
            if !(gradient_penalty.is_finite() && gradient_penalty >= 0.0) {
                return Err(CourseError::bad_config("gradient_penalty", format!("must be 0 or more (the paper's is 10), got {gradient_penalty}")));
            }
            if gradient_penalty > 0.0 && self.minibatch_std {
                return Err(CourseError::bad_config(
                    "minibatch_std",
                    "the gradient penalty is written out for dense critics, and the minibatch standard deviation mixes the batch's samples; use one or the other",
                ));
            }
        }
        let dense = |b: crate::sequential::SequentialBuilder, units: usize, act: Activation| {
            if self.progan { b.equalized_dense(units, act) } else { b.dense(units, act) }
        };
        if !(self.mapping_lr_multiplier > 0.0 && self.mapping_lr_multiplier <= 1.0) {
            return Err(CourseError::bad_config("mapping_lr_multiplier", format!("must be in (0, 1] (StyleGAN's is 0.01; 1 turns it off), got {}", self.mapping_lr_multiplier)));
        }
        if !(0.0..=1.0).contains(&self.style_mixing) {
            return Err(CourseError::bad_config("style_mixing", format!("is a share of the batches, in [0, 1] (StyleGAN's is 0.9), got {}", self.style_mixing)));
        }
        let generator = if self.style_mapping > 0 {
            let options = StyleOptions { noise: self.style_noise, mapping_lr_multiplier: self.mapping_lr_multiplier, mixing: self.style_mixing };
            Generator::Style(StyleGenerator::new(self.codings, self.style_mapping, &[100, 150], options, self.seed, device)?)
        } else {
            let mut g = Sequential::builder("generator", Shape::Flat(self.codings), self.seed, device);
            for units in [100, 150] {
                g = dense(g, units, Activation::Selu);
                if self.progan {
                    g = g.pixel_norm();
                }
            }
            Generator::Plain(dense(g, crate::data::IMAGE_PIXELS, Activation::Sigmoid).build()?)
        };
        let mut d = Sequential::builder("discriminator", Shape::Flat(crate::data::IMAGE_PIXELS), self.seed.wrapping_add(1), device);
        d = dense(d, 150, Activation::Selu);
        d = dense(d, 100, Activation::Selu);
        if self.minibatch_std {
            d = d.minibatch_std();
        }
        let discriminator = dense(d, 1, if wgan { Activation::Linear } else { Activation::Sigmoid }).build()?;
        let mut name = String::from(if wgan { "wgan_gp" } else { "gan" });
        for (on, tag) in [(self.minibatch_std, "_mbstd"), (self.progan, "_progan"), (self.style_mapping > 0, "_style")] {
            if on {
                name.push_str(tag);
            }
        }
        Gan::new(&name, generator, discriminator, PixelRange::Unit)?.with_loss(self.loss)
    }
}

crate::config::course_config! {
    /// The book's DCGAN.
    pub struct DcganConfig {
        /// Size of the codings the generator starts from.
        codings / with_codings: usize = DCGAN_CODINGS,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl DcganConfig {
    /// Builds the DCGAN on `device`: generator Dense 7·7·128 → BatchNorm → ConvTranspose 64 (5×5,
    /// stride 2, same, SELU) → BatchNorm → ConvTranspose 1 (5×5, stride 2, same, tanh);
    /// discriminator Conv 64 (5×5, stride 2, same, leaky ReLU 0.2) → Dropout 0.4 → Conv 128 (same)
    /// → Dropout 0.4 → Flatten → Dense 1 (sigmoid).
    pub fn init(&self, device: &Device) -> Result<Gan> {
        let generator = Sequential::builder("generator", Shape::Flat(self.codings), self.seed, device)
            .dense(7 * 7 * 128, Activation::Linear)
            .reshape(Shape::image(128, 7, 7))
            .batch_norm()
            .conv_transpose2d(64, 5, 2, Padding::Same, Activation::Selu)
            .batch_norm()
            .conv_transpose2d(1, 5, 2, Padding::Same, Activation::Tanh)
            .flatten()
            .build()?;
        let discriminator = Sequential::builder("discriminator", Shape::fashion_image(), self.seed.wrapping_add(1), device)
            .conv2d(64, 5, 2, Padding::Same, Activation::LeakyRelu(0.2))
            .dropout(0.4)
            .conv2d(128, 5, 2, Padding::Same, Activation::LeakyRelu(0.2))
            .dropout(0.4)
            .flatten()
            .dense(1, Activation::Sigmoid)
            .build()?;
        Gan::new("dcgan", Generator::Plain(generator), discriminator, PixelRange::Symmetric)
    }
}

/// A generator and its discriminator.
#[derive(Module, Debug)]
pub struct Gan {
    /// Codings to images.
    pub generator: Generator,
    /// Images to the probability that they are real.
    pub discriminator: Sequential,
    /// `gan` or `dcgan`, for summaries and checkpoints.
    #[module(skip)]
    pub name: String,
    /// The generator's pixel range.
    #[module(skip)]
    pub pixels: PixelRange,
    /// The game's loss.
    #[module(skip)]
    pub loss: GanLoss,
}

impl Gan {
    /// The two networks; the discriminator must take what the generator makes.
    pub fn new(name: &str, generator: Generator, discriminator: Sequential, pixels: PixelRange) -> Result<Gan> {
        if generator.output_size() != discriminator.input.size() {
            return Err(CourseError::shape(
                format!("{name}: the discriminator's input"),
                format!("the generator's output, {} values", generator.output_size()),
                format!("{} values", discriminator.input.size()),
            ));
        }
        if discriminator.output_shape().size() != 1 {
            return Err(CourseError::shape(format!("{name}: the discriminator's output"), "1 value (the probability of real)", format!("{} values", discriminator.output_shape().size())));
        }
        Ok(Gan { generator, discriminator, name: name.to_owned(), pixels, loss: GanLoss::BinaryCrossEntropy })
    }

    /// The GAN playing with `loss`; a Wasserstein critic must end with a linear score, and one
    /// with a gradient penalty must be made of dense layers.
    pub fn with_loss(mut self, loss: GanLoss) -> Result<Gan> {
        let last = self.discriminator.layers.last().map_or(Activation::Linear, |l| l.activation());
        match loss {
            GanLoss::BinaryCrossEntropy if last != Activation::Sigmoid => {
                return Err(CourseError::bad_config("loss", "the binary cross-entropy needs a discriminator ending with a sigmoid"));
            }
            GanLoss::Wasserstein { .. } if last != Activation::Linear => {
                return Err(CourseError::bad_config("loss", "a Wasserstein critic ends with a linear score, not a probability"));
            }
            GanLoss::Wasserstein { gradient_penalty } if gradient_penalty > 0.0 => {
                let probe = Tensor::<2>::zeros([1, self.discriminator.input.size()], &crate::train::model_device(&self.discriminator));
                crate::sequential::dense_input_gradient(&self.discriminator, probe)?;
            }
            _ => {}
        }
        self.loss = loss;
        Ok(self)
    }

    /// The size of the generator's codings.
    pub fn codings_size(&self) -> usize {
        self.generator.codings_size()
    }

    /// Images with pixels in [0, 1] rescaled to the generator's range (the DCGAN's
    /// `X_train * 2. - 1.`).
    pub fn to_model_pixels(&self, x: &Matrix) -> Matrix {
        match self.pixels {
            PixelRange::Unit => x.clone(),
            PixelRange::Symmetric => Matrix { data: x.data.iter().map(|v| v * 2.0 - 1.0).collect(), ..x.clone() },
        }
    }

    /// The generator's images for the rows of `codings`, with pixels in [0, 1] for showing.
    pub fn generate(&self, codings: &Matrix) -> Result<Matrix> {
        let images = predict(&self.generator, codings)?;
        Ok(match self.pixels {
            PixelRange::Unit => images,
            PixelRange::Symmetric => Matrix { data: images.data.iter().map(|v| (v + 1.0) / 2.0).collect(), ..images },
        })
    }

    /// The discriminator's D(x) for each row of `images` (pixels in [0, 1]).
    pub fn discriminate(&self, images: &Matrix) -> Result<Vec<f32>> {
        Ok(predict(&self.discriminator, &self.to_model_pixels(images))?.data)
    }

    /// Freezes the discriminator (the slide's `discriminator.trainable = False`) or unfreezes it.
    /// The course's one way of freezing, burn's `Module::freeze`: a frozen network gets no
    /// gradient, so no optimizer step can move it.
    pub fn set_discriminator_frozen(&mut self, frozen: bool) {
        let d = self.discriminator.clone();
        self.discriminator = if frozen { d.freeze() } else { d.unfreeze() };
    }

    /// `n` fake images from fresh codings, in the generator's range, by the generator at
    /// inference (the slide's `generator(noise)`).
    pub fn fakes(&self, n: usize, noise: &mut Noise) -> Result<Matrix> {
        predict(&self.generator, &noise.codings(n, self.codings_size()))
    }

    /// Phase 1 of the slide's loop, on a batch of `real` images (already in the generator's
    /// range): fake images from fresh codings, labelled 0, and the real ones, labelled 1; one step
    /// of the discriminator only. The generator only predicts here, so it cannot change.
    pub fn discriminator_phase(&mut self, real: &Matrix, optimizer: &Optimizer, noise: &mut Noise) -> Result<StepReport> {
        let fake = self.fakes(real.rows, noise)?;
        self.discriminator_step(&fake, real, optimizer, noise)
    }

    /// One step of the discriminator on `fake` (first) and `real` images. With the binary
    /// cross-entropy the labels are 0 and 1; with the Wasserstein loss the targets are +1 and −1
    /// (the critic lowers the fakes' scores and raises the real ones'), and the gradient penalty
    /// joins the loss.
    pub fn discriminator_step(&mut self, fake: &Matrix, real: &Matrix, optimizer: &Optimizer, noise: &mut Noise) -> Result<StepReport> {
        let x = Matrix::concat_rows(&[fake, real])?;
        match self.loss {
            GanLoss::BinaryCrossEntropy => {
                let y = Matrix::concat_rows(&[&Matrix::filled(fake.rows, 1, 0.0), &Matrix::filled(real.rows, 1, 1.0)])?;
                train_step(&mut self.discriminator, optimizer, Data::pairs(&x, &y), Loss::BinaryCrossEntropy, &[], noise)
            }
            GanLoss::Wasserstein { gradient_penalty } => {
                if gradient_penalty > 0.0 && fake.rows != real.rows {
                    // The penalty is taken on points between a fake and a real image, in pairs.
                    return Err(CourseError::shape("discriminator_step", format!("as many fakes as real images ({}), for the gradient penalty's pairs", real.rows), format!("{} fakes", fake.rows)));
                }
                let y = Matrix::concat_rows(&[&Matrix::filled(fake.rows, 1, 1.0), &Matrix::filled(real.rows, 1, -1.0)])?;
                // The critic is the discriminator with the penalty attached, for this one step.
                let placeholder = Sequential { layers: Vec::new(), input: self.discriminator.input, name: String::new() };
                let net = std::mem::replace(&mut self.discriminator, placeholder);
                let mut critic = Critic { net, gradient_penalty, real_rows: real.rows };
                let report = train_step(&mut critic, optimizer, Data::pairs(&x, &y), Loss::Wasserstein, &[], noise);
                self.discriminator = critic.net;
                report
            }
        }
    }

    /// Phase 2: fresh codings, every label 1 ("real"), one step of the whole GAN with the
    /// discriminator frozen, so that only the generator learns to fool it.
    pub fn generator_phase(&mut self, batch_size: usize, optimizer: &Optimizer, noise: &mut Noise) -> Result<StepReport> {
        let codings = noise.codings(batch_size, self.codings_size());
        // "Real" for the binary cross-entropy; for the Wasserstein loss, target −1: raise the score.
        let (loss, target) = match self.loss {
            GanLoss::BinaryCrossEntropy => (Loss::BinaryCrossEntropy, 1.0),
            GanLoss::Wasserstein { .. } => (Loss::Wasserstein, -1.0),
        };
        let y = Matrix::filled(batch_size, 1, target);
        self.set_discriminator_frozen(true);
        let report = train_step(self, optimizer, Data::pairs(&codings, &y), loss, &[], noise);
        self.set_discriminator_frozen(false);
        report
    }
}

impl TrainModel for Gan {
    fn input_size(&self) -> usize {
        self.codings_size()
    }

    /// D(G(z)): the probability the discriminator gives each generated image.
    ///
    /// # Shapes
    /// `[batch, codings]` → `[batch, 1]`
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.discriminator.forward(self.generator.forward(z))
    }

    fn forward_train(&self, z: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let images = self.generator.forward_rows(z, noise);
        let (logits, activation) = self.discriminator.forward_split(Value::from_rows(images, self.discriminator.input), noise, None);
        TrainOutput::split(logits.into_rows(), activation)
    }

    fn describe(&self) -> Description {
        let mut settings = vec![("codings".to_owned(), self.codings_size().to_string()), ("loss".to_owned(), format!("{:?}", self.loss))];
        settings.extend(self.generator.describe().settings.into_iter().map(|(k, v)| (format!("generator {k}"), v)));
        settings.extend(self.discriminator.describe().settings.into_iter().map(|(k, v)| (format!("discriminator {k}"), v)));
        Description { model: self.name.clone(), settings }
    }
}

crate::train::compiled_training_methods!(Gan);

impl Summary for Gan {
    fn summary(&self) -> ModelSummary {
        ModelSummary::new(&self.name).nested("generator", self.generator.summary()).nested("discriminator", self.discriminator.summary())
    }
}

/// A WGAN-GP critic for one step: the discriminator, and the gradient penalty on points between
/// the batch's fake images (its first rows) and real ones (its last `real_rows`).
#[derive(Module, Debug)]
struct Critic {
    net: Sequential,
    gradient_penalty: f64,
    real_rows: usize,
}

impl TrainModel for Critic {
    fn input_size(&self) -> usize {
        self.net.input_size()
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.net.forward(x)
    }

    fn forward_train(&self, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let [rows, cols] = x.dims();
        let output = self.net.forward_train(x.clone(), noise);
        let fakes = rows.saturating_sub(self.real_rows);
        if self.gradient_penalty <= 0.0 || fakes != self.real_rows {
            return output;
        }
        // x̂ = ε·real + (1 − ε)·fake, ε ~ U(0, 1) per pair; the penalty (‖∇D(x̂)‖ − 1)².
        let fake = x.clone().slice([0..fakes, 0..cols]);
        let real = x.slice([fakes..rows, 0..cols]);
        let epsilon = noise.uniform([fakes, 1], &real.device());
        let between = real * epsilon.clone() + fake * epsilon.neg().add_scalar(1.0);
        match crate::sequential::dense_input_gradient(&self.net, between) {
            Ok(gradient) => {
                let norm = gradient.powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
                let penalty = norm.sub_scalar(1.0).powi_scalar(2).mean().mul_scalar(self.gradient_penalty);
                output.with_term("gradient_penalty", penalty)
            }
            // `Gan::with_loss` checked the critic, so this cannot happen; without a penalty the
            // step is still a Wasserstein step.
            Err(_) => output,
        }
    }
}

/// A GAN's generator: the slide's `Sequential`, or lesson 08's StyleGAN-like one.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Generator {
    /// Layers one after the other.
    Plain(Sequential),
    /// A mapping network and style-modulated layers.
    Style(StyleGenerator),
}

impl Generator {
    /// The size of the codings.
    pub fn codings_size(&self) -> usize {
        match self {
            Generator::Plain(s) => s.input.size(),
            Generator::Style(s) => s.mapping.input.size(),
        }
    }

    /// The values of one generated image.
    pub fn output_size(&self) -> usize {
        match self {
            Generator::Plain(s) => s.output_shape().size(),
            Generator::Style(s) => s.output.units(),
        }
    }

    /// A training pass: codings to images, as rows.
    ///
    /// # Shapes
    /// `[batch, codings]` → `[batch, pixels]`
    pub fn forward_rows(&self, z: Tensor<2>, noise: &mut Noise) -> Tensor<2> {
        match self {
            Generator::Plain(s) => s.forward_value(Value::from_rows(z, s.input), noise, None).into_rows(),
            Generator::Style(s) => {
                let (pre, activation) = s.forward_split(z, Some(noise));
                activation.apply(pre)
            }
        }
    }
}

impl TrainModel for Generator {
    fn input_size(&self) -> usize {
        self.codings_size()
    }

    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Generator::Plain(s) => s.forward(z),
            Generator::Style(s) => s.forward(z),
        }
    }

    fn forward_train(&self, z: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        match self {
            Generator::Plain(s) => s.forward_train(z, noise),
            Generator::Style(s) => {
                let (pre, activation) = s.forward_split(z, Some(noise));
                TrainOutput::split(pre, activation)
            }
        }
    }

    fn describe(&self) -> Description {
        match self {
            Generator::Plain(s) => s.describe(),
            Generator::Style(s) => {
                let mut d = s.mapping.describe();
                d.model = "style_generator".to_owned();
                d.settings.extend(s.blocks.iter().enumerate().map(|(i, b)| (format!("block {}", i + 1), b.dense.units().to_string())));
                // The ingredients change training, not the weights' shapes: a checkpoint says which.
                d.settings.push(("noise inputs".to_owned(), s.options.noise.to_string()));
                d.settings.push(("mapping lr multiplier".to_owned(), s.options.mapping_lr_multiplier.to_string()));
                d.settings.push(("style mixing".to_owned(), s.options.mixing.to_string()));
                d
            }
        }
    }
}

crate::train::compiled_training_methods!(Generator);

impl Summary for Generator {
    fn summary(&self) -> ModelSummary {
        match self {
            Generator::Plain(s) => s.summary(),
            Generator::Style(s) => s.summary(),
        }
    }
}

/// One layer of [`StyleGenerator`]: a dense layer, plus scaled noise while training, whose output
/// is normalised per sample and then scaled and shifted by the style (adaptive instance
/// normalisation, AdaIN).
#[derive(Module, Debug)]
pub struct StyleBlock {
    /// The layer's weights (its activation is applied after the modulation).
    pub dense: Dense,
    /// `[units]`: how much of the noise input each unit takes (StyleGAN's per-channel scaling
    /// factors), 0 at the start.
    pub noise_weight: Param<Tensor<1>>,
    /// The style's scale for each unit (1 + this).
    pub scale: Dense,
    /// The style's shift for each unit.
    pub shift: Dense,
}

/// A StyleGAN-like generator at CPU size (Karras et al., "A Style-Based Generator Architecture
/// for GANs", CVPR 2019): a mapping network turns the codings z into a style w; the synthesis
/// layers start from a learned constant (not from z) and every layer's features are normalised
/// and then modulated by w, so that the codings act only through the styles.
#[derive(Module, Debug)]
pub struct StyleGenerator {
    /// z → w: dense layers with leaky ReLU 0.2.
    pub mapping: Sequential,
    /// The learned constant the synthesis starts from.
    pub constant: Param<Tensor<1>>,
    /// The modulated layers.
    pub blocks: Vec<StyleBlock>,
    /// The last layer, to the image's pixels (sigmoid).
    pub output: Dense,
    /// Which of StyleGAN's training ingredients are on.
    #[module(skip)]
    pub options: StyleOptions,
}

/// StyleGAN's ingredients beyond the mapping network and AdaIN (see [`GanConfig`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StyleOptions {
    /// Noise inputs while training.
    pub noise: bool,
    /// The mapping network's learning-rate multiplier (1: none).
    pub mapping_lr_multiplier: f64,
    /// The share of training batches with mixed styles.
    pub mixing: f64,
}

impl StyleOptions {
    /// The switch alone: no noise, no multiplier, no mixing (lesson 08's first StyleGAN-like run).
    pub fn none() -> StyleOptions {
        StyleOptions { noise: false, mapping_lr_multiplier: 1.0, mixing: 0.0 }
    }
}

/// The width of the style vector w.
const STYLE_WIDTH: usize = 64;

impl StyleGenerator {
    /// A generator with `mapping_layers` mapping layers and a modulated layer per `widths`.
    pub fn new(codings: usize, mapping_layers: usize, widths: &[usize], options: StyleOptions, seed: u64, device: &Device) -> Result<StyleGenerator> {
        let mut mapping = Sequential::builder("mapping", Shape::Flat(codings), seed, device);
        let mut rng = crate::rng::Rng::new(seed.wrapping_add(7));
        let mut inputs = codings;
        for _ in 0..mapping_layers {
            mapping = if options.mapping_lr_multiplier < 1.0 {
                // StyleGAN's equalized learning rate with a multiplier λ: weights stored as
                // N(0, 1/λ²), used times λ·√(2 / inputs). The layer starts as He's initialisation
                // would, and Adam's steps, of about the same size for any stored scale, move the
                // used weights λ times as far.
                // (Made on the host: a weight computed by a tensor operation on a training
                // device would be a node of that operation's graph, not a parameter of its own.)
                let lambda = options.mapping_lr_multiplier as f32;
                let mut weights = vec![0.0f32; inputs * STYLE_WIDTH];
                rng.fill_normal(&mut weights);
                weights.iter_mut().for_each(|w| *w /= lambda);
                let layer = Dense {
                    weight: Param::from_data(burn::tensor::TensorData::new(weights, [inputs, STYLE_WIDTH]), device),
                    bias: crate::layers::zeros(STYLE_WIDTH, device),
                    activation: Activation::LeakyRelu(0.2),
                    gain: lambda * (2.0 / inputs.max(1) as f32).sqrt(),
                };
                mapping.layer(crate::sequential::Layer::Dense(layer))
            } else {
                mapping.dense(STYLE_WIDTH, Activation::LeakyRelu(0.2))
            };
            inputs = STYLE_WIDTH;
        }
        let mapping = mapping.build()?;
        let first = widths.first().copied().unwrap_or(100);
        let constant = crate::layers::glorot_uniform([first], first, first, &mut rng, device);
        let mut blocks = Vec::new();
        let mut width = first;
        for &units in widths {
            blocks.push(StyleBlock {
                dense: Dense::new(width, units, Activation::Selu, &mut rng, device),
                noise_weight: crate::layers::zeros(units, device),
                scale: Dense::new(STYLE_WIDTH, units, Activation::Linear, &mut rng, device),
                shift: Dense::new(STYLE_WIDTH, units, Activation::Linear, &mut rng, device),
            });
            width = units;
        }
        let output = Dense::new(width, crate::data::IMAGE_PIXELS, Activation::Sigmoid, &mut rng, device);
        Ok(StyleGenerator { mapping, constant, blocks, output, options })
    }

    /// The image's logits and the output activation. While training (`noise` given and in
    /// training), the noise inputs and the style mixing draw from `noise`; at inference there is
    /// neither, and a coding always gives the same image.
    ///
    /// # Shapes
    /// `[batch, codings]` → `[batch, pixels]`
    pub fn forward_split(&self, z: Tensor<2>, mut noise: Option<&mut Noise>) -> (Tensor<2>, Activation) {
        let [batch, codings] = z.dims();
        let device = z.device();
        let w = self.mapping.forward(z);
        let mut noise = noise.as_mut().filter(|n| n.is_training());
        // Style mixing: from a random layer on (never the first), the style of a second coding.
        let mut mixed = None;
        if let Some(n) = noise.as_mut() {
            if self.blocks.len() > 1 && self.options.mixing > 0.0 && n.rng().uniform() < self.options.mixing {
                let crossover = 1 + n.rng().below(self.blocks.len() - 1).unwrap_or(0);
                let w2 = self.mapping.forward(n.normal([batch, codings], 1.0, &device));
                mixed = Some((crossover, w2));
            }
        }
        let width = self.constant.lazy_shape().dims::<1>()[0];
        let mut h = self.constant.val().reshape([1, width]).expand([batch, width]);
        for (i, block) in self.blocks.iter().enumerate() {
            let w = match &mixed {
                Some((crossover, w2)) if i >= *crossover => w2.clone(),
                _ => w.clone(),
            };
            let mut a = block.dense.affine(h);
            if let Some(n) = noise.as_mut().filter(|_| self.options.noise) {
                let units = block.dense.units();
                a = a + n.normal([batch, units], 1.0, &device) * block.noise_weight.val().reshape([1, units]);
            }
            // Instance normalisation over the layer's units, then the style's scale and shift.
            let mean = a.clone().mean_dim(1);
            let centred = a - mean;
            let std = centred.clone().powi_scalar(2).mean_dim(1).add_scalar(1e-8).sqrt();
            let normalised = centred / std;
            let modulated = normalised * block.scale.forward(w.clone()).add_scalar(1.0) + block.shift.forward(w.clone());
            h = block.dense.activation.apply(modulated);
        }
        (self.output.affine(h), self.output.activation)
    }

    /// # Shapes
    /// `[batch, codings]` → `[batch, pixels]`
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let (pre, activation) = self.forward_split(z, None);
        activation.apply(pre)
    }
}

impl Summary for StyleGenerator {
    fn summary(&self) -> ModelSummary {
        let mut s = ModelSummary::new("style_generator").nested("mapping", self.mapping.summary());
        s = s.layer("synthesis/constant", "learned constant", &[self.constant.lazy_shape().dims::<1>()[0]], self.constant.num_params());
        for (i, b) in self.blocks.iter().enumerate() {
            s = s
                .layer(&format!("synthesis/dense_{i}"), "Dense, then AdaIN and selu", &[b.dense.units()], b.dense.num_params())
                .layer(&format!("synthesis/noise_{i}"), "noise input (weight per unit)", &[b.dense.units()], b.noise_weight.num_params())
                .layer(&format!("synthesis/style_{i}"), "Dense (w → scale, shift)", &[2 * b.dense.units()], b.scale.num_params() + b.shift.num_params());
        }
        s.layer("synthesis/output", "Dense, sigmoid", &[self.output.units()], self.output.num_params())
    }
}

/// What one iteration of the loop measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanStep {
    /// The discriminator's loss in phase 1 (fake and real images together).
    pub d_loss: f64,
    /// The generator's loss in phase 2.
    pub g_loss: f64,
    /// The mean D(x) over the real images of phase 1: near 1 when the discriminator spots them.
    pub d_real: f64,
    /// The mean D(G(z)) over the fake images of phase 1: near 0 when it spots them.
    pub d_fake: f64,
}

/// Experience replay (lesson 08; suggested for GANs by Shrivastava et al., "Learning from
/// Simulated and Unsupervised Images through Adversarial Training", CVPR 2017, and the book's
/// exercise 11): a buffer of fakes from past iterations. Phase 1 shows the discriminator half
/// fresh fakes and half old ones, so that it keeps recognising what the generator used to make,
/// and the generator cannot win by cycling back to an old mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayBuffer {
    capacity: usize,
    images: Vec<Vec<f32>>,
    seen: usize,
}

impl ReplayBuffer {
    /// An empty buffer of at most `capacity` images.
    pub fn new(capacity: usize) -> ReplayBuffer {
        ReplayBuffer { capacity, images: Vec::new(), seen: 0 }
    }

    /// Replaces the second half of `fake` with old fakes (once the buffer has enough), then keeps
    /// a uniform sample of all the fresh fakes seen so far (reservoir sampling). Fakes of
    /// another width than those the buffer holds are refused, and nothing changes.
    pub fn mix(&mut self, fake: &mut Matrix, noise: &mut Noise) -> Result<()> {
        if let Some(old) = self.images.first()
            && old.len() != fake.cols
        {
            return Err(CourseError::shape(
                "ReplayBuffer::mix",
                format!("fakes of {} values, like those the buffer holds", old.len()),
                format!("{} values; use one buffer per generator", fake.cols),
            ));
        }
        let fresh = fake.clone();
        let half = fake.rows / 2;
        if self.capacity > 0 && self.images.len() >= half {
            for r in fake.rows - half..fake.rows {
                let old = &self.images[noise.rng().index(self.images.len())];
                fake.data[r * fake.cols..(r + 1) * fake.cols].copy_from_slice(old);
            }
        }
        for r in 0..fresh.rows {
            self.seen += 1;
            if self.images.len() < self.capacity {
                self.images.push(fresh.at(r).to_vec());
            } else if self.capacity > 0 {
                let k = noise.rng().index(self.seen);
                if k < self.capacity {
                    self.images[k] = fresh.at(r).to_vec();
                }
            }
        }
        Ok(())
    }
}

/// Runs one iteration of the slide's loop: phase 1 on `real` (with fakes partly from `replay`
/// when given), then phase 2.
pub fn gan_iteration(gan: &mut Gan, real: &Matrix, d_optimizer: &Optimizer, g_optimizer: &Optimizer, noise: &mut Noise, replay: Option<&mut ReplayBuffer>) -> Result<GanStep> {
    let mut fake = gan.fakes(real.rows, noise)?;
    if let Some(buffer) = replay {
        buffer.mix(&mut fake, noise)?;
    }
    let d = gan.discriminator_step(&fake, real, d_optimizer, noise)?;
    let g = gan.generator_phase(real.rows, g_optimizer, noise)?;
    let outputs = d.outputs();
    let n = real.rows;
    let mean = |range: std::ops::Range<usize>| outputs.data[range.clone()].iter().map(|&v| v as f64).sum::<f64>() / range.len().max(1) as f64;
    Ok(GanStep { d_loss: d.loss, g_loss: g.loss, d_real: mean(n..2 * n), d_fake: mean(0..n) })
}

/// The record of a GAN's training: every iteration's figures, and after every epoch the images
/// the generator makes of one fixed batch of codings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GanHistory {
    /// One entry per iteration.
    pub steps: Vec<GanStep>,
    /// Iterations per epoch.
    pub steps_per_epoch: usize,
    /// After each epoch: the generated images of the fixed codings, pixels in [0, 1].
    pub samples: Vec<Matrix>,
    /// Seconds each epoch took.
    pub seconds: Vec<f64>,
}

impl GanHistory {
    /// The mean of each figure over each epoch.
    pub fn epoch_means(&self) -> Vec<GanStep> {
        let per = self.steps_per_epoch.max(1);
        self.steps
            .chunks(per)
            .map(|c| {
                let n = c.len() as f64;
                GanStep {
                    d_loss: c.iter().map(|s| s.d_loss).sum::<f64>() / n,
                    g_loss: c.iter().map(|s| s.g_loss).sum::<f64>() / n,
                    d_real: c.iter().map(|s| s.d_real).sum::<f64>() / n,
                    d_fake: c.iter().map(|s| s.d_fake).sum::<f64>() / n,
                }
            })
            .collect()
    }

    /// Per-iteration curves, smoothed (a moving average over `window` iterations) and thinned to
    /// at most 400 points, against the epoch (fractional), one curve per `pick`ed figure.
    fn curves(&self, names: &[&str], pick: impl Fn(&GanStep) -> [f64; 2], window: usize) -> (Vec<f64>, Vec<(String, Vec<f64>)>) {
        let n = self.steps.len();
        let window = window.clamp(1, n.max(1));
        let stride = n.div_ceil(400).max(1);
        let per = self.steps_per_epoch.max(1) as f64;
        let mut xs = Vec::new();
        let mut series: Vec<(String, Vec<f64>)> = names.iter().map(|s| ((*s).to_owned(), Vec::new())).collect();
        let mut sums = [0.0f64; 2];
        for (i, step) in self.steps.iter().enumerate() {
            let v = pick(step);
            for k in 0..2 {
                sums[k] += v[k];
                if i >= window {
                    sums[k] -= pick(&self.steps[i - window])[k];
                }
            }
            if (i + 1) % stride == 0 || i + 1 == n {
                let count = (i + 1).min(window) as f64;
                xs.push((i + 1) as f64 / per);
                for k in 0..2 {
                    series[k].1.push(sums[k] / count);
                }
            }
        }
        (xs, series)
    }

    /// The two losses, iteration by iteration (smoothed over a tenth of an epoch): the curves of
    /// the game between the networks.
    pub fn plot_losses(&self) -> Result<Figure> {
        let (xs, series) = self.curves(&["discriminator loss (phase 1)", "generator loss (phase 2)"], |s| [s.d_loss, s.g_loss], self.steps_per_epoch / 10);
        xy_chart("GAN losses (smoothed)", "epoch", "binary cross-entropy", &xs, &series)
    }

    /// The mean D(x) of real images and D(G(z)) of fake ones, iteration by iteration (smoothed).
    pub fn plot_discriminator(&self) -> Result<Figure> {
        let (xs, series) = self.curves(&["D(x), real images", "D(G(z)), generated images"], |s| [s.d_real, s.d_fake], self.steps_per_epoch / 10);
        xy_chart("What the discriminator says (smoothed)", "epoch", "mean probability of real", &xs, &series)
    }

    /// The fixed codings' images after each epoch, one captioned row per epoch (every epoch up
    /// to `max_rows`, then evenly spaced ones).
    pub fn plot_samples(&self, per_row: usize, max_rows: usize) -> Result<Figure> {
        let n = self.samples.len();
        if n == 0 {
            return Err(CourseError::bad_config("samples", "the history has no epochs yet: train first"));
        }
        let shown: Vec<usize> = if n <= max_rows.max(1) { (0..n).collect() } else { (0..max_rows).map(|i| i * (n - 1) / (max_rows - 1).max(1)).collect() };
        let mut parts = Vec::new();
        for e in shown {
            let m = &self.samples[e];
            let images: Vec<&[f32]> = (0..m.rows.min(per_row.max(1))).map(|i| m.at(i)).collect();
            parts.push((format!("after epoch {}", e + 1), image_grid(&images, 1)?));
        }
        Ok(Figure::column(&parts))
    }
}

/// How [`train_gan`] trains.
#[derive(Clone, Debug)]
pub struct GanFitConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Real images per iteration (and as many fakes); the last partial batch is dropped, as the
    /// slide's `drop_remainder=True` does.
    pub batch_size: usize,
    /// Seeds the shuffling, the codings and the dropout.
    pub seed: u64,
    /// The discriminator's optimizer (phase 1).
    pub d_optimizer: Optimizer,
    /// The generator's optimizer (phase 2).
    pub g_optimizer: Optimizer,
    /// Where to write a checkpoint after every epoch (`<gan>-epoch<N>.ckpt`), so that a class can
    /// load epoch N without training, and a run can resume; `None`: no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
    /// Stop after the iteration that passes this many seconds of training (`train_for`); `None`:
    /// train every epoch.
    pub max_seconds: Option<f64>,
    /// Experience replay with a buffer of this many past fakes (lesson 08); `None`: none.
    pub replay: Option<usize>,
    /// Print a line per epoch.
    pub verbose: bool,
}

crate::config::setters! {
    GanFitConfig {
        /// Sets the seed.
        seed / with_seed: u64,
        /// Sets the batch size.
        batch_size / with_batch_size: usize,
        /// Turns the per-epoch line on or off.
        verbose / with_verbose: bool,
    }
}

impl GanFitConfig {
    /// The slide's settings: `epochs` epochs, batch 32, RMSprop for both networks.
    pub fn new(epochs: usize) -> GanFitConfig {
        GanFitConfig { epochs, batch_size: BATCH_SIZE, seed: 42, d_optimizer: optimizer(), g_optimizer: optimizer(), checkpoint_dir: None, max_seconds: None, replay: None, verbose: true }
    }

    /// Writes a checkpoint after every epoch into `dir`.
    pub fn with_checkpoints(mut self, dir: impl AsRef<Path>) -> Self {
        self.checkpoint_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sets both optimizers.
    pub fn with_optimizers(mut self, discriminator: impl Into<Optimizer>, generator: impl Into<Optimizer>) -> Self {
        self.d_optimizer = discriminator.into();
        self.g_optimizer = generator.into();
        self
    }

    /// Experience replay with a buffer of `capacity` past fakes.
    pub fn with_replay(mut self, capacity: usize) -> Self {
        self.replay = Some(capacity);
        self
    }

    fn check(&self, images: usize) -> Result<()> {
        // Each optimizer's message says which of the two it is about.
        let which = |who: &str, e: CourseError| match e {
            CourseError::BadConfig { setting, problem } => CourseError::BadConfig { setting: format!("{who} {setting}"), problem },
            other => other,
        };
        self.d_optimizer.config().check().map_err(|e| which("discriminator's", e))?;
        self.g_optimizer.config().check().map_err(|e| which("generator's", e))?;
        if self.epochs == 0 {
            return Err(CourseError::bad_config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 || self.batch_size > images {
            return Err(CourseError::bad_config("batch_size", format!("must be between 1 and the {images} training images (the slide's is 32)")));
        }
        if let Some(limit) = self.max_seconds
            && !(limit > 0.0 && limit.is_finite())
        {
            return Err(CourseError::bad_config("max_seconds", format!("must be a positive number of seconds, got {limit}")));
        }
        if self.replay == Some(0) {
            return Err(CourseError::bad_config("replay", "must keep at least one image (or leave replay off)"));
        }
        Ok(())
    }
}

/// The path of the checkpoint of `gan` after `epoch` in `dir`.
pub fn epoch_checkpoint(gan: &Gan, dir: impl AsRef<Path>, epoch: usize) -> PathBuf {
    crate::checkpoint::checkpoint_path(gan, dir, &format!("epoch{epoch:03}"))
}

/// `fresh` with the weights saved after `epoch` by a run with checkpoints in `dir`: a class can
/// look at epoch N of a GAN without training it.
pub fn load_epoch(fresh: &Gan, dir: impl AsRef<Path>, epoch: usize) -> Result<Gan> {
    crate::checkpoint::load_checkpoint(fresh, epoch_checkpoint(fresh, dir, epoch))
}

/// What a GAN checkpoint saves besides the tensors.
#[derive(Serialize, Deserialize)]
struct SavedGan {
    history: GanHistory,
    noise: Noise,
    settings: String,
    #[serde(default)]
    replay: Option<ReplayBuffer>,
}

impl crate::checkpoint::RunState for SavedGan {
    fn settings(&self) -> &str {
        &self.settings
    }
}

/// A GAN loss beyond this is taken as divergence, finite or not. The binary cross-entropy of a
/// working discriminator stays within a few units and a Wasserstein critic's within hundreds;
/// past a million the weights have exploded (a learning rate of 1e6 gives losses near 1e22 while
/// they are still finite), and [`train_gan`] stops with the GAN of the last good iteration.
const DIVERGED_LOSS: f64 = 1e6;

/// The slide's `train_gan`: `config.epochs` epochs over `images` (pixels in [0, 1], one image per
/// row), each a pass over shuffled batches with the last partial batch dropped, each batch one
/// [`gan_iteration`]. After every epoch the generator draws `sample_codings`, and, with
/// `config.checkpoint_dir`, the run is saved; a run whose checkpoints are there resumes after the
/// last one (with the optimizers' states and the random generator's), ending as an
/// uninterrupted run would. A loss that turns NaN, infinite or beyond 10⁶ stops the
/// run with [`CourseError::Diverged`], the GAN left as it was after the last good iteration.
pub fn train_gan(gan: &mut Gan, images: &Matrix, sample_codings: &Matrix, config: &GanFitConfig) -> Result<GanHistory> {
    train_gan_with(gan, images, sample_codings, config, |_, _| Ok(()))
}

/// [`train_gan`], calling `after_epoch(gan, epoch)` at the end of every epoch (lesson 08 measures
/// the generator's mode coverage there).
pub fn train_gan_with(
    gan: &mut Gan,
    images: &Matrix,
    sample_codings: &Matrix,
    config: &GanFitConfig,
    mut after_epoch: impl FnMut(&Gan, usize) -> Result<()>,
) -> Result<GanHistory> {
    images.check()?;
    sample_codings.check()?;
    config.check(images.rows)?;
    if sample_codings.rows == 0 {
        return Err(CourseError::bad_config("sample_codings", "must hold at least one coding (the images drawn after each epoch)"));
    }
    if images.cols != gan.discriminator.input.size() {
        return Err(CourseError::shape("train_gan: images", format!("{} pixels per image", gan.discriminator.input.size()), format!("{}", images.cols)));
    }
    if sample_codings.cols != gan.codings_size() {
        return Err(CourseError::shape("train_gan: sample codings", format!("{} values per coding", gan.codings_size()), format!("{}", sample_codings.cols)));
    }
    if let Some(bad) = images.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(CourseError::bad_config(
            "images",
            format!("pixels must be in [0, 1], as load_fashion_mnist gives them, and one is {bad}; {} rescales them to its generator's range itself", gan.name),
        ));
    }
    let settings = format!(
        "batch {}, seed {}, {} images, D {:?}, G {:?}, replay {:?}",
        config.batch_size,
        config.seed,
        images.rows,
        config.d_optimizer.config(),
        config.g_optimizer.config(),
        config.replay
    );
    let optimizers = [("d_optimizer", &config.d_optimizer), ("g_optimizer", &config.g_optimizer)];
    // Running statistics of its own, as `train::fit` gives a model: a clone keeps its own.
    *gan = crate::engine::model::detached(gan);
    let real = gan.to_model_pixels(images);
    let mut history = GanHistory { steps_per_epoch: images.rows / config.batch_size, ..GanHistory::default() };
    let mut noise = Noise::training(config.seed);
    let mut replay = config.replay.map(ReplayBuffer::new);
    if let Some(dir) = &config.checkpoint_dir {
        if let Some(epoch) = (1..=config.epochs).rev().find(|&e| epoch_checkpoint(gan, dir, e).exists()) {
            let path = epoch_checkpoint(gan, dir, epoch);
            let (loaded, saved): (Gan, SavedGan) = crate::checkpoint::load_training(&path, &*gan, &optimizers, &settings)?;
            *gan = loaded;
            (history, noise, replay) = (saved.history, saved.noise, saved.replay);
            if config.verbose {
                println!("Resuming from {} (epoch {epoch} of {}).", path.display(), config.epochs);
            }
        }
    }
    let _memory = crate::engine::memory::Hold::new();
    let started = Instant::now();
    let out_of_time = || config.max_seconds.is_some_and(|limit| started.elapsed().as_secs_f64() >= limit);
    for epoch in history.samples.len() + 1..=config.epochs {
        let start = Instant::now();
        let order = noise.rng().permutation(real.rows);
        for (i, batch) in order.chunks_exact(config.batch_size).enumerate() {
            // The GAN before this iteration: what a diverged iteration leaves behind, as `fit`
            // keeps the model of the last good step.
            let before = crate::engine::model::detached(gan);
            let diverged = |gan: &mut Gan, learning_rate: f64| {
                *gan = before.clone();
                CourseError::Diverged { epoch, batch: i + 1, learning_rate, history: Box::default() }
            };
            let step = match gan_iteration(gan, &real.gather_rows(batch), &config.d_optimizer, &config.g_optimizer, &mut noise, replay.as_mut()) {
                Err(CourseError::Diverged { learning_rate, .. }) => return Err(diverged(gan, learning_rate)),
                other => other?,
            };
            if !(step.d_loss.abs() <= DIVERGED_LOSS && step.g_loss.abs() <= DIVERGED_LOSS) {
                let learning_rate = config.d_optimizer.config().learning_rate().max(config.g_optimizer.config().learning_rate());
                return Err(diverged(gan, learning_rate));
            }
            history.steps.push(step);
            if out_of_time() {
                break;
            }
        }
        history.samples.push(gan.generate(sample_codings)?);
        history.seconds.push(start.elapsed().as_secs_f64());
        if config.verbose {
            let m = history.epoch_means().pop().unwrap_or(GanStep { d_loss: f64::NAN, g_loss: f64::NAN, d_real: f64::NAN, d_fake: f64::NAN });
            println!(
                "Epoch {epoch}/{} - {:.1}s - d_loss: {:.4} - g_loss: {:.4} - D(x): {:.3} - D(G(z)): {:.3}",
                config.epochs,
                history.seconds.last().copied().unwrap_or(0.0),
                m.d_loss,
                m.g_loss,
                m.d_real,
                m.d_fake
            );
        }
        if let Some(dir) = &config.checkpoint_dir {
            let saved = SavedGan { history: history.clone(), noise: noise.clone(), settings: settings.clone(), replay: replay.clone() };
            crate::checkpoint::save_training(&epoch_checkpoint(gan, dir, epoch), &*gan, None, &optimizers, &saved)?;
        }
        after_epoch(gan, epoch)?;
        if out_of_time() {
            break;
        }
    }
    Ok(history)
}

/// Trains `gan` with the slide's settings for `seconds` of wall time on `images` (as many epochs
/// as fit, the last one cut short): lesson 07 races the dense GAN and the DCGAN this way. Not
/// repeatable to the iteration, since it depends on the machine's speed.
pub fn train_for(gan: &mut Gan, images: &Matrix, seconds: f64, seed: u64) -> Result<GanHistory> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(CourseError::bad_config("seconds", format!("must be a positive number of seconds, got {seconds}")));
    }
    let config = GanFitConfig { max_seconds: Some(seconds), verbose: false, ..GanFitConfig::new(usize::MAX / 2).with_seed(seed) };
    let codings = Noise::training(seed).codings(8, gan.codings_size());
    train_gan(gan, images, &codings, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_the_book() {
        let device = Device::flex();
        let gan = GanConfig::new().init(&device).unwrap();
        // Generator 30·100+100 + 100·150+150 + 150·784+784; discriminator 784·150+150 +
        // 150·100+100 + 100+1.
        assert_eq!(gan.generator.summary().total_params(), 136_634);
        assert_eq!(gan.discriminator.summary().total_params(), 132_951);
        let dcgan = DcganConfig::new().init(&device).unwrap();
        let g = dcgan.generator.summary();
        // Dense 633,472 + BN(128) 512 + ConvT 204,864 + BN(64) 256 + ConvT 1,601; 384 of the
        // batch norms' are running averages.
        assert_eq!((g.total_params(), g.trainable_params()), (840_705, 840_321));
        assert_eq!(dcgan.discriminator.summary().total_params(), 1_664 + 204_928 + 6_273);
        assert_eq!(dcgan.generator.output_size(), 784);
    }

    /// Phase 1 moves only the discriminator, phase 2 only the generator.
    #[test]
    fn each_phase_moves_only_its_network() {
        let device = Device::flex().autodiff();
        let mut gan = GanConfig::new().init(&device).unwrap();
        let weights = |s: &Sequential| Matrix::from_tensor(match &s.layers[0] {
            crate::sequential::Layer::Dense(d) => d.weight.val().detach(),
            _ => unreachable!(),
        });
        let generator = |g: &Gan| match &g.generator {
            Generator::Plain(s) => weights(s),
            Generator::Style(_) => unreachable!(),
        };
        let (g0, d0) = (generator(&gan), weights(&gan.discriminator));
        let real = crate::data::load_fashion_mnist_sample().unwrap().train.x.head(8);
        let mut noise = Noise::training(1);
        gan.discriminator_phase(&real, &optimizer(), &mut noise).unwrap();
        let (g1, d1) = (generator(&gan), weights(&gan.discriminator));
        assert!(g1 == g0, "phase 1 must not move the generator");
        assert!(d1 != d0, "phase 1 trains the discriminator");
        gan.generator_phase(8, &optimizer(), &mut noise).unwrap();
        assert!(weights(&gan.discriminator) == d1, "phase 2 must not move the discriminator");
        assert!(generator(&gan) != g1, "phase 2 trains the generator");
    }

    /// Each phase multiplies only what its gradients need, as PyTorch's `requires_grad=False`
    /// and `detach` would have it (issue #27's hypotheses, counted): phase 1 predicts the fakes
    /// (the generator's forward pass, no graph) and computes every weight gradient of the
    /// discriminator but no gradient for the images; phase 2 computes the frozen discriminator's
    /// input gradients and none of its weight gradients, and no gradient for the codings. A
    /// layer's weight gradient and its input gradient each cost what its forward pass does.
    #[test]
    fn each_phase_multiplies_only_what_it_needs() {
        use crate::engine::kernels::multiply_adds;
        let device = Device::flex().autodiff();
        let mut gan = DcganConfig::new().init(&device).unwrap();
        let batch = 4;
        let real = Matrix::filled(batch, 784, 0.5);
        let codings = Noise::training(3).codings(batch, DCGAN_CODINGS);
        let generator = match &gan.generator {
            Generator::Plain(g) => g.clone(),
            Generator::Style(_) => unreachable!(),
        };
        let forward_g = multiply_adds(|| drop(predict(&generator, &codings).unwrap()));
        let forward_d = |rows: usize| multiply_adds(|| drop(predict(&gan.discriminator, &Matrix::filled(rows, 784, 0.5)).unwrap()));
        let (forward_d_batch, forward_d_both) = (forward_d(batch), forward_d(2 * batch));
        // The first layers: the discriminator's 5×5 convolution to 64 maps of 14×14, the
        // generator's dense layer from the codings to 7·7·128 units.
        let first_d = |rows: u64| 64 * 25 * 196 * rows;
        let first_g = (batch * DCGAN_CODINGS * 7 * 7 * 128) as u64;
        assert_eq!(forward_d_batch, forward_d_both / 2, "a forward pass costs the same per image");
        let mut noise = Noise::training(1);
        let phase_1 = multiply_adds(|| drop(gan.discriminator_phase(&real, &optimizer(), &mut noise).unwrap()));
        assert_eq!(phase_1, forward_g + 3 * forward_d_both - first_d(2 * batch as u64), "phase 1: the fakes, then the discriminator's pass, its weight gradients and its input gradients but the images'");
        let phase_2 = multiply_adds(|| drop(gan.generator_phase(batch, &optimizer(), &mut noise).unwrap()));
        assert_eq!(phase_2, 3 * forward_g - first_g + 2 * forward_d_batch, "phase 2: both passes, the generator's gradients but the codings', the discriminator's input gradients only");
    }

    /// Every switch of lesson 08 builds, and one iteration of each moves both networks: the
    /// generator draws other images and the discriminator scores the real ones otherwise.
    #[test]
    fn every_remedy_trains_an_iteration() {
        let device = Device::flex().autodiff();
        let real = crate::data::load_fashion_mnist_sample().unwrap().train.x.head(16);
        let configs = [
            GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 }),
            GanConfig::new().with_minibatch_std(true),
            GanConfig::new().with_progan(true),
            GanConfig::new().with_style_mapping(3),
            GanConfig::new().with_style_mapping(3).with_style_noise(false).with_mapping_lr_multiplier(1.0).with_style_mixing(0.0),
        ];
        for config in configs {
            let mut gan = config.init(&device).unwrap();
            let mut noise = Noise::training(3);
            let codings = Noise::training(4).codings(4, gan.codings_size());
            let (drawn, scores) = (gan.generate(&codings).unwrap(), gan.discriminate(&real).unwrap());
            let step = gan_iteration(&mut gan, &real, &optimizer(), &optimizer(), &mut noise, None).unwrap();
            assert!(step.d_loss.is_finite() && step.g_loss.is_finite(), "{}: {step:?}", gan.name);
            assert!(gan.generate(&codings).unwrap() != drawn, "{}: the generator did not move", gan.name);
            assert!(gan.discriminate(&real).unwrap() != scores, "{}: the discriminator did not move", gan.name);
        }
        let err = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 }).with_minibatch_std(true).init(&device).unwrap_err().to_string();
        assert!(err.contains("one or the other"), "{err}");
    }

    /// The critic's input gradient written out by hand equals autodiff's.
    #[test]
    fn the_hand_written_input_gradient_is_autodiffs() {
        let device = Device::flex().autodiff();
        let gan = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 1.0 }).init(&device).unwrap();
        let x = Tensor::<2>::from_data(burn::tensor::TensorData::new((0..3 * 784).map(|i| ((i * 37) % 100) as f32 / 100.0).collect::<Vec<f32>>(), [3, 784]), &device).require_grad();
        let ours = Matrix::from_tensor(crate::sequential::dense_input_gradient(&gan.discriminator, x.clone()).unwrap().detach());
        let grads = gan.discriminator.forward(x.clone()).sum().backward();
        let theirs = Matrix::from_tensor(x.grad(&grads).unwrap());
        for (a, b) in ours.data.iter().zip(&theirs.data) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
