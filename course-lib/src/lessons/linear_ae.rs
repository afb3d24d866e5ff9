//! Lesson 01, 과소완전 선형 오토인코더로 PCA 수행하기 (performing PCA with an undercomplete
//! linear autoencoder).
//!
//! An autoencoder with no activation function, fewer codings than inputs and the MSE loss learns
//! to project its inputs onto the subspace that keeps the most variance: the subspace PCA finds
//! (Baldi & Hornik, 1989). The slide trains a 3 → 2 → 3 linear autoencoder on 3-D toy data; this
//! module also checks the claim, by the principal angles between the decoder's plane and PCA's.

use crate::checkpoint::Description;
use crate::data::Matrix;
use crate::engine::autoencoder::{Autoencoder, Part};
use crate::error::{CourseError, Result};
use crate::layers::{Activation, Dense};
use crate::linalg::{Pca, mse, principal_angles};
use crate::rng::Rng;
use crate::summary::ModelSummary;
use crate::train::{FitConfig, Loss, OptimizerConfig, predict};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::fmt;

/// The slide's learning rate: `SGD(learning_rate=0.1)`.
pub const SLIDE_LEARNING_RATE: f64 = 0.1;
/// The book's learning rate for the same model: `SGD(lr=1.5)`.
pub const BOOK_LEARNING_RATE: f64 = 1.5;
/// The slide's `fit(X_train, X_train, epochs=20)`.
pub const EPOCHS: usize = 20;

crate::config::course_config! {
    /// The slide's linear autoencoder: `Dense(2, input_shape=[3])` then `Dense(3)`.
    pub struct LinearAeConfig {
        /// Features of one input (3 for the toy data).
        inputs / with_inputs: usize = 3,
        /// Size of the coding (2: the plane to project on).
        codings / with_codings: usize = 2,
        /// Seeds the initial weights.
        seed / with_seed: u64 = 42,
    }
}

impl LinearAeConfig {
    /// Builds the autoencoder on `device` (use `training_device()` to train it).
    pub fn init(&self, device: &Device) -> Result<LinearAe> {
        if self.inputs == 0 || self.codings == 0 || self.codings >= self.inputs {
            return Err(CourseError::bad_config(
                "codings",
                format!(
                    "an undercomplete autoencoder needs 1 ≤ codings < inputs, got codings = {} \
                     and inputs = {}",
                    self.codings, self.inputs
                ),
            ));
        }
        let mut rng = Rng::new(self.seed);
        Ok(LinearAe {
            encoder: Dense::new(self.inputs, self.codings, Activation::Linear, &mut rng, device),
            decoder: Dense::new(self.codings, self.inputs, Activation::Linear, &mut rng, device),
            name: "linear_ae".to_owned(),
        })
    }
}

/// A linear autoencoder: an encoder and a decoder, each one dense layer without activation.
pub type LinearAe = Autoencoder<Dense>;

impl LinearAe {
    /// The directions the decoder maps the coding axes to: the rows of its weight matrix. Their
    /// span is the plane (shifted by the bias) on which every reconstruction lies.
    pub fn decoder_directions(&self) -> Vec<Vec<f64>> {
        let m = Matrix::from_tensor(self.decoder.weight.val().detach());
        (0..m.rows).map(|i| m.at(i).iter().map(|&v| v as f64).collect()).collect()
    }
}

/// Lesson 01's parts: one dense layer each side.
impl Part for Dense {
    fn inputs(&self) -> usize {
        Dense::inputs(self)
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Dense::forward(self, x)
    }

    fn describe(ae: &LinearAe) -> Description {
        Description::new(&ae.name, &[("inputs", ae.encoder.inputs().to_string()), ("codings", ae.encoder.units().to_string())])
    }

    fn summary(ae: &LinearAe) -> ModelSummary {
        ModelSummary::new("linear_autoencoder")
            .layer("encoder", "Dense", &[ae.encoder.units()], ae.encoder.num_params())
            .layer("decoder", "Dense", &[ae.decoder.units()], ae.decoder.num_params())
    }
}

crate::train::compiled_training_methods!(LinearAe);

/// The slide's training setup: MSE loss, SGD at `learning_rate`, 20 epochs, batch 32.
pub fn fit_config(learning_rate: f64) -> FitConfig {
    FitConfig::new(OptimizerConfig::sgd(learning_rate), Loss::Mse).with_epochs(EPOCHS)
}

/// The linear autoencoder and PCA on the same data, side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct PcaComparison {
    /// Principal angles (degrees) between the decoder's plane and PCA's top principal plane:
    /// all near 0° when the autoencoder has found PCA's subspace.
    pub angles_degrees: Vec<f64>,
    /// The autoencoder's reconstruction MSE.
    pub autoencoder_mse: f64,
    /// The reconstruction MSE of projecting on the top principal components: the best any
    /// linear map through that many dimensions can do.
    pub pca_mse: f64,
    /// The fraction of the variance each principal component keeps.
    pub explained_variance_ratio: Vec<f64>,
}

/// Checks the slide's claim on `x`: PCA of the data, the principal angles between its subspace and
/// the decoder's, and both reconstruction errors.
pub fn compare_with_pca(model: &LinearAe, x: &Matrix) -> Result<PcaComparison> {
    let codings = model.encoder.units();
    let pca = Pca::fit(x, codings)?;
    let angles_degrees = principal_angles(&model.decoder_directions(), &pca.components)?;
    let reconstructions = predict(model, x)?;
    Ok(PcaComparison {
        angles_degrees,
        autoencoder_mse: mse(x, &reconstructions)?,
        pca_mse: pca.reconstruction_mse(x)?,
        explained_variance_ratio: pca.explained_variance_ratio,
    })
}

impl PcaComparison {
    /// Shows the comparison as a table in Jupyter.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }
}

impl fmt::Display for PcaComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let angles: Vec<String> = self.angles_degrees.iter().map(|a| format!("{a:.2}°")).collect();
        let kept: f64 = self.explained_variance_ratio.iter().sum();
        writeln!(f, "principal angles, decoder plane vs PCA plane: {}", angles.join(", "))?;
        writeln!(f, "{:<32}{:>12}", "", "MSE")?;
        writeln!(f, "{:<32}{:>12.6}", "linear autoencoder", self.autoencoder_mse)?;
        writeln!(f, "{:<32}{:>12.6}", "PCA (top components)", self.pca_mse)?;
        write!(f, "variance kept by the PCA plane: {:.1}%", 100.0 * kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Data;

    #[test]
    fn refuses_an_overcomplete_coding() {
        let err = LinearAeConfig::new().with_codings(3).init(&Device::flex()).unwrap_err();
        assert!(err.to_string().contains("1 ≤ codings < inputs"), "{err}");
    }

    #[test]
    fn the_books_learning_rate_finds_the_pca_plane() {
        let x = crate::data::toy_3d_data(4);
        let mut ae = LinearAeConfig::new().init(&Device::flex().autodiff()).unwrap();
        let config = fit_config(BOOK_LEARNING_RATE).with_epochs(100).with_verbose(false);
        ae.fit(Data::autoencoder(&x), None, &config).unwrap();
        let cmp = compare_with_pca(&ae, &x).unwrap();
        // SGD with batches of 32 keeps jittering around the optimum: within a degree or two of
        // PCA's plane, and an error close to PCA's.
        assert!(cmp.angles_degrees.iter().all(|a| *a < 2.0), "{cmp}");
        assert!(cmp.autoencoder_mse < cmp.pca_mse * 1.5, "{cmp}");
        // Nothing linear through 2 dimensions beats PCA.
        assert!(cmp.autoencoder_mse >= cmp.pca_mse * 0.999, "{cmp}");
    }
}
