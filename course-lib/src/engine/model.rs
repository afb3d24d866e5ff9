//! What the training engine trains: the [`TrainModel`] trait every course model implements, the
//! output of a training pass, and a model's [`Description`] (what checkpoints record).

use crate::engine::activation::Activation;
use crate::engine::rng::Noise;
use burn::module::{Module, ModuleVisitor, ParamId};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A model [`fit`](crate::train::fit) and [`train_step`](crate::train::train_step) can train.
pub trait TrainModel: Module {
    /// The number of features of one input sample (784 for Fashion-MNIST images).
    fn input_size(&self) -> usize;

    /// The model's output at inference (noise and dropout off).
    ///
    /// # Shapes
    /// `[batch, input_size]` → `[batch, outputs]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// The output of a training pass, split before the output layer's activation so that the
    /// loss can be taken from the logits where Keras takes it (see [`crate::loss`]), with any loss
    /// terms the model adds (the variational autoencoder's latent loss, a sparsity penalty).
    /// Stochastic layers draw from `noise`, and are active only if `noise.is_training()`
    /// ([`evaluate`](crate::train::evaluate) passes [`Noise::inference`](crate::rng::Noise::inference)). The default: [`TrainModel::forward`], whole.
    fn forward_train(&self, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let _ = noise;
        TrainOutput::new(self.forward(x))
    }

    /// What the model is, for checkpoints: its kind and configuration. The default names the
    /// type and the shape of every parameter; the course's models say it in their
    /// configuration's words.
    fn describe(&self) -> Description
    where
        Self: Sized,
    {
        Description::of_parameters(self)
    }
}

/// What a model gives the training step for one batch (see [`TrainModel::forward_train`]).
pub struct TrainOutput {
    /// `[batch, outputs]`: the output before `activation`.
    pub pre_activation: Tensor<2>,
    /// The output layer's activation, still to be applied.
    pub activation: Activation,
    /// Losses the model adds to the training loss, each already averaged over the batch.
    pub terms: Vec<LossTerm>,
}

impl TrainOutput {
    /// The whole output, with no activation left and no added loss.
    pub fn new(output: Tensor<2>) -> TrainOutput {
        TrainOutput { pre_activation: output, activation: Activation::Linear, terms: Vec::new() }
    }

    /// The output before its last `activation`.
    pub fn split(pre_activation: Tensor<2>, activation: Activation) -> TrainOutput {
        TrainOutput { pre_activation, activation, terms: Vec::new() }
    }

    /// Adds a loss term (a scalar tensor, averaged over the batch) named `name` in the history.
    pub fn with_term(mut self, name: &str, value: Tensor<1>) -> TrainOutput {
        self.terms.push(LossTerm { name: name.to_owned(), value });
        self
    }
}

/// A loss a model adds to the training loss, reported in the history under its name.
pub struct LossTerm {
    /// The history's name for it (`latent_loss`, `sparsity_loss`, ...).
    pub name: String,
    /// `[1]`: the term, averaged over the batch.
    pub value: Tensor<1>,
}

/// What a model is: its kind and its configuration, in the order a student would read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The kind of model (`stacked_ae`, `conv_ae`, ...).
    pub model: String,
    /// The configuration, `(setting, value)`.
    pub settings: Vec<(String, String)>,
}

impl Description {
    /// A description of `model` with the given settings.
    pub fn new(model: &str, settings: &[(&str, String)]) -> Description {
        Description { model: model.to_owned(), settings: settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect() }
    }

    /// The default description of any model: its type's name and the shape of every parameter.
    pub fn of_parameters<M: Module>(model: &M) -> Description {
        struct Shapes(Vec<(String, String)>);
        impl ModuleVisitor for Shapes {
            fn visit_float_with_path<const D: usize>(&mut self, path: &[String], _id: ParamId, tensor: &Tensor<D>) {
                self.0.push((path.join("."), format!("{:?}", tensor.dims())));
            }
        }
        let mut shapes = Shapes(Vec::new());
        model.visit(&mut shapes);
        let name = std::any::type_name::<M>().rsplit("::").next().unwrap_or("model");
        Description { model: name.to_owned(), settings: shapes.0 }
    }

    /// A file name that says what the checkpoint holds: `stacked_ae-codings30` and so on (the
    /// kind and the settings that are numbers or short words). When some settings do not fit in
    /// a name (a `Sequential`'s layers), a short hash of all of them follows, so that two
    /// configurations never share a file.
    pub fn file_stem(&self) -> String {
        let mut stem = self.model.clone();
        let mut all_shown = true;
        for (key, value) in &self.settings {
            let short: String = value.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            if !short.is_empty() && short.len() <= 12 && !key.contains('.') && !key.contains(' ') {
                stem.push_str(&format!("-{key}{short}"));
            } else {
                all_shown = false;
            }
        }
        if !all_shown {
            // FNV-1a: stable across runs and platforms, unlike std's hasher.
            let mut hash: u32 = 0x811c_9dc5;
            for byte in self.settings.iter().flat_map(|(k, v)| k.bytes().chain([0]).chain(v.bytes()).chain([0])) {
                hash = (hash ^ byte as u32).wrapping_mul(0x0100_0193);
            }
            stem.push_str(&format!("-{hash:08x}"));
        }
        stem
    }

    /// The settings that differ, said as "saved with …, this model has …"; `None` if they agree.
    pub fn mismatch(&self, saved: &Description) -> Option<String> {
        if self == saved {
            return None;
        }
        if self.model != saved.model {
            return Some(format!("it holds a {} model, and this one is a {}", saved.model, self.model));
        }
        let value = |d: &Description, key: &str| d.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let mut keys: Vec<&String> = saved.settings.iter().map(|(k, _)| k).collect();
        keys.extend(self.settings.iter().map(|(k, _)| k).filter(|k| value(saved, k).is_none()));
        let (mut was, mut is) = (Vec::new(), Vec::new());
        for key in keys {
            let (a, b) = (value(saved, key), value(self, key));
            if a != b {
                let show = |v: Option<String>| v.map_or_else(|| format!("no {key}"), |v| format!("{key} = {v}"));
                was.push(show(a));
                is.push(show(b));
            }
        }
        Some(format!("it was saved with {}, and this model has {}", was.join(", "), is.join(", ")))
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings: Vec<String> = self.settings.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        write!(f, "{} ({})", self.model, settings.join(", "))
    }
}

/// A copy of `model` that shares nothing it could change in place: burn's `clone` shares the
/// parameters' tensors (which never change in place, so sharing them costs nothing) but also batch
/// normalisation's running statistics, kept behind one lock for the original and every clone. A
/// clone loaded from a checkpoint, mapped to other weights or trained one more step would change
/// the original's statistics with its own. burn's `valid` makes the statistics new and `train`
/// puts back what `valid` took away (the gradients' device, `require_grad`, the training flags), so
/// the copy is the model, values and settings alike. A model with no tensor on a device with
/// gradients stays on its plain device, its training flags off until `train` (which `fit` calls).
///
/// The round trip costs about 0.3 ms for lesson 09's U-Net (a training step: 90 ms) but 26 µs for
/// the stacked autoencoder (a step: under 1 ms), so a model whose tensors all train (no running
/// statistics, nothing frozen) is cloned (the check: about a microsecond).
pub(crate) fn detached<M: Module>(model: &M) -> M {
    let tensors = TensorKinds::of(model);
    match (tensors.autodiff, tensors.untrained) {
        (true, false) => model.clone(),
        (true, true) => model.valid().train(),
        (false, _) => model.valid(),
    }
}

/// What a model's float tensors are: any on a device with gradients (`autodiff`, by the tensors
/// themselves: burn's device comparison ignores autodiff, so `devices()` may name one device for a
/// model that has both), any that no gradient moves (`untrained`: running statistics, frozen
/// weights).
#[derive(Default)]
struct TensorKinds {
    autodiff: bool,
    untrained: bool,
}

impl TensorKinds {
    fn of<M: Module>(model: &M) -> TensorKinds {
        let mut kinds = TensorKinds::default();
        model.visit(&mut kinds);
        kinds
    }
}

impl ModuleVisitor for TensorKinds {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let tensor = param.val();
        self.autodiff |= tensor.is_autodiff();
        self.untrained |= !tensor.is_require_grad();
    }
}
