//! Keras-like building blocks shared by the lessons, initialised the way Keras initialises them:
//! `Dense` and its activations (lessons 01-03), and the convolution, transposed convolution,
//! pooling, batch normalisation, dropout and Gaussian-noise layers of lessons 04-08.
//!
//! Keras's `Dense` starts from Glorot-uniform weights and zero biases; burn's `Linear` uses a
//! Kaiming-uniform default for both. The slides' hyperparameters (SGD with learning rate 1.5 for
//! the stacked autoencoder, for instance) were tuned for Keras's start, so the course keeps it.
//! Weights are drawn from the course's own seeded [`Rng`], so a seed gives the same network on
//! every backend and in every thread.

pub use crate::engine::activation::{Activation, selu};
use crate::engine::kernels::Windows;
use crate::engine::rng::{Noise, Rng};
use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

/// Keras's Glorot-uniform initial weights: uniform in ±√(6 / (fan_in + fan_out)), drawn from `rng`
/// in the order of `shape`'s elements.
pub fn glorot_uniform<const D: usize>(shape: [usize; D], fan_in: usize, fan_out: usize, rng: &mut Rng, device: &Device) -> Param<Tensor<D>> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    let count = shape.iter().product();
    let weights: Vec<f32> = (0..count).map(|_| rng.uniform_range(-limit, limit) as f32).collect();
    Param::from_data(TensorData::new(weights, shape), device)
}

/// Keras's zero initial biases.
pub fn zeros(units: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_data(TensorData::new(vec![0.0f32; units], [units]), device)
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
    /// A constant the weights are multiplied by when used: 1, except for ProGAN's equalized
    /// learning rate (lesson 08), where the stored weights are N(0, 1) and the gain is He's
    /// √(2 / inputs), so that every weight learns at the same pace whatever its layer's size.
    #[module(skip)]
    pub gain: f32,
}

impl Dense {
    /// A layer from `inputs` to `units` with Keras's initialisation, drawn from `rng`.
    pub fn new(inputs: usize, units: usize, activation: Activation, rng: &mut Rng, device: &Device) -> Dense {
        Dense { weight: glorot_uniform([inputs, units], inputs, units, rng, device), bias: zeros(units, device), activation, gain: 1.0 }
    }

    /// ProGAN's equalized-learning-rate layer (Karras et al., ICLR 2018): N(0, 1) weights, scaled
    /// at run time by √(2 / inputs).
    pub fn equalized(inputs: usize, units: usize, activation: Activation, rng: &mut Rng, device: &Device) -> Dense {
        let mut weights = vec![0.0f32; inputs * units];
        rng.fill_normal(&mut weights);
        Dense {
            weight: Param::from_data(TensorData::new(weights, [inputs, units]), device),
            bias: zeros(units, device),
            activation,
            gain: (2.0 / inputs.max(1) as f32).sqrt(),
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
        self.forward_with(x, self.activation)
    }

    /// `x · W + b`, before the activation.
    ///
    /// # Shapes
    /// `[batch, inputs]` → `[batch, units]`
    pub fn affine(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_with(x, Activation::Linear)
    }

    /// `activation(x · W + b)`: one host operation on the CPU backend (`engine::fused`), burn's
    /// operations elsewhere (and for what `Activation::host_split` leaves out, softmax say).
    pub fn forward_with(&self, x: Tensor<2>, activation: Activation) -> Tensor<2> {
        let weight = if self.gain == 1.0 { self.weight.val() } else { self.weight.val().mul_scalar(self.gain) };
        let (fused, after) = activation.host_split();
        if crate::engine::fused::available(&x) && x.dims()[1] == self.inputs() {
            return after.apply(crate::engine::fused::dense(x, weight, self.bias.val(), fused));
        }
        activation.apply(burn::tensor::module::linear(x, weight, Some(self.bias.val())))
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
        DenseTranspose { bias: zeros(tied.inputs(), device), activation }
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

/// Keras's `padding=` argument of convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Pad so that the output has `ceil(input / stride)` pixels per side (the extra pixel, when
    /// the padding is odd, goes at the end, as in TensorFlow).
    Same,
    /// No padding: the kernel only visits positions where it fits.
    Valid,
}

impl Padding {
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Same => "same",
            Padding::Valid => "valid",
        }
    }
}

/// The output side of a convolution over `side` pixels, as Keras computes it.
pub fn conv_output_side(side: usize, kernel: usize, stride: usize, padding: Padding) -> usize {
    match padding {
        Padding::Same => side.div_ceil(stride),
        Padding::Valid => if side >= kernel { (side - kernel) / stride + 1 } else { 0 },
    }
}

/// The output side of a transposed convolution over `side` pixels, as Keras computes it
/// (`deconv_output_length` without `output_padding`): `side · stride` with `same` padding,
/// `side · stride + max(kernel − stride, 0)` with `valid`.
pub fn conv_transpose_output_side(side: usize, kernel: usize, stride: usize, padding: Padding) -> usize {
    match padding {
        Padding::Same => side * stride,
        Padding::Valid => side * stride + kernel.saturating_sub(stride),
    }
}

/// A 2-D convolution with a bias and an activation, as Keras's `Conv2D`.
///
/// Images are `[batch, channels, height, width]` (burn's layout); the summaries print Keras's
/// `(height, width, channels)`.
pub type Conv2d = Convolution<Forward>;

/// A transposed 2-D convolution, as Keras's `Conv2DTranspose`, with Keras's output shapes and
/// alignment: the full transposed convolution is cropped to the output side
/// ([`conv_transpose_output_side`]), the odd pixel taken from the end as TensorFlow does.
pub type ConvTranspose2d = Convolution<Transposed>;

/// The convolution of [`Conv2d`] (weights `[filters, in_channels, kernel, kernel]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Forward;

/// The transposed convolution of [`ConvTranspose2d`] (weights `[in_channels, filters, kernel,
/// kernel]`, burn's layout for it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Transposed;

/// What tells a convolution from a transposed one: where the channels stand in the weights, the
/// output side, and the two implementations (the host operation and burn's). Everything else, the
/// parameters, the initialisation, the activation and which implementation runs, is the same and
/// is written once, in [`Convolution`].
pub trait Direction: Clone + Copy + std::fmt::Debug + Default + Send + Sync + 'static {
    /// The weights' shape for `filters` kernels of `kernel × kernel` over `in_channels`.
    fn weight_shape(in_channels: usize, filters: usize, kernel: usize) -> [usize; 4];
    /// `(in_channels, filters, kernel)` from the weights' shape.
    fn dims(weight: [usize; 4]) -> (usize, usize, usize);
    /// Keras's output side for an input of `side` pixels.
    fn output_side(side: usize, kernel: usize, stride: usize, padding: Padding) -> usize;
    /// The convolution, its bias and the host part of an activation as one host operation
    /// (`engine::fused`); `x` is non-empty and has the weights' input channels.
    fn host(conv: &Convolution<Self>, x: Tensor<4>, activation: Activation) -> Tensor<4>;
    /// The convolution plus bias with burn's operations.
    fn burn(conv: &Convolution<Self>, x: Tensor<4>) -> Tensor<4>;
}

impl Direction for Forward {
    fn weight_shape(in_channels: usize, filters: usize, kernel: usize) -> [usize; 4] {
        [filters, in_channels, kernel, kernel]
    }

    fn dims([filters, in_channels, kernel, _]: [usize; 4]) -> (usize, usize, usize) {
        (in_channels, filters, kernel)
    }

    fn output_side(side: usize, kernel: usize, stride: usize, padding: Padding) -> usize {
        conv_output_side(side, kernel, stride, padding)
    }

    fn host(conv: &Conv2d, x: Tensor<4>, activation: Activation) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let spec = crate::engine::fused::ConvSpec { stride: conv.stride, pad_h: conv.same_padding(h), pad_w: conv.same_padding(w), activation };
        crate::engine::fused::conv2d(x, conv.weight.val(), conv.bias.val(), spec)
    }

    fn burn(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let options = ConvOptions::new_with_padding([conv.stride; 2], [conv.same_padding(h), conv.same_padding(w)], [1, 1], 1);
        burn::tensor::module::conv2d(x, conv.weight.val(), Some(conv.bias.val()), options)
    }
}

impl Direction for Transposed {
    fn weight_shape(in_channels: usize, filters: usize, kernel: usize) -> [usize; 4] {
        [in_channels, filters, kernel, kernel]
    }

    fn dims([in_channels, filters, kernel, _]: [usize; 4]) -> (usize, usize, usize) {
        (in_channels, filters, kernel)
    }

    fn output_side(side: usize, kernel: usize, stride: usize, padding: Padding) -> usize {
        conv_transpose_output_side(side, kernel, stride, padding)
    }

    fn host(conv: &ConvTranspose2d, x: Tensor<4>, activation: Activation) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = conv.dims().2;
        let (out_h, out_w) = (conv.output_side(h), conv.output_side(w));
        let (full_h, full_w) = ((h - 1) * conv.stride + k, (w - 1) * conv.stride + k);
        let crop = (transpose_crop(full_h, out_h).0, transpose_crop(full_w, out_w).0);
        let spec = crate::engine::fused::ConvTransposeSpec { stride: conv.stride, out: (out_h, out_w), crop, activation };
        crate::engine::fused::conv_transpose2d(x, conv.weight.val(), conv.bias.val(), spec)
    }

    fn burn(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let options = ConvTransposeOptions::new([conv.stride; 2], [0, 0], [0, 0], [1, 1], 1);
        let full = burn::tensor::module::conv_transpose2d(x, conv.weight.val(), None, options);
        let [batch, channels, full_h, full_w] = full.dims();
        let (out_h, out_w) = (conv.output_side(h), conv.output_side(w));
        let ((top, kept_h), (left, kept_w)) = (transpose_crop(full_h, out_h), transpose_crop(full_w, out_w));
        let kept = full.slice([0..batch, 0..channels, top..top + kept_h, left..left + kept_w]);
        let out = if (kept_h, kept_w) == (out_h, out_w) { kept } else { kept.pad((0, out_w - kept_w, 0, out_h - kept_h), PadMode::Constant(0.0)) };
        out + conv.bias.val().reshape([1, channels, 1, 1])
    }
}

/// A convolution ([`Conv2d`]) or a transposed convolution ([`ConvTranspose2d`]) with a bias and
/// an activation; `D` says which.
#[derive(Module, Debug)]
pub struct Convolution<D: Direction> {
    /// Glorot-uniform at the start; the shape is `D`'s ([`Direction::weight_shape`]).
    pub weight: Param<Tensor<4>>,
    /// `[filters]`, zero at the start.
    pub bias: Param<Tensor<1>>,
    /// Step between kernel positions (the upsampling factor of a transposed one), both axes.
    #[module(skip)]
    pub stride: usize,
    /// `same` or `valid`.
    #[module(skip)]
    pub padding: Padding,
    /// Applied after the convolution.
    #[module(skip)]
    pub activation: Activation,
    /// Which convolution: [`Forward`] or [`Transposed`].
    #[module(skip)]
    pub direction: D,
}

impl<D: Direction> Convolution<D> {
    /// `filters` kernels of `kernel × kernel` over `in_channels`, with Keras's initialisation
    /// (Glorot uniform with fan-in `kernel² · in_channels` and fan-out `kernel² · filters`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(in_channels: usize, filters: usize, kernel: usize, stride: usize, padding: Padding, activation: Activation, rng: &mut Rng, device: &Device) -> Convolution<D> {
        let area = kernel * kernel;
        Convolution {
            weight: glorot_uniform(D::weight_shape(in_channels, filters, kernel), area * in_channels, area * filters, rng, device),
            bias: zeros(filters, device),
            stride,
            padding,
            activation,
            direction: D::default(),
        }
    }

    /// `(in_channels, filters, kernel)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        D::dims(self.weight.lazy_shape().dims::<4>())
    }

    /// The output side for an input of `side` pixels.
    pub fn output_side(&self, side: usize) -> usize {
        D::output_side(side, self.dims().2, self.stride, self.padding)
    }

    /// # Shapes
    /// `[batch, in_channels, h, w]` → `[batch, filters, h', w']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, self.activation)
    }

    /// The convolution plus bias, before the activation.
    pub fn affine(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, Activation::Linear)
    }

    /// The convolution, its bias and `activation`: one host operation on the CPU backend
    /// (`engine::fused`), burn's operations elsewhere, and for what the host operation
    /// does not take (an input of other channels, an empty input or output: burn's errors then
    /// speak).
    pub fn forward_with(&self, x: Tensor<4>, activation: Activation) -> Tensor<4> {
        let [_, channels, h, w] = x.dims();
        if crate::engine::fused::available(&x) && channels == self.dims().0 && h * w > 0 && self.output_side(h) * self.output_side(w) > 0 {
            let (fused, after) = activation.host_split();
            return after.apply(D::host(self, x, fused));
        }
        activation.apply(self.affine_burn(x))
    }

    /// The convolution plus bias with burn's operations (other backends; the kernels' tests).
    pub(crate) fn affine_burn(&self, x: Tensor<4>) -> Tensor<4> {
        D::burn(self, x)
    }

    /// Keras's `(before, after)` padding of a side of `side` pixels for a forward convolution.
    fn same_padding(&self, side: usize) -> (usize, usize) {
        match self.padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = side.div_ceil(self.stride);
                let total = ((out - 1) * self.stride + self.dims().2).saturating_sub(side);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// Where Keras's output of `out` pixels starts in a full transposed convolution of `full`, and
/// how many of its pixels come from it: TensorFlow's `same` crops (full − out) / 2 pixels at the
/// start and the rest at the end; where the kernel is narrower than the stride the output is
/// longer than the full result, and its last pixels hold the bias alone.
pub(crate) fn transpose_crop(full: usize, out: usize) -> (usize, usize) {
    let start = full.saturating_sub(out) / 2;
    (start, out.min(full - start))
}

/// Max pooling over `pool × pool` windows with stride `pool` (Keras's `MaxPool2D(pool_size)`);
/// a remainder row or column is dropped, as with Keras's default `valid` padding.
///
/// # Shapes
/// `[batch, channels, h, w]` → `[batch, channels, h / pool, w / pool]`
pub fn max_pool2d(x: Tensor<4>, pool: usize) -> Tensor<4> {
    if crate::engine::fused::available(&x) && pool >= 1 {
        let [_, _, h, w] = x.dims();
        return crate::engine::fused::max_pool2d(x, Windows::tiled(h, w, pool));
    }
    max_pool2d_burn(x, pool)
}

/// Keras's `MaxPooling2D(size, strides=stride, padding="same")`: ⌈side / stride⌉ windows per
/// side, the padding at the end of each side (TensorFlow's, wherever its total is 1: on the even
/// sides of lesson 09's U-Net, 32, 16 and 8). The padding never wins a maximum.
///
/// # Shapes
/// `[batch, channels, h, w]` → `[batch, channels, ⌈h / stride⌉, ⌈w / stride⌉]`
pub(crate) fn max_pool2d_same(x: Tensor<4>, size: usize, stride: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if crate::engine::fused::available(&x) && size >= 1 && stride >= 1 && h * w > 0 {
        return crate::engine::fused::max_pool2d(x, Windows::same(h, w, size, stride));
    }
    max_pool2d_same_burn(x, size, stride)
}

/// Keras's `UpSampling2D(2)`: every pixel repeated into a 2 × 2 block.
///
/// # Shapes
/// `[batch, channels, h, w]` → `[batch, channels, 2h, 2w]`
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    if crate::engine::fused::available(&x) {
        return crate::engine::fused::upsample2(x);
    }
    upsample2_burn(x)
}

/// [`upsample2`] with burn's operations (other backends; the kernels' tests).
pub(crate) fn upsample2_burn(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

/// [`max_pool2d_same`] with burn's operation (other backends; the kernels' tests).
pub(crate) fn max_pool2d_same_burn(x: Tensor<4>, size: usize, stride: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let pad = |side: usize| (0, ((side.div_ceil(stride) - 1) * stride + size).saturating_sub(side));
    burn::tensor::module::max_pool2d(x, MaxPoolOptions::new([size, size]).with_stride([stride, stride]).with_padding_pairs([pad(h), pad(w)]))
}

/// [`max_pool2d`] with burn's operation (other backends; the kernels' tests).
pub(crate) fn max_pool2d_burn(x: Tensor<4>, pool: usize) -> Tensor<4> {
    burn::tensor::module::max_pool2d(x, MaxPoolOptions::new([pool, pool]).with_stride([pool, pool]))
}

/// Batch normalisation with Keras's defaults (`momentum=0.99`, `epsilon=0.001`): batch statistics
/// while training (and a running average of them), the running averages at inference. Burn's
/// layer, configured as Keras's; Keras's summary counts the two running averages as
/// non-trainable parameters.
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    // burn's momentum is the weight of the new batch: Keras's 0.99 keeps 0.99 of the old average.
    BatchNormConfig::new(channels).with_momentum(0.01).with_epsilon(1e-3).init(device)
}

/// `norm.forward(x)` as burn defines it (the batch's statistics when training on an autodiff
/// device, folded into the running averages; the running averages otherwise), with the course's
/// host kernels where they apply ([`crate::engine::fused::batch_norm_train`]): the course's models
/// call this instead of burn's layer, which composes it from a score of one-core operations.
///
/// # Shapes
/// `[batch, channels, ...]` → the same
pub(crate) fn batch_norm_forward<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !crate::engine::fused::available(&x) {
        return norm.forward(x);
    }
    let device = x.device();
    if !device.is_autodiff() {
        let (mean, variance) = (norm.running_mean.value(), norm.running_var.value());
        return crate::engine::fused::batch_norm_inference(x, norm.gamma.val(), norm.beta.val(), mean, variance, norm.epsilon);
    }
    if !norm.training.is_enabled() {
        // A frozen layer inside a graph: burn's operations carry the gradient through it.
        return norm.forward(x);
    }
    let (y, mean, variance) = crate::engine::fused::batch_norm_train(x, norm.gamma.val(), norm.beta.val(), norm.epsilon);
    // The running averages, as burn's layer updates them, then merged at once: burn keeps an
    // update pending until the next read, and a checkpoint written meanwhile (which reads the
    // merged value only) would miss the last batch's, so a resumed run would not equal an
    // uninterrupted one (lesson 09's `a_resumed_fit_ends_where_an_uninterrupted_one_does`).
    let momentum = norm.momentum;
    let running = |state: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let old = state.value_sync().to_device(&device);
        state.update(old.mul_scalar(1.0 - momentum).add(batch.detach().mul_scalar(momentum)).detach());
        state.value_sync();
    };
    running(&norm.running_mean, mean);
    running(&norm.running_var, variance);
    y
}

/// Keras's `Dropout(rate)`: while training, each value is zeroed with probability `rate` and the
/// others are scaled by `1 / (1 − rate)`; at inference it passes its input through. The mask is
/// drawn from the pass's seeded [`Noise`], fresh for every batch.
#[derive(Module, Debug)]
pub struct Dropout {
    /// The fraction of values dropped, in [0, 1).
    pub rate: f64,
}

impl Dropout {
    /// # Shapes
    /// any → the same
    pub fn forward<const D: usize>(&self, x: Tensor<D>, noise: &mut Noise) -> Tensor<D> {
        if !noise.is_training() || self.rate <= 0.0 {
            return x;
        }
        let mask = noise.dropout_mask(x.dims(), self.rate, &x.device());
        x * mask
    }
}

/// Keras's `GaussianNoise(stddev)`: while training, adds fresh N(0, stddev²) noise to every value
/// (drawn from the pass's seeded [`Noise`]); at inference it passes its input through.
#[derive(Module, Debug)]
pub struct GaussianNoise {
    /// The noise's standard deviation.
    pub stddev: f64,
}

impl GaussianNoise {
    /// # Shapes
    /// any → the same
    pub fn forward<const D: usize>(&self, x: Tensor<D>, noise: &mut Noise) -> Tensor<D> {
        if !noise.is_training() || self.stddev <= 0.0 {
            return x;
        }
        let n = noise.normal(x.dims(), self.stddev as f32, &x.device());
        x + n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SELU has finite values and gradients even far out, where burn's gives NaN gradients.
    #[test]
    fn selu_is_finite_far_out() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-200.0f32, -1.0, 0.0, 1.0, 200.0], [5]), &device).require_grad();
        let y = selu(x.clone());
        let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
        let grads = y.sum().backward();
        let g = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().chain(&g).all(|v| v.is_finite()), "{values:?} {g:?}");
        assert!((values[3] - 1.050_700_9).abs() < 1e-6 && (values[1] + 1.111_330_7).abs() < 1e-5);
        assert!((g[4] - 1.050_700_9).abs() < 1e-6 && g[0].abs() < 1e-6);
    }

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
