//! t-SNE of the lesson-03 input, 5,000 validation codings of 30 values, by the course and by
//! scikit-learn in the same run: `cargo bench --bench tsne` (or `./course bench`).
//!
//! Prints the seconds, trustworthiness (k = 5) and KL divergence of each, and the ratio of the
//! times. scikit-learn runs from the reference environment (see `reference.rs`). A benchmark,
//! not a test: it prints.

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
    println!("input: {} × {} codings", codings.rows, codings.cols);

    let ours = tsne(&codings, &TsneConfig::new())?;
    let t_ours = trustworthiness(&codings, &ours.points, 5)?;
    println!("course-lib Barnes-Hut t-SNE: {:>7.2} s, trustworthiness {t_ours:.4}, KL {:.4}", ours.seconds, ours.kl_divergence);

    let path = std::env::temp_dir().join(format!("course-codings-{}.f32", std::process::id()));
    let bytes: Vec<u8> = codings.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| CourseError::Io { path: path.clone(), source: e })?;
    let args = [path.display().to_string(), codings.rows.to_string(), codings.cols.to_string()];
    let result = reference::run("sklearn_tsne.py", &args);
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
    Ok(())
}
