//! The host-side matrix every notebook holds its data in: rows of samples, checked on the way in
//! so that no function that takes one can be handed a wrong length.

use crate::engine::error::{CourseError, Result};
use burn::tensor::{Device, Tensor, TensorData};

/// Height and width of a Fashion-MNIST image.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// A host-side row-major matrix of `f32`: `rows` samples of `cols` features.
///
/// Images are matrices of 784 columns (28×28 pixels in row order, scaled to [0, 1]).
///
/// Its values always fill `rows × cols` exactly: the fields are private, every constructor
/// checks (a deserialized matrix too), so no function that takes a matrix can be handed a wrong
/// length. Read them with [`Matrix::rows`], [`Matrix::cols`] and [`Matrix::data`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "MatrixParts")]
pub struct Matrix {
    /// Number of samples.
    pub(crate) rows: usize,
    /// Features per sample.
    pub(crate) cols: usize,
    /// `rows * cols` values, sample after sample.
    pub(crate) data: Vec<f32>,
}

/// A matrix as stored, checked by [`Matrix::new`] when it is read back.
#[derive(serde::Deserialize)]
struct MatrixParts {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl TryFrom<MatrixParts> for Matrix {
    type Error = CourseError;
    fn try_from(parts: MatrixParts) -> Result<Matrix> {
        Matrix::new(parts.rows, parts.cols, parts.data)
    }
}

impl Matrix {
    /// Number of samples.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Features per sample.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The `rows × cols` values, sample after sample.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, sample after sample, without copying them.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// A matrix from its values; refuses a length that is not `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Matrix> {
        if data.len() != rows * cols {
            return Err(CourseError::shape(
                "Matrix::new",
                format!("{rows} × {cols} = {} values", rows * cols),
                format!("{} values", data.len()),
            ));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix from rows of equal length.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Matrix> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != cols {
                return Err(CourseError::shape(
                    format!("Matrix::from_rows, row {i}"),
                    format!("{cols} values like row 0"),
                    format!("{} values", row.len()),
                ));
            }
            data.extend_from_slice(row);
        }
        Ok(Matrix { rows: rows.len(), cols, data })
    }

    /// The values of a 2-D tensor, copied to the host.
    pub fn from_tensor(tensor: Tensor<2>) -> Matrix {
        let [rows, cols] = tensor.dims();
        // The course's tensors are all f32, which converts without fail; should a tensor of
        // another kind come through, its values are converted one by one rather than lost.
        let data = tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_else(|_| vec![f32::NAN; rows * cols]);
        Matrix { rows, cols, data }
    }

    /// Sample `i` (numbered from 0), or an error that says how many there are.
    pub fn row(&self, i: usize) -> Result<&[f32]> {
        self.check()?;
        if self.rows == 0 {
            return Err(CourseError::shape(format!("row {i}"), "a matrix with rows", "an empty matrix (0 rows)"));
        }
        if i >= self.rows {
            return Err(CourseError::shape(
                format!("row {i}"),
                format!("a row number from 0 to {} (the matrix has {} rows)", self.rows.saturating_sub(1), self.rows),
                format!("row {i}"),
            ));
        }
        Ok(self.at(i))
    }

    /// Sample `i`, unchecked: for the library's own loops over rows it knows exist.
    pub(crate) fn at(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Checks that the values fill `rows × cols` exactly. Every constructor does, so this holds
    /// for every matrix; the library's entry points still call it, a check that costs nothing.
    pub fn check(&self) -> Result<()> {
        if self.data.len() != self.rows * self.cols {
            return Err(CourseError::shape(
                "Matrix",
                format!("rows × cols = {} × {} = {} values", self.rows, self.cols, self.rows * self.cols),
                format!("{} values; build matrices with Matrix::new, which checks", self.data.len()),
            ));
        }
        Ok(())
    }

    /// The first `n` samples (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Matrix {
        let n = n.min(self.rows).min(self.data.len() / self.cols.max(1));
        Matrix { rows: n, cols: self.cols, data: self.data[..n * self.cols].to_vec() }
    }

    /// The samples at `indices`, in that order; an index out of range is an error.
    pub fn gather(&self, indices: &[usize]) -> Result<Matrix> {
        self.check()?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.rows) {
            return Err(CourseError::shape("Matrix::gather", format!("row numbers below {}", self.rows), format!("row {bad}")));
        }
        Ok(self.gather_rows(indices))
    }

    /// [`Matrix::gather`] for indices the library knows are in range.
    pub(crate) fn gather_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.at(i));
        }
        Matrix { rows: indices.len(), cols: self.cols, data }
    }

    /// The matrix as a `[rows, cols]` tensor on `device` (the library checks the matrix first).
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        self.clone().into_tensor(device)
    }

    /// [`Matrix::to_tensor`] without copying the values.
    pub fn into_tensor(self, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(self.data, [self.rows, self.cols]), device)
    }

    /// The rows of `parts`, one matrix after the other (numpy's `concatenate(axis=0)`; the GAN's
    /// fake and real images in one batch).
    pub fn concat_rows(parts: &[&Matrix]) -> Result<Matrix> {
        let cols = parts.first().map_or(0, |m| m.cols);
        let mut data = Vec::with_capacity(parts.iter().map(|m| m.data.len()).sum());
        for (i, m) in parts.iter().enumerate() {
            if m.cols != cols {
                return Err(CourseError::shape(format!("Matrix::concat_rows, part {i}"), format!("{cols} columns like part 0"), format!("{} columns", m.cols)));
            }
            data.extend_from_slice(&m.data);
        }
        Ok(Matrix { rows: parts.iter().map(|m| m.rows).sum(), cols, data })
    }

    /// A `rows × cols` matrix of one value (the GAN's labels: all 0 or all 1).
    pub fn filled(rows: usize, cols: usize, value: f32) -> Matrix {
        Matrix { rows, cols, data: vec![value; rows * cols] }
    }

    /// Shows the matrix in Jupyter: its size and its first rows and columns.
    pub fn evcxr_display(&self) {
        crate::summary::display_text(self);
    }

    /// The mean of each column.
    pub fn column_means(&self) -> Vec<f32> {
        let mut means = vec![0.0f64; self.cols];
        for r in 0..self.rows {
            for (m, &v) in means.iter_mut().zip(self.at(r)) {
                *m += v as f64;
            }
        }
        means.iter().map(|m| (m / self.rows.max(1) as f64) as f32).collect()
    }
}

impl std::fmt::Display for Matrix {
    /// The size, then up to 8 rows of up to 8 values (an ellipsis marks what is left out).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matrix {} × {}", self.rows, self.cols)?;
        if self.check().is_err() {
            return write!(f, " (inconsistent: {} values)", self.data.len());
        }
        for r in 0..self.rows.min(8) {
            let row = self.at(r);
            let cells: Vec<String> = row.iter().take(8).map(|v| format!("{v:>8.4}")).collect();
            write!(f, "\n  [{}{}]", cells.join(" "), if self.cols > 8 { " …" } else { "" })?;
        }
        if self.rows > 8 {
            write!(f, "\n  … {} more rows", self.rows - 8)?;
        }
        Ok(())
    }
}
