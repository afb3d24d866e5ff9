//! A catalogue of the bad inputs a student can give, one table of cases per section (`run_cases`
//! runs a table and names every case that failed): every case makes the call, requires an `Err(CourseError)` of the right kind whose message names the problem (the
//! setting, the allowed range, the shapes), and, where a model is involved, that the model was
//! left as it was (its predictions before and after compare equal) and that a refused
//! checkpoint file was not touched.
//!
//! Nothing is left unchecked that this catalogue knows of. What it once listed and the library
//! now does: the raw-tensor `encode`/`decode` of the linear, stacked and tied autoencoders and of
//! the VAE are crate-private (students go through the checked `codings`/`decode` on matrices);
//! a `Matrix` cannot hold a wrong number of values (private fields, checked constructors and
//! deserialization), which closes every "an inconsistent matrix panics" entry at once; each other
//! entry has its case in the last section below.
//!
//! Adding a case: one `("what_the_student_does", || { ... })` entry in its section's table, the
//! call checked with `shape_error`, `bad_config`, `corrupt_data`, `checkpoint_error` or `io_error`,
//! and wrapped in `unchanged(&mut model, &probe(), |m| ...)` where it must leave a model as it was.

use course_lib::checkpoint::{checkpoint_description, checkpoint_path, load_checkpoint, load_or_train, save_checkpoint};
use course_lib::conv_ae::{self, ConvAeConfig};
use course_lib::data::{DATA_DIR_ENV, Dataset, FashionMnist, Matrix, load_fashion_mnist, load_fashion_mnist_from, load_fashion_mnist_sample, load_picture, pictures_dir, sample_dir, toy_3d_data};
use course_lib::denoising_ae::{self, Corruption, DenoisingAeConfig, SparseAeConfig, Sparsity};
use course_lib::diffusion::{self, Diffusion, DiffusionConfig, Sampler, Schedule};
use course_lib::embedding::{self, QualityTable, TsneConfig};
use course_lib::gan::{self, DcganConfig, Gan, GanConfig, GanFitConfig, GanHistory, GanLoss, Generator, PixelRange};
use course_lib::layers::{Activation, DenseStack, Padding};
use course_lib::linalg::{self, Pca, principal_angles};
use course_lib::linear_ae::{self, LinearAeConfig};
use course_lib::loss::binary_cross_entropy;
use course_lib::mode_collapse::{self, FeatureStats, Judge};
use course_lib::plot::{
    compare_histories, compare_reconstructions, histogram, plot_codings_2d, plot_image, plot_images, plot_series, plot_toy_3d, reconstruction_grid,
    scatter_classes, scatter_thumbnails, show_reconstructions, tile_grid,
};
use course_lib::rng::Noise;
use course_lib::autoencoder::Autoencoder;
use course_lib::sequential::{Sequential, Shape};
use course_lib::stacked_ae::{self, Classifier, StackedAe, StackedAeConfig};
use course_lib::train::{Data, FitConfig, History, Loss, Metric, Optimizer, OptimizerConfig, TrainModel, fit_resumable, predict};
use course_lib::vae::{self, VaeConfig};
use course_lib::{CourseError, Mode, Result, training_device};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The error of a call that must fail.
#[track_caller]
fn refused<T>(result: Result<T>) -> CourseError {
    match result {
        Ok(_) => panic!("the bad input was accepted: expected an error"),
        Err(err) => err,
    }
}

/// Checks that `text` contains every part.
#[track_caller]
fn assert_text(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "the message should contain {part:?}; it is: {text}");
    }
}

/// Checks that the error's message (its `Display`) contains every part.
#[track_caller]
fn assert_says(err: &CourseError, parts: &[&str]) {
    assert_text(&err.to_string(), parts);
}

/// A `BadConfig` error for `setting` whose message contains `parts`.
#[track_caller]
fn bad_config<T>(result: Result<T>, setting: &str, parts: &[&str]) {
    let err = refused(result);
    match &err {
        CourseError::BadConfig { setting: named, .. } => assert_eq!(named, setting, "{err}"),
        other => panic!("expected a BadConfig error for `{setting}`, got: {other}"),
    }
    assert_says(&err, &[&format!("`{setting}`")]);
    assert_says(&err, parts);
}

/// A `Shape` error whose message contains `parts`.
#[track_caller]
fn shape_error<T>(result: Result<T>, parts: &[&str]) {
    let err = refused(result);
    assert!(matches!(err, CourseError::Shape { .. }), "expected a Shape error, got: {err}");
    assert_says(&err, parts);
}

/// A `CorruptData` error naming `file`.
#[track_caller]
fn corrupt_data<T>(result: Result<T>, file: &Path, parts: &[&str]) {
    let err = refused(result);
    match &err {
        CourseError::CorruptData { path, .. } => assert_eq!(path, file, "{err}"),
        other => panic!("expected a CorruptData error for {}, got: {other}", file.display()),
    }
    assert_says(&err, &[&file.display().to_string()]);
    assert_says(&err, parts);
}

/// A `Checkpoint` error naming `file`.
#[track_caller]
fn checkpoint_error<T>(result: Result<T>, file: &Path, parts: &[&str]) {
    let err = refused(result);
    match &err {
        CourseError::Checkpoint { path, .. } => assert_eq!(path, file, "{err}"),
        other => panic!("expected a Checkpoint error for {}, got: {other}", file.display()),
    }
    assert_says(&err, &["does not fit this model", &file.display().to_string()]);
    assert_says(&err, parts);
}

/// An `Io` error naming `file`.
#[track_caller]
fn io_error<T>(result: Result<T>, file: &Path, parts: &[&str]) {
    let err = refused(result);
    match &err {
        CourseError::Io { path, .. } => assert_eq!(path, file, "{err}"),
        other => panic!("expected an Io error for {}, got: {other}", file.display()),
    }
    assert_says(&err, &["could not read or write", &file.display().to_string()]);
    assert_says(&err, parts);
}

/// One case of the catalogue: its name, and the check, which makes the bad call and panics
/// (through the helpers above) unless it is refused as it should be.
type Case = (&'static str, fn());

/// Runs every case of a table, and fails listing every case that failed, not only the first
/// (each failure's message is printed where it happens).
fn run_cases(cases: &[Case]) {
    let failed: Vec<&str> = cases.iter().filter(|(_, check)| std::panic::catch_unwind(check).is_err()).map(|(name, _)| *name).collect();
    assert!(failed.is_empty(), "{} of {} cases failed: {}", failed.len(), cases.len(), failed.join(", "));
}

/// `call` on `model`, and a check that the model predicts on `probe` after it exactly as before:
/// a refused call must leave the model as it was.
#[track_caller]
fn unchanged<M: TrainModel, T>(model: &mut M, probe: &Matrix, call: impl FnOnce(&mut M) -> Result<T>) -> Result<T> {
    let before = predict(&*model, probe).unwrap();
    let result = call(model);
    assert!(predict(&*model, probe).unwrap() == before, "the refused call changed the model");
    result
}

/// A fresh, empty directory of this test's own.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("course-bad-inputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The committed sample (300 training, 300 validation, 300 test images).
fn sample() -> FashionMnist {
    load_fashion_mnist_sample().expect("the committed sample loads")
}

/// A few validation images: what the "model unchanged" checks predict on.
fn probe() -> Matrix {
    sample().valid.x.head(4)
}

/// A `rows × cols` matrix of 0.5.
fn filled(rows: usize, cols: usize) -> Matrix {
    Matrix::filled(rows, cols, 0.5)
}

/// A matrix with no rows of `cols` columns: an empty batch.
fn empty(cols: usize) -> Matrix {
    Matrix::new(0, cols, Vec::new()).unwrap()
}

/// `call` on `gan`, and a check that the GAN makes the same of `codings` and says the same of
/// `images` after it as before: a refused call must leave the GAN as it was.
#[track_caller]
fn gan_unchanged<T>(gan: &mut Gan, codings: &Matrix, images: &Matrix, call: impl FnOnce(&mut Gan) -> Result<T>) -> Result<T> {
    let before = gan_outputs(gan, codings, images);
    let result = call(gan);
    assert!(gan_outputs(gan, codings, images) == before, "the refused call changed the GAN");
    result
}

/// What a GAN makes of fixed codings and what it says of fixed images.
fn gan_outputs(gan: &Gan, codings: &Matrix, images: &Matrix) -> (Matrix, Vec<f32>) {
    (gan.generate(codings).unwrap(), gan.discriminate(images).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Data: Fashion-MNIST files
// ---------------------------------------------------------------------------------------------

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A directory holding a copy of the committed sample's four files.
fn sample_copy(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    for stem in [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] {
        let file = format!("{stem}.gz");
        std::fs::copy(sample_dir().join(&file), dir.join(&file)).unwrap();
    }
    dir
}

/// The uncompressed bytes of the sample's `<stem>.gz`.
fn raw(stem: &str) -> Vec<u8> {
    let bytes = std::fs::read(sample_dir().join(format!("{stem}.gz"))).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).unwrap();
    out
}

/// Replaces `<stem>.gz` in `dir` by an uncompressed `<stem>` holding `bytes`; its path.
fn replace_with_raw(dir: &Path, stem: &str, bytes: &[u8]) -> PathBuf {
    std::fs::remove_file(dir.join(format!("{stem}.gz"))).unwrap();
    let path = dir.join(stem);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Set in the child process that `load_with_data_dir_env` starts.
const CHILD_MARKER: &str = "COURSE_BAD_INPUTS_CHILD";

/// Runs in a child process: `data_dir_env_*` below start the test binary again with
/// `FASHION_MNIST_DIR` set for it alone (setting it in this process would race with the other
/// tests, which run in parallel threads), and read the error it prints. Run by hand
/// (`--include-ignored`), it does what they do.
#[test]
#[ignore = "run in a child process by the data_dir_env_* tests, which set FASHION_MNIST_DIR for it"]
fn child_loads_fashion_mnist_from_the_environment() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        let dir = std::env::temp_dir().join(format!("course-bad-inputs-env-by-hand-{}", std::process::id()));
        assert_text(&load_with_data_dir_env(&dir), &["`FASHION_MNIST_DIR`", "which does not exist"]);
        return;
    }
    let err = refused(load_fashion_mnist());
    assert!(matches!(err, CourseError::BadConfig { .. }), "expected BadConfig, got: {err}");
    println!("CHILD-ERROR<<{err}>>CHILD-END");
}

/// The message `load_fashion_mnist` gives with `FASHION_MNIST_DIR` set to `dir`.
fn load_with_data_dir_env(dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["bad_inputs::child_loads_fashion_mnist_from_the_environment", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DATA_DIR_ENV, dir)
        .env(CHILD_MARKER, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the child test failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
        .split("CHILD-ERROR<<")
        .nth(1)
        .and_then(|rest| rest.split(">>CHILD-END").next())
        .unwrap_or_else(|| panic!("the child test printed no error:\n{stdout}"))
        .to_owned()
}

#[test]
fn data_fashion_mnist_files() {
    run_cases(&[
        ("data_a_missing_directory_is_not_found_and_named", || {
            let dir = std::env::temp_dir().join(format!("course-bad-inputs-no-such-dir-{}", std::process::id()));
            let err = refused(load_fashion_mnist_from(&dir));
            match &err {
                CourseError::DataNotFound { searched, .. } => assert_eq!(searched, &vec![dir.clone()], "{err}"),
                other => panic!("expected DataNotFound, got: {other}"),
            }
            assert_says(&err, &["Fashion-MNIST was not found", &dir.display().to_string(), "FASHION_MNIST_DIR"]);
        }),
        ("data_a_missing_file_is_not_found_in_its_directory", || {
            let dir = sample_copy("missing-file");
            std::fs::remove_file(dir.join(format!("{TEST_LABELS}.gz"))).unwrap();
            let err = refused(load_fashion_mnist_from(&dir));
            match &err {
                CourseError::DataNotFound { searched, .. } => assert_eq!(searched, &vec![dir.clone()], "{err}"),
                other => panic!("expected DataNotFound, got: {other}"),
            }
            assert_says(&err, &["was not found", &dir.display().to_string(), "t10k-labels-idx1-ubyte.gz"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_wrong_magic_number_in_the_images_file", || {
            let dir = sample_copy("magic-images");
            let mut bytes = raw(TRAIN_IMAGES);
            bytes[3] = 0x01; // 0x00000801: the labels' magic number
            let path = replace_with_raw(&dir, TRAIN_IMAGES, &bytes);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["not a valid Fashion-MNIST IDX file", "its magic number is 0x00000801, not 0x00000803 (images)"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_wrong_magic_number_in_the_labels_file", || {
            let dir = sample_copy("magic-labels");
            let mut bytes = raw(TEST_LABELS);
            bytes[3] = 0x03; // the images' magic number
            let path = replace_with_raw(&dir, TEST_LABELS, &bytes);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["its magic number is 0x00000803, not 0x00000801 (labels)"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_images_of_the_wrong_dimensions", || {
            let dir = sample_copy("dims");
            let mut bytes = raw(TRAIN_IMAGES);
            let n = be_u32(&bytes, 4);
            bytes[8..12].copy_from_slice(&32u32.to_be_bytes());
            bytes[12..16].copy_from_slice(&32u32.to_be_bytes());
            let path = replace_with_raw(&dir, TRAIN_IMAGES, &bytes);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &[&format!("its header says {n} images of 32×32 pixels")]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_an_absurd_image_count_in_the_header", || {
            let dir = sample_copy("count");
            let mut bytes = raw(TEST_IMAGES);
            bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
            let path = replace_with_raw(&dir, TEST_IMAGES, &bytes);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &[&format!("its header says {} images of 28×28 pixels", u32::MAX)]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_truncated_labels_file", || {
            let dir = sample_copy("truncated-labels");
            let bytes = raw(TRAIN_LABELS);
            let n = be_u32(&bytes, 4) as usize;
            let path = replace_with_raw(&dir, TRAIN_LABELS, &bytes[..bytes.len() - 5]);
            corrupt_data(
                load_fashion_mnist_from(&dir),
                &path,
                &[&format!("it should be {} bytes for {n} labels but is {} bytes (truncated or padded)", 8 + n, 8 + n - 5)],
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_padded_images_file", || {
            let dir = sample_copy("padded-images");
            let mut bytes = raw(TEST_IMAGES);
            let (n, len) = (be_u32(&bytes, 4), bytes.len());
            bytes.extend(std::iter::repeat_n(0u8, 784));
            let path = replace_with_raw(&dir, TEST_IMAGES, &bytes);
            corrupt_data(
                load_fashion_mnist_from(&dir),
                &path,
                &[&format!("it should be {len} bytes for {n} images but is {} bytes (truncated or padded)", len + 784)],
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_file_shorter_than_its_header", || {
            let dir = sample_copy("short");
            let path = replace_with_raw(&dir, TEST_LABELS, &[0, 0, 8, 1, 0]);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["it is 5 bytes long, shorter than its header"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_truncated_gzip_file", || {
            let dir = sample_copy("truncated-gzip");
            let path = dir.join(format!("{TRAIN_IMAGES}.gz"));
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["its gzip stream is broken"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_gz_file_that_is_not_gzip", || {
            let dir = sample_copy("not-gzip");
            let path = dir.join(format!("{TRAIN_LABELS}.gz"));
            std::fs::write(&path, b"this is not gzip, only some text").unwrap();
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["named .gz but is not a gzip file"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_label_out_of_range", || {
            let dir = sample_copy("label-10");
            let mut bytes = raw(TEST_LABELS);
            bytes[8] = 10;
            let path = replace_with_raw(&dir, TEST_LABELS, &bytes);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &["it has the label 10, outside 0..10"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_images_and_labels_of_different_counts", || {
            let dir = sample_copy("counts");
            let images = raw(TRAIN_IMAGES);
            let n = be_u32(&images, 4) as usize;
            let labels = raw(TRAIN_LABELS);
            // A consistent labels file of one label fewer.
            let mut fewer = Vec::new();
            fewer.extend_from_slice(&0x0000_0801u32.to_be_bytes());
            fewer.extend_from_slice(&((n - 1) as u32).to_be_bytes());
            fewer.extend_from_slice(&labels[8..8 + n - 1]);
            let path = replace_with_raw(&dir, TRAIN_LABELS, &fewer);
            corrupt_data(load_fashion_mnist_from(&dir), &path, &[&format!("it has {} labels for {n} images", n - 1)]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_dir_env_pointing_nowhere", || {
            let dir = std::env::temp_dir().join(format!("course-bad-inputs-env-nowhere-{}", std::process::id()));
            let message = load_with_data_dir_env(&dir);
            assert_text(&message, &["`FASHION_MNIST_DIR`", &format!("it is set to {}", dir.display()), "which does not exist", "unset it"]);
        }),
        ("data_dir_env_pointing_at_an_empty_folder", || {
            let dir = temp_dir("env-empty");
            let message = load_with_data_dir_env(&dir);
            assert_text(&message, &["`FASHION_MNIST_DIR`", &dir.display().to_string(), "has no train-images-idx3-ubyte(.gz) in it"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("data_a_missing_picture", || {
            let path = pictures_dir().join("no-such-picture.png");
            io_error(load_picture(&path), &path, &["no such picture", "PNG or JPEG"]);
        }),
        ("data_a_truncated_picture", || {
            let dir = temp_dir("truncated-picture");
            let path = dir.join("half.png");
            let bytes = std::fs::read(pictures_dir().join("sneaker.png")).unwrap();
            std::fs::write(&path, &bytes[..100usize.min(bytes.len() / 2)]).unwrap();
            let err = refused(load_picture(&path));
            match &err {
                CourseError::Picture { path: named, .. } => assert_eq!(named, &path, "{err}"),
                other => panic!("expected a Picture error, got: {other}"),
            }
            assert_says(&err, &[&path.display().to_string(), "cannot be read as a PNG or JPEG picture"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Shapes: Matrix and Dataset
// ---------------------------------------------------------------------------------------------

#[test]
fn shapes_matrix_and_dataset() {
    run_cases(&[
        ("matrix_new_with_the_wrong_number_of_values", || {
            shape_error(Matrix::new(2, 3, vec![0.0; 5]), &["Matrix::new", "2 × 3 = 6 values", "got 5 values"]);
        }),
        ("matrix_from_rows_of_unequal_lengths", || {
            shape_error(Matrix::from_rows(&[vec![1.0f32, 2.0], vec![3.0f32]]), &["Matrix::from_rows, row 1", "2 values like row 0", "got 1 values"]);
        }),
        ("matrix_row_out_of_range", || {
            let m = filled(3, 4);
            shape_error(m.row(3), &["row 3", "a row number from 0 to 2 (the matrix has 3 rows)"]);
        }),
        ("matrix_row_of_an_empty_matrix", || {
            shape_error(empty(784).row(0), &["row 0", "a matrix with rows", "an empty matrix (0 rows)"]);
        }),
        ("matrix_with_too_few_values_cannot_be_made", || {
            // A matrix whose values do not fill it cannot be made: its fields are private, `Matrix::new`
            // refuses, and so does reading one back (a checkpoint's, say). So no function that takes a
            // matrix can be handed a wrong length.
            shape_error(Matrix::new(2, 3, vec![0.0; 5]), &["Matrix::new", "2 × 3 = 6 values", "got 5 values"]);
            let stored = r#"{"rows": 2, "cols": 3, "data": [0, 0, 0, 0, 0]}"#;
            let err = serde_json::from_str::<Matrix>(stored).unwrap_err().to_string();
            assert_text(&err, &["2 × 3 = 6 values", "got 5 values"]);
            assert_eq!(serde_json::from_str::<Matrix>(r#"{"rows": 1, "cols": 2, "data": [1, 2]}"#).unwrap().data(), &[1.0, 2.0]);
        }),
        ("matrix_gather_out_of_range", || {
            shape_error(filled(3, 2).gather(&[0, 5]), &["Matrix::gather", "row numbers below 3", "got row 5"]);
        }),
        ("matrix_concat_rows_of_different_widths", || {
            let (a, b) = (filled(2, 3), filled(2, 2));
            shape_error(Matrix::concat_rows(&[&a, &b]), &["Matrix::concat_rows, part 1", "3 columns like part 0", "got 2 columns"]);
        }),
        ("dataset_with_too_few_labels_fails_its_check", || {
            let data = Dataset { x: filled(3, 4), y: vec![0, 1] };
            shape_error(data.check(), &["Dataset", "one label per sample (3)", "got 2 labels"]);
        }),
        ("dataset_with_a_label_above_9_fails_its_check", || {
            let data = Dataset { x: filled(3, 4), y: vec![0, 10, 2] };
            shape_error(data.check(), &["Dataset labels", "labels 0 to 9", "got label 10"]);
        }),
        ("dataset_gather_out_of_range", || {
            let data = Dataset { x: filled(3, 4), y: vec![0, 1, 2] };
            shape_error(data.gather(&[1, 3]), &["Matrix::gather", "row numbers below 3", "got row 3"]);
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Shapes: the models
// ---------------------------------------------------------------------------------------------

#[test]
fn shapes_the_models() {
    run_cases(&[
        ("linear_ae_fit_on_the_wrong_width_leaves_the_model", || {
            let x = toy_3d_data(4);
            let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
            let result = unchanged(&mut ae, &x, |ae| ae.fit(Data::autoencoder(&filled(10, 4)), None, &linear_ae::fit_config(0.1).with_verbose(false)));
            shape_error(result, &["fit: training data", "3 features per sample, as the model takes", "got 4 features per sample"]);
        }),
        ("linear_ae_fit_on_an_empty_batch_leaves_the_model", || {
            let x = toy_3d_data(4);
            let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
            let result = unchanged(&mut ae, &x, |ae| ae.fit(Data::autoencoder(&empty(3)), None, &linear_ae::fit_config(0.1).with_verbose(false)));
            shape_error(result, &["fit: training data", "at least one sample", "got none"]);
        }),
        ("linear_ae_codings_of_the_wrong_width", || {
            let ae = LinearAeConfig::new().init(&training_device()).unwrap();
            shape_error(ae.codings(&filled(5, 4)), &["predict", "3 features per sample, as the model takes", "got 4"]);
        }),
        ("stacked_ae_fit_on_the_wrong_width_leaves_the_model", || {
            let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
            shape_error(unchanged(&mut ae, &probe(), |ae| ae.fit(Data::autoencoder(&filled(8, 100)), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "784 features per sample", "got 100 features per sample"]);
        }),
        ("stacked_ae_predict_on_an_empty_batch", || {
            let ae = StackedAeConfig::new().init(&training_device()).unwrap();
            shape_error(ae.predict(&empty(784)), &["predict", "at least one sample", "got none"]);
        }),
        ("stacked_ae_codings_of_the_wrong_width", || {
            let ae = StackedAeConfig::new().init(&training_device()).unwrap();
            shape_error(ae.codings(&filled(2, 30)), &["predict", "784 features per sample", "got 30"]);
        }),
        ("stacked_ae_validation_data_of_the_wrong_width_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
            let train = fashion.train.x.head(64);
            let valid = filled(8, 100);
            let result = unchanged(&mut ae, &probe, |ae| ae.fit(Data::autoencoder(&train), Some(Data::autoencoder(&valid)), &stacked_ae::fit_config().with_epochs(1).with_verbose(false)));
            shape_error(result, &["fit: validation data", "784 features per sample", "got 100 features per sample"]);
        }),
        ("stacked_ae_stack_of_mismatched_autoencoders", || {
            let device = training_device();
            let outer = StackedAeConfig::new().init(&device).unwrap();
            let inner = StackedAeConfig::new().init(&device).unwrap();
            shape_error(StackedAe::stack(outer, inner), &["StackedAe::stack", "taking the outer codings (30 values)", "one taking 784"]);
        }),
        ("tied_ae_fit_on_the_wrong_width_leaves_the_model", || {
            let mut ae = StackedAeConfig::new().init_tied(&training_device()).unwrap();
            shape_error(unchanged(&mut ae, &probe(), |ae| ae.fit(Data::autoencoder(&filled(8, 28)), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "784 features per sample", "got 28 features per sample"]);
        }),
        ("tied_ae_evaluate_on_an_empty_batch", || {
            let ae = StackedAeConfig::new().init_tied(&training_device()).unwrap();
            shape_error(ae.evaluate(Data::autoencoder(&empty(784)), Loss::BinaryCrossEntropy, &[]), &["evaluate", "at least one sample", "got none"]);
        }),
        ("conv_ae_fit_on_the_wrong_width_leaves_the_model", || {
            let mut ae = ConvAeConfig::new().init(&training_device()).unwrap();
            shape_error(unchanged(&mut ae, &probe(), |ae| ae.fit(Data::autoencoder(&filled(8, 729)), None, &conv_ae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "784 features per sample", "got 729 features per sample"]);
        }),
        ("conv_ae_codings_on_an_empty_batch", || {
            let ae = ConvAeConfig::new().init(&training_device()).unwrap();
            shape_error(ae.codings(&empty(784)), &["predict", "at least one sample", "got none"]);
        }),
        ("conv_ae_decode_codings_of_the_wrong_size", || {
            let ae = ConvAeConfig::new().init(&training_device()).unwrap();
            // The encoder gives 3×3×64 = 576 values.
            shape_error(ae.decode(&filled(2, 30)), &["predict", "576 features per sample", "got 30"]);
        }),
        ("conv_ae_feature_maps_of_an_image_of_the_wrong_size", || {
            let ae = ConvAeConfig::new().init(&training_device()).unwrap();
            shape_error(conv_ae::feature_maps(&ae.encoder, &[0.5; 100]), &["feature_maps", "one image of 784 values", "got 100 values"]);
        }),
        ("denoising_ae_predict_of_the_wrong_width", || {
            let ae = DenoisingAeConfig::new().init(&training_device()).unwrap();
            shape_error(ae.predict(&filled(3, 100)), &["predict", "784 features per sample", "got 100"]);
        }),
        ("denoising_ae_fit_on_an_empty_batch_leaves_the_model", || {
            let mut ae = DenoisingAeConfig::new().init(&training_device()).unwrap();
            shape_error(unchanged(&mut ae, &probe(), |ae| ae.fit(Data::autoencoder(&empty(784)), None, &denoising_ae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "at least one sample", "got none"]);
        }),
        ("denoising_ae_fit_with_fewer_targets_than_inputs_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = DenoisingAeConfig::new().init(&training_device()).unwrap();
            let (noisy, clean) = (fashion.train.x.head(10), fashion.train.x.head(9));
            let result = unchanged(&mut ae, &probe, |ae| ae.fit(Data::pairs(&noisy, &clean), None, &denoising_ae::fit_config().with_epochs(1).with_verbose(false)));
            shape_error(result, &["fit: training data", "one target per input (10)", "got 9 targets"]);
        }),
        ("denoising_ae_fit_with_targets_of_the_wrong_width_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = DenoisingAeConfig::new().init(&training_device()).unwrap();
            let (noisy, targets) = (fashion.train.x.head(8), filled(8, 100));
            let result = unchanged(&mut ae, &probe, |ae| ae.fit(Data::pairs(&noisy, &targets), None, &denoising_ae::fit_config().with_epochs(1).with_verbose(false)));
            shape_error(result, &["fit: training targets", "targets of 784 values per sample, as the model outputs", "got 100 values per sample"]);
        }),
        ("denoising_ae_train_step_with_an_inference_noise_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = DenoisingAeConfig::new().init(&training_device()).unwrap();
            let optimizer = Optimizer::new(OptimizerConfig::sgd(1.0));
            let batch = fashion.train.x.head(8);
            let result = unchanged(&mut ae, &probe, |ae| ae.train_step(&optimizer, Data::autoencoder(&batch), Loss::BinaryCrossEntropy, &[], &mut Noise::inference()));
            bad_config(result, "noise", &["a training step needs a training Noise", "Noise::training(seed)"]);
            assert_eq!(optimizer.steps(), 0, "the refused step advanced the optimizer");
        }),
        ("sparse_ae_fit_on_the_wrong_width_leaves_the_model", || {
            let mut ae = SparseAeConfig::kl().init(&training_device()).unwrap();
            shape_error(unchanged(&mut ae, &probe(), |ae| ae.fit(Data::autoencoder(&filled(8, 300)), None, &denoising_ae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "784 features per sample", "got 300 features per sample"]);
        }),
        ("sparse_ae_predict_on_an_empty_batch", || {
            let ae = SparseAeConfig::l1().init(&training_device()).unwrap();
            shape_error(ae.predict(&empty(784)), &["predict", "at least one sample", "got none"]);
        }),
        ("sparse_ae_decode_codings_of_the_wrong_size", || {
            let ae = SparseAeConfig::l1().init(&training_device()).unwrap();
            shape_error(ae.decode(&filled(2, 30)), &["predict", "300 features per sample", "got 30"]);
        }),
        ("sparse_ae_activation_histograms_of_the_wrong_width", || {
            let ae = SparseAeConfig::kl().init(&training_device()).unwrap();
            shape_error(denoising_ae::activation_histograms(&ae, &filled(3, 100), "sparse"), &["predict", "784 features per sample", "got 100"]);
        }),
        ("vae_fit_on_the_wrong_width_leaves_the_model", || {
            let mut model = VaeConfig::new().init(&training_device()).unwrap();
            shape_error(unchanged(&mut model, &probe(), |model| model.fit(Data::autoencoder(&filled(8, 10)), None, &vae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "784 features per sample", "got 10 features per sample"]);
        }),
        ("vae_fit_on_an_empty_batch_leaves_the_model", || {
            let mut model = VaeConfig::new().init(&training_device()).unwrap();
            shape_error(unchanged(&mut model, &probe(), |model| model.fit(Data::autoencoder(&empty(784)), None, &vae::fit_config().with_epochs(1).with_verbose(false))), &["fit: training data", "at least one sample", "got none"]);
        }),
        ("vae_codings_of_the_wrong_width", || {
            let model = VaeConfig::new().init(&training_device()).unwrap();
            shape_error(model.codings(&filled(2, 100)), &["predict", "784 features per sample", "got 100"]);
        }),
        ("vae_decode_codings_of_the_wrong_size", || {
            let model = VaeConfig::new().init(&training_device()).unwrap();
            shape_error(model.decode(&filled(4, 2)), &["predict", "10 features per sample", "got 2"]);
        }),
        ("vae_generate_zero_images", || {
            let model = VaeConfig::new().init(&training_device()).unwrap();
            bad_config(model.generate(0, 1.0, 42), "n", &["at least one coding"]);
        }),
        ("vae_generate_at_a_negative_temperature", || {
            let model = VaeConfig::new().init(&training_device()).unwrap();
            bad_config(model.generate(4, -1.0, 42), "temperature", &["must be 0 or more, got -1"]);
        }),
        ("vae_random_codings_of_size_zero", || {
            bad_config(vae::random_codings(4, 0, 1.0, 42), "n", &["at least one coding of at least one value"]);
        }),
        ("vae_interpolate_grid_of_the_wrong_number_of_codings", || {
            shape_error(vae::interpolate_grid(&filled(5, 10), 2, 3, 4, 4), &["interpolate_grid", "2 × 3 = 6 codings", "got 5 codings"]);
        }),
        ("vae_interpolate_grid_to_an_empty_grid", || {
            shape_error(vae::interpolate_grid(&filled(6, 10), 2, 3, 0, 4), &["interpolate_grid", "a non-empty output grid"]);
        }),
        ("vae_sweep_axis_out_of_range", || {
            bad_config(vae::sweep_axis(&[0.0; 10], 10, &[-1.0, 0.0, 1.0]), "axis", &["the codings have 10 values", "below 10"]);
        }),
        ("vae_latent_grid_of_one_point", || {
            bad_config(vae::latent_grid(1), "n", &["at least 2 points a side"]);
        }),
        ("gan_generate_codings_of_the_wrong_size", || {
            let gan = GanConfig::new().init(&training_device()).unwrap();
            shape_error(gan.generate(&filled(4, 100)), &["predict", "30 features per sample", "got 100"]);
        }),
        ("gan_discriminate_images_of_the_wrong_width", || {
            let gan = GanConfig::new().init(&training_device()).unwrap();
            shape_error(gan.discriminate(&filled(4, 100)), &["predict", "784 features per sample", "got 100"]);
        }),
        ("gan_discriminator_phase_on_real_images_of_the_wrong_width_leaves_the_gan", || {
            let (codings, images) = (Noise::training(7).codings(4, gan::CODINGS), probe());
            let mut gan = GanConfig::new().init(&training_device()).unwrap();
            let optimizer = gan::optimizer();
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| gan.discriminator_phase(&filled(4, 100), &optimizer, &mut Noise::training(1)));
            shape_error(result, &["Matrix::concat_rows, part 1", "784 columns like part 0", "got 100 columns"]);
            assert_eq!(optimizer.steps(), 0);
        }),
        ("gan_discriminator_phase_on_an_empty_batch_leaves_the_gan", || {
            let (codings, images) = (Noise::training(7).codings(4, gan::CODINGS), probe());
            let mut gan = GanConfig::new().init(&training_device()).unwrap();
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| gan.discriminator_phase(&empty(784), &gan::optimizer(), &mut Noise::training(1)));
            shape_error(result, &["predict", "at least one sample", "got none"]);
        }),
        ("gan_generator_phase_of_batch_size_zero_leaves_the_gan", || {
            let (codings, images) = (Noise::training(7).codings(4, gan::CODINGS), probe());
            let mut gan = GanConfig::new().init(&training_device()).unwrap();
            let optimizer = gan::optimizer();
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| gan.generator_phase(0, &optimizer, &mut Noise::training(1)));
            shape_error(result, &["train_step: batch", "at least one sample", "got none"]);
            assert_eq!(optimizer.steps(), 0);
        }),
        ("gan_train_gan_on_images_of_the_wrong_width_leaves_the_gan", || {
            let (codings, images) = (Noise::training(7).codings(4, gan::CODINGS), probe());
            let mut gan = GanConfig::new().init(&training_device()).unwrap();
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &filled(64, 100), &codings, &GanFitConfig::new(1).with_verbose(false)));
            shape_error(result, &["train_gan: images", "784 pixels per image", "got 100"]);
        }),
        ("gan_train_gan_with_sample_codings_of_the_wrong_size_leaves_the_gan", || {
            let (codings, images) = (Noise::training(7).codings(4, gan::CODINGS), probe());
            let mut gan = GanConfig::new().init(&training_device()).unwrap();
            let train = sample().train.x.head(64);
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &train, &filled(4, 10), &GanFitConfig::new(1).with_verbose(false)));
            shape_error(result, &["train_gan: sample codings", "30 values per coding", "got 10"]);
        }),
        ("dcgan_generate_codings_of_the_wrong_size", || {
            let gan = DcganConfig::new().init(&training_device()).unwrap();
            shape_error(gan.generate(&filled(2, gan::CODINGS)), &["predict", "100 features per sample", "got 30"]);
        }),
        ("dcgan_generate_with_no_codings", || {
            let gan = DcganConfig::new().init(&training_device()).unwrap();
            shape_error(gan.generate(&empty(gan::DCGAN_CODINGS)), &["predict", "at least one sample", "got none"]);
        }),
        ("dcgan_discriminate_images_of_the_wrong_width", || {
            let gan = DcganConfig::new().init(&training_device()).unwrap();
            shape_error(gan.discriminate(&filled(2, 100)), &["predict", "784 features per sample", "got 100"]);
        }),
        ("gan_new_with_a_discriminator_that_does_not_take_the_generators_images", || {
            let device = training_device();
            let generator = Sequential::builder("g", Shape::Flat(30), 1, &device).dense(100, Activation::Sigmoid).build().unwrap();
            let discriminator = Sequential::builder("d", Shape::Flat(784), 2, &device).dense(1, Activation::Sigmoid).build().unwrap();
            shape_error(
                Gan::new("my_gan", Generator::Plain(generator), discriminator, PixelRange::Unit),
                &["my_gan: the discriminator's input", "the generator's output, 100 values", "got 784 values"],
            );
        }),
        ("gan_new_with_a_discriminator_of_two_outputs", || {
            let device = training_device();
            let generator = Sequential::builder("g", Shape::Flat(30), 1, &device).dense(784, Activation::Sigmoid).build().unwrap();
            let discriminator = Sequential::builder("d", Shape::Flat(784), 2, &device).dense(2, Activation::Sigmoid).build().unwrap();
            shape_error(
                Gan::new("my_gan", Generator::Plain(generator), discriminator, PixelRange::Unit),
                &["my_gan: the discriminator's output", "1 value (the probability of real)", "got 2 values"],
            );
        }),
        ("autoencoder_new_with_a_decoder_that_does_not_take_the_codings", || {
            let device = training_device();
            let encoder = Sequential::builder("e", Shape::Flat(784), 1, &device).dense(30, Activation::Selu).build().unwrap();
            let decoder = Sequential::builder("d", Shape::Flat(20), 2, &device).dense(784, Activation::Sigmoid).build().unwrap();
            shape_error(Autoencoder::new("my_ae", encoder, decoder), &["my_ae: the decoder's input", "the encoder's output, (30) (30 values)", "got (20) (20 values)"]);
        }),
        ("classifier_fit_with_a_label_above_its_classes_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let mut labels = fashion.train.y[..8].to_vec();
            labels[3] = 12;
            let result = unchanged(&mut clf, &probe, |clf| clf.fit(Data::labelled(&x, &labels), None, &stacked_ae::classifier_fit_config(1).with_verbose(false)));
            shape_error(result, &["fit: training targets", "labels below 10, the model's number of outputs", "got label 12 at sample 3"]);
        }),
        ("classifier_fit_with_fewer_labels_than_images_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let result = unchanged(&mut clf, &probe, |clf| clf.fit(Data::labelled(&x, &fashion.train.y[..7]), None, &stacked_ae::classifier_fit_config(1).with_verbose(false)));
            shape_error(result, &["fit: training data", "one target per input (8)", "got 7 targets"]);
        }),
        ("classifier_fit_on_an_empty_batch_leaves_the_model", || {
            let mut clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            shape_error(unchanged(&mut clf, &probe(), |clf| clf.fit(Data::labelled(&empty(784), &[]), None, &stacked_ae::classifier_fit_config(1).with_verbose(false))), &["fit: training data", "at least one sample", "got none"]);
        }),
        ("classifier_predict_of_the_wrong_width", || {
            let clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            shape_error(clf.predict(&filled(2, 30)), &["predict", "784 features per sample", "got 30"]);
        }),
        ("classifier_fit_with_a_values_loss_on_labels_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let config = FitConfig::new(OptimizerConfig::sgd(0.02), Loss::Mse).with_verbose(false);
            let result = unchanged(&mut clf, &probe, |clf| clf.fit(Data::labelled(&x, &fashion.train.y[..8]), None, &config));
            bad_config(result, "loss", &["mse compares outputs with values, but the targets are class labels", "Loss::SparseCategoricalCrossEntropy"]);
            assert_eq!(config.optimizer.steps(), 0);
        }),
        ("classifier_fit_with_the_rounded_accuracy_on_labels_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut clf = Classifier::from_scratch(&StackedAeConfig::new(), &training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let config = stacked_ae::classifier_fit_config(1).with_metrics(&[Metric::RoundedAccuracy]).with_verbose(false);
            let result = unchanged(&mut clf, &probe, |clf| clf.fit(Data::labelled(&x, &fashion.train.y[..8]), None, &config));
            bad_config(result, "metrics", &["rounded_accuracy does not apply to these targets", "accuracy for class labels"]);
        }),
        ("autoencoder_fit_with_a_labels_loss_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let config = FitConfig::new(OptimizerConfig::sgd(1.5), Loss::SparseCategoricalCrossEntropy).with_verbose(false);
            let result = unchanged(&mut ae, &probe, |ae| ae.fit(Data::autoencoder(&x), None, &config));
            bad_config(result, "loss", &["sparse_categorical_crossentropy needs class labels, but the targets are values", "Loss::Mse or Loss::BinaryCrossEntropy"]);
        }),
        ("autoencoder_fit_with_the_accuracy_metric_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
            let x = fashion.train.x.head(8);
            let config = stacked_ae::fit_config().with_epochs(1).with_metrics(&[Metric::Accuracy]).with_verbose(false);
            let result = unchanged(&mut ae, &probe, |ae| ae.fit(Data::autoencoder(&x), None, &config));
            bad_config(result, "metrics", &["accuracy does not apply to these targets", "rounded_accuracy is for reconstructions"]);
        }),
        ("conv_classifier_fit_on_the_wrong_width_leaves_the_model", || {
            let device = training_device();
            let probe = probe();
            let encoder = ConvAeConfig::new().encoder(&device).unwrap();
            let mut clf = conv_ae::classifier(&encoder, false, 1, &device).unwrap();
            let labels = [0u8; 8];
            let result = unchanged(&mut clf, &probe, |clf| clf.fit(Data::labelled(&filled(8, 100), &labels), None, &stacked_ae::classifier_fit_config(1).with_verbose(false)));
            shape_error(result, &["fit: training data", "784 features per sample", "got 100 features per sample"]);
        }),
        ("judge_of_images_of_the_wrong_width", || {
            let judge = Judge { model: mode_collapse::judge_model(0, &training_device()).unwrap() };
            shape_error(judge.judge(&filled(3, 100)), &["Judge::judge", "images of 784 pixels", "got 100 values per row"]);
        }),
        ("feature_stats_of_one_sample", || {
            shape_error(FeatureStats::of(&filled(1, 128)), &["FeatureStats::of", "at least 2 samples", "got 1"]);
        }),
        ("frechet_distance_of_different_feature_counts", || {
            let a = FeatureStats { mean: vec![0.0; 3], covariance: vec![0.0; 9] };
            let b = FeatureStats { mean: vec![0.0; 2], covariance: vec![0.0; 4] };
            shape_error(mode_collapse::frechet_distance(&a, &b), &["frechet_distance", "two sets of 3 features", "got 3 and 2 features"]);
        }),
        ("pca_with_zero_components", || {
            bad_config(Pca::fit(&toy_3d_data(4), 0), "n_components", &["must be between 1 and the number of features (3), got 0"]);
        }),
        ("pca_with_more_components_than_features", || {
            bad_config(Pca::fit(&toy_3d_data(4), 4), "n_components", &["must be between 1 and the number of features (3), got 4"]);
        }),
        ("pca_of_one_sample", || {
            shape_error(Pca::fit(&toy_3d_data(4).head(1), 1), &["Pca::fit", "at least 2 samples", "got 1"]);
        }),
        ("pca_with_as_many_components_as_samples", || {
            bad_config(Pca::fit(&toy_3d_data(4).head(2), 2), "n_components", &["2 samples vary along at most 1 directions", "fewer than 2 components"]);
        }),
        ("pca_transform_of_the_wrong_width", || {
            let pca = Pca::fit(&toy_3d_data(4), 2).unwrap();
            shape_error(pca.transform(&filled(5, 4)), &["Pca::transform", "3 features per sample", "got 4"]);
        }),
        ("pca_inverse_transform_of_the_wrong_width", || {
            let pca = Pca::fit(&toy_3d_data(4), 2).unwrap();
            shape_error(pca.inverse_transform(&filled(5, 3)), &["Pca::inverse_transform", "2 coordinates per sample, one per component", "got 3"]);
        }),
        ("mse_of_matrices_of_different_shapes", || {
            shape_error(linalg::mse(&filled(2, 3), &filled(3, 2)), &["mse", "two matrices of the same shape (2 × 3)", "got 3 × 2"]);
        }),
        ("principal_angles_of_vectors_of_different_dimensions", || {
            shape_error(principal_angles(&[vec![1.0, 0.0, 0.0]], &[vec![1.0, 0.0]]), &["principal_angles", "vectors of one dimension (3)", "vectors of different dimensions"]);
        }),
        ("binary_cross_entropy_of_different_shapes", || {
            shape_error(binary_cross_entropy(&filled(2, 3), &filled(2, 4)), &["binary_cross_entropy", "predictions shaped like the targets (2 × 4)", "got 2 × 3"]);
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Shapes: figures
// ---------------------------------------------------------------------------------------------

fn a_history() -> History {
    History { names: vec!["loss".to_owned()], epochs: vec![vec![0.5], vec![0.4]], seconds: vec![1.0, 1.0] }
}

#[test]
fn shapes_figures() {
    run_cases(&[
        ("plot_image_of_the_wrong_size", || {
            shape_error(plot_image(&[0.5; 10]), &["image_grid", "a 28×28 image (784 values)", "got 10 values"]);
        }),
        ("plot_images_of_the_wrong_width", || {
            shape_error(plot_images(&filled(3, 10), 3, 3), &["image_grid", "a 28×28 image (784 values)", "got 10 values"]);
        }),
        ("reconstruction_grid_of_mismatched_matrices", || {
            let originals = sample().valid.x.head(5);
            shape_error(
                reconstruction_grid(&originals, &originals.head(3), 5),
                &["reconstruction_grid", "reconstructions shaped like the originals (5 × 784)", "got 3 × 784"],
            );
        }),
        ("compare_reconstructions_with_a_model_of_another_width", || {
            let originals = probe();
            let codings = filled(4, 100);
            shape_error(
                compare_reconstructions(&originals, &[("stacked", &codings)], 4),
                &["compare_reconstructions", "784 values per image, as the originals", "got 100 for stacked"],
            );
        }),
        ("compare_reconstructions_of_matrices_that_are_not_images", || {
            let (originals, model) = (filled(3, 10), filled(3, 10));
            shape_error(compare_reconstructions(&originals, &[("m", &model)], 3), &["image_grid", "a 28×28 image (784 values)", "got 10 values"]);
        }),
        ("show_reconstructions_of_images_of_the_wrong_width", || {
            let ae = StackedAeConfig::new().init(&training_device()).unwrap();
            shape_error(show_reconstructions(&ae, &filled(5, 100), 5), &["predict", "784 features per sample", "got 100"]);
        }),
        ("show_reconstructions_of_zero_images", || {
            let ae = StackedAeConfig::new().init(&training_device()).unwrap();
            shape_error(show_reconstructions(&ae, &probe(), 0), &["predict", "at least one sample", "got none"]);
        }),
        ("tile_grid_of_zero_height", || {
            let tile = [0.5f32; 16];
            bad_config(tile_grid(&[&tile[..]], 0, 4, 1, 1, false), "tile_grid", &["a height, a width and a scale of at least 1"]);
        }),
        ("tile_grid_of_scale_zero", || {
            let tile = [0.5f32; 16];
            bad_config(tile_grid(&[&tile[..]], 4, 4, 1, 0, false), "tile_grid", &["a height, a width and a scale of at least 1"]);
        }),
        ("tile_grid_with_a_tile_of_the_wrong_size", || {
            let (good, bad) = ([0.5f32; 16], [0.5f32; 15]);
            shape_error(tile_grid(&[&good[..], &bad[..]], 4, 4, 2, 1, false), &["tile_grid", "tiles of 4×4 = 16 values", "got 15 values"]);
        }),
        ("histogram_with_zero_bins", || {
            bad_config(histogram(&[0.1, 0.5], 0, (0.0, 1.0), "t", "x", "y", None), "histogram", &["at least one bin", "low end below its high end"]);
        }),
        ("histogram_with_an_inverted_range", || {
            bad_config(histogram(&[0.1, 0.5], 10, (1.0, 0.0), "t", "x", "y", None), "histogram", &["at least one bin", "low end below its high end"]);
        }),
        ("heatmap_with_a_short_row", || {
            let rows = vec![vec![0.1, 0.2, 0.3], vec![0.1, 0.2]];
            shape_error(course_lib::plot::heatmap(&rows, &["a", "b", "c"], "t", "epoch", "share"), &["heatmap", "rows of 3 values, one per column label", "got 2 rows"]);
        }),
        ("heatmap_of_no_rows", || {
            shape_error(course_lib::plot::heatmap(&[], &["a", "b"], "t", "epoch", "share"), &["heatmap", "rows of 2 values", "got 0 rows"]);
        }),
        ("mode_collapse_heatmap_of_no_epochs", || {
            bad_config(mode_collapse::heatmap(&[], "t"), "coverages", &["at least one epoch's coverage"]);
        }),
        ("plot_series_of_an_unknown_series", || {
            bad_config(plot_series(&a_history(), &["val_loss"], "t"), "series", &["the history has no series `val_loss`", "it has: loss"]);
        }),
        ("compare_histories_of_an_unknown_series", || {
            let h = a_history();
            bad_config(compare_histories(&[("a", &h), ("b", &h)], "accuracy"), "series", &["no run has a series `accuracy`", "the histories have: loss"]);
        }),
        ("scatter_classes_of_3d_points", || {
            shape_error(scatter_classes(&filled(4, 3), &[0, 1, 2, 3], "t"), &["scatter_classes", "2-D points (2 columns)", "got 3 columns"]);
        }),
        ("scatter_classes_with_too_few_labels", || {
            shape_error(scatter_classes(&filled(4, 2), &[0, 1, 2], "t"), &["scatter_classes", "one label per point (4)", "got 3 labels"]);
        }),
        ("scatter_thumbnails_with_too_few_images", || {
            let images = probe().head(3);
            shape_error(scatter_thumbnails(&filled(4, 2), &[0, 1, 2, 3], &images, "t"), &["scatter_thumbnails", "one image per point (4)", "got 3 images"]);
        }),
        ("plot_codings_2d_of_3d_points", || {
            shape_error(plot_codings_2d(&toy_3d_data(4), "t"), &["plot_codings_2d", "2-D points (2 columns)", "got 3 columns"]);
        }),
        ("plot_toy_3d_of_2d_points", || {
            shape_error(plot_toy_3d(&filled(5, 2), "t"), &["plot_toy_3d", "3-D points (3 columns)", "got 2 columns"]);
        }),
        ("figure_save_with_the_wrong_extension_writes_nothing", || {
            let dir = temp_dir("save-extension");
            let path = dir.join("figure.svg");
            let figure = plot_image(&[0.5; 784]).unwrap();
            bad_config(figure.save(&path), "path", &["this figure is PNG", "save it to a `.png` file", "figure.svg"]);
            assert!(!path.exists(), "a refused save wrote the file");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("gan_history_plot_samples_before_training", || {
            bad_config(GanHistory::default().plot_samples(8, 4), "samples", &["the history has no epochs yet: train first"]);
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Configurations: optimizers, fit, GAN fit
// ---------------------------------------------------------------------------------------------

/// A GAN, the images it trains on, and codings to see what it makes.
fn gan_setup() -> (Gan, Matrix, Matrix) {
    let gan = GanConfig::new().init(&training_device()).unwrap();
    let images = sample().train.x.head(64);
    let codings = Noise::training(7).codings(4, gan::CODINGS);
    (gan, images, codings)
}

#[test]
fn configurations_optimizers_fit_gan_fit() {
    run_cases(&[
        ("optimizer_with_a_negative_learning_rate", || {
            bad_config(OptimizerConfig::sgd(-0.1).check(), "learning_rate", &["must be a positive number, got -0.1", "0.1 to 1.5 for SGD"]);
        }),
        ("optimizer_with_a_zero_learning_rate", || {
            bad_config(OptimizerConfig::adam(0.0).check(), "learning_rate", &["must be a positive number, got 0"]);
        }),
        ("optimizer_with_a_nan_learning_rate", || {
            bad_config(OptimizerConfig::rmsprop(f64::NAN).check(), "learning_rate", &["must be a positive number, got NaN"]);
        }),
        ("optimizer_with_an_infinite_learning_rate", || {
            bad_config(OptimizerConfig::sgd(f64::INFINITY).check(), "learning_rate", &["must be a positive number, got inf"]);
        }),
        ("optimizer_sgd_momentum_of_one", || {
            bad_config(OptimizerConfig::Sgd { learning_rate: 0.1, momentum: 1.0 }.check(), "momentum", &["must be in [0, 1), got 1"]);
        }),
        ("optimizer_rmsprop_negative_rho", || {
            bad_config(OptimizerConfig::RmsProp { learning_rate: 0.001, rho: -0.1 }.check(), "rho", &["must be in [0, 1), got -0.1"]);
        }),
        ("optimizer_adam_beta_1_of_one", || {
            bad_config(OptimizerConfig::Adam { learning_rate: 0.001, beta_1: 1.0, beta_2: 0.999 }.check(), "beta_1", &["must be in [0, 1), got 1"]);
        }),
        ("optimizer_adam_beta_2_above_one", || {
            bad_config(OptimizerConfig::Adam { learning_rate: 0.001, beta_1: 0.9, beta_2: 1.5 }.check(), "beta_2", &["must be in [0, 1), got 1.5"]);
        }),
        ("fit_with_a_negative_learning_rate_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
            let config = stacked_ae::fit_config().with_optimizer(OptimizerConfig::sgd(-1.5)).with_epochs(1).with_verbose(false);
            bad_config(unchanged(&mut ae, &probe, |ae| ae.fit(Data::autoencoder(&fashion.train.x.head(64)), None, &config)), "learning_rate", &["must be a positive number, got -1.5"]);
        }),
        ("fit_with_a_momentum_of_one_leaves_the_model", || {
            let x = toy_3d_data(4);
            let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
            let config = linear_ae::fit_config(0.1).with_optimizer(OptimizerConfig::Sgd { learning_rate: 0.1, momentum: 1.0 }).with_verbose(false);
            bad_config(unchanged(&mut ae, &x, |ae| ae.fit(Data::autoencoder(&x), None, &config)), "momentum", &["must be in [0, 1), got 1"]);
        }),
        ("train_step_with_a_nan_learning_rate_leaves_the_model", || {
            let x = toy_3d_data(4);
            let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
            let optimizer = Optimizer::new(OptimizerConfig::adam(f64::NAN));
            let result = unchanged(&mut ae, &x, |ae| ae.train_step(&optimizer, Data::autoencoder(&x), Loss::Mse, &[], &mut Noise::training(1)));
            bad_config(result, "learning_rate", &["must be a positive number, got NaN"]);
            assert_eq!(optimizer.steps(), 0);
        }),
        ("fit_config_of_zero_epochs", || {
            bad_config(FitConfig::new(OptimizerConfig::sgd(0.1), Loss::Mse).with_epochs(0).check(), "epochs", &["must be at least 1"]);
        }),
        ("fit_of_zero_epochs_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut ae = StackedAeConfig::new().init_tied(&training_device()).unwrap();
            let config = stacked_ae::fit_config().with_epochs(0).with_verbose(false);
            bad_config(unchanged(&mut ae, &probe, |ae| ae.fit(Data::autoencoder(&fashion.train.x.head(64)), None, &config)), "epochs", &["must be at least 1"]);
        }),
        ("fit_config_of_batch_size_zero", || {
            bad_config(FitConfig::new(OptimizerConfig::sgd(0.1), Loss::Mse).with_batch_size(0).check(), "batch_size", &["must be at least 1", "Keras's default is 32"]);
        }),
        ("fit_config_of_an_average_decay_of_one", || {
            for decay in [1.0, -0.1, f64::NAN] {
                bad_config(FitConfig::new(OptimizerConfig::sgd(0.1), Loss::Mse).with_average(decay).check(), "average", &["the decay must be in [0, 1)", "0.999"]);
            }
        }),
        ("diffusion_fit_of_an_average_decay_of_one_leaves_the_model", || {
            let fashion = sample();
            let mut model = DiffusionConfig::new().init(&training_device()).unwrap();
            let noisy = fashion.valid.x.head(2);
            let before = model.predict_noise(&noisy, &[100, 2000]).unwrap();
            let config = diffusion::fit_config().with_epochs(1).with_average(1.0).with_verbose(false);
            bad_config(model.fit(&fashion.train.x.head(32), None, &config), "average", &["the decay must be in [0, 1)"]);
            assert_eq!(model.predict_noise(&noisy, &[100, 2000]).unwrap(), before, "the model is left as it was");
        }),
        ("fit_of_batch_size_zero_leaves_the_model", || {
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let mut model = VaeConfig::new().init(&training_device()).unwrap();
            let config = vae::fit_config().with_epochs(1).with_batch_size(0).with_verbose(false);
            bad_config(unchanged(&mut model, &probe, |model| model.fit(Data::autoencoder(&fashion.train.x.head(64)), None, &config)), "batch_size", &["must be at least 1"]);
        }),
        ("gan_fit_config_of_zero_epochs_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &GanFitConfig::new(0).with_verbose(false))), "epochs", &["must be at least 1"]);
        }),
        ("gan_fit_config_of_batch_size_zero_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig::new(1).with_batch_size(0).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "batch_size", &["must be between 1 and the 64 training images", "the slide's is 32"]);
        }),
        ("gan_fit_config_of_a_batch_larger_than_the_images_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig::new(1).with_batch_size(65).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "batch_size", &["must be between 1 and the 64 training images"]);
        }),
        ("gan_fit_config_with_a_bad_discriminator_learning_rate_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig::new(1).with_optimizers(OptimizerConfig::rmsprop(-0.001), OptimizerConfig::rmsprop(0.001)).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "discriminator's learning_rate", &["must be a positive number, got -0.001"]);
        }),
        ("gan_fit_config_with_a_bad_generator_learning_rate_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig::new(1).with_optimizers(OptimizerConfig::rmsprop(0.001), OptimizerConfig::rmsprop(f64::NAN)).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "generator's learning_rate", &["must be a positive number, got NaN"]);
        }),
        ("gan_fit_config_with_a_bad_beta_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let adam = OptimizerConfig::Adam { learning_rate: 0.0002, beta_1: 1.0, beta_2: 0.999 };
            let config = GanFitConfig::new(1).with_optimizers(adam, adam).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "discriminator's beta_1", &["must be in [0, 1), got 1"]);
        }),
        ("gan_train_for_zero_seconds_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_for(gan, &images, 0.0, 1)), "seconds", &["must be a positive number of seconds, got 0"]);
        }),
        ("gan_train_for_nan_seconds_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_for(gan, &images, f64::NAN, 1)), "seconds", &["must be a positive number of seconds, got NaN"]);
        }),
        ("train_and_measure_one_sample_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let judge = Judge { model: mode_collapse::judge_model(0, &training_device()).unwrap() };
            let real = FeatureStats { mean: vec![0.0; 128], covariance: vec![0.0; 128 * 128] };
            let result = gan_unchanged(&mut gan, &codings, &images, |gan| mode_collapse::train_and_measure("run", gan, &images, &GanFitConfig::new(1).with_verbose(false), &judge, &real, 1));
            bad_config(result, "samples", &["measure at least 2 generated images"]);
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Configurations: the models
// ---------------------------------------------------------------------------------------------

#[test]
fn configurations_the_models() {
    run_cases(&[
        ("linear_ae_config_of_zero_codings", || {
            bad_config(LinearAeConfig::new().with_codings(0).init(&training_device()), "codings", &["1 ≤ codings < inputs", "got codings = 0 and inputs = 3"]);
        }),
        ("linear_ae_config_of_as_many_codings_as_inputs", || {
            bad_config(LinearAeConfig::new().with_codings(3).init(&training_device()), "codings", &["1 ≤ codings < inputs", "got codings = 3 and inputs = 3"]);
        }),
        ("linear_ae_config_of_zero_inputs", || {
            bad_config(LinearAeConfig::new().with_inputs(0).init(&training_device()), "codings", &["got codings = 2 and inputs = 0"]);
        }),
        ("stacked_ae_config_of_zero_codings", || {
            bad_config(StackedAeConfig::new().with_codings(0).init(&training_device()), "StackedAeConfig", &["inputs, hidden and codings must all be at least 1"]);
        }),
        ("tied_ae_config_of_zero_hidden_units", || {
            bad_config(StackedAeConfig::new().with_hidden(0).init_tied(&training_device()), "StackedAeConfig", &["inputs, hidden and codings must all be at least 1"]);
        }),
        ("classifier_config_of_zero_inputs", || {
            bad_config(Classifier::from_scratch(&StackedAeConfig::new().with_inputs(0), &training_device()), "StackedAeConfig", &["must all be at least 1"]);
        }),
        ("conv_ae_config_of_zero_filters", || {
            bad_config(ConvAeConfig::new().with_filters([0, 32, 64]).init(&training_device()), "conv_encoder", &["layer 1 (conv2d)", "sizes, kernels and strides must be at least 1"]);
        }),
        ("conv_ae_config_of_zero_filters_in_the_last_layer", || {
            bad_config(ConvAeConfig::new().with_filters([16, 32, 0]).init(&training_device()), "conv_encoder", &["layer 5 (conv2d)", "must be at least 1"]);
        }),
        ("denoising_config_dropout_rate_of_one", || {
            let config = DenoisingAeConfig::new().with_corruption(Corruption::Dropout(1.0));
            bad_config(config.init(&training_device()), "Corruption::Dropout", &["the rate must be in [0, 1), got 1"]);
        }),
        ("denoising_config_negative_dropout_rate", || {
            let config = DenoisingAeConfig::new().with_corruption(Corruption::Dropout(-0.1));
            bad_config(config.init(&training_device()), "Corruption::Dropout", &["the rate must be in [0, 1), got -0.1"]);
        }),
        ("denoising_config_negative_noise_stddev", || {
            let config = DenoisingAeConfig::new().with_corruption(Corruption::Gaussian(-0.2));
            bad_config(config.init(&training_device()), "Corruption::Gaussian", &["the standard deviation must be 0 or more, got -0.2"]);
        }),
        ("denoising_config_nan_noise_stddev", || {
            let config = DenoisingAeConfig::new().with_corruption(Corruption::Gaussian(f64::NAN));
            bad_config(config.init(&training_device()), "Corruption::Gaussian", &["must be 0 or more, got NaN"]);
        }),
        ("denoising_config_of_zero_codings", || {
            // Layer 1 is the noise, layer 2 the hidden layer, layer 3 the codings.
            bad_config(DenoisingAeConfig::new().with_codings(0).init(&training_device()), "denoising_encoder", &["layer 3 (dense)", "must be at least 1"]);
        }),
        ("denoising_config_of_zero_hidden_units", || {
            bad_config(DenoisingAeConfig::new().with_hidden(0).init(&training_device()), "denoising_encoder", &["layer 2 (dense)", "must be at least 1"]);
        }),
        ("corrupt_with_a_negative_stddev", || {
            bad_config(denoising_ae::corrupt(&probe(), Corruption::Gaussian(-0.1), 1), "Corruption::Gaussian", &["must be 0 or more, got -0.1"]);
        }),
        ("corrupt_with_a_dropout_rate_above_one", || {
            bad_config(denoising_ae::corrupt(&probe(), Corruption::Dropout(1.5), 1), "Corruption::Dropout", &["the rate must be in [0, 1), got 1.5"]);
        }),
        ("noise_sweep_without_levels", || {
            let x = probe();
            bad_config(denoising_ae::noise_sweep(&[], &x, &x, 1, &training_device()), "levels", &["give at least one noise level"]);
        }),
        ("noise_sweep_with_a_negative_level", || {
            let x = probe();
            bad_config(denoising_ae::noise_sweep(&[0.1, -0.1], &x, &x, 1, &training_device()), "Corruption::Gaussian", &["got -0.1"]);
        }),
        ("noise_sweep_of_zero_epochs", || {
            let x = probe();
            bad_config(denoising_ae::noise_sweep(&[0.1], &x, &x, 0, &training_device()), "epochs", &["must be at least 1"]);
        }),
        ("sparse_config_negative_l1_weight", || {
            let config = SparseAeConfig::new().with_sparsity(Sparsity::L1(-1e-3));
            bad_config(config.init(&training_device()), "sparse_encoder", &["the L1 weight must be 0 or more, got -0.001"]);
        }),
        ("sparse_config_kl_target_of_one", || {
            let config = SparseAeConfig::new().with_sparsity(Sparsity::Kl { weight: 0.05, target: 1.0 });
            bad_config(config.init(&training_device()), "sparse_encoder", &["a target in (0, 1), got 0.05 and 1"]);
        }),
        ("sparse_config_kl_target_of_zero", || {
            let config = SparseAeConfig::new().with_sparsity(Sparsity::Kl { weight: 0.05, target: 0.0 });
            bad_config(config.init(&training_device()), "sparse_encoder", &["a target in (0, 1), got 0.05 and 0"]);
        }),
        ("sparse_config_kl_negative_weight", || {
            let config = SparseAeConfig::new().with_sparsity(Sparsity::Kl { weight: -1.0, target: 0.1 });
            bad_config(config.init(&training_device()), "sparse_encoder", &["a weight of 0 or more", "got -1 and 0.1"]);
        }),
        ("sparse_config_of_zero_codings", || {
            bad_config(SparseAeConfig::simple().with_codings(0).init(&training_device()), "sparse_encoder", &["layer 2 (dense)", "must be at least 1"]);
        }),
        ("vae_config_of_zero_codings", || {
            bad_config(VaeConfig::new().with_codings(0).init(&training_device()), "VaeConfig", &["codings and the hidden sizes must all be at least 1"]);
        }),
        ("vae_config_of_zero_hidden_units", || {
            bad_config(VaeConfig::new().with_hidden([0, 100]).init(&training_device()), "VaeConfig", &["must all be at least 1"]);
        }),
        ("vae_config_negative_beta", || {
            bad_config(VaeConfig::new().with_beta(-1.0).init(&training_device()), "beta", &["the latent loss's weight must be 0 or more, got -1"]);
        }),
        ("vae_config_nan_beta", || {
            bad_config(VaeConfig::new().with_beta(f64::NAN).init(&training_device()), "beta", &["must be 0 or more, got NaN"]);
        }),
        ("gan_config_of_zero_codings", || {
            bad_config(GanConfig::new().with_codings(0).init(&training_device()), "codings", &["must be at least 1 (the slide's is 30)"]);
        }),
        ("gan_config_negative_gradient_penalty", || {
            let config = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: -1.0 });
            bad_config(config.init(&training_device()), "gradient_penalty", &["must be 0 or more (the paper's is 10), got -1"]);
        }),
        ("gan_config_nan_gradient_penalty", || {
            let config = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: f64::NAN });
            bad_config(config.init(&training_device()), "gradient_penalty", &["got NaN"]);
        }),
        ("gan_config_gradient_penalty_with_minibatch_std", || {
            let config = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 }).with_minibatch_std(true);
            bad_config(config.init(&training_device()), "minibatch_std", &["use one or the other"]);
        }),
        ("gan_with_a_wasserstein_loss_on_a_sigmoid_discriminator", || {
            let gan = GanConfig::new().init(&training_device()).unwrap();
            bad_config(gan.with_loss(GanLoss::Wasserstein { gradient_penalty: 0.0 }), "loss", &["a Wasserstein critic ends with a linear score, not a probability"]);
        }),
        ("dcgan_config_of_zero_codings", || {
            bad_config(DcganConfig::new().with_codings(0).init(&training_device()), "generator", &["the input shape (0) has no values"]);
        }),
        ("sequential_dropout_rate_of_one", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).dense(10, Activation::Selu).dropout(1.0).build();
            bad_config(result, "m", &["dropout rate must be in [0, 1), got 1"]);
        }),
        ("sequential_negative_gaussian_noise", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).gaussian_noise(-0.5).build();
            bad_config(result, "m", &["the noise's standard deviation must be 0 or more, got -0.5"]);
        }),
        ("sequential_dense_of_zero_units", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).dense(0, Activation::Selu).build();
            bad_config(result, "m", &["layer 1 (dense)", "sizes, kernels and strides must be at least 1"]);
        }),
        ("sequential_conv_of_stride_zero", || {
            let result = Sequential::builder("m", Shape::fashion_image(), 1, &training_device()).conv2d(4, 3, 0, Padding::Same, Activation::Selu).build();
            bad_config(result, "m", &["layer 1 (conv2d)", "sizes, kernels and strides must be at least 1"]);
        }),
        ("sequential_conv_on_a_flat_input", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).conv2d(4, 3, 1, Padding::Same, Activation::Selu).build();
            bad_config(result, "m", &["layer 1 (conv2d)", "Conv2D needs images, but its input is a flat (784)", "add a reshape first"]);
        }),
        ("sequential_dense_on_images", || {
            let result = Sequential::builder("m", Shape::fashion_image(), 1, &training_device()).dense(10, Activation::Softmax).build();
            bad_config(result, "m", &["layer 1 (dense)", "Dense needs flat input", ".flatten()"]);
        }),
        ("sequential_reshape_to_another_size", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).reshape(Shape::image(1, 27, 27)).build();
            bad_config(result, "m", &["layer 1 (", "cannot reshape (784) (784 values) to (27, 27, 1) (729 values)"]);
        }),
        ("sequential_of_an_empty_input_shape", || {
            bad_config(Sequential::builder("m", Shape::Flat(0), 1, &training_device()).build(), "m", &["the input shape (0) has no values"]);
        }),
        ("sequential_nan_activity_l1", || {
            let result = Sequential::builder("m", Shape::Flat(784), 1, &training_device()).dense(30, Activation::Sigmoid).activity_l1(f64::NAN).build();
            bad_config(result, "m", &["the L1 weight must be 0 or more, got NaN"]);
        }),
        ("stacked_compare_pretraining_of_zero_labels", || {
            let fashion = sample();
            let device = training_device();
            let encoder = StackedAeConfig::new().init(&device).unwrap().encoder;
            let result = stacked_ae::compare_pretraining(&encoder, &fashion.train, &fashion.valid, 0, [1, 1, 1], 42, &device);
            bad_config(result, "labels", &[&format!("must be between 1 and the {} training images", fashion.train.len())]);
        }),
        ("stacked_compare_pretraining_of_more_labels_than_images", || {
            let fashion = sample();
            let device = training_device();
            let encoder = StackedAeConfig::new().init(&device).unwrap().encoder;
            let result = stacked_ae::compare_pretraining(&encoder, &fashion.train, &fashion.valid, fashion.train.len() + 1, [1, 1, 1], 42, &device);
            bad_config(result, "labels", &[&format!("must be between 1 and the {} training images", fashion.train.len())]);
        }),
        ("stacked_compare_pretraining_of_an_encoder_without_layers", || {
            let fashion = sample();
            let result = stacked_ae::compare_pretraining(&DenseStack { layers: Vec::new() }, &fashion.train, &fashion.valid, 10, [1, 1, 1], 42, &training_device());
            bad_config(result, "encoder", &["it has no layers", "pass a trained autoencoder's encoder"]);
        }),
        ("conv_compare_pretraining_of_zero_labels", || {
            let fashion = sample();
            let device = training_device();
            let encoder = ConvAeConfig::new().encoder(&device).unwrap();
            let result = conv_ae::compare_pretraining(&encoder, &fashion.train, &fashion.valid, 0, [1, 1, 1], 42, &device);
            bad_config(result, "labels", &[&format!("must be between 1 and the {} training images", fashion.train.len())]);
        }),
        ("train_greedy_without_phases", || {
            let x = probe();
            bad_config(stacked_ae::train_greedy(&x, &x, &[], 42, &training_device()), "phases", &["give at least one phase"]);
        }),
        ("train_greedy_with_a_phase_of_zero_epochs", || {
            let x = sample().train.x.head(64);
            let phases = stacked_ae::greedy_phases(0).map(|mut p| {
                p.fit = p.fit.with_verbose(false);
                p
            });
            bad_config(stacked_ae::train_greedy(&x, &x, &phases, 42, &training_device()), "epochs", &["must be at least 1"]);
        }),
        ("tsne_of_three_points", || {
            shape_error(embedding::tsne(&filled(3, 5), &TsneConfig::new()), &["t-SNE", "at least 4 points", "got 3"]);
        }),
        ("tsne_of_zero_perplexity", || {
            bad_config(embedding::tsne(&probe().head(4), &TsneConfig::new().with_perplexity(0.0)), "perplexity", &["must be positive", "got 0"]);
        }),
        ("tsne_of_a_perplexity_as_large_as_the_points", || {
            // 20 points: the perplexity must stay below 19; the default is 30.
            let x = sample().valid.x.head(20);
            bad_config(embedding::tsne(&x, &TsneConfig::new()), "perplexity", &["below the number of points minus one (19), got 30", "5 to 50 is usual"]);
        }),
        ("tsne_of_zero_iterations", || {
            let x = sample().valid.x.head(20);
            bad_config(embedding::tsne_exact(&x, &TsneConfig::new().with_perplexity(5.0).with_iterations(0)), "iterations", &["must be at least 1 (scikit-learn uses 1000)"]);
        }),
        ("tsne_of_a_negative_learning_rate", || {
            let x = sample().valid.x.head(20);
            let config = TsneConfig::new().with_perplexity(5.0).with_learning_rate(Some(-1.0));
            bad_config(embedding::tsne(&x, &config), "learning_rate", &["must be positive, got -1", "leave it None"]);
        }),
        ("tsne_of_theta_two", || {
            let x = sample().valid.x.head(20);
            bad_config(embedding::tsne(&x, &TsneConfig::new().with_perplexity(5.0).with_theta(2.0)), "theta", &["must be in [0, 2), got 2"]);
        }),
        ("trustworthiness_with_zero_neighbours", || {
            let x = sample().valid.x.head(20);
            bad_config(embedding::trustworthiness(&x, &filled(20, 2), 0), "k", &["must be at least 1 and below half the number of points (20), got 0"]);
        }),
        ("trustworthiness_with_half_the_points_as_neighbours", || {
            let x = sample().valid.x.head(20);
            bad_config(embedding::trustworthiness(&x, &filled(20, 2), 10), "k", &["below half the number of points (20), got 10"]);
        }),
        ("trustworthiness_of_a_different_number_of_points", || {
            let x = sample().valid.x.head(20);
            shape_error(embedding::trustworthiness(&x, &filled(19, 2), 5), &["trustworthiness", "20 embedded points", "got 19"]);
        }),
        ("knn_accuracy_with_too_few_labels", || {
            shape_error(embedding::knn_accuracy(&filled(20, 2), &[0; 19], 5), &["knn_accuracy", "one label per point (20)", "got 19"]);
        }),
        ("knn_accuracy_with_k_of_all_the_points", || {
            bad_config(embedding::knn_accuracy(&filled(20, 2), &[0; 20], 20), "k", &["between 1 and the number of points minus one, got 20"]);
        }),
        ("quality_table_with_k_zero_adds_no_row", || {
            let fashion = sample();
            let x = fashion.valid.x.head(20);
            let mut table = QualityTable::default();
            bad_config(table.add("pca", &x, &filled(20, 2), &fashion.valid.y[..20], 0.0), "k", &["must be at least 1"]);
            assert!(table.rows.is_empty(), "a refused row was added");
        }),
        ("mode_of_an_unknown_name", || {
            bad_config("fast".parse::<Mode>(), "COURSE_MODE", &["`fast` is not a mode", "use quick, class or full"]);
        }),
        ("device_of_an_unknown_backend", || {
            let err = refused(course_lib::device::device_named("tpu"));
            assert!(matches!(err, CourseError::Device { .. }), "expected a Device error, got: {err}");
            assert_says(&err, &["the backend `tpu` is not compiled into course-lib", "this build has: flex", "COURSE_DEVICE"]);
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

/// `load_or_train` on `path`: must refuse without training and leave the file as it was.
#[track_caller]
fn load_or_train_refuses_and_keeps<M: course_lib::train::TrainModel>(fresh: M, path: &Path, parts: &[&str]) {
    let before = std::fs::read(path).unwrap();
    let mut trained = false;
    let result = load_or_train(fresh, path, |m| {
        trained = true;
        Ok(m)
    });
    checkpoint_error(result, path, parts);
    assert!(!trained, "load_or_train trained over a checkpoint it cannot load");
    assert_eq!(std::fs::read(path).unwrap(), before, "the refused file was changed");
}

#[test]
fn checkpoints() {
    run_cases(&[
        ("checkpoint_of_another_model_kind_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-kind");
            let path = dir.join("model.ckpt");
            let device = training_device();
            save_checkpoint(&StackedAeConfig::new().init(&device).unwrap(), &path).unwrap();
            let tied = StackedAeConfig::new().init_tied(&device).unwrap();
            checkpoint_error(load_checkpoint(&tied, &path), &path, &["it holds a stacked_ae model, and this one is a tied_ae"]);
            load_or_train_refuses_and_keeps(tied, &path, &["it holds a stacked_ae model"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_a_linear_ae_loaded_into_a_vae_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-linear-vae");
            let path = dir.join("model.ckpt");
            let device = training_device();
            save_checkpoint(&LinearAeConfig::new().init(&device).unwrap(), &path).unwrap();
            let model = VaeConfig::new().init(&device).unwrap();
            let probe = probe();
            let before = model.predict(&probe).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["it holds a linear_ae model, and this one is a vae"]);
            assert!(model.predict(&probe).unwrap() == before, "the refused load changed the model");
            load_or_train_refuses_and_keeps(model, &path, &["it holds a linear_ae model"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_another_vae_coding_size_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-vae-codings");
            let path = dir.join("vae.ckpt");
            let device = training_device();
            save_checkpoint(&VaeConfig::new().with_codings(2).init(&device).unwrap(), &path).unwrap();
            let model = VaeConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["it was saved with codings = 2, and this model has codings = 10"]);
            load_or_train_refuses_and_keeps(model, &path, &["saved with codings = 2"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_another_gan_coding_size_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-gan-codings");
            let path = dir.join("gan.ckpt");
            let device = training_device();
            save_checkpoint(&GanConfig::new().with_codings(100).init(&device).unwrap(), &path).unwrap();
            let model = GanConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["saved with codings = 100", "this model has codings = 30"]);
            load_or_train_refuses_and_keeps(model, &path, &["saved with codings = 100"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_another_vae_beta_is_refused", || {
            let dir = temp_dir("ckpt-vae-beta");
            let path = dir.join("vae.ckpt");
            let device = training_device();
            save_checkpoint(&VaeConfig::new().with_beta(4.0).init(&device).unwrap(), &path).unwrap();
            let model = VaeConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["it was saved with beta = 4, and this model has beta = 1"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_another_corruption_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-corruption");
            let path = dir.join("denoising.ckpt");
            let device = training_device();
            save_checkpoint(&DenoisingAeConfig::new().init(&device).unwrap(), &path).unwrap();
            let model = DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&device).unwrap();
            checkpoint_error(
                load_checkpoint(&model, &path),
                &path,
                &["it holds a denoising_ae_gaussian0.2 model, and this one is a denoising_ae_dropout0.5"],
            );
            load_or_train_refuses_and_keeps(model, &path, &["denoising_ae_gaussian0.2"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("checkpoint_of_other_conv_filters_is_refused", || {
            let dir = temp_dir("ckpt-conv-filters");
            let path = dir.join("conv.ckpt");
            let device = training_device();
            save_checkpoint(&ConvAeConfig::new().with_filters([8, 16, 32]).init(&device).unwrap(), &path).unwrap();
            let model = ConvAeConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["it was saved with encoder layer 1 = ", "(28, 28, 8)", "this model has encoder layer 1 = ", "(28, 28, 16)"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_truncated_checkpoint_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-truncated");
            let path = dir.join("stacked.ckpt");
            let device = training_device();
            save_checkpoint(&StackedAeConfig::new().init(&device).unwrap(), &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
            let model = StackedAeConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["not a course checkpoint or is damaged", "it is truncated: section model", "save the model again"]);
            load_or_train_refuses_and_keeps(model, &path, &["truncated"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_checkpoint_with_bytes_appended_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-appended");
            let path = dir.join("linear.ckpt");
            let device = training_device();
            save_checkpoint(&LinearAeConfig::new().init(&device).unwrap(), &path).unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend_from_slice(&[0, 1, 2, 3, 4]);
            std::fs::write(&path, &bytes).unwrap();
            let model = LinearAeConfig::new().init(&device).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["damaged", "5 bytes follow the last section"]);
            load_or_train_refuses_and_keeps(model, &path, &["5 bytes follow the last section"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_file_that_is_not_a_checkpoint_is_refused_and_kept", || {
            let dir = temp_dir("ckpt-not-one");
            let path = dir.join("picture.ckpt");
            std::fs::copy(pictures_dir().join("sneaker.png"), &path).unwrap();
            let model = LinearAeConfig::new().init(&training_device()).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["it does not start with the course's checkpoint line"]);
            load_or_train_refuses_and_keeps(model, &path, &["does not start with the course's checkpoint line"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_checkpoint_with_an_unreadable_header_is_refused", || {
            let dir = temp_dir("ckpt-header");
            let path = dir.join("broken.ckpt");
            std::fs::write(&path, b"course-lib checkpoint 1\n{oops}\n").unwrap();
            let model = LinearAeConfig::new().init(&training_device()).unwrap();
            checkpoint_error(load_checkpoint(&model, &path), &path, &["damaged", "its header cannot be read"]);
            checkpoint_error(checkpoint_description(&path), &path, &["its header cannot be read"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_missing_checkpoint", || {
            let dir = temp_dir("ckpt-missing");
            let path = dir.join("never-saved.ckpt");
            let model = LinearAeConfig::new().init(&training_device()).unwrap();
            io_error(load_checkpoint(&model, &path), &path, &["no such checkpoint", "save_checkpoint"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_missing_gan_epoch_checkpoint", || {
            let dir = temp_dir("ckpt-gan-epoch");
            let gan = GanConfig::new().init(&training_device()).unwrap();
            let path = gan::epoch_checkpoint(&gan, &dir, 3);
            io_error(gan::load_epoch(&gan, &dir, 3), &path, &["no such checkpoint"]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("saving_a_checkpoint_under_a_file_is_an_io_error", || {
            let dir = temp_dir("ckpt-under-file");
            let file = dir.join("a-file");
            std::fs::write(&file, b"not a directory").unwrap();
            let model = LinearAeConfig::new().init(&training_device()).unwrap();
            let parent = file.join("sub");
            io_error(save_checkpoint(&model, parent.join("m.ckpt")), &parent, &[]);
            assert_eq!(std::fs::read(&file).unwrap(), b"not a directory", "the file in the way was changed");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("fit_resumable_on_a_plain_checkpoint_is_refused_and_kept", || {
            let dir = temp_dir("resume-plain");
            let path = dir.join("stacked.ckpt");
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let device = training_device();
            save_checkpoint(&StackedAeConfig::new().with_seed(1).init(&device).unwrap(), &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let mut model = StackedAeConfig::new().init(&device).unwrap();
            let before = model.predict(&probe).unwrap();
            let config = stacked_ae::fit_config().with_epochs(1).with_verbose(false);
            let result = fit_resumable(&mut model, Data::autoencoder(&fashion.train.x.head(64)), None, &config, &path);
            checkpoint_error(result, &path, &["it has no training state", "not saved by a resumable training run"]);
            assert!(model.predict(&probe).unwrap() == before, "the refused resume changed the model");
            assert_eq!(config.optimizer.steps(), 0, "the refused resume changed the optimizer");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "the refused file was changed");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("fit_resumable_on_another_hidden_size_is_refused_and_kept", || {
            let dir = temp_dir("resume-hidden");
            let path = dir.join("stacked.ckpt");
            let fashion = sample();
            let probe = fashion.valid.x.head(4);
            let device = training_device();
            save_checkpoint(&StackedAeConfig::new().with_hidden(150).init(&device).unwrap(), &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let mut model = StackedAeConfig::new().init(&device).unwrap();
            let before = model.predict(&probe).unwrap();
            let config = stacked_ae::fit_config().with_epochs(1).with_verbose(false);
            let result = fit_resumable(&mut model, Data::autoencoder(&fashion.train.x.head(64)), None, &config, &path);
            checkpoint_error(result, &path, &["it was saved with hidden = 150, and this model has hidden = 100"]);
            assert!(model.predict(&probe).unwrap() == before, "the refused resume changed the model");
            assert_eq!(config.optimizer.steps(), 0, "the refused resume changed the optimizer");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "the refused file was changed");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("fit_resumable_with_another_batch_size_is_refused_and_kept", || {
            let dir = temp_dir("resume-batch");
            let path = dir.join("linear.ckpt");
            let x = toy_3d_data(4);
            let device = training_device();
            // Adam, as the course's other resumed runs use (its state round-trips through a checkpoint).
            let config = |epochs: usize, batch: usize| {
                linear_ae::fit_config(0.1).with_optimizer(OptimizerConfig::adam(0.01)).with_epochs(epochs).with_batch_size(batch).with_verbose(false)
            };
            let mut first = LinearAeConfig::new().init(&device).unwrap();
            fit_resumable(&mut first, Data::autoencoder(&x), None, &config(1, 32), &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let mut model = LinearAeConfig::new().init(&device).unwrap();
            let before = model.predict(&x).unwrap();
            let config = config(2, 16);
            let result = fit_resumable(&mut model, Data::autoencoder(&x), None, &config, &path);
            checkpoint_error(result, &path, &["it was saved by a run with other settings", "batch 32", "and this run has", "batch 16"]);
            assert!(model.predict(&x).unwrap() == before, "the refused resume changed the model");
            assert_eq!(config.optimizer.steps(), 0, "the refused resume loaded the checkpoint's optimizer state");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "the refused file was changed");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("train_gan_resuming_a_run_of_another_seed_is_refused_and_kept", || {
            let dir = temp_dir("resume-gan-seed");
            let device = training_device();
            let images = sample().train.x.head(64);
            let codings = Noise::training(7).codings(4, gan::CODINGS);
            let mut first = GanConfig::new().init(&device).unwrap();
            gan::train_gan(&mut first, &images, &codings, &GanFitConfig::new(1).with_checkpoints(&dir).with_verbose(false)).unwrap();
            let path = gan::epoch_checkpoint(&first, &dir, 1);
            let bytes = std::fs::read(&path).unwrap();

            let mut other = GanConfig::new().init(&device).unwrap();
            let before = gan_outputs(&other, &codings, &images);
            let config = GanFitConfig::new(2).with_seed(7).with_checkpoints(&dir).with_verbose(false);
            let result = gan::train_gan(&mut other, &images, &codings, &config);
            checkpoint_error(result, &path, &["it was saved by a run with other settings", "seed 42", "and this run has", "seed 7"]);
            assert!(gan_outputs(&other, &codings, &images) == before, "the refused resume changed the GAN");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "the refused file was changed");
            assert!(!gan::epoch_checkpoint(&other, &dir, 2).exists(), "the refused run wrote an epoch");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("stacked_load_or_train_keeps_a_damaged_file_at_its_path", || {
            let dir = temp_dir("stacked-load-or-train");
            let device = training_device();
            let config = StackedAeConfig::new();
            let path = checkpoint_path(&config.init(&device).unwrap(), &dir, "class");
            std::fs::write(&path, b"course-lib checkpoint 1\n").unwrap();
            let x = sample().train.x.head(64);
            let result = stacked_ae::load_or_train(&config, dir.to_str().unwrap(), "class", &x, &x, 1, &device);
            checkpoint_error(result, &path, &["damaged", "its header has no end"]);
            assert_eq!(std::fs::read(&path).unwrap(), b"course-lib checkpoint 1\n", "the refused file was changed");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("stacked_load_or_train_with_a_bad_config_writes_nothing", || {
            let dir = temp_dir("stacked-load-or-train-config");
            let x = probe();
            let result = stacked_ae::load_or_train(&StackedAeConfig::new().with_codings(0), dir.to_str().unwrap(), "class", &x, &x, 1, &training_device());
            bad_config(result, "StackedAeConfig", &["must all be at least 1"]);
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "a refused configuration wrote a file");
            std::fs::remove_dir_all(&dir).unwrap();
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Found by this catalogue and fixed in the library
// ---------------------------------------------------------------------------------------------

#[test]
fn found_by_this_catalogue_and_fixed_in_the_library() {
    run_cases(&[
        ("gan_fit_config_with_nan_seconds_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig { max_seconds: Some(f64::NAN), ..GanFitConfig::new(1).with_verbose(false) };
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "max_seconds", &["must be a positive number of seconds, got NaN"]);
        }),
        ("gan_fit_config_with_negative_seconds_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig { max_seconds: Some(-1.0), ..GanFitConfig::new(1).with_verbose(false) };
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "max_seconds", &["got -1"]);
        }),
        ("gan_fit_config_with_an_empty_replay_buffer_leaves_the_gan", || {
            let (mut gan, images, codings) = gan_setup();
            let config = GanFitConfig::new(1).with_replay(0).with_verbose(false);
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &codings, &config)), "replay", &["at least one image"]);
        }),
        ("train_gan_without_sample_codings_is_refused_before_training", || {
            let (mut gan, images, codings) = gan_setup();
            bad_config(gan_unchanged(&mut gan, &codings, &images, |gan| gan::train_gan(gan, &images, &empty(gan::CODINGS), &GanFitConfig::new(1).with_verbose(false))), "sample_codings", &["at least one coding"]);
        }),
        ("tsne_with_zero_early_exaggeration", || {
            bad_config(embedding::tsne(&filled(20, 5), &TsneConfig::new().with_perplexity(5.0).with_early_exaggeration(0.0)), "early_exaggeration", &["must be positive, got 0", "scikit-learn uses 12"]);
        }),
        ("train_greedy_with_a_phase_of_zero_units", || {
            let x = probe();
            let mut phases = stacked_ae::greedy_phases(1);
            phases[1].units = 0;
            bad_config(stacked_ae::train_greedy(&x, &x, &phases, 42, &training_device()), "units", &["phase 2 has a coding of 0 units"]);
        }),
        // Diagrams and the shipped models.
        ("autoencoder_diagram_of_too_few_layers", || {
            bad_config(course_lib::diagram::autoencoder_diagram(&[784, 30]), "sizes", &["at least 3 layer sizes", "got [784, 30]", "&[784, 100, 30, 100, 784]"]);
        }),
        ("autoencoder_diagram_with_a_layer_of_zero_units", || {
            bad_config(course_lib::diagram::autoencoder_diagram(&[784, 0, 784]), "sizes", &["none of them 0", "got [784, 0, 784]"]);
        }),
        ("greedy_diagram_of_too_many_phases", || {
            bad_config(course_lib::diagram::greedy_diagram(&[784, 300, 100, 50, 30, 10]), "sizes", &["at most 4 phases", "got 6"]);
        }),
        ("vae_and_gan_diagrams_with_empty_layers", || {
            bad_config(course_lib::diagram::vae_diagram(784, &[150, 0], 10), "hidden", &["at least 1", "[150, 100]"]);
            bad_config(course_lib::diagram::gan_diagram(30, &[100, 150], 784, &[0]), "generator, discriminator", &["at least 1"]);
            bad_config(course_lib::diagram::gan_diagram(0, &[100], 784, &[100]), "codings and image", &["none of them 0"]);
        }),
        ("a_diagram_bracket_beyond_its_stages", || {
            let d = course_lib::diagram::Diagram::new("d").layer("a", 3, "white").bracket(0, 4, "too far");
            assert_says(&refused(d.draw()), &["a bracket spans stages 0..=4", "the diagram has stages 0..=0"]);
        }),
        ("load_pretrained_of_a_configuration_the_course_does_not_ship", || {
            let mine = VaeConfig::new().with_codings(3).init(&training_device()).unwrap();
            let before = mine.predict(&probe()).unwrap();
            let err = refused(course_lib::pretrained::load_pretrained(&mine));
            assert_says(&err, &["ships no trained model of this configuration", "codings = 3", "It ships:", "variational autoencoder, 10 codings (06-vae)", "train this one with `fit`"]);
            assert_eq!(mine.predict(&probe()).unwrap().data(), before.data(), "the model in hand is unchanged");
        }),
    ]);
}

// ---------------------------------------------------------------------------------------------
// The catalogue's former "not yet checked" list, and what trying the lessons as a student found
// ---------------------------------------------------------------------------------------------

#[test]
fn the_catalogue_s_former_not_yet_checked_list_and_what_trying_the_lessons_as_a_student_found() {
    run_cases(&[
        ("rng_below_zero", || {
            bad_config(course_lib::rng::Rng::new(1).below(0), "Rng::below", &["the range 0..0 holds no integer"]);
        }),
        ("plot_images_of_no_images", || {
            shape_error(plot_images(&filled(3, 784), 0, 3), &["plot_images", "n of 1 or more", "n = 0 of 3 images"]);
            shape_error(plot_images(&empty(784), 4, 3), &["plot_images", "n = 4 of 0 images"]);
            shape_error(course_lib::plot::image_grid(&[], 1), &["image_grid", "at least one image"]);
        }),
        ("compare_reconstructions_of_no_originals_or_too_few_reconstructions", || {
            let originals = probe();
            shape_error(compare_reconstructions(&empty(784), &[("m", &originals)], 3), &["compare_reconstructions", "n = 3 of 0 originals"]);
            shape_error(compare_reconstructions(&originals, &[("short", &originals.head(2))], 4), &["4 reconstructions, one per original shown", "got 2 for short"]);
        }),
        ("scatter_classes_with_a_label_of_ten", || {
            shape_error(scatter_classes(&filled(3, 2), &[0, 10, 1], "t"), &["scatter_classes", "labels 0 to 9", "got label 10"]);
        }),
        ("xy_chart_with_a_series_longer_than_its_xs", || {
            let series = vec![("loss".to_owned(), vec![1.0, 2.0, 3.0])];
            shape_error(course_lib::plot::xy_chart("t", "x", "y", &[1.0, 2.0], &series), &["xy_chart", "at most one value per x (2)", "got 3 values in loss"]);
        }),
        ("replay_buffer_mix_of_fakes_of_another_width", || {
            let mut buffer = gan::ReplayBuffer::new(8);
            let mut noise = Noise::training(1);
            buffer.mix(&mut filled(4, 784), &mut noise).unwrap();
            let mut narrow = filled(4, 100);
            shape_error(buffer.mix(&mut narrow, &mut noise), &["ReplayBuffer::mix", "fakes of 784 values", "got 100 values"]);
            assert_eq!(narrow, filled(4, 100), "the refused fakes are unchanged");
        }),
        ("wgan_gp_discriminator_step_with_unequal_batches_leaves_the_gan", || {
            let mut gan = GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 }).init(&training_device()).unwrap();
            let (images, codings) = (sample().train.x.head(3), Noise::training(7).codings(4, gan::CODINGS));
            let before = gan_outputs(&gan, &codings, &images);
            let result = gan.discriminator_step(&filled(2, 784), &images, &gan::optimizer(), &mut Noise::training(1));
            shape_error(result, &["discriminator_step", "as many fakes as real images (3)", "got 2 fakes"]);
            assert!(gan_outputs(&gan, &codings, &images) == before, "the refused step changed the GAN");
        }),
        ("judge_accuracy_on_a_dataset_with_too_few_labels", || {
            let judge = Judge { model: mode_collapse::judge_model(0, &training_device()).unwrap() };
            let data = Dataset { x: filled(3, 784), y: vec![0, 1] };
            shape_error(judge.accuracy(&data), &["Dataset", "one label per sample (3)", "got 2 labels"]);
        }),
        ("judge_of_no_images", || {
            let judge = Judge { model: mode_collapse::judge_model(0, &training_device()).unwrap() };
            shape_error(judge.judge(&empty(784)), &["Judge::judge", "at least one image", "got none"]);
        }),
        ("class_histogram_of_no_labels_or_a_label_of_ten", || {
            shape_error(mode_collapse::class_histogram(&[]), &["class_histogram", "at least one label", "judge some images first"]);
            shape_error(mode_collapse::class_histogram(&[1, 10]), &["labels 0 to 9", "got label 10"]);
            shape_error(mode_collapse::kl_from_uniform(&[0.0; 10]), &["kl_from_uniform", "adding up to 1", "adding up to 0"]);
        }),
        ("frozen_random_encoder_with_no_labels_or_more_than_images", || {
            let fashion = sample();
            let (train, valid) = (fashion.train.head(20), fashion.valid.head(20));
            for labels in [0, 21] {
                bad_config(course_lib::conv_ae::frozen_random_encoder(&train, &valid, labels, 1, 42, &training_device()), "labels", &["must be between 1 and the 20 training images"]);
            }
        }),
        ("a_missing_file_is_named", || {
            let dir = sample_copy("missing-named");
            std::fs::remove_file(dir.join(format!("{TRAIN_LABELS}.gz"))).unwrap();
            let err = refused(load_fashion_mnist_from(&dir));
            assert_says(&err, &["train-labels-idx1-ubyte.gz is missing from", &dir.display().to_string()]);
            std::fs::remove_dir_all(&dir).unwrap();
        }),
        ("a_reshape_of_a_flat_input_that_does_not_fit_is_named_reshape", || {
            let result = Sequential::builder("m", Shape::Flat(10), 1, &training_device()).reshape(Shape::image(1, 3, 3)).build();
            bad_config(result, "m", &["layer 1 (reshape)", "cannot reshape"]);
        }),
        ("a_hand_made_pool_of_zero_or_conv_of_stride_zero_or_a_wrong_bias_is_refused", || {
            use course_lib::layers::Conv2d;
            use course_lib::sequential::{Layer, MaxPool2d};
            let device = training_device();
            let pool = Sequential::builder("m", Shape::image(1, 28, 28), 1, &device).layer(Layer::MaxPool2d(MaxPool2d { pool: 0 })).build();
            bad_config(pool, "m", &["layer 1 (max_pooling2d)", "a pool of 0 pixels takes nothing"]);
            let mut conv = Conv2d::new(1, 4, 3, 1, Padding::Same, Activation::Relu, &mut course_lib::rng::Rng::new(1), &device);
            conv.stride = 0;
            let strided = Sequential::builder("m", Shape::image(1, 28, 28), 1, &device).layer(Layer::Conv2d(conv)).build();
            bad_config(strided, "m", &["layer 1 (conv2d)", "strides at least 1"]);
            let mut biased = Conv2d::new(1, 4, 3, 1, Padding::Same, Activation::Relu, &mut course_lib::rng::Rng::new(1), &device);
            biased.bias = course_lib::prelude::Param::from_data(course_lib::prelude::burn::tensor::TensorData::new(vec![0.0f32; 3], [3]), &device);
            let result = Sequential::builder("m", Shape::image(1, 28, 28), 1, &device).layer(Layer::Conv2d(biased)).build();
            bad_config(result, "m", &["layer 1 (conv2d)", "its bias has 3 values for 4 filters"]);
        }),
        ("a_stylegan_mapping_lr_multiplier_or_mixing_share_out_of_range_is_refused", || {
            let device = training_device();
            for m in [0.0, -0.01, 1.5, f64::NAN] {
                bad_config(GanConfig::new().with_style_mapping(3).with_mapping_lr_multiplier(m).init(&device), "mapping_lr_multiplier", &["(0, 1]", "StyleGAN's is 0.01"]);
            }
            for share in [-0.1, 1.1, f64::NAN] {
                bad_config(GanConfig::new().with_style_mapping(3).with_style_mixing(share).init(&device), "style_mixing", &["[0, 1]", "StyleGAN's is 0.9"]);
            }
        }),
        ("a_leaky_relu_of_slope_nan_is_refused", || {
            let result = Sequential::builder("m", Shape::Flat(10), 1, &training_device()).dense(5, Activation::LeakyRelu(f32::NAN)).build();
            bad_config(result, "m", &["a leaky ReLU's slope must be a finite number, got NaN"]);
        }),
        ("train_gan_on_images_outside_zero_one_leaves_the_gan", || {
            let mut gan = DcganConfig::new().init(&training_device()).unwrap();
            let images = Matrix::filled(32, 784, 255.0);
            let codings = Noise::training(7).codings(2, gan::DCGAN_CODINGS);
            let before = gan.generate(&codings).unwrap();
            bad_config(gan::train_gan(&mut gan, &images, &codings, &GanFitConfig::new(1).with_verbose(false)), "images", &["pixels must be in [0, 1]", "one is 255", "dcgan rescales them"]);
            assert!(gan.generate(&codings).unwrap() == before, "the refused run changed the GAN");
        }),
        ("train_gan_at_a_learning_rate_of_a_million_stops_and_keeps_the_last_good_gan", || {
            // At a learning rate of 1e6 the GAN's losses explode (near 1e22, still finite): the run stops
            // with `Diverged`, as `fit` does, and the GAN is the one before the iteration that diverged.
            let (mut gan, images, codings) = gan_setup();
            let huge = OptimizerConfig::rmsprop(1e6);
            let config = GanFitConfig::new(1).with_optimizers(huge, huge).with_verbose(false);
            let err = refused(gan::train_gan(&mut gan, &images, &codings, &config));
            let CourseError::Diverged { epoch, batch, learning_rate, .. } = err else { panic!("expected Diverged, got: {err}") };
            assert_eq!((epoch, learning_rate), (1, 1e6));
            assert_says(&refused(gan::train_gan(&mut gan, &images, &codings, &config)), &["training diverged", "learning rate 1000000", "try a value ten times smaller"]);
            // What is kept is a working GAN: its outputs are numbers, and its discriminator's scores
            // are probabilities.
            let (drawn, scores) = gan_outputs(&gan, &codings, &images);
            assert!(drawn.data().iter().all(|v| v.is_finite()), "batch {batch}: the kept generator draws NaN");
            assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)), "batch {batch}: the kept discriminator's scores {scores:?}");
        }),
    ]);
}
// ---------------------------------------------------------------------------------------------
// Lesson 09: the diffusion model
// ---------------------------------------------------------------------------------------------

/// A small diffusion model (width 2, 50 steps): cheap to build, train a step and sample.
fn small_diffusion() -> Diffusion {
    DiffusionConfig::new().with_width(2).with_steps(50).init(&training_device()).unwrap()
}

/// A few noisy validation images at step 10, with their steps: what the diffusion "model
/// unchanged" checks predict on.
fn diffusion_probe() -> Matrix {
    let x = sample().valid.x.head(2);
    let mut rows = Vec::new();
    for r in 0..2 {
        rows.push(x.row(r).unwrap().iter().copied().chain([10.0]).collect::<Vec<f32>>());
    }
    Matrix::from_rows(&rows).unwrap()
}

#[test]
fn diffusion() {
    run_cases(&[
        ("a_diffusion_model_of_width_0_or_odd_time_size_or_no_steps_is_refused", || {
            let device = training_device();
            bad_config(DiffusionConfig::new().with_width(0).init(&device), "width", &["at least 1", "the book's is 16"]);
            bad_config(DiffusionConfig::new().with_time_embedding(63).init(&device), "size", &["must be even", "the book's is 64"]);
            bad_config(DiffusionConfig::new().with_steps(0).init(&device), "steps", &["at least 1", "4000"]);
            bad_config(DiffusionConfig::new().with_schedule(Schedule::Linear { beta_start: 0.5, beta_end: 0.1 }).init(&device), "beta_start", &["0 < beta_start ≤ beta_end < 1"]);
        }),
        ("fitting_a_diffusion_model_on_images_outside_zero_one_or_with_metrics_leaves_it", || {
            let mut model = small_diffusion();
            let probe = diffusion_probe();
            let config = diffusion::fit_config().with_epochs(1).with_verbose(false);
            let bytes = Matrix::filled(4, 784, 255.0);
            bad_config(unchanged(&mut model, &probe, |m| m.fit(&bytes, None, &config)), "fit: images", &["pixels in [0, 1]", "scales them to [−1, 1] itself"]);
            let good = sample().train.x.head(4);
            bad_config(unchanged(&mut model, &probe, |m| m.fit(&good, Some(&bytes), &config)), "fit: validation", &["pixels in [0, 1]"]);
            let metrics = config.clone().with_metrics(&[Metric::RoundedAccuracy]);
            bad_config(unchanged(&mut model, &probe, |m| m.fit(&good, None, &metrics)), "metrics", &["leave the metrics out"]);
            shape_error(unchanged(&mut model, &probe, |m| m.fit(&filled(4, 100), None, &config)), &["784 pixels", "4 × 100"]);
            bad_config(unchanged(&mut model, &probe, |m| m.fit(&good, None, &config.clone().with_epochs(0))), "epochs", &["at least 1"]);
        }),
        ("sampling_with_a_bad_sampler_or_count_is_refused", || {
            let model = small_diffusion();
            bad_config(model.generate(4, Sampler::ddim(0), 1), "steps", &["from 1 to T = 50", "got 0"]);
            bad_config(model.generate(4, Sampler::ddim(51), 1), "steps", &["from 1 to T = 50", "got 51"]);
            bad_config(model.generate(4, Sampler::Ddim { steps: 10, eta: 2.0 }, 1), "eta", &["[0, 1]", "got 2"]);
            bad_config(model.generate(4, Sampler::Ddim { steps: 10, eta: f64::NAN }, 1), "eta", &["[0, 1]"]);
            bad_config(model.generate(0, Sampler::ddim(10), 1), "n", &["at least one image"]);
            bad_config(model.reverse_process(2, Sampler::ddim(10), 1, 1), "frames", &["at least 2"]);
        }),
        ("predicting_noise_at_a_step_past_t_or_with_the_wrong_shape_is_refused", || {
            let model = small_diffusion();
            let x = sample().valid.x.head(2);
            bad_config(model.predict_noise(&x, &[3, 51]), "t", &["from 0 to 50, got 51"]);
            shape_error(model.predict_noise(&x, &[3]), &["one step per row", "2 × 784 and 1 steps"]);
            shape_error(model.predict_noise(&filled(2, 10), &[3, 3]), &["784 pixels"]);
            bad_config(model.evaluate(&Matrix::filled(2, 784, -1.0)), "evaluate: images", &["pixels in [0, 1]"]);
        }),
    ]);
}
