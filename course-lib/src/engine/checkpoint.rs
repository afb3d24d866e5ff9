//! Saving and loading trained models, so that a later lesson (or a class that has no time to
//! train) can start from a model an earlier run trained.
//!
//! A checkpoint is one file: a line naming the format, a JSON header (serde) with the model's
//! [`Description`] (its kind and configuration) and the sizes of the sections that follow, then
//! the sections: burn's burnpack record of the parameters, and, for a training run that can be
//! resumed, the optimizer's state (see [`crate::train::fit_resumable`]).
//!
//! Loading never destroys the model in hand: it returns a new model. A checkpoint of another
//! configuration is refused with both configurations named ("saved with codings = 100, this
//! model has codings = 30"), before burn is asked to load anything. Files are written to a
//! temporary name and renamed, so a kernel killed while saving leaves the old file whole.

use crate::error::{CourseError, Result};
pub use crate::engine::model::Description;
use crate::engine::average::WeightAverage;
use crate::engine::model::TrainModel;
use crate::engine::optim::Optimizer;
use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The first line of every checkpoint file.
const MAGIC: &[u8] = b"course-lib checkpoint 1\n";
/// A header larger than this means a damaged file.
const MAX_HEADER: usize = 1 << 24;


/// The header of a checkpoint file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    description: Description,
    /// `(name, bytes)` of each section, in file order.
    sections: Vec<(String, usize)>,
    /// What a resumable training run needs besides the tensors (JSON, see `train`).
    #[serde(default)]
    training: Option<serde_json::Value>,
}

/// A checkpoint's contents in memory.
pub(crate) struct CheckpointFile {
    pub description: Description,
    pub sections: Vec<(String, Vec<u8>)>,
    pub training: Option<serde_json::Value>,
}

impl CheckpointFile {
    pub fn section(&self, name: &str) -> Option<&[u8]> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice())
    }

    /// Writes the file under a temporary name, then renames it over `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| CourseError::io(parent, e))?;
        }
        let header = Header {
            description: self.description.clone(),
            sections: self.sections.iter().map(|(n, b)| (n.clone(), b.len())).collect(),
            training: self.training.clone(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| CourseError::Checkpoint { path: path.to_path_buf(), problem: e.to_string() })?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + json.len() + 1 + self.sections.iter().map(|(_, b)| b.len()).sum::<usize>());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&json);
        bytes.push(b'\n');
        for (_, b) in &self.sections {
            bytes.extend_from_slice(b);
        }
        let tmp = temporary_name(path);
        std::fs::write(&tmp, &bytes).map_err(|e| CourseError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| CourseError::io(path, e))
    }

    /// Reads and checks a file written by [`CheckpointFile::write`].
    pub fn read(path: &Path) -> Result<CheckpointFile> {
        if !path.is_file() {
            return Err(CourseError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint; train the model and save it with save_checkpoint first"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| CourseError::io(path, e))?;
        Self::parse(path, &bytes)
    }

    /// Parses the bytes of a checkpoint file; every way it can be damaged is an error.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<CheckpointFile> {
        let damaged = |problem: String| CourseError::Checkpoint {
            path: path.to_path_buf(),
            problem: format!("the file is not a course checkpoint or is damaged ({problem}); save the model again"),
        };
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| damaged("it does not start with the course's checkpoint line".into()))?;
        let end = rest.iter().take(MAX_HEADER).position(|&b| b == b'\n').ok_or_else(|| damaged("its header has no end".into()))?;
        let header: Header = serde_json::from_slice(&rest[..end]).map_err(|e| damaged(format!("its header cannot be read: {e}")))?;
        let mut body = &rest[end + 1..];
        let mut sections = Vec::with_capacity(header.sections.len());
        for (name, len) in header.sections {
            if body.len() < len {
                return Err(damaged(format!("it is truncated: section {name} should have {len} bytes, {} are left", body.len())));
            }
            let (this, next) = body.split_at(len);
            sections.push((name, this.to_vec()));
            body = next;
        }
        if !body.is_empty() {
            return Err(damaged(format!("{} bytes follow the last section", body.len())));
        }
        Ok(CheckpointFile { description: header.description, sections, training: header.training })
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

pub(crate) fn record_error(path: &Path, err: RecordError) -> CourseError {
    match err {
        RecordError::Io(msg) => CourseError::Checkpoint { path: path.to_path_buf(), problem: format!("its parameters could not be read ({msg})") },
        RecordError::Validation(msg) => CourseError::Checkpoint { path: path.to_path_buf(), problem: msg },
    }
}

/// The parameters of `model` as burnpack bytes.
pub(crate) fn model_bytes<M: Module>(model: &M, path: &Path) -> Result<Vec<u8>> {
    let bytes = model.clone().into_record().into_bytes().map_err(|e| record_error(path, e))?;
    Ok(bytes.to_vec())
}

/// `model` with the parameters of `bytes` (burnpack), checked by burn.
pub(crate) fn with_model_bytes<M: Module>(model: &M, bytes: &[u8], path: &Path) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| record_error(path, e))?;
    // Detached: loading into a plain clone would give `model` the checkpoint's running statistics.
    crate::engine::model::detached(model).try_load_record(record).map_err(|e| record_error(path, e))
}

/// Checks that `file` holds a model like `model`.
pub(crate) fn check_description<M: TrainModel>(model: &M, file: &CheckpointFile, path: &Path) -> Result<()> {
    match model.describe().mismatch(&file.description) {
        None => Ok(()),
        Some(problem) => Err(CourseError::Checkpoint { path: path.to_path_buf(), problem }),
    }
}

/// Saves the parameters of `model` and its description to `path` (parent directories are
/// created; an existing file is replaced only once the new one is written).
pub fn save_checkpoint<M: TrainModel>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file = CheckpointFile { description: model.describe(), sections: vec![("model".to_owned(), model_bytes(model, path)?)], training: None };
    file.write(path)
}

/// A copy of `model` with the parameters saved in `path`; `model` itself is left unchanged.
///
/// A checkpoint of another kind or configuration is refused with both named.
pub fn load_checkpoint<M: TrainModel>(model: &M, path: impl AsRef<Path>) -> Result<M> {
    let path = path.as_ref();
    let file = CheckpointFile::read(path)?;
    check_description(model, &file, path)?;
    let bytes = file.section("model").ok_or_else(|| CourseError::Checkpoint { path: path.to_path_buf(), problem: "it has no model section".into() })?;
    with_model_bytes(model, bytes, path)
}

/// What a resumable run (`fit_resumable`, `train_gan` with checkpoints) saves besides the model
/// and its optimizers: where the loop stands, and the settings a resumed run must share.
pub(crate) trait RunState: Serialize + serde::de::DeserializeOwned {
    /// The settings of the run that saved the state.
    fn settings(&self) -> &str;

    /// The run's average of the weights, if it keeps one: [`load_training`] fills its values from
    /// the checkpoint's `average` section (the state itself holds only its decay and count).
    fn average(&mut self) -> Option<&mut WeightAverage> {
        None
    }
}

/// Writes a training checkpoint: the model, the average of its weights if the run keeps one
/// (`FitConfig::with_average`), each optimizer's state (a section each, with its step count in the
/// header), and the loop's own `state`.
pub(crate) fn save_training<M: TrainModel>(path: &Path, model: &M, average: Option<&M>, optimizers: &[(&str, &Optimizer)], state: &impl RunState) -> Result<()> {
    let state = serde_json::to_value(state).map_err(|e| CourseError::Checkpoint { path: path.to_path_buf(), problem: e.to_string() })?;
    let mut sections = vec![("model".to_owned(), model_bytes(model, path)?)];
    if let Some(average) = average {
        sections.push(("average".to_owned(), model_bytes(average, path)?));
    }
    let mut steps = serde_json::Map::new();
    for (name, optimizer) in optimizers {
        let (bytes, n) = optimizer.state_bytes().map_err(|e| record_error(path, e))?;
        sections.push(((*name).to_owned(), bytes));
        steps.insert((*name).to_owned(), n.into());
    }
    let training = serde_json::json!({ "state": state, "optimizer_steps": steps });
    CheckpointFile { description: model.describe(), sections, training: Some(training) }.write(path)
}

/// Reads a checkpoint written by [`save_training`] for a run with `settings`: the model (a copy of
/// `fresh` with the saved parameters), the optimizers' states (loaded into `optimizers`), and the
/// loop's state, with its average's values if it keeps one. A checkpoint of another run's settings,
/// or without the average its state keeps, is refused before any optimizer is loaded, so the
/// caller's model and optimizers keep their state.
pub(crate) fn load_training<M: TrainModel, S: RunState>(path: &Path, fresh: &M, optimizers: &[(&str, &Optimizer)], settings: &str) -> Result<(M, S)> {
    let file = CheckpointFile::read(path)?;
    check_description(fresh, &file, path)?;
    let missing = |what: &str| CourseError::Checkpoint { path: path.to_path_buf(), problem: format!("it has no {what}: it was not saved by a resumable training run") };
    let training = file.training.clone().ok_or_else(|| missing("training state"))?;
    let mut saved: S = serde_json::from_value(training["state"].clone()).map_err(|e| CourseError::Checkpoint {
        path: path.to_path_buf(),
        problem: format!("its training state cannot be read ({e}); delete it to start again"),
    })?;
    if saved.settings() != settings {
        return Err(CourseError::Checkpoint {
            path: path.to_path_buf(),
            problem: format!("it was saved by a run with other settings ({}), and this run has {settings}", saved.settings()),
        });
    }
    let model = with_model_bytes(fresh, file.section("model").ok_or_else(|| missing("model section"))?, path)?;
    if let Some(average) = saved.average() {
        let bytes = file.section("average").ok_or_else(|| CourseError::Checkpoint {
            path: path.to_path_buf(),
            problem: "its run kept an average of the weights, but it holds none: delete it to start again".into(),
        })?;
        average.restore(&with_model_bytes(fresh, bytes, path)?);
    }
    for (name, optimizer) in optimizers {
        let bytes = file.section(name).ok_or_else(|| missing(&format!("{name} section")))?;
        let steps = training["optimizer_steps"][name].as_u64().unwrap_or(0);
        optimizer.load_state_bytes(bytes, steps).map_err(|e| record_error(path, e))?;
    }
    Ok((model, saved))
}

/// What a checkpoint file holds, without loading it: its model's description.
pub fn checkpoint_description(path: impl AsRef<Path>) -> Result<Description> {
    Ok(CheckpointFile::read(path.as_ref())?.description)
}

/// `dir/<what the model is>-<tag>.ckpt`: a checkpoint name that says what it holds, so that two
/// configurations never share a file (`checkpoints/stacked_ae-inputs784-hidden100-codings30-class.ckpt`).
pub fn checkpoint_path<M: TrainModel>(model: &M, dir: impl AsRef<Path>, tag: &str) -> PathBuf {
    let stem = model.describe().file_stem();
    let name = if tag.is_empty() { format!("{stem}.ckpt") } else { format!("{stem}-{tag}.ckpt") };
    dir.as_ref().join(name)
}

/// The model saved at `path` if there is one; otherwise `train(fresh)`, saved there.
///
/// A file that exists but does not fit `fresh` (another configuration, damaged) is an error, and
/// the file is left as it is: a checkpoint a student made is never overwritten by a model of
/// another shape.
pub fn load_or_train<M: TrainModel>(fresh: M, path: impl AsRef<Path>, train: impl FnOnce(M) -> Result<M>) -> Result<M> {
    let path = path.as_ref();
    if path.exists() {
        let model = load_checkpoint(&fresh, path)?;
        println!("Loaded {} from {}.", model.describe(), path.display());
        return Ok(model);
    }
    println!("No checkpoint at {}: training the model now, then saving it there.", path.display());
    let model = train(fresh)?;
    save_checkpoint(&model, path)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_names_both_configurations() {
        let ours = Description::new("stacked_ae", &[("inputs", "784".into()), ("codings", "30".into())]);
        let saved = Description::new("stacked_ae", &[("inputs", "784".into()), ("codings", "100".into())]);
        assert_eq!(ours.mismatch(&ours.clone()), None);
        let msg = ours.mismatch(&saved).unwrap();
        assert_eq!(msg, "it was saved with codings = 100, and this model has codings = 30");
        let other = Description::new("conv_ae", &[]);
        assert!(ours.mismatch(&other).unwrap().contains("conv_ae"));
        assert_eq!(ours.file_stem(), "stacked_ae-inputs784-codings30");
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let path = Path::new("x.ckpt");
        let file = CheckpointFile { description: Description::new("m", &[]), sections: vec![("model".into(), vec![1, 2, 3])], training: None };
        let dir = std::env::temp_dir().join(format!("course-ckpt-unit-{}", std::process::id()));
        let p = dir.join("m.ckpt");
        file.write(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(CheckpointFile::parse(path, &bytes).unwrap().section("model"), Some(&[1u8, 2, 3][..]));
        for cut in 0..bytes.len() {
            let err = CheckpointFile::parse(path, &bytes[..cut]).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("damaged"), "cut at {cut}: {err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CheckpointFile::parse(path, &longer).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
