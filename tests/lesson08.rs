use course_lib::data::load_fashion_mnist_sample;
use course_lib::gan::{GanConfig, GanFitConfig, GanLoss};
use course_lib::mode_collapse::{self, Judge};
use course_lib::summary::Summary;
use course_lib::{device, training_device};

/// The shipped judge loads and labels the committed sample's test images with the accuracy
/// recorded when it was trained.
#[test]
fn the_judge_loads_and_reaches_its_recorded_accuracy() {
    let judge = Judge::load(&device()).unwrap();
    let sample = load_fashion_mnist_sample().unwrap();
    let (test_accuracy, sample_accuracy) = mode_collapse::recorded_accuracy().unwrap();
    assert!(test_accuracy >= 0.90, "the judge must reach 0.90 on the test set: {test_accuracy}");
    let here = judge.accuracy(&sample.test).unwrap();
    assert!((here - sample_accuracy).abs() < 1e-9, "recorded {sample_accuracy}, measured {here}");
    insta::assert_snapshot!(judge.model.summary().to_string());
}

#[test]
fn summaries_of_the_remedies() {
    let device = training_device();
    let text: Vec<String> = [
        GanConfig::new().with_loss(GanLoss::Wasserstein { gradient_penalty: 10.0 }),
        GanConfig::new().with_minibatch_std(true),
        GanConfig::new().with_progan(true),
        GanConfig::new().with_style_mapping(3),
    ]
    .iter()
    .map(|c| c.init(&device).unwrap().summary().to_string())
    .collect();
    insta::assert_snapshot!(text.join("\n\n"));
}

/// The coverage figures of a seeded short run on the sample, rounded.
#[test]
fn coverage_of_a_seeded_short_run() {
    let sample = load_fashion_mnist_sample().unwrap();
    let judge = Judge::load(&device()).unwrap();
    let real = mode_collapse::real_stats(&judge, &sample.test.x).unwrap();
    let mut model = GanConfig::new().init(&training_device()).unwrap();
    let run = mode_collapse::train_and_measure("slide", &mut model, &sample.train.x, &GanFitConfig::new(2).with_verbose(false), &judge, &real, 200).unwrap();
    let rows: Vec<String> = run
        .coverage
        .iter()
        .map(|c| {
            let h: Vec<String> = c.histogram.iter().map(|p| format!("{:.2}", p)).collect();
            format!("[{}] KL {:.3} covered {} confidence {:.3} frechet {:.1}", h.join(" "), c.kl, c.covered, c.confidence, c.frechet)
        })
        .collect();
    insta::assert_snapshot!(rows.join("\n"));
    assert_eq!(mode_collapse::remedies_table(&[run]).rows.len(), 1);
}
