//! Training speed of the course's models on real Fashion-MNIST: `cargo bench --bench train_speed`
//! (or `./course bench`). Prints, per model, samples per second and the seconds a full epoch
//! (55,000 images) takes, extrapolated from a fixed number of steps.
//!
//! A benchmark, not a test: it asserts nothing and prints figures to compare, in the same run,
//! with the tf.keras reference (about 10 s per epoch for the stacked autoencoder at batch 32 on
//! the course's 2-core machines).
//!
//! Adding a model is one entry in `main`.

use course_lib::data::{Matrix, load_fashion_mnist, load_fashion_mnist_sample};
use course_lib::prelude::*;
use course_lib::stacked_ae;
use std::time::Instant;

/// Steps timed per model, after one warm-up epoch-slice of `WARMUP` steps.
const STEPS: usize = 300;
const WARMUP: usize = 30;

fn time_steps(name: &str, batch_size: usize, x: &Matrix, train: impl Fn(&Matrix) -> Result<History>) {
    let steps_x = |steps: usize| x.head(steps * batch_size);
    if let Err(err) = train(&steps_x(WARMUP)) {
        println!("{name}: {err}");
        return;
    }
    let data = steps_x(STEPS);
    let start = Instant::now();
    let result = train(&data);
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(_) => {
            let per_second = data.rows as f64 / seconds;
            println!(
                "{name:<40} batch {batch_size:>3}: {per_second:>9.0} samples/s, {:>6.3} ms/sample, {:>6.2} s per 55,000-image epoch",
                1000.0 / per_second,
                55_000.0 / per_second
            );
        }
        Err(err) => println!("{name}: {err}"),
    }
}

fn main() {
    let fashion = load_fashion_mnist().or_else(|_| load_fashion_mnist_sample()).expect("Fashion-MNIST or the sample");
    let x = fashion.train.x.head(STEPS * 128);
    println!("device: {:?}; {} training images available", course_lib::device(), fashion.train.len());
    let device = training_device();

    time_steps("stacked autoencoder (lesson 02)", 32, &x, |data| {
        let mut ae = StackedAeConfig::new().init(&device)?;
        ae.fit(Data::autoencoder(data), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))
    });
    time_steps("stacked autoencoder, tied (lesson 02)", 32, &x, |data| {
        let mut ae = StackedAeConfig::new().init_tied(&device)?;
        ae.fit(Data::autoencoder(data), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))
    });
}
