//! Keras-like model summaries: layer, output shape, parameter count, total.
//!
//! Each model lists its layers through [`Summary::summary`]; the parameter counts come from the
//! layers' real tensors (`Module::num_params`), so a summary can never disagree with the model.

use std::fmt;

/// One row of a summary.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// The layer's name in the model (`encoder`, `dense_1`, ...).
    pub name: String,
    /// Its type, as Keras would print it (`Dense`, `Flatten`, ...).
    pub kind: String,
    /// The output shape of one sample (the batch axis, `None` in Keras, is implied).
    pub output_shape: Vec<usize>,
    /// Number of parameters.
    pub params: usize,
    /// How many of them training changes (the rest: frozen layers, batch normalisation's
    /// running averages).
    pub trainable_params: usize,
}

/// A model summary, printed like Keras's `model.summary()`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// The model's name.
    pub name: String,
    /// Its layers, input to output.
    pub rows: Vec<LayerRow>,
}

/// The kind of the rows of [`summarize`]: a parameter tensor rather than a layer.
const PARAMETER: &str = "parameter";

/// The summary of any model, for one a student defines in a cell: a row per parameter tensor
/// (named by its path in the model), its shape and its size.
pub fn summarize<M: burn::module::Module>(name: &str, model: &M) -> ModelSummary {
    /// burn calls `enter_module` with each field's name on the way down to a parameter.
    struct Rows {
        path: Vec<String>,
        rows: Vec<LayerRow>,
    }
    impl burn::module::ModuleVisitor for Rows {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_owned());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<D>>) {
            let value = param.val();
            let dims = value.dims().to_vec();
            let params = dims.iter().product();
            // As `trainable_params` counts: frozen only on a training device.
            let trainable_params = if value.is_require_grad() || !value.device().is_autodiff() { params } else { 0 };
            self.rows.push(LayerRow { name: self.path.join("."), kind: PARAMETER.to_owned(), output_shape: dims, params, trainable_params });
        }
    }
    let mut rows = Rows { path: Vec::new(), rows: Vec::new() };
    model.visit(&mut rows);
    ModelSummary { name: name.to_owned(), rows: rows.rows }
}

/// A model that can describe its layers.
pub trait Summary {
    /// The model's layers, output shapes and parameter counts.
    fn summary(&self) -> ModelSummary;
}

impl ModelSummary {
    /// An empty summary of the model `name`.
    pub fn new(name: &str) -> ModelSummary {
        ModelSummary { name: name.to_owned(), rows: Vec::new() }
    }

    /// Adds a trainable layer.
    pub fn layer(mut self, name: &str, kind: &str, output_shape: &[usize], params: usize) -> Self {
        self.rows.push(LayerRow {
            name: name.to_owned(),
            kind: kind.to_owned(),
            output_shape: output_shape.to_vec(),
            params,
            trainable_params: params,
        });
        self
    }

    /// Adds a frozen layer (its parameters are not trained).
    pub fn frozen_layer(self, name: &str, kind: &str, output_shape: &[usize], params: usize) -> Self {
        self.partly_trainable_layer(name, kind, output_shape, params, 0)
    }

    /// Adds a layer of which only `trainable` of the `params` parameters are trained.
    pub fn partly_trainable_layer(mut self, name: &str, kind: &str, output_shape: &[usize], params: usize, trainable: usize) -> Self {
        self = self.layer(name, kind, output_shape, params);
        if let Some(row) = self.rows.last_mut() {
            row.trainable_params = trainable.min(params);
        }
        self
    }

    /// The summary of `inner`'s layers appended to this one's, each name prefixed with
    /// `prefix/` (an encoder and a decoder in one autoencoder's summary).
    pub fn nested(mut self, prefix: &str, inner: ModelSummary) -> Self {
        for mut row in inner.rows {
            row.name = format!("{prefix}/{}", row.name);
            self.rows.push(row);
        }
        self
    }

    /// All parameters.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// The parameters training changes.
    pub fn trainable_params(&self) -> usize {
        self.rows.iter().map(|r| r.trainable_params).sum()
    }

    /// Shows the summary as the cell's output in Jupyter (evcxr's display protocol).
    pub fn evcxr_display(&self) {
        display_text(self);
    }
}

/// Shows `value` as the cell's text output in Jupyter (evcxr's display protocol): the one helper
/// behind every table's `evcxr_display`.
pub fn display_text(value: &impl fmt::Display) {
    println!("EVCXR_BEGIN_CONTENT text/plain\n{value}\nEVCXR_END_CONTENT");
}

/// A table of results a notebook shows (models compared, settings swept): a header and rows of
/// cells, numbers already formatted by the caller. Columns are as wide as their widest cell, the
/// first left-aligned, the others right-aligned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row (cells beyond the header are dropped, missing ones are empty).
    pub fn row(mut self, cells: &[String]) -> Table {
        let mut row: Vec<String> = cells.iter().take(self.header.len()).cloned().collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
        self
    }

    /// Adds a row in place.
    pub fn push(&mut self, cells: &[String]) {
        *self = std::mem::take(self).row(cells);
    }

    /// The cell at `row`, `column`, if there is one.
    pub fn cell(&self, row: usize, column: &str) -> Option<&str> {
        let c = self.header.iter().position(|h| h == column)?;
        self.rows.get(row).map(|r| r[c].as_str())
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        display_text(self);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| self.rows.iter().map(|r| r[c].chars().count()).chain([self.header[c].chars().count()]).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| if c == 0 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
                .collect::<Vec<_>>()
                .join("  ")
        };
        write!(f, "{}", line(&self.header))?;
        for row in &self.rows {
            write!(f, "\n{}", line(row))?;
        }
        Ok(())
    }
}

/// A number with `digits` decimals, for a [`Table`] cell.
pub fn cell(value: f64, digits: usize) -> String {
    if value.is_finite() { format!("{value:.digits$}") } else { "–".to_owned() }
}

/// `1234567` → `"1,234,567"`, as Keras prints parameter counts.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A layer's output has a batch axis (Keras's `None`); a parameter's shape has none.
        let shape = |r: &LayerRow| {
            let dims: Vec<String> = r.output_shape.iter().map(usize::to_string).collect();
            if r.kind == PARAMETER { format!("({})", dims.join(", ")) } else { format!("(None, {})", dims.join(", ")) }
        };
        let layers: Vec<String> = self.rows.iter().map(|r| format!("{} ({})", r.name, r.kind)).collect();
        let shapes: Vec<String> = self.rows.iter().map(shape).collect();
        let shape_header = if !self.rows.is_empty() && self.rows.iter().all(|r| r.kind == PARAMETER) { "Shape" } else { "Output Shape" };
        // Keras's column widths, widened when a name does not fit.
        let w1 = layers.iter().map(|l| l.len() + 2).max().unwrap_or(0).max(28);
        let w2 = shapes.iter().map(|s| s.len() + 2).max().unwrap_or(0).max(26);
        let width = 1 + w1 + w2 + 10;
        let rule = |c: char| c.to_string().repeat(width);
        writeln!(f, "Model: \"{}\"", self.name)?;
        writeln!(f, "{}", rule('_'))?;
        writeln!(f, " {:<w1$}{:<w2$}{}", "Layer (type)", shape_header, "Param #")?;
        writeln!(f, "{}", rule('='))?;
        for (i, row) in self.rows.iter().enumerate() {
            writeln!(f, " {:<w1$}{:<w2$}{}", layers[i], shapes[i], thousands(row.params))?;
            if i + 1 < self.rows.len() {
                writeln!(f)?;
            }
        }
        writeln!(f, "{}", rule('='))?;
        writeln!(f, "Total params: {}", thousands(self.total_params()))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable_params()))?;
        writeln!(f, "Non-trainable params: {}", thousands(self.total_params() - self.trainable_params()))?;
        write!(f, "{}", rule('_'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model defined in a notebook cell: one row per parameter, named by its field path.
    #[test]
    fn any_module_is_summarized_by_its_parameters() {
        #[derive(burn::module::Module, Debug)]
        struct Mine {
            layers: Vec<crate::layers::Dense>,
        }
        let mut rng = crate::rng::Rng::new(1);
        let device = crate::device::training_device();
        let mine = Mine {
            layers: vec![
                crate::layers::Dense::new(784, 300, crate::layers::Activation::Selu, &mut rng, &device),
                crate::layers::Dense::new(300, 784, crate::layers::Activation::Sigmoid, &mut rng, &device),
            ],
        };
        let s = summarize("mine", &mine);
        let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]);
        assert_eq!(s.rows[0].output_shape, vec![784, 300]);
        assert_eq!(s.total_params(), 784 * 300 + 300 + 300 * 784 + 784);
        assert_eq!(s.trainable_params(), s.total_params());
        let text = s.to_string();
        assert!(text.contains("Shape") && text.contains("(784, 300)") && !text.contains("None"), "{text}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn totals_count_frozen_layers_apart() {
        let s = ModelSummary::new("m").frozen_layer("a", "Dense", &[2], 8).layer("b", "Dense", &[3], 9);
        assert_eq!((s.total_params(), s.trainable_params()), (17, 9));
    }
}
