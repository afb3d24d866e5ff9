//! A training process for the kill-and-resume test (`tests/engine.rs`): trains the stacked
//! autoencoder with `fit_resumable` on the committed sample (repeated, so that an epoch takes a
//! moment), then prints a fingerprint of the final model.
//!
//! Usage: resumable-training CHECKPOINT EPOCHS

use course_lib::data::{Matrix, load_fashion_mnist_sample};
use course_lib::stacked_ae::{self, StackedAeConfig};
use course_lib::train::{Data, OptimizerConfig, fit_resumable};
use course_lib::training_device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (checkpoint, epochs) = (args.get(1).ok_or("give a checkpoint path")?, args.get(2).ok_or("give a number of epochs")?.parse::<usize>()?);
    let sample = load_fashion_mnist_sample()?;
    let copies: Vec<&Matrix> = std::iter::repeat_n(&sample.train.x, 20).collect();
    let x = Matrix::concat_rows(&copies)?;
    let mut ae = StackedAeConfig::new().init(&training_device())?;
    // Adam, so that the optimizer's state matters to the result.
    let config = stacked_ae::fit_config().with_optimizer(OptimizerConfig::adam(0.001)).with_epochs(epochs).with_verbose(false);
    let history = fit_resumable(&mut ae, Data::autoencoder(&x), None, &config, checkpoint)?;
    let out = ae.predict(&sample.valid.x)?;
    let fingerprint: f64 = out.data().iter().enumerate().map(|(i, &v)| (i % 97) as f64 * v as f64).sum();
    println!("epochs {} loss {:.6} fingerprint {fingerprint:.6}", history.epochs.len(), history.last("loss").unwrap_or(f64::NAN));
    Ok(())
}
