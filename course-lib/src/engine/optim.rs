//! Optimizers that keep their state between steps and between `fit` calls, with Keras's
//! defaults.

use crate::engine::error::{CourseError, Result};
use crate::engine::loss::EPSILON;
use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig};
use std::fmt;
use std::sync::{Arc, Mutex};

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

    /// RMSprop with Keras's default `rho = 0.9` (`optimizer="rmsprop"` is `rmsprop(0.001)`).
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

    /// Refuses hyperparameters out of their range, with the fix.
    pub fn check(&self) -> Result<()> {
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(CourseError::bad_config(
                "learning_rate",
                format!("must be a positive number, got {lr}; the slides use 0.1 to 1.5 for SGD and 0.001 for Adam and RMSprop"),
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

/// An optimizer with its state: what Keras's `compile(optimizer=...)` attaches to a model.
///
/// The state (SGD's momentum, RMSprop's mean square, Adam's moments) is kept per parameter
/// between [`train_step`](crate::train::train_step)s and between [`fit`](crate::train::fit) calls: a second `fit` with the same
/// [`FitConfig`](crate::train::FitConfig) continues where the first stopped, as in Keras. Clones share the state (a
/// `FitConfig` cloned by `.with_epochs(...)` still trains with the same optimizer); the states
/// of different models do not mix, because they are kept by parameter. [`Optimizer::reset`]
/// starts afresh, as recompiling does in Keras.
#[derive(Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    state: Arc<Mutex<OptimizerState>>,
}

struct OptimizerState {
    inner: ModuleOptimizer,
    steps: u64,
}

impl Optimizer {
    /// A fresh optimizer.
    pub fn new(config: OptimizerConfig) -> Optimizer {
        Optimizer { config, state: Arc::new(Mutex::new(OptimizerState { inner: config.build(), steps: 0 })) }
    }

    /// Its hyperparameters.
    pub fn config(&self) -> OptimizerConfig {
        self.config
    }

    /// The steps it has taken since it was made or reset.
    pub fn steps(&self) -> u64 {
        self.lock().steps
    }

    /// Forgets the state: the next step starts as the first did.
    pub fn reset(&self) {
        *self.lock() = OptimizerState { inner: self.config.build(), steps: 0 };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OptimizerState> {
        // A panic while the lock was held (impossible in the course's own code) leaves a state
        // that is still usable: take it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state as burnpack bytes, and the number of steps, for a training checkpoint.
    pub(crate) fn state_bytes(&self) -> std::result::Result<(Vec<u8>, u64), burn::store::RecordError> {
        let state = self.lock();
        Ok((state.inner.into_bytes()?.to_vec(), state.steps))
    }

    /// Replaces the state with one saved by [`Optimizer::state_bytes`].
    pub(crate) fn load_state_bytes(&self, bytes: &[u8], steps: u64) -> std::result::Result<(), burn::store::RecordError> {
        let inner = self.config.build().from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))?;
        *self.lock() = OptimizerState { inner, steps };
        Ok(())
    }

    /// Updates `model` with `grads`, advancing the state.
    pub(crate) fn step<M: Module>(&self, model: M, grads: GradientsParams) -> M {
        let mut state = self.lock();
        state.steps += 1;
        state.inner.step(self.config.learning_rate(), model, grads)
    }
}

impl From<OptimizerConfig> for Optimizer {
    fn from(config: OptimizerConfig) -> Optimizer {
        Optimizer::new(config)
    }
}

impl fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Optimizer({:?}, {} steps)", self.config, self.steps())
    }
}

impl PartialEq for Optimizer {
    /// The same hyperparameters (the states are not compared).
    fn eq(&self, other: &Optimizer) -> bool {
        self.config == other.config
    }
}
