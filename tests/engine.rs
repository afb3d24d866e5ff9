use course_lib::checkpoint::{load_checkpoint, load_or_train, save_checkpoint};
use course_lib::data::load_fashion_mnist_sample;
use course_lib::stacked_ae::{self, StackedAeConfig};
use course_lib::train::{Data, OptimizerConfig, fit_resumable};
use course_lib::training_device;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("course-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A checkpoint of another configuration is refused with both configurations named, and neither
/// loading nor `load_or_train` touches the file.
#[test]
fn a_checkpoint_of_another_configuration_is_refused_and_kept() {
    let dir = temp_dir("ckpt-config");
    let path = dir.join("stacked.ckpt");
    let device = training_device();
    let wide = StackedAeConfig::new().with_codings(100).init(&device).unwrap();
    save_checkpoint(&wide, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let narrow = StackedAeConfig::new().init(&device).unwrap();
    let err = load_checkpoint(&narrow, &path).unwrap_err().to_string();
    assert!(err.contains("saved with codings = 100") && err.contains("this model has codings = 30"), "{err}");
    let mut trained = false;
    let result = load_or_train(narrow, &path, |m| {
        trained = true;
        Ok(m)
    });
    assert!(result.is_err() && !trained, "load_or_train must not train over a checkpoint it cannot load");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file is untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `fit_resumable` in two calls (one epoch, then resumed to three) ends where one call of three
/// epochs does, Adam's moments and the shuffling included, and the average of the weights when
/// the run keeps one.
#[test]
fn a_resumed_fit_equals_an_uninterrupted_one() {
    let dir = temp_dir("fit-resume");
    let fashion = load_fashion_mnist_sample().unwrap();
    let data = Data::autoencoder(&fashion.train.x);
    let device = training_device();
    let mut ends = Vec::new();
    for average in [None, Some(0.99)] {
        let config = |epochs| {
            let config = stacked_ae::fit_config().with_optimizer(OptimizerConfig::adam(0.001)).with_epochs(epochs).with_verbose(false);
            match average {
                Some(decay) => config.with_average(decay),
                None => config,
            }
        };
        let name = format!("{average:?}");
        let mut straight = StackedAeConfig::new().init(&device).unwrap();
        let h_straight = fit_resumable(&mut straight, data, Some(Data::autoencoder(&fashion.valid.x)), &config(3), dir.join(format!("straight-{name}.ckpt"))).unwrap();
        let mut first = StackedAeConfig::new().init(&device).unwrap();
        fit_resumable(&mut first, data, Some(Data::autoencoder(&fashion.valid.x)), &config(1), dir.join(format!("resumed-{name}.ckpt"))).unwrap();
        let mut resumed = StackedAeConfig::new().init(&device).unwrap();
        let h_resumed = fit_resumable(&mut resumed, data, Some(Data::autoencoder(&fashion.valid.x)), &config(3), dir.join(format!("resumed-{name}.ckpt"))).unwrap();
        assert_eq!(h_resumed.epochs, h_straight.epochs, "{name}");
        let end = straight.predict(&fashion.valid.x).unwrap();
        assert_eq!(resumed.predict(&fashion.valid.x).unwrap(), end, "{name}");
        ends.push(end);
        // Another learning rate, or another average, is another run: refused, not silently mixed.
        for other_config in [config(4).with_optimizer(OptimizerConfig::adam(0.01)), config(4).with_average(0.9)] {
            let mut other = StackedAeConfig::new().init(&device).unwrap();
            let err = fit_resumable(&mut other, data, None, &other_config, dir.join(format!("resumed-{name}.ckpt"))).unwrap_err().to_string();
            assert!(err.contains("other settings"), "{err}");
        }
    }
    assert_ne!(ends[0], ends[1], "the averaged run ends with other weights than the plain one");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A training process killed in the middle of its run, started again, ends with the same model
/// as a process that was never interrupted.
#[test]
fn a_killed_training_process_resumes_to_the_same_model() {
    let dir = temp_dir("kill-resume");
    let bin = env!("CARGO_BIN_EXE_resumable-training");
    let epochs = "6";
    let run = |checkpoint: &std::path::Path| {
        let out = Command::new(bin).arg(checkpoint).arg(epochs).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let straight = run(&dir.join("straight.ckpt"));

    let killed = dir.join("killed.ckpt");
    let mut child = Command::new(bin).arg(&killed).arg(epochs).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !killed.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the process was killed before it finished");
    assert!(killed.exists(), "it had written its first checkpoint");
    let resumed = run(&killed);
    assert_eq!(resumed, straight);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same numbers on any number of cores: the engine cuts its work into blocks fixed by the
/// shapes alone and adds partial sums in a fixed order, so a short training of every kind of
/// model (convolutions, dense layers, the DCGAN, lesson 09's U-Net, t-SNE) gives the same bits on
/// one core (`taskset -c 0`), on all of this machine's, and with eight threads (a student's
/// laptop).
#[test]
fn training_gives_the_same_bits_on_any_number_of_cores() {
    let bin = env!("CARGO_BIN_EXE_same-bits");
    let run = |taskset: bool, threads: Option<&str>| {
        let mut command = if taskset {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", bin]);
            c
        } else {
            Command::new(bin)
        };
        command.env_remove("COURSE_THREADS");
        if let Some(t) = threads {
            command.env("COURSE_THREADS", t);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let all_cores = run(false, None);
    assert_eq!(all_cores.lines().count(), 5, "{all_cores}");
    assert_eq!(run(true, None), all_cores, "one core (taskset -c 0) against all {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
    assert_eq!(run(false, Some("8")), all_cores, "eight threads against all cores");
    assert_eq!(run(false, Some("1")), all_cores, "one thread against all cores");
}
