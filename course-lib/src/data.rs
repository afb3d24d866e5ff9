//! Data: Fashion-MNIST from its IDX files, the slides' train/validation/test split, seeded
//! mini-batches, and the 3-D toy data of the PCA slide.
//!
//! Fashion-MNIST is searched in `$FASHION_MNIST_DIR`, then `data/fashion-mnist/` (next to the
//! current directory or one level up, so it works from `notebooks/` too), then
//! `/usr/share/datasets/fashion-mnist/` (Debian package `dataset-fashion-mnist`). Nothing is ever
//! downloaded. A sample of a few hundred real images per split is committed in
//! `data/fashion-mnist-sample/` for the tests ([`load_fashion_mnist_sample`]).

use crate::error::{CourseError, Result};
pub use crate::engine::matrix::{IMAGE_PIXELS, IMAGE_SIDE, Matrix};
pub use crate::engine::rng::shuffled_batches;
use crate::rng::Rng;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The validation images the slides hold out of the 60,000 training images
/// (`X_train_full[-5000:]`).
pub const VALIDATION_SIZE: usize = 5_000;
/// The ten classes, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
];

/// The environment variable naming a directory with the four Fashion-MNIST files.
pub const DATA_DIR_ENV: &str = "FASHION_MNIST_DIR";
/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const DEBIAN_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
const IDX_IMAGES_MAGIC: u32 = 0x0000_0803; // unsigned bytes, 3 dimensions
const IDX_LABELS_MAGIC: u32 = 0x0000_0801; // unsigned bytes, 1 dimension
/// No Fashion-MNIST file holds more; a larger count in a header means a corrupt file.
const MAX_IMAGES: usize = 1_000_000;

/// Images (or other samples) with their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// One row per sample; for Fashion-MNIST, 784 pixels in [0, 1].
    pub x: Matrix,
    /// The class of each sample, `0..10` (see [`CLASS_NAMES`]).
    pub y: Vec<u8>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    /// The first `n` samples, for the quick and class modes.
    pub fn head(&self, n: usize) -> Dataset {
        let x = self.x.head(n.min(self.y.len()));
        let y = self.y[..x.rows].to_vec();
        Dataset { x, y }
    }

    /// Checks that there is one label per sample, each below 10 (the fields are public).
    pub fn check(&self) -> Result<()> {
        self.x.check()?;
        if self.y.len() != self.x.rows {
            return Err(CourseError::shape("Dataset", format!("one label per sample ({})", self.x.rows), format!("{} labels", self.y.len())));
        }
        if let Some(&bad) = self.y.iter().find(|&&l| l as usize >= CLASS_NAMES.len()) {
            return Err(CourseError::shape("Dataset labels", "labels 0 to 9, Fashion-MNIST's classes", format!("label {bad}")));
        }
        Ok(())
    }

    /// The samples at `indices`, in that order; an index out of range is an error.
    pub fn gather(&self, indices: &[usize]) -> Result<Dataset> {
        self.check()?;
        Ok(Dataset { x: self.x.gather(indices)?, y: indices.iter().map(|&i| self.y[i]).collect() })
    }

    /// How many samples each class has, by label (labels outside 0..10 are not counted:
    /// [`Dataset::check`] reports them).
    pub fn label_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &label in &self.y {
            if let Some(c) = counts.get_mut(label as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// Which part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The first 55,000 images of the training file.
    Train,
    /// The last 5,000 images of the training file.
    Valid,
    /// The 10,000 images of the test file.
    Test,
}

/// Fashion-MNIST in the slides' split: 55,000 training, 5,000 validation and 10,000 test images.
#[derive(Clone, Debug)]
pub struct FashionMnist {
    /// `X_train, y_train`.
    pub train: Dataset,
    /// `X_valid, y_valid`.
    pub valid: Dataset,
    /// `X_test, y_test`.
    pub test: Dataset,
    /// The directory the files came from.
    pub source: PathBuf,
}

impl FashionMnist {
    /// One of the three parts.
    pub fn split(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }
}

/// The directories searched for Fashion-MNIST, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("data/fashion-mnist"));
    dirs.push(PathBuf::from("../data/fashion-mnist"));
    dirs.push(PathBuf::from(DEBIAN_DATA_DIR));
    dirs
}

/// Fashion-MNIST, from the first directory of [`search_dirs`] that has it.
///
/// Used by every lesson from 02 on. When no directory has the files, the error lists every place
/// searched and the command that installs the data.
pub fn load_fashion_mnist() -> Result<FashionMnist> {
    // A directory the student named is obeyed: if it holds no data, say so rather than load the
    // data from somewhere else without a word.
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).map(PathBuf::from) {
        if find_file(&dir, TRAIN_IMAGES).is_none() {
            let problem = if dir.is_dir() { "has no train-images-idx3-ubyte(.gz) in it" } else { "does not exist" };
            return Err(CourseError::bad_config(
                DATA_DIR_ENV,
                format!(
                    "it is set to {}, which {problem}. Point it at the folder with the four Fashion-MNIST \
                     files, or unset it to use the installed data ({DEBIAN_DATA_DIR}).",
                    dir.display()
                ),
            ));
        }
        return load_fashion_mnist_from(&dir);
    }
    let searched = search_dirs();
    for dir in &searched {
        if find_file(dir, TRAIN_IMAGES).is_some() {
            return load_fashion_mnist_from(dir);
        }
    }
    Err(CourseError::DataNotFound { searched, missing: None })
}

/// The sample committed in `data/fashion-mnist-sample/`: 300 training, 300 validation and 300
/// test images, real Fashion-MNIST (the first of each part), for the tests.
pub fn load_fashion_mnist_sample() -> Result<FashionMnist> {
    load_fashion_mnist_from(&sample_dir())
}

/// The course's `data/` folder: `$COURSE_ROOT/data` when the kernel set `COURSE_ROOT` (the clone
/// whose kernel runs the notebook), otherwise the one next to the course-lib that was compiled.
///
/// Why: the kernel's prebuilt course-lib lives in one build cache that every clone on the machine
/// shares, so the path compiled into it may be another clone's, or one that was since deleted.
pub fn course_data_dir() -> PathBuf {
    if let Some(root) = std::env::var_os("COURSE_ROOT") {
        return PathBuf::from(root).join("data");
    }
    let course_lib = Path::new(env!("CARGO_MANIFEST_DIR"));
    course_lib.parent().unwrap_or(course_lib).join("data")
}

/// Where the committed sample lives.
pub fn sample_dir() -> PathBuf {
    course_data_dir().join("fashion-mnist-sample")
}

/// The directory of the course's own test pictures (`data/pictures/`).
pub fn pictures_dir() -> PathBuf {
    course_data_dir().join("pictures")
}

/// A picture of the student's own (PNG or JPEG) as a Fashion-MNIST image: one row of 784 values
/// in [0, 1], the object light on a dark ground as in the data set.
///
/// Like Fashion-MNIST's own preparation (Xiao et al., 2017), the picture is turned to grey,
/// inverted if its background (the border) is light, cropped to the object, padded to a square
/// and resized so that its longer side fills the 28 pixels.
pub fn load_picture(path: impl AsRef<Path>) -> Result<Matrix> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(CourseError::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such picture; give the path of a PNG or JPEG file")));
    }
    let picture = image::ImageReader::open(path)
        .map_err(|e| CourseError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| CourseError::io(path, e))?
        .decode()
        .map_err(|e| CourseError::Picture { path: path.to_path_buf(), problem: format!("it cannot be read as a PNG or JPEG picture ({e})") })?
        .to_luma_alpha8();
    let (w, h) = picture.dimensions();
    if w < MIN_PICTURE_SIDE || h < MIN_PICTURE_SIDE {
        return Err(CourseError::Picture {
            path: path.to_path_buf(),
            problem: format!("it is {w} × {h} pixels, too small to show a garment; give one of at least {MIN_PICTURE_SIDE} × {MIN_PICTURE_SIDE} (28 × 28, like the data set's, or larger)"),
        });
    }
    let grey = flatten_alpha(picture.pixels().map(|p| (p.0[0] as f32 / 255.0, p.0[1] as f32 / 255.0)));
    let image = fashion_from_grey(&grey, w as usize, h as usize).ok_or_else(|| CourseError::Picture {
        path: path.to_path_buf(),
        problem: "nothing in it stands out from the background (it is one flat shade, or nearly): the model would see a blank image. Photograph the garment against a plain background of another brightness".into(),
    })?;
    Ok(Matrix { rows: 1, cols: IMAGE_PIXELS, data: image })
}

/// Pictures smaller than this per side are refused by [`load_picture`].
const MIN_PICTURE_SIDE: u32 = 8;

/// Grey values with their opacity (each in [0, 1]) laid on a background that contrasts with
/// the opaque part: a dark garment on transparency goes onto white, a light one onto black. So
/// a cut-out PNG shows its garment, where reading the grey channel alone shows whatever colour
/// the transparent pixels happen to store (often black, under a black garment: a blank image).
fn flatten_alpha(pixels: impl Iterator<Item = (f32, f32)>) -> Vec<f32> {
    let pixels: Vec<(f32, f32)> = pixels.collect();
    let opacity: f32 = pixels.iter().map(|&(_, a)| a).sum();
    let ink: f32 = pixels.iter().map(|&(g, a)| g * a).sum();
    let background = if opacity > 0.0 && ink / opacity > 0.5 { 0.0 } else { 1.0 };
    pixels.iter().map(|&(g, a)| g * a + background * (1.0 - a)).collect()
}

/// The preparation of [`load_picture`] on a grey `w × h` picture with values in [0, 1], or
/// `None` when nothing stands out from its background.
fn fashion_from_grey(grey: &[f32], w: usize, h: usize) -> Option<Vec<f32>> {
    let border: Vec<f32> = (0..w).flat_map(|x| [grey[x], grey[(h - 1) * w + x]]).chain((0..h).flat_map(|y| [grey[y * w], grey[y * w + w - 1]])).collect();
    let background = border.iter().sum::<f32>() / border.len() as f32;
    let ink: Vec<f32> = grey.iter().map(|&v| if background > 0.5 { 1.0 - v } else { v }).collect();
    // The object: the pixels clearly darker (or lighter) than the background.
    let ground = if background > 0.5 { 1.0 - background } else { background };
    let is_ink = |v: f32| v > ground + 0.15;
    let (mut x0, mut x1, mut y0, mut y1) = (w, 0, h, 0);
    for y in 0..h {
        for x in 0..w {
            if is_ink(ink[y * w + x]) {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
        }
    }
    if x0 > x1 {
        return None;
    }
    let side = (x1 - x0 + 1).max(y1 - y0 + 1);
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    // Average the square's pixels that fall in each of the 28×28 cells (a box filter: no
    // aliasing when a large photo is shrunk), the ground outside the picture counting as 0.
    let scale = side as f32 / IMAGE_SIDE as f32;
    let mut out = vec![0.0f32; IMAGE_PIXELS];
    for (j, row) in out.chunks_mut(IMAGE_SIDE).enumerate() {
        for (i, v) in row.iter_mut().enumerate() {
            let (sx0, sy0) = (cx - side as f32 / 2.0 + i as f32 * scale, cy - side as f32 / 2.0 + j as f32 * scale);
            let steps = scale.ceil().max(1.0) as usize;
            let (mut sum, mut n) = (0.0f32, 0usize);
            for dy in 0..steps {
                for dx in 0..steps {
                    let (x, y) = ((sx0 + (dx as f32 + 0.5) * scale / steps as f32).floor(), (sy0 + (dy as f32 + 0.5) * scale / steps as f32).floor());
                    n += 1;
                    if x >= 0.0 && y >= 0.0 && (x as usize) < w && (y as usize) < h {
                        sum += (ink[y as usize * w + x as usize] - ground).max(0.0) / (1.0 - ground).max(1e-6);
                    }
                }
            }
            *v = (sum / n.max(1) as f32).clamp(0.0, 1.0);
        }
    }
    // Stretch the contrast so that the brightest pixel is 1, as in the data set's images.
    let max = out.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        out.iter_mut().for_each(|v| *v /= max);
    }
    Some(out)
}

/// Fashion-MNIST from the four IDX files (gzip-compressed or not) in `dir`.
///
/// The last 5,000 images of the training file are the validation set, as in the slides; a
/// smaller file (the committed sample) keeps its second half for validation.
pub fn load_fashion_mnist_from(dir: &Path) -> Result<FashionMnist> {
    let full = read_dataset(dir, TRAIN_IMAGES, TRAIN_LABELS)?;
    let test = read_dataset(dir, TEST_IMAGES, TEST_LABELS)?;
    let valid_len = VALIDATION_SIZE.min(full.len() / 2);
    let train_len = full.len() - valid_len;
    let train: Vec<usize> = (0..train_len).collect();
    let valid: Vec<usize> = (train_len..full.len()).collect();
    Ok(FashionMnist {
        train: full.gather(&train)?,
        valid: full.gather(&valid)?,
        test,
        source: dir.to_path_buf(),
    })
}

fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_owned()]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

fn read_dataset(dir: &Path, images: &str, labels: &str) -> Result<Dataset> {
    let missing = |stem: &str| CourseError::DataNotFound { searched: vec![dir.to_path_buf()], missing: Some(format!("{stem}.gz")) };
    let images_path = find_file(dir, images).ok_or_else(|| missing(images))?;
    let labels_path = find_file(dir, labels).ok_or_else(|| missing(labels))?;
    let x = parse_idx_images(&images_path, &read_maybe_gzip(&images_path)?)?;
    let y = parse_idx_labels(&labels_path, &read_maybe_gzip(&labels_path)?)?;
    if x.rows != y.len() {
        return Err(CourseError::CorruptData {
            path: labels_path,
            problem: format!("it has {} labels for {} images", y.len(), x.rows),
        });
    }
    Ok(Dataset { x, y })
}

fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| CourseError::io(path, e))?;
    let named_gz = path.extension().is_some_and(|e| e == "gz");
    if named_gz && !raw.starts_with(&[0x1f, 0x8b]) {
        return Err(CourseError::CorruptData { path: path.to_path_buf(), problem: "it is named .gz but is not a gzip file".into() });
    }
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| CourseError::CorruptData {
            path: path.to_path_buf(),
            problem: format!("its gzip stream is broken ({e})"),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses an IDX3 image file: magic, count, rows, columns, then the pixels, scaled to [0, 1].
pub fn parse_idx_images(path: &Path, bytes: &[u8]) -> Result<Matrix> {
    let corrupt = |problem: String| CourseError::CorruptData { path: path.to_path_buf(), problem };
    if bytes.len() < 16 {
        return Err(corrupt(format!("it is {} bytes long, shorter than its header", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != IDX_IMAGES_MAGIC {
        return Err(corrupt(format!(
            "its magic number is {magic:#010x}, not {IDX_IMAGES_MAGIC:#010x} (images)"
        )));
    }
    let [n, h, w] = [4, 8, 12].map(|at| be_u32(bytes, at) as usize);
    if (h, w) != (IMAGE_SIDE, IMAGE_SIDE) || n > MAX_IMAGES {
        return Err(corrupt(format!("its header says {n} images of {h}×{w} pixels")));
    }
    let expected = 16 + n * IMAGE_PIXELS;
    if bytes.len() != expected {
        return Err(corrupt(format!(
            "it should be {expected} bytes for {n} images but is {} bytes (truncated or padded)",
            bytes.len()
        )));
    }
    let data = bytes[16..].iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Matrix { rows: n, cols: IMAGE_PIXELS, data })
}

/// Parses an IDX1 label file: magic, count, then one byte per label in `0..10`.
pub fn parse_idx_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |problem: String| CourseError::CorruptData { path: path.to_path_buf(), problem };
    if bytes.len() < 8 {
        return Err(corrupt(format!("it is {} bytes long, shorter than its header", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != IDX_LABELS_MAGIC {
        return Err(corrupt(format!(
            "its magic number is {magic:#010x}, not {IDX_LABELS_MAGIC:#010x} (labels)"
        )));
    }
    let n = be_u32(bytes, 4) as usize;
    if bytes.len() != 8 + n {
        return Err(corrupt(format!(
            "it should be {} bytes for {n} labels but is {} bytes (truncated or padded)",
            8 + n,
            bytes.len()
        )));
    }
    let labels = bytes[8..].to_vec();
    if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(corrupt(format!("it has the label {bad}, outside 0..10")));
    }
    Ok(labels)
}

/// Writes images and labels as the uncompressed IDX files `images_name` and `labels_name` in
/// `dir`. Used to make the committed sample (`cargo run --example make_sample`).
pub fn write_idx(dir: &Path, images_name: &str, labels_name: &str, data: &Dataset) -> Result<()> {
    let mut images = Vec::with_capacity(16 + data.x.data.len());
    for v in [IDX_IMAGES_MAGIC, data.len() as u32, IMAGE_SIDE as u32, IMAGE_SIDE as u32] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend(data.x.data.iter().map(|&p| (p * 255.0).round().clamp(0.0, 255.0) as u8));
    let mut labels = Vec::with_capacity(8 + data.len());
    for v in [IDX_LABELS_MAGIC, data.len() as u32] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend_from_slice(&data.y);
    for (name, bytes) in [(images_name, images), (labels_name, labels)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| CourseError::io(&path, e))?;
    }
    Ok(())
}


/// The 3-D toy data of the PCA slide, generated as in the book's notebook: `m` points near a
/// tilted plane (`x3 ≈ w1·x1 + w2·x2`) with Gaussian noise, centred on the origin.
///
/// The book uses `m = 60, w1 = 0.1, w2 = 0.3, noise = 0.1` ([`toy_3d_data`]). Lesson 01.
pub fn generate_3d_data(m: usize, w1: f64, w2: f64, noise: f64, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    let angles: Vec<f64> = (0..m)
        .map(|_| rng.uniform() * 3.0 * std::f64::consts::PI / 2.0 - 0.5)
        .collect();
    let mut rows = Vec::with_capacity(m);
    for &a in &angles {
        let x1 = a.cos() + a.sin() / 2.0 + noise * rng.normal() / 2.0;
        let x2 = a.sin() * 0.7 + noise * rng.normal() / 2.0;
        let x3 = x1 * w1 + x2 * w2 + noise * rng.normal();
        rows.push([x1, x2, x3]);
    }
    let mut mean = [0.0; 3];
    for row in &rows {
        for k in 0..3 {
            mean[k] += row[k] / m.max(1) as f64;
        }
    }
    let data = rows
        .iter()
        .flat_map(|row| (0..3).map(move |k| (row[k] - mean[k]) as f32))
        .collect();
    Matrix { rows: m, cols: 3, data }
}

/// The toy data exactly as the slide uses it: 60 points, `w1 = 0.1`, `w2 = 0.3`, noise 0.1.
pub fn toy_3d_data(seed: u64) -> Matrix {
    generate_3d_data(60, 0.1, 0.3, 0.1, seed)
}

#[cfg(test)]
mod picture_tests {
    use super::*;

    /// A dark rectangle on a light ground comes out light on dark, its long side filling the
    /// image.
    #[test]
    fn a_light_picture_is_inverted_cropped_and_resized() {
        let (w, h) = (100, 60);
        let grey: Vec<f32> = (0..w * h).map(|k| {
            let (x, y) = (k % w, k / w);
            if (20..80).contains(&x) && (15..45).contains(&y) { 0.1 } else { 0.9 }
        }).collect();
        let image = fashion_from_grey(&grey, w, h).unwrap();
        assert_eq!(image.len(), IMAGE_PIXELS);
        assert!(image[14 * 28 + 14] > 0.9, "the centre is the object: {}", image[14 * 28 + 14]);
        assert!(image[0] < 0.05, "the corner is ground: {}", image[0]);
        let lit = image.iter().filter(|&&v| v > 0.5).count();
        assert!((340..480).contains(&lit), "the rectangle fills the width and half the height ({lit} pixels)");
    }

    #[test]
    fn a_missing_or_broken_picture_says_so() {
        let err = load_picture("/no/such/picture.png").unwrap_err().to_string();
        assert!(err.contains("PNG or JPEG"), "{err}");
        let path = std::env::temp_dir().join(format!("course-not-a-picture-{}.png", std::process::id()));
        std::fs::write(&path, b"hello").unwrap();
        let err = load_picture(&path).unwrap_err().to_string();
        assert!(err.contains("cannot be read as a PNG or JPEG"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    fn saved(name: &str, picture: image::DynamicImage) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("course-{name}-{}.png", std::process::id()));
        picture.save(&path).unwrap();
        path
    }

    /// A black garment cut out on a transparent background (whose pixels store black, as most
    /// editors leave them) shows the garment, not a blank image.
    #[test]
    fn a_cut_out_png_shows_its_garment() {
        let picture = image::RgbaImage::from_fn(40, 40, |x, y| {
            let inside = (10..30).contains(&x) && (5..35).contains(&y);
            image::Rgba([0, 0, 0, if inside { 255 } else { 0 }])
        });
        let path = saved("cut-out", image::DynamicImage::ImageRgba8(picture));
        let image = load_picture(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(image.data[14 * 28 + 14] > 0.9, "the garment is lit: {}", image.data[14 * 28 + 14]);
        assert!(image.data[14 * 28] < 0.05, "the ground is dark: {}", image.data[14 * 28]);
    }

    /// A picture too small to hold a garment, or with nothing standing out, is refused.
    #[test]
    fn a_tiny_or_flat_picture_is_refused_with_the_reason() {
        let tiny = saved("tiny", image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 1, image::Luma([80]))));
        let err = load_picture(&tiny).unwrap_err().to_string();
        std::fs::remove_file(&tiny).unwrap();
        assert!(err.contains("1 × 1 pixels, too small"), "{err}");
        let flat = saved("flat", image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(50, 50, |x, _| image::Luma([120 + (x % 3) as u8]))));
        let err = load_picture(&flat).unwrap_err().to_string();
        std::fs::remove_file(&flat).unwrap();
        assert!(err.contains("nothing in it stands out"), "{err}");
        let clear = saved("clear", image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(30, 30, image::Rgba([0, 0, 0, 0]))));
        let err = load_picture(&clear).unwrap_err().to_string();
        std::fs::remove_file(&clear).unwrap();
        assert!(err.contains("nothing in it stands out"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_images(n: u32, h: u32, w: u32, pixels: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for v in [IDX_IMAGES_MAGIC, n, h, w] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.resize(16 + pixels, 255);
        bytes
    }

    #[test]
    fn parses_valid_images_scaled_to_unit_interval() {
        let m = parse_idx_images(Path::new("x"), &idx_images(2, 28, 28, 2 * 784)).unwrap();
        assert_eq!((m.rows, m.cols), (2, 784));
        assert!(m.data.iter().all(|&p| p == 1.0));
    }

    #[test]
    fn truncated_wrong_magic_and_wrong_dims_are_errors_not_panics() {
        let p = Path::new("x");
        let err = parse_idx_images(p, &idx_images(2, 28, 28, 784)).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = parse_idx_images(p, &idx_images(2, 32, 32, 2 * 1024)).unwrap_err().to_string();
        assert!(err.contains("32×32"), "{err}");
        let mut bytes = idx_images(1, 28, 28, 784);
        bytes[3] = 0x01;
        let err = parse_idx_images(p, &bytes).unwrap_err().to_string();
        assert!(err.contains("magic"), "{err}");
        let err = parse_idx_images(p, &bytes[..10]).unwrap_err().to_string();
        assert!(err.contains("shorter than its header"), "{err}");
        let err = parse_idx_labels(p, &[0, 0, 8, 1, 0, 0, 0, 2, 3, 11]).unwrap_err().to_string();
        assert!(err.contains("label 11"), "{err}");
    }

    #[test]
    fn broken_gzip_is_reported_with_the_file() {
        let dir = std::env::temp_dir().join(format!("course-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.gz");
        std::fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).unwrap();
        let err = read_maybe_gzip(&path).unwrap_err().to_string();
        assert!(err.contains("gzip") && err.contains("broken.gz"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_data_lists_every_place_and_the_install_command() {
        let err = CourseError::DataNotFound { searched: search_dirs(), missing: None }.to_string();
        assert!(err.contains(DEBIAN_DATA_DIR), "{err}");
        assert!(err.contains("apt-get install dataset-fashion-mnist"), "{err}");
    }

    #[test]
    fn toy_data_is_centred_and_near_its_plane() {
        let x = toy_3d_data(4);
        assert_eq!((x.rows, x.cols), (60, 3));
        assert!(x.column_means().iter().all(|m| m.abs() < 1e-6));
        // x3 - 0.1 x1 - 0.3 x2 is the noise only (std 0.1 plus what centring moved).
        let residual: f32 = (0..60)
            .map(|i| {
                let r = x.at(i);
                (r[2] - 0.1 * r[0] - 0.3 * r[1]).powi(2)
            })
            .sum::<f32>()
            / 60.0;
        assert!(residual.sqrt() < 0.2, "rms residual {}", residual.sqrt());
    }

    #[test]
    fn batches_cover_every_sample_once() {
        let batches = shuffled_batches(100, 32, &mut Rng::new(1));
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [32, 32, 32, 4]);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }
}
