//! One Keras-like `fit` for every model of the course that learns by gradient descent on
//! mini-batches: autoencoders (the targets are the inputs), denoising autoencoders (other
//! targets) and classifiers (labels).
//!
//! Like `model.fit(X, y, epochs=..., validation_data=...)` it shuffles the data every epoch with
//! a seed, reports the mean training loss and metrics of each epoch and the validation loss and
//! metrics at the end of it, shows its progress while an epoch runs, and returns the [`History`].
//! A NaN or infinite loss stops training, puts back the last model that gave a finite loss, and
//! returns [`CourseError::Diverged`].

use crate::data::{Matrix, shuffled_batches};
use crate::error::{CourseError, Result};
use crate::layers::Activation;
use crate::loss::{BatchTarget, EPSILON};
pub use crate::loss::{Loss, Metric};
use crate::rng::Rng;
use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

/// A model [`fit`] can train.
pub trait TrainModel: Module {
    /// The number of features of one input sample (784 for Fashion-MNIST images).
    fn input_size(&self) -> usize;

    /// The model's output.
    ///
    /// # Shapes
    /// `[batch, input_size]` → `[batch, outputs]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// The output for training, split before the output layer's activation so that [`fit`]
    /// can take the loss from the logits where Keras does (see [`crate::loss`]), and any loss
    /// the model adds to the training loss (the variational autoencoder's latent loss, for
    /// instance). The default: the whole output, no activation left, no added loss.
    fn forward_train(&self, x: Tensor<2>) -> TrainOutput {
        TrainOutput { pre_activation: self.forward(x), activation: Activation::Linear, extra_loss: None }
    }
}

/// What a model gives [`fit`] for one batch (see [`TrainModel::forward_train`]).
pub struct TrainOutput {
    /// `[batch, outputs]`: the output before `activation`.
    pub pre_activation: Tensor<2>,
    /// The output layer's activation, still to be applied.
    pub activation: Activation,
    /// A loss the model adds, already averaged over the batch's samples.
    pub extra_loss: Option<Tensor<1>>,
}

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

            /// The outputs for every row of `x`: see [`crate::train::predict`].
            pub fn predict(&self, x: &$crate::data::Matrix) -> $crate::error::Result<$crate::data::Matrix> {
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
    /// Other values of the output's shape (the clean images of a denoising autoencoder).
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

    fn check(&self, what: &str) -> Result<()> {
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

    /// The batch of samples `indices`: the inputs on `device`, and the targets on the host.
    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, BatchTarget) {
        let x = self.x.gather(indices);
        let target = match self.targets {
            Targets::Inputs => BatchTarget::Values(x.data.clone()),
            Targets::Values(y) => BatchTarget::Values(y.gather(indices).data),
            Targets::Labels(labels) => BatchTarget::Labels(indices.iter().map(|&i| labels[i]).collect()),
        };
        (x.into_tensor(device), target)
    }
}

/// The model's output for the loss: the values the loss starts from (the logits, if it takes
/// them), their activation still to apply, and the model's added loss.
fn loss_input(output: TrainOutput, loss: Loss) -> (Tensor<2>, Activation, Option<Tensor<1>>) {
    let TrainOutput { pre_activation, activation, extra_loss } = output;
    if activation == Activation::Linear || loss.takes_logits_of(activation) {
        (pre_activation, activation, extra_loss)
    } else {
        (activation.apply(pre_activation), Activation::Linear, extra_loss)
    }
}

/// The values of a tensor on the host.
fn host_values(t: &Tensor<2>) -> Vec<f32> {
    Matrix::from_tensor(t.clone()).data
}

/// The optimizer and its hyperparameters, with Keras's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// `keras.optimizers.SGD(learning_rate, momentum)`.
    Sgd {
        /// Step size.
        learning_rate: f64,
        /// Momentum factor (0 for plain SGD).
        momentum: f64,
    },
    /// `keras.optimizers.RMSprop(learning_rate, rho)`.
    RmsProp {
        /// Step size.
        learning_rate: f64,
        /// Decay of the running mean of squared gradients.
        rho: f64,
    },
    /// `keras.optimizers.Adam(learning_rate, beta_1, beta_2)`.
    Adam {
        /// Step size.
        learning_rate: f64,
        /// Decay of the first moment.
        beta_1: f64,
        /// Decay of the second moment.
        beta_2: f64,
    },
}

impl OptimizerConfig {
    /// Plain SGD (Keras's default momentum 0).
    pub fn sgd(learning_rate: f64) -> Self {
        OptimizerConfig::Sgd { learning_rate, momentum: 0.0 }
    }

    /// RMSprop with Keras's default `rho = 0.9`.
    pub fn rmsprop(learning_rate: f64) -> Self {
        OptimizerConfig::RmsProp { learning_rate, rho: 0.9 }
    }

    /// Adam with Keras's defaults `beta_1 = 0.9`, `beta_2 = 0.999`.
    pub fn adam(learning_rate: f64) -> Self {
        OptimizerConfig::Adam { learning_rate, beta_1: 0.9, beta_2: 0.999 }
    }

    /// The step size.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { learning_rate, .. }
            | OptimizerConfig::RmsProp { learning_rate, .. }
            | OptimizerConfig::Adam { learning_rate, .. } => learning_rate,
        }
    }

    fn check(&self) -> Result<()> {
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(CourseError::bad_config(
                "learning_rate",
                format!("must be a positive number, got {lr}; the slides use 0.1 to 1.5 for SGD and 0.001 for Adam"),
            ));
        }
        let unit = |name: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(CourseError::bad_config(name, format!("must be in [0, 1), got {v}")))
            }
        };
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => unit("momentum", momentum),
            OptimizerConfig::RmsProp { rho, .. } => unit("rho", rho),
            OptimizerConfig::Adam { beta_1, beta_2, .. } => {
                unit("beta_1", beta_1)?;
                unit("beta_2", beta_2)
            }
        }
    }

    fn build(&self) -> ModuleOptimizer {
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => {
                let momentum = (momentum > 0.0).then(|| {
                    // Keras's momentum has no dampening.
                    MomentumConfig { momentum, dampening: 0.0, nesterov: false }
                });
                SgdConfig::new().with_momentum(momentum).init()
            }
            OptimizerConfig::RmsProp { rho, .. } => RmsPropConfig::new()
                .with_alpha(rho as f32)
                .with_momentum(0.0)
                .with_epsilon(EPSILON as f32)
                .init(),
            OptimizerConfig::Adam { beta_1, beta_2, .. } => AdamConfig::new()
                .with_beta_1(beta_1 as f32)
                .with_beta_2(beta_2 as f32)
                .with_epsilon(EPSILON as f32)
                .init(),
        }
    }
}

/// How to train: Keras's `compile` and `fit` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The loss.
    pub loss: Loss,
    /// Metrics reported next to the loss.
    pub metrics: Vec<Metric>,
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per gradient step (Keras's default 32).
    pub batch_size: usize,
    /// Seeds the shuffling, so that a run can be repeated exactly.
    pub seed: u64,
    /// Print progress while training (Keras's `verbose=1`).
    pub verbose: bool,
}

impl FitConfig {
    /// `compile(loss=..., optimizer=...)` with Keras's `fit` defaults: 1 epoch, batch 32.
    pub fn new(optimizer: OptimizerConfig, loss: Loss) -> FitConfig {
        FitConfig { optimizer, loss, metrics: Vec::new(), epochs: 1, batch_size: 32, seed: 42, verbose: true }
    }

    /// Sets the number of epochs.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the metrics.
    pub fn with_metrics(mut self, metrics: &[Metric]) -> Self {
        self.metrics = metrics.to_vec();
        self
    }

    /// Sets the shuffling seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Turns progress printing on or off.
    pub fn with_verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sets the optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    fn check(&self) -> Result<()> {
        self.optimizer.check()?;
        if self.epochs == 0 {
            return Err(CourseError::bad_config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(CourseError::bad_config("batch_size", "must be at least 1 (Keras's default is 32)"));
        }
        Ok(())
    }
}

/// The per-epoch record of a training run, as Keras's `history.history`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Series names in order: `loss`, the metrics, then `val_` versions.
    pub names: Vec<String>,
    /// One row per epoch, one value per name.
    pub epochs: Vec<Vec<f64>>,
    /// Seconds each epoch took (training and validation).
    pub seconds: Vec<f64>,
}

impl History {
    /// The values of one series, by epoch (empty if there is no such series).
    pub fn series(&self, name: &str) -> Vec<f64> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.epochs.iter().map(|row| row[i]).collect(),
            None => Vec::new(),
        }
    }

    /// The value of a series after the last epoch.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.series(name).last().copied()
    }

    /// Shows the history as a table in Jupyter.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/plain\n{self}\nEVCXR_END_CONTENT");
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>5}", "epoch")?;
        for name in &self.names {
            write!(f, " {name:>w$}", w = name.len().max(8))?;
        }
        write!(f, " {:>8}", "seconds")?;
        for (e, row) in self.epochs.iter().enumerate() {
            write!(f, "\n{:>5}", e + 1)?;
            for (name, v) in self.names.iter().zip(row) {
                write!(f, " {v:>w$.4}", w = name.len().max(8))?;
            }
            write!(f, " {:>8.2}", self.seconds.get(e).copied().unwrap_or(f64::NAN))?;
        }
        Ok(())
    }
}

/// The device the model's parameters live on (the course device if it has none).
fn model_device<M: Module>(model: &M) -> Device {
    model.devices().into_iter().next().unwrap_or_else(crate::device::device)
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

fn check_output(output: &Tensor<2>, target: &BatchTarget, what: &str) -> Result<()> {
    let [batch, outputs] = output.dims();
    match target {
        BatchTarget::Values(y) if y.len() != batch * outputs => Err(CourseError::shape(
            what,
            format!("targets of {outputs} values per sample, as the model outputs"),
            format!("{} values per sample", y.len() / batch.max(1)),
        )),
        _ => Ok(()),
    }
}

/// Trains `model` in place, as Keras's `model.fit(x, y, validation_data=...)`.
///
/// Returns the per-epoch history. If the loss becomes NaN or infinite, `model` is left as it was
/// after the last step with a finite loss and [`CourseError::Diverged`] says what to change.
/// Every lesson trains through this function.
pub fn fit<M: TrainModel>(model: &mut M, train: Data, validation: Option<Data>, config: &FitConfig) -> Result<History> {
    config.check()?;
    check_input(model, &train, "fit: training data")?;
    if let Some(valid) = &validation {
        check_input(model, valid, "fit: validation data")?;
    }
    let device = model_device(model);
    if !device.is_autodiff() {
        // A model built on a plain device: move it to the same device with gradients.
        *model = model.clone().fork(&device.clone().autodiff()).train();
    }
    let device = model_device(model);

    let mut names = vec!["loss".to_owned()];
    names.extend(config.metrics.iter().map(|m| m.name().to_owned()));
    if validation.is_some() {
        let train_names = names.clone();
        names.extend(train_names.iter().map(|n| format!("val_{n}")));
    }
    let mut history = History { names, ..History::default() };
    let mut optimizer = config.optimizer.build();
    let mut rng = Rng::new(config.seed);
    let lr = config.optimizer.learning_rate();
    let mut last_good = model.clone();

    for epoch in 1..=config.epochs {
        let start = Instant::now();
        let batches = shuffled_batches(train.x.rows, config.batch_size, &mut rng);
        let mut progress = Progress::new(epoch, config.epochs, batches.len(), config.verbose);
        // Sums weighted by batch size, so that the epoch's value is the mean over samples.
        let mut sums = vec![0.0f64; 1 + config.metrics.len()];
        let mut seen = 0usize;
        for (b, indices) in batches.iter().enumerate() {
            let (x, target) = train.batch(indices, &device);
            let (output, activation, extra) = loss_input(model.forward_train(x), config.loss);
            if b == 0 {
                check_output(&output, &target, "fit: training targets")?;
            }
            let [_, cols] = output.dims();
            let batch = config.loss.batch(activation, &host_values(&output), cols, &target, &config.metrics, true)?;
            let gradient = Tensor::<2>::from_data(TensorData::new(batch.gradient, output.dims()), &device);
            // Its derivative with respect to the output is `gradient`: autodiff takes it from there.
            let mut objective = (output * gradient).sum();
            let mut loss_value = batch.value;
            if let Some(extra) = extra {
                loss_value += extra.clone().into_scalar::<f32>() as f64;
                objective = objective + extra;
            }
            if !loss_value.is_finite() {
                *model = last_good;
                return Err(CourseError::Diverged { epoch, batch: b + 1, learning_rate: lr, history: Box::new(history) });
            }
            let n = indices.len() as f64;
            sums[0] += loss_value * n;
            for (k, value) in batch.metrics.iter().enumerate() {
                sums[k + 1] += value * n;
            }
            seen += indices.len();
            // The parameters that gave a finite loss; a clone shares the tensors, it copies none.
            last_good = model.clone();
            let grads = GradientsParams::from_grads(objective.backward(), &*model);
            let stepped = optimizer.step(lr, model.clone(), grads);
            *model = stepped;
            progress.batch_done(b + 1, sums[0] / seen as f64);
        }
        let mut row: Vec<f64> = sums.iter().map(|s| s / seen as f64).collect();
        if let Some(valid) = &validation {
            row.extend(evaluate_with(model, valid, config.loss, &config.metrics)?);
        }
        let seconds = start.elapsed().as_secs_f64();
        progress.epoch_done(&history.names, &row, seconds);
        history.epochs.push(row);
        history.seconds.push(seconds);
    }
    Ok(history)
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
    let mut out: Option<Matrix> = None;
    for start in (0..x.rows).step_by(PREDICT_BATCH) {
        let indices: Vec<usize> = (start..(start + PREDICT_BATCH).min(x.rows)).collect();
        let batch = Matrix::from_tensor(f(&model, x.gather(&indices).to_tensor(&device)));
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

/// The loss and metrics of `model` on `data`, in inference mode (Keras's `model.evaluate`).
pub fn evaluate<M: TrainModel>(model: &M, data: Data, loss: Loss, metrics: &[Metric]) -> Result<Vec<f64>> {
    check_input(model, &data, "evaluate")?;
    evaluate_with(model, &data, loss, metrics)
}

fn evaluate_with<M: TrainModel>(model: &M, data: &Data, loss: Loss, metrics: &[Metric]) -> Result<Vec<f64>> {
    let model = model.valid();
    let device = model_device(&model).without_autodiff();
    let mut sums = vec![0.0f64; 1 + metrics.len()];
    for start in (0..data.x.rows).step_by(PREDICT_BATCH) {
        let indices: Vec<usize> = (start..(start + PREDICT_BATCH).min(data.x.rows)).collect();
        let (x, target) = data.batch(&indices, &device);
        let (output, activation, extra) = loss_input(model.forward_train(x), loss);
        check_output(&output, &target, "evaluate: targets")?;
        let [_, cols] = output.dims();
        let batch = loss.batch(activation, &host_values(&output), cols, &target, metrics, false)?;
        let extra = extra.map_or(0.0, |e| e.into_scalar::<f32>() as f64);
        let n = indices.len() as f64;
        sums[0] += (batch.value + extra) * n;
        for (k, value) in batch.metrics.iter().enumerate() {
            sums[k + 1] += value * n;
        }
    }
    Ok(sums.iter().map(|s| s / data.x.rows as f64).collect())
}

/// Progress lines while an epoch runs. The Rust kernel forwards output line by line, so instead
/// of a redrawn bar there is one short line every few seconds, then one line per epoch.
struct Progress {
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
    fn new(epoch: usize, epochs: usize, batches: usize, enabled: bool) -> Progress {
        let now = Instant::now();
        Progress { epoch, epochs, batches, enabled, start: now, last_print: now }
    }

    fn batch_done(&mut self, done: usize, mean_loss: f64) {
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

    fn epoch_done(&self, names: &[String], values: &[f64], seconds: f64) {
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

        fn forward_train(&self, x: Tensor<2>) -> TrainOutput {
            let (pre_activation, activation) = self.stack.forward_split(x);
            TrainOutput { pre_activation, activation, extra_loss: None }
        }
    }

    /// `fit` hands the loss's hand-written gradient to autodiff (see [`crate::loss`]): the
    /// weights must get the gradient autodiff gives through the loss written in tensor operations.
    #[test]
    fn the_loss_gradient_reaches_the_weights_as_autodiff_would() {
        let device = Device::flex().autodiff();
        let model = Tiny { stack: DenseStack::new(4, &[3, 4], Activation::Selu, Activation::Sigmoid, &mut Rng::new(1), &device) };
        let x = Matrix { rows: 5, cols: 4, data: (0..20).map(|i| ((i * 7) % 10) as f32 / 10.0).collect() };

        let (z, activation, _) = loss_input(model.forward_train(x.to_tensor(&device)), Loss::BinaryCrossEntropy);
        let batch = Loss::BinaryCrossEntropy.batch(activation, &host_values(&z), 4, &BatchTarget::Values(x.data.clone()), &[], true).unwrap();
        let gradient = Tensor::<2>::from_data(TensorData::new(batch.gradient, z.dims()), &device);
        let ours = (z * gradient).sum().backward();

        let (p, y) = (model.forward(x.to_tensor(&device)), x.to_tensor(&device));
        let bce = (y.clone() * p.clone().log() + y.neg().add_scalar(1.0) * p.neg().add_scalar(1.0).log()).mean().neg();
        assert!((bce.clone().into_scalar::<f32>() as f64 - batch.value).abs() < 1e-5);
        let autodiff = bce.backward();

        for layer in &model.stack.layers {
            let a = Matrix::from_tensor(layer.weight.val().grad(&ours).unwrap()).data;
            let b = Matrix::from_tensor(layer.weight.val().grad(&autodiff).unwrap()).data;
            for (a, b) in a.iter().zip(&b) {
                assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }
}
