//! Saving and loading trained models (burn's burnpack records), so that a later lesson can start
//! from a model an earlier one trained instead of training it again.
//!
//! Loading never destroys the model in hand: it returns a new model, and a checkpoint of another
//! architecture or shape is an error that names the mismatch.

use crate::error::{CourseError, Result};
use burn::module::Module;
use burn::store::RecordError;
use std::path::Path;

/// Saves the parameters of `model` to `path` (parent directories are created).
pub fn save_checkpoint<M: Module>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CourseError::io(parent, e))?;
    }
    model.clone().save_file(path).map_err(|err| match err {
        RecordError::Io(msg) => CourseError::io(path, std::io::Error::other(msg)),
        RecordError::Validation(msg) => CourseError::Checkpoint { path: path.to_path_buf(), problem: msg },
    })
}

/// A copy of `model` with the parameters saved in `path`; `model` itself is left unchanged.
///
/// The model must have the architecture and shapes the checkpoint was saved from.
pub fn load_checkpoint<M: Module>(model: &M, path: impl AsRef<Path>) -> Result<M> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(CourseError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such checkpoint; train the model and save it with save_checkpoint first",
            ),
        ));
    }
    model.clone().try_load_file(path).map_err(|err| match err {
        RecordError::Io(msg) => CourseError::Checkpoint {
            path: path.to_path_buf(),
            problem: format!("it could not be read as a burn checkpoint ({msg})"),
        },
        RecordError::Validation(msg) => CourseError::Checkpoint { path: path.to_path_buf(), problem: msg },
    })
}
