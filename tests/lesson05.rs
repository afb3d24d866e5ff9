use crate::common::rounded_history;
use course_lib::data::{load_fashion_mnist_sample, load_picture, pictures_dir};
use course_lib::denoising_ae::{self, Corruption, DenoisingAeConfig, SparseAeConfig};
use course_lib::plot::{Figure, show_reconstructions};
use course_lib::summary::Summary;
use course_lib::train::Data;
use course_lib::training_device;

#[test]
fn summaries_of_the_denoising_and_sparse_models() {
    let device = training_device();
    let text = [
        DenoisingAeConfig::new().init(&device).unwrap().summary().to_string(),
        DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&device).unwrap().summary().to_string(),
        SparseAeConfig::kl().init(&device).unwrap().summary().to_string(),
    ]
    .join("\n\n");
    insta::assert_snapshot!(text);
}

/// Seeded losses on the sample for each variant; the sparse ones report their penalty apart.
#[test]
fn seeded_losses_on_the_sample() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let (train, valid) = (Data::autoencoder(&fashion.train.x), Data::autoencoder(&fashion.valid.x));
    let config = denoising_ae::fit_config().with_epochs(2).with_verbose(false);
    let device = training_device();
    let mut report = Vec::new();
    for (name, mut ae) in [
        ("gaussian", DenoisingAeConfig::new().init(&device).unwrap()),
        ("dropout", DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&device).unwrap()),
        ("sparse_l1", SparseAeConfig::l1().init(&device).unwrap()),
        ("sparse_kl", SparseAeConfig::kl().init(&device).unwrap()),
    ] {
        report.push(rounded_history(name, &ae.fit(train, Some(valid), &config).unwrap()));
    }
    insta::assert_snapshot!(report.join("\n"));
}

#[test]
fn noisy_over_denoised_and_the_sparsity_histogram() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let device = training_device();
    let mut ae = DenoisingAeConfig::new().init(&device).unwrap();
    ae.fit(Data::autoencoder(&fashion.train.x), None, &denoising_ae::fit_config().with_epochs(3).with_verbose(false)).unwrap();
    let noisy = denoising_ae::corrupt(&fashion.valid.x.head(5), Corruption::gaussian(), 42).unwrap();
    insta::assert_binary_snapshot!("denoised.png", show_reconstructions(&ae, &noisy, 5).unwrap().bytes().to_vec());

    let mut sparse = SparseAeConfig::kl().init(&device).unwrap();
    sparse.fit(Data::autoencoder(&fashion.train.x), None, &denoising_ae::fit_config().with_epochs(3).with_verbose(false)).unwrap();
    let figure: Figure = denoising_ae::activation_histograms(&sparse, &fashion.valid.x, "KL").unwrap();
    insta::assert_binary_snapshot!("sparsity_histogram.svg", figure.bytes().to_vec());
}

/// Noise and dropout act only while training: evaluating twice gives the same loss, and the
/// model's prediction of a clean image does not depend on a seed.
#[test]
fn corruption_is_off_at_inference() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let ae = DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&training_device()).unwrap();
    assert_eq!(ae.predict(&fashion.valid.x).unwrap(), ae.predict(&fashion.valid.x).unwrap());
    let err = DenoisingAeConfig::new().with_corruption(Corruption::Dropout(1.5)).init(&training_device()).unwrap_err().to_string();
    assert!(err.contains("[0, 1)"), "{err}");
}

/// The course's own picture loads as a Fashion-MNIST image: light object on dark ground.
#[test]
fn the_test_picture_loads_like_a_fashion_image() {
    let picture = load_picture(pictures_dir().join("sneaker.png")).unwrap();
    assert_eq!((picture.rows(), picture.cols()), (1, 784));
    let corners = [0, 27, 27 * 28, 783].map(|i| picture.data()[i]);
    assert!(corners.iter().all(|&v| v < 0.1), "the ground is dark: {corners:?}");
    let ink = picture.data().iter().filter(|&&v| v > 0.5).count();
    assert!(ink > 150, "the shoe is light and fills a good part of the image ({ink} pixels)");
    insta::assert_binary_snapshot!("picture.png", course_lib::plot::plot_image(&picture.data()).unwrap().bytes().to_vec());
}
