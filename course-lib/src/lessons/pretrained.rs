//! Models trained in full mode (all 55,000 training images, the book's epochs) and shipped with
//! the course in `data/pretrained/`, so that a class without the minutes to train, or a student
//! who wants to see a result before training it, loads one in a line:
//!
//! ```no_run
//! # use course_lib::prelude::*;
//! # fn main() -> course_lib::Result<()> {
//! let conv: Autoencoder = load_pretrained(&ConvAeConfig::new().init(&training_device())?)?;
//! # Ok(()) }
//! ```
//!
//! The model passed in says which one: a shipped checkpoint is found by the model's description
//! (its kind and configuration), so a student's own configuration is told what the course ships
//! instead of getting another model's weights.
//!
//! `./course pretrain` (`examples/pretrain.rs`) trains them all and writes
//! `data/pretrained/pretrained.json`: for each file, how it was trained and two figures, one on the
//! full validation set and one on the committed sample. The test `tests/pretrained.rs` loads every
//! file and reproduces its sample figure.

use crate::checkpoint::{checkpoint_path, load_checkpoint};
use crate::data::{Dataset, FashionMnist};
use crate::error::{CourseError, Result};
use crate::summary::Table;
use crate::train::{Data, Loss, TrainModel};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the course ships its trained models.
pub fn pretrained_dir() -> PathBuf {
    crate::data::course_data_dir().join("pretrained")
}

/// The shipped file for a model of `model`'s configuration (it may not exist).
pub fn pretrained_path<M: TrainModel>(model: &M) -> PathBuf {
    checkpoint_path(model, pretrained_dir(), "full")
}

/// A copy of `model` with the weights the course ships for its configuration; `model` itself is
/// left unchanged.
///
/// A configuration the course ships no weights for is an error that lists what it ships.
pub fn load_pretrained<M: TrainModel>(model: &M) -> Result<M> {
    let path = pretrained_path(model);
    if !path.exists() {
        let shipped = pretrained_records().map(|r| r.iter().map(|r| format!("{} ({})", r.model, r.lesson)).collect::<Vec<_>>().join(", ")).unwrap_or_default();
        return Err(CourseError::Checkpoint {
            path,
            problem: format!(
                "the course ships no trained model of this configuration ({}). It ships: {shipped}. \
                 Load one of those configurations (as the lesson creates it), or train this one with `fit`",
                model.describe()
            ),
        });
    }
    let loaded = load_checkpoint(model, &path)?;
    println!("Loaded the course's trained {} from {}.", loaded.describe(), path.display());
    Ok(loaded)
}

/// How a shipped model was trained and what it reaches (one entry of `pretrained.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainedRecord {
    /// The checkpoint's file name in `data/pretrained/`.
    pub file: String,
    /// The lesson whose model it is (`04-conv-ae`).
    pub lesson: String,
    /// What the model is, in a few words.
    pub model: String,
    /// Epochs over the training images.
    pub epochs: usize,
    /// Training images.
    pub images: usize,
    /// Seconds the training took on the machine that trained it.
    pub seconds: f64,
    /// The cores of the machine that trained it (the course's machines have 2; records written
    /// before this field existed were all trained on one of them). The model's numbers do not
    /// depend on it: the engine computes the same bits on any core count.
    #[serde(default = "two_cores")]
    pub cores: usize,
    /// What the two figures are (`validation binary cross-entropy`, `mean D(x) on validation images`).
    pub figure: String,
    /// The figure on the 5,000 validation images.
    pub full: f64,
    /// The figure on the committed sample's validation images (what the test reproduces).
    pub sample: f64,
}

impl PretrainedRecord {
    /// Its epochs, seconds and cores, for lesson 09's side-by-side table.
    pub fn training(&self) -> crate::diffusion::Training {
        crate::diffusion::Training { epochs: self.epochs, seconds: self.seconds, cores: self.cores }
    }
}

fn two_cores() -> usize {
    2
}

/// The records of every shipped model (`data/pretrained/pretrained.json`).
pub fn pretrained_records() -> Result<Vec<PretrainedRecord>> {
    let path = pretrained_dir().join("pretrained.json");
    let text = std::fs::read_to_string(&path).map_err(|source| CourseError::Io { path: path.clone(), source })?;
    serde_json::from_str(&text).map_err(|e| CourseError::CorruptData { path, problem: format!("{e}; restore it with `git checkout data/pretrained` or rebuild it with `./course pretrain`") })
}

/// How the shipped model of `model`'s configuration was trained and what it reaches.
pub fn pretrained_record<M: TrainModel>(model: &M) -> Result<PretrainedRecord> {
    let path = pretrained_path(model);
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    pretrained_records()?.into_iter().find(|r| r.file == file).ok_or_else(|| CourseError::Checkpoint {
        path,
        problem: format!("pretrained.json records no trained model of this configuration ({}); `pretrained_table()` lists what the course ships", model.describe()),
    })
}

/// The shipped models as a table: what each is, how it was trained, what it reaches.
pub fn pretrained_table() -> Result<Table> {
    let mut table = Table::new(&["lesson", "model", "images", "epochs", "training s", "cores", "figure", "validation", "sample"]);
    for r in pretrained_records()? {
        table.push(&[
            r.lesson,
            r.model,
            r.images.to_string(),
            r.epochs.to_string(),
            format!("{:.0}", r.seconds),
            r.cores.to_string(),
            r.figure,
            format!("{:.4}", r.full),
            format!("{:.4}", r.sample),
        ]);
    }
    Ok(table)
}

/// The figure recorded for an autoencoder (plain, denoising, sparse, variational): its validation
/// loss as `fit` reports it, binary cross-entropy plus the model's own loss terms.
pub const AUTOENCODER_FIGURE: &str = "validation binary cross-entropy (+ the model's loss terms)";
/// The figure recorded for a GAN: the discriminator's mean probability for real images it never
/// trained on.
pub const GAN_FIGURE: &str = "mean D(x) on validation images";

/// The figure recorded for the diffusion model (lesson 09): its loss on validation images noised
/// with seeded steps and noise ([`crate::diffusion::Diffusion::evaluate`]).
pub const DIFFUSION_FIGURE: &str = "validation Huber loss of the predicted noise (seeded steps and noise)";

/// [`DIFFUSION_FIGURE`] of `model` on `valid`.
pub fn diffusion_figure(model: &crate::diffusion::Diffusion, valid: &Dataset) -> Result<f64> {
    model.evaluate(&valid.x)
}

/// [`AUTOENCODER_FIGURE`] of `model` on `valid`.
pub fn autoencoder_figure<M: TrainModel>(model: &M, valid: &Dataset) -> Result<f64> {
    Ok(crate::train::evaluate(model, Data::autoencoder(&valid.x), Loss::BinaryCrossEntropy, &[])?[0])
}

/// The figure recorded for a WGAN-GP (lesson 08): its critic gives scores, not probabilities.
pub const CRITIC_FIGURE: &str = "mean critic score on validation images";

/// [`GAN_FIGURE`] of `gan` on `valid` ([`CRITIC_FIGURE`] for a WGAN-GP: the same mean, of scores).
pub fn gan_figure(gan: &crate::gan::Gan, valid: &Dataset) -> Result<f64> {
    let d = gan.discriminate(&valid.x)?;
    Ok(d.iter().map(|&p| p as f64).sum::<f64>() / d.len().max(1) as f64)
}

/// Both figures of a record: on the full validation set and on the sample's.
pub fn figures(full: &FashionMnist, sample: &FashionMnist, figure: impl Fn(&Dataset) -> Result<f64>) -> Result<(f64, f64)> {
    Ok((figure(&full.valid)?, figure(&sample.valid)?))
}
