//! The Python reference (scikit-learn, tf.keras, PyTorch) the benchmarks compare the course with,
//! in a virtual environment of its own: `$COURSE_CACHE/reference-venv`, made with pip from
//! `scripts/reference-requirements.txt` on first use. `COURSE_REFERENCE_PYTHON` names another
//! interpreter (one that does not run skips the references).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository root: as cargo names it at run time (the path compiled in can be another
/// clone's, since clones share one build cache), or the compiled one for a binary run by hand.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A Python interpreter with the reference packages, installing them if needed; `None` (with a
/// message) when that fails, so that a benchmark still prints the course's own figures. Decided
/// once per process: a benchmark asks for every run, and a failed install must not be retried
/// (nor its message repeated) each time.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COURSE_REFERENCE_PYTHON") {
        let runs = Command::new(&p).args(["-c", ""]).status().is_ok_and(|s| s.success());
        if !runs {
            println!("COURSE_REFERENCE_PYTHON={} does not run: the comparison is skipped", p.to_string_lossy());
        }
        return runs.then(|| PathBuf::from(p));
    }
    let cache = std::env::var_os("COURSE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/course-rust"));
    let venv = cache.join("reference-venv");
    let python = venv.join("bin/python");
    let requirements = root().join("scripts/reference-requirements.txt");
    let stamp = venv.join(".requirements");
    // Without the scripts (a binary whose clone is gone) there is nothing to install, and the
    // shared environment must not be touched.
    let Ok(current) = std::fs::read(&requirements) else {
        println!("no {}: the comparison is skipped", requirements.display());
        return None;
    };
    if python.exists() && std::fs::read(&stamp).is_ok_and(|s| s == current) {
        return Some(python);
    }
    println!("installing the Python reference (scikit-learn, tensorflow-cpu, torch) into {} ...", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip")).args(["install", "-q", "-r"]).arg(&requirements).status().is_ok_and(|s| s.success());
    if ok {
        let _ = std::fs::write(&stamp, current);
        Some(python)
    } else {
        println!("could not install the Python reference: the comparison is skipped");
        None
    }
}

/// Runs `script` (under `scripts/`) with `args` and the extra environment variables `env`, handing
/// each line of its standard output to `on_line` (with the script's process id) as it is printed,
/// so that a caller can act while the script still runs; its whole standard output, or why it
/// failed (its standard error).
pub fn run(script: &str, args: &[String], env: &[(&str, &str)], mut on_line: impl FnMut(u32, &str)) -> Result<String, String> {
    let python = python().ok_or("no Python reference")?;
    let mut child = Command::new(python)
        .arg(root().join("scripts").join(script))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    // Standard error is read on a thread of its own: TensorFlow writes enough there to fill the
    // pipe and stall the script while this thread waits on its standard output.
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        on_line(pid, &line);
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let errors = errors.join().unwrap_or_default();
    match status.success() {
        true => Ok(text),
        false if errors.trim().is_empty() => Err(status.to_string()),
        false => Err(errors),
    }
}

/// The number after `name=` in `text`.
pub fn field(text: &str, name: &str) -> Option<f64> {
    text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
}
