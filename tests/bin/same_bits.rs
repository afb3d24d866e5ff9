//! A fingerprint of every kind of work the engine splits over cores, for the determinism test
//! (`tests/engine.rs`), which runs this process on one core, on all, and with eight threads, and
//! requires the same bits from each: a student's 8-core laptop must see the numbers the
//! snapshots were made with on two cores.
//!
//! Prints one line per model: the FNV-1a hash of every `f32` bit of its outputs after a short
//! seeded training on the committed sample. `COURSE_THREADS` sets the kernels' threads (and
//! here t-SNE's too).

use course_lib::conv_ae::{self, ConvAeConfig};
use course_lib::diffusion::{self, DiffusionConfig, Sampler};
use course_lib::data::{Matrix, load_fashion_mnist_sample};
use course_lib::embedding::{TsneConfig, tsne};
use course_lib::gan::{self, DcganConfig, GanFitConfig};
use course_lib::rng::Noise;
use course_lib::stacked_ae::{self, StackedAeConfig};
use course_lib::train::Data;
use course_lib::training_device;

/// FNV-1a over the values' bits: any difference in any bit changes it.
fn fingerprint(values: &[f32]) -> u64 {
    values.iter().flat_map(|v| v.to_bits().to_le_bytes()).fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sample = load_fashion_mnist_sample()?;
    let (train, valid) = (&sample.train.x, &sample.valid.x);
    let device = training_device();

    // Lesson 04: 32 × 144 × 6,272 products per batch (split by columns; the weight gradient
    // along the inner dimension), then a 300-image predict.
    let mut conv = ConvAeConfig::new().init(&device)?;
    conv.fit(Data::autoencoder(train), None, &conv_ae::fit_config().with_epochs(1).with_verbose(false))?;
    println!("conv_ae {:016x}", fingerprint(conv.predict(valid)?.data()));

    // Lesson 02: dense layers.
    let mut stacked = StackedAeConfig::new().init(&device)?;
    stacked.fit(Data::autoencoder(train), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))?;
    println!("stacked_ae {:016x}", fingerprint(stacked.predict(valid)?.data()));

    // Lesson 07: the DCGAN's strided and transposed convolutions, 4 iterations of 32.
    let mut dcgan = DcganConfig::new().init(&device)?;
    let codings = Noise::training(7).codings(8, gan::DCGAN_CODINGS);
    let history = gan::train_gan(&mut dcgan, &train.head(128), &codings, &GanFitConfig::new(1).with_verbose(false))?;
    let losses: Vec<f32> = history.steps.iter().flat_map(|s| [s.d_loss as f32, s.g_loss as f32]).collect();
    println!("dcgan {:016x} {:016x}", fingerprint(history.samples[0].data()), fingerprint(&losses));

    // Lesson 09: the U-Net's depthwise convolutions, overlapping pooling and upsampling (their
    // planes and channels split over the cores), 4 steps of 32, then a 10-step DDIM sample.
    let mut unet = DiffusionConfig::new().init(&device)?;
    unet.fit(&train.head(128), None, &diffusion::fit_config().with_epochs(1).with_verbose(false))?;
    println!("diffusion {:016x}", fingerprint(unet.generate(8, Sampler::ddim(10), 3)?.data()));

    // Lesson 03: t-SNE of the stacked codings, its forces summed in parts.
    let threads = std::env::var("COURSE_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let codings: Matrix = stacked.codings(valid)?;
    let embedding = tsne(&codings, &TsneConfig::new().with_iterations(300).with_threads(threads))?;
    println!("tsne {:016x}", fingerprint(embedding.points.data()));
    Ok(())
}
