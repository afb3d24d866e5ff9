//! Training speed of the course's models on real Fashion-MNIST (lesson 01's linear autoencoder on
//! its own toy 3-D data), against the references a reader would pick instead, in the same run:
//! PyTorch (CPU, all cores; `scripts/torch_reference.py`), twice: as installed, and with glibc's
//! allocator keeping freed memory as the course's library has it do while it trains (`PyTorch+keep`;
//! the goal is judged against the faster of the two), and the book's tf.keras (Keras 2 through
//! `tf_keras`; `scripts/keras_reference.py`, with today's Keras 3 as a further column for the
//! stacked autoencoder). `cargo bench --bench train_speed` (or `./course bench`).
//!
//! Every model is timed the way a user trains it: whole epochs of shuffled batches (the GANs'
//! iterations of two phases), the model built and a warm-up run before the clock starts,
//! validation excluded. A benchmark, not a test: it asserts nothing. `diffusion_sample` times
//! sampling rather than training: one network call of lesson 09's U-Net per image (its "epoch" is
//! 55,000 images through one step of the reverse process).
//!
//! These machines' speed drifts, and a side timed while anything else runs reads slow: a slowed
//! reference makes every ratio look better than it is (issue #27). So the benchmark is honest
//! about the machine:
//! - Load check. Before it starts it polls the machine every 5 s for up to a minute until it is
//!   quiet: `/proc/stat` shows other programs using under a tenth of a core over the last
//!   interval, and either the 1-minute load average is at most 0.5 or they have stayed under it
//!   for 15 s (the load average lags a build that has just ended by minutes, and one that has
//!   just started as much). A machine that stays busy is refused (exit code 1);
//!   `COURSE_BENCH_BUSY_OK=1` times it anyway and says so in the header.
//! - Rounds. Each model is timed in `COURSE_BENCH_ROUNDS` rounds (default 5; 3 for the slow
//!   conv_ae, dcgan and lesson 09's diffusion and diffusion_sample), the course and the references alternated within a round, the course
//!   first in odd rounds and last in even ones, so that a drift of the machine's speed falls on
//!   both sides. Every round's seconds per epoch are printed.
//! - Medians and spread. The table gives each side's median over the rounds and, for each ratio
//!   course / reference, the median of the per-round ratios with their min-max spread.
//! - Busy check. Around the timed part of every run (the course's here; a reference's between the
//!   `timing` line its script prints as its clock starts and its result line) it compares the
//!   CPU time the whole machine spent (`/proc/stat`) with what this process and the running
//!   reference spent (`/proc/<pid>/stat`, children included). A figure during which other
//!   programs used more than a tenth of a core is marked `*`, and so is its row in the table.
//! - Its header gives the date (UTC), the CPU model, the cores, the vector extensions, the load
//!   average at the start and the peak GFLOP/s of a 1024³ matrix product.
//!
//! `COURSE_BENCH_MODELS=conv_ae,vae` times only those; `COURSE_REFERENCE_PYTHON=/nonexistent`
//! skips the references (the table has the course's column only). Adding a model is one entry in
//! `models()`, and one function in each reference script.

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
        Model {
            // Lesson 09's U-Net, trained as the book trains it (fresh steps and noise each batch,
            // Huber loss, Adam).
            name: "diffusion",
            batch: 32,
            steps_divisor: 20,
            // Forward: stem 147,456; way down 2,147,328 + 1,794,048 + 1,795,072; way up
            // 2,293,760 + 5,701,632 + 5,701,632; head 442,368; the time's Dense layers 22,528.
            step_macs: step(20_195_328.0, 147_456.0),
            goal: 1.0,
            build: |d| {
                let mut model = DiffusionConfig::new().init(d)?;
                let config = diffusion::fit_config().with_epochs(1).with_verbose(false);
                Ok(Box::new(move |x: &Matrix| model.fit(x, None, &config).map(|_| ())))
            },
        },
        Model {
            // One sampling step: the U-Net on a batch of 256 noisy images, in inference mode (DDIM
            // with one step is exactly one network call per image).
            name: "diffusion_sample",
            batch: 256,
            steps_divisor: 100,
            // A forward pass alone (no gradients); its "epoch" is 55,000 images through one step.
            step_macs: 20_195_328.0,
            goal: 1.0,
            build: |d| {
                let model = DiffusionConfig::new().init(d)?;
                Ok(Box::new(move |x: &Matrix| model.generate(x.rows(), Sampler::ddim(1), 1).map(|_| ())))
            },
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

// ---------------------------------------------------------------------------------------------
// The machine: what else is running
// ---------------------------------------------------------------------------------------------

/// Another program's share of the CPUs above which a run counts as disturbed: a tenth of a core.
const OTHERS_MAX: f64 = 0.1;
/// The 1-minute load average at or below which the machine is quiet enough to start.
const QUIET_LOAD: f64 = 0.5;
/// How often, and for how long, the load check polls before it gives up on a busy machine.
const POLL: Duration = Duration::from_secs(5);
const POLLS: u32 = 12;
/// How long other programs must stay under `OTHERS_MAX` for the machine to count as quiet when
/// the load average has not caught up yet.
const IDLE_FOR: Duration = Duration::from_secs(15);

/// CPU time, in clock ticks, spent so far by the whole machine (busy, all CPUs) and by the work
/// being measured: this process with the children it has waited for, plus the running reference
/// script, if any, with its own children.
#[derive(Clone, Copy)]
struct CpuTimes {
    machine: u64,
    ours: u64,
    at: Instant,
}

/// utime + stime + cutime + cstime of a `/proc/<pid>/stat`: all of the process's threads, and the
/// children it has waited for.
fn process_ticks(stat: &str) -> Option<u64> {
    // The 12th to 15th fields after the command's closing parenthesis (the command may hold
    // spaces and parentheses itself).
    let fields: Vec<u64> = stat.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).filter_map(|v| v.parse().ok()).collect();
    (fields.len() == 4).then(|| fields.iter().sum())
}

impl CpuTimes {
    /// The times now, with the running reference `child`'s. `None` where /proc cannot be read
    /// (not Linux): the checks are then skipped.
    fn now(child: Option<u32>) -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu user nice system idle iowait irq softirq steal: busy is all but idle and iowait
        // (steal included: time the hypervisor gave to another machine is not ours either).
        let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
        let machine = cpu.iter().sum::<u64>() - cpu.get(3)? - cpu.get(4)?;
        let mut ours = process_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        if let Some(pid) = child {
            ours += process_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
        }
        Some(CpuTimes { machine, ours, at: Instant::now() })
    }

    /// The cores' worth of CPU that other programs used since `earlier`.
    fn others_since(&self, earlier: &CpuTimes) -> f64 {
        // USER_HZ is 100 on every Linux the course runs on.
        let ticks = (self.machine - earlier.machine).saturating_sub(self.ours.saturating_sub(earlier.ours)) as f64;
        ticks / 100.0 / self.at.duration_since(earlier.at).as_secs_f64().max(1e-3)
    }
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The load check: polls every `POLL` for up to `POLLS` polls until the machine is quiet: other
/// programs under `OTHERS_MAX` of a core over the last interval, and either a load average of at
/// most `QUIET_LOAD` or `IDLE_FOR` of such intervals in a row (the load average lags a build that
/// has just ended by minutes). The load average is never enough alone: it lags a job that has
/// just started as much, and reads 0.1 with a core already busy. What was seen, and whether it
/// was quiet.
fn wait_for_quiet() -> (String, bool) {
    let mut idle_since: Option<CpuTimes> = None;
    let mut last = CpuTimes::now(None);
    // So that the first poll has an interval to judge too.
    std::thread::sleep(Duration::from_secs(1));
    for poll in 0..=POLLS {
        let load = load_average().unwrap_or(0.0);
        let now = CpuTimes::now(None);
        // Other programs' use over the last interval, and the interval.
        let others = now.zip(last).map(|(now, last)| (now.others_since(&last), now.at.duration_since(last.at)));
        let busy_now = others.is_some_and(|(o, _)| o >= OTHERS_MAX);
        if busy_now {
            idle_since = None;
        } else if idle_since.is_none() {
            idle_since = last;
        }
        let idle_for = now.zip(idle_since).map_or(Duration::ZERO, |(now, since)| now.at.duration_since(since.at));
        let others = others.map_or(String::new(), |(o, over)| format!(", others {o:.2} cores over the last {:.0} s", over.as_secs_f64()));
        if !busy_now && (load <= QUIET_LOAD || idle_for >= IDLE_FOR) {
            return (format!("quiet (load average {load:.2}{others})"), true);
        }
        if poll == POLLS {
            return (format!("busy for {} s (load average {load:.2}{others})", (POLL * POLLS).as_secs()), false);
        }
        println!("waiting for a quiet machine: load average {load:.2}{others} ...");
        last = now;
        std::thread::sleep(POLL);
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
// One timed run, of the course or of a reference
// ---------------------------------------------------------------------------------------------

/// What one run measured: samples per second, and the cores' worth of CPU other programs used
/// while its clock ran (`None` where /proc could not tell).
struct Timed {
    per_second: f64,
    others: Option<f64>,
}

/// Times `model` in the course on `device`: the model built and a warm-up, then the timed steps,
/// the machine's CPU times taken around exactly those.
fn course_run(model: &Model, images: &Matrix, device: &Device) -> Result<Timed> {
    let steps = (STEPS / model.steps_divisor).max(10);
    let data = if model.name == "linear_ae" { generate_3d_data(steps * model.batch, 0.1, 0.3, 0.1, 4) } else { images.head(steps * model.batch) };
    let warmup = if model.name == "linear_ae" { data.head(WARMUP * model.batch) } else { images.head((WARMUP / model.steps_divisor).max(2) * model.batch) };
    let mut run = (model.build)(device)?;
    run(&warmup)?;
    let before = CpuTimes::now(None);
    let start = Instant::now();
    run(&data)?;
    let per_second = data.rows() as f64 / start.elapsed().as_secs_f64();
    let others = before.zip(CpuTimes::now(None)).map(|(before, after)| after.others_since(&before));
    Ok(Timed { per_second, others })
}

/// A reference: a script under `scripts/` with its extra arguments and environment, and the one
/// model it times if it times only one.
struct Reference {
    label: &'static str,
    script: &'static str,
    extra: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    only: Option<&'static str>,
}

/// glibc's allocator told to keep freed memory, as the course's library tells it while it trains
/// (`engine/memory.rs`: both thresholds at 1 GiB): PyTorch gains more from it than the course
/// (lesson 09's U-Net 261 -> 166 s per epoch; the course's 0.19 -> 0.16 s per batch, 2026-12-05),
/// so the course is also compared with a PyTorch that has it.
const KEEP_FREED_MEMORY: &[(&str, &str)] = &[("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=1073741824")];

/// Keras 3, the slowest and only a third column, times the stacked autoencoder only.
const REFERENCES: [Reference; 4] = [
    Reference { label: "PyTorch", script: "torch_reference.py", extra: &[], env: &[], only: None },
    Reference { label: "PyTorch+keep", script: "torch_reference.py", extra: &[], env: KEEP_FREED_MEMORY, only: None },
    Reference { label: "tf.keras 2", script: "keras_reference.py", extra: &[], env: &[], only: None },
    Reference { label: "Keras 3", script: "keras_reference.py", extra: &["--keras3"], env: &[], only: Some("stacked_ae") },
];

/// Times `model` in `reference`, if it runs. The script times itself; the machine's CPU times are
/// taken (with the script's own, as it runs) when it prints `<label> <model> timing` just before
/// its clock starts and when it prints its result, so that the busy check covers the same steps
/// as its clock, not its start-up (importing TensorFlow takes several times as long as the
/// stacked AE's timed steps).
fn reference_run(reference: &Reference, model: &Model) -> Option<Timed> {
    let mut args = vec![STEPS.to_string(), WARMUP.to_string()];
    args.extend(reference.extra.iter().map(|a| a.to_string()));
    args.push(model.name.to_owned());
    let mut before = None;
    let mut timed = None;
    let result = reference::run(reference.script, &args, reference.env, |pid, line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(1) != Some(&model.name) {
            return;
        }
        if words.get(2) == Some(&"timing") {
            before = CpuTimes::now(Some(pid));
        } else if let Some(per_second) = reference::field(line, "samples_per_second") {
            let others = before.zip(CpuTimes::now(Some(pid))).map(|(before, after)| after.others_since(&before));
            timed = Some(Timed { per_second, others });
        }
    });
    match result {
        Ok(_) if timed.is_none() => println!("  {} {}: no result printed", reference.script, model.name),
        Ok(_) => {}
        Err(err) => println!("  {} {} failed: {}", reference.script, model.name, err.lines().last().unwrap_or_default()),
    }
    timed
}

// ---------------------------------------------------------------------------------------------
// Rounds and their statistics
// ---------------------------------------------------------------------------------------------

/// Rounds for `model`: `COURSE_BENCH_ROUNDS`, or 5 (3 for the slow convolutional models).
fn rounds(model: &Model) -> usize {
    let asked = std::env::var("COURSE_BENCH_ROUNDS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
    asked.unwrap_or(if matches!(model.name, "conv_ae" | "dcgan" | "diffusion" | "diffusion_sample") { 3 } else { 5 })
}

/// One side of a comparison (the course or a reference): its seconds per epoch in each round
/// (`None` where it did not run, so that round `i` is entry `i` on every side), and the most CPU
/// other programs used during one of its runs.
#[derive(Default)]
struct Side {
    seconds: Vec<Option<f64>>,
    busiest: f64,
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
    fn record(&mut self, run: Option<Timed>) {
        let others = run.as_ref().and_then(|r| r.others).unwrap_or(0.0);
        self.busiest = self.busiest.max(others);
        self.seconds.push(run.map(|r| EPOCH / r.per_second));
    }

    /// A run failed: later rounds skip this side (it would fail again, and print so again).
    fn failed(&self) -> bool {
        self.seconds.contains(&None)
    }

    fn disturbed(&self) -> bool {
        self.busiest >= OTHERS_MAX
    }

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

fn main() -> Result<()> {
    let only: Vec<String> = std::env::var("COURSE_BENCH_MODELS").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let chosen: Vec<Model> = models().into_iter().filter(|m| only.is_empty() || only.iter().any(|o| o == m.name)).collect();
    let (machine, quiet) = wait_for_quiet();
    let busy_ok = std::env::var("COURSE_BENCH_BUSY_OK").is_ok_and(|v| v == "1");
    println!("train_speed, {}", utc_now());
    println!("CPU: {}", cpu_line());
    println!("machine at start: {machine}{}", if quiet || !busy_ok { "" } else { "; COURSE_BENCH_BUSY_OK=1: timing anyway, the figures below may read slow" });
    if !quiet && !busy_ok {
        println!("Refusing to time a busy machine: a reference slowed by other work makes every ratio look better than it is. Stop what else runs (builds, notebooks), or set COURSE_BENCH_BUSY_OK=1.");
        std::process::exit(1);
    }
    // Resolved once, before any timing (a first use installs the reference environment).
    let references: &[Reference] = if reference::python().is_some() { &REFERENCES } else { &[] };
    let fashion = load_fashion_mnist()?;
    let images = fashion.train.x;
    // Backends other than the CPU's (wgpu, cuda when built in): the course's figures only.
    for backend in available_backends().into_iter().filter(|b| *b != "flex") {
        let device = device_named(backend)?.autodiff();
        println!("course, backend {backend}:");
        for model in &chosen {
            let run = course_run(model, &images, &device)?;
            println!("  {:<18} batch {:>3}: {:>7.2} s per 55,000-image epoch", model.name, model.batch, EPOCH / run.per_second);
        }
    }
    let device = device_named("flex")?;
    let peak = peak_flops(&device);
    println!("course on the CPU (flex): peak (1024³ matmul) {:.1} GFLOP/s", peak / 1e9);
    let device = device.autodiff();
    // Every side's rounds: `sides[0]` is the course, `sides[1 + i]` is `references[i]`.
    let mut rows: Vec<(&Model, Vec<Side>)> = Vec::new();
    for model in &chosen {
        let mut sides: Vec<Side> = (0..=references.len()).map(|_| Side::default()).collect();
        let n = rounds(model);
        for round in 1..=n {
            // The course first in odd rounds, last in even ones.
            let mut order: Vec<usize> = (0..sides.len()).collect();
            if round % 2 == 0 {
                order.rotate_left(1);
            }
            // Each run's figure, in the order they ran; `*` where other programs disturbed it.
            let mut figures = Vec::new();
            for i in order {
                let run = match i {
                    0 => Some(course_run(model, &images, &device)?),
                    _ if references[i - 1].only.is_some_and(|m| m != model.name) => continue,
                    _ if sides[i].failed() => None,
                    _ => reference_run(&references[i - 1], model),
                };
                let label = if i == 0 { "course" } else { references[i - 1].label };
                figures.push(match &run {
                    Some(r) => format!("{label} {:.2}{}", EPOCH / r.per_second, if r.others.is_some_and(|o| o >= OTHERS_MAX) { "*" } else { "" }),
                    None => format!("{label} -"),
                });
                sides[i].record(run);
            }
            println!("  {:<18} round {round}/{n}: {} s per epoch", model.name, figures.join(", "));
        }
        let ours = sides[0].median().unwrap_or(f64::NAN);
        let flops = 2.0 * model.step_macs * EPOCH / ours;
        let busiest = sides.iter().map(|s| s.busiest).fold(0.0, f64::max);
        println!(
            "  {:<18} batch {:>3}: median {ours:.2} s per epoch, {:.1} GFLOP/s = {:.1}% of peak; other programs used at most {busiest:.2} cores during a timed run",
            model.name,
            model.batch,
            flops / 1e9,
            100.0 * flops / peak
        );
        rows.push((model, sides));
    }
    table(&rows, references);
    Ok(())
}

/// The summary: seconds per epoch (medians over the rounds), each ratio's median and spread, and
/// the goal against the faster PyTorch; a row in which other programs disturbed a run is marked `*`.
fn table(rows: &[(&Model, Vec<Side>)], references: &[Reference]) {
    if references.is_empty() {
        println!("\nseconds per 55,000-image epoch, medians over the rounds (no reference ran):");
    } else {
        println!("\nseconds per 55,000-image epoch, medians over the rounds; ratio = course / reference, the median of the rounds' ratios (min-max); goal against the faster PyTorch (PyTorch+keep: glibc keeping freed memory, as the course does):");
    }
    print!("  {:<18} {:>8}", "model", "course");
    for reference in references {
        print!(" {:>12} {:>21}", reference.label, "ratio");
    }
    println!("{}", if references.is_empty() { String::new() } else { format!(" {:>5} {:>4}", "goal", "met") });
    let mut disturbed: Vec<String> = Vec::new();
    for (model, sides) in rows {
        let busiest = sides.iter().map(|s| s.busiest).fold(0.0, f64::max);
        if sides.iter().any(Side::disturbed) {
            disturbed.push(format!("{} {busiest:.2}", model.name));
        }
        let name = format!("{}{}", model.name, if sides.iter().any(Side::disturbed) { " *" } else { "" });
        print!("  {name:<18} {:>8.2}", sides[0].median().unwrap_or(f64::NAN));
        for side in &sides[1..] {
            match (side.median(), side.ratio(&sides[0])) {
                (Some(s), Some((r, lo, hi))) => print!(" {s:>12.2} {:>21}", format!("{r:.3} ({lo:.3}-{hi:.3})")),
                _ => print!(" {:>12} {:>21}", "-", "-"),
            }
        }
        // The goal holds against the faster PyTorch: the larger of the median ratios.
        let pytorch = references.iter().zip(&sides[1..]).filter(|(r, _)| r.script == "torch_reference.py").filter_map(|(_, side)| side.ratio(&sides[0]));
        if !references.is_empty() {
            let met = pytorch.map(|(r, ..)| r).reduce(f64::max).map_or("-", |r| if r <= model.goal { "yes" } else { "no" });
            print!(" {:>5.1} {met:>4}", model.goal);
        }
        println!();
    }
    if !disturbed.is_empty() {
        println!(
            "  * busy: during at least one run of this row other programs used more than {OTHERS_MAX} of a core (the most, in cores: {}); its figures are suspect",
            disturbed.join(", ")
        );
    }
}
