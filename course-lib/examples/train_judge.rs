//! Trains lesson 08's judge, the Fashion-MNIST classifier that labels generated images, and
//! writes it where the course ships it: `data/judge/judge.ckpt`, with the accuracies it reaches
//! in `data/judge/judge.txt` (the test checks the sample figure).
//!
//! `cargo run --release -p course-lib --example train_judge [EPOCHS]` (default 6; about ten minutes
//! on two cores).

use course_lib::data::{load_fashion_mnist, load_fashion_mnist_sample};
use course_lib::mode_collapse::{Judge, judge_fit_config, judge_model, judge_path};
use course_lib::train::Data;
use course_lib::training_device;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args().nth(1).map(|e| e.parse()).transpose()?.unwrap_or(6);
    let fashion = load_fashion_mnist()?;
    let mut model = judge_model(2026, &training_device())?;
    let start = Instant::now();
    model.fit(
        Data::labelled(&fashion.train.x, &fashion.train.y),
        Some(Data::labelled(&fashion.valid.x, &fashion.valid.y)),
        &judge_fit_config(epochs),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let judge = Judge { model };
    let test_accuracy = judge.accuracy(&fashion.test)?;
    let sample_accuracy = judge.accuracy(&load_fashion_mnist_sample()?.test)?;
    let path = judge_path();
    course_lib::checkpoint::save_checkpoint(&judge.model, &path)?;
    let record = format!(
        "# Lesson 08's judge, trained by `cargo run --release -p course-lib --example train_judge {epochs}`\n\
         epochs {epochs}\ntraining_seconds {seconds:.0}\ntest_accuracy {test_accuracy:.4}\nsample_accuracy {sample_accuracy:.4}\n"
    );
    std::fs::write(path.with_file_name("judge.txt"), &record)?;
    print!("{record}");
    Ok(())
}
