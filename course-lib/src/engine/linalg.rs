//! The small dense linear algebra the lessons check their claims with: PCA by an exact symmetric
//! eigendecomposition (cyclic Jacobi), and principal angles between subspaces.
//!
//! Lesson 01 uses it to show that a linear autoencoder spans the same plane as PCA; lesson 03
//! projects the 30-D codings to 2-D with [`Pca`]. The matrices are small (at most a few hundred
//! columns), so exactness and readability win over speed; everything runs in `f64`.

use crate::engine::matrix::Matrix;
use crate::error::{CourseError, Result};

/// Eigenvalues (descending) and unit eigenvectors (`vectors[i]` goes with `values[i]`) of the
/// symmetric `n × n` matrix `a`, given row-major.
pub(crate) fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen needs an n × n matrix");
    let mut a = a.to_vec();
    // v accumulates the rotations; its columns become the eigenvectors.
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, algorithm 8.4.2).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| {
            let mut vec: Vec<f64> = (0..n).map(|k| v[k * n + i]).collect();
            // Fix the sign (largest component positive) so that results are reproducible.
            let big = vec.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                vec.iter_mut().for_each(|x| *x = -*x);
            }
            vec
        })
        .collect();
    (values, vectors)
}

/// The `k` largest eigenpairs of the symmetric `n × n` matrix `a`.
///
/// Small matrices go straight to [`symmetric_eigen`]. For a few components of a large matrix (PCA
/// of 784 pixels) a full Jacobi decomposition would take minutes, so the top subspace is found by
/// subspace iteration (Golub & Van Loan, §8.2.4) and only the small projected matrix is
/// decomposed exactly (Rayleigh-Ritz).
pub(crate) fn top_eigen(a: &[f64], n: usize, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let block = (k + 10).min(n);
    if n <= 64 || 2 * block > n {
        return symmetric_eigen(a, n);
    }
    let mut rng = crate::rng::Rng::new(0);
    let mut q: Vec<Vec<f64>> = (0..block).map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
    let multiply = |vectors: &[Vec<f64>]| -> Vec<Vec<f64>> {
        vectors.iter().map(|v| (0..n).map(|i| a[i * n..(i + 1) * n].iter().zip(v).map(|(x, y)| x * y).sum()).collect()).collect()
    };
    let mut previous = vec![f64::INFINITY; k];
    for _ in 0..500 {
        q = orthonormal_basis(&multiply(&q));
        // Rayleigh-Ritz: the exact eigenpairs of QᵀAQ give the current estimates.
        let aq = multiply(&q);
        let m = q.len();
        let small: Vec<f64> = (0..m).flat_map(|i| {
            let qi = &q[i];
            aq.iter().map(move |col| qi.iter().zip(col).map(|(x, y)| x * y).sum::<f64>())
        }).collect();
        let (values, vectors) = symmetric_eigen(&small, m);
        q = vectors.iter().map(|w| (0..n).map(|r| (0..m).map(|j| w[j] * q[j][r]).sum()).collect()).collect();
        let converged = values.iter().zip(&previous).take(k).all(|(v, p)| (v - p).abs() <= 1e-12 * values[0].abs().max(1e-300));
        previous = values[..k].to_vec();
        if converged {
            break;
        }
    }
    let vectors = q.into_iter().take(k).map(|mut v| {
        let big = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        v
    }).collect();
    (previous, vectors)
}

/// Principal component analysis, as scikit-learn's `PCA(n_components)`.
#[derive(Clone, Debug)]
pub struct Pca {
    /// The mean that was subtracted from each feature.
    pub mean: Vec<f64>,
    /// The principal axes, one unit vector per component, by decreasing variance.
    pub components: Vec<Vec<f64>>,
    /// The variance along each component.
    pub explained_variance: Vec<f64>,
    /// The fraction of the total variance along each component.
    pub explained_variance_ratio: Vec<f64>,
}

impl Pca {
    /// Fits `n_components` principal components to the rows of `x`.
    pub fn fit(x: &Matrix, n_components: usize) -> Result<Pca> {
        let d = x.cols;
        if n_components == 0 || n_components > d {
            return Err(CourseError::bad_config(
                "n_components",
                format!("must be between 1 and the number of features ({d}), got {n_components}"),
            ));
        }
        x.check()?;
        if x.rows < 2 {
            return Err(CourseError::shape("Pca::fit", "at least 2 samples", format!("{}", x.rows)));
        }
        if n_components >= x.rows {
            return Err(CourseError::bad_config(
                "n_components",
                format!(
                    "{} samples vary along at most {} directions, so ask for fewer than {} components, or give more samples",
                    x.rows,
                    x.rows - 1,
                    x.rows
                ),
            ));
        }
        let mean: Vec<f64> = x.column_means().iter().map(|&m| m as f64).collect();
        let mut cov = vec![0.0; d * d];
        for r in 0..x.rows {
            let centred: Vec<f64> = x.at(r).iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for i in 0..d {
                for j in i..d {
                    cov[i * d + j] += centred[i] * centred[j];
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                cov[i * d + j] /= (x.rows - 1) as f64;
                cov[j * d + i] = cov[i * d + j];
            }
        }
        let total: f64 = (0..d).map(|i| cov[i * d + i]).sum();
        let (values, vectors) = top_eigen(&cov, d, n_components);
        if values.len() < n_components || vectors.len() < n_components {
            return Err(CourseError::bad_config("n_components", format!("only {} components could be found in these samples; ask for fewer", values.len())));
        }
        let explained_variance: Vec<f64> = values[..n_components].to_vec();
        Ok(Pca {
            mean,
            components: vectors[..n_components].to_vec(),
            explained_variance_ratio: explained_variance.iter().map(|v| v / total).collect(),
            explained_variance,
        })
    }

    /// The coordinates of each row of `x` along the components (`n × k`).
    pub fn transform(&self, x: &Matrix) -> Result<Matrix> {
        x.check()?;
        if x.cols != self.mean.len() {
            return Err(CourseError::shape("Pca::transform", format!("{} features per sample, as the PCA was fitted on", self.mean.len()), format!("{}", x.cols)));
        }
        let k = self.components.len();
        let mut data = Vec::with_capacity(x.rows * k);
        for r in 0..x.rows {
            let row = x.at(r);
            for c in &self.components {
                let dot: f64 = row.iter().zip(&self.mean).zip(c).map(|((&v, m), w)| (v as f64 - m) * w).sum();
                data.push(dot as f32);
            }
        }
        Ok(Matrix { rows: x.rows, cols: k, data })
    }

    /// The points of the original space whose coordinates are the rows of `codings`.
    pub fn inverse_transform(&self, codings: &Matrix) -> Result<Matrix> {
        codings.check()?;
        if codings.cols != self.components.len() {
            return Err(CourseError::shape("Pca::inverse_transform", format!("{} coordinates per sample, one per component", self.components.len()), format!("{}", codings.cols)));
        }
        let d = self.mean.len();
        let mut data = Vec::with_capacity(codings.rows * d);
        for r in 0..codings.rows {
            let z = codings.at(r);
            for j in 0..d {
                let v: f64 = self.mean[j] + z.iter().zip(&self.components).map(|(&zk, c)| zk as f64 * c[j]).sum::<f64>();
                data.push(v as f32);
            }
        }
        Ok(Matrix { rows: codings.rows, cols: d, data })
    }

    /// Mean squared error of projecting `x` on the components and back (the same measure as
    /// Keras's `mse` loss).
    pub fn reconstruction_mse(&self, x: &Matrix) -> Result<f64> {
        mse(x, &self.inverse_transform(&self.transform(x)?)?)
    }
}

/// Mean squared difference of two matrices of the same shape.
pub fn mse(a: &Matrix, b: &Matrix) -> Result<f64> {
    a.check()?;
    b.check()?;
    if (a.rows, a.cols) != (b.rows, b.cols) {
        return Err(CourseError::shape("mse", format!("two matrices of the same shape ({} × {})", a.rows, a.cols), format!("{} × {}", b.rows, b.cols)));
    }
    let n = a.data.len().max(1) as f64;
    Ok(a.data.iter().zip(&b.data).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum::<f64>() / n)
}

/// An orthonormal basis of the span of `vectors` (modified Gram-Schmidt); vectors that add no new
/// direction are dropped.
pub fn orthonormal_basis(vectors: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for v in vectors {
        let mut w = v.clone();
        for b in &basis {
            let dot: f64 = w.iter().zip(b).map(|(x, y)| x * y).sum();
            w.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-10 * scale.max(1e-300) {
            basis.push(w.into_iter().map(|x| x / norm).collect());
        }
    }
    basis
}

/// The principal angles, in degrees and ascending, between the subspaces spanned by `a` and by
/// `b` (each a list of vectors of the same dimension). 0° everywhere means the same subspace.
///
/// The cosines of the angles are the singular values of `QaᵀQb` for orthonormal bases `Qa`, `Qb`
/// (Björck & Golub, 1973).
pub fn principal_angles(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<Vec<f64>> {
    let dim = a.first().map_or(0, Vec::len);
    if a.iter().chain(b).any(|v| v.len() != dim) {
        return Err(CourseError::shape(
            "principal_angles",
            format!("vectors of one dimension ({dim})"),
            "vectors of different dimensions",
        ));
    }
    let qa = orthonormal_basis(a);
    let qb = orthonormal_basis(b);
    let (k, l) = (qa.len(), qb.len());
    // m = QaᵀQb (k × l); the singular values are the square roots of the eigenvalues of mᵀm.
    let m: Vec<f64> = qa
        .iter()
        .flat_map(|x| qb.iter().map(move |y| x.iter().zip(y).map(|(p, q)| p * q).sum()))
        .collect();
    let mut mtm = vec![0.0; l * l];
    for i in 0..l {
        for j in 0..l {
            mtm[i * l + j] = (0..k).map(|r| m[r * l + i] * m[r * l + j]).sum();
        }
    }
    let (values, _) = symmetric_eigen(&mtm, l);
    Ok(values
        .iter()
        .take(k.min(l))
        .map(|s| s.max(0.0).sqrt().min(1.0).acos().to_degrees())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1 with eigenvectors (1, 1)/√2 and (1, -1)/√2.
        let (values, vectors) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vectors[0][0] - s).abs() < 1e-12 && (vectors[0][1] - s).abs() < 1e-12);
    }

    #[test]
    fn eigen_reconstructs_a_random_symmetric_matrix() {
        let mut rng = crate::rng::Rng::new(5);
        let n = 7;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                a[i * n + j] = rng.normal();
                a[j * n + i] = a[i * n + j];
            }
        }
        let (values, vectors) = symmetric_eigen(&a, n);
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n).map(|k| values[k] * vectors[k][i] * vectors[k][j]).sum();
                assert!((back - a[i * n + j]).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn subspace_iteration_agrees_with_jacobi() {
        let mut rng = crate::rng::Rng::new(9);
        let n = 80;
        // A covariance-like matrix with a decaying spectrum.
        let x: Vec<Vec<f64>> = (0..200).map(|_| (0..n).map(|j| rng.normal() / (1.0 + j as f64)).collect()).collect();
        let a: Vec<f64> = (0..n * n).map(|ij| x.iter().map(|r| r[ij / n] * r[ij % n]).sum::<f64>() / 200.0).collect();
        let (exact, exact_vectors) = symmetric_eigen(&a, n);
        let (fast, fast_vectors) = top_eigen(&a, n, 3);
        for k in 0..3 {
            assert!((exact[k] - fast[k]).abs() < 1e-9 * exact[0], "{k}: {} vs {}", exact[k], fast[k]);
            let dot: f64 = exact_vectors[k].iter().zip(&fast_vectors[k]).map(|(p, q)| p * q).sum();
            assert!(dot.abs() > 1.0 - 1e-6, "{k}: {dot}");
        }
    }

    #[test]
    fn angles_between_planes() {
        let xy = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]];
        let same = vec![vec![1.0, 1.0, 0.0], vec![2.0, -1.0, 0.0]];
        let tilted = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 1.0]];
        let angles = principal_angles(&xy, &same).unwrap();
        assert!(angles.iter().all(|a| a.abs() < 1e-6), "{angles:?}");
        let angles = principal_angles(&xy, &tilted).unwrap();
        assert!(angles[0].abs() < 1e-6 && (angles[1] - 45.0).abs() < 1e-6, "{angles:?}");
    }

    #[test]
    fn pca_recovers_the_toy_plane() {
        let x = crate::data::toy_3d_data(4);
        let pca = Pca::fit(&x, 2).unwrap();
        // Two components keep almost all the variance of the toy data: it lies near a plane.
        assert!(pca.explained_variance_ratio.iter().sum::<f64>() > 0.95);
        let back = pca.inverse_transform(&pca.transform(&x).unwrap()).unwrap();
        assert!(mse(&x, &back).unwrap() < 0.01);
        assert!(Pca::fit(&x, 4).unwrap_err().to_string().contains("between 1 and"));
    }
}
