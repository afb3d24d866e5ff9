//! Searches for a seeded configuration of the slide's GAN that collapses (lesson 08), printing
//! the judge's coverage after every epoch.
//!
//! `cargo run --release -p course-lib --example collapse_search -- NAME EPOCHS IMAGES SEED`

use course_lib::data::load_fashion_mnist;
use course_lib::gan::{GanConfig, GanFitConfig, GanLoss};
use course_lib::mode_collapse::{Judge, real_stats, train_and_measure};
use course_lib::train::{Optimizer, OptimizerConfig};
use course_lib::training_device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("slide");
    let epochs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    let seed: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let fashion = load_fashion_mnist()?;
    let device = training_device();
    let judge = Judge::load(&course_lib::device())?;
    let real = real_stats(&judge, &fashion.test.x.head(2000))?;
    let x = fashion.train.x.head(n);
    let mut config = GanConfig::new().with_seed(seed);
    let mut fit = GanFitConfig::new(epochs).with_seed(seed);
    match name {
        "slide" => {}
        "g_lr5" => fit = fit.with_optimizers(OptimizerConfig::rmsprop(0.001), OptimizerConfig::rmsprop(0.005)),
        "g_lr10" => fit = fit.with_optimizers(OptimizerConfig::rmsprop(0.001), OptimizerConfig::rmsprop(0.01)),
        "adam_fast" => fit = fit.with_optimizers(OptimizerConfig::Adam { learning_rate: 0.001, beta_1: 0.5, beta_2: 0.999 }, OptimizerConfig::Adam { learning_rate: 0.001, beta_1: 0.5, beta_2: 0.999 }),
        "d_slow" => fit = fit.with_optimizers(OptimizerConfig::rmsprop(0.0002), OptimizerConfig::rmsprop(0.001)),
        "d_slow_adam" => fit = fit.with_optimizers(OptimizerConfig::Adam { learning_rate: 0.0001, beta_1: 0.5, beta_2: 0.999 }, OptimizerConfig::Adam { learning_rate: 0.002, beta_1: 0.5, beta_2: 0.999 }),
        "g_lr3" => fit = fit.with_optimizers(OptimizerConfig::rmsprop(0.001), OptimizerConfig::rmsprop(0.003)),
        "both_lr3" => fit = fit.with_optimizers(OptimizerConfig::rmsprop(0.003), OptimizerConfig::rmsprop(0.003)),
        "adam" => fit = fit.with_optimizers(OptimizerConfig::Adam { learning_rate: 0.0002, beta_1: 0.5, beta_2: 0.999 }, OptimizerConfig::Adam { learning_rate: 0.0002, beta_1: 0.5, beta_2: 0.999 }),
        "codings2" => config = config.with_codings(2),
        "mbstd" => config = config.with_minibatch_std(true),
        "wgan" => {
            config = config.with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 });
            fit = fit.with_optimizers(OptimizerConfig::Adam { learning_rate: 0.0001, beta_1: 0.5, beta_2: 0.9 }, OptimizerConfig::Adam { learning_rate: 0.0001, beta_1: 0.5, beta_2: 0.9 });
        }
        "replay" => fit = fit.with_replay(3200),
        "progan" => config = config.with_progan(true),
        "style" => config = config.with_style_mapping(3),
        other => return Err(format!("unknown configuration {other}").into()),
    }
    let _ = Optimizer::new(OptimizerConfig::sgd(1.0));
    let mut gan = config.init(&device)?;
    let run = train_and_measure(name, &mut gan, &x, &fit, &judge, &real, 2000)?;
    for (e, c) in run.coverage.iter().enumerate() {
        let h: Vec<String> = c.histogram.iter().map(|p| format!("{:>3.0}", 100.0 * p)).collect();
        println!("{name} epoch {:>2}: [{}] KL {:.3} covered {} conf {:.3} FD {:.1}", e + 1, h.join(" "), c.kl, c.covered, c.confidence, c.frechet);
    }
    println!("{name}: {:.1} s per epoch", run.seconds_per_epoch());
    Ok(())
}
