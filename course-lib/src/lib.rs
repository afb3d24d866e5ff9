//! Companion library of the course *Representation learning and generative learning with
//! autoencoders and GANs* (chapter 17 of Géron, *Hands-On Machine Learning*, 2nd ed.).
//!
//! Every notebook in `notebooks/` starts with `use course_lib::prelude::*;`. The shared pieces
//! live in [`data`] (Fashion-MNIST and the toy 3-D data), [`plot`] (the slides' figures),
//! [`train`] (the training step, `fit` and the optimizers; the losses in [`loss`]), [`layers`]
//! and [`sequential`] (Keras's layers and `Sequential`), [`summary`] (Keras-like model
//! summaries) and [`checkpoint`]; each lesson has one module named after its slide
//! ([`linear_ae`] for lesson 01, [`conv_ae`] for lesson 04, ...).
//!
//! Nothing a student calls panics on bad input: entry points return [`Result`] with a
//! [`CourseError`] that names the problem and the fix, because a panic in the Rust kernel can
//! cost a student the whole notebook's state.

// The layers, each using only those below it (README, "Architecture"; tests::layers_only_use_those_below):
// the engine (matrices, layers, training, checkpoints), the data, the figures, the lessons. They
// are public although every module is re-exported below: the kernel names a variable's type by
// its full path (`std::any::type_name`, scripts/evcxr-inferred-types.patch), and a cell can only
// write a path it can reach.
pub mod engine;
pub mod data;
pub mod figures;
pub mod lessons;

pub use engine::{autoencoder, checkpoint, config, device, error, kernel, layers, linalg, loss, mode, rng, sequential, summary, train};
pub use figures::{diagram, plot};
pub use lessons::{conv_ae, denoising_ae, diffusion, embedding, gan, intro, linear_ae, mode_collapse, pretrained, stacked_ae, vae};

pub use engine::device::{device, training_device};
pub use engine::error::{CourseError, Result};
pub use engine::mode::Mode;

/// Everything a notebook needs, in one `use`.
pub mod prelude {
    pub use crate::checkpoint::{Description, checkpoint_path, load_checkpoint, save_checkpoint};
    pub use crate::conv_ae::ConvAeConfig;
    pub use crate::data::{
        CLASS_NAMES, Dataset, FashionMnist, Matrix, Split, load_fashion_mnist, load_picture, pictures_dir, toy_3d_data,
    };
    pub use crate::denoising_ae::{Corruption, DenoisingAeConfig, SparseAeConfig, Sparsity};
    pub use crate::device::{device, training_device};
    pub use crate::error::{CourseError, Result};
    pub use crate::layers::{Activation, Dense, Padding};
    pub use crate::linalg::{Pca, principal_angles};
    pub use crate::loss::binary_cross_entropy;
    pub use crate::linear_ae::LinearAeConfig;
    pub use crate::stacked_ae::{Classifier, StackedAeConfig};
    pub use crate::mode::Mode;
    pub use crate::plot::{
        Figure, compare_histories, compare_reconstructions, histogram, plot_series, line_chart, plot_codings_2d, plot_history, plot_image, plot_images,
        plot_toy_3d, reconstruction_grid, scatter_classes, scatter_thumbnails, show_reconstructions, tile_grid, xy_chart,
    };
    pub use crate::engine::autoencoder::Autoencoder;
    pub use crate::sequential::{Layer, Sequential, Shape};
    pub use crate::rng::Rng;
    pub use crate::summary::{self, ModelSummary, Summary, Table, summarize};
    pub use crate::train::{
        Data, FitConfig, History, Loss, Metric, Noise, Optimizer, OptimizerConfig, StepReport, Targets, TrainModel,
        TrainOutput, evaluate, fit, fit_resumable, predict, train_step,
    };
    pub use crate::gan::{DcganConfig, GanConfig};
    pub use crate::vae::VaeConfig;
    pub use crate::diffusion::{DiffusionConfig, Sampler, Schedule};
    pub use crate::pretrained::{load_pretrained, pretrained_table};
    pub use crate::diagram::{autoencoder_diagram, gan_diagram, greedy_diagram, model_diagram, vae_diagram};
    pub use crate::{checkpoint, conv_ae, denoising_ae, diffusion, embedding, gan, intro, layers, linear_ae, mode_collapse, pretrained, stacked_ae, vae};
    pub use crate::embedding::{QualityTable, TsneConfig};
    pub use burn::module::{Module, Param};
    pub use burn::tensor::{Device, Tensor};
    // `#[derive(Module)]` in a cell expands to `burn::module::...` paths: with `burn` in scope a
    // student's own model compiles without a dependency of its own.
    pub use burn;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The modules of a layer folder in the order its `mod.rs` declares them.
    fn declared(dir: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
        text.lines().filter_map(|l| l.trim().strip_suffix(';')?.rsplit(' ').next().map(str::to_owned)).filter(|m| !m.contains(':')).collect()
    }

    /// The layers a reader sees in the folders are the ones the code keeps: the engine, then
    /// `data`, then the figures, then the lessons, each module using only modules of the layers
    /// below it or declared before it in its own folder's `mod.rs`. So no import cycle can come
    /// back: every edge points down an order. Read from the sources' `crate::` paths (comments
    /// and tests left out), as a reader would follow them.
    /// course-lib's `src/` in the clone under test: cargo names it at run time. The path compiled
    /// in can be another clone's, since every clone shares one build cache and cargo reuses a
    /// test binary built from the same sources elsewhere.
    fn source_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(), std::path::PathBuf::from).join("src")
    }

    #[test]
    fn layers_only_use_those_below() {
        let src = source_dir();
        // (layer, place in the layer) of every module, by its name.
        let mut rank = std::collections::BTreeMap::new();
        for (layer, folder) in ["engine", "figures", "lessons"].iter().enumerate() {
            for (i, m) in declared(&src.join(folder)).into_iter().enumerate() {
                let layer = if *folder == "engine" { 0 } else { layer + 1 };
                assert!(src.join(folder).join(format!("{m}.rs")).exists(), "{folder}/mod.rs declares {m}, which has no file");
                assert!(rank.insert(m.clone(), (layer, i)).is_none(), "two modules are named {m}");
            }
        }
        rank.insert("data".to_owned(), (1, 0));
        let mut edges = 0;
        for (name, &(layer, place)) in &rank {
            let folder = match layer {
                0 => "engine/",
                1 => "",
                2 => "figures/",
                _ => "lessons/",
            };
            let text = std::fs::read_to_string(src.join(format!("{folder}{name}.rs"))).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().map(|l| l.split("//").next().unwrap_or_default()) {
                for path in line.split("crate::").skip(1) {
                    let path = path.trim_start_matches("engine::").trim_start_matches("figures::").trim_start_matches("lessons::");
                    let used: String = path.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    let Some(&(used_layer, used_place)) = rank.get(&used) else { continue };
                    if used == *name {
                        continue;
                    }
                    edges += 1;
                    assert!(
                        (used_layer, used_place) < (layer, place),
                        "{folder}{name}.rs uses {used}, which is not below it (layers: engine, data, figures, lessons; within a folder, the order of its mod.rs)"
                    );
                }
            }
        }
        assert!(edges > 100, "only {edges} uses found: the scan is not reading the modules");
    }

    /// Every `unsafe` block and `unsafe impl` in the crate is introduced by a `// SAFETY:`
    /// comment and every `unsafe fn` by a `# Safety` section, and none of them sits in a `pub fn`
    /// of a public module: a cell reaches `unsafe` only through a crate-private function behind
    /// an always-on check. The rule read from the sources, so that it holds in every `cargo test`,
    /// not only under clippy.
    #[test]
    fn unsafe_code_is_documented_and_private() {
        let src = source_dir();
        let mut files = Vec::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut found = 0;
        for path in files {
            let source = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = source.lines().collect();
            let mut enclosing_fn = String::new();
            for (i, line) in lines.iter().enumerate() {
                // The line without its comment and its string literals (this test's own).
                let code: String = line.split("//").next().unwrap_or("").split('"').step_by(2).collect();
                let code = code.trim();
                if code.contains("fn ") && !code.starts_with("//") {
                    enclosing_fn = code.to_owned();
                }
                let opens_block = code.contains("unsafe {") || code.contains("unsafe impl");
                let declares_fn = code.contains("unsafe fn ");
                if !(opens_block || declares_fn) {
                    continue;
                }
                found += 1;
                let before = &lines[i.saturating_sub(8)..i];
                let place = format!("{}:{}", path.display(), i + 1);
                if opens_block {
                    assert!(before.iter().any(|l| l.contains("// SAFETY:")), "{place}: an unsafe block without a `// SAFETY:` comment above it");
                    assert!(code.contains("unsafe impl") || !enclosing_fn.starts_with("pub fn"), "{place}: unsafe inside a public function ({enclosing_fn})");
                } else {
                    assert!(before.iter().any(|l| l.contains("# Safety")), "{place}: an unsafe fn without a `# Safety` section");
                }
            }
        }
        assert!(found > 0, "the scan found no unsafe code at all: it is reading the wrong files");
    }
}
