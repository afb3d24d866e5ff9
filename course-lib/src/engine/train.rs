//! The training engine: one training step ([`train_step`]) that every loop of the course runs,
//! Keras's `fit`, `evaluate` and `predict` built on it, and optimizers that keep their state.
//!
//! Like `model.fit(X, y, epochs=..., validation_data=...)`, [`fit`] shuffles the data every epoch
//! with a seed, reports the mean training loss and metrics of each epoch and the validation loss
//! and metrics at the end of it, shows its progress while an epoch runs, and returns the
//! [`History`]. It is a loop over [`train_step`], which a notebook can also call itself, as the
//! GAN's two-phase loop of lesson 07 does. A NaN or infinite loss stops training, puts back the
//! last model that gave a finite loss, and returns [`CourseError::Diverged`].
//!
//! An [`Optimizer`] keeps its state (momentum, Adam's moments) between steps and between `fit`
//! calls, as a Keras optimizer does once `compile` attached it to a model. Freezing part of a
//! model (Keras's `trainable = False`) is burn's [`Module::freeze`]: a frozen part gets no
//! gradient, so no step moves it (lesson 02's pretrained encoder, lesson 07's discriminator in
//! the generator's phase).

pub use crate::engine::history::History;
pub use crate::engine::model::{Description, LossTerm, TrainModel, TrainOutput};
use crate::engine::model::detached;
pub use crate::engine::optim::{Optimizer, OptimizerConfig};
use crate::engine::average::WeightAverage;
use crate::engine::matrix::Matrix;
use crate::engine::rng::shuffled_batches;
use crate::error::{CourseError, Result};
use crate::layers::Activation;
use crate::loss::BatchTarget;
pub use crate::loss::{Loss, Metric};
pub use crate::rng::Noise;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use std::io::Write;
use std::time::{Duration, Instant};

/// Gives a model inherent `fit`, `evaluate` and `predict` methods that call the generic
/// functions of this module.
///
/// Why: a notebook cell that calls the generic `fit::<M>` compiles its whole body (and burn's
/// generic code under it) in the cell, every time the cell runs. The methods are compiled once,
/// into the library, so a training cell in a notebook compiles in a moment.
macro_rules! compiled_training_methods {
    ($model:ty) => {
        impl $model {
            /// Trains the model in place: see [`crate::train::fit`].
            pub fn fit(
                &mut self,
                train: $crate::train::Data,
                validation: Option<$crate::train::Data>,
                config: &$crate::train::FitConfig,
            ) -> $crate::error::Result<$crate::train::History> {
                $crate::train::fit(self, train, validation, config)
            }

            /// The loss and metrics on `data`: see [`crate::train::evaluate`].
            pub fn evaluate(
                &self,
                data: $crate::train::Data,
                loss: $crate::train::Loss,
                metrics: &[$crate::train::Metric],
            ) -> $crate::error::Result<Vec<f64>> {
                $crate::train::evaluate(self, data, loss, metrics)
            }

            /// One training step on one batch: see [`crate::train::train_step`].
            pub fn train_step(
                &mut self,
                optimizer: &$crate::train::Optimizer,
                batch: $crate::train::Data,
                loss: $crate::train::Loss,
                metrics: &[$crate::train::Metric],
                noise: &mut $crate::train::Noise,
            ) -> $crate::error::Result<$crate::train::StepReport> {
                $crate::train::train_step(self, optimizer, batch, loss, metrics, noise)
            }

            /// The outputs for every row of `x`: see [`crate::train::predict`].
            pub fn predict(&self, x: &$crate::engine::matrix::Matrix) -> $crate::error::Result<$crate::engine::matrix::Matrix> {
                $crate::train::predict(self, x)
            }
        }
    };
}
pub(crate) use compiled_training_methods;

/// What the model's outputs are compared with.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// The inputs themselves: an autoencoder.
    Inputs,
    /// Other values of the output's shape (the clean images of a denoising autoencoder, the
    /// real/fake labels of a GAN's discriminator).
    Values(&'a Matrix),
    /// Class labels, for a classifier with one output per class.
    Labels(&'a [u8]),
}

/// Inputs and what the model should output for them.
#[derive(Clone, Copy, Debug)]
pub struct Data<'a> {
    /// One sample per row.
    pub x: &'a Matrix,
    /// The targets.
    pub targets: Targets<'a>,
}

/// A batch of samples copied out of a [`Data`]: what [`fit`] hands [`train_step`].
struct Batch {
    x: Matrix,
    targets: Option<BatchTargets>,
}

enum BatchTargets {
    Values(Matrix),
    Labels(Vec<u8>),
}

impl Batch {
    fn data(&self) -> Data<'_> {
        let targets = match &self.targets {
            None => Targets::Inputs,
            Some(BatchTargets::Values(y)) => Targets::Values(y),
            Some(BatchTargets::Labels(labels)) => Targets::Labels(labels),
        };
        Data { x: &self.x, targets }
    }
}

impl<'a> Data<'a> {
    /// Reconstruct `x`: `fit(X, X)`.
    pub fn autoencoder(x: &'a Matrix) -> Data<'a> {
        Data { x, targets: Targets::Inputs }
    }

    /// Predict `labels` from `x`: `fit(X, y)`.
    pub fn labelled(x: &'a Matrix, labels: &'a [u8]) -> Data<'a> {
        Data { x, targets: Targets::Labels(labels) }
    }

    /// Map `x` to `y`: `fit(X_noisy, X)`.
    pub fn pairs(x: &'a Matrix, y: &'a Matrix) -> Data<'a> {
        Data { x, targets: Targets::Values(y) }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.x.rows
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    fn check(&self, what: &str) -> Result<()> {
        self.x.check()?;
        if let Targets::Values(y) = self.targets {
            y.check()?;
        }
        let n = self.x.rows;
        if n == 0 {
            return Err(CourseError::shape(what, "at least one sample", "none"));
        }
        let target_rows = match self.targets {
            Targets::Inputs => n,
            Targets::Values(y) => y.rows,
            Targets::Labels(labels) => labels.len(),
        };
        if target_rows != n {
            return Err(CourseError::shape(
                what,
                format!("one target per input ({n})"),
                format!("{target_rows} targets"),
            ));
        }
        Ok(())
    }

    /// The samples `indices`, copied.
    fn gather(&self, indices: &[usize]) -> Batch {
        let targets = match self.targets {
            Targets::Inputs => None,
            Targets::Values(y) => Some(BatchTargets::Values(y.gather_rows(indices))),
            Targets::Labels(labels) => Some(BatchTargets::Labels(indices.iter().map(|&i| labels[i]).collect())),
        };
        Batch { x: self.x.gather_rows(indices), targets }
    }

    /// The targets of the whole data on the host, for the loss.
    fn host_target(&self) -> BatchTarget {
        match self.targets {
            Targets::Inputs => BatchTarget::Values(self.x.data.clone()),
            Targets::Values(y) => BatchTarget::Values(y.data.clone()),
            Targets::Labels(labels) => BatchTarget::Labels(labels.to_vec()),
        }
    }
}

/// The values of a tensor on the host.
fn host_values(t: &Tensor<2>) -> Vec<f32> {
    Matrix::from_tensor(t.clone()).data
}

/// How to train: Keras's `compile` and `fit` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    /// The optimizer, with its state.
    pub optimizer: Optimizer,
    /// The loss.
    pub loss: Loss,
    /// Metrics reported next to the loss.
    pub metrics: Vec<Metric>,
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per gradient step (Keras's default 32).
    pub batch_size: usize,
    /// Seeds the shuffling and the noise of stochastic layers, so that a run can be repeated
    /// exactly.
    pub seed: u64,
    /// Print progress while training (Keras's `verbose=1`).
    pub verbose: bool,
    /// The decay of an exponential moving average of the weights, when the run keeps one
    /// ([`FitConfig::with_average`]); `None` (Keras's `fit`) trains without.
    pub average: Option<f64>,
}

crate::config::setters! {
    FitConfig {
        /// Sets the number of epochs.
        epochs / with_epochs: usize,
        /// Sets the batch size.
        batch_size / with_batch_size: usize,
        /// Sets the seed of the shuffling and of the noise.
        seed / with_seed: u64,
        /// Turns progress printing on or off.
        verbose / with_verbose: bool,
    }
}

impl FitConfig {
    /// `compile(loss=..., optimizer=...)` with Keras's `fit` defaults: 1 epoch, batch 32.
    pub fn new(optimizer: impl Into<Optimizer>, loss: Loss) -> FitConfig {
        FitConfig { optimizer: optimizer.into(), loss, metrics: Vec::new(), epochs: 1, batch_size: 32, seed: 42, verbose: true, average: None }
    }

    /// Keeps an exponential moving average of the weights over the run's steps, with `decay`
    /// (0.999: about the last thousand steps), and ends the run with the averaged weights: the
    /// validation loss of each epoch is the average's too. The average follows the weights
    /// closely over the first steps and settles at `decay` once (1 + n)/(10 + n) reaches it: about
    /// 9,000 steps for 0.999 (five of lesson 09's epochs). Batch normalisation's running
    /// statistics are averaged too. Lesson 09's diffusion model is shipped this way (DDPM averages
    /// with 0.9999, Ho et al. 2020), because the weights after any one step make visibly worse
    /// samples than their average.
    pub fn with_average(mut self, decay: f64) -> Self {
        self.average = Some(decay);
        self
    }

    /// Sets the metrics.
    pub fn with_metrics(mut self, metrics: &[Metric]) -> Self {
        self.metrics = metrics.to_vec();
        self
    }

    /// Sets the optimizer (a fresh one from an [`OptimizerConfig`], or one that has trained
    /// before and keeps its state).
    pub fn with_optimizer(mut self, optimizer: impl Into<Optimizer>) -> Self {
        self.optimizer = optimizer.into();
        self
    }

    /// Refuses settings out of their range, with the fix.
    pub fn check(&self) -> Result<()> {
        self.optimizer.config().check()?;
        if self.epochs == 0 {
            return Err(CourseError::bad_config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(CourseError::bad_config("batch_size", "must be at least 1 (Keras's default is 32)"));
        }
        if let Some(decay) = self.average.filter(|d| !(0.0..1.0).contains(d)) {
            return Err(CourseError::bad_config("average", format!("the decay must be in [0, 1) (0.999 averages about the last thousand steps), got {decay}")));
        }
        Ok(())
    }
}

/// The device the model's parameters live on (the course device if it has none).
pub(crate) fn model_device<M: Module>(model: &M) -> Device {
    model.devices().into_iter().next().unwrap_or_else(crate::device::device)
}

/// Puts a model built on a plain device on the same device with gradients, in training mode.
fn ensure_trainable<M: Module>(model: &mut M) {
    let device = model_device(model);
    if !device.is_autodiff() {
        *model = model.clone().fork(&device.autodiff()).train();
    }
}

fn check_input<M: TrainModel>(model: &M, data: &Data, what: &str) -> Result<()> {
    data.check(what)?;
    if data.x.cols != model.input_size() {
        return Err(CourseError::shape(
            what,
            format!("{} features per sample, as the model takes", model.input_size()),
            format!("{} features per sample", data.x.cols),
        ));
    }
    Ok(())
}

/// Checks the targets of all of `data` against the model's outputs (one sample run through the
/// model in inference mode tells how many it has), so that a wrong label or target width is
/// refused before the first step changes the model.
fn check_targets<M: TrainModel>(model: &M, data: &Data, what: &str) -> Result<()> {
    let outputs = predict(model, &data.x.head(1))?.cols;
    match data.targets {
        Targets::Inputs | Targets::Values(_) => {
            let cols = if let Targets::Values(y) = data.targets { y.cols } else { data.x.cols };
            if cols != outputs {
                return Err(CourseError::shape(
                    what,
                    format!("targets of {outputs} values per sample, as the model outputs"),
                    format!("{cols} values per sample"),
                ));
            }
        }
        Targets::Labels(labels) => {
            if let Some((i, &label)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= outputs) {
                return Err(CourseError::shape(
                    what,
                    format!("labels below {outputs}, the model's number of outputs"),
                    format!("label {label} at sample {i}"),
                ));
            }
        }
    }
    Ok(())
}

/// The values the loss starts from (the logits, if it takes them) and their activation still to
/// apply.
fn loss_input(pre_activation: Tensor<2>, activation: Activation, loss: Loss) -> (Tensor<2>, Activation) {
    if activation == Activation::Linear || loss.takes_logits_of(activation) {
        (pre_activation, activation)
    } else {
        (activation.apply(pre_activation), Activation::Linear)
    }
}

/// What one [`train_step`] measured: the batch's loss before the update, and its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The loss: the compiled loss plus the model's terms.
    pub loss: f64,
    /// The model's loss terms by name (empty for most models); `loss` includes them.
    pub terms: Vec<(String, f64)>,
    /// The metrics asked for, in order.
    pub metrics: Vec<f64>,
    /// The batch's outputs before `activation` (on the host already, for the loss), one row per
    /// sample.
    logits: Matrix,
    activation: Activation,
}

impl StepReport {
    /// The model's outputs for the batch, as the model gives them (after the output activation):
    /// for instance the discriminator's D(x) in lesson 07.
    pub fn outputs(&self) -> Matrix {
        match self.activation {
            Activation::Sigmoid => Matrix { data: self.logits.data.iter().map(|&z| 1.0 / (1.0 + (-z).exp())).collect(), ..self.logits.clone() },
            Activation::Linear => self.logits.clone(),
            other => Matrix::from_tensor(other.apply(self.logits.to_tensor(&crate::device::device()))),
        }
    }
}

/// One forward pass with the loss, on the host: the objective to differentiate (on a training
/// pass) and the report.
fn forward_loss<M: TrainModel>(model: &M, batch: Data, loss: Loss, metrics: &[Metric], noise: &mut Noise, device: &Device) -> Result<(Tensor<1>, StepReport)> {
    let training = noise.is_training();
    let TrainOutput { pre_activation, activation, terms } = model.forward_train(batch.x.to_tensor(device), noise);
    let (output, activation) = loss_input(pre_activation, activation, loss);
    let [rows, cols] = output.dims();
    let target = batch.host_target();
    if let BatchTarget::Values(y) = &target {
        if y.len() != rows * cols {
            return Err(CourseError::shape(
                "targets",
                format!("targets of {cols} values per sample, as the model outputs"),
                format!("{} values per sample", y.len() / rows.max(1)),
            ));
        }
    }
    let logits = Matrix { rows, cols, data: host_values(&output) };
    let host = loss.batch(activation, &logits.data, cols, &target, metrics, training)?;
    let mut report = StepReport { loss: host.value, terms: Vec::new(), metrics: host.metrics, logits, activation };
    // Its derivative with respect to the output is the loss's gradient: autodiff takes it from
    // there (see crate::loss for why the loss itself is computed on the host).
    let mut objective = if training {
        (output * Tensor::<2>::from_data(TensorData::new(host.gradient, [rows, cols]), device)).sum()
    } else {
        Tensor::<1>::zeros([1], device)
    };
    for term in terms {
        let value = term.value.clone().into_scalar::<f32>() as f64;
        report.loss += value;
        report.terms.push((term.name, value));
        if training {
            objective = objective + term.value;
        }
    }
    if !terms_named_once(&report.terms) {
        return Err(CourseError::bad_config("forward_train", "two loss terms have the same name; give each its own"));
    }
    Ok((objective, report))
}

fn terms_named_once(terms: &[(String, f64)]) -> bool {
    terms.iter().enumerate().all(|(i, (a, _))| terms[..i].iter().all(|(b, _)| a != b))
}

/// One training step: the model's output for `batch` (a training pass, drawing noise from
/// `noise`), the loss and metrics on the host, the gradients, and one update of the model's
/// parameters that are not frozen by `optimizer`. Every training loop of the course is a loop over
/// this function: [`fit`], the greedy layer-wise training of lesson 02, the GAN's two phases of
/// lesson 07.
///
/// A NaN or infinite loss leaves the model's parameters as they were and returns
/// [`CourseError::Diverged`] (with epoch and batch 0: the caller knows where it was); batch
/// normalisation's running statistics have taken the batch in by then. Those are shared by every
/// `clone` of a model (burn's), so a step on a clone moves the original's too: the course's loops
/// copy a model they must keep with `engine::model::detached`.
pub fn train_step<M: TrainModel>(model: &mut M, optimizer: &Optimizer, batch: Data, loss: Loss, metrics: &[Metric], noise: &mut Noise) -> Result<StepReport> {
    optimizer.config().check()?;
    check_input(model, &batch, "train_step: batch")?;
    ensure_trainable(model);
    let device = model_device(model);
    if !noise.is_training() {
        return Err(CourseError::bad_config("noise", "a training step needs a training Noise: use Noise::training(seed)"));
    }
    let (objective, report) = forward_loss(model, batch, loss, metrics, noise, &device)?;
    if !report.loss.is_finite() {
        return Err(CourseError::Diverged {
            epoch: 0,
            batch: 0,
            learning_rate: optimizer.config().learning_rate(),
            history: Box::default(),
        });
    }
    let grads = GradientsParams::from_grads(objective.backward(), &*model);
    *model = optimizer.step(model.clone(), grads);
    Ok(report)
}

/// The history's series names for a run whose steps report `first`.
pub(crate) fn history_names(first: &StepReport, loss: Loss, metrics: &[Metric], validation: bool) -> Vec<String> {
    let mut names = vec!["loss".to_owned()];
    if !first.terms.is_empty() {
        // The compiled loss alone, then each term: the parts that add up to `loss`.
        names.push(loss.name().to_owned());
        names.extend(first.terms.iter().map(|(name, _)| name.clone()));
    }
    names.extend(metrics.iter().map(|m| m.name().to_owned()));
    if validation {
        let train_names = names.clone();
        names.extend(train_names.iter().map(|n| format!("val_{n}")));
    }
    names
}

/// The report's values in the order of [`history_names`].
pub(crate) fn report_row(report: &StepReport) -> Vec<f64> {
    let mut row = vec![report.loss];
    if !report.terms.is_empty() {
        let terms: f64 = report.terms.iter().map(|(_, v)| v).sum();
        row.push(report.loss - terms);
        row.extend(report.terms.iter().map(|(_, v)| *v));
    }
    row.extend(&report.metrics);
    row
}

/// Trains `model` in place, as Keras's `model.fit(x, y, validation_data=...)`: epochs of
/// shuffled batches, each a [`train_step`].
///
/// Everything is checked before the first step (settings, shapes, every label). Returns the
/// per-epoch history. If the loss becomes NaN or infinite, `model` is left with the last
/// parameters that gave a finite loss (those before the update that made it NaN or infinite, batch
/// normalisation's running statistics included) and [`CourseError::Diverged`] says what to change.
pub fn fit<M: TrainModel>(model: &mut M, train: Data, validation: Option<Data>, config: &FitConfig) -> Result<History> {
    check_fit(model, &train, validation.as_ref(), config)?;
    fit_epochs(model, &train, validation.as_ref(), config, FitState::new(config), |_, _| Ok(()))
}

/// [`fit`] that survives the kernel: after every epoch it writes `checkpoint` (the model, the
/// average of its weights if the run keeps one, the optimizer's state, the history so far and the
/// random generator's state), and when `checkpoint` already exists it resumes from it. A run killed
/// in the middle (out of memory, a restarted kernel, a closed laptop) and started again with the
/// same call ends with the same model as one that was never interrupted.
///
/// A checkpoint of another model or of other training settings is refused, and left as it is.
pub fn fit_resumable<M: TrainModel>(model: &mut M, train: Data, validation: Option<Data>, config: &FitConfig, checkpoint: impl AsRef<std::path::Path>) -> Result<History> {
    let path = checkpoint.as_ref();
    check_fit(model, &train, validation.as_ref(), config)?;
    let settings = fit_settings(config, &train);
    let mut state = FitState::new(config);
    if path.exists() {
        let (loaded, saved): (M, SavedFit) = crate::checkpoint::load_training(path, &*model, &[("optimizer", &config.optimizer)], &settings)?;
        state = saved.state;
        *model = loaded;
        if config.verbose {
            println!("Resuming from {} after epoch {} of {}.", path.display(), state.history.epochs.len(), config.epochs);
        }
    }
    fit_epochs(model, &train, validation.as_ref(), config, state, |model, state| {
        let saved = SavedFit { settings: settings.clone(), state: state.clone() };
        let average = state.average.as_ref().map(|a| a.apply(model));
        crate::checkpoint::save_training(path, model, average.as_ref(), &[("optimizer", &config.optimizer)], &saved)
    })
}

/// The settings a resumed run must share with the run that saved it.
fn fit_settings(config: &FitConfig, train: &Data) -> String {
    format!(
        "{:?}, loss {}, batch {}, seed {}, {} training samples{}",
        config.optimizer.config(),
        config.loss.name(),
        config.batch_size,
        config.seed,
        train.len(),
        average_setting(config)
    )
}

/// The average's part of a resumable run's settings: nothing without one, so that the
/// checkpoints of runs without stay resumable.
pub(crate) fn average_setting(config: &FitConfig) -> String {
    config.average.map(|decay| format!(", weights averaged with decay {decay}")).unwrap_or_default()
}

/// What a resumable run saves besides the tensors.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct SavedFit {
    settings: String,
    state: FitState,
}

impl crate::checkpoint::RunState for SavedFit {
    fn settings(&self) -> &str {
        &self.settings
    }

    fn average(&mut self) -> Option<&mut WeightAverage> {
        self.state.average.as_mut()
    }
}

/// Where a run of [`fit`] stands between epochs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct FitState {
    history: History,
    noise: Noise,
    /// The average of the weights, when the run keeps one (its values are in the checkpoint's
    /// `average` section).
    #[serde(default)]
    average: Option<WeightAverage>,
}

impl FitState {
    fn new(config: &FitConfig) -> FitState {
        // One generator for the shuffling and the noise, so that the step loop of a notebook that
        // draws its batches the same way repeats `fit` exactly.
        FitState { history: History::default(), noise: Noise::training(config.seed), average: config.average.map(WeightAverage::new) }
    }
}

fn check_fit<M: TrainModel>(model: &M, train: &Data, validation: Option<&Data>, config: &FitConfig) -> Result<()> {
    config.check()?;
    check_input(model, train, "fit: training data")?;
    check_targets(model, train, "fit: training targets")?;
    if let Some(valid) = validation {
        check_input(model, valid, "fit: validation data")?;
        check_targets(model, valid, "fit: validation targets")?;
    }
    Ok(())
}

/// The epochs of [`fit`] from `state` on, calling `after_epoch` at the end of each.
fn fit_epochs<M: TrainModel>(
    model: &mut M,
    train: &Data,
    validation: Option<&Data>,
    config: &FitConfig,
    mut state: FitState,
    mut after_epoch: impl FnMut(&M, &FitState) -> Result<()>,
) -> Result<History> {
    ensure_trainable(model);
    // Running statistics of its own: a clone made before this run (`let before = model.clone()`)
    // keeps its statistics, as it keeps its weights.
    *model = detached(model);
    let _memory = crate::engine::memory::Hold::new();
    let mut last_good = detached(model);
    for epoch in state.history.epochs.len() + 1..=config.epochs {
        let start = Instant::now();
        let batches = shuffled_batches(train.x.rows, config.batch_size, state.noise.rng());
        let mut progress = Progress::new(epoch, config.epochs, batches.len(), config.verbose);
        // Sums weighted by batch size, so that the epoch's value is the mean over samples.
        let mut sums: Vec<f64> = Vec::new();
        let mut seen = 0usize;
        for (b, indices) in batches.iter().enumerate() {
            let batch = train.gather(indices);
            // The model this step starts from, its running statistics included ([`detached`]: the
            // tensors are shared, not copied).
            let before = detached(model);
            let report = match train_step(model, &config.optimizer, batch.data(), config.loss, &config.metrics, &mut state.noise) {
                Err(CourseError::Diverged { learning_rate, .. }) => {
                    // This step's parameters gave a NaN or infinite loss: go back to the ones
                    // before the update that made them.
                    *model = last_good;
                    return Err(CourseError::Diverged { epoch, batch: b + 1, learning_rate, history: Box::new(state.history) });
                }
                other => other?,
            };
            last_good = before;
            if let Some(average) = &mut state.average {
                average.update(model);
            }
            if state.history.names.is_empty() {
                state.history.names = history_names(&report, config.loss, &config.metrics, validation.is_some());
            }
            let row = report_row(&report);
            sums.resize(row.len(), 0.0);
            for (s, v) in sums.iter_mut().zip(&row) {
                *s += v * indices.len() as f64;
            }
            seen += indices.len();
            progress.batch_done(b + 1, sums[0] / seen as f64);
        }
        let mut row: Vec<f64> = sums.iter().map(|s| s / seen as f64).collect();
        if let Some(valid) = validation {
            // The validation loss of the weights the run ends with: the average's, if it keeps one.
            let averaged = state.average.as_ref().map(|a| a.apply(model));
            let report = evaluate_report(averaged.as_ref().unwrap_or(model), valid, config.loss, &config.metrics, config.batch_size)?;
            row.extend(report_row(&report));
        }
        let seconds = start.elapsed().as_secs_f64();
        progress.epoch_done(&state.history.names, &row, seconds);
        state.history.epochs.push(row);
        state.history.seconds.push(seconds);
        after_epoch(model, &state)?;
    }
    if let Some(average) = &state.average {
        *model = average.apply(model);
    }
    Ok(state.history)
}

/// Samples per forward pass when only predicting: large batches are faster, and the result does
/// not depend on the batch size.
const PREDICT_BATCH: usize = 1000;

/// The model's outputs for every row of `x`, in inference mode (Keras's `model.predict`).
pub fn predict<M: TrainModel>(model: &M, x: &Matrix) -> Result<Matrix> {
    predict_with(model, x, M::forward)
}

/// Runs `f(model, batch)` over the rows of `x` in large batches, in inference mode (on
/// `model.valid()`, without gradients); shared by [`predict`] and the lessons' `codings`.
pub fn predict_with<M: TrainModel>(model: &M, x: &Matrix, f: impl Fn(&M, Tensor<2>) -> Tensor<2>) -> Result<Matrix> {
    x.check()?;
    let input_size = model.input_size();
    if x.cols != input_size {
        return Err(CourseError::shape(
            "predict",
            format!("{input_size} features per sample, as the model takes"),
            format!("{}", x.cols),
        ));
    }
    let model = model.valid();
    let device = model_device(&model).without_autodiff();
    let _memory = crate::engine::memory::Hold::new();
    let mut out: Option<Matrix> = None;
    for start in (0..x.rows).step_by(PREDICT_BATCH) {
        let indices: Vec<usize> = (start..(start + PREDICT_BATCH).min(x.rows)).collect();
        let batch = Matrix::from_tensor(f(&model, x.gather_rows(&indices).into_tensor(&device)));
        match &mut out {
            None => out = Some(batch),
            Some(m) => {
                m.rows += batch.rows;
                m.data.extend(batch.data);
            }
        }
    }
    out.ok_or_else(|| CourseError::shape("predict", "at least one sample", "none"))
}

/// The loss and metrics of `model` on `data`, in inference mode (Keras's `model.evaluate`): the
/// loss first (including the model's loss terms), then the metrics.
pub fn evaluate<M: TrainModel>(model: &M, data: Data, loss: Loss, metrics: &[Metric]) -> Result<Vec<f64>> {
    check_input(model, &data, "evaluate")?;
    check_targets(model, &data, "evaluate: targets")?;
    let report = evaluate_report(model, &data, loss, metrics, EVALUATE_BATCH)?;
    let mut row = vec![report.loss];
    row.extend(report.metrics);
    Ok(row)
}

/// Keras's `evaluate(batch_size=32)` default.
const EVALUATE_BATCH: usize = 32;

/// The mean report over `data` in batches of `batch_size` (the loss terms of some models depend
/// on it: the KL sparsity loss is divided by the batch size, as in tf.keras), in inference mode.
/// `fit` evaluates with its training batch size, as Keras's `validation_batch_size` does by
/// default.
pub(crate) fn evaluate_report<M: TrainModel>(model: &M, data: &Data, loss: Loss, metrics: &[Metric], batch_size: usize) -> Result<StepReport> {
    let model = model.valid();
    let device = model_device(&model).without_autodiff();
    let _memory = crate::engine::memory::Hold::new();
    let mut noise = Noise::inference();
    let mut total: Option<StepReport> = None;
    let batch_size = batch_size.max(1);
    for start in (0..data.x.rows).step_by(batch_size) {
        let indices: Vec<usize> = (start..(start + batch_size).min(data.x.rows)).collect();
        let batch = data.gather(&indices);
        let (_, report) = forward_loss(&model, batch.data(), loss, metrics, &mut noise, &device)?;
        let w = indices.len() as f64 / data.x.rows as f64;
        let sum = total.get_or_insert_with(|| StepReport {
            loss: 0.0,
            terms: report.terms.iter().map(|(n, _)| (n.clone(), 0.0)).collect(),
            metrics: vec![0.0; report.metrics.len()],
            logits: Matrix { rows: 0, cols: report.logits.cols, data: Vec::new() },
            activation: report.activation,
        });
        sum.loss += w * report.loss;
        for ((_, s), (_, v)) in sum.terms.iter_mut().zip(&report.terms) {
            *s += w * v;
        }
        for (s, v) in sum.metrics.iter_mut().zip(&report.metrics) {
            *s += w * v;
        }
    }
    total.ok_or_else(|| CourseError::shape("evaluate", "at least one sample", "none"))
}

/// Progress lines while an epoch runs. The Rust kernel forwards output line by line, so instead
/// of a redrawn bar there is one short line every few seconds, then one line per epoch.
pub(crate) struct Progress {
    epoch: usize,
    epochs: usize,
    batches: usize,
    enabled: bool,
    start: Instant,
    last_print: Instant,
}

/// Seconds between progress lines within an epoch.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

impl Progress {
    pub(crate) fn new(epoch: usize, epochs: usize, batches: usize, enabled: bool) -> Progress {
        let now = Instant::now();
        Progress { epoch, epochs, batches, enabled, start: now, last_print: now }
    }

    pub(crate) fn batch_done(&mut self, done: usize, mean_loss: f64) {
        if !self.enabled || done == self.batches || self.last_print.elapsed() < PROGRESS_EVERY {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let remaining = elapsed / done as f64 * (self.batches - done) as f64;
        let filled = 20 * done / self.batches;
        println!(
            "Epoch {}/{} [{}{}] {done}/{} - loss: {mean_loss:.4} - elapsed {elapsed:.0}s - remaining ~{remaining:.0}s",
            self.epoch,
            self.epochs,
            "=".repeat(filled),
            ".".repeat(20 - filled),
            self.batches,
        );
        let _ = std::io::stdout().flush();
        self.last_print = Instant::now();
    }

    pub(crate) fn epoch_done(&self, names: &[String], values: &[f64], seconds: f64) {
        if !self.enabled {
            return;
        }
        let mut line = format!("Epoch {}/{} - {seconds:.1}s", self.epoch, self.epochs);
        for (name, v) in names.iter().zip(values) {
            line.push_str(&format!(" - {name}: {v:.4}"));
        }
        println!("{line}");
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::DenseStack;
    use crate::rng::Rng;

    #[derive(Module, Debug)]
    struct Tiny {
        stack: DenseStack,
    }

    impl TrainModel for Tiny {
        fn input_size(&self) -> usize {
            self.stack.inputs()
        }

        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            self.stack.forward(x)
        }

        fn forward_train(&self, x: Tensor<2>, _noise: &mut Noise) -> TrainOutput {
            let (pre_activation, activation) = self.stack.forward_split(x);
            TrainOutput::split(pre_activation, activation)
        }
    }

    fn tiny(seed: u64) -> Tiny {
        Tiny { stack: DenseStack::new(4, &[3, 4], Activation::Selu, Activation::Sigmoid, &mut Rng::new(seed), &Device::flex().autodiff()) }
    }

    fn toy(rows: usize) -> Matrix {
        Matrix { rows, cols: 4, data: (0..rows * 4).map(|i| ((i * 7) % 10) as f32 / 10.0).collect() }
    }

    fn weights(model: &Tiny) -> Vec<f32> {
        model.stack.layers.iter().flat_map(|l| Matrix::from_tensor(l.weight.val().detach()).data).collect()
    }

    /// `fit` hands the loss's hand-written gradient to autodiff (see [`crate::loss`]): the
    /// weights must get the gradient autodiff gives through the loss written in tensor operations.
    #[test]
    fn the_loss_gradient_reaches_the_weights_as_autodiff_would() {
        let device = Device::flex().autodiff();
        let model = tiny(1);
        let x = toy(5);

        let (objective, report) = forward_loss(&model, Data::autoencoder(&x), Loss::BinaryCrossEntropy, &[], &mut Noise::training(0), &device).unwrap();
        let ours = objective.backward();

        let (p, y) = (model.forward(x.to_tensor(&device)), x.to_tensor(&device));
        let bce = (y.clone() * p.clone().log() + y.neg().add_scalar(1.0) * p.neg().add_scalar(1.0).log()).mean().neg();
        assert!((bce.clone().into_scalar::<f32>() as f64 - report.loss).abs() < 1e-5);
        let autodiff = bce.backward();

        for layer in &model.stack.layers {
            let a = Matrix::from_tensor(layer.weight.val().grad(&ours).unwrap()).data;
            let b = Matrix::from_tensor(layer.weight.val().grad(&autodiff).unwrap()).data;
            for (a, b) in a.iter().zip(&b) {
                assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    /// `fit` is a loop over `train_step`: a notebook's own loop over the same shuffled batches
    /// gives the same weights, bit for bit.
    #[test]
    fn a_loop_of_train_steps_is_one_epoch_of_fit() {
        let x = toy(50);
        let config = FitConfig::new(OptimizerConfig::adam(0.01), Loss::BinaryCrossEntropy).with_batch_size(8).with_verbose(false).with_seed(9);
        let mut fitted = tiny(2);
        fitted.fit_for_test(&x, &config);

        let mut stepped = tiny(2);
        let optimizer = Optimizer::new(OptimizerConfig::adam(0.01));
        let mut noise = Noise::training(9);
        for indices in shuffled_batches(x.rows, 8, noise.rng()) {
            let batch = x.gather(&indices).unwrap();
            train_step(&mut stepped, &optimizer, Data::autoencoder(&batch), Loss::BinaryCrossEntropy, &[], &mut noise).unwrap();
        }
        assert_eq!(weights(&stepped), weights(&fitted));
        assert_eq!(optimizer.steps(), 7);
    }

    impl Tiny {
        fn fit_for_test(&mut self, x: &Matrix, config: &FitConfig) -> History {
            fit(self, Data::autoencoder(x), None, config).unwrap()
        }
    }

    /// Keras keeps the optimizer between `fit` calls: two one-epoch calls with one config are one
    /// two-epoch call; a fresh optimizer for the second call (Adam's moments restarted) is not.
    #[test]
    fn the_optimizer_state_survives_two_fit_calls() {
        let x = toy(40);
        let config = FitConfig::new(OptimizerConfig::adam(0.05), Loss::BinaryCrossEntropy).with_verbose(false).with_batch_size(40);
        let mut twice = tiny(3);
        twice.fit_for_test(&x, &config);
        twice.fit_for_test(&x, &config);
        assert_eq!(config.optimizer.steps(), 2);

        let mut once = tiny(3);
        once.fit_for_test(&x, &config.clone().with_optimizer(OptimizerConfig::adam(0.05)).with_epochs(2));
        let close = weights(&twice).iter().zip(weights(&once)).all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(close, "two fit calls differ from one of two epochs");

        let mut restarted = tiny(3);
        restarted.fit_for_test(&x, &config.clone().with_optimizer(OptimizerConfig::adam(0.05)));
        restarted.fit_for_test(&x, &config.clone().with_optimizer(OptimizerConfig::adam(0.05)));
        assert_ne!(weights(&restarted), weights(&once), "a fresh Adam must not continue the moments");
    }

    /// Freezing is burn's `Module::freeze`: a frozen part gets no gradient and no update, and the
    /// optimizer's state for it is untouched; unfreezing trains it again.
    #[test]
    fn a_frozen_part_does_not_move() {
        let x = toy(16);
        let mut model = tiny(4);
        model.stack.layers[0] = model.stack.layers[0].clone().freeze();
        let (first, second) = (Matrix::from_tensor(model.stack.layers[0].weight.val().detach()), Matrix::from_tensor(model.stack.layers[1].weight.val().detach()));
        let optimizer = Optimizer::new(OptimizerConfig::sgd(0.5));
        train_step(&mut model, &optimizer, Data::autoencoder(&x), Loss::BinaryCrossEntropy, &[], &mut Noise::training(0)).unwrap();
        assert_eq!(Matrix::from_tensor(model.stack.layers[0].weight.val().detach()), first);
        assert_ne!(Matrix::from_tensor(model.stack.layers[1].weight.val().detach()), second);
        model.stack.layers[0] = model.stack.layers[0].clone().unfreeze();
        train_step(&mut model, &optimizer, Data::autoencoder(&x), Loss::BinaryCrossEntropy, &[], &mut Noise::training(0)).unwrap();
        assert_ne!(Matrix::from_tensor(model.stack.layers[0].weight.val().detach()), first);
    }

    /// Bad labels and target widths are refused before the first step, with the model unchanged.
    #[test]
    fn bad_targets_are_refused_before_training() {
        let x = toy(10);
        let mut model = tiny(5);
        let before = weights(&model);
        let mut labels = vec![0u8; 10];
        labels[9] = 4;
        let config = FitConfig::new(OptimizerConfig::sgd(0.1), Loss::SparseCategoricalCrossEntropy).with_verbose(false);
        let err = fit(&mut model, Data::labelled(&x, &labels), None, &config).unwrap_err().to_string();
        assert!(err.contains("labels below 4") && err.contains("sample 9"), "{err}");
        let wide = Matrix::new(10, 5, vec![0.0; 50]).unwrap();
        let config = FitConfig::new(OptimizerConfig::sgd(0.1), Loss::Mse).with_verbose(false);
        let err = fit(&mut model, Data::autoencoder(&x), Some(Data::pairs(&x, &wide)), &config).unwrap_err().to_string();
        assert!(err.contains("validation targets") && err.contains("5 values"), "{err}");
        assert_eq!(weights(&model), before);
    }
}
