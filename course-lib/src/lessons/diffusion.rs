//! Lesson 09 (the book's third edition, chapter 17, "Diffusion Models"): the forward process of a
//! denoising diffusion model.
//!
//! This first part is the process the model learns to reverse, and nothing it learns: the
//! variance schedule, one step of noise, and the closed form that jumps to any step.
//! - One step (Ho et al., NeurIPS 2020, eq. 2): q(xₜ | xₜ₋₁) = N(√(1 − βₜ) · xₜ₋₁, βₜ I).
//! - Any step at once, with αₜ = 1 − βₜ and ᾱₜ = α₁ ⋯ αₜ (their eq. 4):
//!   q(xₜ | x₀) = N(√ᾱₜ · x₀, (1 − ᾱₜ) I), so xₜ = √ᾱₜ · x₀ + √(1 − ᾱₜ) · ε with ε ~ N(0, I).
//!   Training uses it to make a noisy image of any step in one draw.
//! - The schedules: the cosine schedule of Nichol & Dhariwal (ICML 2021), which the book uses
//!   (`variance_schedule(T, s=0.008, max_beta=0.999)` with T = 4,000; its Figure 17–21 plots
//!   βₜ and ᾱₜ), and the linear one of Ho et al. (β from 10⁻⁴ to 0.02 over T = 1,000), as a knob.
//!
//! The images are in [−1, 1], as the book scales them (`X * 2 - 1`). The time encoding the
//! denoiser reads is here too ([`time_encoding`]); the denoiser itself (a small U-Net), its
//! training and the DDPM and DDIM samplers are issue #28's remaining parts.

use crate::data::Matrix;
use crate::error::{CourseError, Result};
use crate::rng::Rng;

/// How the noise variance βₜ grows over the steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Nichol & Dhariwal's: ᾱₜ = f(t) / f(0) with f(t) = cos²((t/T + s) / (1 + s) · π/2), each βₜ
    /// clipped at `max_beta` (the book: s = 0.008, max β = 0.999).
    Cosine {
        /// Keeps β₁ from being vanishingly small.
        s: f64,
        /// Keeps the last steps from dividing by nearly 0.
        max_beta: f64,
    },
    /// Ho et al.'s: βₜ from `beta_start` to `beta_end` in equal increments (10⁻⁴ to 0.02).
    Linear {
        /// β₁.
        beta_start: f64,
        /// β_T.
        beta_end: f64,
    },
}

/// The book's number of steps, from the Improved DDPM paper (DDPM used 1,000).
pub const BOOK_STEPS: usize = 4000;

impl Schedule {
    /// The book's cosine schedule.
    pub fn cosine() -> Schedule {
        Schedule::Cosine { s: 0.008, max_beta: 0.999 }
    }

    /// DDPM's linear schedule.
    pub fn linear() -> Schedule {
        Schedule::Linear { beta_start: 1e-4, beta_end: 0.02 }
    }

    /// βₜ, αₜ and ᾱₜ for t = 0 to `steps` (step 0 is the image itself: β₀ = 0, α₀ = ᾱ₀ = 1), or
    /// the setting that is out of its range.
    pub fn variances(&self, steps: usize) -> Result<Variances> {
        if steps == 0 {
            return Err(CourseError::bad_config("steps", format!("must be at least 1 (the book uses {BOOK_STEPS})")));
        }
        let betas: Vec<f64> = match *self {
            Schedule::Cosine { s, max_beta } => {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(CourseError::bad_config("s", format!("must be a small positive number (the book's is 0.008), got {s}")));
                }
                if !(max_beta > 0.0 && max_beta < 1.0) {
                    return Err(CourseError::bad_config("max_beta", format!("must be in (0, 1) (the book's is 0.999), got {max_beta}")));
                }
                let f = |t: usize| ((t as f64 / steps as f64 + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
                std::iter::once(0.0).chain((1..=steps).map(|t| (1.0 - f(t) / f(t - 1)).min(max_beta))).collect()
            }
            Schedule::Linear { beta_start, beta_end } => {
                if !(beta_start > 0.0 && beta_start <= beta_end && beta_end < 1.0) {
                    return Err(CourseError::bad_config("beta_start", format!("and beta_end must satisfy 0 < beta_start ≤ beta_end < 1 (DDPM's are 0.0001 and 0.02), got {beta_start} and {beta_end}")));
                }
                let step = if steps > 1 { (beta_end - beta_start) / (steps - 1) as f64 } else { 0.0 };
                std::iter::once(0.0).chain((0..steps).map(|i| beta_start + step * i as f64)).collect()
            }
        };
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let alpha_bars = alphas.iter().scan(1.0, |product, a| {
            *product *= a;
            Some(*product)
        });
        Ok(Variances { alpha_bars: alpha_bars.collect(), alphas, betas })
    }
}

/// A schedule's values for t = 0 to T (index t; index 0 is the clean image).
#[derive(Clone, Debug, PartialEq)]
pub struct Variances {
    /// βₜ: the variance of the noise step t adds.
    pub betas: Vec<f64>,
    /// αₜ = 1 − βₜ.
    pub alphas: Vec<f64>,
    /// ᾱₜ = α₁ ⋯ αₜ: the share of the image's variance left at step t.
    pub alpha_bars: Vec<f64>,
}

impl Variances {
    /// T, the last step.
    pub fn steps(&self) -> usize {
        self.betas.len() - 1
    }

    fn check_step(&self, t: usize, lowest: usize) -> Result<()> {
        if t < lowest || t > self.steps() {
            return Err(CourseError::bad_config("t", format!("must be a step from {lowest} to {}, got {t}", self.steps())));
        }
        Ok(())
    }

    /// One step of the forward process, from `x` at step t − 1 to step `t`:
    /// √(1 − βₜ) · x + √βₜ · ε, with ε drawn from `rng`.
    pub fn step(&self, x: &Matrix, t: usize, rng: &mut Rng) -> Result<Matrix> {
        self.check_step(t, 1)?;
        Ok(mix(x, 1.0 - self.betas[t], rng).0)
    }

    /// The closed form: `x0` noised to step `t` in one draw, √ᾱₜ · x₀ + √(1 − ᾱₜ) · ε, and the
    /// noise ε it drew (what the denoiser learns to predict).
    pub fn noisy(&self, x0: &Matrix, t: usize, rng: &mut Rng) -> Result<(Matrix, Matrix)> {
        self.check_step(t, 0)?;
        Ok(mix(x0, self.alpha_bars[t], rng))
    }
}

/// √kept · x + √(1 − kept) · ε with ε ~ N(0, I) from `rng`, and ε: `x` keeping the share `kept` of
/// its variance, the rest noise.
fn mix(x: &Matrix, kept: f64, rng: &mut Rng) -> (Matrix, Matrix) {
    let (keep, add) = (kept.sqrt() as f32, (1.0 - kept).sqrt() as f32);
    let mut eps = vec![0.0f32; x.data.len()];
    rng.fill_normal(&mut eps);
    let data = x.data.iter().zip(&eps).map(|(&v, &e)| keep * v + add * e).collect();
    (Matrix { rows: x.rows, cols: x.cols, data }, Matrix { rows: x.rows, cols: x.cols, data: eps })
}

/// The book's embedding size for the time step (`embed_size = 64`).
pub const BOOK_TIME_EMBEDDING: usize = 64;

/// The sinusoidal encoding of every step 0 to `steps` (Vaswani et al., NeurIPS 2017, which DDPM
/// uses for the time): row t holds sin(t / 10000^(2k/d)) in column 2k and cos(t / 10000^(2k/d))
/// in column 2k + 1, for k = 0 to d/2 − 1, d = `size` (the book's `TimeEncoding` layer). The
/// denoiser reads the row of its step, so that one network serves every step.
pub fn time_encoding(steps: usize, size: usize) -> Result<Matrix> {
    if size == 0 || size % 2 == 1 {
        return Err(CourseError::bad_config("size", format!("must be even and at least 2 (a sine and a cosine per frequency; the book's is {BOOK_TIME_EMBEDDING}), got {size}")));
    }
    let mut data = Vec::with_capacity((steps + 1) * size);
    for t in 0..=steps {
        for k in 0..size / 2 {
            let angle = t as f64 / 10_000f64.powf((2 * k) as f64 / size as f64);
            data.extend([angle.sin() as f32, angle.cos() as f32]);
        }
    }
    Ok(Matrix { rows: steps + 1, cols: size, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cosine schedule's values are the book's `variance_schedule(4000)` (computed here in
    /// f64; the book's NumPy, which casts α to float32 before its product, agrees to 1.1e-6 at
    /// every step), and it behaves as the paper says: ᾱ falls from 1 to 0, β grows to its clip.
    #[test]
    fn cosine_schedule_is_the_books() {
        let v = Schedule::cosine().variances(BOOK_STEPS).unwrap();
        assert_eq!(v.steps(), 4000);
        assert_eq!((v.betas[0], v.alphas[0], v.alpha_bars[0]), (0.0, 1.0, 1.0));
        // From the formula by hand: f(t) = cos²((t/T + s)/(1 + s) · π/2).
        let f = |t: f64| ((t / 4000.0 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        for t in [1usize, 2, 1000, 2000, 3999] {
            assert!((v.alpha_bars[t] - f(t as f64) / f(0.0)).abs() < 1e-9, "ᾱ at {t}");
        }
        assert!((v.betas[1] - (1.0 - f(1.0) / f(0.0))).abs() < 1e-12);
        // The book's code run with NumPy: ᾱ₁₀₀₀ = 0.84701133, ᾱ₂₀₀₀ = 0.49384302 (float32).
        assert!((v.alpha_bars[1000] - 0.847_011_33).abs() < 2e-6 && (v.alpha_bars[2000] - 0.493_843_02).abs() < 2e-6);
        assert_eq!(v.betas[4000], 0.999, "the last step is clipped");
        assert!(v.alpha_bars.windows(2).all(|w| w[1] < w[0]), "ᾱ falls at every step");
        assert!(v.alpha_bars[4000] < 1e-6);
        assert!(v.betas[1..].windows(2).all(|w| w[1] >= w[0]), "β never falls");
    }

    #[test]
    fn linear_schedule_is_ddpms() {
        let v = Schedule::linear().variances(1000).unwrap();
        assert_eq!((v.betas[1], v.betas[1000]), (1e-4, 0.02));
        assert!((v.betas[500] - (1e-4 + 499.0 * (0.02 - 1e-4) / 999.0)).abs() < 1e-15);
        // DDPM's ᾱ_T: about 4e-5 (Ho et al. chose T and β so that x_T is nearly pure noise).
        assert!(v.alpha_bars[1000] > 1e-5 && v.alpha_bars[1000] < 1e-4, "{}", v.alpha_bars[1000]);
    }

    /// The book's `TimeEncoding(T, 64)`: sines in the even columns, cosines in the odd ones, the
    /// frequencies falling from 1 to 1/10000^(62/64).
    #[test]
    fn time_encoding_is_the_books() {
        let e = time_encoding(BOOK_STEPS, BOOK_TIME_EMBEDDING).unwrap();
        assert_eq!((e.rows, e.cols), (4001, 64));
        let at = |t: usize, c: usize| e.data[t * 64 + c] as f64;
        assert!((0..64).all(|c| at(0, c) == if c % 2 == 0 { 0.0 } else { 1.0 }), "step 0: sin 0 and cos 0");
        assert!((at(1, 0) - 1f64.sin()).abs() < 1e-7 && (at(1, 1) - 1f64.cos()).abs() < 1e-7);
        // Column 32 = 2·16: the frequency 1/10000^(32/64) = 1/100.
        assert!((at(250, 32) - 2.5f64.sin()).abs() < 1e-6 && (at(250, 33) - 2.5f64.cos()).abs() < 1e-6);
        assert!(time_encoding(10, 7).unwrap_err().to_string().contains("must be even"));
        assert!(time_encoding(10, 0).is_err());
    }

    #[test]
    fn bad_schedules_and_steps_are_refused() {
        let message = |r: Result<Variances>| r.unwrap_err().to_string();
        assert!(message(Schedule::cosine().variances(0)).contains("`steps`"));
        assert!(message(Schedule::Cosine { s: -0.1, max_beta: 0.999 }.variances(10)).contains("0.008"));
        assert!(message(Schedule::Cosine { s: 0.008, max_beta: 1.0 }.variances(10)).contains("max_beta"));
        assert!(message(Schedule::Linear { beta_start: 0.02, beta_end: 1e-4 }.variances(10)).contains("beta_start"));
        let v = Schedule::cosine().variances(10).unwrap();
        let x = Matrix::filled(1, 3, 0.5);
        assert!(v.step(&x, 0, &mut Rng::new(1)).unwrap_err().to_string().contains("from 1 to 10, got 0"));
        assert!(v.noisy(&x, 11, &mut Rng::new(1)).unwrap_err().to_string().contains("from 0 to 10, got 11"));
    }

    /// The closed form q(xₜ | x₀) is what t single steps give, in distribution: for each pixel,
    /// the mean over many draws is √ᾱₜ · x₀ and the variance 1 − ᾱₜ, both ways.
    #[test]
    fn closed_form_matches_t_steps_in_distribution() {
        let v = Schedule::cosine().variances(200).unwrap();
        let pixels = [-1.0f32, -0.3, 0.0, 0.6, 1.0];
        let draws = 20_000;
        // Every draw starts from the same five pixels.
        let x0 = Matrix { rows: draws, cols: pixels.len(), data: pixels.iter().copied().cycle().take(draws * pixels.len()).collect() };
        for t in [1usize, 30, 120, 200] {
            let mut stepped = x0.clone();
            let mut rng = Rng::new(t as u64);
            for s in 1..=t {
                stepped = v.step(&stepped, s, &mut rng).unwrap();
            }
            let (jumped, _) = v.noisy(&x0, t, &mut Rng::new(1000 + t as u64)).unwrap();
            for (i, &p) in pixels.iter().enumerate() {
                let (mean, var) = (v.alpha_bars[t].sqrt() * p as f64, 1.0 - v.alpha_bars[t]);
                for (how, m) in [("stepped", &stepped), ("jumped", &jumped)] {
                    let column: Vec<f64> = (0..draws).map(|r| m.data[r * pixels.len() + i] as f64).collect();
                    let m1 = column.iter().sum::<f64>() / draws as f64;
                    let m2 = column.iter().map(|x| (x - m1).powi(2)).sum::<f64>() / (draws - 1) as f64;
                    // Five standard errors of the mean and of the variance.
                    let (se_mean, se_var) = ((var / draws as f64).sqrt(), var * (2.0 / (draws - 1) as f64).sqrt());
                    assert!((m1 - mean).abs() < 5.0 * se_mean + 1e-6, "t = {t}, pixel {p}, {how}: mean {m1} vs {mean}");
                    assert!((m2 - var).abs() < 5.0 * se_var + 1e-6, "t = {t}, pixel {p}, {how}: variance {m2} vs {var}");
                }
            }
        }
    }
}
