//! The one autoencoder type: an encoder, a decoder and a name, whatever the parts are made of.
//!
//! Lesson 01's linear autoencoder is two `Dense` layers, lesson 02's stacked autoencoder two
//! `DenseStack`s, lessons 04-05's convolutional, denoising and sparse autoencoders two
//! [`Sequential`]s: `Autoencoder<Dense>` (`LinearAe`), `Autoencoder<DenseStack>` (`StackedAe`)
//! and `Autoencoder<Sequential>`, which is what `Autoencoder` alone means. Encoding, the codings
//! of a data set and the training model are written here once; a part says how it runs and how
//! the whole is described, trained and summarised ([`Part`]); each lesson implements it for its
//! parts.

use crate::engine::matrix::Matrix;
use crate::engine::model::{Description, TrainModel, TrainOutput};
use crate::engine::rng::Noise;
use crate::engine::sequential::{Sequential, Value};
use crate::engine::summary::{ModelSummary, Summary};
use crate::engine::train::predict_with;
use crate::error::{CourseError, Result};
use burn::module::{Module, ModuleDisplay};
use burn::tensor::Tensor;

/// What an [`Autoencoder`]'s encoder and decoder are: a network of rows to rows, and what the
/// autoencoder made of two of them says and does that depends on their kind.
pub trait Part: Module + ModuleDisplay + std::fmt::Debug {
    /// The features of one input row.
    fn inputs(&self) -> usize;

    /// # Shapes
    /// `[batch, inputs]` → `[batch, outputs]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// The autoencoder's training pass (see [`TrainModel::forward_train`]); the default, the
    /// whole reconstruction.
    fn forward_train(autoencoder: &Autoencoder<Self>, x: Tensor<2>, noise: &mut Noise) -> TrainOutput
    where
        Self: Sized,
    {
        let _ = noise;
        TrainOutput::new(autoencoder.forward(x))
    }

    /// What a checkpoint records of the autoencoder.
    fn describe(autoencoder: &Autoencoder<Self>) -> Description
    where
        Self: Sized;

    /// The autoencoder's summary, as Keras prints the lesson's model.
    fn summary(autoencoder: &Autoencoder<Self>) -> ModelSummary
    where
        Self: Sized;
}

/// An encoder, then a decoder that takes what the encoder gives.
#[derive(Module, Debug)]
pub struct Autoencoder<P: Part = Sequential> {
    /// Inputs to codings.
    pub encoder: P,
    /// Codings back to inputs.
    pub decoder: P,
    /// The model's name in summaries and checkpoints.
    #[module(skip)]
    pub name: String,
}

impl<P: Part> Autoencoder<P> {
    /// # Shapes
    /// `[batch, inputs]` → `[batch, codings]`
    pub(crate) fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.encoder.forward(x)
    }

    /// # Shapes
    /// `[batch, codings]` → `[batch, inputs]`
    pub(crate) fn decode_rows(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(z)
    }

    /// The codings of every row of `x` (the slides' `encoder.predict(X)`).
    pub fn codings(&self, x: &Matrix) -> Result<Matrix> {
        predict_with(self, x, Self::encode)
    }
}

impl<P: Part> TrainModel for Autoencoder<P> {
    fn input_size(&self) -> usize {
        self.encoder.inputs()
    }

    /// # Shapes
    /// `[batch, inputs]` → `[batch, inputs]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.decode_rows(self.encode(x))
    }

    fn forward_train(&self, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        P::forward_train(self, x, noise)
    }

    fn describe(&self) -> Description {
        P::describe(self)
    }
}

impl<P: Part> Summary for Autoencoder<P> {
    fn summary(&self) -> ModelSummary {
        P::summary(self)
    }
}

/// The convolutional, denoising and sparse autoencoders of lessons 04-05: an [`Autoencoder`] of
/// two [`Sequential`]s.
impl Autoencoder<Sequential> {
    /// `encoder` then `decoder`, named `name`; the decoder must take what the encoder gives.
    pub fn new(name: &str, encoder: Sequential, decoder: Sequential) -> Result<Autoencoder<Sequential>> {
        if encoder.output_shape().size() != decoder.input.size() {
            return Err(CourseError::shape(
                format!("{name}: the decoder's input"),
                format!("the encoder's output, {} ({} values)", encoder.output_shape(), encoder.output_shape().size()),
                format!("{} ({} values)", decoder.input, decoder.input.size()),
            ));
        }
        Ok(Autoencoder { encoder, decoder, name: name.to_owned() })
    }

    /// The decoder's output for every row of `codings` (`decoder.predict(codings)`).
    pub fn decode(&self, codings: &crate::engine::matrix::Matrix) -> Result<crate::engine::matrix::Matrix> {
        crate::train::predict(&self.decoder, codings)
    }
}

impl Part for Sequential {
    fn inputs(&self) -> usize {
        self.input_size()
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        TrainModel::forward(self, x)
    }

    fn forward_train(ae: &Autoencoder<Sequential>, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let mut terms = Vec::new();
        let codings = ae.encoder.forward_value(Value::from_rows(x, ae.encoder.input), noise, Some(&mut terms));
        let codings = Value::from_rows(codings.into_rows(), ae.decoder.input);
        let (h, activation) = ae.decoder.forward_split(codings, noise, Some(&mut terms));
        TrainOutput { pre_activation: h.into_rows(), activation, terms }
    }

    fn describe(ae: &Autoencoder<Sequential>) -> Description {
        let mut settings = Vec::new();
        for (part, model) in [("encoder", &ae.encoder), ("decoder", &ae.decoder)] {
            settings.extend(model.describe().settings.into_iter().map(|(k, v)| (format!("{part} {k}"), v)));
        }
        Description { model: ae.name.clone(), settings }
    }

    fn summary(ae: &Autoencoder<Sequential>) -> ModelSummary {
        ModelSummary::new(&ae.name).nested("encoder", ae.encoder.summary()).nested("decoder", ae.decoder.summary())
    }
}

crate::train::compiled_training_methods!(Autoencoder<Sequential>);
