//! Lesson 02, 적층 오토인코더 (stacked autoencoders): several hidden layers, on Fashion-MNIST.
//!
//! The slides' model is 784 → 100 → 30 → 100 → 784 with SELU hidden layers and a sigmoid output,
//! trained with binary cross-entropy ("reconstruction as multi-label binary classification") and
//! SGD at learning rate 1.5. The lesson also ties the decoder's weights to the encoder's
//! (가중치 묶기, `DenseTranspose`), trains one autoencoder at a time and stacks them
//! (한 번에 오토인코더 한 개씩 훈련하기, greedy layer-wise training; Bengio et al., 2007), and
//! reuses the encoder for a classifier trained on few labels
//! (적층 오토인코더를 사용한 비지도 사전훈련, unsupervised pretraining).
//!
//! Models take images as rows of 784 pixels: Keras's `Flatten` and `Reshape` layers are the
//! reading and showing of those rows, so they appear in summaries with no parameters.

use crate::data::{Dataset, IMAGE_PIXELS, IMAGE_SIDE, Matrix};
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Dense, DenseStack, DenseTranspose};
use crate::rng::Rng;
use crate::summary::{ModelSummary, Summary};
use crate::checkpoint::Description;
use crate::engine::autoencoder::{Autoencoder, Part};
use crate::train::{Data, FitConfig, History, Loss, Metric, Noise, OptimizerConfig, TrainModel, TrainOutput};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::fmt;

/// The slide's `SGD(learning_rate=1.5)`.
pub const LEARNING_RATE: f64 = 1.5;
/// The slide's `fit(..., epochs=10)`.
pub const EPOCHS: usize = 10;

/// The slide's training setup: binary cross-entropy, SGD at 1.5, batch 32, the book's rounded
/// accuracy, 10 epochs.
pub fn fit_config() -> FitConfig {
    FitConfig::new(OptimizerConfig::sgd(LEARNING_RATE), Loss::BinaryCrossEntropy)
        .with_metrics(&[Metric::RoundedAccuracy])
        .with_epochs(EPOCHS)
}

crate::config::course_config! {
    /// The slide's stacked autoencoder, 784 → 100 → 30 → 100 → 784.
    pub struct StackedAeConfig {
        /// Pixels of an input image.
        inputs / with_inputs: usize = 784,
        /// Units of the hidden layers on both sides of the coding.
        hidden / with_hidden: usize = 100,
        /// Size of the coding.
        codings / with_codings: usize = 30,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl StackedAeConfig {
    fn check(&self) -> Result<()> {
        if self.inputs == 0 || self.hidden == 0 || self.codings == 0 {
            return Err(CourseError::bad_config("StackedAeConfig", "inputs, hidden and codings must all be at least 1"));
        }
        Ok(())
    }

    /// The untied autoencoder (`stacked_ae` in the slides).
    pub fn init(&self, device: &Device) -> Result<StackedAe> {
        self.check()?;
        let mut rng = Rng::new(self.seed);
        let encoder = DenseStack::new(self.inputs, &[self.hidden, self.codings], Activation::Selu, Activation::Selu, &mut rng, device);
        let decoder = DenseStack::new(self.codings, &[self.hidden, self.inputs], Activation::Selu, Activation::Sigmoid, &mut rng, device);
        Ok(StackedAe { encoder, decoder, name: "stacked_ae".to_owned() })
    }

    /// The autoencoder with tied weights (`tied_ae` in the book): the decoder reuses the
    /// encoder's weight matrices, transposed.
    pub fn init_tied(&self, device: &Device) -> Result<TiedAe> {
        self.check()?;
        let mut rng = Rng::new(self.seed);
        let encoder = DenseStack::new(self.inputs, &[self.hidden, self.codings], Activation::Selu, Activation::Selu, &mut rng, device);
        let decoder = vec![
            DenseTranspose::new(&encoder.layers[1], Activation::Selu, device),
            DenseTranspose::new(&encoder.layers[0], Activation::Sigmoid, device),
        ];
        Ok(TiedAe { encoder, decoder })
    }
}

/// An autoencoder of dense layers: the stacked autoencoder, and each of the shallow autoencoders
/// of greedy layer-wise training.
pub type StackedAe = Autoencoder<DenseStack>;

impl StackedAe {
    /// `outer` with `inner` inside it: outer's encoder, inner's encoder, inner's decoder, outer's
    /// decoder. Greedy layer-wise training stacks its shallow autoencoders this way.
    pub fn stack(outer: StackedAe, inner: StackedAe) -> Result<StackedAe> {
        if outer.encoder.outputs() != inner.encoder.inputs() {
            return Err(CourseError::shape(
                "StackedAe::stack",
                format!("an inner autoencoder taking the outer codings ({} values)", outer.encoder.outputs()),
                format!("one taking {}", inner.encoder.inputs()),
            ));
        }
        Ok(StackedAe { encoder: outer.encoder.then(inner.encoder), decoder: inner.decoder.then(outer.decoder), name: outer.name })
    }
}

/// Lesson 02's parts: a stack of dense layers each side.
impl Part for DenseStack {
    fn inputs(&self) -> usize {
        DenseStack::inputs(self)
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        DenseStack::forward(self, x)
    }

    fn forward_train(ae: &StackedAe, x: Tensor<2>, _noise: &mut Noise) -> TrainOutput {
        let (pre_activation, activation) = ae.decoder.forward_split(ae.encode(x));
        TrainOutput::split(pre_activation, activation)
    }

    fn describe(ae: &StackedAe) -> Description {
        describe_dense(&ae.name, &ae.encoder, &ae.decoder.layers.iter().map(|l| l.activation).collect::<Vec<_>>())
    }

    fn summary(ae: &StackedAe) -> ModelSummary {
        let s = ModelSummary::new("stacked_ae").layer("flatten", "Flatten", &[ae.encoder.inputs()], 0);
        let s = dense_rows(s, "encoder/", &ae.encoder.layers, 0, true);
        let s = dense_rows(s, "decoder/", &ae.decoder.layers, ae.encoder.layers.len(), true);
        s.layer("reshape", "Reshape", &image_shape(ae.decoder.outputs()), 0)
    }
}

/// The configuration words of a dense autoencoder: the input size, the encoder's hidden widths,
/// the coding size, and the decoder's activations (greedy training's second phase ends in SELU).
fn describe_dense(kind: &str, encoder: &DenseStack, decoder_activations: &[Activation]) -> Description {
    let widths: Vec<String> = encoder.layers.iter().map(|l| l.units().to_string()).collect();
    let (codings, hidden) = widths.split_last().map_or((String::new(), &[][..]), |(c, h)| (c.clone(), h));
    let output = decoder_activations.last().map_or("none", |a| a.name());
    Description::new(kind, &[("inputs", encoder.inputs().to_string()), ("hidden", hidden.join(",")), ("codings", codings), ("output", output.to_owned())])
}

crate::train::compiled_training_methods!(StackedAe);

/// Summary rows of dense layers, named as Keras names them.
fn dense_rows(mut summary: ModelSummary, prefix: &str, layers: &[Dense], first_index: usize, trainable: bool) -> ModelSummary {
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("{prefix}dense_{}", first_index + i);
        let kind = format!("Dense, {}", layer.activation.name());
        summary = if trainable {
            summary.layer(&name, &kind, &[layer.units()], layer.num_params())
        } else {
            summary.frozen_layer(&name, &kind, &[layer.units()], layer.num_params())
        };
    }
    summary
}

fn image_shape(pixels: usize) -> Vec<usize> {
    if pixels == IMAGE_PIXELS { vec![IMAGE_SIDE, IMAGE_SIDE] } else { vec![pixels] }
}

/// The stacked autoencoder with tied weights: the decoder's layers are `DenseTranspose`s of the
/// encoder's, so it has about half the parameters.
#[derive(Module, Debug)]
pub struct TiedAe {
    /// Inputs to codings.
    pub encoder: DenseStack,
    /// One transposed layer per encoder layer, in reverse order.
    pub decoder: Vec<DenseTranspose>,
}

impl TiedAe {
    /// # Shapes
    /// `[batch, inputs]` → `[batch, codings]`
    pub(crate) fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.encoder.forward(x)
    }

    /// # Shapes
    /// `[batch, codings]` → `[batch, inputs]`
    pub(crate) fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.iter().zip(self.encoder.layers.iter().rev()).fold(z, |h, (layer, tied)| layer.forward(h, tied))
    }
}

impl TrainModel for TiedAe {
    fn input_size(&self) -> usize {
        self.encoder.inputs()
    }

    /// # Shapes
    /// `[batch, inputs]` → `[batch, inputs]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.decode(self.encode(x))
    }

    fn forward_train(&self, x: Tensor<2>, _noise: &mut Noise) -> TrainOutput {
        let mut h = self.encode(x);
        let layers: Vec<_> = self.decoder.iter().zip(self.encoder.layers.iter().rev()).collect();
        let Some(((last, last_tied), rest)) = layers.split_last() else {
            return TrainOutput::new(h);
        };
        for (layer, tied) in rest {
            h = layer.forward(h, tied);
        }
        TrainOutput::split(last.affine(h, last_tied), last.activation)
    }

    fn describe(&self) -> Description {
        describe_dense("tied_ae", &self.encoder, &self.decoder.iter().map(|l| l.activation).collect::<Vec<_>>())
    }
}

crate::train::compiled_training_methods!(TiedAe);

impl Summary for TiedAe {
    fn summary(&self) -> ModelSummary {
        let s = ModelSummary::new("tied_ae").layer("flatten", "Flatten", &[self.encoder.inputs()], 0);
        let mut s = dense_rows(s, "encoder/", &self.encoder.layers, 0, true);
        for (i, (layer, tied)) in self.decoder.iter().zip(self.encoder.layers.iter().rev()).enumerate() {
            s = s.layer(
                &format!("decoder/dense_transpose_{i}"),
                &format!("DenseTranspose, {}", layer.activation.name()),
                &[tied.inputs()],
                layer.num_params(),
            );
        }
        s.layer("reshape", "Reshape", &image_shape(self.encoder.inputs()), 0)
    }
}

/// The stacked autoencoder of `config` saved by notebook 02 under `dir` (named by
/// [`checkpoint_path`](crate::checkpoint::checkpoint_path) with `tag`), or, if there is none, one
/// trained now on `train` for `epochs` and saved there. Lesson 03 starts from it. A checkpoint of
/// another configuration is never overwritten.
pub fn load_or_train(config: &StackedAeConfig, dir: &str, tag: &str, train: &Matrix, valid: &Matrix, epochs: usize, device: &Device) -> Result<StackedAe> {
    let fresh = config.init(device)?;
    let path = crate::checkpoint::checkpoint_path(&fresh, dir, tag);
    crate::checkpoint::load_or_train(fresh, path, |mut ae| {
        ae.fit(Data::autoencoder(train), Some(Data::autoencoder(valid)), &fit_config().with_epochs(epochs))?;
        Ok(ae)
    })
}

/// One phase of greedy layer-wise training (the book's `train_autoencoder`).
#[derive(Clone, Debug, PartialEq)]
pub struct GreedyPhase {
    /// Units of the coding this phase learns.
    pub units: usize,
    /// Activation of the phase's output layer (its targets are the previous codings).
    pub output_activation: Activation,
    /// Loss, optimizer and epochs.
    pub fit: FitConfig,
}

/// The book's two phases: 784 → 100 → 784 (binary cross-entropy, SGD 1.5, sigmoid output), then
/// 100 → 30 → 100 on the first codings (MSE, SGD 0.05, SELU output), `epochs` each.
pub fn greedy_phases(epochs: usize) -> [GreedyPhase; 2] {
    [
        GreedyPhase { units: 100, output_activation: Activation::Sigmoid, fit: fit_config().with_epochs(epochs) },
        GreedyPhase {
            units: 30,
            output_activation: Activation::Selu,
            fit: FitConfig::new(OptimizerConfig::sgd(0.05), Loss::Mse).with_epochs(epochs),
        },
    ]
}

/// What greedy layer-wise training returns: the stacked autoencoder and each phase's history.
///
/// A struct rather than a tuple so that a notebook cell can keep it in one variable with a plain
/// type (`let greedy: GreedyRun = ...`): the course's kernel needs an explicit type on every
/// stored variable, and evcxr cannot take one for a destructured tuple.
#[derive(Debug)]
pub struct GreedyRun {
    /// The phases' autoencoders stacked: first phase outermost.
    pub model: StackedAe,
    /// One history per phase, in training order.
    pub phases: Vec<History>,
}

impl GreedyRun {
    /// Training time of all phases together, in seconds.
    pub fn seconds(&self) -> f64 {
        self.phases.iter().flat_map(|h| h.seconds.iter()).sum()
    }
}

/// Greedy layer-wise training: trains a shallow autoencoder per phase, each on the codings of the
/// one before, and stacks them.
pub fn train_greedy(train: &Matrix, valid: &Matrix, phases: &[GreedyPhase], seed: u64, device: &Device) -> Result<GreedyRun> {
    if let Some(i) = phases.iter().position(|p| p.units == 0) {
        return Err(CourseError::bad_config("units", format!("phase {} has a coding of 0 units; each phase needs at least 1 (the slide's are 100 and 30)", i + 1)));
    }
    let mut rng = Rng::new(seed);
    let (mut x_train, mut x_valid) = (train.clone(), valid.clone());
    let mut stacked: Option<StackedAe> = None;
    let mut histories = Vec::new();
    for phase in phases {
        let inputs = x_train.cols;
        let mut ae = StackedAe {
            encoder: DenseStack::new(inputs, &[phase.units], Activation::Selu, Activation::Selu, &mut rng, device),
            decoder: DenseStack::new(phase.units, &[inputs], Activation::Selu, phase.output_activation, &mut rng, device),
            name: "stacked_ae".to_owned(),
        };
        histories.push(ae.fit(Data::autoencoder(&x_train), Some(Data::autoencoder(&x_valid)), &phase.fit)?);
        x_train = ae.codings(&x_train)?;
        x_valid = ae.codings(&x_valid)?;
        stacked = Some(match stacked {
            None => ae,
            Some(outer) => StackedAe::stack(outer, ae)?,
        });
    }
    let model = stacked.ok_or_else(|| CourseError::bad_config("phases", "give at least one phase"))?;
    Ok(GreedyRun { model, phases: histories })
}

/// A classifier on top of an encoder: the encoder's codings, then `Dense(10, softmax)`.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Images to codings: fresh, or a pretrained autoencoder's encoder.
    pub encoder: DenseStack,
    /// Codings to class probabilities.
    pub head: Dense,
    /// Whether the encoder's weights are frozen (Keras's `trainable = False`).
    #[module(skip)]
    pub encoder_frozen: bool,
}

/// The learning rate of the book's classifiers: `SGD(lr=0.02)`.
pub const CLASSIFIER_LEARNING_RATE: f64 = 0.02;

/// The classifiers' training setup: sparse categorical cross-entropy, SGD 0.02, accuracy.
pub fn classifier_fit_config(epochs: usize) -> FitConfig {
    FitConfig::new(OptimizerConfig::sgd(CLASSIFIER_LEARNING_RATE), Loss::SparseCategoricalCrossEntropy)
        .with_metrics(&[Metric::Accuracy])
        .with_epochs(epochs)
}

impl Classifier {
    /// A classifier trained from scratch: the stacked encoder's shape with fresh weights.
    pub fn from_scratch(config: &StackedAeConfig, device: &Device) -> Result<Classifier> {
        config.check()?;
        let mut rng = Rng::new(config.seed);
        let encoder = DenseStack::new(config.inputs, &[config.hidden, config.codings], Activation::Selu, Activation::Selu, &mut rng, device);
        let head = Dense::new(config.codings, 10, Activation::Softmax, &mut rng, device);
        Ok(Classifier { encoder, head, encoder_frozen: false })
    }

    /// A classifier reusing a pretrained `encoder` (copied; the autoencoder is not changed), with
    /// its weights frozen.
    pub fn pretrained(encoder: &DenseStack, seed: u64, device: &Device) -> Classifier {
        let mut rng = Rng::new(seed);
        let head = Dense::new(encoder.outputs(), 10, Activation::Softmax, &mut rng, device);
        Classifier { encoder: encoder.clone().fork(device), head, encoder_frozen: false }.with_encoder_frozen(true)
    }

    /// Freezes (`true`) or unfreezes the encoder's weights (burn's `Module::freeze`, the course's
    /// one way of freezing): fine-tuning unfreezes them.
    pub fn with_encoder_frozen(mut self, frozen: bool) -> Classifier {
        self.encoder = if frozen { self.encoder.freeze() } else { self.encoder.unfreeze() };
        self.encoder_frozen = frozen;
        self
    }
}

impl TrainModel for Classifier {
    fn input_size(&self) -> usize {
        self.encoder.inputs()
    }

    /// # Shapes
    /// `[batch, inputs]` → `[batch, 10]` class probabilities
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.forward(self.encoder.forward(x))
    }

    fn forward_train(&self, x: Tensor<2>, _noise: &mut Noise) -> TrainOutput {
        TrainOutput::split(self.head.affine(self.encoder.forward(x)), self.head.activation)
    }

    fn describe(&self) -> Description {
        let mut d = describe_dense("classifier", &self.encoder, &[]);
        d.settings.retain(|(k, _)| k != "output");
        d.settings.push(("classes".to_owned(), self.head.units().to_string()));
        d
    }
}

crate::train::compiled_training_methods!(Classifier);

impl Summary for Classifier {
    fn summary(&self) -> ModelSummary {
        let s = ModelSummary::new("classifier").layer("flatten", "Flatten", &[self.encoder.inputs()], 0);
        let s = dense_rows(s, "encoder/", &self.encoder.layers, 0, !self.encoder_frozen);
        s.layer("head", "Dense, softmax", &[self.head.units()], self.head.num_params())
    }
}

/// The validation accuracy of three classifiers trained on the same few labels.
#[derive(Clone, Debug)]
pub struct PretrainingComparison {
    /// How many labelled training images the classifiers saw.
    pub labels: usize,
    /// `(name, validation accuracy, history)` per classifier.
    pub rows: Vec<(String, f64, History)>,
}

impl PretrainingComparison {
    /// The validation accuracy of the three classifiers, epoch by epoch.
    pub fn plot_accuracy(&self) -> Result<crate::plot::Figure> {
        let runs: Vec<(&str, &History)> = self.rows.iter().map(|(name, _, h)| (name.as_str(), h)).collect();
        crate::plot::compare_histories(&runs, "val_accuracy")
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }
}

impl fmt::Display for PretrainingComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "classifiers trained on {} labelled images", self.labels)?;
        writeln!(f, "{:<44}{:>12}", "", "val accuracy")?;
        for (i, (name, accuracy, _)) in self.rows.iter().enumerate() {
            write!(f, "{name:<44}{accuracy:>12.3}")?;
            if i + 1 < self.rows.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// The book's experiment: a classifier trained on the first `labels` training images from scratch
/// (`epochs[0]` epochs), one on the frozen pretrained `encoder` (`epochs[1]`), and that one again
/// with the encoder unfrozen, fine-tuned (`epochs[2]` more), each evaluated on `valid`.
pub fn compare_pretraining(encoder: &DenseStack, train: &Dataset, valid: &Dataset, labels: usize, epochs: [usize; 3], seed: u64, device: &Device) -> Result<PretrainingComparison> {
    if labels == 0 || labels > train.len() {
        return Err(CourseError::bad_config("labels", format!("must be between 1 and the {} training images", train.len())));
    }
    let small = train.head(labels);
    let train_data = Data::labelled(&small.x, &small.y);
    let valid_data = Data::labelled(&valid.x, &valid.y);
    let config = StackedAeConfig::new().with_inputs(encoder.inputs()).with_codings(encoder.outputs()).with_seed(seed);
    let accuracy = |h: &History| h.last("val_accuracy").unwrap_or(f64::NAN);
    let mut rows = Vec::new();

    let first = encoder.layers.first().ok_or_else(|| CourseError::bad_config("encoder", "it has no layers; pass a trained autoencoder's encoder"))?;
    let mut scratch = Classifier::from_scratch(&config.clone().with_hidden(first.units()), device)?;
    let h = scratch.fit(train_data, Some(valid_data), &classifier_fit_config(epochs[0]).with_seed(seed))?;
    rows.push(("from scratch".to_owned(), accuracy(&h), h));

    let mut pretrained = Classifier::pretrained(encoder, seed, device);
    let h = pretrained.fit(train_data, Some(valid_data), &classifier_fit_config(epochs[1]).with_seed(seed))?;
    rows.push(("pretrained encoder, frozen".to_owned(), accuracy(&h), h));

    let mut tuned = pretrained.with_encoder_frozen(false);
    let h = tuned.fit(train_data, Some(valid_data), &classifier_fit_config(epochs[2]).with_seed(seed + 1))?;
    rows.push(("pretrained encoder, then fine-tuned".to_owned(), accuracy(&h), h));
    Ok(PretrainingComparison { labels, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_keras() {
        let device = Device::flex();
        let config = StackedAeConfig::new();
        // Keras: stacked_encoder 81,530 + stacked_decoder 82,284.
        assert_eq!(config.init(&device).unwrap().summary().total_params(), 163_814);
        // Keras: tied_ae 82,414 (the encoder, plus the decoder's two biases).
        assert_eq!(config.init_tied(&device).unwrap().summary().total_params(), 82_414);
        let clf = Classifier::from_scratch(&config, &device).unwrap();
        assert_eq!(clf.summary().total_params(), 81_530 + 310);
    }

    #[test]
    fn a_frozen_encoder_does_not_change_and_fine_tuning_does() {
        let device = Device::flex().autodiff();
        let mut rng = Rng::new(3);
        let x = Matrix::new(64, 784, (0..64 * 784).map(|_| rng.uniform() as f32).collect()).unwrap();
        let y: Vec<u8> = (0..64).map(|i| (i % 10) as u8).collect();
        let encoder = StackedAeConfig::new().init(&device).unwrap().encoder;
        let weights = |c: &Classifier| Matrix::from_tensor(c.encoder.layers[0].weight.val().detach());
        let mut clf = Classifier::pretrained(&encoder, 1, &device);
        let before = weights(&clf);
        let head_before = Matrix::from_tensor(clf.head.weight.val().detach());
        let config = classifier_fit_config(1).with_verbose(false);
        clf.fit(Data::labelled(&x, &y), None, &config).unwrap();
        assert_eq!(weights(&clf), before);
        assert_ne!(Matrix::from_tensor(clf.head.weight.val().detach()), head_before);
        let mut tuned = clf.with_encoder_frozen(false);
        tuned.fit(Data::labelled(&x, &y), None, &config).unwrap();
        assert_ne!(weights(&tuned), before);
    }

    #[test]
    fn stacking_checks_the_widths() {
        let device = Device::flex();
        let a = StackedAeConfig::new().init(&device).unwrap();
        let b = StackedAeConfig::new().init(&device).unwrap();
        assert!(StackedAe::stack(a, b).unwrap_err().to_string().contains("30 values"));
    }
}
