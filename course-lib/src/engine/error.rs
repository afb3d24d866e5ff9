//! The one error type of the course. Every variant's message says what went wrong and what to
//! do about it, because the reader is a student in the middle of a notebook.

use std::fmt;
use std::path::PathBuf;

/// The result of every course entry point a student calls.
pub type Result<T, E = CourseError> = std::result::Result<T, E>;

/// What can go wrong, each with the fix in its message.
#[derive(Debug)]
pub enum CourseError {
    /// The Fashion-MNIST files were found nowhere.
    DataNotFound {
        /// Every directory that was searched, in order.
        searched: Vec<PathBuf>,
        /// The file missing from a directory that holds some of the four, if that was the case.
        missing: Option<String>,
    },
    /// A data file exists but is not what it should be (wrong magic number, truncated, ...).
    CorruptData {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A picture of the student's own could not be read.
    Picture {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// An input tensor or array does not have the shape the function needs.
    Shape {
        /// What was being done.
        context: String,
        /// The shape that was expected, in words.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A hyperparameter is out of its valid range.
    BadConfig {
        /// The setting's name as the student wrote it.
        setting: String,
        /// Why it is refused and what to use instead.
        problem: String,
    },
    /// The loss became NaN or infinite during training; the model from the last good step was
    /// kept.
    Diverged {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// The batch (1-based) in which it happened.
        batch: usize,
        /// The learning rate in use.
        learning_rate: f64,
        /// The history of the epochs completed before it happened.
        history: Box<crate::engine::history::History>,
    },
    /// A checkpoint file does not fit the model it is loaded into.
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not fit.
        problem: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A figure could not be drawn.
    Plot {
        /// What went wrong.
        problem: String,
    },
    /// The compute device could not be set up.
    Device {
        /// What was asked for and why it is not available.
        problem: String,
    },
}

impl fmt::Display for CourseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CourseError::DataNotFound { searched, missing } => {
                match missing {
                    Some(file) => writeln!(f, "Fashion-MNIST was not found: {file} is missing from")?,
                    None => writeln!(f, "Fashion-MNIST was not found. Looked in:")?,
                }
                for dir in searched {
                    writeln!(f, "  - {}", dir.display())?;
                }
                write!(
                    f,
                    "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), \
                     or put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
                     t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in a directory and \
                     set FASHION_MNIST_DIR to it."
                )
            }
            CourseError::CorruptData { path, problem } => write!(
                f,
                "{} is not a valid Fashion-MNIST IDX file: {problem}. Delete it and reinstall the \
                 data (`sudo apt-get install --reinstall dataset-fashion-mnist`).",
                path.display()
            ),
            CourseError::Picture { path, problem } => write!(
                f,
                "{}: {problem}. Give a PNG or JPEG file (a photo or a drawing of one piece of clothing).",
                path.display()
            ),
            CourseError::Shape { context, expected, got } => {
                write!(f, "{context}: expected {expected}, got {got}.")
            }
            CourseError::BadConfig { setting, problem } => write!(f, "`{setting}`: {problem}"),
            CourseError::Diverged { epoch, batch, learning_rate, .. } => write!(
                f,
                "training diverged: the loss became NaN or infinite in epoch {epoch}, batch \
                 {batch}. The learning rate {learning_rate} is probably too high for this \
                 model: try a value ten times smaller. The model from the last good step was \
                 kept; the error holds the history of the epochs before it."
            ),
            CourseError::Checkpoint { path, problem } => write!(
                f,
                "checkpoint {} does not fit this model: {problem}. Build the model with the \
                 configuration it was saved with, or train and save it again.",
                path.display()
            ),
            CourseError::Io { path, source } => {
                write!(f, "could not read or write {}: {source}", path.display())
            }
            CourseError::Plot { problem } => write!(f, "could not draw the figure: {problem}"),
            CourseError::Device { problem } => write!(f, "{problem}"),
        }
    }
}

impl std::error::Error for CourseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CourseError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl CourseError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CourseError::Io { path: path.into(), source }
    }

    pub(crate) fn bad_config(setting: &str, problem: impl Into<String>) -> Self {
        CourseError::BadConfig { setting: setting.to_owned(), problem: problem.into() }
    }

    pub(crate) fn shape(
        context: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        CourseError::Shape { context: context.into(), expected: expected.into(), got: got.into() }
    }
}
