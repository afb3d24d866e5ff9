use crate::common::rounded_history;
use course_lib::conv_ae::{self, ConvAeConfig};
use course_lib::data::load_fashion_mnist_sample;
use course_lib::plot::compare_reconstructions;
use course_lib::summary::Summary;
use course_lib::train::Data;
use course_lib::training_device;

#[test]
fn summary_with_every_layers_shape() {
    let ae = ConvAeConfig::new().init(&training_device()).unwrap();
    // Keras: encoder 23,296 + decoder 23,233.
    assert_eq!(ae.encoder.summary().total_params(), 23_296);
    assert_eq!(ae.decoder.summary().total_params(), 23_233);
    insta::assert_snapshot!(ae.summary().to_string());
}

/// Seeded losses after two epochs on the sample (300 images: 10 steps of 32 per epoch).
#[test]
fn seeded_losses_on_the_sample() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut ae = ConvAeConfig::new().init(&training_device()).unwrap();
    let h = ae
        .fit(Data::autoencoder(&fashion.train.x), Some(Data::autoencoder(&fashion.valid.x)), &conv_ae::fit_config().with_epochs(2).with_verbose(false))
        .unwrap();
    insta::assert_snapshot!(rounded_history("conv_ae", &h));
}

#[test]
fn reconstructions_and_feature_maps_after_training_on_the_sample() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut ae = ConvAeConfig::new().init(&training_device()).unwrap();
    ae.fit(Data::autoencoder(&fashion.train.x), None, &conv_ae::fit_config().with_epochs(3).with_verbose(false)).unwrap();
    let originals = fashion.valid.x.head(5);
    let figure = compare_reconstructions(&originals, &[("conv", &ae.predict(&originals).unwrap())], 5).unwrap();
    insta::assert_binary_snapshot!("conv_reconstructions.svg", figure.bytes().to_vec());
    let maps = conv_ae::feature_maps(&ae.encoder, fashion.valid.x.row(0).unwrap()).unwrap();
    insta::assert_binary_snapshot!("conv_feature_maps.svg", maps.bytes().to_vec());
}

/// The book's pretraining experiment on the sample: a trained encoder, frozen, must beat chance
/// (0.1) by a wide margin with 100 labels, and the classifier's encoder layers must not move
/// while frozen.
#[test]
fn pretraining_with_the_convolutional_encoder() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let device = training_device();
    let mut ae = ConvAeConfig::new().init(&device).unwrap();
    ae.fit(Data::autoencoder(&fashion.train.x), None, &conv_ae::fit_config().with_epochs(3).with_verbose(false)).unwrap();
    let cmp = conv_ae::compare_pretraining(&ae.encoder, &fashion.train, &fashion.valid, 150, [5, 5, 5], 42, &device).unwrap();
    let frozen = cmp.rows[1].1;
    assert!(frozen > 0.3, "a frozen pretrained encoder should beat chance (0.1) by far: {frozen}");
    let clf = conv_ae::classifier(&ae.encoder, true, 1, &device).unwrap();
    let s = clf.summary();
    assert_eq!(s.trainable_params(), s.total_params() - 23_296, "the encoder's 23,296 weights are frozen");
}
