//! Keras-like building blocks shared by the lessons: a `Dense` layer initialised the way Keras
//! initialises it, and its activations.
//!
//! Keras's `Dense` starts from Glorot-uniform weights and zero biases; burn's `Linear` uses a
//! Kaiming-uniform default for both. The slides' hyperparameters (SGD with learning rate 1.5 for
//! the stacked autoencoder, for instance) were tuned for Keras's start, so the course keeps it.
//! Weights are drawn from the course's own seeded [`Rng`], so a seed gives the same network on
//! every backend and in every thread.

use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};

/// The activation after a dense layer (Keras's `activation=` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None: the layer stays linear (Keras's default).
    Linear,
    /// Scaled exponential linear unit, the slides' hidden activation.
    Selu,
    /// Logistic sigmoid, for outputs in (0, 1) such as pixel intensities.
    Sigmoid,
    /// Rectified linear unit.
    Relu,
    /// Softmax over the last axis, for class probabilities.
    Softmax,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Linear => x,
            Activation::Selu => activation::selu(x),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Relu => activation::relu(x),
            Activation::Softmax => activation::softmax(x, 1),
        }
    }

    /// The Keras name, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Selu => "selu",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
        }
    }
}

/// A fully connected layer, `activation(x · W + b)`, as Keras's `Dense`.
#[derive(Module, Debug)]
pub struct Dense {
    /// `[inputs, units]`, Glorot-uniform at the start.
    pub weight: Param<Tensor<2>>,
    /// `[units]`, zero at the start.
    pub bias: Param<Tensor<1>>,
    /// Applied after the affine map.
    #[module(skip)]
    pub activation: Activation,
}

impl Dense {
    /// A layer from `inputs` to `units` with Keras's initialisation, drawn from `rng`.
    pub fn new(inputs: usize, units: usize, activation: Activation, rng: &mut Rng, device: &Device) -> Dense {
        let limit = (6.0 / (inputs + units) as f64).sqrt();
        let weights: Vec<f32> =
            (0..inputs * units).map(|_| rng.uniform_range(-limit, limit) as f32).collect();
        Dense {
            weight: Param::from_data(TensorData::new(weights, [inputs, units]), device),
            bias: Param::from_data(TensorData::new(vec![0.0f32; units], [units]), device),
            activation,
        }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.lazy_shape().dims::<2>()[0]
    }

    /// Number of outputs (Keras's `units`).
    pub fn units(&self) -> usize {
        self.weight.lazy_shape().dims::<2>()[1]
    }

    /// # Shapes
    /// `[batch, inputs]` → `[batch, units]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.activation.apply(self.affine(x))
    }

    /// `x · W + b`, before the activation.
    ///
    /// # Shapes
    /// `[batch, inputs]` → `[batch, units]`
    pub fn affine(&self, x: Tensor<2>) -> Tensor<2> {
        burn::tensor::module::linear(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// Dense layers applied one after the other (a Keras `Sequential` of `Dense` layers).
#[derive(Module, Debug)]
pub struct DenseStack {
    /// The layers, input side first.
    pub layers: Vec<Dense>,
}

impl DenseStack {
    /// Layers of the given `units` after `inputs`, all with `activation` except the last, which
    /// has `last_activation`.
    pub fn new(inputs: usize, units: &[usize], activation: Activation, last_activation: Activation, rng: &mut Rng, device: &Device) -> DenseStack {
        let mut layers = Vec::with_capacity(units.len());
        let mut width = inputs;
        for (i, &u) in units.iter().enumerate() {
            let act = if i + 1 == units.len() { last_activation } else { activation };
            layers.push(Dense::new(width, u, act, rng, device));
            width = u;
        }
        DenseStack { layers }
    }

    /// Number of inputs of the first layer.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, Dense::inputs)
    }

    /// Number of outputs of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, Dense::units)
    }

    /// # Shapes
    /// `[batch, inputs]` → `[batch, outputs]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(x, |h, layer| layer.forward(h))
    }

    /// The output before the last layer's activation, and that activation: what
    /// [`TrainModel::forward_train`](crate::train::TrainModel::forward_train) returns.
    pub fn forward_split(&self, x: Tensor<2>) -> (Tensor<2>, Activation) {
        match self.layers.split_last() {
            Some((last, rest)) => (last.affine(rest.iter().fold(x, |h, layer| layer.forward(h))), last.activation),
            None => (x, Activation::Linear),
        }
    }

    /// The stack followed by `other`'s layers.
    pub fn then(mut self, other: DenseStack) -> DenseStack {
        self.layers.extend(other.layers);
        self
    }
}

/// The slides' `DenseTranspose`: a decoder layer that reuses an encoder layer's weight matrix,
/// transposed, with a bias of its own. Tying the weights halves the parameters of a symmetric
/// autoencoder. It holds only the bias; `forward` takes the tied layer.
#[derive(Module, Debug)]
pub struct DenseTranspose {
    /// `[inputs of the tied layer]`, zero at the start.
    pub bias: Param<Tensor<1>>,
    /// Applied after the affine map.
    #[module(skip)]
    pub activation: Activation,
}

impl DenseTranspose {
    /// A transposed layer for `tied`, mapping its `units` back to its `inputs`.
    pub fn new(tied: &Dense, activation: Activation, device: &Device) -> DenseTranspose {
        let n = tied.inputs();
        DenseTranspose { bias: Param::from_data(TensorData::new(vec![0.0f32; n], [n]), device), activation }
    }

    /// # Shapes
    /// `[batch, tied.units]` → `[batch, tied.inputs]`
    pub fn forward(&self, x: Tensor<2>, tied: &Dense) -> Tensor<2> {
        self.activation.apply(self.affine(x, tied))
    }

    /// `x · Wᵀ + b`, before the activation.
    pub fn affine(&self, x: Tensor<2>, tied: &Dense) -> Tensor<2> {
        burn::tensor::module::linear(x, tied.weight.val().transpose(), Some(self.bias.val()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_starts_like_keras() {
        let device = Device::flex();
        let layer = Dense::new(784, 100, Activation::Selu, &mut Rng::new(0), &device);
        assert_eq!((layer.inputs(), layer.units()), (784, 100));
        assert_eq!(layer.num_params(), 784 * 100 + 100);
        let w = layer.weight.val().into_data().try_into_vec_as::<f32>().unwrap();
        let limit = (6.0f32 / 884.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!((var - limit * limit / 3.0).abs() < 0.05 * limit * limit, "variance {var}");
        let b = layer.bias.val().into_data().try_into_vec_as::<f32>().unwrap();
        assert!(b.iter().all(|&v| v == 0.0));
    }
}
