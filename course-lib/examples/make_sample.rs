//! Writes the Fashion-MNIST sample committed in `data/fashion-mnist-sample/` from the full data:
//! the first 300 images of the training, validation and test parts, as uncompressed IDX files
//! (`gzip -9n` them afterwards for a byte-stable commit).
//!
//! `cargo run --release -p course-lib --example make_sample -- data/fashion-mnist-sample`

use course_lib::data::{Dataset, Matrix, load_fashion_mnist, write_idx};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "data/fashion-mnist-sample".into()));
    std::fs::create_dir_all(&out)?;
    let full = load_fashion_mnist()?;
    let n = 300;
    // Training part then validation part, so that the loader's "second half is validation" rule
    // gives back exactly these two parts.
    let (train, valid) = (full.train.head(n), full.valid.head(n));
    let x = Matrix::concat_rows(&[&train.x, &valid.x])?;
    let both = Dataset { x, y: [train.y, valid.y].concat() };
    write_idx(&out, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &both)?;
    write_idx(&out, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &full.test.head(n))?;
    println!("wrote {} training+validation and {} test images to {}", both.len(), n, out.display());
    Ok(())
}
