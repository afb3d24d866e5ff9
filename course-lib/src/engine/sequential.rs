//! Keras's `Sequential`: a model as a list of layers, built one layer at a time with the shapes
//! checked as it grows. Lessons 04-08 build their networks with it (the convolutional
//! autoencoder, the denoising and sparse autoencoders, the GANs, lesson 08's judge), and a
//! student can build one in a cell without touching the library.
//!
//! ```ignore
//! let encoder = Sequential::builder("conv_encoder", Shape::image(1, 28, 28), 42, &device)
//!     .conv2d(16, 3, 1, Padding::Same, Activation::Selu)
//!     .max_pool2d(2)
//!     .build()?;
//! ```
//!
//! Images flow as `[batch, channels, height, width]` (burn's layout); summaries print Keras's
//! `(height, width, channels)` so that they read like the slides. A model's input and output are
//! rows of a [`Matrix`](crate::engine::matrix::Matrix) (an image is its 784 pixels): the first layer
//! reshapes them to the input [`Shape`], the output is flattened again.

use crate::checkpoint::Description;
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Dropout, GaussianNoise, Padding, batch_norm, batch_norm_forward, max_pool2d};
use crate::rng::{Noise, Rng};
use crate::summary::{ModelSummary, Summary};
use crate::train::{LossTerm, TrainModel, TrainOutput};
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};
use std::fmt;

/// The shape of one sample between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A vector of this many features.
    Flat(usize),
    /// An image of `channels` maps of `height × width` pixels.
    Image {
        /// Feature maps (1 for a grey image).
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
}

impl Shape {
    /// `channels` maps of `height × width`.
    pub fn image(channels: usize, height: usize, width: usize) -> Shape {
        Shape::Image { channels, height, width }
    }

    /// A Fashion-MNIST image: one 28×28 map.
    pub fn fashion_image() -> Shape {
        Shape::image(1, crate::engine::matrix::IMAGE_SIDE, crate::engine::matrix::IMAGE_SIDE)
    }

    /// The number of values of one sample.
    pub fn size(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image { channels, height, width } => channels * height * width,
        }
    }

    /// The shape as Keras prints it: `[features]` or `[height, width, channels]`.
    pub fn keras(self) -> Vec<usize> {
        match self {
            Shape::Flat(n) => vec![n],
            Shape::Image { channels, height, width } => vec![height, width, channels],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.keras().iter().map(usize::to_string).collect();
        write!(f, "({})", dims.join(", "))
    }
}

/// A batch between layers: rows of features, or images.
#[derive(Clone, Debug)]
pub enum Value {
    /// `[batch, features]`.
    Flat(Tensor<2>),
    /// `[batch, channels, height, width]`.
    Image(Tensor<4>),
}

impl Value {
    /// A `[batch, shape.size()]` tensor seen as a batch of `shape`.
    pub fn from_rows(x: Tensor<2>, shape: Shape) -> Value {
        match shape {
            Shape::Flat(_) => Value::Flat(x),
            Shape::Image { channels, height, width } => {
                let batch = x.dims()[0];
                Value::Image(x.reshape([batch, channels, height, width]))
            }
        }
    }

    /// The batch as rows: `[batch, features]`.
    pub fn into_rows(self) -> Tensor<2> {
        match self {
            Value::Flat(x) => x,
            Value::Image(x) => {
                let [batch, c, h, w] = x.dims();
                x.reshape([batch, c * h * w])
            }
        }
    }

    fn map(self, flat: impl FnOnce(Tensor<2>) -> Tensor<2>, image: impl FnOnce(Tensor<4>) -> Tensor<4>) -> Value {
        match self {
            Value::Flat(x) => Value::Flat(flat(x)),
            Value::Image(x) => Value::Image(image(x)),
        }
    }
}

/// Keras's `MaxPool2D(pool_size)`.
#[derive(Module, Debug)]
pub struct MaxPool2d {
    /// Window side and stride.
    pub pool: usize,
}

/// Keras's `Reshape` and `Flatten`: the same values seen with another shape.
#[derive(Module, Debug)]
pub struct Reshape {
    /// The new shape of one sample.
    #[module(skip)]
    pub to: Shape,
}

/// An activation as a layer of its own (Keras's `Activation`, `LeakyReLU`).
#[derive(Module, Debug)]
pub struct ActivationLayer {
    /// The function.
    #[module(skip)]
    pub activation: Activation,
}

/// The L1 activity penalty of a sparse autoencoder (Keras's `ActivityRegularization(l1=...)`):
/// passes its input through and adds `weight · Σ|x| / batch` to the training loss, as tf.keras 2
/// does (activity losses are divided by the batch size).
#[derive(Module, Debug)]
pub struct ActivityL1 {
    /// The penalty's weight (the book's 1e-3).
    pub weight: f64,
}

/// The KL-divergence sparsity loss of a sparse autoencoder (the book's
/// `KLDivergenceRegularizer`): with ρ the target activation and ρ̂ each unit's mean activation
/// over the batch, adds `weight · Σ [ρ log(ρ/ρ̂) + (1−ρ) log((1−ρ)/(1−ρ̂))] / batch`.
#[derive(Module, Debug)]
pub struct KlSparsity {
    /// The loss's weight (the book's 0.05).
    pub weight: f64,
    /// The target mean activation ρ (the book's 0.1).
    pub target: f64,
}

/// ProGAN's minibatch standard deviation (Karras et al., ICLR 2018): the standard deviation of
/// every feature over the batch, averaged into one number and appended to each sample as one more
/// feature (or one more constant map of an image), so that the discriminator can see how varied a
/// batch is, and a collapsed generator's batch gives itself away.
#[derive(Module, Debug)]
pub struct MinibatchStd {}

/// ProGAN's pixel-wise feature normalisation in the generator: each sample's features divided by
/// their root mean square (with ε = 1e-8), which keeps the generator's signals from escalating.
#[derive(Module, Debug)]
pub struct PixelNorm {}

/// One layer of a [`Sequential`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Layer {
    /// Keras's `Dense`.
    Dense(Dense),
    /// Keras's `Conv2D`.
    Conv2d(Conv2d),
    /// Keras's `Conv2DTranspose`.
    ConvTranspose2d(ConvTranspose2d),
    /// Keras's `MaxPool2D`.
    MaxPool2d(MaxPool2d),
    /// Keras's `BatchNormalization` (burn's layer with Keras's momentum and epsilon).
    BatchNorm(BatchNorm),
    /// Keras's `Dropout`.
    Dropout(Dropout),
    /// Keras's `GaussianNoise`.
    GaussianNoise(GaussianNoise),
    /// Keras's `Reshape` and `Flatten`.
    Reshape(Reshape),
    /// Keras's `Activation`.
    Activation(ActivationLayer),
    /// Keras's `ActivityRegularization(l1=...)`.
    ActivityL1(ActivityL1),
    /// The book's KL-divergence sparsity regulariser.
    KlSparsity(KlSparsity),
    /// ProGAN's minibatch standard deviation.
    MinibatchStd(MinibatchStd),
    /// ProGAN's pixel-wise normalisation.
    PixelNorm(PixelNorm),
}

/// The parameters of `module` that training changes: all of them, but those frozen with
/// [`Module::freeze`] on a training device.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let value = param.val();
            if value.is_require_grad() || !value.device().is_autodiff() {
                self.0 += value.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// A terms sink for inference, where loss terms are not needed.
fn tensor_term(name: &str, value: Tensor<1>, terms: Option<&mut Vec<LossTerm>>) {
    if let Some(terms) = terms {
        terms.push(LossTerm { name: name.to_owned(), value });
    }
}

impl Layer {
    /// The activation this layer ends with (`Linear` for layers without one).
    pub fn activation(&self) -> Activation {
        match self {
            Layer::Dense(l) => l.activation,
            Layer::Conv2d(l) => l.activation,
            Layer::ConvTranspose2d(l) => l.activation,
            Layer::Activation(l) => l.activation,
            _ => Activation::Linear,
        }
    }

    /// Whether the layer only changes how the values are shaped.
    fn is_reshape(&self) -> bool {
        matches!(self, Layer::Reshape(_))
    }

    /// The output shape for one input sample of `input`, or why the layer cannot take it.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        if let Some(problem) = self.activation().problem() {
            return Err(problem);
        }
        let image = |what: &str| match input {
            Shape::Image { channels, height, width } => Ok((channels, height, width)),
            Shape::Flat(_) => Err(format!("{what} needs images, but its input is a flat {input}; add a reshape first")),
        };
        // Both convolutions' checks and output shape. A layer made by hand
        // (`Layer::Conv2d(Conv2d { .. })`) may hold what `new` never makes: a stride of 0, a kernel
        // that is not square, a bias of another length than the filters.
        let convolution = |name: &str, stride: usize, weight: [usize; 4], bias: usize, (in_channels, filters): (usize, usize), side: &dyn Fn(usize) -> usize| {
            let (c, h, w) = image(name)?;
            if stride == 0 || weight[2] == 0 || weight[2] != weight[3] {
                return Err(format!("its kernel {} × {} with stride {stride}: kernels must be square and strides at least 1", weight[2], weight[3]));
            }
            if bias != filters {
                return Err(format!("its bias has {bias} values for {filters} filters"));
            }
            if c != in_channels {
                return Err(format!("this {name} takes {in_channels} channels, its input has {c}"));
            }
            Ok(Shape::image(filters, side(h), side(w)))
        };
        let bias = |bias: &burn::module::Param<Tensor<1>>| bias.lazy_shape().dims::<1>()[0];
        let shape = match self {
            Layer::Dense(l) if bias(&l.bias) != l.units() => return Err(format!("its bias has {} values for {} units", bias(&l.bias), l.units())),
            Layer::Dense(l) => match input {
                Shape::Flat(n) if n == l.inputs() => Shape::Flat(l.units()),
                Shape::Flat(n) => return Err(format!("this Dense layer takes {} features, its input has {n}", l.inputs())),
                Shape::Image { .. } => return Err(format!("Dense needs flat input, but its input is an image {input}; add .flatten() first, as Keras adds Flatten")),
            },
            Layer::Conv2d(l) => {
                let (in_channels, filters, _) = l.dims();
                convolution("Conv2D", l.stride, l.weight.lazy_shape().dims::<4>(), bias(&l.bias), (in_channels, filters), &|side| l.output_side(side))?
            }
            Layer::ConvTranspose2d(l) => {
                let (in_channels, filters, _) = l.dims();
                convolution("Conv2DTranspose", l.stride, l.weight.lazy_shape().dims::<4>(), bias(&l.bias), (in_channels, filters), &|side| l.output_side(side))?
            }
            Layer::MaxPool2d(l) => {
                let (c, h, w) = image("MaxPool2D")?;
                if l.pool == 0 {
                    return Err("a pool of 0 pixels takes nothing; Keras's MaxPool2D(2) pools 2 × 2".to_owned());
                }
                Shape::image(c, h / l.pool, w / l.pool)
            }
            Layer::BatchNorm(l) => {
                let channels = l.gamma.lazy_shape().dims::<1>()[0];
                let c = match input {
                    Shape::Flat(n) => n,
                    Shape::Image { channels, .. } => channels,
                };
                if c != channels {
                    return Err(format!("this BatchNormalization normalises {channels} channels, its input has {c}"));
                }
                input
            }
            Layer::Reshape(l) => {
                if l.to.size() != input.size() {
                    return Err(format!("cannot reshape {input} ({} values) to {} ({} values)", input.size(), l.to, l.to.size()));
                }
                l.to
            }
            Layer::MinibatchStd(_) => match input {
                Shape::Flat(n) => Shape::Flat(n + 1),
                Shape::Image { channels, height, width } => Shape::image(channels + 1, height, width),
            },
            Layer::KlSparsity(_) | Layer::ActivityL1(_) | Layer::Dropout(_) | Layer::GaussianNoise(_) | Layer::Activation(_) | Layer::PixelNorm(_) => input,
        };
        if shape.size() == 0 {
            return Err(format!("its output from {input} would be empty; the input is too small for it"));
        }
        Ok(shape)
    }

    /// Keras's name of the layer type, for summaries (`flatten` for a reshape to a vector).
    fn keras_name(&self, output: Shape) -> &'static str {
        match self {
            Layer::Reshape(_) if matches!(output, Shape::Flat(_)) => "flatten",
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::ConvTranspose2d(_) => "conv2d_transpose",
            Layer::MaxPool2d(_) => "max_pooling2d",
            Layer::BatchNorm(_) => "batch_normalization",
            Layer::Dropout(_) => "dropout",
            Layer::GaussianNoise(_) => "gaussian_noise",
            Layer::Reshape(_) => "reshape",
            Layer::Activation(_) => "activation",
            Layer::ActivityL1(_) => "activity_regularization",
            Layer::KlSparsity(_) => "kl_sparsity",
            Layer::MinibatchStd(_) => "minibatch_std",
            Layer::PixelNorm(_) => "pixel_norm",
        }
    }

    /// The type column of a summary: Keras's class name, and the activation or setting.
    fn keras_kind(&self, output: Shape) -> String {
        match self {
            Layer::Dense(l) if l.gain != 1.0 => format!("Dense (equalized lr), {}", l.activation.name()),
            Layer::Dense(l) => format!("Dense, {}", l.activation.name()),
            Layer::Conv2d(l) => format!("Conv2D {0}×{0}/{1} {2}, {3}", l.dims().2, l.stride, l.padding.name(), l.activation.name()),
            Layer::ConvTranspose2d(l) => format!("Conv2DTranspose {0}×{0}/{1} {2}, {3}", l.dims().2, l.stride, l.padding.name(), l.activation.name()),
            Layer::MaxPool2d(l) => format!("MaxPooling2D {0}×{0}", l.pool),
            Layer::BatchNorm(_) => "BatchNormalization".to_owned(),
            Layer::Dropout(l) => format!("Dropout {}", l.rate),
            Layer::GaussianNoise(l) => format!("GaussianNoise σ={}", l.stddev),
            Layer::Reshape(_) if matches!(output, Shape::Flat(_)) => "Flatten".to_owned(),
            Layer::Reshape(_) => "Reshape".to_owned(),
            Layer::Activation(l) => format!("Activation, {}", l.activation.name()),
            Layer::ActivityL1(l) => format!("ActivityRegularization l1={}", l.weight),
            Layer::KlSparsity(l) => format!("KLDivergenceRegularizer {}, ρ={}", l.weight, l.target),
            Layer::MinibatchStd(_) => "MinibatchStdDev".to_owned(),
            Layer::PixelNorm(_) => "PixelNorm".to_owned(),
        }
    }

    /// `(parameters, trainable parameters)` as Keras counts them: batch normalisation's two
    /// running averages are parameters (burn counts them too), not trainable, and a frozen layer
    /// trains none.
    fn keras_params(&self) -> (usize, usize) {
        match self {
            // The running averages are not parameters a gradient moves, frozen or not.
            Layer::BatchNorm(l) => (l.num_params(), trainable_params(&l.gamma) + trainable_params(&l.beta)),
            other => (other.num_params(), trainable_params(other)),
        }
    }

    /// The layer on one batch. With `pre_activation`, its activation is left out.
    fn forward(&self, x: Value, noise: &mut Noise, terms: Option<&mut Vec<LossTerm>>, pre_activation: bool) -> Value {
        let act = |a: Activation| if pre_activation { Activation::Linear } else { a };
        match (self, x) {
            (Layer::Dense(l), Value::Flat(x)) => Value::Flat(l.forward_with(x, act(l.activation))),
            (Layer::Conv2d(l), Value::Image(x)) => Value::Image(l.forward_with(x, act(l.activation))),
            (Layer::ConvTranspose2d(l), Value::Image(x)) => Value::Image(l.forward_with(x, act(l.activation))),
            (Layer::MaxPool2d(l), Value::Image(x)) => Value::Image(max_pool2d(x, l.pool)),
            (Layer::BatchNorm(l), x) => x.map(|x| batch_norm_forward(l, x), |x| batch_norm_forward(l, x)),
            (Layer::Dropout(l), x) => match x {
                Value::Flat(x) => Value::Flat(l.forward(x, noise)),
                Value::Image(x) => Value::Image(l.forward(x, noise)),
            },
            (Layer::GaussianNoise(l), x) => match x {
                Value::Flat(x) => Value::Flat(l.forward(x, noise)),
                Value::Image(x) => Value::Image(l.forward(x, noise)),
            },
            (Layer::Reshape(l), x) => {
                let rows = x.into_rows();
                Value::from_rows(rows, l.to)
            }
            (Layer::Activation(l), x) => {
                let a = act(l.activation);
                x.map(|x| a.apply(x), |x| a.apply(x))
            }
            (Layer::ActivityL1(l), x) => {
                if terms.is_some() {
                    let rows = x.clone().into_rows();
                    let batch = rows.dims()[0] as f64;
                    tensor_term("l1_activity_loss", rows.abs().sum().mul_scalar(l.weight / batch), terms);
                }
                x
            }
            (Layer::KlSparsity(l), x) => {
                if terms.is_some() {
                    let rows = x.clone().into_rows();
                    let batch = rows.dims()[0] as f64;
                    // Keras's kullback_leibler_divergence clips both sides to [ε, 1].
                    let eps = crate::loss::EPSILON;
                    let rho_hat = rows.mean_dim(0).clamp(eps, 1.0);
                    let one_minus = rho_hat.clone().neg().add_scalar(1.0).clamp(eps, 1.0);
                    let (rho, rho_c) = (l.target.clamp(eps, 1.0), (1.0 - l.target).clamp(eps, 1.0));
                    let kl = rho_hat.log().neg().add_scalar(rho.ln()).mul_scalar(rho)
                        + one_minus.log().neg().add_scalar(rho_c.ln()).mul_scalar(rho_c);
                    tensor_term("sparsity_loss", kl.sum().mul_scalar(l.weight / batch), terms);
                }
                x
            }
            (Layer::MinibatchStd(_), Value::Flat(x)) => {
                let [batch, _] = x.dims();
                let std = x.clone().var_bias(0).add_scalar(1e-8).sqrt().mean();
                Value::Flat(Tensor::cat(vec![x, std.reshape([1, 1]).expand([batch, 1])], 1))
            }
            (Layer::MinibatchStd(_), Value::Image(x)) => {
                let [batch, _, h, w] = x.dims();
                let std = x.clone().var_bias(0).add_scalar(1e-8).sqrt().mean();
                Value::Image(Tensor::cat(vec![x, std.reshape([1, 1, 1, 1]).expand([batch, 1, h, w])], 1))
            }
            (Layer::PixelNorm(_), x) => x.map(
                |x| {
                    let norm = x.clone().powi_scalar(2).mean_dim(1).add_scalar(1e-8).sqrt();
                    x / norm
                },
                |x| {
                    let norm = x.clone().powi_scalar(2).mean_dim(1).add_scalar(1e-8).sqrt();
                    x / norm
                },
            ),
            // The builder checked every layer's input shape, so the kinds always match.
            (_, x) => x,
        }
    }
}

/// Layers applied one after the other, Keras's `Sequential`.
#[derive(Module, Debug)]
pub struct Sequential {
    /// The layers, input side first.
    pub layers: Vec<Layer>,
    /// The shape of one input sample.
    #[module(skip)]
    pub input: Shape,
    /// The model's name in summaries.
    #[module(skip)]
    pub name: String,
}

impl Sequential {
    /// Starts a model named `name` taking samples of `input`; its weights are drawn, layer by
    /// layer, from a generator seeded with `seed`.
    pub fn builder(name: &str, input: Shape, seed: u64, device: &Device) -> SequentialBuilder {
        SequentialBuilder {
            model: Sequential { layers: Vec::new(), input, name: name.to_owned() },
            shape: input,
            rng: Rng::new(seed),
            device: device.clone(),
            error: if input.size() == 0 { Some(format!("the input shape {input} has no values")) } else { None },
        }
    }

    /// The shape of one output sample.
    pub fn output_shape(&self) -> Shape {
        self.shapes().last().copied().unwrap_or(self.input)
    }

    /// The output shape of every layer, in order (checked when the model was built).
    pub fn shapes(&self) -> Vec<Shape> {
        let mut shape = self.input;
        self.layers
            .iter()
            .map(|layer| {
                shape = layer.output_shape(shape).unwrap_or(shape);
                shape
            })
            .collect()
    }

    /// The model on a batch, with noise and dropout drawn from `noise` (off unless it is a
    /// training pass), and the loss terms its layers add pushed to `terms`.
    pub fn forward_value(&self, x: Value, noise: &mut Noise, mut terms: Option<&mut Vec<LossTerm>>) -> Value {
        self.layers.iter().fold(x, |h, layer| layer.forward(h, noise, terms.as_deref_mut(), false))
    }

    /// [`Sequential::forward_value`] stopped before the activation of the last layer that has
    /// one, when only reshapes follow it: the logits the loss starts from, and that activation.
    pub fn forward_split(&self, x: Value, noise: &mut Noise, mut terms: Option<&mut Vec<LossTerm>>) -> (Value, Activation) {
        let split = self
            .layers
            .iter()
            .rposition(|l| !l.is_reshape())
            .filter(|&i| self.layers[i].activation() != Activation::Linear);
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h, noise, terms.as_deref_mut(), Some(i) == split);
        }
        (h, split.map_or(Activation::Linear, |i| self.layers[i].activation()))
    }

    /// Every layer's output for the batch `x` (rows of the input shape), at inference: what the
    /// layers see, for figures such as lesson 04's feature maps.
    pub fn activations(&self, x: Tensor<2>) -> Vec<Value> {
        let model = self.valid();
        let mut noise = Noise::inference();
        let mut h = Value::from_rows(x, self.input);
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &model.layers {
            h = layer.forward(h, &mut noise, None, false);
            out.push(h.clone());
        }
        out
    }
}

impl TrainModel for Sequential {
    fn input_size(&self) -> usize {
        self.input.size()
    }

    /// # Shapes
    /// `[batch, input.size()]` → `[batch, output_shape().size()]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_value(Value::from_rows(x, self.input), &mut Noise::inference(), None).into_rows()
    }

    fn forward_train(&self, x: Tensor<2>, noise: &mut Noise) -> TrainOutput {
        let mut terms = Vec::new();
        let (h, activation) = self.forward_split(Value::from_rows(x, self.input), noise, Some(&mut terms));
        TrainOutput { pre_activation: h.into_rows(), activation, terms }
    }

    /// The input shape, then each layer as its summary row reads.
    fn describe(&self) -> Description {
        let mut settings = vec![("input".to_owned(), self.input.to_string())];
        for (i, (layer, shape)) in self.layers.iter().zip(self.shapes()).enumerate() {
            settings.push((format!("layer {}", i + 1), format!("{} → {shape}", layer.keras_kind(shape))));
        }
        Description { model: self.name.clone(), settings }
    }
}

crate::train::compiled_training_methods!(Sequential);

impl Summary for Sequential {
    /// Keras's summary: each layer's output shape (height, width, channels) and parameters.
    fn summary(&self) -> ModelSummary {
        let mut summary = ModelSummary::new(&self.name);
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for (layer, shape) in self.layers.iter().zip(self.shapes()) {
            let base = layer.keras_name(shape);
            let n = match counts.iter_mut().find(|(name, _)| *name == base) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((base, 0));
                    0
                }
            };
            let name = if n == 0 { base.to_owned() } else { format!("{base}_{n}") };
            let (params, trainable) = layer.keras_params();
            summary = summary.partly_trainable_layer(&name, &layer.keras_kind(shape), &shape.keras(), params, trainable);
        }
        summary
    }
}

/// The gradient of a scalar-output network of dense layers with respect to its input, written
/// out as tensor operations (backpropagation by hand), so that a loss on it — WGAN-GP's gradient
/// penalty — can itself be differentiated by autodiff with respect to the weights. burn computes
/// first derivatives only; this is the "double backpropagation" the penalty needs, for networks
/// of `Dense` layers (and `PixelNorm`-free, noise-free ones) with linear, ReLU, leaky ReLU, SELU,
/// tanh or sigmoid activations. Anything else is refused.
///
/// # Shapes
/// `[batch, inputs]` → `[batch, inputs]`
pub fn dense_input_gradient(net: &Sequential, x: Tensor<2>) -> Result<Tensor<2>> {
    let mut layers = Vec::new();
    for layer in &net.layers {
        match layer {
            Layer::Dense(d) => layers.push(d),
            Layer::Reshape(r) if matches!(r.to, Shape::Flat(_)) => {}
            other => {
                return Err(CourseError::bad_config(
                    "gradient penalty",
                    format!("the critic's input gradient is written out for dense layers only, and it has a {} layer", other.keras_name(Shape::Flat(1))),
                ));
            }
        }
    }
    if layers.last().is_none_or(|d| d.units() != 1) {
        return Err(CourseError::bad_config("gradient penalty", "the critic must end with one output unit"));
    }
    // Forward, keeping each layer's pre-activation.
    let mut pre = Vec::with_capacity(layers.len());
    let mut h = x;
    for d in &layers {
        let a = d.affine(h);
        h = d.activation.apply(a.clone());
        pre.push(a);
    }
    // Backward: dD/da of the last layer, then through each weight matrix and activation.
    let [batch, _] = pre[pre.len() - 1].dims();
    let mut delta = derivative(layers[layers.len() - 1].activation, pre[pre.len() - 1].clone(), batch)?;
    for l in (0..layers.len()).rev() {
        let weight = layers[l].weight.val().mul_scalar(layers[l].gain);
        let back = delta.matmul(weight.transpose());
        if l == 0 {
            return Ok(back);
        }
        delta = back * derivative(layers[l - 1].activation, pre[l - 1].clone(), batch)?;
    }
    unreachable!("a network with layers returns from the loop")
}

/// The derivative of `activation` at `a`, elementwise.
fn derivative(activation: Activation, a: Tensor<2>, batch: usize) -> Result<Tensor<2>> {
    let ones = |a: &Tensor<2>| a.ones_like();
    let _ = batch;
    Ok(match activation {
        Activation::Linear => ones(&a),
        Activation::Relu => a.greater_elem(0.0).float(),
        Activation::LeakyRelu(slope) => {
            let positive = a.clone().greater_elem(0.0).float();
            positive.clone() + positive.neg().add_scalar(1.0).mul_scalar(slope as f64)
        }
        Activation::Selu => {
            // selu'(a) = λ for a > 0, λ·α·eᵃ otherwise.
            const ALPHA: f64 = 1.673_263_242_354_377_3;
            const LAMBDA: f64 = 1.050_700_987_355_480_5;
            let positive = a.clone().greater_elem(0.0).float();
            let negative = positive.clone().neg().add_scalar(1.0);
            positive.mul_scalar(LAMBDA) + negative * a.clamp_max(0.0).exp().mul_scalar(LAMBDA * ALPHA)
        }
        Activation::Tanh => a.tanh().powi_scalar(2).neg().add_scalar(1.0),
        Activation::Sigmoid => {
            let s = burn::tensor::activation::sigmoid(a);
            s.clone() * s.neg().add_scalar(1.0)
        }
        Activation::Softmax => return Err(CourseError::bad_config("gradient penalty", "a softmax critic has no single score; end it with one linear unit")),
    })
}

/// Builds a [`Sequential`] one layer at a time. A layer that cannot take the shape before it is
/// reported by [`SequentialBuilder::build`], naming the layer and the fix.
pub struct SequentialBuilder {
    model: Sequential,
    shape: Shape,
    rng: Rng,
    device: Device,
    error: Option<String>,
}

impl SequentialBuilder {
    /// The shape the next layer receives.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Appends `layer`, checking that it takes the current shape.
    pub fn layer(mut self, layer: Layer) -> SequentialBuilder {
        if self.error.is_some() {
            return self;
        }
        match layer.output_shape(self.shape) {
            Ok(shape) => {
                self.shape = shape;
                self.model.layers.push(layer);
            }
            Err(problem) => {
                // Named by what it would make: a reshape of a flat input to an image is no flatten.
                let output = match &layer {
                    Layer::Reshape(r) => r.to,
                    _ => self.shape,
                };
                self.error = Some(format!("layer {} ({}): {problem}", self.model.layers.len() + 1, layer.keras_name(output)));
            }
        }
        self
    }

    fn channels(&self) -> usize {
        match self.shape {
            Shape::Image { channels, .. } => channels,
            Shape::Flat(n) => n,
        }
    }

    fn positive(mut self, what: &str, values: &[usize]) -> SequentialBuilder {
        if self.error.is_none() && values.contains(&0) {
            self.error = Some(format!("layer {} ({what}): sizes, kernels and strides must be at least 1", self.model.layers.len() + 1));
        }
        self
    }

    /// Keras's `Dense(units, activation=...)`.
    pub fn dense(self, units: usize, activation: Activation) -> SequentialBuilder {
        let mut b = self.positive("dense", &[units]);
        let inputs = b.shape.size();
        let layer = Dense::new(inputs, units, activation, &mut b.rng, &b.device);
        b.layer(Layer::Dense(layer))
    }

    /// Keras's `Conv2D(filters, kernel_size, strides, padding, activation)`.
    pub fn conv2d(self, filters: usize, kernel: usize, stride: usize, padding: Padding, activation: Activation) -> SequentialBuilder {
        let mut b = self.positive("conv2d", &[filters, kernel, stride]);
        let layer = Conv2d::new(b.channels(), filters, kernel.max(1), stride.max(1), padding, activation, &mut b.rng, &b.device);
        b.layer(Layer::Conv2d(layer))
    }

    /// Keras's `Conv2DTranspose(filters, kernel_size, strides, padding, activation)`.
    pub fn conv_transpose2d(self, filters: usize, kernel: usize, stride: usize, padding: Padding, activation: Activation) -> SequentialBuilder {
        let mut b = self.positive("conv2d_transpose", &[filters, kernel, stride]);
        let layer = ConvTranspose2d::new(b.channels(), filters, kernel.max(1), stride.max(1), padding, activation, &mut b.rng, &b.device);
        b.layer(Layer::ConvTranspose2d(layer))
    }

    /// Keras's `MaxPool2D(pool_size)`.
    pub fn max_pool2d(self, pool: usize) -> SequentialBuilder {
        self.positive("max_pooling2d", &[pool]).layer(Layer::MaxPool2d(MaxPool2d { pool }))
    }

    /// Keras's `BatchNormalization()`.
    pub fn batch_norm(self) -> SequentialBuilder {
        let layer = batch_norm(self.channels().max(1), &self.device);
        self.layer(Layer::BatchNorm(layer))
    }

    /// Keras's `Dropout(rate)`.
    pub fn dropout(mut self, rate: f64) -> SequentialBuilder {
        if self.error.is_none() && !(0.0..1.0).contains(&rate) {
            self.error = Some(format!("dropout rate must be in [0, 1), got {rate}"));
        }
        self.layer(Layer::Dropout(Dropout { rate }))
    }

    /// Keras's `GaussianNoise(stddev)`.
    pub fn gaussian_noise(mut self, stddev: f64) -> SequentialBuilder {
        if self.error.is_none() && !(stddev.is_finite() && stddev >= 0.0) {
            self.error = Some(format!("the noise's standard deviation must be 0 or more, got {stddev}"));
        }
        self.layer(Layer::GaussianNoise(GaussianNoise { stddev }))
    }

    /// Keras's `Reshape(target_shape)`.
    pub fn reshape(self, to: Shape) -> SequentialBuilder {
        self.layer(Layer::Reshape(Reshape { to }))
    }

    /// Keras's `Flatten()`.
    pub fn flatten(self) -> SequentialBuilder {
        let to = Shape::Flat(self.shape.size());
        self.layer(Layer::Reshape(Reshape { to }))
    }

    /// An activation as its own layer (Keras's `Activation`, `LeakyReLU`).
    pub fn activation(self, activation: Activation) -> SequentialBuilder {
        self.layer(Layer::Activation(ActivationLayer { activation }))
    }

    /// Keras's `ActivityRegularization(l1=weight)`.
    pub fn activity_l1(mut self, weight: f64) -> SequentialBuilder {
        if self.error.is_none() && !(weight.is_finite() && weight >= 0.0) {
            self.error = Some(format!("the L1 weight must be 0 or more, got {weight}"));
        }
        self.layer(Layer::ActivityL1(ActivityL1 { weight }))
    }

    /// The book's `KLDivergenceRegularizer(weight, target)`, on a sigmoid layer's output.
    pub fn kl_sparsity(mut self, weight: f64, target: f64) -> SequentialBuilder {
        if self.error.is_none() && !(weight.is_finite() && weight >= 0.0 && target > 0.0 && target < 1.0) {
            self.error = Some(format!("the KL sparsity needs a weight of 0 or more and a target in (0, 1), got {weight} and {target}"));
        }
        self.layer(Layer::KlSparsity(KlSparsity { weight, target }))
    }

    /// ProGAN's equalized-learning-rate `Dense` ([`Dense::equalized`]).
    pub fn equalized_dense(self, units: usize, activation: Activation) -> SequentialBuilder {
        let mut b = self.positive("dense", &[units]);
        let inputs = b.shape.size();
        let layer = Dense::equalized(inputs, units, activation, &mut b.rng, &b.device);
        b.layer(Layer::Dense(layer))
    }

    /// ProGAN's minibatch standard deviation ([`MinibatchStd`]).
    pub fn minibatch_std(self) -> SequentialBuilder {
        self.layer(Layer::MinibatchStd(MinibatchStd {}))
    }

    /// ProGAN's pixel-wise normalisation ([`PixelNorm`]).
    pub fn pixel_norm(self) -> SequentialBuilder {
        self.layer(Layer::PixelNorm(PixelNorm {}))
    }

    /// The model, or the first layer that did not fit, with the fix.
    pub fn build(self) -> Result<Sequential> {
        match self.error {
            Some(problem) => Err(CourseError::bad_config(&self.model.name, problem)),
            None => Ok(self.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::matrix::Matrix;
    use crate::train::{Data, FitConfig, Loss, OptimizerConfig, predict};

    #[test]
    fn a_dense_layer_on_images_names_the_fix() {
        let err = Sequential::builder("m", Shape::fashion_image(), 1, &Device::flex())
            .conv2d(4, 3, 1, Padding::Same, Activation::Selu)
            .dense(10, Activation::Softmax)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 2 (dense)") && err.contains(".flatten()"), "{err}");
    }

    #[test]
    fn too_much_pooling_is_refused() {
        let err = Sequential::builder("m", Shape::image(1, 4, 4), 1, &Device::flex())
            .max_pool2d(2)
            .max_pool2d(2)
            .max_pool2d(2)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 3") && err.contains("too small"), "{err}");
    }

    /// Noise and dropout are active in a training pass only, differ from batch to batch, and
    /// repeat on the same seed.
    #[test]
    fn noise_and_dropout_layers_act_only_while_training() {
        let device = Device::flex();
        for model in [
            Sequential::builder("n", Shape::Flat(64), 1, &device).gaussian_noise(0.5).build().unwrap(),
            Sequential::builder("d", Shape::Flat(64), 1, &device).dropout(0.5).build().unwrap(),
        ] {
            let x = Matrix::new(4, 64, vec![1.0; 256]).unwrap();
            assert_eq!(predict(&model, &x).unwrap(), x, "inference must pass the input through");
            let pass = |noise: &mut Noise| Matrix::from_tensor(model.forward_train(x.to_tensor(&device), noise).pre_activation);
            let mut noise = Noise::training(3);
            let (first, second) = (pass(&mut noise), pass(&mut noise));
            assert_ne!(first, x);
            assert_ne!(first, second, "each batch gets fresh noise");
            assert_eq!(pass(&mut Noise::training(3)), first, "the same seed repeats the noise");
        }
    }

    /// The slides' convolutional autoencoder: every shape and Keras's parameter counts.
    #[test]
    fn the_slides_conv_autoencoder_has_keras_shapes_and_counts() {
        let device = Device::flex();
        let encoder = Sequential::builder("conv_encoder", Shape::fashion_image(), 42, &device)
            .conv2d(16, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .conv2d(32, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .conv2d(64, 3, 1, Padding::Same, Activation::Selu)
            .max_pool2d(2)
            .build()
            .unwrap();
        assert_eq!(encoder.output_shape(), Shape::image(64, 3, 3));
        assert_eq!(encoder.summary().total_params(), 23_296);
        let decoder = Sequential::builder("conv_decoder", Shape::image(64, 3, 3), 42, &device)
            .conv_transpose2d(32, 3, 2, Padding::Valid, Activation::Selu)
            .conv_transpose2d(16, 3, 2, Padding::Same, Activation::Selu)
            .conv_transpose2d(1, 3, 2, Padding::Same, Activation::Sigmoid)
            .reshape(Shape::Flat(784))
            .build()
            .unwrap();
        let sides: Vec<Vec<usize>> = decoder.shapes().iter().map(|s| s.keras()).collect();
        assert_eq!(sides, [vec![7, 7, 32], vec![14, 14, 16], vec![28, 28, 1], vec![784]]);
        assert_eq!(decoder.summary().total_params(), 23_233);
        // The real tensors have the shapes the summary says.
        let x = Matrix::new(2, 784, vec![0.5; 2 * 784]).unwrap();
        let codings = predict(&encoder, &x).unwrap();
        assert_eq!((codings.rows, codings.cols), (2, 576));
        assert_eq!(predict(&decoder, &codings).unwrap().cols, 784);
    }

    /// Batch normalisation: Keras counts 4 parameters per channel, 2 of them trainable; training
    /// moves the running averages, inference uses them.
    #[test]
    fn batch_norm_trains_on_batch_statistics_and_infers_with_running_ones() {
        let device = Device::flex().autodiff();
        let mut model = Sequential::builder("bn", Shape::Flat(3), 1, &device).batch_norm().build().unwrap();
        let s = model.summary();
        assert_eq!((s.total_params(), s.trainable_params()), (12, 6));
        let x = Matrix::new(4, 3, vec![1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 7.0, 8.0, 9.0]).unwrap();
        let before = predict(&model, &x).unwrap();
        // At the start the running mean is 0 and variance 1: inference is nearly the identity.
        assert!(before.data.iter().zip(&x.data).all(|(a, b)| (a - b).abs() < 1e-2));
        let config = FitConfig::new(OptimizerConfig::sgd(0.01), Loss::Mse).with_verbose(false).with_epochs(50).with_batch_size(4);
        model.fit(Data::autoencoder(&x), None, &config).unwrap();
        let after = predict(&model, &x).unwrap();
        assert_ne!(after, before, "the running statistics moved");
    }

    /// A model with batch normalisation between two layers: dense → normalisation → dense.
    fn normalised(device: &Device) -> Sequential {
        Sequential::builder("bn", Shape::Flat(3), 1, device).dense(3, Activation::Linear).batch_norm().dense(3, Activation::Linear).build().unwrap()
    }

    /// Four rows of three values, one batch.
    fn four_rows() -> Matrix {
        Matrix::new(4, 3, vec![1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 7.0, 8.0, 9.0]).unwrap()
    }

    /// Training a clone leaves the original alone, running statistics included (burn's clones
    /// share them).
    #[test]
    fn training_a_clone_leaves_the_original_alone() {
        let device = Device::flex().autodiff();
        let x = four_rows();
        let original = normalised(&device);
        let before = predict(&original, &x).unwrap();
        let mut copy = original.clone();
        copy.fit(Data::autoencoder(&x), None, &FitConfig::new(OptimizerConfig::sgd(0.01), Loss::Mse).with_verbose(false).with_epochs(20).with_batch_size(4)).unwrap();
        assert_ne!(predict(&copy, &x).unwrap(), before, "the copy trained");
        assert_eq!(predict(&original, &x).unwrap(), before, "the original is unchanged");
    }

    /// Loading a checkpoint gives a new model and leaves the one it was loaded into alone, running
    /// statistics included.
    #[test]
    fn loading_a_checkpoint_leaves_the_fresh_model_alone() {
        let device = Device::flex().autodiff();
        let x = four_rows();
        let mut trained = normalised(&device);
        trained.fit(Data::autoencoder(&x), None, &FitConfig::new(OptimizerConfig::sgd(0.01), Loss::Mse).with_verbose(false).with_epochs(20).with_batch_size(4)).unwrap();
        let path = std::env::temp_dir().join(format!("course-bn-{}.ckpt", std::process::id()));
        crate::checkpoint::save_checkpoint(&trained, &path).unwrap();
        let fresh = normalised(&device);
        let before = predict(&fresh, &x).unwrap();
        let loaded = crate::checkpoint::load_checkpoint(&fresh, &path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(predict(&loaded, &x).unwrap(), predict(&trained, &x).unwrap());
        assert_eq!(predict(&fresh, &x).unwrap(), before, "the fresh model is unchanged");
    }

    /// A run that diverges leaves the model of its last good step, running statistics included:
    /// burn's clones share those, so a rollback by `clone` alone kept the diverged batches'.
    #[test]
    fn a_diverged_fit_leaves_the_running_statistics_of_its_last_good_model() {
        let device = Device::flex().autodiff();
        let x = four_rows();
        // One batch per epoch, so that epoch e is step e.
        let config = FitConfig::new(OptimizerConfig::sgd(1e9), Loss::Mse).with_verbose(false).with_epochs(50).with_batch_size(4);
        let mut model = normalised(&device);
        let Err(CourseError::Diverged { epoch, .. }) = model.fit(Data::autoencoder(&x), None, &config) else { panic!("a learning rate of 1e9 diverges") };
        assert!(epoch >= 3, "diverged at step {epoch}: too soon to tell a rollback from the start");
        // `fit` goes back to before the update that made the diverging parameters: the model after
        // step epoch − 2, which a run of that many epochs ends with.
        let mut last_good = normalised(&device);
        last_good.fit(Data::autoencoder(&x), None, &config.clone().with_epochs(epoch - 2)).unwrap();
        let (ours, theirs) = (predict(&model, &x).unwrap(), predict(&last_good, &x).unwrap());
        assert!(ours.data.iter().all(|v| v.is_finite()), "{ours:?}");
        assert_eq!(ours, theirs);
    }
}
