//! A compressed sparse row (CSR) matrix, what [`crate::features`] produces.

use std::sync::OnceLock;

use crate::error::{PipelineError, Result};

/// A sparse matrix in compressed sparse row form (scikit-learn's `csr_matrix`).
///
/// Row `i` holds the entries `indices[indptr[i]..indptr[i + 1]]` (column positions, increasing)
/// with values `data[indptr[i]..indptr[i + 1]]`.
///
/// What the vectorizer makes is kept compactly: a matrix whose every row stores all its columns (the
/// notebook encoding's three numbers) keeps only its values, row after row; one whose stored values
/// are all one (one-hot) keeps no values. [`indptr`](Self::indptr), [`indices`](Self::indices) and
/// [`data`](Self::data) build the arrays such a matrix does not keep the first time they are asked
/// for; [`row`](Self::row), [`rows`](Self::rows) and everything in this crate read the compact form.
/// Equality compares the matrices, not how they are kept.
#[derive(Debug, Clone, Default)]
pub struct CsrMatrix {
    nrows: usize,
    ncols: usize,
    layout: Layout,
    /// The arrays a compact layout does not keep, built on first request.
    built: Built,
}

#[derive(Debug, Clone)]
enum Layout {
    /// Row pointers, column indices and values.
    General {
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
    },
    /// Every row stores every column, in order: `values` holds the rows one after another;
    /// `columns` is `0..ncols`.
    Dense { values: Vec<f64>, columns: Vec<u32> },
    /// Every stored value is one: `ones` has as many as the longest row.
    Ones {
        indptr: Vec<usize>,
        indices: Vec<u32>,
        ones: Vec<f64>,
    },
}

impl Default for Layout {
    fn default() -> Self {
        Layout::General {
            indptr: Vec::new(),
            indices: Vec::new(),
            data: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Built {
    indptr: OnceLock<Vec<usize>>,
    indices: OnceLock<Vec<u32>>,
    data: OnceLock<Vec<f64>>,
}

impl PartialEq for CsrMatrix {
    fn eq(&self, other: &Self) -> bool {
        self.nrows == other.nrows && self.ncols == other.ncols && self.rows().eq(other.rows())
    }
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
        Ok(CsrMatrix::from_parts_unchecked(
            nrows, ncols, indptr, indices, data,
        ))
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
            layout: Layout::General {
                indptr,
                indices,
                data,
            },
            built: Built::default(),
        }
    }

    /// A matrix whose every row stores all `ncols` columns: `values` holds the rows one after
    /// another (trusted: built by this crate).
    pub(crate) fn dense(nrows: usize, ncols: usize, values: Vec<f64>) -> Self {
        debug_assert_eq!(values.len(), nrows * ncols);
        CsrMatrix {
            nrows,
            ncols,
            layout: Layout::Dense {
                values,
                columns: (0..ncols as u32).collect(),
            },
            built: Built::default(),
        }
    }

    /// A matrix whose stored values are all one (trusted parts, built by this crate).
    pub(crate) fn ones(nrows: usize, ncols: usize, indptr: Vec<usize>, indices: Vec<u32>) -> Self {
        debug_assert_eq!(indptr.len(), nrows + 1);
        let longest = indptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        CsrMatrix {
            nrows,
            ncols,
            layout: Layout::Ones {
                indptr,
                indices,
                ones: vec![1.0; longest],
            },
            built: Built::default(),
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
        match &self.layout {
            Layout::General { indices, .. } | Layout::Ones { indices, .. } => indices.len(),
            Layout::Dense { values, .. } => values.len(),
        }
    }
    /// Row pointers (`nrows + 1` of them).
    pub fn indptr(&self) -> &[usize] {
        match &self.layout {
            Layout::General { indptr, .. } | Layout::Ones { indptr, .. } => indptr,
            Layout::Dense { .. } => self
                .built
                .indptr
                .get_or_init(|| (0..=self.nrows).map(|i| i * self.ncols).collect()),
        }
    }
    /// Column index of each stored entry.
    pub fn indices(&self) -> &[u32] {
        match &self.layout {
            Layout::General { indices, .. } | Layout::Ones { indices, .. } => indices,
            Layout::Dense { columns, .. } => self.built.indices.get_or_init(|| {
                let mut all = Vec::with_capacity(self.nrows * self.ncols);
                for _ in 0..self.nrows {
                    all.extend_from_slice(columns);
                }
                all
            }),
        }
    }
    /// Value of each stored entry.
    pub fn data(&self) -> &[f64] {
        match &self.layout {
            Layout::General { data, .. } => data,
            Layout::Dense { values, .. } => values,
            Layout::Ones { indices, .. } => {
                self.built.data.get_or_init(|| vec![1.0; indices.len()])
            }
        }
    }

    /// The column indices and values of row `i`.
    ///
    /// # Panics
    /// If `i >= nrows`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        match &self.layout {
            Layout::General {
                indptr,
                indices,
                data,
            } => {
                let (a, b) = (indptr[i], indptr[i + 1]);
                (&indices[a..b], &data[a..b])
            }
            Layout::Dense { values, columns } => {
                assert!(i < self.nrows, "row {i} of a {}-row matrix", self.nrows);
                let k = self.ncols;
                (columns, &values[i * k..(i + 1) * k])
            }
            Layout::Ones {
                indptr,
                indices,
                ones,
            } => {
                let (a, b) = (indptr[i], indptr[i + 1]);
                (&indices[a..b], &ones[..b - a])
            }
        }
    }

    /// Iterates over the rows as `(indices, values)`.
    pub fn rows(&self) -> impl Iterator<Item = (&[u32], &[f64])> + '_ {
        (0..self.nrows).map(move |i| self.row(i))
    }

    /// The stored values, row after row (without building [`data`](Self::data)).
    pub(crate) fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.rows().flat_map(|(_, values)| values.iter().copied())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dense_matrix_reads_like_its_general_form() {
        // [[1, 0, 3], [4, 5, 6]] with every entry stored (the zero too).
        let dense = CsrMatrix::dense(2, 3, vec![1.0, 0.0, 3.0, 4.0, 5.0, 6.0]);
        let general = CsrMatrix::from_parts(
            2,
            3,
            vec![0, 3, 6],
            vec![0, 1, 2, 0, 1, 2],
            vec![1.0, 0.0, 3.0, 4.0, 5.0, 6.0],
        )
        .unwrap();
        assert_eq!(dense, general);
        assert_eq!(dense.nnz(), 6);
        assert_eq!(dense.row(1), (&[0, 1, 2][..], &[4.0, 5.0, 6.0][..]));
        assert_eq!(dense.indptr(), general.indptr());
        assert_eq!(dense.indices(), general.indices());
        assert_eq!(dense.data(), general.data());
        assert_eq!(dense.to_dense(), general.to_dense());
        assert_eq!(
            dense.mul_vec(&[1.0, 2.0, 3.0]).unwrap(),
            general.mul_vec(&[1.0, 2.0, 3.0]).unwrap()
        );
        assert_eq!(dense.values().collect::<Vec<_>>(), general.data());
    }

    #[test]
    fn a_matrix_of_ones_reads_like_its_general_form() {
        // [[1, 0, 1], [0, 0, 0], [0, 1, 0]]: rows of different lengths, an empty one.
        let ones = CsrMatrix::ones(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1]);
        let general =
            CsrMatrix::from_parts(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0; 3]).unwrap();
        assert_eq!(ones, general);
        assert_eq!(ones.nnz(), 3);
        assert_eq!(ones.row(0), (&[0, 2][..], &[1.0, 1.0][..]));
        assert_eq!(ones.row(1), (&[][..], &[][..]));
        assert_eq!(ones.data(), &[1.0, 1.0, 1.0]);
        assert_eq!(ones.indptr(), general.indptr());
        assert_eq!(ones.to_dense(), general.to_dense());
        // A different value is a different matrix.
        let twos =
            CsrMatrix::from_parts(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 1.0])
                .unwrap();
        assert_ne!(ones, twos);
    }

    #[test]
    fn the_empty_matrix() {
        let m = CsrMatrix::default();
        assert_eq!(m.nrows(), 0);
        assert_eq!(m.nnz(), 0);
        assert_eq!(m.rows().count(), 0);
        assert_eq!(CsrMatrix::dense(0, 3, Vec::new()).indptr(), &[0]);
    }
}
