//! What a training run records, epoch by epoch: Keras's `history.history`.

use std::fmt;

/// The per-epoch record of a training run, as Keras's `history.history`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// Series names in order: `loss`, the model's loss terms (when it adds any), the metrics,
    /// then `val_` versions.
    pub names: Vec<String>,
    /// One row per epoch, one value per name.
    pub epochs: Vec<Vec<f64>>,
    /// Seconds each epoch took (training and validation).
    pub seconds: Vec<f64>,
}

impl History {
    /// The values of one series, by epoch (empty if there is no such series).
    pub fn series(&self, name: &str) -> Vec<f64> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.epochs.iter().map(|row| row[i]).collect(),
            None => Vec::new(),
        }
    }

    /// The value of a series after the last epoch.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.series(name).last().copied()
    }

    /// Shows the history as a table in Jupyter.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>5}", "epoch")?;
        for name in &self.names {
            write!(f, " {name:>w$}", w = name.len().max(8))?;
        }
        write!(f, " {:>8}", "seconds")?;
        for (e, row) in self.epochs.iter().enumerate() {
            write!(f, "\n{:>5}", e + 1)?;
            for (name, v) in self.names.iter().zip(row) {
                write!(f, " {v:>w$.4}", w = name.len().max(8))?;
            }
            write!(f, " {:>8.2}", self.seconds.get(e).copied().unwrap_or(f64::NAN))?;
        }
        Ok(())
    }
}
