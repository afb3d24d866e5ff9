//! The trained models the course ships (`data/pretrained/`, written by `./course pretrain`): every
//! record's file loads into the model its lesson builds, and reproduces the figure recorded for it
//! on the committed sample. A checkpoint that drifted from its record (retrained without
//! rewriting the record, or a loader that changed) fails here.

use course_lib::data::load_fashion_mnist_sample;
use course_lib::prelude::*;
use course_lib::pretrained::{self, AUTOENCODER_FIGURE, CRITIC_FIGURE, DIFFUSION_FIGURE, GAN_FIGURE};

/// How to check one shipped file: load it into the model its lesson builds, compute the figure.
type Check = Box<dyn Fn(&Dataset) -> Result<f64>>;

fn autoencoder<M: TrainModel + 'static>(model: M) -> (std::path::PathBuf, Check) {
    (pretrained::pretrained_path(&model), Box::new(move |d| pretrained::autoencoder_figure(&load_pretrained(&model)?, d)))
}

fn gan(model: gan::Gan) -> (std::path::PathBuf, Check) {
    (pretrained::pretrained_path(&model), Box::new(move |d| pretrained::gan_figure(&load_pretrained(&model)?, d)))
}

fn diffusion(model: course_lib::diffusion::Diffusion) -> (std::path::PathBuf, Check) {
    (pretrained::pretrained_path(&model), Box::new(move |d| pretrained::diffusion_figure(&load_pretrained(&model)?, d)))
}

/// Every model the lessons build that the course ships, as the lessons build them.
fn lesson_models() -> Result<Vec<(std::path::PathBuf, Check)>> {
    let device = training_device();
    Ok(vec![
        autoencoder(StackedAeConfig::new().init(&device)?),
        autoencoder(StackedAeConfig::new().init_tied(&device)?),
        autoencoder(ConvAeConfig::new().init(&device)?),
        autoencoder(DenoisingAeConfig::new().with_corruption(Corruption::gaussian()).init(&device)?),
        autoencoder(DenoisingAeConfig::new().with_corruption(Corruption::dropout()).init(&device)?),
        autoencoder(SparseAeConfig::kl().init(&device)?),
        autoencoder(VaeConfig::new().init(&device)?),
        gan(GanConfig::new().init(&device)?),
        gan(DcganConfig::new().init(&device)?),
        gan(GanConfig::new().with_loss(gan::GanLoss::Wasserstein { gradient_penalty: 10.0 }).init(&device)?),
        diffusion(DiffusionConfig::new().init(&device)?),
    ])
}

#[test]
fn every_shipped_model_loads_and_reproduces_its_recorded_figure() {
    let records = pretrained::pretrained_records().expect("data/pretrained/pretrained.json: run ./course pretrain");
    assert!(records.len() >= 11, "the course ships the models of lessons 02, 04-08 and 09; {} recorded", records.len());
    let sample = load_fashion_mnist_sample().unwrap();
    let models = lesson_models().unwrap();
    assert_eq!(records.len(), models.len(), "one record per shipped lesson model");
    let mut bytes = 0;
    for r in &records {
        bytes += std::fs::metadata(pretrained::pretrained_dir().join(&r.file)).unwrap().len();
        assert!([AUTOENCODER_FIGURE, GAN_FIGURE, CRITIC_FIGURE, DIFFUSION_FIGURE].contains(&r.figure.as_str()), "{}: unknown figure {}", r.file, r.figure);
        let (_, check) = models.iter().find(|(p, _)| p.file_name().is_some_and(|n| n == r.file.as_str())).unwrap_or_else(|| panic!("{} is recorded but no lesson model is saved under that name", r.file));
        let got = check(&sample.valid).unwrap();
        assert!((got - r.sample).abs() < 1e-4, "{} ({}): recorded {:.5} on the sample, reproduced {got:.5}", r.file, r.model, r.sample);
    }
    assert!(bytes < 20 << 20, "the shipped models take {bytes} bytes, over 20 MB");
}

#[test]
fn a_configuration_the_course_does_not_ship_is_told_what_it_ships() {
    let mine = StackedAeConfig::new().with_codings(17).init(&training_device()).unwrap();
    let err = load_pretrained(&mine).unwrap_err().to_string();
    assert!(err.contains("ships no trained model of this configuration") && err.contains("codings = 17") && err.contains("convolutional autoencoder"), "{err}");
}
