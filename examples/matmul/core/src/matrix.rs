//! A row-major `f64` matrix and the shape errors of building and multiplying one.

use std::fmt;

use crate::Kernel;

/// A dense row-major matrix of `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

/// Why matrices cannot be built or multiplied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// A matrix with no rows or no columns.
    Empty {
        /// Its name in the request (`a`, `b`).
        name: &'static str,
    },
    /// A row whose length differs from the first row's.
    Ragged {
        /// The matrix's name.
        name: &'static str,
        /// The 0-based row.
        row: usize,
        /// Its length.
        len: usize,
        /// The first row's length.
        expected: usize,
    },
    /// `a`'s columns are not `b`'s rows.
    Mismatch {
        /// `a` is rows × cols.
        a: (usize, usize),
        /// `b` is rows × cols.
        b: (usize, usize),
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { name } => write!(f, "matrix {name} is empty"),
            Self::Ragged {
                name,
                row,
                len,
                expected,
            } => write!(
                f,
                "matrix {name} is ragged: row {row} has {len} entries, row 0 has {expected}"
            ),
            Self::Mismatch { a, b } => write!(
                f,
                "a is {}×{} and b is {}×{}: a needs as many columns as b has rows",
                a.0, a.1, b.0, b.1
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

impl Matrix {
    /// A `rows`×`cols` matrix whose entry (i, j) is `entry(i, j)`, computed row by row.
    pub fn from_fn(rows: usize, cols: usize, mut entry: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            data.extend((0..cols).map(|j| entry(i, j)));
        }
        Self { rows, cols, data }
    }

    /// The study's `A`: `A[i][j] = (31i + 17j) mod 100`.
    pub fn study_a(n: usize) -> Self {
        Self::from_fn(n, n, |i, j| ((31 * i + 17 * j) % 100) as f64)
    }

    /// The study's `B`: `B[i][j] = (13i + 7j) mod 100`.
    pub fn study_b(n: usize) -> Self {
        Self::from_fn(n, n, |i, j| ((13 * i + 7 * j) % 100) as f64)
    }

    /// A matrix from its rows (as JSON gives them); `name` is used in errors.
    pub fn from_rows(name: &'static str, rows: &[Vec<f64>]) -> Result<Self, ShapeError> {
        let cols = rows.first().map_or(0, Vec::len);
        if cols == 0 {
            return Err(ShapeError::Empty { name });
        }
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (row, values) in rows.iter().enumerate() {
            if values.len() != cols {
                return Err(ShapeError::Ragged {
                    name,
                    row,
                    len: values.len(),
                    expected: cols,
                });
            }
            data.extend_from_slice(values);
        }
        Ok(Self {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// Its rows, as nested vectors.
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        if self.cols == 0 {
            return vec![Vec::new(); self.rows];
        }
        self.data
            .chunks_exact(self.cols)
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Entry (i, j).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// The entries, row after row.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// `self · other`, computed by `kernel`.
    pub fn multiply(&self, other: &Self, kernel: Kernel) -> Result<Self, ShapeError> {
        if self.cols != other.rows {
            return Err(ShapeError::Mismatch {
                a: (self.rows, self.cols),
                b: (other.rows, other.cols),
            });
        }
        let (m, k, n) = (self.rows, self.cols, other.cols);
        let mut c = vec![0.0; m * n];
        kernel.multiply_add(&self.data, &other.data, &mut c, m, k, n);
        Ok(Self {
            rows: m,
            cols: n,
            data: c,
        })
    }

    /// The sum of every entry.
    pub fn sum(&self) -> f64 {
        self.data.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert_eq!(
            Matrix::from_rows("a", &[]),
            Err(ShapeError::Empty { name: "a" })
        );
        assert_eq!(
            Matrix::from_rows("b", &[vec![]]),
            Err(ShapeError::Empty { name: "b" })
        );
        let ragged = Matrix::from_rows("a", &[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert_eq!(
            ragged.to_string(),
            "matrix a is ragged: row 1 has 1 entries, row 0 has 2"
        );
        let a = Matrix::from_rows("a", &[vec![1.0, 2.0, 3.0]]).unwrap();
        let mismatch = a.multiply(&a, Kernel::Naive).unwrap_err();
        assert_eq!(
            mismatch.to_string(),
            "a is 1×3 and b is 1×3: a needs as many columns as b has rows"
        );
    }

    #[test]
    fn a_small_product_by_hand() {
        let a = Matrix::from_rows("a", &[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
        let b = Matrix::from_rows("b", &[vec![5.0, 6.0], vec![7.0, 8.0]]).unwrap();
        for kernel in Kernel::ALL {
            assert_eq!(
                a.multiply(&b, kernel).unwrap().to_rows(),
                [[19.0, 22.0], [43.0, 50.0]]
            );
        }
    }
}
