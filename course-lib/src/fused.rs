//! The convolutional layers' host kernels ([`crate::kernels`]) as burn operations: a forward on
//! the host and a hand-written backward registered with burn's autodiff, on the `flex` backend
//! (plain or with autodiff). [`crate::layers`] uses them when the tensors live there and burn's
//! own operations on every other backend (a GPU keeps its kernels).
//!
//! Each operation keeps what its backward needs: a convolution its column matrix and its output
//! (the activation's derivative is read from the output), a transposed convolution its input, the
//! pooling the position of each maximum. The tests check every gradient against burn's own
//! operations.

use crate::kernels::{self, Geometry, Scratch, View};
use crate::layers::Activation;
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
pub fn available<const D: usize>(x: &Tensor<D>) -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let enabled = *ENABLED.get_or_init(|| std::env::var("COURSE_HOST_KERNELS").map_or(true, |v| v != "0"));
    let device = x.device();
    enabled && (device == Device::flex() || device == Device::flex().autodiff())
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

/// Calls `$f::<C>` with the strategy's checkpointing type.
macro_rules! with_strategy {
    ($s:expr, $f:ident ( $($arg:expr),* )) => {
        match $s {
            GradientCheckpointingStrategy::Disabled => $f::<NoCheckpointing>($($arg),*),
            GradientCheckpointingStrategy::Balanced => $f::<BalancedCheckpointing>($($arg),*),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Convolution: y = activation(W · im2col(x) + b)
// ---------------------------------------------------------------------------------------------

/// How a convolution is laid out: stride, padding and the activation fused into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvSpec {
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

/// The forward pass on host values: the output (`[batch, out, h', w']`), the column matrix, and
/// the geometry.
fn conv_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, spec: &ConvSpec) -> (Vec<f32>, Scratch, Geometry, usize) {
    let (x_dims, w_dims) = (x.shape().to_vec(), w.shape().to_vec());
    let g = conv_geometry(&x_dims, &w_dims, spec);
    let out_c = w_dims[0];
    let mut col = Scratch::zeros(g.col_rows() * g.col_cols());
    kernels::im2col(&host(x), &g, &mut col);
    // [out, batch·positions], started at the bias so that the product adds onto it.
    let mut z = Scratch::zeros(out_c * g.col_cols());
    for (row, &bias) in z.chunks_mut(g.col_cols()).zip(host(b).iter()) {
        row.fill(bias);
    }
    kernels::matmul(View::new(&host(w), out_c, g.col_rows()), View::new(&col, g.col_rows(), g.col_cols()), &mut z, true);
    kernels::activate(&mut z, spec.activation);
    let mut y = vec![0.0f32; z.len()];
    kernels::channel_major_to_nchw(&z, g.batch, out_c, g.out_h * g.out_w, &mut y);
    (y, col, g, out_c)
}

#[derive(Debug)]
struct ConvBackward;

#[derive(Debug, Clone)]
struct ConvState {
    col: Scratch,
    w: FlexTensor,
    y: Vec<f32>,
    g: Geometry,
    out_c: usize,
    activation: Activation,
}

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let [px, pw, pb] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (g, positions, cols, rows) = (s.g, s.g.out_h * s.g.out_w, s.g.col_cols(), s.g.col_rows());
        // dz = dy ⊙ activation′(y), channel-major like the forward product.
        let mut dz = Scratch::zeros(s.y.len());
        kernels::nchw_to_channel_major(&host(&dy), g.batch, s.out_c, positions, &mut dz);
        let mut y = Scratch::zeros(s.y.len());
        kernels::nchw_to_channel_major(&s.y, g.batch, s.out_c, positions, &mut y);
        kernels::activation_backward(&mut dz, &y, s.activation);
        if let Some(node) = pb {
            let db: Vec<f32> = dz.chunks(cols).map(|r| r.iter().sum()).collect();
            grads.register::<Flex>(node.id, flex(db, vec![s.out_c]));
        }
        if let Some(node) = pw {
            // dW = dz · colᵀ
            let mut dw = vec![0.0f32; s.out_c * rows];
            kernels::matmul(View::new(&dz, s.out_c, cols), View::new(&s.col, rows, cols).t(), &mut dw, false);
            grads.register::<Flex>(node.id, flex(dw, vec![s.out_c, g.channels, g.kernel, g.kernel]));
        }
        if let Some(node) = px {
            // dcol = Wᵀ · dz, added back into the image frame.
            let mut dcol = Scratch::zeros(rows * cols);
            kernels::matmul(View::new(&host(&s.w), s.out_c, rows).t(), View::new(&dz, s.out_c, cols), &mut dcol, false);
            let mut dx = vec![0.0f32; g.batch * g.channels * g.height * g.width];
            kernels::col2im_add(&dcol, &g, &mut dx);
            grads.register::<Flex>(node.id, flex(dx, vec![g.batch, g.channels, g.height, g.width]));
        }
    }
}

fn conv_autodiff<C: CheckpointStrategy>(x: Tensor<4>, w: Tensor<4>, b: Tensor<1>, spec: ConvSpec, s: GradientCheckpointingStrategy) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, 4>(x, s).into_parts();
    let (w, wn) = tracked::<C, 4>(w, s).into_parts();
    let (b, bn) = tracked::<C, 1>(b, s).into_parts();
    let (y, col, g, out_c) = conv_forward(&x, &w, &b, &spec);
    let out = flex(y.clone(), vec![g.batch, out_c, g.out_h, g.out_w]);
    let result = match ConvBackward.prepare::<C>([xn, wn, bn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(ConvState { col, w, y, g, out_c, activation: spec.activation }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// A convolution with its bias and activation, on the host (call when [`available`]).
///
/// # Shapes
/// `[batch, in, h, w]`, `[out, in, k, k]`, `[out]` → `[batch, out, h', w']`
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, spec: ConvSpec) -> Tensor<4> {
    match context(&[x.gradient_checkpointing_strategy(), weight.gradient_checkpointing_strategy(), bias.gradient_checkpointing_strategy()]) {
        None => {
            let (x, w, b) = (plain(x), plain(weight), plain(bias));
            let (y, _, g, out_c) = conv_forward(&x, &w, &b, &spec);
            Tensor::from_primitive::<Flex>(flex(y, vec![g.batch, out_c, g.out_h, g.out_w]))
        }
        Some(s) => with_strategy!(s, conv_autodiff(x, weight, bias, spec, s)),
    }
}

// ---------------------------------------------------------------------------------------------
// Transposed convolution: y = activation(crop(col2im(Aᵀ · x)) + b)
// ---------------------------------------------------------------------------------------------

/// How a transposed convolution is laid out: stride, the output side, where the output starts in
/// the full result, and the activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvTransposeSpec {
    /// Upsampling factor.
    pub stride: usize,
    /// `(rows, columns)` of the output.
    pub out: (usize, usize),
    /// `(top, left)` of the output in the full, uncropped result.
    pub crop: (usize, usize),
    /// Applied to the output.
    pub activation: Activation,
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

fn transpose_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, spec: &ConvTransposeSpec) -> (Vec<f32>, Scratch, Geometry, usize) {
    let (x_dims, w_dims) = (x.shape().to_vec(), w.shape().to_vec());
    let g = transpose_geometry(&x_dims, &w_dims, spec.stride);
    let in_c = x_dims[1];
    // The input channel-major, [in, batch·positions]; the product's columns are its positions.
    let mut xc = Scratch::zeros(in_c * g.col_cols());
    kernels::nchw_to_channel_major(&host(x), g.batch, in_c, g.out_h * g.out_w, &mut xc);
    let mut z = Scratch::zeros(g.col_rows() * g.col_cols());
    kernels::matmul(View::new(&host(w), in_c, g.col_rows()).t(), View::new(&xc, in_c, g.col_cols()), &mut z, false);
    let mut full = Scratch::zeros(g.batch * g.channels * g.height * g.width);
    kernels::col2im_add(&z, &g, &mut full);
    let (oh, ow) = spec.out;
    let bias = host(b);
    let mut y = vec![0.0f32; g.batch * g.channels * oh * ow];
    for plane in 0..g.batch * g.channels {
        let c = plane % g.channels;
        for i in 0..oh {
            let src = &full[plane * g.height * g.width + (i + spec.crop.0) * g.width + spec.crop.1..][..ow];
            for (d, &v) in y[(plane * oh + i) * ow..][..ow].iter_mut().zip(src) {
                *d = v + bias[c];
            }
        }
    }
    kernels::activate(&mut y, spec.activation);
    (y, xc, g, in_c)
}

#[derive(Debug)]
struct TransposeBackward;

#[derive(Debug, Clone)]
struct TransposeState {
    xc: Scratch,
    w: FlexTensor,
    y: Vec<f32>,
    g: Geometry,
    in_c: usize,
    spec: ConvTransposeSpec,
}

impl Backward<Flex, 3> for TransposeBackward {
    type State = TransposeState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let [px, pw, pb] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let mut dz = host(&dy).into_owned();
        kernels::activation_backward(&mut dz, &s.y, s.spec.activation);
        let (g, (oh, ow)) = (s.g, s.spec.out);
        if let Some(node) = pb {
            let mut db = vec![0.0f32; g.channels];
            for (plane, values) in dz.chunks(oh * ow).enumerate() {
                db[plane % g.channels] += values.iter().sum::<f32>();
            }
            grads.register::<Flex>(node.id, flex(db, vec![g.channels]));
        }
        if px.is_none() && pw.is_none() {
            return;
        }
        // The output's gradient in the full frame (zero where the crop cut), read back into the
        // input grid's columns.
        let mut full = Scratch::zeros(g.batch * g.channels * g.height * g.width);
        for plane in 0..g.batch * g.channels {
            for i in 0..oh {
                full[plane * g.height * g.width + (i + s.spec.crop.0) * g.width + s.spec.crop.1..][..ow].copy_from_slice(&dz[(plane * oh + i) * ow..][..ow]);
            }
        }
        let mut dcol = Scratch::zeros(g.col_rows() * g.col_cols());
        kernels::im2col(&full, &g, &mut dcol);
        if let Some(node) = pw {
            // dA = x · dcolᵀ, [in, out·k·k]
            let mut dw = vec![0.0f32; s.in_c * g.col_rows()];
            kernels::matmul(View::new(&s.xc, s.in_c, g.col_cols()), View::new(&dcol, g.col_rows(), g.col_cols()).t(), &mut dw, false);
            grads.register::<Flex>(node.id, flex(dw, vec![s.in_c, g.channels, g.kernel, g.kernel]));
        }
        if let Some(node) = px {
            // dx = A · dcol, [in, batch·positions]
            let mut dxc = Scratch::zeros(s.in_c * g.col_cols());
            kernels::matmul(View::new(&host(&s.w), s.in_c, g.col_rows()), View::new(&dcol, g.col_rows(), g.col_cols()), &mut dxc, false);
            let mut dx = vec![0.0f32; dxc.len()];
            kernels::channel_major_to_nchw(&dxc, g.batch, s.in_c, g.out_h * g.out_w, &mut dx);
            grads.register::<Flex>(node.id, flex(dx, vec![g.batch, s.in_c, g.out_h, g.out_w]));
        }
    }
}

fn transpose_autodiff<C: CheckpointStrategy>(x: Tensor<4>, w: Tensor<4>, b: Tensor<1>, spec: ConvTransposeSpec, s: GradientCheckpointingStrategy) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, 4>(x, s).into_parts();
    let (w, wn) = tracked::<C, 4>(w, s).into_parts();
    let (b, bn) = tracked::<C, 1>(b, s).into_parts();
    let (y, xc, g, in_c) = transpose_forward(&x, &w, &b, &spec);
    let out = flex(y.clone(), vec![g.batch, g.channels, spec.out.0, spec.out.1]);
    let result = match TransposeBackward.prepare::<C>([xn, wn, bn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(TransposeState { xc, w, y, g, in_c, spec }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// A transposed convolution with its bias and activation, cropped as Keras crops it, on the host
/// (call when [`available`]).
///
/// # Shapes
/// `[batch, in, h, w]`, `[in, out, k, k]`, `[out]` → `[batch, out, spec.out.0, spec.out.1]`
pub fn conv_transpose2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, spec: ConvTransposeSpec) -> Tensor<4> {
    match context(&[x.gradient_checkpointing_strategy(), weight.gradient_checkpointing_strategy(), bias.gradient_checkpointing_strategy()]) {
        None => {
            let (x, w, b) = (plain(x), plain(weight), plain(bias));
            let (y, _, g, _) = transpose_forward(&x, &w, &b, &spec);
            Tensor::from_primitive::<Flex>(flex(y, vec![g.batch, g.channels, spec.out.0, spec.out.1]))
        }
        Some(s) => with_strategy!(s, transpose_autodiff(x, weight, bias, spec, s)),
    }
}

// ---------------------------------------------------------------------------------------------
// Dense: y = activation(x · W + b)
// ---------------------------------------------------------------------------------------------

fn dense_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, activation: Activation) -> (Vec<f32>, usize, usize, usize) {
    let (x_dims, w_dims) = (x.shape().to_vec(), w.shape().to_vec());
    let (rows, inputs, units) = (x_dims[0], x_dims[1], w_dims[1]);
    let bias = host(b);
    let mut y = vec![0.0f32; rows * units];
    for row in y.chunks_mut(units) {
        row.copy_from_slice(&bias);
    }
    kernels::matmul(View::new(&host(x), rows, inputs), View::new(&host(w), inputs, units), &mut y, true);
    kernels::activate(&mut y, activation);
    (y, rows, inputs, units)
}

#[derive(Debug)]
struct DenseBackward;

#[derive(Debug, Clone)]
struct DenseState {
    x: FlexTensor,
    w: FlexTensor,
    y: Vec<f32>,
    dims: (usize, usize, usize),
    activation: Activation,
}

impl Backward<Flex, 3> for DenseBackward {
    type State = DenseState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let [px, pw, pb] = ops.parents;
        let (rows, inputs, units) = s.dims;
        let dy = grads.consume::<Flex>(&ops.node);
        let mut dz = host(&dy).into_owned();
        kernels::activation_backward(&mut dz, &s.y, s.activation);
        if let Some(node) = pb {
            let mut db = vec![0.0f32; units];
            for row in dz.chunks(units) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            grads.register::<Flex>(node.id, flex(db, vec![units]));
        }
        if let Some(node) = pw {
            let mut dw = vec![0.0f32; inputs * units];
            kernels::matmul(View::new(&host(&s.x), rows, inputs).t(), View::new(&dz, rows, units), &mut dw, false);
            grads.register::<Flex>(node.id, flex(dw, vec![inputs, units]));
        }
        if let Some(node) = px {
            let mut dx = vec![0.0f32; rows * inputs];
            kernels::matmul(View::new(&dz, rows, units), View::new(&host(&s.w), inputs, units).t(), &mut dx, false);
            grads.register::<Flex>(node.id, flex(dx, vec![rows, inputs]));
        }
    }
}

fn dense_autodiff<C: CheckpointStrategy>(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>, activation: Activation, s: GradientCheckpointingStrategy) -> Tensor<2>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, 2>(x, s).into_parts();
    let (w, wn) = tracked::<C, 2>(w, s).into_parts();
    let (b, bn) = tracked::<C, 1>(b, s).into_parts();
    let (y, rows, inputs, units) = dense_forward(&x, &w, &b, activation);
    let out = flex(y.clone(), vec![rows, units]);
    let result = match DenseBackward.prepare::<C>([xn, wn, bn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(DenseState { x, w, y, dims: (rows, inputs, units), activation }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// A dense layer, its bias and its activation as one host operation (call when [`available`]):
/// one node in the autodiff graph instead of a matrix product, an addition and the activation's
/// element-wise steps.
///
/// # Shapes
/// `[batch, inputs]`, `[inputs, units]`, `[units]` → `[batch, units]`
pub fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, activation: Activation) -> Tensor<2> {
    match context(&[x.gradient_checkpointing_strategy(), weight.gradient_checkpointing_strategy(), bias.gradient_checkpointing_strategy()]) {
        None => {
            let (x, w, b) = (plain(x), plain(weight), plain(bias));
            let (y, rows, _, units) = dense_forward(&x, &w, &b, activation);
            Tensor::from_primitive::<Flex>(flex(y, vec![rows, units]))
        }
        Some(s) => with_strategy!(s, dense_autodiff(x, weight, bias, activation, s)),
    }
}

// ---------------------------------------------------------------------------------------------
// Max pooling
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct PoolBackward;

#[derive(Debug, Clone)]
struct PoolState {
    arg: Vec<u8>,
    dims: [usize; 4],
    pool: usize,
}

impl Backward<Flex, 1> for PoolBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let [px] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = px {
            let [b, c, h, w] = s.dims;
            let dx = kernels::max_pool_backward(&host(&dy), &s.arg, b, c, h, w, s.pool);
            grads.register::<Flex>(node.id, flex(dx, s.dims.to_vec()));
        }
    }
}

fn pool_autodiff<C: CheckpointStrategy>(x: Tensor<4>, pool: usize, s: GradientCheckpointingStrategy) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, xn) = tracked::<C, 4>(x, s).into_parts();
    let d = x.shape().to_vec();
    let dims = [d[0], d[1], d[2], d[3]];
    let (y, arg) = kernels::max_pool(&host(&x), dims[0], dims[1], dims[2], dims[3], pool);
    let out = flex(y, vec![dims[0], dims[1], dims[2] / pool, dims[3] / pool]);
    let result = match PoolBackward.prepare::<C>([xn]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(PoolState { arg, dims, pool }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Autodiff<Flex, C>>(result)
}

/// `pool × pool` max pooling with stride `pool`, on the host (call when [`available`]).
///
/// # Shapes
/// `[batch, c, h, w]` → `[batch, c, h / pool, w / pool]`
pub fn max_pool2d(x: Tensor<4>, pool: usize) -> Tensor<4> {
    match x.gradient_checkpointing_strategy() {
        None => {
            let x = plain(x);
            let d = x.shape().to_vec();
            let (y, _) = kernels::max_pool(&host(&x), d[0], d[1], d[2], d[3], pool);
            Tensor::from_primitive::<Flex>(flex(y, vec![d[0], d[1], d[2] / pool, d[3] / pool]))
        }
        Some(s) => with_strategy!(s, pool_autodiff(x, pool, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Conv2d, ConvTranspose2d, Padding};
    use crate::rng::Rng;

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
        let cases = [(3, 1, Padding::Same, Activation::Selu), (5, 2, Padding::Same, Activation::LeakyRelu(0.2)), (3, 2, Padding::Valid, Activation::Sigmoid), (3, 1, Padding::Valid, Activation::Tanh)];
        for (k, stride, padding, activation) in cases {
            let conv = Conv2d::new(3, 4, k, stride, padding, activation, &mut Rng::new(1), &device);
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

    #[test]
    fn host_pooling_matches_burns() {
        let device = Device::flex().autodiff();
        let x = input([2, 3, 7, 6], 7, &device).require_grad();
        let ours = max_pool2d(x.clone(), 2);
        let theirs = crate::layers::max_pool2d_burn(x.clone(), 2);
        close(&values(ours.clone()), &values(theirs.clone()), "pool forward");
        let weights = input(ours.dims(), 8, &device);
        let (g1, g2) = ((ours * weights.clone()).sum().backward(), (theirs * weights).sum().backward());
        close(&values(x.grad(&g1).unwrap()), &values(x.grad(&g2).unwrap()), "pool dx");
    }

    #[test]
    fn plain_devices_get_the_same_forward() {
        let conv = Conv2d::new(2, 3, 3, 1, Padding::Same, Activation::Selu, &mut Rng::new(9), &Device::flex());
        let x = input([1, 2, 5, 5], 10, &Device::flex());
        close(&values(conv.forward(x.clone())), &values(Activation::Selu.apply(conv.affine_burn(x))), "plain conv");
    }
}
