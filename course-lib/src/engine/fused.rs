//! The convolutional layers' host kernels ([`crate::engine::kernels`]) as burn operations: a forward on
//! the host and a hand-written backward registered with burn's autodiff, on the `flex` backend
//! (plain or with autodiff). [`crate::layers`] uses them when the tensors live there and burn's
//! own operations on every other backend (a GPU keeps its kernels).
//!
//! The dense product, the convolution, the transposed convolution and lesson 09's depthwise
//! convolution are one generic operation ([`HostOp`]): each says what its forward computes and
//! keeps (a convolution its column matrix, a transposed convolution its input, a dense layer its
//! input, the depthwise convolution its input and filters), and how its gradients follow from the
//! output's; the activation's derivative is read from the output, in one place. The pooling and
//! the upsampling are one smaller generic operation of one input ([`OneInputOp`]): the pooling
//! keeps the position of each maximum, the upsampling nothing. The tests check every gradient
//! against burn's own operations.

use crate::engine::kernels::{self, Geometry, Scratch, View, Windows};
use crate::engine::activation::Activation;
use burn::backend::{Autodiff, BackendTypes, DispatchKindConversion, DispatchTensor, Flex, TensorMetadata};
use burn::tensor::{Device, GradientCheckpointingStrategy, Tensor, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;
use std::borrow::Cow;

/// Whether the host kernels can take `x`: it lives on the flex backend (with or without
/// autodiff), and the course has not been told to use burn's operations (`COURSE_HOST_KERNELS=0`,
/// for comparing the two).
pub(crate) fn available<const D: usize>(x: &Tensor<D>) -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let enabled = *ENABLED.get_or_init(|| std::env::var("COURSE_HOST_KERNELS").map_or(true, |v| v != "0"));
    #[cfg(test)]
    if tests::BURN_ONLY.get() {
        return false;
    }
    let device = x.device();
    enabled && (device == Device::flex() || device == Device::flex().autodiff())
}

/// Panics unless the host kernels fuse `activation` (the layers split it first with
/// [`Activation::host_split`]): their backward would be wrong for any other.
fn fusable(activation: Activation) {
    assert!(activation.host_split().1 == Activation::Linear, "the host kernels cannot fuse {activation:?}");
}

fn host(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        // The course's tensors are contiguous f32; anything else is converted once.
        None => Cow::Owned(t.clone().into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()),
    }
}

fn flex(values: Vec<f32>, dims: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

type AdPrim<C> = <Autodiff<Flex, C> as BackendTypes>::FloatTensorPrimitive;

/// The autodiff context of the inputs: `None` when none is tracked by autodiff.
fn context(strategies: &[Option<GradientCheckpointingStrategy>]) -> Option<GradientCheckpointingStrategy> {
    strategies.iter().flatten().next().copied()
}

fn plain<const D: usize>(t: Tensor<D>) -> FlexTensor {
    t.try_into_primitive::<Flex>().unwrap_or_else(|_| unreachable!("fused::available checked the device"))
}

/// The primitive of `t` in the autodiff context `s` (a plain tensor joins it as a constant).
fn tracked<C: CheckpointStrategy, const D: usize>(t: Tensor<D>, s: GradientCheckpointingStrategy) -> AdPrim<C>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let t = if t.is_autodiff() { t } else { t.autodiff().with_gradient_checkpointing_strategy(s) };
    t.try_into_primitive::<Autodiff<Flex, C>>().unwrap_or_else(|_| unreachable!("fused::available checked the device"))
}

// ---------------------------------------------------------------------------------------------
// One host operation: y = activation(f(x, W) + b), its backward written by hand
// ---------------------------------------------------------------------------------------------

/// A layer's affine map and activation as one host operation of three inputs (the layer's input,
/// weight and bias): the dense product, the convolution and the transposed convolution. Each says
/// how to compute its output and, from the output's gradient, the three inputs' gradients;
/// [`host_op`] does the rest once for all of them (the autodiff context, the graph node, the
/// activation's derivative).
trait HostOp: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// What the backward keeps from the forward, besides the output.
    type Saved: Clone + std::fmt::Debug + Send + 'static;

    /// Applied to the output (one that [`Activation::host_split`] leaves whole).
    fn activation(&self) -> Activation;

    /// The activated output, its dims, and what the backward needs.
    fn forward(&self, x: FlexTensor, w: FlexTensor, b: &FlexTensor) -> (Vec<f32>, Vec<usize>, Self::Saved);

    /// The gradients of the input, the weight and the bias from `dz`, the gradient of the output
    /// before its activation (in the output's layout); each computed only when `wanted`.
    fn backward(&self, saved: &Self::Saved, dz: &[f32], wanted: [bool; 3]) -> [Option<FlexTensor>; 3];
}

/// The autodiff node of a [`HostOp`].
#[derive(Debug)]
struct HostBackward<O>(std::marker::PhantomData<O>);

#[derive(Debug, Clone)]
struct HostState<O: HostOp> {
    op: O,
    saved: O::Saved,
    /// The activated output, from which the activation's derivative is read (the graph's own
    /// output tensor, shared, not a copy).
    y: FlexTensor,
}

impl<O: HostOp> Backward<Flex, 3> for HostBackward<O> {
    type State = HostState<O>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let HostState { op, saved, y } = ops.state;
        let mut dy = grads.consume::<Flex>(&ops.node);
        // dz = dy ⊙ activation′(y), in dy's own buffer when dy is f32, whole and not shared (the
        // usual case: no copy), in a copy otherwise.
        let whole = dy.dtype() == burn::tensor::DType::F32 && dy.as_slice::<f32>().is_some_and(|v| v.len() * 4 == dy.bytes().len());
        let mut copy: Vec<f32>;
        let dz: &mut [f32] = match dy.try_storage_mut::<f32>() {
            Some(values) if whole => values,
            _ => {
                copy = host(&dy).into_owned();
                &mut copy
            }
        };
        kernels::activation_backward(dz, &host(&y), op.activation());
        let wanted = ops.parents.each_ref().map(Option::is_some);
        for (parent, gradient) in ops.parents.into_iter().zip(op.backward(&saved, dz, wanted)) {
            if let (Some(node), Some(gradient)) = (parent, gradient) {
                grads.register::<Flex>(node.id, gradient);
            }
        }
    }
}

fn host_op_autodiff<C: CheckpointStrategy, O: HostOp, const D: usize, const E: usize>(op: O, x: Tensor<D>, w: Tensor<E>, b: Tensor<1>, s: GradientCheckpointingStrategy) -> Tensor<D>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, D>(x, s).into_parts();
    let (w, wn) = tracked::<C, E>(w, s).into_parts();
    let (b, bn) = tracked::<C, 1>(b, s).into_parts();
    let (y, dims, saved) = op.forward(x, w, &b);
    let out = flex(y, dims);
    let result = match HostBackward::<O>(std::marker::PhantomData).prepare::<C>([xn, wn, bn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(HostState { op, saved, y: out.clone() }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// `op` on the host, plain or tracked by autodiff as its inputs are (call when [`available`]).
fn host_op<O: HostOp, const D: usize, const E: usize>(op: O, x: Tensor<D>, w: Tensor<E>, b: Tensor<1>) -> Tensor<D> {
    fusable(op.activation());
    match context(&[x.gradient_checkpointing_strategy(), w.gradient_checkpointing_strategy(), b.gradient_checkpointing_strategy()]) {
        None => {
            let (y, dims, _) = op.forward(plain(x), plain(w), &plain(b));
            Tensor::from_primitive::<Flex>(flex(y, dims))
        }
        Some(s @ GradientCheckpointingStrategy::Disabled) => host_op_autodiff::<NoCheckpointing, O, D, E>(op, x, w, b, s),
        Some(s @ GradientCheckpointingStrategy::Balanced) => host_op_autodiff::<BalancedCheckpointing, O, D, E>(op, x, w, b, s),
    }
}

// ---------------------------------------------------------------------------------------------
// Convolution: y = activation(W · im2col(x) + b)
// ---------------------------------------------------------------------------------------------

/// How a convolution is laid out: stride, padding and the activation fused into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConvSpec {
    /// Step between kernel positions.
    pub stride: usize,
    /// `(top, bottom)` padding rows.
    pub pad_h: (usize, usize),
    /// `(left, right)` padding columns.
    pub pad_w: (usize, usize),
    /// Applied to the output.
    pub activation: Activation,
}

fn conv_geometry(x: &[usize], w: &[usize], spec: &ConvSpec) -> Geometry {
    let k = w[2];
    let out = |side: usize, pad: (usize, usize)| (side + pad.0 + pad.1).saturating_sub(k) / spec.stride + 1;
    Geometry {
        batch: x[0],
        channels: x[1],
        height: x[2],
        width: x[3],
        kernel: k,
        stride: spec.stride,
        pad_top: spec.pad_h.0,
        pad_left: spec.pad_w.0,
        out_h: out(x[2], spec.pad_h),
        out_w: out(x[3], spec.pad_w),
    }
}

/// What a convolution's backward keeps: the column matrix (or, for a 1 × 1 convolution, the
/// input, which is its own column matrix image by image) and the weight.
#[derive(Debug, Clone)]
struct ConvSaved {
    col: Columns,
    w: FlexTensor,
    g: Geometry,
    out_c: usize,
}

/// The columns a convolution's weight gradient is made from.
#[derive(Debug, Clone)]
enum Columns {
    /// im2col of the input, `[channels·k·k, batch·positions]`.
    Matrix(Scratch),
    /// The input itself, for the convolutions computed without a column matrix ([`pointwise`],
    /// [`by_planes`]).
    Images(FlexTensor),
}

/// The most output maps a 3 × 3 convolution may have to be computed plane by plane
/// ([`by_planes`]).
const PLANES_MAX_OUT: usize = 4;

/// Whether `g` with `out_c` output maps is a 3 × 3 convolution with stride 1 and Keras's "same"
/// padding with at most [`PLANES_MAX_OUT`] output maps, which the host computes plane by plane
/// ([`kernels::conv3x3_planes`]): lesson 09's head (48 maps to one at 32 × 32), whose column
/// matrix was 57 MB a batch, written and read forward and again backward.
fn by_planes(g: &Geometry, out_c: usize) -> bool {
    g.kernel == 3 && g.stride == 1 && g.pad_top == 1 && g.pad_left == 1 && (g.out_h, g.out_w) == (g.height, g.width) && out_c <= PLANES_MAX_OUT
}

/// Whether `g` is a 1 × 1 convolution with stride 1 and no padding, which the host computes image
/// by image on the input as it lies (`[batch, channels, h, w]`: each image a `channels ×
/// positions` matrix), without a column matrix or a layout conversion: the separable
/// convolutions' pointwise step and the U-Net's links. Its im2col and col2im copies were a
/// quarter of lesson 09's training step (`perf`, 2026-12-05).
fn pointwise(g: &Geometry) -> bool {
    g.kernel == 1 && g.stride == 1 && g.pad_top == 0 && g.pad_left == 0 && (g.out_h, g.out_w) == (g.height, g.width)
}

impl HostOp for ConvSpec {
    type Saved = ConvSaved;

    fn activation(&self) -> Activation {
        self.activation
    }

    fn forward(&self, x: FlexTensor, w: FlexTensor, b: &FlexTensor) -> (Vec<f32>, Vec<usize>, ConvSaved) {
        let g = conv_geometry(&x.shape(), &w.shape(), self);
        let out_c = w.shape()[0];
        let bias = host(b);
        assert_eq!(bias.len(), out_c, "convolution: {} biases for {out_c} feature maps", bias.len());
        if pointwise(&g) || by_planes(&g, out_c) {
            // Without a column matrix: each output plane (NCHW, as it will be returned) started at
            // its bias, then added onto image by image (1 × 1) or plane by plane (3 × 3).
            let positions = g.out_h * g.out_w;
            let mut y = vec![0.0f32; g.batch * out_c * positions];
            for (plane, &bias) in y.chunks_mut(positions.max(1)).zip(bias.iter().cycle()) {
                plane.fill(bias);
            }
            if pointwise(&g) {
                kernels::matmul_each_image(View::new(&host(&w), out_c, g.channels), &host(&x), positions, &mut y, true);
            } else {
                kernels::conv3x3_planes(&host(&x), &host(&w), g.batch, g.channels, g.height, g.width, &mut y);
            }
            kernels::activate(&mut y, self.activation);
            return (y, vec![g.batch, out_c, g.out_h, g.out_w], ConvSaved { col: Columns::Images(x), w, g, out_c });
        }
        let mut col = Scratch::for_overwrite(g.col_rows() * g.col_cols());
        kernels::im2col(&host(&x), &g, &mut col);
        // [out, batch·positions], started at the bias (one value per row) so that the product
        // adds onto it.
        let mut z = Scratch::for_overwrite(out_c * g.col_cols());
        for (row, &bias) in z.chunks_mut(g.col_cols()).zip(bias.iter()) {
            row.fill(bias);
        }
        kernels::matmul(View::new(&host(&w), out_c, g.col_rows()), View::new(&col, g.col_rows(), g.col_cols()), &mut z, true);
        kernels::activate(&mut z, self.activation);
        let mut y = vec![0.0f32; z.len()];
        kernels::channel_major_to_nchw(&z, g.batch, out_c, g.out_h * g.out_w, &mut y);
        (y, vec![g.batch, out_c, g.out_h, g.out_w], ConvSaved { col: Columns::Matrix(col), w, g, out_c })
    }

    fn backward(&self, s: &ConvSaved, dz: &[f32], wanted: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let col = match &s.col {
            Columns::Matrix(col) => col,
            Columns::Images(x) if pointwise(&s.g) => return pointwise_backward(s, &host(x), dz, wanted),
            Columns::Images(x) => return planes_backward(s, &host(x), dz, wanted),
        };
        let [want_x, want_w, want_b] = wanted;
        let (g, (rows, cols)) = (s.g, (s.g.col_rows(), s.g.col_cols()));
        // Channel-major, like the forward product.
        let mut dzc = Scratch::for_overwrite(dz.len());
        kernels::nchw_to_channel_major(dz, g.batch, s.out_c, g.out_h * g.out_w, &mut dzc);
        let db = want_b.then(|| flex(dzc.chunks(cols).map(|r| r.iter().sum()).collect(), vec![s.out_c]));
        let dw = want_w.then(|| {
            // dW = dz · colᵀ
            let mut dw = vec![0.0f32; s.out_c * rows];
            kernels::matmul(View::new(&dzc, s.out_c, cols), View::new(col, rows, cols).t(), &mut dw, false);
            flex(dw, vec![s.out_c, g.channels, g.kernel, g.kernel])
        });
        let dx = want_x.then(|| {
            // dcol = Wᵀ · dz, added back into the image frame.
            let mut dcol = Scratch::for_overwrite(rows * cols);
            kernels::matmul(View::new(&host(&s.w), s.out_c, rows).t(), View::new(&dzc, s.out_c, cols), &mut dcol, false);
            let mut dx = vec![0.0f32; g.batch * g.channels * g.height * g.width];
            kernels::col2im_add(&dcol, &g, &mut dx);
            flex(dx, vec![g.batch, g.channels, g.height, g.width])
        });
        [dx, dw, db]
    }
}

/// A 1 × 1 convolution's gradients ([`pointwise`]) image by image, from `dz` (NCHW, the output's
/// layout): `dx[i] = Wᵀ · dz[i]`, `dW = Σ dz[i] · x[i]ᵀ`, `db` the sum of each output channel.
fn pointwise_backward(s: &ConvSaved, x: &[f32], dz: &[f32], [want_x, want_w, want_b]: [bool; 3]) -> [Option<FlexTensor>; 3] {
    let (g, out_c) = (s.g, s.out_c);
    let positions = g.out_h * g.out_w;
    let db = want_b.then(|| flex(channel_sums(dz, out_c, positions), vec![out_c]));
    let dw = want_w.then(|| flex(kernels::matmul_transposed_sum(dz, x, out_c, g.channels, positions), vec![out_c, g.channels, 1, 1]));
    let dx = want_x.then(|| {
        let mut dx = vec![0.0f32; x.len()];
        kernels::matmul_each_image(View::new(&host(&s.w), out_c, g.channels).t(), dz, positions, &mut dx, false);
        flex(dx, vec![g.batch, g.channels, g.height, g.width])
    });
    [dx, dw, db]
}

/// The gradients of a convolution computed plane by plane ([`by_planes`]), from `dz` (NCHW).
fn planes_backward(s: &ConvSaved, x: &[f32], dz: &[f32], [want_x, want_w, want_b]: [bool; 3]) -> [Option<FlexTensor>; 3] {
    let g = s.g;
    let db = want_b.then(|| flex(channel_sums(dz, s.out_c, g.out_h * g.out_w), vec![s.out_c]));
    let dw = want_w.then(|| flex(kernels::conv3x3_planes_filter_gradient(dz, x, g.batch, g.channels, g.height, g.width), vec![s.out_c, g.channels, 3, 3]));
    let dx = want_x.then(|| flex(kernels::conv3x3_planes_input_gradient(dz, &host(&s.w), g.batch, g.channels, g.height, g.width), vec![g.batch, g.channels, g.height, g.width]));
    [dx, dw, db]
}

/// Each channel's sum over the batch and the positions of NCHW `values` (a bias's gradient), in
/// batch order.
fn channel_sums(values: &[f32], channels: usize, positions: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; channels];
    for (i, plane) in values.chunks(positions.max(1)).enumerate() {
        sums[i % channels] += kernels::plane_sum(plane);
    }
    sums
}

/// A convolution with its bias and activation, on the host (call when [`available`]).
///
/// # Shapes
/// `[batch, in, h, w]`, `[out, in, k, k]`, `[out]` → `[batch, out, h', w']`
pub(crate) fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, spec: ConvSpec) -> Tensor<4> {
    host_op(spec, x, weight, bias)
}

// ---------------------------------------------------------------------------------------------
// Transposed convolution: y = activation(crop(col2im(Aᵀ · x)) + b)
// ---------------------------------------------------------------------------------------------

/// How a transposed convolution is laid out: stride, the output side, where the output starts in
/// the full result, and the activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConvTransposeSpec {
    /// Upsampling factor.
    pub stride: usize,
    /// `(rows, columns)` of the output.
    pub out: (usize, usize),
    /// `(top, left)` of the output in the full, uncropped result.
    pub crop: (usize, usize),
    /// Applied to the output.
    pub activation: Activation,
}

impl ConvTransposeSpec {
    /// The rows and columns of the output that come from the full result: all of them, but where
    /// the kernel is narrower than the stride (the output's last pixels are the bias alone).
    fn kept(&self, g: &Geometry) -> (usize, usize) {
        (self.out.0.min(g.height.saturating_sub(self.crop.0)), self.out.1.min(g.width.saturating_sub(self.crop.1)))
    }
}

/// The geometry of the full result's frame, with the input grid as the positions.
fn transpose_geometry(x: &[usize], w: &[usize], stride: usize) -> Geometry {
    let k = w[2];
    Geometry {
        batch: x[0],
        channels: w[1],
        height: (x[2] - 1) * stride + k,
        width: (x[3] - 1) * stride + k,
        kernel: k,
        stride,
        pad_top: 0,
        pad_left: 0,
        out_h: x[2],
        out_w: x[3],
    }
}

/// What a transposed convolution's backward keeps: its input (channel-major) and the weight.
#[derive(Debug, Clone)]
struct TransposeSaved {
    xc: Scratch,
    w: FlexTensor,
    g: Geometry,
    in_c: usize,
}

impl HostOp for ConvTransposeSpec {
    type Saved = TransposeSaved;

    fn activation(&self) -> Activation {
        self.activation
    }

    fn forward(&self, x: FlexTensor, w: FlexTensor, b: &FlexTensor) -> (Vec<f32>, Vec<usize>, TransposeSaved) {
        let g = transpose_geometry(&x.shape(), &w.shape(), self.stride);
        let in_c = x.shape()[1];
        // The input channel-major, [in, batch·positions]; the product's columns are its positions.
        let mut xc = Scratch::for_overwrite(in_c * g.col_cols());
        kernels::nchw_to_channel_major(&host(&x), g.batch, in_c, g.out_h * g.out_w, &mut xc);
        let mut z = Scratch::for_overwrite(g.col_rows() * g.col_cols());
        kernels::matmul(View::new(&host(&w), in_c, g.col_rows()).t(), View::new(&xc, in_c, g.col_cols()), &mut z, false);
        let mut full = Scratch::zeros(g.batch * g.channels * g.height * g.width);
        kernels::col2im_add(&z, &g, &mut full);
        let (oh, ow) = self.out;
        let (kept_h, kept_w) = self.kept(&g);
        let bias = host(b);
        let mut y = vec![0.0f32; g.batch * g.channels * oh * ow];
        for plane in 0..g.batch * g.channels {
            let c = plane % g.channels;
            let out = &mut y[plane * oh * ow..][..oh * ow];
            out.fill(bias[c]);
            for i in 0..kept_h {
                let src = &full[plane * g.height * g.width + (i + self.crop.0) * g.width + self.crop.1..][..kept_w];
                for (d, &v) in out[i * ow..][..kept_w].iter_mut().zip(src) {
                    *d += v;
                }
            }
        }
        kernels::activate(&mut y, self.activation);
        (y, vec![g.batch, g.channels, oh, ow], TransposeSaved { xc, w, g, in_c })
    }

    fn backward(&self, s: &TransposeSaved, dz: &[f32], [want_x, want_w, want_b]: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let (g, (oh, ow)) = (s.g, self.out);
        let db = want_b.then(|| {
            let mut db = vec![0.0f32; g.channels];
            for (plane, values) in dz.chunks(oh * ow).enumerate() {
                db[plane % g.channels] += values.iter().sum::<f32>();
            }
            flex(db, vec![g.channels])
        });
        if !want_x && !want_w {
            return [None, None, db];
        }
        // The output's gradient in the full frame (zero where the crop cut), read back into the
        // input grid's columns.
        let (kept_h, kept_w) = self.kept(&g);
        let mut full = Scratch::zeros(g.batch * g.channels * g.height * g.width);
        for plane in 0..g.batch * g.channels {
            for i in 0..kept_h {
                full[plane * g.height * g.width + (i + self.crop.0) * g.width + self.crop.1..][..kept_w].copy_from_slice(&dz[(plane * oh + i) * ow..][..kept_w]);
            }
        }
        let mut dcol = Scratch::for_overwrite(g.col_rows() * g.col_cols());
        kernels::im2col(&full, &g, &mut dcol);
        let dw = want_w.then(|| {
            // dA = x · dcolᵀ, [in, out·k·k]
            let mut dw = vec![0.0f32; s.in_c * g.col_rows()];
            kernels::matmul(View::new(&s.xc, s.in_c, g.col_cols()), View::new(&dcol, g.col_rows(), g.col_cols()).t(), &mut dw, false);
            flex(dw, vec![s.in_c, g.channels, g.kernel, g.kernel])
        });
        let dx = want_x.then(|| {
            // dx = A · dcol, [in, batch·positions]
            let mut dxc = Scratch::for_overwrite(s.in_c * g.col_cols());
            kernels::matmul(View::new(&host(&s.w), s.in_c, g.col_rows()), View::new(&dcol, g.col_rows(), g.col_cols()), &mut dxc, false);
            let mut dx = vec![0.0f32; dxc.len()];
            kernels::channel_major_to_nchw(&dxc, g.batch, s.in_c, g.out_h * g.out_w, &mut dx);
            flex(dx, vec![g.batch, s.in_c, g.out_h, g.out_w])
        });
        [dx, dw, db]
    }
}

/// A transposed convolution with its bias and activation, cropped as Keras crops it, on the host
/// (call when [`available`]).
///
/// # Shapes
/// `[batch, in, h, w]`, `[in, out, k, k]`, `[out]` → `[batch, out, spec.out.0, spec.out.1]`
pub(crate) fn conv_transpose2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, spec: ConvTransposeSpec) -> Tensor<4> {
    host_op(spec, x, weight, bias)
}

// ---------------------------------------------------------------------------------------------
// Dense: y = activation(x · W + b)
// ---------------------------------------------------------------------------------------------

/// A dense layer's product, bias and activation.
#[derive(Clone, Copy, Debug)]
struct DenseSpec(Activation);

/// What a dense layer's backward keeps: its input and weight, and `(rows, inputs, units)`.
#[derive(Debug, Clone)]
struct DenseSaved {
    x: FlexTensor,
    w: FlexTensor,
    dims: (usize, usize, usize),
}

impl HostOp for DenseSpec {
    type Saved = DenseSaved;

    fn activation(&self) -> Activation {
        self.0
    }

    fn forward(&self, x: FlexTensor, w: FlexTensor, b: &FlexTensor) -> (Vec<f32>, Vec<usize>, DenseSaved) {
        let (rows, inputs, units) = (x.shape()[0], x.shape()[1], w.shape()[1]);
        let bias = host(b);
        let mut y = vec![0.0f32; rows * units];
        for row in y.chunks_mut(units) {
            row.copy_from_slice(&bias);
        }
        kernels::matmul(View::new(&host(&x), rows, inputs), View::new(&host(&w), inputs, units), &mut y, true);
        kernels::activate(&mut y, self.0);
        (y, vec![rows, units], DenseSaved { x, w, dims: (rows, inputs, units) })
    }

    fn backward(&self, s: &DenseSaved, dz: &[f32], [want_x, want_w, want_b]: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let (rows, inputs, units) = s.dims;
        let db = want_b.then(|| {
            let mut db = vec![0.0f32; units];
            for row in dz.chunks(units) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            flex(db, vec![units])
        });
        let dw = want_w.then(|| {
            let mut dw = vec![0.0f32; inputs * units];
            kernels::matmul(View::new(&host(&s.x), rows, inputs).t(), View::new(dz, rows, units), &mut dw, false);
            flex(dw, vec![inputs, units])
        });
        let dx = want_x.then(|| {
            let mut dx = vec![0.0f32; rows * inputs];
            kernels::matmul(View::new(dz, rows, units), View::new(&host(&s.w), inputs, units).t(), &mut dx, false);
            flex(dx, vec![rows, inputs])
        });
        [dx, dw, db]
    }
}

/// A dense layer, its bias and its activation as one host operation (call when [`available`]):
/// one node in the autodiff graph instead of a matrix product, an addition and the activation's
/// element-wise steps.
///
/// # Shapes
/// `[batch, inputs]`, `[inputs, units]`, `[units]` → `[batch, units]`
pub(crate) fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, activation: Activation) -> Tensor<2> {
    host_op(DenseSpec(activation), x, weight, bias)
}

// ---------------------------------------------------------------------------------------------
// Pooling and upsampling: one input, no weights, no activation
// ---------------------------------------------------------------------------------------------

/// A host operation of one image input and no weights (max pooling, upsampling): its forward,
/// and the input's gradient from the output's and what the forward kept. [`one_input_op`] does
/// the autodiff plumbing once for both.
trait OneInputOp: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// What the backward keeps from the forward.
    type Saved: Clone + std::fmt::Debug + Send + 'static;

    /// The output, its dims, and what the backward needs, from `x` of `dims`.
    fn forward(&self, x: &[f32], dims: [usize; 4]) -> (Vec<f32>, [usize; 4], Self::Saved);

    /// The gradient of the input (of `dims`) from the output's, `dy`.
    fn backward(&self, saved: &Self::Saved, dy: &[f32], dims: [usize; 4]) -> Vec<f32>;
}

/// The autodiff node of a [`OneInputOp`].
#[derive(Debug)]
struct OneInputBackward<O>(std::marker::PhantomData<O>);

impl<O: OneInputOp> Backward<Flex, 1> for OneInputBackward<O> {
    /// The operation, what its forward kept, and its input's dims.
    type State = (O, O::Saved, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (op, saved, dims) = ops.state;
        let [px] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = px {
            grads.register::<Flex>(node.id, flex(op.backward(&saved, &host(&dy), dims), dims.to_vec()));
        }
    }
}

fn dims4(x: &FlexTensor) -> [usize; 4] {
    let d = x.shape().to_vec();
    [d[0], d[1], d[2], d[3]]
}

fn one_input_autodiff<C: CheckpointStrategy, O: OneInputOp>(op: O, x: Tensor<4>, s: GradientCheckpointingStrategy) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, 4>(x, s).into_parts();
    let dims = dims4(&x);
    let (y, out, saved) = op.forward(&host(&x), dims);
    let out = flex(y, out.to_vec());
    let result = match OneInputBackward::<O>(std::marker::PhantomData).prepare::<C>([xn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((op, saved, dims), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// `op` on the host, plain or tracked by autodiff as `x` is (call when [`available`]).
fn one_input_op<O: OneInputOp>(op: O, x: Tensor<4>) -> Tensor<4> {
    match x.gradient_checkpointing_strategy() {
        None => {
            let x = plain(x);
            let (y, out, _) = op.forward(&host(&x), dims4(&x));
            Tensor::from_primitive::<Flex>(flex(y, out.to_vec()))
        }
        Some(s @ GradientCheckpointingStrategy::Disabled) => one_input_autodiff::<NoCheckpointing, O>(op, x, s),
        Some(s @ GradientCheckpointingStrategy::Balanced) => one_input_autodiff::<BalancedCheckpointing, O>(op, x, s),
    }
}

/// Max pooling over its windows; the backward keeps the position of each maximum.
#[derive(Clone, Copy, Debug)]
struct MaxPool(Windows);

impl OneInputOp for MaxPool {
    type Saved = Vec<u32>;

    fn forward(&self, x: &[f32], [b, c, h, w]: [usize; 4]) -> (Vec<f32>, [usize; 4], Vec<u32>) {
        let (y, arg) = kernels::max_pool_windows(x, b, c, h, w, self.0);
        (y, [b, c, self.0.out.0, self.0.out.1], arg)
    }

    fn backward(&self, arg: &Vec<u32>, dy: &[f32], [b, c, h, w]: [usize; 4]) -> Vec<f32> {
        kernels::max_pool_windows_backward(dy, arg, b, c, h, w, self.0)
    }
}

/// Max pooling over `windows` ([`Windows::tiled`]: Keras's default; [`Windows::same`]: with
/// `padding="same"`), on the host (call when [`available`]).
///
/// # Shapes
/// `[batch, c, h, w]` → `[batch, c, windows.out.0, windows.out.1]`
pub(crate) fn max_pool2d(x: Tensor<4>, windows: Windows) -> Tensor<4> {
    one_input_op(MaxPool(windows), x)
}

/// Keras's `UpSampling2D(2)`; the backward needs only the shape.
#[derive(Clone, Copy, Debug)]
struct Upsample2;

impl OneInputOp for Upsample2 {
    type Saved = ();

    fn forward(&self, x: &[f32], [b, c, h, w]: [usize; 4]) -> (Vec<f32>, [usize; 4], ()) {
        (kernels::upsample2(x, b * c, h, w), [b, c, 2 * h, 2 * w], ())
    }

    fn backward(&self, _: &(), dy: &[f32], [b, c, h, w]: [usize; 4]) -> Vec<f32> {
        kernels::upsample2_backward(dy, b * c, h, w)
    }
}

/// Keras's `UpSampling2D(2)` on the host (call when [`available`]): burn's broadcast and
/// reshape copy value by value through a strided iterator, a fifth of lesson 09's training step
/// (`perf`).
///
/// # Shapes
/// `[batch, c, h, w]` → `[batch, c, 2h, 2w]`
pub(crate) fn upsample2(x: Tensor<4>) -> Tensor<4> {
    one_input_op(Upsample2, x)
}

// ---------------------------------------------------------------------------------------------
// Depthwise 3 × 3 convolution: the first step of a separable convolution
// ---------------------------------------------------------------------------------------------

/// Keras's depthwise step of `SeparableConv2D(filters, 3, padding="same")`: each channel
/// correlated with its own 3 × 3 filter, stride 1, no bias (burn's grouped `conv2d` computes the
/// same on one core).
#[derive(Clone, Copy, Debug)]
struct DepthwiseSpec;

/// What the depthwise convolution's backward keeps: its input and filters.
#[derive(Debug, Clone)]
struct DepthwiseSaved {
    x: FlexTensor,
    k: FlexTensor,
    dims: [usize; 4],
}

impl HostOp for DepthwiseSpec {
    type Saved = DepthwiseSaved;

    fn activation(&self) -> Activation {
        Activation::Linear
    }

    fn forward(&self, x: FlexTensor, k: FlexTensor, _no_bias: &FlexTensor) -> (Vec<f32>, Vec<usize>, DepthwiseSaved) {
        let d = x.shape().to_vec();
        let dims = [d[0], d[1], d[2], d[3]];
        let y = kernels::depthwise3x3(&host(&x), &host(&k), dims[0], dims[1], dims[2], dims[3]);
        (y, d, DepthwiseSaved { x, k, dims })
    }

    fn backward(&self, s: &DepthwiseSaved, dz: &[f32], [want_x, want_k, _]: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let [b, c, h, w] = s.dims;
        let dx = want_x.then(|| flex(kernels::depthwise3x3_input_gradient(dz, &host(&s.k), b, c, h, w), s.dims.to_vec()));
        let dk = want_k.then(|| flex(kernels::depthwise3x3_filter_gradient(dz, &host(&s.x), b, c, h, w), vec![c, 1, 3, 3]));
        [dx, dk, None]
    }
}

/// A depthwise 3 × 3 convolution (stride 1, `padding="same"`, no bias) on the host (call when
/// [`available`]).
///
/// # Shapes
/// `[batch, c, h, w]`, `[c, 1, 3, 3]` → `[batch, c, h, w]`
pub(crate) fn depthwise_conv3x3(x: Tensor<4>, filters: Tensor<4>) -> Tensor<4> {
    let [_, channels, _, _] = x.dims();
    // The host operation's third input: a constant that no gradient reaches.
    let no_bias = Tensor::<1>::zeros([channels], &Device::flex());
    host_op(DepthwiseSpec, x, filters, no_bias)
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation in training: y = γ·(x − mean)·inv_std + β, the statistics the batch's own
// ---------------------------------------------------------------------------------------------

/// A batch normalisation in training, given its batch's statistics (computed before the
/// operation, since the layer also feeds them to its running averages): burn composes the same
/// from about twenty reductions, copies and element-wise operations, each a pass over the
/// activation on one core; here it is one pass for the statistics and one for the output forward,
/// two backward, over all cores.
#[derive(Clone, Debug)]
struct BatchNormSpec {
    mean: std::sync::Arc<[f32]>,
    inv_std: std::sync::Arc<[f32]>,
}

/// What the batch normalisation's backward keeps: its input and γ.
#[derive(Debug, Clone)]
struct BatchNormSaved {
    x: FlexTensor,
    gamma: FlexTensor,
}

/// The batch (dims[0]) and the size of one plane (the dims after the channels; 1 for `[batch,
/// features]`).
fn batch_and_plane(dims: &[usize]) -> (usize, usize) {
    (dims[0], dims[2..].iter().product())
}

impl HostOp for BatchNormSpec {
    type Saved = BatchNormSaved;

    fn activation(&self) -> Activation {
        Activation::Linear
    }

    fn forward(&self, x: FlexTensor, gamma: FlexTensor, beta: &FlexTensor) -> (Vec<f32>, Vec<usize>, BatchNormSaved) {
        let dims = x.shape().to_vec();
        let (g, b) = (host(&gamma), host(beta));
        let scale: Vec<f32> = g.iter().zip(self.inv_std.iter()).map(|(g, s)| g * s).collect();
        let shift: Vec<f32> = b.iter().zip(self.mean.iter()).zip(&scale).map(|((b, m), a)| b - m * a).collect();
        let y = kernels::scale_shift_planes(&host(&x), &scale, &shift, batch_and_plane(&dims).1);
        (y, dims, BatchNormSaved { x, gamma })
    }

    fn backward(&self, s: &BatchNormSaved, dz: &[f32], [want_x, want_gamma, want_beta]: [bool; 3]) -> [Option<FlexTensor>; 3] {
        let dims = s.x.shape().to_vec();
        let (batch, plane) = batch_and_plane(&dims);
        let (dx, d_gamma, d_beta) = kernels::batch_norm_backward(dz, &host(&s.x), &self.mean, &self.inv_std, &host(&s.gamma), batch, plane);
        let channels = d_gamma.len();
        [want_x.then(|| flex(dx, dims)), want_gamma.then(|| flex(d_gamma, vec![channels])), want_beta.then(|| flex(d_beta, vec![channels]))]
    }
}

/// A batch normalisation with the batch's own statistics, on the host (call when [`available`]):
/// the output, and each channel's mean and biased variance (for the running averages).
///
/// # Shapes
/// `[batch, channels, ...]`, `[channels]`, `[channels]` → `[batch, channels, ...]`, `[channels]`,
/// `[channels]`
pub(crate) fn batch_norm_train<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let dims = x.dims();
    let (batch, plane) = batch_and_plane(&dims);
    let values = plain(x.clone().without_autodiff());
    let moments = kernels::channel_moments(&host(&values), batch, dims[1], plane);
    let mean: std::sync::Arc<[f32]> = moments.iter().map(|m| m.0).collect();
    let variance: Vec<f32> = moments.iter().map(|m| m.1).collect();
    let inv_std = variance.iter().map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32).collect();
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [dims[1]]), &x.device());
    let (mean_t, variance_t) = (stat(mean.to_vec()), stat(variance));
    (host_op(BatchNormSpec { mean, inv_std }, x, gamma, beta), mean_t, variance_t)
}

/// A batch normalisation with given statistics (inference: the running averages), on the host,
/// untracked (call when [`available`] and no input is tracked by autodiff).
pub(crate) fn batch_norm_inference<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, beta: Tensor<1>, mean: Tensor<1>, variance: Tensor<1>, epsilon: f64) -> Tensor<D> {
    let dims = x.dims();
    let values = |t: Tensor<1>| host(&plain(t.without_autodiff())).into_owned();
    let (g, b, m, v) = (values(gamma), values(beta), values(mean), values(variance));
    let scale: Vec<f32> = g.iter().zip(&v).map(|(g, v)| (*g as f64 / (*v as f64 + epsilon).sqrt()) as f32).collect();
    let shift: Vec<f32> = b.iter().zip(&m).zip(&scale).map(|((b, m), a)| b - m * a).collect();
    let y = kernels::scale_shift_planes(&host(&plain(x.without_autodiff())), &scale, &shift, batch_and_plane(&dims).1);
    Tensor::from_primitive::<Flex>(flex(y, dims.to_vec()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::layers::{Conv2d, ConvTranspose2d, Padding};
    use crate::rng::Rng;

    thread_local! {
        /// Set by [`with_burn_ops`]: the layers of this thread take burn's operations.
        pub(crate) static BURN_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// `f()` with burn's own operations in place of the host kernels, on this thread.
    pub(crate) fn with_burn_ops<T>(f: impl FnOnce() -> T) -> T {
        BURN_ONLY.set(true);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        BURN_ONLY.set(false);
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    fn input(dims: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
        let mut rng = Rng::new(seed);
        let n = dims.iter().product();
        Tensor::from_data(TensorData::new((0..n).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect::<Vec<_>>(), dims), device)
    }

    /// The host convolution and transposed convolution give burn's values and gradients, for
    /// every padding, stride and activation the course uses.
    #[test]
    fn host_convolutions_match_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        // Five output maps: the 1 × 1 cases take the image-by-image path, the others (and all the
        // transposed ones) the column matrix.
        let cases = [(3, 1, Padding::Same, Activation::Selu), (5, 2, Padding::Same, Activation::LeakyRelu(0.2)), (3, 2, Padding::Valid, Activation::Sigmoid), (3, 1, Padding::Valid, Activation::Tanh), (1, 1, Padding::Same, Activation::Selu), (1, 2, Padding::Same, Activation::Linear)];
        // Few output maps: 3 × 3, stride 1, "same" with at most PLANES_MAX_OUT maps is computed plane
        // by plane; the other cases by the column matrix.
        let few = [(3, 1, Padding::Same, Activation::Sigmoid), (3, 1, Padding::Same, Activation::Linear)];
        for (filters, (k, stride, padding, activation)) in cases.into_iter().map(|c| (5, c)).chain(few.into_iter().map(|c| (2, c))) {
            let conv = Conv2d::new(3, filters, k, stride, padding, activation, &mut Rng::new(1), &device);
            let x = input([2, 3, 9, 8], 2, &device).require_grad();
            let ours = conv.forward(x.clone());
            let theirs = activation.apply(conv.affine_burn(x.clone()));
            close(&values(ours.clone()), &values(theirs.clone()), "conv forward");
            let weights = input(ours.dims(), 3, &device);
            let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
            close(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "conv dx");
            close(&values(conv.weight.val().grad(&g1).unwrap()), &values(conv.weight.val().grad(&g2).unwrap()), "conv dW");
            close(&values(conv.bias.val().grad(&g1).unwrap()), &values(conv.bias.val().grad(&g2).unwrap()), "conv db");

            let up = ConvTranspose2d::new(3, 2, k, stride, padding, activation, &mut Rng::new(4), &device);
            let x = input([2, 3, 4, 5], 5, &device).require_grad();
            let ours = up.forward(x.clone());
            let theirs = activation.apply(up.affine_burn(x.clone()));
            close(&values(ours.clone()), &values(theirs.clone()), "transposed forward");
            let weights = input(ours.dims(), 6, &device);
            let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
            close(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "transposed dx");
            close(&values(up.weight.val().grad(&g1).unwrap()), &values(up.weight.val().grad(&g2).unwrap()), "transposed dW");
            close(&values(up.bias.val().grad(&g1).unwrap()), &values(up.bias.val().grad(&g2).unwrap()), "transposed db");
        }
    }

    #[test]
    fn host_dense_matches_burns() {
        let device = Device::flex().autodiff();
        for activation in [Activation::Selu, Activation::Sigmoid, Activation::Linear, Activation::LeakyRelu(0.2), Activation::Relu, Activation::Tanh] {
            let layer = crate::layers::Dense::new(7, 5, activation, &mut Rng::new(3), &device);
            let x = Tensor::<2>::from_data(TensorData::new((0..21).map(|i| (i as f32 - 10.0) / 4.0).collect::<Vec<_>>(), [3, 7]), &device).require_grad();
            let ours = layer.forward(x.clone());
            let theirs = activation.apply(burn::tensor::module::linear(x.clone(), layer.weight.val(), Some(layer.bias.val())));
            close(&values(ours.clone()), &values(theirs.clone()), "dense forward");
            let weights = Tensor::<2>::from_data(TensorData::new((0..15).map(|i| i as f32 / 7.0).collect::<Vec<_>>(), [3, 5]), &device);
            let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
            close(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "dense dx");
            close(&values(layer.weight.val().grad(&g1).unwrap()), &values(layer.weight.val().grad(&g2).unwrap()), "dense dW");
            close(&values(layer.bias.val().grad(&g1).unwrap()), &values(layer.bias.val().grad(&g2).unwrap()), "dense db");
        }
    }

    /// A host operation of one input (`ours`) against burn's (`theirs`) on `x`: the same forward
    /// values, and the same gradient of a weighted sum of the output.
    fn one_input_matches_burns(x: Tensor<4>, ours: impl Fn(Tensor<4>) -> Tensor<4>, theirs: impl Fn(Tensor<4>) -> Tensor<4>, what: &str) {
        let x = x.require_grad();
        let (ours, theirs) = (ours(x.clone()), theirs(x.clone()));
        assert_eq!(values(ours.clone()), values(theirs.clone()), "{what}: forward");
        let weights = input(ours.dims(), 8, &x.device());
        let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
        close(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), &format!("{what}: dx"));
    }

    #[test]
    fn host_pooling_matches_burns() {
        let x = input([2, 3, 7, 6], 7, &Device::flex().autodiff());
        one_input_matches_burns(x, |x| max_pool2d(x, Windows::tiled(7, 6, 2)), |x| crate::layers::max_pool2d_burn(x, 2), "pool");
    }

    /// `|ours − burn's| ≤ REL · (1 + |burn's|) + SCALE · max |burn's|` for every value: the host
    /// kernels sum in another order than burn (blocks, fused bias), so they agree to rounding,
    /// which grows with the length of the sums (the largest here add 6,272 products).
    const REL: f32 = 1e-4;
    const SCALE: f32 = 1e-5;

    /// The worst `|a − b| / (REL · (1 + |b|) + SCALE · max|b|)` over the values: at most 1 passes.
    fn worst(a: &[f32], b: &[f32], what: &str) -> f32 {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).map(|(x, y)| if x.is_nan() && y.is_nan() { 0.0 } else { (x - y).abs() / (REL * (1.0 + y.abs()) + SCALE * scale) }).fold(0.0, f32::max)
    }

    /// The gradient of every parameter of a model's layers in `grads`, with a name for the
    /// messages (`None` where the parameter got none).
    fn parameter_grads(model: &crate::sequential::Sequential, grads: &burn::tensor::Gradients) -> Vec<(String, Option<Vec<f32>>)> {
        use crate::sequential::Layer;
        let mut out = Vec::new();
        for (i, layer) in model.layers.iter().enumerate() {
            let (kind, w, b) = match layer {
                Layer::Dense(l) => ("dense", l.weight.val().grad(grads).map(values), l.bias.val().grad(grads).map(values)),
                Layer::Conv2d(l) => ("conv", l.weight.val().grad(grads).map(values), l.bias.val().grad(grads).map(values)),
                Layer::ConvTranspose2d(l) => ("transposed", l.weight.val().grad(grads).map(values), l.bias.val().grad(grads).map(values)),
                _ => continue,
            };
            out.extend([(format!("layer {i} {kind} W"), w), (format!("layer {i} {kind} b"), b)]);
        }
        out
    }

    /// A model drawn from everything the builder accepts for images: convolutions and
    /// transposed convolutions of every padding, stride 1-3 and kernel 1-5, pooling of 1-4
    /// (and 17 or more, past what one byte indexes), activations of every kind (a leaky ReLU of
    /// slope 0.2, 0 and −0.5 among them) as layers' own or as activation layers, then a flatten
    /// and dense layers.
    fn random_model(rng: &mut Rng, device: &Device) -> (crate::sequential::Sequential, usize) {
        use crate::sequential::{Sequential, Shape};
        let activations = [
            Activation::Linear,
            Activation::Selu,
            Activation::Sigmoid,
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::LeakyRelu(0.0),
            Activation::LeakyRelu(-0.5),
            Activation::Tanh,
            Activation::Softmax,
        ];
        let mut pick = |n: usize| rng.index(n);
        let side = 3 + pick(10);
        let channels = 1 + pick(3);
        let batch = 1 + pick(4);
        let mut b = Sequential::builder("random", Shape::image(channels, side, side), pick(1000) as u64, device);
        for _ in 0..1 + pick(4) {
            let Shape::Image { height, width, .. } = b.shape() else { break };
            let act = activations[pick(activations.len())];
            let padding = if pick(2) == 0 { Padding::Same } else { Padding::Valid };
            let (filters, kernel, stride) = (1 + pick(4), 1 + pick(5), 1 + pick(3));
            b = match pick(5) {
                0 | 1 if padding == Padding::Same || kernel <= height.min(width) => b.conv2d(filters, kernel, stride, padding, act),
                2 if height * width * stride * stride <= 400 => b.conv_transpose2d(filters, kernel, stride, padding, act),
                3 if height.min(width) >= 2 => b.max_pool2d(1 + pick(height.min(width).min(4))),
                _ => b.activation(act),
            };
        }
        let b = b.flatten();
        let b = if pick(2) == 0 { b.dense(1 + pick(12), activations[pick(activations.len())]) } else { b };
        let model = b.build().expect("every layer drawn fits the shape before it");
        (model, batch)
    }

    /// The host path (fused layers, blocked products) against burn's own operations on the same
    /// model and input: outputs, input gradients and every parameter's gradient.
    fn compare(model: &crate::sequential::Sequential, batch: usize, seed: u64) -> (f32, String) {
        use crate::train::TrainModel;
        let device = Device::flex().autodiff();
        let size = model.input.size();
        let mut rng = Rng::new(seed);
        let x_values: Vec<f32> = (0..batch * size).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x_values, [batch, size]), &device).require_grad();
        let ours = model.forward(x.clone());
        let theirs = with_burn_ops(|| model.forward(x.clone()));
        let outputs = ours.dims()[1];
        let w = Tensor::<2>::from_data(TensorData::new((0..batch * outputs).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect::<Vec<_>>(), [batch, outputs]), &device);
        let mut parts = vec![("forward".to_owned(), worst(&values(ours.clone()), &values(theirs.clone()), "forward"))];
        let (g1, g2) = ((ours * w.clone()).sum().backward(), (theirs * w).sum().backward());
        parts.push(("input gradient".to_owned(), worst(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "input gradient")));
        for ((name, a), (_, b)) in parameter_grads(model, &g1).into_iter().zip(parameter_grads(model, &g2)) {
            let ratio = match (a, b) {
                (Some(a), Some(b)) => worst(&a, &b, &name),
                (a, b) => panic!("{name}: a gradient on the host path: {}, on burn's: {}", a.is_some(), b.is_some()),
            };
            parts.push((name, ratio));
        }
        let (what, ratio) = parts.into_iter().fold((String::new(), 0.0f32), |a, b| if b.1 > a.1 { b } else { a });
        (ratio, what)
    }

    /// The property test of the host kernels: random models from everything the builder
    /// accepts, and four large ones whose products and copies take the blocked, threaded paths
    /// (columns split, inner dimension split, threaded im2col and col2im), give burn's values
    /// and gradients within the tolerance above.
    #[test]
    fn random_models_match_burns_operations() {
        use crate::sequential::{Sequential, Shape};
        let device = Device::flex().autodiff();
        let mut rng = Rng::new(2026);
        let mut cases = 0;
        // Layers of each kind drawn, so that the test cannot pass by drawing none of one.
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for case in 0..RANDOM_CASES {
            let (model, batch) = random_model(&mut rng, &device);
            for layer in &model.layers {
                use crate::sequential::Layer;
                let kind = match layer {
                    Layer::Conv2d(l) if l.stride > l.dims().2 => "conv, stride above kernel",
                    Layer::Conv2d(_) => "conv",
                    Layer::ConvTranspose2d(l) if l.stride > l.dims().2 => "transposed, stride above kernel",
                    Layer::ConvTranspose2d(_) => "transposed",
                    Layer::MaxPool2d(l) if l.pool != 2 => "pool, not 2",
                    Layer::MaxPool2d(_) => "pool 2",
                    Layer::Dense(_) => "dense",
                    Layer::Activation(_) => "activation layer",
                    _ => continue,
                };
                *kinds.entry(kind).or_default() += 1;
                if matches!(layer.activation(), Activation::Softmax | Activation::LeakyRelu(_)) {
                    *kinds.entry("softmax or leaky ReLU").or_default() += 1;
                }
            }
            let (ratio, what) = compare(&model, batch, case as u64);
            assert!(ratio <= 1.0, "case {case}: {what} off by {ratio} tolerances\n{}", crate::summary::Summary::summary(&model));
            cases += 1;
        }
        let large = [
            // Lesson 04's second convolution at batch 8: 32 × 144 × 6,272 (columns split; its
            // weight gradient splits the inner dimension), im2col and col2im of 0.9 M values.
            Sequential::builder("conv", Shape::image(16, 28, 28), 1, &device).conv2d(32, 3, 1, Padding::Same, Activation::Selu).max_pool2d(2).build(),
            // The DCGAN discriminator's first layer at batch 16: a 5×5 stride-2 convolution.
            Sequential::builder("dcgan", Shape::image(8, 28, 28), 2, &device).conv2d(64, 5, 2, Padding::Same, Activation::LeakyRelu(0.2)).build(),
            // The DCGAN generator's transposed convolution: threaded im2col of its gradient.
            Sequential::builder("up", Shape::image(32, 14, 14), 3, &device).conv_transpose2d(16, 5, 2, Padding::Same, Activation::Tanh).build(),
            // Dense layers of 784 × 512 at batch 64: every product split by columns.
            Sequential::builder("dense", Shape::Flat(784), 4, &device).dense(512, Activation::Sigmoid).dense(784, Activation::Softmax).build(),
        ];
        for (i, (model, batch)) in large.into_iter().zip([8, 16, 16, 64]).enumerate() {
            let model = model.unwrap();
            let (ratio, what) = compare(&model, batch, 100 + i as u64);
            assert!(ratio <= 1.0, "large case {i} ({}): {what} off by {ratio} tolerances", model.name);
            cases += 1;
        }
        assert_eq!(cases, RANDOM_CASES + 4);
        assert_eq!(kinds.len(), 9, "{kinds:?}");
        assert!(kinds.values().all(|&n| n >= 10), "every kind of layer drawn at least 10 times: {kinds:?}");
    }

    /// Random models in the property test (plus four large ones).
    const RANDOM_CASES: usize = 300;

    /// A NaN anywhere in a pooling window gives NaN and takes the gradient, as in burn (which
    /// routes it to the window's last NaN), for the 2×2 fast path and the general one; a pool of
    /// 17 routes gradients past what one byte could index.
    #[test]
    fn pooling_with_nans_and_wide_windows_matches_burns() {
        let device = Device::flex().autodiff();
        for (pool, side) in [(2, 4), (3, 6), (17, 17), (18, 19)] {
            for nan_at in [None, Some(0), Some(1), Some(side), Some(side + 1), Some(side * side - 1)] {
                let mut v: Vec<f32> = input([1, 2, side, side], pool as u64, &Device::flex()).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
                if let Some(at) = nan_at {
                    v[at] = f32::NAN;
                    v[side * side + at] = f32::NAN;
                    v[(side * side + at + 1).min(2 * side * side - 1)] = f32::NAN;
                }
                let x = Tensor::<4>::from_data(TensorData::new(v, [1, 2, side, side]), &device).require_grad();
                let ours = max_pool2d(x.clone(), Windows::tiled(side, side, pool));
                let theirs = crate::layers::max_pool2d_burn(x.clone(), pool);
                let (a, b) = (values(ours.clone()), values(theirs.clone()));
                assert!(a.iter().zip(&b).all(|(p, q)| p == q || (p.is_nan() && q.is_nan())), "pool {pool}, NaN at {nan_at:?}: {a:?} vs {b:?}");
                let (g1, g2) = (ours.sum().backward(), theirs.sum().backward());
                assert_eq!(values(x.grad(&g1).unwrap()), values(x.grad(&g2).unwrap()), "pool {pool}, NaN at {nan_at:?}: gradients");
            }
        }
    }

    /// Lesson 09's `MaxPooling2D(3, strides=2, padding="same")` on its U-Net's sides (and an odd
    /// one), forward and gradient, against burn's padded pooling; where windows overlap, a
    /// value that is the maximum of two windows gets both gradients in both.
    #[test]
    fn overlapping_same_pooling_matches_burns() {
        let device = Device::flex().autodiff();
        for (batch, channels, side) in [(2, 3, 8), (1, 2, 7), (4, 16, 32)] {
            let x = input([batch, channels, side, side], side as u64, &device);
            assert_eq!(crate::layers::max_pool2d_same(x.clone(), 3, 2).dims(), [batch, channels, side.div_ceil(2), side.div_ceil(2)]);
            one_input_matches_burns(x, |x| crate::layers::max_pool2d_same(x, 3, 2), |x| crate::layers::max_pool2d_same_burn(x, 3, 2), &format!("same pooling {side}"));
        }
    }

    /// The depthwise step of lesson 09's separable convolutions against burn's grouped
    /// convolution, forward and both gradients, on a small image and on the U-Net's largest
    /// (batch 32, 32 channels of 32 × 32: the threaded path).
    #[test]
    fn host_depthwise_convolution_matches_burns() {
        let device = Device::flex().autodiff();
        for (batch, channels, side) in [(2, 3, 5), (32, 32, 32)] {
            let x = input([batch, channels, side, side], 11, &device).require_grad();
            let k = input([channels, 1, 3, 3], 12, &device).require_grad();
            let ours = depthwise_conv3x3(x.clone(), k.clone());
            let theirs = burn::tensor::module::conv2d(x.clone(), k.clone(), None, burn::tensor::ops::ConvOptions::new([1, 1], [1, 1], [1, 1], channels));
            assert!(worst(&values(ours.clone()), &values(theirs.clone()), "depthwise forward") <= 1.0);
            let weights = input(ours.dims(), 13, &device);
            let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
            assert!(worst(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "depthwise dx") <= 1.0);
            assert!(worst(&values(k.grad(&g1).unwrap()), &values(k.grad(&g2).unwrap()), "depthwise dk") <= 1.0);
        }
    }

    /// `conv` on the host against burn's convolution (`affine_burn`) on an input of `dims`: the
    /// forward and the gradients of the input, the weight and the bias.
    fn conv_matches_burns(conv: &Conv2d, dims: [usize; 4], seed: u64, what: &str) {
        let x = input(dims, seed, &conv.weight.val().device()).require_grad();
        let (ours, theirs) = (conv.forward(x.clone()), conv.affine_burn(x.clone()));
        assert!(worst(&values(ours.clone()), &values(theirs.clone()), &format!("{what} forward")) <= 1.0);
        let weights = input(ours.dims(), seed + 1, &x.device());
        let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
        assert!(worst(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), &format!("{what} dx")) <= 1.0);
        assert!(worst(&values(conv.weight.val().grad(&g1).unwrap()), &values(conv.weight.val().grad(&g2).unwrap()), &format!("{what} dW")) <= 1.0);
        assert!(worst(&values(conv.bias.val().grad(&g1).unwrap()), &values(conv.bias.val().grad(&g2).unwrap()), &format!("{what} db")) <= 1.0);
    }

    /// A 1 × 1 convolution the size of the U-Net's pointwise steps (batch 32, 32 channels of
    /// 32 × 32: the images spread over the cores), computed image by image.
    #[test]
    fn host_pointwise_convolution_matches_burns() {
        let conv = Conv2d::new(32, 48, 1, 1, Padding::Same, Activation::Linear, &mut Rng::new(14), &Device::flex().autodiff());
        conv_matches_burns(&conv, [32, 32, 32, 32], 15, "pointwise");
    }

    /// Lesson 09's head (48 maps to one, 3 × 3 at 32 × 32, batch 32), computed plane by plane, the
    /// planes spread over the cores.
    #[test]
    fn host_head_convolution_matches_burns() {
        let conv = Conv2d::new(48, 1, 3, 1, Padding::Same, Activation::Linear, &mut Rng::new(17), &Device::flex().autodiff());
        conv_matches_burns(&conv, [32, 48, 32, 32], 18, "head");
    }

    /// Upsampling on the host against burn's broadcast and reshape, forward and gradient.
    #[test]
    fn host_upsampling_matches_burns() {
        for dims in [[2, 3, 4, 5], [32, 64, 8, 8]] {
            one_input_matches_burns(input(dims, 21, &Device::flex().autodiff()), upsample2, crate::layers::upsample2_burn, "upsampling");
        }
    }

    /// `x` through a batch normalisation twice, ours ([`crate::layers::batch_norm_forward`]) and
    /// burn's layer, each a fresh layer with the same γ and β: the outputs, the running averages
    /// the step leaves, the gradients of `x`, γ and β, and then the outputs at inference (the
    /// layers moved to the plain device, where the running averages are used).
    fn batch_norm_matches_burns<const D: usize>(x: Tensor<D>, what: &str) {
        use burn::module::{Module, Param};
        let channels = x.dims()[1];
        let device = x.device();
        let layer = || {
            let mut norm = crate::layers::batch_norm(channels, &device);
            norm.gamma = Param::from_tensor(input([channels, 1, 1, 1], 41, &device).reshape([channels]) + 1.0).set_require_grad(true);
            norm.beta = Param::from_tensor(input([channels, 1, 1, 1], 42, &device).reshape([channels])).set_require_grad(true);
            norm
        };
        let (ours_layer, theirs_layer) = (layer(), layer());
        let ours = crate::layers::batch_norm_forward(&ours_layer, x.clone());
        let theirs = theirs_layer.forward(x.clone());
        assert!(worst(&values(ours.clone()), &values(theirs.clone()), &format!("{what}: forward")) <= 1.0);
        for (a, b, name) in [(&ours_layer.running_mean, &theirs_layer.running_mean, "running mean"), (&ours_layer.running_var, &theirs_layer.running_var, "running variance")] {
            assert!(worst(&values(a.value_sync()), &values(b.value_sync()), &format!("{what}: {name}")) <= 1.0);
        }
        let weights = Tensor::<D>::from_data(TensorData::new(values(input([ours.shape().num_elements(), 1, 1, 1], 43, &device)), ours.dims()), &device);
        let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
        assert!(worst(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), &format!("{what}: dx")) <= 1.0);
        assert!(worst(&values(ours_layer.gamma.val().grad(&g1).unwrap()), &values(theirs_layer.gamma.val().grad(&g2).unwrap()), &format!("{what}: dγ")) <= 1.0);
        assert!(worst(&values(ours_layer.beta.val().grad(&g1).unwrap()), &values(theirs_layer.beta.val().grad(&g2).unwrap()), &format!("{what}: dβ")) <= 1.0);
        let (ours_layer, theirs_layer) = (ours_layer.valid(), theirs_layer.valid());
        let x = x.without_autodiff();
        let (ours, theirs) = (crate::layers::batch_norm_forward(&ours_layer, x.clone()), theirs_layer.forward(x));
        assert!(worst(&values(ours), &values(theirs), &format!("{what}: inference")) <= 1.0);
    }

    /// Batch normalisation on the host against burn's layer (see [`batch_norm_matches_burns`]),
    /// on a small image batch, the U-Net's largest (batch 32, 32 channels of 32 × 32: the
    /// threaded path) and a dense layer's `[batch, features]`; the inputs are shifted off zero so
    /// that the mean matters.
    #[test]
    fn host_batch_norm_matches_burns() {
        let device = Device::flex().autodiff();
        for dims in [[2, 3, 4, 5], [32, 32, 32, 32]] {
            batch_norm_matches_burns((input(dims, 44, &device) * 2.0 + 3.0).require_grad(), "batch norm of images");
        }
        let dense = (input([64, 16, 1, 1], 45, &device) * 2.0 - 1.0).reshape([64, 16]).require_grad();
        batch_norm_matches_burns(dense, "batch norm of features");
    }

    #[test]
    fn plain_devices_get_the_same_forward() {
        let conv = Conv2d::new(2, 3, 3, 1, Padding::Same, Activation::Selu, &mut Rng::new(9), &Device::flex());
        let x = input([1, 2, 5, 5], 10, &Device::flex());
        close(&values(conv.forward(x.clone())), &values(Activation::Selu.apply(conv.affine_burn(x))), "plain conv");
    }
}
