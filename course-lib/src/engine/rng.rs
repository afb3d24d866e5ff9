//! A small seeded random number generator (xoshiro256**, seeded through SplitMix64).
//!
//! The course draws its own random numbers for weight initialisation, shuffling and the toy data
//! instead of using the backend's global generator, so that a seed gives the same numbers on every
//! backend, in every thread, and in every future version of the dependencies: the snapshot tests
//! and the notebooks' "same seed, same result" promise depend on that.

use burn::tensor::{Device, Tensor, TensorData};

/// A deterministic pseudo-random generator. Its state can be saved with a training checkpoint
/// (serde), so that a resumed run draws what the uninterrupted run would have drawn.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Rng {
    state: [u64; 4],
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { state: [next(), next(), next(), next()], spare_normal: None }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform_range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // in (0, 1], so the logarithm is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// A uniform integer in `0..n`, without modulo bias; an error for `n = 0` (the range `0..0`
    /// holds no integer).
    pub fn below(&mut self, n: usize) -> crate::Result<usize> {
        if n == 0 {
            return Err(crate::CourseError::bad_config("Rng::below", "the range 0..0 holds no integer; pass n of 1 or more"));
        }
        Ok(self.index(n))
    }

    /// [`Rng::below`] for the library's own ranges, never empty (an `n` of 0 is taken as 1).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }

    /// A permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

/// Tables of the ziggurat method for standard normal numbers (Marsaglia & Tsang, "The Ziggurat
/// Method for Generating Random Variables", J. Stat. Software 5(8), 2000: 128 layers).
struct Ziggurat {
    k: [u32; 128],
    w: [f32; 128],
    f: [f32; 128],
}

/// The start of the tail: the right edge of the base layer.
const ZIGGURAT_R: f64 = 3.442_619_855_899;

fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let m1 = 2_147_483_648.0f64;
        let v = 9.912_563_035_262_17e-3;
        let (mut dn, mut tn) = (ZIGGURAT_R, ZIGGURAT_R);
        let q = v / (-0.5 * dn * dn).exp();
        let mut z = Ziggurat { k: [0; 128], w: [0.0; 128], f: [0.0; 128] };
        z.k[0] = (dn / q * m1) as u32;
        z.k[1] = 0;
        z.w[0] = (q / m1) as f32;
        z.w[127] = (dn / m1) as f32;
        z.f[0] = 1.0;
        z.f[127] = (-0.5 * dn * dn).exp() as f32;
        for i in (1..=126).rev() {
            dn = (-2.0 * (v / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
            z.k[i + 1] = (dn / tn * m1) as u32;
            tn = dn;
            z.f[i] = (-0.5 * dn * dn).exp() as f32;
            z.w[i] = (dn / m1) as f32;
        }
        z
    })
}

impl Rng {
    /// Fills `out` with standard normal numbers by the ziggurat method: about ten times faster
    /// than [`Rng::normal`], which matters for the noise layers (25,088 numbers per batch of 32
    /// images).
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        let z = ziggurat();
        for v in out.iter_mut() {
            *v = self.ziggurat_normal(z);
        }
    }

    fn ziggurat_normal(&mut self, z: &Ziggurat) -> f32 {
        loop {
            let hz = self.next_u64() as u32 as i32;
            let iz = (hz & 127) as usize;
            let x = hz as f32 * z.w[iz];
            if hz.unsigned_abs() < z.k[iz] {
                return x; // inside the layer's rectangle: most draws end here
            }
            if iz == 0 {
                // The tail beyond R, by Marsaglia's method.
                loop {
                    let x = -(1.0 - self.uniform()).ln() / ZIGGURAT_R;
                    let y = -(1.0 - self.uniform()).ln();
                    if y + y >= x * x {
                        let v = (ZIGGURAT_R + x) as f32;
                        return if hz > 0 { v } else { -v };
                    }
                }
            }
            // The wedge: accept with the density's probability.
            if z.f[iz] + self.uniform() as f32 * (z.f[iz - 1] - z.f[iz]) < (-0.5 * x * x).exp() {
                return x;
            }
        }
    }
}

/// The randomness of one pass through a model, and whether it is a training pass.
///
/// Stochastic layers (Gaussian noise and dropout in lesson 05, the variational autoencoder's
/// sampling in lesson 06, the GAN's dropout in lesson 07) draw from it instead of burn's global
/// generator, so that a seed repeats a run exactly on any backend. [`fit`](crate::train::fit)
/// makes one from its configuration's seed and passes it to every training step; evaluation and
/// prediction pass [`Noise::inference`], which turns the noise and dropout layers off.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Noise {
    rng: Rng,
    training: bool,
}

impl Noise {
    /// The randomness of training, seeded.
    pub fn training(seed: u64) -> Noise {
        Noise { rng: Rng::new(seed), training: true }
    }

    /// The randomness of inference: noise and dropout off; layers that sample even then (the
    /// variational autoencoder) draw from a generator with a fixed seed, so that evaluating the
    /// same model twice gives the same number.
    pub fn inference() -> Noise {
        Noise { rng: Rng::new(0), training: false }
    }

    /// Whether this is a training pass (noise and dropout active).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The generator, for shuffling and for models that draw their own numbers.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A tensor of N(0, stddev²) values.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], stddev: f32, device: &Device) -> Tensor<D> {
        let mut values = vec![0.0f32; shape.iter().product()];
        self.rng.fill_normal(&mut values);
        if stddev != 1.0 {
            values.iter_mut().for_each(|v| *v *= stddev);
        }
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A tensor of U(0, 1) values.
    pub fn uniform<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| self.rng.uniform() as f32).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A `rows × cols` matrix of N(0, 1) values on the host: a batch of codings for a generator
    /// (the slide's `tf.random.normal(shape=[batch_size, codings_size])`).
    pub fn codings(&mut self, rows: usize, cols: usize) -> crate::engine::matrix::Matrix {
        let mut data = vec![0.0f32; rows * cols];
        self.rng.fill_normal(&mut data);
        crate::engine::matrix::Matrix { rows, cols, data }
    }

    /// A dropout mask: 0 with probability `rate`, otherwise `1 / (1 − rate)`.
    pub fn dropout_mask<const D: usize>(&mut self, shape: [usize; D], rate: f64, device: &Device) -> Tensor<D> {
        let keep = 1.0 - rate;
        let scale = (1.0 / keep) as f32;
        // Compare 32 random bits at a time against the threshold: two draws per u64.
        let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u64;
        let mut values = vec![0.0f32; shape.iter().product()];
        // Written in pairs, low half first (the same mask as one value at a time, without a
        // length check per value: this loop was a twentieth of a DCGAN iteration).
        for pair in values.chunks_mut(2) {
            let bits = self.rng.next_u64();
            for (v, half) in pair.iter_mut().zip([bits & 0xFFFF_FFFF, bits >> 32]) {
                *v = if half < threshold { scale } else { 0.0 };
            }
        }
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// The sample indices of each mini-batch of one epoch: a seeded shuffle of `0..n` cut into
/// batches of `batch_size` (the last one smaller), as Keras's `fit(shuffle=True)` does.
pub fn shuffled_batches(n: usize, batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let order = rng.permutation(n);
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_different_seeds_differ() {
        let a: Vec<u64> = { let mut r = Rng::new(7); (0..5).map(|_| r.next_u64()).collect() };
        let b: Vec<u64> = { let mut r = Rng::new(7); (0..5).map(|_| r.next_u64()).collect() };
        let c: Vec<u64> = { let mut r = Rng::new(8); (0..5).map(|_| r.next_u64()).collect() };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(1);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn ziggurat_normals_have_the_normal_distribution() {
        let mut r = Rng::new(5);
        let mut xs = vec![0.0f32; 400_000];
        r.fill_normal(&mut xs);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        // The tails: P(|x| > 2) = 0.0455, P(|x| > 3.5) = 0.000465 (beyond the ziggurat's base).
        let beyond = |t: f32| xs.iter().filter(|x| x.abs() > t).count() as f64 / n;
        assert!((beyond(2.0) - 0.0455).abs() < 0.002, "{}", beyond(2.0));
        assert!((beyond(3.5) - 0.000465).abs() < 0.0002, "{}", beyond(3.5));
    }

    #[test]
    fn dropout_masks_keep_the_expected_share_and_repeat_on_a_seed() {
        let device = Device::flex();
        let mask = |seed| Noise::training(seed).dropout_mask([100, 100], 0.5, &device).into_data().try_to_vec::<f32>().unwrap();
        let a = mask(1);
        assert_eq!(a, mask(1));
        assert_ne!(a, mask(2));
        let kept = a.iter().filter(|&&v| v > 0.0).count();
        assert!((4800..5200).contains(&kept), "{kept}");
        assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(3).permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
