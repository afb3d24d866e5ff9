//! Trains every lesson's model in full mode, as the lessons train it, and writes it where the
//! course ships it: `data/pretrained/<model>-full.ckpt`, with `data/pretrained/pretrained.json`
//! recording how each was trained and what it reaches (see `course_lib::pretrained`).
//!
//! `./course pretrain` runs it (29 minutes on two busy cores, a third of it the DCGAN's epoch).
//! `./course pretrain conv_ae vae` retrains only those, keeping the other records.
//!
//! Not shipped: lesson 01's linear autoencoder (it trains on its 3-D toy data in a moment), lesson
//! 03's (it embeds lesson 02's codings) and lesson 08's GAN variants (their point is watching
//! them train); lesson 08's judge is shipped apart, in `data/judge`.

use course_lib::data::{FashionMnist, load_fashion_mnist, load_fashion_mnist_sample};
use course_lib::prelude::*;
use course_lib::pretrained::{self, AUTOENCODER_FIGURE, CRITIC_FIGURE, DIFFUSION_FIGURE, GAN_FIGURE, PretrainedRecord};
use std::time::Instant;

/// One model to train: its name on the command line, its lesson, and how to train it.
struct Job {
    name: &'static str,
    lesson: &'static str,
    model: &'static str,
    train: fn(&FashionMnist, &FashionMnist) -> Result<PretrainedRecord>,
}

const JOBS: &[Job] = &[
    Job { name: "stacked_ae", lesson: "02-stacked-ae", model: "stacked autoencoder 784-100-30-100-784", train: stacked },
    Job { name: "tied_ae", lesson: "02-stacked-ae", model: "stacked autoencoder, tied weights", train: tied },
    Job { name: "conv_ae", lesson: "04-conv-ae", model: "convolutional autoencoder", train: conv },
    Job { name: "denoising_gaussian", lesson: "05-denoising-ae", model: "denoising autoencoder, Gaussian noise 0.2", train: denoising_gaussian },
    Job { name: "denoising_dropout", lesson: "05-denoising-ae", model: "denoising autoencoder, dropout 0.5", train: denoising_dropout },
    Job { name: "sparse_kl", lesson: "05-denoising-ae", model: "sparse autoencoder, KL divergence", train: sparse_kl },
    Job { name: "vae", lesson: "06-vae", model: "variational autoencoder, 10 codings", train: vae },
    Job { name: "gan", lesson: "07-gan", model: "the slide's dense GAN", train: dense_gan },
    Job { name: "dcgan", lesson: "07-gan", model: "DCGAN", train: dcgan },
    Job { name: "wgan_gp", lesson: "08-mode-collapse", model: "WGAN-GP (the slide's GAN, Wasserstein loss, gradient penalty 10)", train: wgan_gp },
    Job { name: "diffusion", lesson: "09-diffusion", model: DIFFUSION_MODEL, train: diffusion },
];

/// Diffusion epochs: the book trains 100; one takes about 3 minutes on two cores. The model and its
/// record are written after every epoch, so that a run stopped early ships what it reached, and a
/// checkpoint to resume from (see [`diffusion`]).
const DIFFUSION_EPOCHS: usize = 100;
const DIFFUSION_MODEL: &str = "diffusion model (the book's U-Net, T = 4,000; weights averaged)";

/// DCGAN epochs: the slide's loop runs 50; one epoch takes about 2.5 minutes on two cores. The model,
/// its record and a checkpoint to resume from are written after every epoch (see [`dcgan`]).
const DCGAN_EPOCHS: usize = 50;

/// Where the resumable jobs keep their training checkpoints (not shipped): `$COURSE_CACHE/pretrain`.
fn pretrain_cache() -> std::path::PathBuf {
    std::env::var_os("COURSE_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache/course-rust")))
        .unwrap_or_else(std::env::temp_dir)
        .join("pretrain")
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let only: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = only.iter().find(|n| !JOBS.iter().any(|j| j.name == n.as_str())) {
        let names: Vec<&str> = JOBS.iter().map(|j| j.name).collect();
        return Err(format!("no model called {unknown}; the models are {}", names.join(", ")).into());
    }
    let full = load_fashion_mnist()?;
    let sample = load_fashion_mnist_sample()?;
    for job in JOBS.iter().filter(|j| only.is_empty() || only.iter().any(|n| n == j.name)) {
        println!("== {} ({})", job.model, job.lesson);
        let mut record = (job.train)(&full, &sample)?;
        record.lesson = job.lesson.into();
        record.model = job.model.into();
        println!("   {}: {:.4} (sample {:.4}) after {:.0} s", record.figure, record.full, record.sample, record.seconds);
        save_record(record)?;
    }
    Ok(())
}

/// Puts `record` into `pretrained.json` in place of the file's old one. Called after every model,
/// so an interrupted run keeps what it finished.
fn save_record(record: PretrainedRecord) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut records = pretrained::pretrained_records().unwrap_or_default();
    records.retain(|r| r.file != record.file);
    records.push(record);
    records.sort_by_key(|r| JOBS.iter().position(|j| j.lesson == r.lesson && j.model == r.model));
    let path = pretrained::pretrained_dir().join("pretrained.json");
    std::fs::write(path, serde_json::to_string_pretty(&records)? + "\n")?;
    Ok(())
}

/// Trains `fresh` with `fit` on all training images, saves it, records its figures.
fn autoencoder<M: TrainModel>(mut fresh: M, config: &FitConfig, full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let start = Instant::now();
    course_lib::train::fit(&mut fresh, Data::autoencoder(&full.train.x), Some(Data::autoencoder(&full.valid.x)), config)?;
    let seconds = start.elapsed().as_secs_f64();
    let path = pretrained::pretrained_path(&fresh);
    save_checkpoint(&fresh, &path)?;
    let (f, s) = pretrained::figures(full, sample, |d| pretrained::autoencoder_figure(&fresh, d))?;
    Ok(record(&path, config.epochs, full.train.x.rows(), seconds, AUTOENCODER_FIGURE, f, s))
}

fn record(path: &std::path::Path, epochs: usize, images: usize, seconds: f64, figure: &str, full: f64, sample: f64) -> PretrainedRecord {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    PretrainedRecord { file, lesson: String::new(), model: String::new(), epochs, images, seconds, cores, figure: figure.into(), full, sample }
}

fn stacked(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    autoencoder(StackedAeConfig::new().init(&training_device())?, &stacked_ae::fit_config(), full, sample)
}

fn tied(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    autoencoder(StackedAeConfig::new().init_tied(&training_device())?, &stacked_ae::fit_config(), full, sample)
}

fn conv(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    autoencoder(ConvAeConfig::new().init(&training_device())?, &conv_ae::fit_config(), full, sample)
}

fn denoising_gaussian(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let model = DenoisingAeConfig::new().with_corruption(Corruption::gaussian()).init(&training_device())?;
    autoencoder(model, &denoising_ae::fit_config(), full, sample)
}

fn denoising_dropout(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let model = DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&training_device())?;
    autoencoder(model, &denoising_ae::fit_config(), full, sample)
}

fn sparse_kl(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    autoencoder(SparseAeConfig::kl().init(&training_device())?, &denoising_ae::fit_config(), full, sample)
}

fn vae(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    autoencoder(VaeConfig::new().init(&training_device())?, &vae::fit_config(), full, sample)
}

/// Trains a GAN with the slide's loop on all training images, saves it, records its figures.
fn gan_job(model: gan::Gan, epochs: usize, full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    gan_job_with(model, gan::GanFitConfig::new(epochs), full, sample)
}

/// [`gan_job`] with the training settings given.
fn gan_job_with(mut model: gan::Gan, config: gan::GanFitConfig, full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let epochs = config.epochs;
    let codings = Noise::training(7).codings(32, model.codings_size());
    let start = Instant::now();
    gan::train_gan(&mut model, &full.train.x, &codings, &config)?;
    let seconds = start.elapsed().as_secs_f64();
    let path = pretrained::pretrained_path(&model);
    save_checkpoint(&model, &path)?;
    let (f, s) = pretrained::figures(full, sample, |d| pretrained::gan_figure(&model, d))?;
    let figure = if matches!(model.loss, gan::GanLoss::Wasserstein { .. }) { CRITIC_FIGURE } else { GAN_FIGURE };
    Ok(record(&path, epochs, full.train.x.rows(), seconds, figure, f, s))
}

fn dense_gan(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    gan_job(GanConfig::new().init(&training_device())?, gan::EPOCHS, full, sample)
}

/// The DCGAN, trained epoch by epoch for up to the slide's 50: after each epoch the shipped model
/// and its record are written, and a checkpoint with the optimizers' state goes to the cache
/// (`$COURSE_CACHE/pretrain`, not shipped), so that a run stopped at any point ships the last
/// finished epoch and the next `./course pretrain dcgan` continues from it (the same numbers as
/// one uninterrupted run: the checkpoint holds the noise generator's state too).
fn dcgan(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let mut model = DcganConfig::new().init(&training_device())?;
    let path = pretrained::pretrained_path(&model);
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cache = pretrain_cache();
    let config = gan::GanFitConfig::new(DCGAN_EPOCHS).with_checkpoints(&cache);
    // A resumed run adds its time to what the record of the epoch it resumes from says.
    let earlier = pretrained::pretrained_records().unwrap_or_default().into_iter().find(|r| r.file == file);
    let codings = Noise::training(7).codings(32, model.codings_size());
    let start = Instant::now();
    let mut last = None;
    let mut before = None;
    gan::train_gan_with(&mut model, &full.train.x, &codings, &config, |gan, epoch| {
        save_checkpoint(gan, &path)?;
        // Fixed at this run's first epoch: the time of the epochs it resumed after. The GAN's
        // checkpoints keep no time, so a record of another epoch (one restored from git while the
        // checkpoints went on) leaves this run's time alone in the record: said, not hidden.
        let before = *before.get_or_insert_with(|| match earlier.as_ref().filter(|r| r.epochs + 1 == epoch) {
            Some(r) => r.seconds,
            None => {
                if epoch > 1 {
                    println!("   the DCGAN's record is not of epoch {}: its seconds count this run only; add the earlier epochs' by hand", epoch - 1);
                }
                0.0
            }
        });
        let (f, s) = pretrained::figures(full, sample, |d| pretrained::gan_figure(gan, d))?;
        let mut r = record(&path, epoch, full.train.x.rows(), before + start.elapsed().as_secs_f64(), GAN_FIGURE, f, s);
        r.lesson = "07-gan".into();
        r.model = "DCGAN".into();
        println!("   epoch {epoch}: {GAN_FIGURE}: {f:.4} (sample {s:.4}) after {:.0} s", r.seconds);
        save_record(r.clone()).map_err(|e| CourseError::Io { path: pretrained::pretrained_dir(), source: std::io::Error::other(e.to_string()) })?;
        last = Some(r);
        Ok(())
    })?;
    // No epoch left to train: the checkpoints in the cache say all were, and the record stays.
    last.or(earlier).ok_or_else(|| CourseError::Checkpoint { path: cache.clone(), problem: "no epoch left to train and no record of the model: remove this folder and run again".into() })
}

/// Lesson 08's WGAN-GP (its settings: Adam 0.0001 with β₁ 0.5 and β₂ 0.9 for both networks), for
/// the slide's 50 epochs: lesson 09 judges it beside the other generators.
fn wgan_gp(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let model = GanConfig::new().with_loss(gan::GanLoss::Wasserstein { gradient_penalty: 10.0 }).init(&training_device())?;
    let adam = OptimizerConfig::Adam { learning_rate: 0.0001, beta_1: 0.5, beta_2: 0.9 };
    gan_job_with(model, gan::GanFitConfig::new(gan::EPOCHS).with_optimizers(adam, adam), full, sample)
}

/// The book's diffusion model, trained epoch by epoch for up to the book's 100: after each epoch
/// the shipped model and its record are written, and a checkpoint with the optimizer's state goes
/// to the cache (`$COURSE_CACHE/pretrain`, not shipped), so that a run stopped at any point ships
/// the last finished epoch and the next `./course pretrain diffusion` continues from it
/// (`Diffusion::fit_resumable`: the same numbers as one uninterrupted run).
fn diffusion(full: &FashionMnist, sample: &FashionMnist) -> Result<PretrainedRecord> {
    let mut model = DiffusionConfig::new().init(&training_device())?;
    let path = pretrained::pretrained_path(&model);
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let checkpoint = pretrain_cache().join(file.replace(".ckpt", "-training.ckpt"));
    std::fs::create_dir_all(pretrain_cache()).map_err(|e| CourseError::Io { path: pretrain_cache(), source: e })?;
    // Seed 0: epoch e is shuffled and noised from seed e, as the first runs of this job did. The
    // shipped model is the average of the weights (`diffusion::AVERAGE_DECAY`): its samples judge
    // far better than the weights after any one step.
    let config = diffusion::fit_config().with_epochs(DIFFUSION_EPOCHS).with_seed(0).with_average(diffusion::AVERAGE_DECAY);
    // A resumed run adds its time to what the record of the epoch it resumes from says.
    let earlier = pretrained::pretrained_records().unwrap_or_default().into_iter().find(|r| r.file == file);
    let start = Instant::now();
    let mut last = None;
    let mut before = None;
    model.fit_resumable(&full.train.x, Some(&full.valid.x), &config, &checkpoint, |model, history| {
        let epoch = history.epochs.len();
        save_checkpoint(model, &path)?;
        // Fixed at this run's first epoch: the time of the epochs it resumed after. A record of
        // another epoch (one restored from git while the checkpoint went on) leaves the
        // checkpoint's history, whose epochs' seconds lack only the figures' few per epoch.
        let before = *before.get_or_insert_with(|| match earlier.as_ref().filter(|r| r.epochs + 1 == epoch) {
            Some(r) => r.seconds,
            None => history.seconds.iter().take(epoch.saturating_sub(1)).sum(),
        });
        let (f, s) = pretrained::figures(full, sample, |d| pretrained::diffusion_figure(model, d))?;
        let mut r = record(&path, epoch, full.train.x.rows(), before + start.elapsed().as_secs_f64(), DIFFUSION_FIGURE, f, s);
        r.lesson = "09-diffusion".into();
        r.model = DIFFUSION_MODEL.into();
        println!("   epoch {epoch}: {DIFFUSION_FIGURE}: {f:.4} (sample {s:.4}) after {:.0} s", r.seconds);
        save_record(r.clone()).map_err(|e| CourseError::Io { path: pretrained::pretrained_dir(), source: std::io::Error::other(e.to_string()) })?;
        last = Some(r);
        Ok(())
    })?;
    // No epoch left to train: the checkpoint in the cache says all were, and the record stays.
    last.or(earlier).ok_or_else(|| CourseError::Checkpoint { path: checkpoint.clone(), problem: "no epoch left to train and no record of the model: remove this file and run again".into() })
}
