use course_lib::data::{CLASS_NAMES, load_fashion_mnist_sample};

#[test]
fn sample_has_the_slides_split_shapes_and_label_counts() {
    let fashion = load_fashion_mnist_sample().expect("the committed sample loads");
    let mut report = String::new();
    for (name, part) in [("train", &fashion.train), ("valid", &fashion.valid), ("test", &fashion.test)] {
        let pixels = &part.x.data();
        let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / pixels.len() as f64;
        let max = pixels.iter().copied().fold(0.0f32, f32::max);
        report.push_str(&format!(
            "{name}: {} × {} pixels, mean {mean:.4}, max {max:.1}\n  label counts {:?}\n  first labels {:?}\n",
            part.x.rows(),
            part.x.cols(),
            part.label_counts(),
            part.y[..5].iter().map(|&l| CLASS_NAMES[l as usize]).collect::<Vec<_>>()
        ));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn full_data_when_installed_has_the_slides_sizes() {
    // The set-up installs Debian's package, so where its files are, they must load; where they
    // are not (a machine without the set-up), the test says so and checks the sample only (the
    // test above).
    let debian = std::path::Path::new(course_lib::data::DEBIAN_DATA_DIR);
    if !debian.join("train-images-idx3-ubyte.gz").exists() && std::env::var_os(course_lib::data::DATA_DIR_ENV).is_none() {
        eprintln!("Fashion-MNIST is not installed ({} is missing): only the committed sample is checked", debian.display());
        return;
    }
    let fashion = course_lib::data::load_fashion_mnist().unwrap_or_else(|e| panic!("the installed Fashion-MNIST must load: {e}"));
    assert_eq!((fashion.train.len(), fashion.valid.len(), fashion.test.len()), (55_000, 5_000, 10_000));
    assert_eq!(fashion.test.label_counts(), [1000; 10]);
    // The sample is the head of each part.
    let sample = load_fashion_mnist_sample().unwrap();
    assert_eq!(sample.valid.x.row(0).unwrap(), fashion.valid.x.row(0).unwrap());
    assert_eq!(sample.test.y, fashion.test.y[..300]);
}

#[test]
fn a_corrupt_file_is_an_error_that_names_it() {
    let dir = std::env::temp_dir().join(format!("course-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = course_lib::data::sample_dir();
    for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(sample.join(name), dir.join(name)).unwrap();
    }
    // A truncated training image file, uncompressed.
    let bytes = std::fs::read(sample.join("train-images-idx3-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2_reader(&bytes), &mut raw).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte"), &raw[..raw.len() - 100]).unwrap();
    let err = course_lib::data::load_fashion_mnist_from(&dir).unwrap_err().to_string();
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("truncated"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn flate2_reader(bytes: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::GzDecoder::new(bytes)
}
