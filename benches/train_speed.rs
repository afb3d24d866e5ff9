//! Training speed of the course's models on real Fashion-MNIST (lesson 01's linear autoencoder on
//! its own toy 3-D data), against the slides' own tf.keras models in the same run:
//! `cargo bench --bench train_speed` (or `./course bench`).
//!
//! For each model and each CPU backend compiled in (flex always; ndarray and cpu with
//! `--features course-lib/ndarray,course-lib/cpu`) it prints samples per second, the seconds a
//! 55,000-image epoch takes (extrapolated from a fixed number of steps), and the fraction of the
//! machine's peak arithmetic that is (the model's FLOPs per sample against a large matrix product
//! measured in the same run). Then the same steps in tf.keras and the ratio of the epoch times.
//! A benchmark, not a test: it asserts nothing.
//!
//! Adding a model is one entry in `models()`.

use course_lib::data::{Matrix, generate_3d_data, load_fashion_mnist};
use course_lib::device::{available_backends, device_named};
use course_lib::prelude::*;
use std::time::Instant;

#[path = "reference.rs"]
mod reference;

/// Steps timed per model, after `WARMUP` steps.
const STEPS: usize = 1000;
const WARMUP: usize = 30;

struct Model {
    name: &'static str,
    /// The name the Keras reference prints, if it runs this model.
    keras: Option<&'static str>,
    batch: usize,
    /// Dense layers as (inputs, outputs): the FLOPs of a training step are about three times the
    /// forward pass's 2·inputs·outputs per layer (forward, and two products backward).
    layers: &'static [(usize, usize)],
    train: fn(&Matrix, &Device) -> Result<History>,
}

const STACKED: &[(usize, usize)] = &[(784, 100), (100, 30), (30, 100), (100, 784)];

fn models() -> Vec<Model> {
    vec![
        Model {
            // The lesson's own model and data: 3 → 2 → 3 on the toy 3-D points (as many as the
            // images it is handed), MSE, SGD 0.1. Its arithmetic is nothing; what it measures is
            // the fixed cost of a training step (tensors from host data, autodiff, optimizer).
            name: "linear autoencoder (01)",
            keras: Some("linear_ae"),
            batch: 32,
            layers: &[(3, 2), (2, 3)],
            train: |x, device| {
                let toy = generate_3d_data(x.rows, 0.1, 0.3, 0.1, 4);
                let mut ae = LinearAeConfig::new().init(device)?;
                let fit = linear_ae::fit_config(linear_ae::SLIDE_LEARNING_RATE).with_epochs(1).with_verbose(false);
                ae.fit(Data::autoencoder(&toy), None, &fit)
            },
        },
        Model {
            name: "stacked autoencoder (02)",
            keras: Some("stacked_ae"),
            batch: 32,
            layers: STACKED,
            train: |x, device| {
                let mut ae = StackedAeConfig::new().init(device)?;
                ae.fit(Data::autoencoder(x), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))
            },
        },
        Model {
            name: "stacked autoencoder, tied (02)",
            keras: None,
            batch: 32,
            layers: STACKED,
            train: |x, device| {
                let mut ae = StackedAeConfig::new().init_tied(device)?;
                ae.fit(Data::autoencoder(x), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))
            },
        },
    ]
}

fn flops_per_sample(layers: &[(usize, usize)]) -> f64 {
    3.0 * layers.iter().map(|&(i, o)| 2.0 * i as f64 * o as f64).sum::<f64>()
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

/// Samples per second of `model` on `device`.
fn samples_per_second(model: &Model, x: &Matrix, device: &Device) -> Result<f64> {
    (model.train)(&x.head(WARMUP * model.batch), device)?;
    let data = x.head(STEPS * model.batch);
    let start = Instant::now();
    (model.train)(&data, device)?;
    Ok(data.rows as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let fashion = load_fashion_mnist()?;
    let x = fashion.train.x.head(STEPS * 128);
    let mut ours = Vec::new();
    for backend in available_backends() {
        let device = device_named(backend)?;
        let peak = peak_flops(&device);
        println!("backend {backend}: peak (1024³ matmul) {:.1} GFLOP/s", peak / 1e9);
        for model in models() {
            let per_second = samples_per_second(&model, &x, &device.clone().autodiff())?;
            let flops = flops_per_sample(model.layers) * per_second;
            println!(
                "  {:<34} batch {:>3}: {per_second:>8.0} samples/s, {:>6.2} s per 55,000-image epoch, {:>5.1} GFLOP/s = {:>4.1}% of peak",
                model.name,
                model.batch,
                55_000.0 / per_second,
                flops / 1e9,
                100.0 * flops / peak
            );
            if backend == "flex" {
                ours.push((model.keras, per_second));
            }
        }
    }
    println!("tf.keras reference, the same steps:");
    match reference::run("keras_reference.py", &[STEPS.to_string(), WARMUP.to_string()]) {
        Ok(text) => {
            for line in text.lines() {
                println!("  {line}");
            }
            for (keras, per_second) in ours {
                let Some(name) = keras else { continue };
                let keras_rate = text
                    .lines()
                    .find(|l| l.split_whitespace().nth(1) == Some(name))
                    .and_then(|l| reference::field(l, "samples_per_second"));
                if let Some(k) = keras_rate {
                    println!(
                        "  {name}: course {:.2} s vs tf.keras {:.2} s per epoch, ratio {:.3}",
                        55_000.0 / per_second,
                        55_000.0 / k,
                        k / per_second
                    );
                }
            }
        }
        Err(err) => println!("  tf.keras run failed: {err}"),
    }
    Ok(())
}
