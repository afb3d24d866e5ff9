//! Judges the shipped diffusion model (lesson 09) on more images than the lesson's tables: the
//! figures README's "Lesson 09: the average of the weights" quotes for the shipped model.
//!
//! For each sampler (DDIM with 50 steps, deterministic and with fresh noise, η = 1) and each seed
//! (11 and 12), `N` generated images against 2,000 real test images, by lesson 08's judge: the
//! judge-Fréchet distance, KL from uniform, the mean pixel, and the seconds it took.
//!
//! `cargo run --release -p course-lib --example judge_diffusion -- [N]` (N: 1,000 by default;
//! about 80 s per 1,000 images, sampler and seed on two cores: 6 minutes in all).

use course_lib::diffusion::{DiffusionConfig, Sampler};
use course_lib::mode_collapse::{self, Judge};
use course_lib::prelude::*;
use std::time::Instant;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1_000);
    let fashion = load_fashion_mnist()?;
    let judge = Judge::load(&device())?;
    let real_stats = mode_collapse::real_stats(&judge, &fashion.test.x.head(2_000))?;
    // The same held-out test images as lesson 09's tables (from 5,000 on, apart from the 2,000).
    let held_out = fashion.test.x.gather(&(5_000..5_000 + n.min(5_000)).collect::<Vec<usize>>())?;
    let real = mode_collapse::coverage(&judge, &held_out, &real_stats)?;
    println!("real test images ({}): Fréchet {:.2}, KL {:.3}, mean pixel {:.3}", held_out.rows(), real.frechet, real.kl, mean_pixel(&held_out));
    let model: course_lib::diffusion::Diffusion = load_pretrained(&DiffusionConfig::new().init(&training_device())?)?;
    let record = course_lib::pretrained::pretrained_record(&model)?;
    println!("{}: {} epochs, validation loss {:.4}", record.model, record.epochs, record.full);
    for (name, sampler) in [("DDIM, 50 steps", Sampler::ddim(50)), ("DDIM, 50 steps, η = 1", Sampler::Ddim { steps: 50, eta: 1.0 })] {
        for seed in [11u64, 12] {
            let start = Instant::now();
            let images = model.generate(n, sampler, seed)?;
            let seconds = start.elapsed().as_secs_f64();
            let c = mode_collapse::coverage(&judge, &images, &real_stats)?;
            println!("{name}, seed {seed}, {n} images: Fréchet {:.2}, KL {:.3}, mean pixel {:.3} ({seconds:.0} s)", c.frechet, c.kl, mean_pixel(&images));
        }
    }
    Ok(())
}

/// The mean of all pixels (in [0, 1]): the samples' overall brightness.
fn mean_pixel(images: &Matrix) -> f64 {
    images.data().iter().map(|&v| v as f64).sum::<f64>() / images.data().len().max(1) as f64
}
