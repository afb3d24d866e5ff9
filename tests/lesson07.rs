use course_lib::data::{Matrix, load_fashion_mnist_sample};
use course_lib::gan::{self, DcganConfig, GanConfig, GanFitConfig};
use course_lib::plot::plot_images;
use course_lib::rng::Noise;
use course_lib::summary::Summary;
use course_lib::training_device;

#[test]
fn summaries_of_both_gans() {
    let device = training_device();
    let text = [GanConfig::new().init(&device).unwrap().summary().to_string(), DcganConfig::new().init(&device).unwrap().summary().to_string()].join("\n\n");
    insta::assert_snapshot!(text);
}

/// Seeded losses of both phases and D(x), D(G(z)) per epoch, and the generated grid, after two
/// epochs on the sample (300 images: 9 iterations of 32 an epoch).
#[test]
fn seeded_phases_and_generated_grid() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut model = GanConfig::new().init(&training_device()).unwrap();
    let codings = Noise::training(7).codings(16, gan::CODINGS);
    let history = gan::train_gan(&mut model, &fashion.train.x, &codings, &GanFitConfig::new(2).with_verbose(false)).unwrap();
    assert_eq!(history.steps.len(), 2 * (300 / 32));
    let rows: Vec<String> = history
        .epoch_means()
        .iter()
        .map(|m| format!("d_loss {:.3} g_loss {:.3} D(x) {:.3} D(G(z)) {:.3}", m.d_loss, m.g_loss, m.d_real, m.d_fake))
        .collect();
    insta::assert_snapshot!(rows.join("\n"));
    insta::assert_binary_snapshot!("gan_generated.png", plot_images(&history.samples[1], 16, 8).unwrap().bytes().to_vec());
}

/// The DCGAN's two phases run, with its images rescaled to [−1, 1] and shown back in [0, 1].
#[test]
fn the_dcgan_trains_a_few_iterations() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut model = DcganConfig::new().init(&training_device()).unwrap();
    let codings = Noise::training(7).codings(4, gan::DCGAN_CODINGS);
    let config = GanFitConfig::new(1).with_batch_size(16).with_verbose(false);
    let history = gan::train_gan(&mut model, &fashion.train.x.head(64), &codings, &config).unwrap();
    assert_eq!(history.steps.len(), 4);
    // The discriminator sees pixels in [−1, 1] (the book's `X_train * 2. - 1.`), the generator's
    // tanh draws there too, and the images shown are mapped back to [0, 1].
    let x = fashion.train.x.head(64);
    let seen = model.to_model_pixels(&x);
    for (v, w) in x.data().iter().zip(seen.data()) {
        assert!((w - (2.0 * v - 1.0)).abs() < 1e-6, "{v} seen as {w}");
    }
    let raw = course_lib::train::predict(&model.generator, &codings).unwrap();
    assert!(raw.data().iter().any(|&v| v < 0.0), "the generator's tanh uses its negative half");
    let shown: &Matrix = &history.samples[0];
    let now = model.generate(&codings).unwrap();
    for (r, s) in raw.data().iter().zip(now.data()) {
        assert!((s - (r + 1.0) / 2.0).abs() < 1e-6, "{r} shown as {s}");
    }
    assert_eq!(shown.rows(), 4);
}

/// Per-epoch checkpoints: epoch N loads without training, and a run stopped after epoch 1
/// resumes to the same generator as an uninterrupted one.
#[test]
fn checkpoints_load_and_resume_to_the_same_run() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let x = fashion.train.x.head(128);
    let device = training_device();
    let codings = Noise::training(7).codings(4, gan::CODINGS);
    let dir = std::env::temp_dir().join(format!("course-gan-resume-{}", std::process::id()));

    let mut straight = GanConfig::new().init(&device).unwrap();
    gan::train_gan(&mut straight, &x, &codings, &GanFitConfig::new(2).with_verbose(false)).unwrap();

    let mut first = GanConfig::new().init(&device).unwrap();
    gan::train_gan(&mut first, &x, &codings, &GanFitConfig::new(1).with_checkpoints(&dir).with_verbose(false)).unwrap();
    let epoch_1 = gan::load_epoch(&GanConfig::new().init(&device).unwrap(), &dir, 1).unwrap();
    assert_eq!(epoch_1.generate(&codings).unwrap(), first.generate(&codings).unwrap());

    let mut resumed = GanConfig::new().init(&device).unwrap();
    let history = gan::train_gan(&mut resumed, &x, &codings, &GanFitConfig::new(2).with_checkpoints(&dir).with_verbose(false)).unwrap();
    assert_eq!(history.samples.len(), 2);
    assert_eq!(resumed.generate(&codings).unwrap(), straight.generate(&codings).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
