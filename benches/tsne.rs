//! t-SNE by the course and by the references, in the same run: `cargo bench --bench tsne` (or
//! `./course bench`).
//!
//! 1. Lesson 03's input, 5,000 validation codings of 30 values, beside scikit-learn's `TSNE()`:
//!    seconds, trustworthiness (k = 5), KL divergence, the ratio of the times.
//! 2. All 55,000 training codings beside openTSNE (FFT-accelerated interpolation, all cores):
//!    seconds, peak memory of the t-SNE itself, trustworthiness (k = 5) on the first 5,000
//!    points. `COURSE_TSNE_LARGE=0` skips it.
//!
//! The references run from the reference environment (see `reference.rs`). A benchmark, not a
//! test: it prints.

use course_lib::embedding::{TsneConfig, trustworthiness, tsne};
use course_lib::prelude::*;

#[path = "reference.rs"]
mod reference;

fn main() -> Result<()> {
    let fashion = load_fashion_mnist()?;
    // The lesson compresses the validation images with the trained stacked encoder; one epoch of
    // training is enough to give t-SNE codings of the same kind.
    let mut ae = StackedAeConfig::new().init(&training_device())?;
    ae.fit(Data::autoencoder(&fashion.train.x), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))?;
    let codings = ae.codings(&fashion.valid.x)?;
    println!("input: {} × {} codings", codings.rows(), codings.cols());

    let ours = tsne(&codings, &TsneConfig::new())?;
    let t_ours = trustworthiness(&codings, &ours.points, 5)?;
    println!("course-lib Barnes-Hut t-SNE: {:>7.2} s, trustworthiness {t_ours:.4}, KL {:.4}", ours.seconds, ours.kl_divergence);

    let path = std::env::temp_dir().join(format!("course-codings-{}.f32", std::process::id()));
    let bytes: Vec<u8> = codings.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| CourseError::Io { path: path.clone(), source: e })?;
    let args = [path.display().to_string(), codings.rows().to_string(), codings.cols().to_string()];
    let result = reference::run("sklearn_tsne.py", &args, &[], |_, _| {});
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("f32.sklearn"));
    match result.as_deref().map(|text| (reference::field(text, "seconds"), reference::field(text, "trustworthiness"), reference::field(text, "kl"))) {
        Ok((Some(seconds), Some(t), kl)) => {
            println!("scikit-learn TSNE():         {seconds:>7.2} s, trustworthiness {t:.4}, KL {:.4}", kl.unwrap_or(f64::NAN));
            println!("ratio course / scikit-learn: time {:.3}, trustworthiness difference {:+.4}", ours.seconds / seconds, t_ours - t);
        }
        Ok(_) => println!("scikit-learn printed no figures: {result:?}"),
        Err(err) => println!("scikit-learn run failed: {err}"),
    }
    if std::env::var("COURSE_TSNE_LARGE").as_deref() != Ok("0") {
        large(&ae, &fashion.train.x)?;
    }
    Ok(())
}

/// Peak resident memory of this process since the last reset, in MB (Linux), and a reset.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The whole training set's codings, the course beside openTSNE.
fn large(ae: &stacked_ae::StackedAe, images: &Matrix) -> Result<()> {
    const SUBSAMPLE: usize = 5_000;
    let codings = ae.codings(images)?;
    println!("\ninput: {} × {} codings (the whole training set)", codings.rows(), codings.cols());
    // Reset the peak to what the process holds now, so that the peak measures the t-SNE alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = resident_mb();
    let ours = tsne(&codings, &TsneConfig::new())?;
    let peak = peak_mb() - before;
    let t_ours = trustworthiness(&codings.head(SUBSAMPLE), &ours.points.head(SUBSAMPLE), 5)?;
    println!("course-lib Barnes-Hut t-SNE: {:>7.2} s, peak {peak:>5.0} MB, trustworthiness (first {SUBSAMPLE}) {t_ours:.4}", ours.seconds);
    let path = std::env::temp_dir().join(format!("course-codings-large-{}.f32", std::process::id()));
    let bytes: Vec<u8> = codings.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| CourseError::Io { path: path.clone(), source: e })?;
    let args = [path.display().to_string(), codings.rows().to_string(), codings.cols().to_string(), SUBSAMPLE.to_string()];
    let result = reference::run("opentsne_tsne.py", &args, &[], |_, _| {});
    let _ = std::fs::remove_file(&path);
    match result.as_deref().map(|text| (reference::field(text, "seconds"), reference::field(text, "peak_mb"), reference::field(text, "trustworthiness"))) {
        Ok((Some(seconds), Some(mb), Some(t))) => {
            println!("openTSNE:                    {seconds:>7.2} s, peak {mb:>5.0} MB, trustworthiness (first {SUBSAMPLE}) {t:.4}");
            println!("ratio course / openTSNE: time {:.3}, memory {:.3}, trustworthiness difference {:+.4}", ours.seconds / seconds, peak / mb, t_ours - t);
        }
        Ok(_) => println!("openTSNE printed no figures: {result:?}"),
        Err(err) => println!("openTSNE run failed: {err}"),
    }
    Ok(())
}
