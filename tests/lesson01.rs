use course_lib::data::toy_3d_data;
use course_lib::linear_ae::{BOOK_LEARNING_RATE, LinearAeConfig, SLIDE_LEARNING_RATE, compare_with_pca, fit_config};
use course_lib::summary::Summary;
use course_lib::train::Data;
use course_lib::training_device;

#[test]
fn summary_of_the_slides_model() {
    let ae = LinearAeConfig::new().init(&training_device()).unwrap();
    insta::assert_snapshot!(ae.summary().to_string());
}

/// The slide's setup with both learning rates: seeded losses, angles to PCA and errors.
#[test]
fn slide_and_book_learning_rates_side_by_side() {
    let x = toy_3d_data(4);
    let mut report = String::new();
    for lr in [SLIDE_LEARNING_RATE, BOOK_LEARNING_RATE] {
        let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
        let history = ae.fit(Data::autoencoder(&x), None, &fit_config(lr).with_verbose(false)).unwrap();
        let losses: Vec<String> = history.series("loss").iter().step_by(5).map(|l| format!("{l:.4}")).collect();
        let cmp = compare_with_pca(&ae, &x).unwrap();
        let angles: Vec<String> = cmp.angles_degrees.iter().map(|a| format!("{a:.0}")).collect();
        report.push_str(&format!(
            "learning rate {lr}: loss at epochs 1, 6, 11, 16: {}\n  angles to PCA (degrees, rounded): {}\n  MSE autoencoder {:.4}, PCA {:.4}\n",
            losses.join(", "),
            angles.join(", "),
            cmp.autoencoder_mse,
            cmp.pca_mse
        ));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn a_diverging_learning_rate_keeps_the_last_good_model() {
    let x = toy_3d_data(4);
    let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
    let err = ae.fit(Data::autoencoder(&x), None, &fit_config(1e6).with_verbose(false)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("diverged") && message.contains("learning rate"), "{message}");
    // The model kept is usable: its outputs are finite.
    let out = ae.predict(&x).unwrap();
    assert!(out.data().iter().all(|v| v.is_finite()));
}

#[test]
fn a_checkpoint_round_trips_and_refuses_another_shape() {
    let dir = std::env::temp_dir().join(format!("course-ckpt-{}", std::process::id()));
    let path = dir.join("linear_ae.ckpt");
    let x = toy_3d_data(4);
    let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
    ae.fit(Data::autoencoder(&x), None, &fit_config(BOOK_LEARNING_RATE).with_verbose(false)).unwrap();
    course_lib::checkpoint::save_checkpoint(&ae, &path).unwrap();

    let fresh = LinearAeConfig::new().with_seed(7).init(&training_device()).unwrap();
    let loaded = course_lib::checkpoint::load_checkpoint(&fresh, &path).unwrap();
    assert_eq!(loaded.predict(&x).unwrap(), ae.predict(&x).unwrap());

    let other = LinearAeConfig::new().with_inputs(4).with_codings(2).init(&training_device()).unwrap();
    let err = course_lib::checkpoint::load_checkpoint(&other, &path).unwrap_err().to_string();
    assert!(err.contains("does not fit this model") && err.contains("saved with inputs = 3") && err.contains("this model has inputs = 4"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_errors_with_the_fix() {
    let x = toy_3d_data(4);
    let mut ae = LinearAeConfig::new().init(&training_device()).unwrap();
    let err = ae.fit(Data::autoencoder(&x), None, &fit_config(-1.0)).unwrap_err().to_string();
    assert!(err.contains("positive"), "{err}");
    let wrong = course_lib::data::Matrix::new(2, 4, vec![0.0; 8]).unwrap();
    let err = ae.fit(Data::autoencoder(&wrong), None, &fit_config(0.1)).unwrap_err().to_string();
    assert!(err.contains("3 features"), "{err}");
    let err = ae.fit(Data::autoencoder(&x), None, &fit_config(0.1).with_epochs(0)).unwrap_err().to_string();
    assert!(err.contains("epochs"), "{err}");
}
