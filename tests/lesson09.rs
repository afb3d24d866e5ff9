use crate::common::rounded_history;
use course_lib::data::{Matrix, load_fashion_mnist_sample};
use course_lib::mode_collapse::{self, Judge};
use course_lib::diffusion::{self, BOOK_STEPS, DiffusionConfig, Sampler, Schedule};
use course_lib::plot::plot_images;
use course_lib::summary::Summary;
use course_lib::training_device;

/// The book's U-Net, layer by layer. Its counts are the book's Keras model's: the same graph built
/// with TensorFlow 2.15 / Keras 2 (`count_params()`) has 280,369 parameters, 278,993 trainable.
#[test]
fn summary_is_the_books_unet() {
    let model = DiffusionConfig::new().init(&training_device()).unwrap();
    let s = model.summary();
    assert_eq!((s.total_params(), s.trainable_params()), (280_369, 278_993));
    insta::assert_snapshot!(s.to_string());
}

/// βₜ and ᾱₜ at a few steps of both schedules, as a student reads them in the lesson's table.
#[test]
fn schedule_values() {
    let mut out = String::new();
    for (name, schedule, steps) in [("cosine", Schedule::cosine(), BOOK_STEPS), ("linear", Schedule::linear(), 1000)] {
        let v = schedule.variances(steps).unwrap();
        for t in [1, steps / 4, steps / 2, 3 * steps / 4, steps] {
            out.push_str(&format!("{name} T={steps} t={t}: beta {:.6} alpha_bar {:.6}\n", v.betas[t], v.alpha_bars[t]));
        }
    }
    insta::assert_snapshot!(out);
}

/// Seeded losses after a few steps on the sample (ten batches of 32 an epoch, two epochs), and
/// the DDIM samples of the barely trained model: pinned so that a change to the U-Net, the
/// training step or the sampler shows.
#[test]
fn seeded_losses_and_ddim_samples() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut model = DiffusionConfig::new().init(&training_device()).unwrap();
    let config = diffusion::fit_config().with_epochs(2).with_verbose(false);
    let h = model.fit(&fashion.train.x.head(320), Some(&fashion.valid.x.head(64)), &config).unwrap();
    assert_eq!(h.names, ["loss", "val_loss"]);
    assert!(h.epochs[1][0] < h.epochs[0][0], "the loss falls: {:?}", h.epochs);
    insta::assert_snapshot!(rounded_history("diffusion", &h));
    // `evaluate` is `fit`'s validation loss: the same seeded steps and noise.
    assert!((model.evaluate(&fashion.valid.x.head(64)).unwrap() - h.epochs[1][1]).abs() < 1e-9);
    let images = model.generate(8, Sampler::ddim(10), 42).unwrap();
    assert_eq!((images.rows(), images.cols()), (8, 784));
    assert!(images.data().iter().all(|v| (0.0..=1.0).contains(v)));
    insta::assert_binary_snapshot!("diffusion_ddim.png", plot_images(&images, 8, 8).unwrap().bytes().to_vec());
}

/// The reverse process: the frames' steps go from T to 0 along the sampler's walk; DDIM with η = 0
/// gives the same images from the same noise, DDPM and DDIM with η > 0 draw fresh noise.
#[test]
fn reverse_process_walks_from_noise_to_images() {
    let device = training_device();
    let model = DiffusionConfig::new().with_width(2).with_steps(100).init(&device).unwrap();
    let ddim = model.reverse_process(3, Sampler::ddim(10), 11, 7).unwrap();
    assert_eq!(ddim.steps, [100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    assert_eq!(ddim.frames.len(), 11);
    // The first frame is the noise, shown in [0, 1]: about a third of its values clipped at 0.
    let clipped = ddim.frames[0].data().iter().filter(|&&v| v == 0.0).count() as f64 / (3.0 * 784.0);
    assert!((clipped - 0.159).abs() < 0.04, "N(0, 1) below −1: 15.9 %, got {clipped}");
    let again = model.reverse_process(3, Sampler::ddim(10), 11, 7).unwrap();
    assert_eq!(again.frames.last(), ddim.frames.last(), "DDIM with η = 0 is deterministic");
    let other = model.reverse_process(3, Sampler::ddim(10), 11, 8).unwrap();
    assert_ne!(other.frames.last(), ddim.frames.last(), "another seed, other noise");
    let ddpm = model.reverse_process(2, Sampler::Ddpm, 5, 7).unwrap();
    assert_eq!(ddpm.steps, [99, 74, 49, 25, 0], "DDPM starts at T − 1, as the book's notebook does");
    let random = model.reverse_process(2, Sampler::Ddim { steps: 10, eta: 1.0 }, 2, 7).unwrap();
    let still = model.reverse_process(2, Sampler::Ddim { steps: 10, eta: 0.0 }, 2, 7).unwrap();
    assert_ne!(random.frames[1], still.frames[1], "η = 1 adds fresh noise at each step");
}

/// The side-by-side table: real images judged closer to real ones than a constant grey, the
/// training column in words, and a generator that makes the wrong number of images refused.
#[test]
fn generators_are_judged_side_by_side() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let judge = Judge::load(&training_device()).unwrap();
    let real = mode_collapse::real_stats(&judge, &fashion.test.x).unwrap();
    let images = diffusion::judge_generator("real", 0, None, 100, &judge, &real, |n| Ok(fashion.valid.x.head(n))).unwrap();
    let record = |epochs, seconds, cores| diffusion::Training { epochs, seconds, cores };
    let grey = diffusion::judge_generator("grey", 12, Some(record(3, 7_200.0, 2)), 100, &judge, &real, |n| Ok(Matrix::filled(n, 784, 0.5))).unwrap();
    let grey_16 = diffusion::judge_generator("grey", 12, Some(record(1, 90.0, 16)), 10, &judge, &real, |n| Ok(Matrix::filled(n, 784, 0.5))).unwrap();
    assert!(images.coverage.frechet < grey.coverage.frechet, "{} vs {}", images.coverage.frechet, grey.coverage.frechet);
    assert_eq!(images.coverage.covered, 10);
    let table = diffusion::generators_table(&[images, grey, grey_16]);
    assert_eq!(table.cell(1, "training"), Some("3 epochs, 2.0 h"));
    assert_eq!(table.cell(2, "training"), Some("1 epoch, 2 min on 16 cores"));
    assert_eq!((table.cell(0, "training"), table.cell(0, "parameters"), table.cell(0, "s per 1,000 images")), (Some("-"), Some("-"), Some("-")));
    assert_eq!(table.cell(1, "parameters"), Some("12"));
    let err = diffusion::judge_generator("short", 0, None, 10, &judge, &real, |_| Ok(Matrix::filled(3, 784, 0.5))).unwrap_err();
    assert!(err.to_string().contains("10 images from the generator"), "{err}");
}

/// `fit_resumable` stopped after one epoch and started again (a fresh model and optimizer, as a
/// new process has) ends with the same bits as a run that never stopped, and calls its hook once
/// per epoch trained.
#[test]
fn a_resumed_fit_ends_where_an_uninterrupted_one_does() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let images = fashion.train.x.head(64);
    let dir = std::env::temp_dir().join(format!("course-diffusion-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x = fashion.valid.x.head(8);
    let t: Vec<usize> = (0..8).map(|i| 1 + 450 * i).collect();
    let noisy = Matrix::new(8, 784, x.data().iter().map(|v| v * 2.0 - 1.0).collect()).unwrap();
    // Without an average (the book's recipe) and with one (the shipped model's), whose averaged
    // weights go through the checkpoint too.
    let mut ends = Vec::new();
    for average in [None, Some(0.99)] {
        let run = |epochs: usize, checkpoint: &std::path::Path| {
            let mut model = DiffusionConfig::new().init(&training_device()).unwrap();
            let mut config = diffusion::fit_config().with_epochs(epochs).with_verbose(false);
            config.average = average;
            let mut hooks = 0;
            let history = model.fit_resumable(&images, Some(&x), &config, checkpoint, |_, _| {
                hooks += 1;
                Ok(())
            }).unwrap();
            (model, history, hooks)
        };
        let name = format!("{average:?}");
        let (whole, whole_history, whole_hooks) = run(2, &dir.join(format!("whole-{name}.ckpt")));
        let (_, _, first_hooks) = run(1, &dir.join(format!("stopped-{name}.ckpt")));
        let (resumed, resumed_history, resumed_hooks) = run(2, &dir.join(format!("stopped-{name}.ckpt")));
        assert_eq!((whole_hooks, first_hooks, resumed_hooks), (2, 1, 1));
        // The history goes through the checkpoint's JSON, whose parser may round a value's last bit.
        let close = |a: &[Vec<f64>], b: &[Vec<f64>]| a.len() == b.len() && a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs());
        assert!(close(&whole_history.epochs, &resumed_history.epochs), "{name}: {:?} vs {:?}", whole_history.epochs, resumed_history.epochs);
        let end = whole.predict_noise(&noisy, &t).unwrap();
        assert_eq!(end.data(), resumed.predict_noise(&noisy, &t).unwrap().data(), "{name}");
        ends.push(end);
    }
    assert_ne!(ends[0].data(), ends[1].data(), "the averaged run ends with other weights than the plain one");
    let _ = std::fs::remove_dir_all(&dir);
}
