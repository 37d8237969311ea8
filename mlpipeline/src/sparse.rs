//! A compressed sparse row (CSR) matrix, what [`crate::features`] produces.

use crate::error::{PipelineError, Result};

/// A sparse matrix in compressed sparse row form (scikit-learn's `csr_matrix`).
///
/// Row `i` holds the entries `indices[indptr[i]..indptr[i + 1]]` (column positions, increasing)
/// with values `data[indptr[i]..indptr[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CsrMatrix {
    nrows: usize,
    ncols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f64>,
}

impl CsrMatrix {
    /// Builds a matrix from its parts, checking that they describe a valid CSR matrix.
    ///
    /// ```
    /// use mlpipeline::sparse::CsrMatrix;
    /// // [[1, 0], [0, 2]]
    /// let m = CsrMatrix::from_parts(2, 2, vec![0, 1, 2], vec![0, 1], vec![1.0, 2.0])?;
    /// assert_eq!(m.mul_vec(&[1.0, 1.0])?, vec![1.0, 2.0]);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn from_parts(
        nrows: usize,
        ncols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
    ) -> Result<Self> {
        let bad = |context: &str, expected: usize, actual: usize| PipelineError::ShapeMismatch {
            context: format!("CsrMatrix::from_parts: {context}"),
            expected,
            actual,
        };
        if indptr.len() != nrows + 1 {
            return Err(bad("indptr length", nrows + 1, indptr.len()));
        }
        if indices.len() != data.len() {
            return Err(bad("data length", indices.len(), data.len()));
        }
        if indptr[0] != 0 || indptr[nrows] != indices.len() {
            return Err(bad("last indptr", indices.len(), indptr[nrows]));
        }
        for r in 0..nrows {
            if indptr[r] > indptr[r + 1] {
                return Err(bad("indptr must not decrease at row", r, indptr[r + 1]));
            }
            let row = &indices[indptr[r]..indptr[r + 1]];
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad("increasing column indices in row", r, row.len()));
            }
            if let Some(&c) = row.iter().find(|&&c| c as usize >= ncols) {
                return Err(bad("column index below ncols", ncols, c as usize));
            }
        }
        Ok(CsrMatrix {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        })
    }

    /// Assembles a matrix from trusted parts (built by this crate).
    pub(crate) fn from_parts_unchecked(
        nrows: usize,
        ncols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
    ) -> Self {
        debug_assert_eq!(indptr.len(), nrows + 1);
        CsrMatrix {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns (features).
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }
    /// Row pointers (`nrows + 1` of them).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }
    /// Column index of each stored entry.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
    /// Value of each stored entry.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The column indices and values of row `i`.
    ///
    /// # Panics
    /// If `i >= nrows`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Iterates over the rows as `(indices, values)`.
    pub fn rows(&self) -> impl Iterator<Item = (&[u32], &[f64])> + '_ {
        self.indptr.windows(2).map(move |w| {
            let (a, b) = (w[0], w[1]);
            (&self.indices[a..b], &self.data[a..b])
        })
    }

    /// The product `self · v`.
    pub fn mul_vec(&self, v: &[f64]) -> Result<Vec<f64>> {
        if v.len() != self.ncols {
            return Err(PipelineError::ShapeMismatch {
                context: "CsrMatrix::mul_vec vector length".into(),
                expected: self.ncols,
                actual: v.len(),
            });
        }
        Ok(self
            .rows()
            .map(|(idx, val)| {
                idx.iter()
                    .zip(val)
                    .map(|(&j, &x)| x * v[j as usize])
                    .sum::<f64>()
            })
            .collect())
    }

    /// The matrix as dense rows (for small matrices and tests).
    pub fn to_dense(&self) -> Vec<Vec<f64>> {
        self.rows()
            .map(|(idx, val)| {
                let mut row = vec![0.0; self.ncols];
                for (&j, &x) in idx.iter().zip(val) {
                    row[j as usize] += x;
                }
                row
            })
            .collect()
    }
}
