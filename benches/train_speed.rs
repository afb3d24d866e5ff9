//! Training speed of the course's models on real Fashion-MNIST (lesson 01's linear autoencoder on
//! its own toy 3-D data), against the references a reader would pick instead, in the same run:
//! PyTorch (CPU, all cores; `scripts/torch_reference.py`) and the book's tf.keras (Keras 2 through
//! `tf_keras`; `scripts/keras_reference.py`, with today's Keras 3 as a third column for the
//! stacked autoencoder). `cargo bench --bench train_speed` (or `./course bench`).
//!
//! Every model is timed the way a user trains it: whole epochs of shuffled batches (the GANs'
//! iterations of two phases), the model built and a warm-up run before the clock starts,
//! validation excluded. It prints seconds per 55,000-image epoch for each, the course's ratio
//! to each reference and the goal for it, and the fraction of the machine's peak arithmetic the
//! course reaches (a 1024³ matrix product measured in the same run). A benchmark, not a test:
//! it asserts nothing. `COURSE_BENCH_MODELS=conv_ae,vae` times only those.
//!
//! Adding a model is one entry in `models()`, and one function in each reference script.

use course_lib::data::{Matrix, generate_3d_data, load_fashion_mnist};
use course_lib::device::{available_backends, device_named};
use course_lib::gan::{DcganConfig, GanConfig, GanFitConfig, train_gan};
use course_lib::prelude::*;
use std::time::Instant;

#[path = "reference.rs"]
mod reference;

/// Steps timed per dense model (the convolutional ones run a fifth and a twentieth of it), after
/// `WARMUP` steps.
const STEPS: usize = 1000;
const WARMUP: usize = 30;
/// Images in an epoch, for the seconds-per-epoch figures.
const EPOCH: f64 = 55_000.0;

/// A model of the course, ready to train: `run(images)` trains on all of `images` once (an epoch
/// of shuffled batches).
type Runner = Box<dyn FnMut(&Matrix) -> Result<()>>;

struct Model {
    /// The name the reference scripts print.
    name: &'static str,
    batch: usize,
    /// Divides `STEPS` (a convolutional step costs tens of milliseconds).
    steps_divisor: usize,
    /// Multiply-adds of one sample's forward pass: a training step is about three times that,
    /// twice in FLOPs (a GAN iteration is counted from its networks' passes).
    forward_macs: f64,
    /// Goal as a ratio of the course's epoch time to PyTorch's.
    goal: f64,
    /// Builds the model on `device` (not timed).
    build: fn(&Device) -> Result<Runner>,
}

fn fit_runner<M>(mut model: M, config: FitConfig) -> Runner
where
    M: TrainModel + 'static,
{
    Box::new(move |x: &Matrix| fit(&mut model, Data::autoencoder(x), None, &config).map(|_| ()))
}

fn gan_runner(mut gan: gan::Gan) -> Runner {
    let codings = Noise::training(1).codings(4, gan.codings_size());
    Box::new(move |x: &Matrix| train_gan(&mut gan, x, &codings, &GanFitConfig::new(1).with_verbose(false)).map(|_| ()))
}

const STACKED_MACS: f64 = 784.0 * 100.0 + 100.0 * 30.0 + 30.0 * 100.0 + 100.0 * 784.0;

fn models() -> Vec<Model> {
    vec![
        Model {
            // The lesson's own model and data: 3 → 2 → 3 on the toy 3-D points, MSE, SGD 0.1. Its
            // arithmetic is nothing; what it measures is the fixed cost of a training step.
            name: "linear_ae",
            batch: 32,
            steps_divisor: 1,
            forward_macs: 12.0,
            goal: 0.8,
            build: |d| Ok(fit_runner(LinearAeConfig::new().init(d)?, linear_ae::fit_config(linear_ae::SLIDE_LEARNING_RATE).with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "stacked_ae",
            batch: 32,
            steps_divisor: 1,
            forward_macs: STACKED_MACS,
            goal: 0.8,
            build: |d| Ok(fit_runner(StackedAeConfig::new().init(d)?, stacked_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "conv_ae",
            batch: 32,
            steps_divisor: 5,
            // Encoder 112,896 + 903,168 + 903,168; decoder 165,888 + 225,792 + 28,224.
            forward_macs: 2_339_136.0,
            goal: 1.0,
            build: |d| Ok(fit_runner(ConvAeConfig::new().init(d)?, conv_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "denoising_ae",
            batch: 32,
            steps_divisor: 1,
            forward_macs: STACKED_MACS,
            goal: 0.8,
            build: |d| Ok(fit_runner(DenoisingAeConfig::new().init(d)?, denoising_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "vae",
            batch: 128,
            steps_divisor: 4,
            forward_macs: 784.0 * 150.0 + 150.0 * 100.0 + 2.0 * 100.0 * 10.0 + 10.0 * 100.0 + 100.0 * 150.0 + 150.0 * 784.0,
            goal: 0.8,
            build: |d| Ok(fit_runner(VaeConfig::new().init(d)?, vae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "dense_gan",
            batch: 32,
            steps_divisor: 5,
            // Per real image: G for two fakes, D on two images in phase 1, G and D in phase 2.
            forward_macs: 2.0 * 136_000.0 + 3.0 * 132_700.0,
            goal: 0.8,
            build: |d| Ok(gan_runner(GanConfig::new().init(d)?)),
        },
        Model {
            name: "dcgan",
            batch: 32,
            steps_divisor: 20,
            forward_macs: 2.0 * 10_960_000.0 + 3.0 * 10_320_000.0,
            goal: 1.0,
            build: |d| Ok(gan_runner(DcganConfig::new().init(d)?)),
        },
    ]
}

/// FLOP/s of a 1024³ matrix product on `device`, the best of three.
fn peak_flops(device: &Device) -> f64 {
    let n = 1024;
    let a = Tensor::<2>::ones([n, n], device);
    let b = Tensor::<2>::ones([n, n], device);
    let _ = a.clone().matmul(b.clone()).into_data();
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let _ = a.clone().matmul(b.clone()).into_data();
            2.0 * (n as f64).powi(3) / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Samples per second of `model` on `device`: the model built, a warm-up, then the timed steps.
fn samples_per_second(model: &Model, images: &Matrix, device: &Device) -> Result<f64> {
    let steps = (STEPS / model.steps_divisor).max(10);
    let data = if model.name == "linear_ae" { generate_3d_data(steps * model.batch, 0.1, 0.3, 0.1, 4) } else { images.head(steps * model.batch) };
    let warmup = if model.name == "linear_ae" { data.head(WARMUP * model.batch) } else { images.head((WARMUP / model.steps_divisor).max(2) * model.batch) };
    let mut run = (model.build)(device)?;
    run(&warmup)?;
    let start = Instant::now();
    run(&data)?;
    Ok(data.rows() as f64 / start.elapsed().as_secs_f64())
}

/// The references, each a script under `scripts/` with its extra arguments; Keras 3, the slowest
/// and only a third column, times the stacked autoencoder only.
const REFERENCES: [(&str, &str, &[&str]); 3] = [
    ("PyTorch", "torch_reference.py", &[]),
    ("tf.keras 2", "keras_reference.py", &[]),
    ("Keras 3", "keras_reference.py", &["--keras3"]),
];

/// Rounds per model. These machines' speed drifts by tens of percent over minutes, so each model
/// is timed in the course and in every reference back to back, twice, and the faster time of each
/// kept: a ratio compares runs made within the same minute.
const ROUNDS: usize = 2;

/// Samples per second of the reference `script` for the model `name`, if it ran.
fn reference_rate(script: &str, extra: &[&str], name: &str) -> Option<f64> {
    let mut args = vec![STEPS.to_string(), WARMUP.to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(name.to_owned());
    match reference::run(script, &args) {
        Ok(text) => text.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).and_then(|l| reference::field(l, "samples_per_second")),
        Err(err) => {
            println!("  {script} {name} failed: {}", err.lines().last().unwrap_or_default());
            None
        }
    }
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::var("COURSE_BENCH_MODELS").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let chosen: Vec<Model> = models().into_iter().filter(|m| only.is_empty() || only.iter().any(|o| o == m.name)).collect();
    let fashion = load_fashion_mnist()?;
    let images = fashion.train.x;
    // Backends other than the CPU's (wgpu, cuda when built in): the course's figures only.
    for backend in available_backends().into_iter().filter(|b| *b != "flex") {
        let device = device_named(backend)?;
        println!("course, backend {backend}:");
        for model in &chosen {
            let per_second = samples_per_second(model, &images, &device.clone().autodiff())?;
            println!("  {:<14} batch {:>3}: {:>7.2} s per 55,000-image epoch", model.name, model.batch, EPOCH / per_second);
        }
    }
    let device = device_named("flex")?;
    let peak = peak_flops(&device);
    println!("course on the CPU (flex): peak (1024³ matmul) {:.1} GFLOP/s; {ROUNDS} rounds per model, the best of each kept", peak / 1e9);
    let mut rows: Vec<(&str, f64, Vec<Option<f64>>, f64)> = Vec::new();
    for model in &chosen {
        let mut ours = 0.0f64;
        let mut theirs: Vec<Option<f64>> = vec![None; REFERENCES.len()];
        for _ in 0..ROUNDS {
            ours = ours.max(samples_per_second(model, &images, &device.clone().autodiff())?);
            for (i, (label, script, extra)) in REFERENCES.iter().enumerate() {
                if *label == "Keras 3" && model.name != "stacked_ae" {
                    continue;
                }
                if let Some(rate) = reference_rate(script, extra, model.name) {
                    theirs[i] = Some(theirs[i].map_or(rate, |r| r.max(rate)));
                }
            }
        }
        let flops = 6.0 * model.forward_macs * ours;
        println!(
            "  {:<14} batch {:>3}: {ours:>9.0} samples/s, {:>7.2} s per epoch, {:>5.1} GFLOP/s = {:>4.1}% of peak; {}",
            model.name,
            model.batch,
            EPOCH / ours,
            flops / 1e9,
            100.0 * flops / peak,
            REFERENCES.iter().zip(&theirs).filter_map(|((label, ..), r)| r.map(|r| format!("{label} {:.2} s", EPOCH / r))).collect::<Vec<_>>().join(", ")
        );
        rows.push((model.name, ours, theirs, model.goal));
    }
    println!("\nseconds per 55,000-image epoch (ratio = course / reference; goal is against PyTorch):");
    print!("  {:<14} {:>8}", "model", "course");
    for (label, ..) in REFERENCES {
        print!(" {label:>11} {:>7}", "ratio");
    }
    println!(" {:>6} {:>5}", "goal", "met");
    for (name, ours, theirs, goal) in rows {
        print!("  {name:<14} {:>8.2}", EPOCH / ours);
        for rate in &theirs {
            match rate {
                Some(r) => print!(" {:>11.2} {:>7.3}", EPOCH / r, r / ours),
                None => print!(" {:>11} {:>7}", "-", "-"),
            }
        }
        let met = theirs[0].map_or("-", |r| if r / ours <= goal { "yes" } else { "no" });
        println!(" {goal:>6.1} {met:>5}");
    }
    Ok(())
}
