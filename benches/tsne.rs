//! t-SNE of the lesson-03 input, 5,000 validation codings of 30 values, by the course and by
//! scikit-learn in the same run: `cargo bench --bench tsne` (or `./course bench`).
//!
//! Prints the seconds, trustworthiness (k = 5) and KL divergence of each, and the ratio of the
//! times. scikit-learn runs from `$COURSE_CACHE/reference-venv` (made with pip on first use;
//! `COURSE_REFERENCE_PYTHON` names another interpreter). A benchmark, not a test: it prints.

use course_lib::embedding::{TsneConfig, trustworthiness, tsne};
use course_lib::prelude::*;
use std::path::PathBuf;
use std::process::Command;

fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COURSE_REFERENCE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("COURSE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/course-rust")
    });
    let venv = cache.join("reference-venv");
    let python = venv.join("bin/python");
    let has_sklearn = |p: &PathBuf| Command::new(p).args(["-c", "import sklearn"]).status().is_ok_and(|s| s.success());
    if has_sklearn(&python) {
        return Some(python);
    }
    println!("installing scikit-learn into {} ...", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip")).args(["install", "-q", "scikit-learn==1.9.1"]).status().is_ok_and(|s| s.success());
    (ok && has_sklearn(&python)).then_some(python)
}

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

    let Some(python) = reference_python() else {
        println!("scikit-learn is not available: no comparison");
        return Ok(());
    };
    let path = std::env::temp_dir().join(format!("course-codings-{}.f32", std::process::id()));
    let bytes: Vec<u8> = codings.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| CourseError::Io { path: path.clone(), source: e })?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sklearn_tsne.py");
    let out = Command::new(&python).arg(&script).arg(&path).arg(codings.rows.to_string()).arg(codings.cols.to_string()).output();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("f32.sklearn"));
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)).unwrap_or_default();
    let field = |name: &str| -> Option<f64> {
        text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
    };
    match (field("seconds"), field("trustworthiness")) {
        (Some(seconds), Some(t)) => {
            println!("scikit-learn TSNE():         {seconds:>7.2} s, trustworthiness {t:.4}, KL {:.4}", field("kl").unwrap_or(f64::NAN));
            println!("ratio course / scikit-learn: time {:.3}, trustworthiness difference {:+.4}", ours.seconds / seconds, t_ours - t);
        }
        _ => println!("scikit-learn run failed:\n{text}"),
    }
    Ok(())
}
