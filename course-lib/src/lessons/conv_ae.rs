//! Lesson 04, 합성곱 오토인코더 (convolutional autoencoders).
//!
//! For images, convolutions suit an autoencoder better than dense layers: the encoder shrinks the
//! image's height and width while it deepens the stack of feature maps (28×28×1 → 3×3×64), and
//! the decoder does the reverse with transposed convolutions (Masci et al., "Stacked
//! Convolutional Auto-Encoders for Hierarchical Feature Extraction", ICANN 2011). The slide's
//! model, trained as the book trains it: binary cross-entropy, SGD at learning rate 1.0, 5
//! epochs, the rounded accuracy.
//!
//! The lesson also repeats the book's pretraining experiment with this encoder (a classifier
//! trained on 500 labels from scratch, on the frozen encoder, then fine-tuned).

use crate::data::{Dataset, Matrix};
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Padding};
use crate::plot::{Figure, tile_grid};
use crate::autoencoder::Autoencoder;
use crate::sequential::{Sequential, Shape, Value};
use crate::stacked_ae::PretrainingComparison;
use crate::train::{Data, FitConfig, History, Loss, Metric, OptimizerConfig};
use burn::module::Module;
use burn::tensor::Device;

/// The slide's `SGD(learning_rate=1.0)`.
pub const LEARNING_RATE: f64 = 1.0;
/// The book's `conv_ae.fit(..., epochs=5)`.
pub const EPOCHS: usize = 5;

/// The book's training setup: binary cross-entropy, SGD at 1.0, batch 32, rounded accuracy, 5
/// epochs.
pub fn fit_config() -> FitConfig {
    FitConfig::new(OptimizerConfig::sgd(LEARNING_RATE), Loss::BinaryCrossEntropy)
        .with_metrics(&[Metric::RoundedAccuracy])
        .with_epochs(EPOCHS)
}

crate::config::course_config! {
    /// The slide's convolutional autoencoder.
    pub struct ConvAeConfig {
        /// Feature maps of the encoder's three convolutions (the decoder mirrors them).
        filters / with_filters: [usize; 3] = [16, 32, 64],
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl ConvAeConfig {
    /// The encoder: three `same` 3×3 SELU convolutions, each followed by 2×2 max pooling,
    /// 28×28×1 → 3×3×`filters[2]`.
    pub fn encoder(&self, device: &Device) -> Result<Sequential> {
        let [a, b, c] = self.filters;
        Sequential::builder("conv_encoder", Shape::fashion_image(), self.seed, device)
            .conv2d(a, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .conv2d(b, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .conv2d(c, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .build()
    }

    /// The autoencoder: the encoder, then three 3×3 stride-2 transposed convolutions
    /// (3×3 → 7×7 → 14×14 → 28×28), the last with a sigmoid.
    pub fn init(&self, device: &Device) -> Result<Autoencoder> {
        let encoder = self.encoder(device)?;
        let [a, b, _] = self.filters;
        // The decoder draws its weights from a seed of its own, so that changing the encoder
        // (its filters) leaves the decoder's start as it was.
        let decoder = Sequential::builder("conv_decoder", encoder.output_shape(), self.seed.wrapping_add(1), device)
            .conv_transpose2d(b, 3, 2, Padding::Valid, Activation::Selu)
            .conv_transpose2d(a, 3, 2, Padding::Same, Activation::Selu)
            .conv_transpose2d(1, 3, 2, Padding::Same, Activation::Sigmoid)
            .flatten()
            .build()?;
        Autoencoder::new("conv_ae", encoder, decoder)
    }
}

/// What the encoder's layers make of one image: each convolution's and pooling's feature maps,
/// a row of tiles per layer (each map stretched to its own range; dark is high).
pub fn feature_maps(encoder: &Sequential, image: &[f32]) -> Result<Figure> {
    if image.len() != encoder.input.size() {
        return Err(CourseError::shape("feature_maps", format!("one image of {} values", encoder.input.size()), format!("{} values", image.len())));
    }
    let x = Matrix::new(1, image.len(), image.to_vec())?.into_tensor(&crate::device::device());
    let mut parts = vec![("the image".to_owned(), tile_grid(&[image], 28, 28, 1, 3, false)?)];
    let summary = crate::summary::Summary::summary(encoder);
    for ((value, row), shape) in encoder.activations(x).into_iter().zip(&summary.rows).zip(encoder.shapes()) {
        let (Value::Image(maps), Shape::Image { channels, height, width }) = (value, shape) else { continue };
        let values = Matrix::from_tensor(maps.reshape([channels, height * width]));
        let tiles: Vec<&[f32]> = (0..channels).map(|c| values.at(c)).collect();
        // About 40 screen pixels per map, whatever its size.
        let scale = 42usize.div_ceil(height.max(1));
        let caption = format!("{} ({}): {channels} maps of {height}×{width}", row.name, row.kind);
        parts.push((caption, tile_grid(&tiles, height, width, 16, scale, true)?));
    }
    Ok(Figure::column(&parts))
}

/// The pretraining experiment of the book's notebook, with the convolutional encoder: three
/// classifiers (the encoder's layers, `Flatten`, `Dense(20, selu)`, `Dense(10, softmax)`; SGD
/// 0.02) trained on the first `labels` training images and evaluated on `valid`:
/// from scratch (`epochs[0]` epochs), on the trained `encoder` frozen (`epochs[1]`), and that one
/// fine-tuned with the encoder unfrozen (`epochs[2]` more).
///
/// The book builds its "pretrained" classifier from `keras.models.clone_model(conv_encoder)`,
/// which copies the architecture with fresh weights (tf.keras's documentation of
/// `clone_model`), so its frozen row measures a random encoder. Here the trained weights are
/// copied: [`frozen_random_encoder`] gives the book's row for comparison.
#[allow(clippy::too_many_arguments)]
pub fn compare_pretraining(encoder: &Sequential, train: &Dataset, valid: &Dataset, labels: usize, epochs: [usize; 3], seed: u64, device: &Device) -> Result<PretrainingComparison> {
    if labels == 0 || labels > train.len() {
        return Err(CourseError::bad_config("labels", format!("must be between 1 and the {} training images", train.len())));
    }
    let small = train.head(labels);
    let (train_data, valid_data) = (Data::labelled(&small.x, &small.y), Data::labelled(&valid.x, &valid.y));
    let config = |epochs: usize, seed: u64| crate::stacked_ae::classifier_fit_config(epochs).with_seed(seed);
    let accuracy = |h: &History| h.last("val_accuracy").unwrap_or(f64::NAN);
    let mut rows = Vec::new();

    let fresh = ConvAeConfig::new().with_seed(seed).encoder(device)?;
    let mut scratch = classifier(&fresh, false, seed, device)?;
    let h = scratch.fit(train_data, Some(valid_data), &config(epochs[0], seed))?;
    rows.push(("from scratch".to_owned(), accuracy(&h), h));

    let mut frozen = classifier(encoder, true, seed, device)?;
    let h = frozen.fit(train_data, Some(valid_data), &config(epochs[1], seed))?;
    rows.push(("pretrained encoder, frozen".to_owned(), accuracy(&h), h));

    let mut tuned = set_frozen(frozen, false);
    let h = tuned.fit(train_data, Some(valid_data), &config(epochs[2], seed + 1))?;
    rows.push(("pretrained encoder, then fine-tuned".to_owned(), accuracy(&h), h));
    Ok(PretrainingComparison { labels, rows })
}

/// The book's frozen row as its code runs it: `clone_model` gives the encoder's architecture with
/// fresh weights, frozen.
pub fn frozen_random_encoder(train: &Dataset, valid: &Dataset, labels: usize, epochs: usize, seed: u64, device: &Device) -> Result<History> {
    if labels == 0 || labels > train.len() {
        return Err(CourseError::bad_config("labels", format!("must be between 1 and the {} training images", train.len())));
    }
    let small = train.head(labels);
    let random = ConvAeConfig::new().with_seed(seed + 7).encoder(device)?;
    let mut clf = classifier(&random, true, seed, device)?;
    clf.fit(Data::labelled(&small.x, &small.y), Some(Data::labelled(&valid.x, &valid.y)), &crate::stacked_ae::classifier_fit_config(epochs).with_seed(seed))
}

/// The book's classifier on `encoder` (copied): its layers, `Flatten`, `Dense(20, selu)`,
/// `Dense(10, softmax)`, with the encoder's layers frozen if `frozen`.
pub fn classifier(encoder: &Sequential, frozen: bool, seed: u64, device: &Device) -> Result<Sequential> {
    let head = Sequential::builder("head", encoder.output_shape(), seed, device)
        .flatten()
        .dense(20, Activation::Selu)
        .dense(10, Activation::Softmax)
        .build()?;
    let encoder_layers = encoder.clone().fork(device).layers.len();
    let mut layers = encoder.clone().fork(device).layers;
    layers.extend(head.layers);
    let model = Sequential { layers, input: encoder.input, name: "conv_classifier".to_owned() };
    Ok(set_frozen_first(model, encoder_layers, frozen))
}

/// The classifier with its encoder layers (all but the last three) frozen or not.
pub fn set_frozen(model: Sequential, frozen: bool) -> Sequential {
    let encoder_layers = model.layers.len().saturating_sub(3);
    set_frozen_first(model, encoder_layers, frozen)
}

fn set_frozen_first(mut model: Sequential, n: usize, frozen: bool) -> Sequential {
    model.layers = model
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, layer)| match (i < n, frozen) {
            (true, true) => layer.freeze(),
            (true, false) => layer.unfreeze(),
            (false, _) => layer,
        })
        .collect();
    model
}
