//! Training speed of the course's models on real Fashion-MNIST (lesson 01's linear autoencoder on
//! its own toy 3-D data), against the references a reader would pick instead, in the same run:
//! PyTorch (CPU, all cores; `scripts/torch_reference.py`) and the book's tf.keras (Keras 2 through
//! `tf_keras`; `scripts/keras_reference.py`, with today's Keras 3 as a third column for the
//! stacked autoencoder). `cargo bench --bench train_speed` (or `./course bench`).
//!
//! Every model is timed the way a user trains it: whole epochs of shuffled batches (the GANs'
//! iterations of two phases), the model built and a warm-up run before the clock starts,
//! validation excluded. A benchmark, not a test: it asserts nothing.
//!
//! These machines' speed drifts, and a reference timed while anything else runs reads slow, which
//! makes every ratio look better than it is. So the benchmark is honest about the machine:
//! - before it starts it waits (up to a minute) for the machine to be quiet, and refuses to run
//!   on a busy one (`COURSE_BENCH_BUSY_OK=1` runs anyway and says so in the header);
//! - it times each model in `COURSE_BENCH_ROUNDS` rounds (default 5; 3 for the slow conv_ae and
//!   dcgan), the course and the references alternated (the course first in odd rounds, last in
//!   even ones), and reports each side's median and each ratio's median over the rounds with its
//!   spread (min–max of the per-round ratios);
//! - during every run it compares the CPU time the whole machine spent with what this process
//!   and its children (the references) spent: a row with a round in which something else used
//!   more than a tenth of a core is marked `*`;
//! - its header gives the date, the CPU model, the cores, the vector extensions and the load.
//!
//! `COURSE_BENCH_MODELS=conv_ae,vae` times only those; `COURSE_REFERENCE_PYTHON=/nonexistent`
//! skips the references. Adding a model is one entry in `models()`, and one function in each
//! reference script.

use course_lib::data::{Matrix, generate_3d_data, load_fashion_mnist};
use course_lib::device::{available_backends, device_named};
use course_lib::gan::{DcganConfig, GanConfig, GanFitConfig, train_gan};
use course_lib::prelude::*;
use std::time::{Duration, Instant};

#[path = "reference.rs"]
mod reference;

/// Steps timed per dense model (the convolutional ones run a fifth and a twentieth of it), after
/// `WARMUP` steps.
const STEPS: usize = 1000;
const WARMUP: usize = 30;
/// Images in an epoch, for the seconds-per-epoch figures.
const EPOCH: f64 = 55_000.0;

/// A model of the course, ready to train: `run(images)` trains on all of `images` once (an epoch
/// of shuffled batches).
type Runner = Box<dyn FnMut(&Matrix) -> Result<()>>;

struct Model {
    /// The name the reference scripts print.
    name: &'static str,
    batch: usize,
    /// Divides `STEPS` (a convolutional step costs tens of milliseconds).
    steps_divisor: usize,
    /// Multiply-adds of one training step per sample: the forward pass, every layer's weight
    /// gradient, and every input gradient but the first layer's (the images need none); a GAN
    /// iteration per real image counts what `gan::tests::each_phase_multiplies_only_what_it_needs`
    /// counts, phase 1 (G on a batch, D's three passes on twice the batch, less D's first input
    /// gradient) and phase 2 (G's three passes less its first input gradient, D's forward and
    /// input-gradient passes). Twice this is the step's FLOPs.
    step_macs: f64,
    /// Goal as a ratio of the course's epoch time to PyTorch's.
    goal: f64,
    /// Builds the model on `device` (not timed).
    build: fn(&Device) -> Result<Runner>,
}

fn fit_runner<M>(mut model: M, config: FitConfig) -> Runner
where
    M: TrainModel + 'static,
{
    Box::new(move |x: &Matrix| fit(&mut model, Data::autoencoder(x), None, &config).map(|_| ()))
}

fn gan_runner(mut gan: gan::Gan) -> Runner {
    let codings = Noise::training(1).codings(4, gan.codings_size());
    Box::new(move |x: &Matrix| train_gan(&mut gan, x, &codings, &GanFitConfig::new(1).with_verbose(false)).map(|_| ()))
}

/// A training step's multiply-adds from a forward pass's and its first layer's (whose input
/// gradient is not computed).
const fn step(forward: f64, first_layer: f64) -> f64 {
    3.0 * forward - first_layer
}

/// A GAN iteration's multiply-adds per real image, from each network's forward pass and first
/// layer's (see `Model::step_macs`).
const fn gan_step(g: f64, g_first: f64, d: f64, d_first: f64) -> f64 {
    (g + 6.0 * d - 2.0 * d_first) + (3.0 * g - g_first + 2.0 * d)
}

const STACKED_MACS: f64 = 784.0 * 100.0 + 100.0 * 30.0 + 30.0 * 100.0 + 100.0 * 784.0;

fn models() -> Vec<Model> {
    vec![
        Model {
            // The lesson's own model and data: 3 → 2 → 3 on the toy 3-D points, MSE, SGD 0.1. Its
            // arithmetic is nothing; what it measures is the fixed cost of a training step.
            name: "linear_ae",
            batch: 32,
            steps_divisor: 1,
            step_macs: step(12.0, 6.0),
            goal: 0.8,
            build: |d| Ok(fit_runner(LinearAeConfig::new().init(d)?, linear_ae::fit_config(linear_ae::SLIDE_LEARNING_RATE).with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "stacked_ae",
            batch: 32,
            steps_divisor: 1,
            step_macs: step(STACKED_MACS, 784.0 * 100.0),
            goal: 0.8,
            build: |d| Ok(fit_runner(StackedAeConfig::new().init(d)?, stacked_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "conv_ae",
            batch: 32,
            steps_divisor: 5,
            // Encoder 112,896 + 903,168 + 903,168; decoder 165,888 + 225,792 + 28,224.
            step_macs: step(2_339_136.0, 112_896.0),
            goal: 1.0,
            build: |d| Ok(fit_runner(ConvAeConfig::new().init(d)?, conv_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "denoising_ae",
            batch: 32,
            steps_divisor: 1,
            step_macs: step(STACKED_MACS, 784.0 * 100.0),
            goal: 0.8,
            build: |d| Ok(fit_runner(DenoisingAeConfig::new().init(d)?, denoising_ae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "vae",
            batch: 128,
            steps_divisor: 4,
            step_macs: step(784.0 * 150.0 + 150.0 * 100.0 + 2.0 * 100.0 * 10.0 + 10.0 * 100.0 + 100.0 * 150.0 + 150.0 * 784.0, 784.0 * 150.0),
            goal: 0.8,
            build: |d| Ok(fit_runner(VaeConfig::new().init(d)?, vae::fit_config().with_epochs(1).with_verbose(false))),
        },
        Model {
            name: "dense_gan",
            batch: 32,
            steps_divisor: 5,
            // G 30 → 100 → 150 → 784, D 784 → 150 → 100 → 1.
            step_macs: gan_step(135_600.0, 3_000.0, 132_700.0, 117_600.0),
            goal: 0.8,
            build: |d| Ok(gan_runner(GanConfig::new().init(d)?)),
        },
        Model {
            name: "dcgan",
            batch: 32,
            steps_divisor: 20,
            // G: dense 627,200, transposed convolutions 10,035,200 and 313,600; D: convolutions
            // 313,600 and 10,035,200, dense 6,272.
            step_macs: gan_step(10_976_000.0, 627_200.0, 10_355_072.0, 313_600.0),
            goal: 1.0,
            build: |d| Ok(gan_runner(DcganConfig::new().init(d)?)),
        },
    ]
}

/// FLOP/s of a 1024³ matrix product on `device`, the best of three.
fn peak_flops(device: &Device) -> f64 {
    let n = 1024;
    let a = Tensor::<2>::ones([n, n], device);
    let b = Tensor::<2>::ones([n, n], device);
    let _ = a.clone().matmul(b.clone()).into_data();
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let _ = a.clone().matmul(b.clone()).into_data();
            2.0 * (n as f64).powi(3) / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Samples per second of `model` on `device`: the model built, a warm-up, then the timed steps.
fn samples_per_second(model: &Model, images: &Matrix, device: &Device) -> Result<f64> {
    let steps = (STEPS / model.steps_divisor).max(10);
    let data = if model.name == "linear_ae" { generate_3d_data(steps * model.batch, 0.1, 0.3, 0.1, 4) } else { images.head(steps * model.batch) };
    let warmup = if model.name == "linear_ae" { data.head(WARMUP * model.batch) } else { images.head((WARMUP / model.steps_divisor).max(2) * model.batch) };
    let mut run = (model.build)(device)?;
    run(&warmup)?;
    let start = Instant::now();
    run(&data)?;
    Ok(data.rows() as f64 / start.elapsed().as_secs_f64())
}

/// The references, each a script under `scripts/` with its extra arguments; Keras 3, the slowest
/// and only a third column, times the stacked autoencoder only.
const REFERENCES: [(&str, &str, &[&str]); 3] = [
    ("PyTorch", "torch_reference.py", &[]),
    ("tf.keras 2", "keras_reference.py", &[]),
    ("Keras 3", "keras_reference.py", &["--keras3"]),
];

/// Samples per second of the reference `script` for the model `name`, if it ran.
fn reference_rate(script: &str, extra: &[&str], name: &str) -> Option<f64> {
    let mut args = vec![STEPS.to_string(), WARMUP.to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(name.to_owned());
    match reference::run(script, &args) {
        Ok(text) => text.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).and_then(|l| reference::field(l, "samples_per_second")),
        Err(err) => {
            println!("  {script} {name} failed: {}", err.lines().last().unwrap_or_default());
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The machine: what else is running
// ---------------------------------------------------------------------------------------------

/// Another program's share of the CPUs above which a run counts as disturbed: a tenth of a core.
const OTHERS_MAX: f64 = 0.1;
/// The 1-minute load average at or below which the machine is quiet enough to start.
const QUIET_LOAD: f64 = 0.5;

/// CPU time, in clock ticks, spent so far by the whole machine (busy, all CPUs) and by this
/// process with the children it has waited for (the references).
#[derive(Clone, Copy)]
struct CpuTimes {
    machine: u64,
    ours: u64,
    at: Instant,
}

impl CpuTimes {
    /// `None` where /proc cannot be read (not Linux): the checks are then skipped.
    fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu user nice system idle iowait irq softirq steal: busy is all but idle and iowait
        // (steal included: time the hypervisor gave to another machine is not ours either).
        let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
        let machine = cpu.iter().sum::<u64>() - cpu.get(3)? - cpu.get(4)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command's closing parenthesis: utime, stime, cutime, cstime are the
        // 12th to 15th.
        let fields: Vec<u64> = own.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).filter_map(|v| v.parse().ok()).collect();
        Some(CpuTimes { machine, ours: fields.iter().sum(), at: Instant::now() })
    }

    /// The cores' worth of CPU that other programs used since `earlier`.
    fn others_since(&self, earlier: &CpuTimes) -> f64 {
        // USER_HZ is 100 on every Linux the course runs on.
        let ticks = (self.machine - earlier.machine).saturating_sub(self.ours - earlier.ours) as f64;
        ticks / 100.0 / self.at.duration_since(earlier.at).as_secs_f64().max(1e-3)
    }
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// Waits up to a minute for a quiet machine: a load average of at most [`QUIET_LOAD`], or 15
/// seconds in which other programs used less than [`OTHERS_MAX`] of a core (the load average
/// lags a build that has just ended by minutes). What was seen, and whether it was quiet.
fn wait_for_quiet() -> (String, bool) {
    let mut idle_since: Option<CpuTimes> = None;
    let mut last = CpuTimes::now();
    for poll in 0..=12 {
        let load = load_average().unwrap_or(0.0);
        let now = CpuTimes::now();
        let others = match (now, last) {
            (Some(now), Some(last)) if poll > 0 => now.others_since(&last),
            _ => 0.0,
        };
        if poll > 0 && others >= OTHERS_MAX {
            idle_since = None;
        } else if poll > 0 && idle_since.is_none() {
            idle_since = last;
        }
        let idle_for = match (now, idle_since) {
            (Some(now), Some(since)) => now.at.duration_since(since.at),
            _ => Duration::ZERO,
        };
        if load <= QUIET_LOAD || idle_for >= Duration::from_secs(15) {
            return (format!("quiet (load average {load:.2}, others {others:.2} cores)"), true);
        }
        if poll == 12 {
            return (format!("busy (load average {load:.2}, others {others:.2} cores after a minute)"), false);
        }
        if poll == 0 {
            println!("waiting for a quiet machine (load average {load:.2}) ...");
        }
        last = now;
        std::thread::sleep(Duration::from_secs(5));
    }
    unreachable!("the loop returns at its last poll")
}

/// The CPU model, the cores and the vector extensions that matter to the kernels.
fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let value = |key: &str| info.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned());
    let model = value("model name").unwrap_or_else(|| "unknown CPU".into());
    let flags = value("flags").unwrap_or_default();
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let wanted = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"];
    let present: Vec<&str> = wanted.into_iter().filter(|f| flags.contains(f)).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores, vector extensions: {}", present.join(" "))
}

fn utc_now() -> String {
    std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Rounds and their statistics
// ---------------------------------------------------------------------------------------------

/// Rounds for `model`: `COURSE_BENCH_ROUNDS`, or 5 (3 for the slow convolutional models).
fn rounds(model: &Model) -> usize {
    let asked = std::env::var("COURSE_BENCH_ROUNDS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
    asked.unwrap_or(if matches!(model.name, "conv_ae" | "dcgan") { 3 } else { 5 })
}

/// One side of a comparison (the course or a reference): its seconds per epoch in each round
/// (`None` where it did not run), and whether anything else ran during any of its rounds.
#[derive(Default)]
struct Side {
    seconds: Vec<Option<f64>>,
    disturbed: bool,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

impl Side {
    fn median(&self) -> Option<f64> {
        median(self.seconds.iter().flatten().copied().collect())
    }

    /// The median of the per-round ratios `course / self`, with their min and max.
    fn ratio(&self, course: &Side) -> Option<(f64, f64, f64)> {
        let ratios: Vec<f64> = course.seconds.iter().zip(&self.seconds).filter_map(|(c, r)| Some((*c)? / (*r)?)).collect();
        let (min, max) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        Some((median(ratios)?, min, max))
    }
}

/// Times `run` (seconds per epoch from its samples per second), noting into `side` whether other
/// programs used the CPUs meanwhile.
fn timed(side: &mut Side, run: impl FnOnce() -> Option<f64>) {
    let before = CpuTimes::now();
    let rate = run();
    if let (Some(before), Some(after)) = (before, CpuTimes::now()) {
        side.disturbed |= after.others_since(&before) >= OTHERS_MAX;
    }
    side.seconds.push(rate.map(|r| EPOCH / r));
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::var("COURSE_BENCH_MODELS").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let chosen: Vec<Model> = models().into_iter().filter(|m| only.is_empty() || only.iter().any(|o| o == m.name)).collect();
    let (machine, quiet) = wait_for_quiet();
    let busy_ok = std::env::var("COURSE_BENCH_BUSY_OK").is_ok_and(|v| v == "1");
    println!("train_speed, {}", utc_now());
    println!("CPU: {}", cpu_line());
    println!("machine at start: {machine}{}", if quiet { "" } else { "; COURSE_BENCH_BUSY_OK=1: timing anyway, every figure below reads slow" });
    if !quiet && !busy_ok {
        println!("Refusing to time a busy machine: a reference slowed by other work makes every ratio look better than it is. Stop what else runs (builds, notebooks), or set COURSE_BENCH_BUSY_OK=1.");
        std::process::exit(1);
    }
    let fashion = load_fashion_mnist()?;
    let images = fashion.train.x;
    // Backends other than the CPU's (wgpu, cuda when built in): the course's figures only.
    for backend in available_backends().into_iter().filter(|b| *b != "flex") {
        let device = device_named(backend)?;
        println!("course, backend {backend}:");
        for model in &chosen {
            let per_second = samples_per_second(model, &images, &device.clone().autodiff())?;
            println!("  {:<14} batch {:>3}: {:>7.2} s per 55,000-image epoch", model.name, model.batch, EPOCH / per_second);
        }
    }
    let device = device_named("flex")?;
    let peak = peak_flops(&device);
    println!("course on the CPU (flex): peak (1024³ matmul) {:.1} GFLOP/s", peak / 1e9);
    let mut rows: Vec<(&Model, Side, Vec<Side>)> = Vec::new();
    for model in &chosen {
        let mut course = Side::default();
        let mut theirs: Vec<Side> = REFERENCES.iter().map(|_| Side::default()).collect();
        let n = rounds(model);
        for round in 1..=n {
            let course_first = round % 2 == 1;
            if course_first {
                timed(&mut course, || samples_per_second(model, &images, &device.clone().autodiff()).ok());
            }
            for ((label, script, extra), side) in REFERENCES.iter().zip(theirs.iter_mut()) {
                if *label == "Keras 3" && model.name != "stacked_ae" {
                    continue;
                }
                timed(side, || reference_rate(script, extra, model.name));
            }
            if !course_first {
                timed(&mut course, || samples_per_second(model, &images, &device.clone().autodiff()).ok());
            }
        }
        let ours = course.median().unwrap_or(f64::NAN);
        let flops = 2.0 * model.step_macs * EPOCH / ours;
        println!(
            "  {:<14} batch {:>3}: median of {n} rounds {ours:>7.2} s per epoch, {:>5.1} GFLOP/s = {:>4.1}% of peak; {}",
            model.name,
            model.batch,
            flops / 1e9,
            100.0 * flops / peak,
            REFERENCES.iter().zip(&theirs).filter_map(|((label, ..), side)| side.median().map(|s| format!("{label} {s:.2} s"))).collect::<Vec<_>>().join(", ")
        );
        rows.push((model, course, theirs));
    }
    println!("\nseconds per 55,000-image epoch, medians over the rounds; ratio = course / reference, the median of the rounds' ratios (min-max); goal against PyTorch:");
    print!("  {:<14} {:>8}", "model", "course");
    for (label, ..) in REFERENCES {
        print!(" {label:>11} {:>21}", "ratio");
    }
    println!(" {:>5} {:>4}", "goal", "met");
    let mut any_disturbed = false;
    for (model, course, theirs) in rows {
        let disturbed = course.disturbed || theirs.iter().any(|s| s.disturbed);
        any_disturbed |= disturbed;
        let name = format!("{}{}", model.name, if disturbed { " *" } else { "" });
        print!("  {name:<14} {:>8.2}", course.median().unwrap_or(f64::NAN));
        for side in &theirs {
            match (side.median(), side.ratio(&course)) {
                (Some(s), Some((r, lo, hi))) => print!(" {s:>11.2} {:>21}", format!("{r:.3} ({lo:.3}-{hi:.3})")),
                _ => print!(" {:>11} {:>21}", "-", "-"),
            }
        }
        let met = theirs[0].ratio(&course).map_or("-", |(r, ..)| if r <= model.goal { "yes" } else { "no" });
        println!(" {:>5.1} {met:>4}", model.goal);
    }
    if any_disturbed {
        println!("  * busy: in at least one round of this row other programs used more than {OTHERS_MAX} of a core; its figures are suspect");
    }
    Ok(())
}
