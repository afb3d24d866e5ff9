//! The Python reference (scikit-learn, tf.keras) the benchmarks compare the course with, in a
//! virtual environment of its own: `$COURSE_CACHE/reference-venv`, made with pip from
//! `scripts/reference-requirements.txt` on first use. `COURSE_REFERENCE_PYTHON` names another
//! interpreter.

use std::path::PathBuf;
use std::process::Command;

/// The repository root: as cargo names it at run time (the path compiled in can be another
/// clone's, since clones share one build cache), or the compiled one for a binary run by hand.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A Python interpreter with the reference packages, installing them if needed; `None` (with a
/// message) when that fails, so that a benchmark still prints the course's own figures.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COURSE_REFERENCE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("COURSE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/course-rust"));
    let venv = cache.join("reference-venv");
    let python = venv.join("bin/python");
    let requirements = root().join("scripts/reference-requirements.txt");
    let stamp = venv.join(".requirements");
    let current = std::fs::read(&requirements).ok();
    if python.exists() && current.is_some() && std::fs::read(&stamp).ok() == current {
        return Some(python);
    }
    println!("installing the Python reference (scikit-learn, tensorflow-cpu) into {} ...", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip")).args(["install", "-q", "-r"]).arg(&requirements).status().is_ok_and(|s| s.success());
    if ok {
        let _ = std::fs::write(&stamp, current.unwrap_or_default());
        Some(python)
    } else {
        println!("could not install the Python reference: the comparison is skipped");
        None
    }
}

/// Runs `script` (under `scripts/`) with `args`; its standard output, or why it failed.
pub fn run(script: &str, args: &[String]) -> Result<String, String> {
    let python = python().ok_or("no Python reference")?;
    let out = Command::new(python).arg(root().join("scripts").join(script)).args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The number after `name=` in `text`.
pub fn field(text: &str, name: &str) -> Option<f64> {
    text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
}
