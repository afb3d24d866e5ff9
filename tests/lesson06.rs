use crate::common::rounded_history;
use course_lib::data::load_fashion_mnist_sample;
use course_lib::plot::plot_images;
use course_lib::summary::Summary;
use course_lib::train::Data;
use course_lib::training_device;
use course_lib::vae::{self, VaeConfig};

#[test]
fn summary() {
    let model = VaeConfig::new().init(&training_device()).unwrap();
    assert_eq!(model.summary().total_params(), 269_504);
    insta::assert_snapshot!(model.summary().to_string());
}

/// The loss terms tracked apart, seeded, after a few steps on the sample (batch 128: 3 steps an
/// epoch); `loss` is their sum.
#[test]
fn seeded_loss_terms_and_generated_grids() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut model = VaeConfig::new().init(&training_device()).unwrap();
    let h = model
        .fit(Data::autoencoder(&fashion.train.x), Some(Data::autoencoder(&fashion.valid.x)), &vae::fit_config().with_epochs(3).with_verbose(false))
        .unwrap();
    assert_eq!(h.names[..3], ["loss", "binary_crossentropy", "latent_loss"]);
    for row in &h.epochs {
        assert!((row[0] - row[1] - row[2]).abs() < 1e-9, "loss is the sum of its terms: {row:?}");
    }
    insta::assert_snapshot!(rounded_history("vae", &h));
    let generated = model.generate(12, 1.0, 42).unwrap();
    insta::assert_binary_snapshot!("vae_generated.png", plot_images(&generated, 12, 4).unwrap().bytes().to_vec());
    let codings = vae::random_codings(12, 10, 1.0, 42).unwrap();
    let between = vae::interpolate_grid(&codings, 3, 4, 5, 7).unwrap();
    insta::assert_binary_snapshot!("vae_interpolation.png", plot_images(&model.decode(&between).unwrap(), 35, 7).unwrap().bytes().to_vec());
}

/// The same seed, the same run: the sampling draws from the fit's generator, not burn's.
#[test]
fn the_sampling_repeats_on_a_seed() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let run = || {
        let mut m = VaeConfig::new().init(&training_device()).unwrap();
        m.fit(Data::autoencoder(&fashion.train.x), None, &vae::fit_config().with_epochs(1).with_verbose(false)).unwrap();
        m.predict(&fashion.valid.x.head(3)).unwrap()
    };
    assert_eq!(run(), run());
}
