//! The activations of the course's layers (Keras's `activation=` argument), with the SELU the
//! slides use written to stay finite, and the branch-free exponential the host kernels and the
//! losses vectorise.

use burn::tensor::Tensor;
use burn::tensor::activation;

/// The activation after a layer (Keras's `activation=` argument, or an activation layer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// None: the layer stays linear (Keras's default).
    Linear,
    /// Scaled exponential linear unit, the slides' hidden activation.
    Selu,
    /// Logistic sigmoid, for outputs in (0, 1) such as pixel intensities.
    Sigmoid,
    /// Rectified linear unit.
    Relu,
    /// Leaky ReLU with this slope for negative inputs (the DCGAN discriminator's 0.2; Keras's
    /// `LeakyReLU` defaults to 0.3).
    LeakyRelu(f32),
    /// Hyperbolic tangent, for outputs in (−1, 1) (the DCGAN generator's images).
    Tanh,
    /// Softmax over the last axis, for class probabilities.
    Softmax,
}

impl Activation {
    /// Applies the activation to a tensor of any rank (softmax over the last axis).
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => x,
            Activation::Selu => selu(x),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu(slope) => activation::leaky_relu(x, slope as f64),
            Activation::Tanh => activation::tanh(x),
            Activation::Softmax => activation::softmax(x, D - 1),
        }
    }

    /// The part of the activation the host kernels fuse into a layer ([`crate::engine::fused`]), and the
    /// part left to burn's operations after it. Softmax needs a whole row; the host's backward
    /// reads a leaky ReLU's slope from the sign of the output, which only a positive slope keeps
    /// (with a slope of 0 or below, a negative output no longer means a negative input).
    pub(crate) fn host_split(self) -> (Activation, Activation) {
        match self {
            Activation::Softmax => (Activation::Linear, self),
            Activation::LeakyRelu(slope) if !(slope > 0.0 && slope.is_finite()) => (Activation::Linear, self),
            fused => (fused, Activation::Linear),
        }
    }

    /// Why the activation cannot be used, if it cannot: a leaky ReLU's slope must be a number.
    pub(crate) fn problem(self) -> Option<String> {
        match self {
            Activation::LeakyRelu(slope) if !slope.is_finite() => {
                Some(format!("a leaky ReLU's slope must be a finite number, got {slope}; Keras's default is 0.3, the DCGAN's 0.2"))
            }
            _ => None,
        }
    }

    /// The Keras name, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Selu => "selu",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }
}

/// SELU, λ·(max(x, 0) + α·(e^min(x, 0) − 1)) (Klambauer et al., NeurIPS 2017), written so that
/// the exponential only ever sees x ≤ 0. At exactly 0 its slope is the left one, λα, as in
/// PyTorch and the host kernels (`max(x, 0)` is burn's ReLU, whose gradient at 0 is 0; a
/// `clamp_min` would pass 1 there too, and the two halves would add up to λ(1 + α)).
///
/// Why not burn's `activation::selu`: it computes e^x for every element and keeps it where
/// x < 0; for x > 88, e^x is infinite, and its backward pass multiplies that infinity by the zero
/// gradient of the branch not taken, which gives NaN. Lesson 07's GAN reached such
/// pre-activations after a few epochs and every weight turned to NaN.
pub fn selu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const ALPHA: f64 = 1.673_263_242_354_377_3;
    const LAMBDA: f64 = 1.050_700_987_355_480_5;
    let positive = activation::relu(x.clone());
    let negative = x.clamp_max(0.0).exp().sub_scalar(1.0).mul_scalar(ALPHA);
    (positive + negative).mul_scalar(LAMBDA)
}

/// `e^x` for x ≤ 0 to about one unit in the last place, branch-free so that it vectorises
/// (libm's `expf` is a call per value): x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
/// polynomial, 2^n written into the exponent bits.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    // Below this e^x is under the smallest normal f32: return that instead of a denormal.
    let x = x.max(-87.0);
    // Rounds to the nearest integer by adding and subtracting 1.5·2^23.
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // ln 2 split in two so that n·ln 2 is exact to f32 precision.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    poly * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
