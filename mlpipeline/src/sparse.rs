//! A compressed sparse row (CSR) matrix, what [`crate::features`] produces.

use std::sync::OnceLock;

use crate::error::{PipelineError, Result};

/// A sparse matrix in compressed sparse row form (scikit-learn's `csr_matrix`).
///
/// Row `i` holds the entries `indices[indptr[i]..indptr[i + 1]]` (column positions, increasing)
/// with values `data[indptr[i]..indptr[i + 1]]`.
///
/// What the vectorizer makes is kept compactly: a matrix whose every row stores all its columns (the
/// notebook encoding's three numbers) keeps only its values, row after row — as 32-bit integers
/// when they all are such integers; one whose stored values are all one (one-hot) keeps no values,
/// and no row pointers either when every row stores as many entries. [`indptr`](Self::indptr),
/// [`indices`](Self::indices) and [`data`](Self::data) build the arrays such a matrix does not
/// keep the first time they are asked for, and so does [`row`](Self::row) (and [`rows`](Self::rows))
/// the `f64` values of an integer matrix; everything in this crate reads the compact form.
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
    /// [`Layout::Dense`] whose every value is an integer that fits in an `i32`.
    DenseInt { values: Vec<i32>, columns: Vec<u32> },
    /// Every stored value is one: `ones` has as many as the longest row.
    Ones {
        starts: RowStarts,
        indices: Vec<u32>,
        ones: Vec<f64>,
    },
}

/// Where the rows of a [`Layout::Ones`] matrix start.
#[derive(Debug, Clone)]
enum RowStarts {
    /// Row pointers (`nrows + 1`).
    Pointers(Vec<usize>),
    /// Every row stores this many entries: row `i` starts at `i * k`.
    Every(usize),
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

/// `v` as an `i32`, if it is exactly one (not `-0.0`: its sign would be lost).
pub(crate) fn exact_i32(v: f64) -> Option<i32> {
    let i = v as i32;
    (f64::from(i) == v && (v != 0.0 || v.is_sign_positive())).then_some(i)
}

impl PartialEq for CsrMatrix {
    fn eq(&self, other: &Self) -> bool {
        if self.nrows != other.nrows || self.ncols != other.ncols {
            return false;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        (0..self.nrows).all(|i| self.row_with(i, &mut a) == other.row_with(i, &mut b))
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

    /// [`dense`](Self::dense) for integer values, kept as such (trusted: built by this crate).
    pub(crate) fn dense_int(nrows: usize, ncols: usize, values: Vec<i32>) -> Self {
        debug_assert_eq!(values.len(), nrows * ncols);
        CsrMatrix {
            nrows,
            ncols,
            layout: Layout::DenseInt {
                values,
                columns: (0..ncols as u32).collect(),
            },
            built: Built::default(),
        }
    }

    /// A matrix whose stored values are all one (trusted parts, built by this crate). The row
    /// pointers are dropped when every row stores as many entries.
    pub(crate) fn ones(nrows: usize, ncols: usize, indptr: Vec<usize>, indices: Vec<u32>) -> Self {
        debug_assert_eq!(indptr.len(), nrows + 1);
        let longest = indptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        let starts = if nrows > 0 && indptr.windows(2).all(|w| w[1] - w[0] == longest) {
            RowStarts::Every(longest)
        } else {
            RowStarts::Pointers(indptr)
        };
        CsrMatrix {
            nrows,
            ncols,
            layout: Layout::Ones {
                starts,
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
            Layout::DenseInt { values, .. } => values.len(),
        }
    }
    /// Row pointers (`nrows + 1` of them).
    pub fn indptr(&self) -> &[usize] {
        let every = match &self.layout {
            Layout::General { indptr, .. }
            | Layout::Ones {
                starts: RowStarts::Pointers(indptr),
                ..
            } => return indptr,
            Layout::Ones {
                starts: RowStarts::Every(k),
                ..
            } => *k,
            Layout::Dense { .. } | Layout::DenseInt { .. } => self.ncols,
        };
        self.built
            .indptr
            .get_or_init(|| (0..=self.nrows).map(|i| i * every).collect())
    }
    /// Column index of each stored entry.
    pub fn indices(&self) -> &[u32] {
        match &self.layout {
            Layout::General { indices, .. } | Layout::Ones { indices, .. } => indices,
            Layout::Dense { columns, .. } | Layout::DenseInt { columns, .. } => {
                self.built.indices.get_or_init(|| {
                    let mut all = Vec::with_capacity(self.nrows * self.ncols);
                    for _ in 0..self.nrows {
                        all.extend_from_slice(columns);
                    }
                    all
                })
            }
        }
    }
    /// Value of each stored entry.
    pub fn data(&self) -> &[f64] {
        match &self.layout {
            Layout::General { data, .. } => data,
            Layout::Dense { values, .. } => values,
            Layout::DenseInt { values, .. } => self
                .built
                .data
                .get_or_init(|| values.iter().map(|&v| f64::from(v)).collect()),
            Layout::Ones { indices, .. } => {
                self.built.data.get_or_init(|| vec![1.0; indices.len()])
            }
        }
    }

    /// Where row `i`'s entries are (in `indices`, `data`).
    fn span(&self, i: usize) -> (usize, usize) {
        assert!(i < self.nrows, "row {i} of a {}-row matrix", self.nrows);
        match &self.layout {
            Layout::General { indptr, .. }
            | Layout::Ones {
                starts: RowStarts::Pointers(indptr),
                ..
            } => (indptr[i], indptr[i + 1]),
            Layout::Ones {
                starts: RowStarts::Every(k),
                ..
            } => (i * k, (i + 1) * k),
            Layout::Dense { .. } | Layout::DenseInt { .. } => {
                (i * self.ncols, (i + 1) * self.ncols)
            }
        }
    }

    /// The column indices and values of row `i`.
    ///
    /// # Panics
    /// If `i >= nrows`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = self.span(i);
        match &self.layout {
            Layout::General { indices, data, .. } => (&indices[a..b], &data[a..b]),
            Layout::Dense { values, columns } => (columns, &values[a..b]),
            Layout::DenseInt { columns, .. } => (columns, &self.data()[a..b]),
            Layout::Ones { indices, ones, .. } => (&indices[a..b], &ones[..b - a]),
        }
    }

    /// Row `i` as [`row`](Self::row) gives it, with the values of an integer matrix converted into
    /// `buf` instead of building [`data`](Self::data).
    pub(crate) fn row_with<'a>(
        &'a self,
        i: usize,
        buf: &'a mut Vec<f64>,
    ) -> (&'a [u32], &'a [f64]) {
        match &self.layout {
            Layout::DenseInt { values, columns } => {
                let (a, b) = self.span(i);
                buf.clear();
                buf.extend(values[a..b].iter().map(|&v| f64::from(v)));
                (columns, buf)
            }
            _ => self.row(i),
        }
    }

    /// Calls `f(i, indices, values)` for every row `i`, in order, reading the compact form.
    pub(crate) fn for_each_row(&self, mut f: impl FnMut(usize, &[u32], &[f64])) {
        let Ok(()) = self.try_for_each_row(|i, idx, val| {
            f(i, idx, val);
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// [`for_each_row`](Self::for_each_row) stopping at the first error.
    pub(crate) fn try_for_each_row<E>(
        &self,
        mut f: impl FnMut(usize, &[u32], &[f64]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut buf = Vec::with_capacity(self.ncols.min(64));
        for i in 0..self.nrows {
            let (idx, val) = self.row_with(i, &mut buf);
            f(i, idx, val)?;
        }
        Ok(())
    }

    /// Iterates over the rows as `(indices, values)`.
    pub fn rows(&self) -> impl Iterator<Item = (&[u32], &[f64])> + '_ {
        (0..self.nrows).map(move |i| self.row(i))
    }

    /// Folds the stored values, row after row (without building [`data`](Self::data)).
    pub(crate) fn fold_values<B>(&self, init: B, mut f: impl FnMut(B, f64) -> B) -> B {
        match &self.layout {
            Layout::DenseInt { values, .. } => {
                values.iter().fold(init, |acc, &v| f(acc, f64::from(v)))
            }
            Layout::Dense { values, .. } | Layout::General { data: values, .. } => {
                values.iter().fold(init, |acc, &v| f(acc, v))
            }
            Layout::Ones { indices, .. } => (0..indices.len()).fold(init, |acc, _| f(acc, 1.0)),
        }
    }

    /// Whether every stored value is an integer of at most `limit` in absolute value.
    pub(crate) fn integral_within(&self, limit: f64) -> bool {
        match &self.layout {
            Layout::DenseInt { values, .. } => values.iter().all(|&v| f64::from(v).abs() <= limit),
            Layout::Ones { indices, .. } => indices.is_empty() || limit >= 1.0,
            _ => self.fold_values(true, |ok, v| ok && v.fract() == 0.0 && v.abs() <= limit),
        }
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
        let mut out = Vec::with_capacity(self.nrows);
        self.for_each_row(|_, idx, val| {
            out.push(
                idx.iter()
                    .zip(val)
                    .map(|(&j, &x)| x * v[j as usize])
                    .sum::<f64>(),
            )
        });
        Ok(out)
    }

    /// The matrix as dense rows (for small matrices and tests).
    pub fn to_dense(&self) -> Vec<Vec<f64>> {
        let mut out = Vec::with_capacity(self.nrows);
        self.for_each_row(|_, idx, val| {
            let mut row = vec![0.0; self.ncols];
            for (&j, &x) in idx.iter().zip(val) {
                row[j as usize] += x;
            }
            out.push(row);
        });
        out
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
        assert_eq!(
            dense.fold_values(Vec::new(), |mut all, v| {
                all.push(v);
                all
            }),
            general.data()
        );
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
    fn an_integer_matrix_reads_like_its_general_form_without_building_its_values() {
        // [[1, -2, 3], [0, 5, 2147483647]]
        let values = vec![1, -2, 3, 0, 5, i32::MAX];
        let int = CsrMatrix::dense_int(2, 3, values.clone());
        let as_f64: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let dense = CsrMatrix::dense(2, 3, as_f64.clone());
        let general =
            CsrMatrix::from_parts(2, 3, vec![0, 3, 6], vec![0, 1, 2, 0, 1, 2], as_f64.clone())
                .unwrap();
        // Read without building anything.
        assert_eq!(int, dense);
        assert_eq!(int, general);
        assert_eq!(int.to_dense(), general.to_dense());
        let v = [1.0, 2.0, 3.0];
        assert_eq!(int.mul_vec(&v).unwrap(), general.mul_vec(&v).unwrap());
        let mut seen = Vec::new();
        int.for_each_row(|i, idx, val| seen.push((i, idx.to_vec(), val.to_vec())));
        assert_eq!(
            seen[1],
            (1, vec![0, 1, 2], vec![0.0, 5.0, f64::from(i32::MAX)])
        );
        assert!(int.built.data.get().is_none(), "the f64 values were built");
        assert!(int.integral_within(f64::from(i32::MAX)));
        assert!(!int.integral_within(4.0));
        assert_eq!(
            int.fold_values(0.0, |m: f64, v| m.max(v.abs())),
            f64::from(i32::MAX)
        );
        // The public slices, built on request.
        assert_eq!(int.row(0), (&[0, 1, 2][..], &[1.0, -2.0, 3.0][..]));
        assert_eq!(int.data(), general.data());
        assert_eq!(int.indptr(), general.indptr());
        assert_eq!(int.indices(), general.indices());
        assert_eq!(int.nnz(), 6);
        assert_ne!(int, CsrMatrix::dense_int(2, 3, vec![1, -2, 3, 0, 5, 7]));
    }

    #[test]
    fn rows_of_ones_of_one_length_keep_no_row_pointers() {
        // [[1, 0, 1], [0, 1, 1]]: two entries in every row.
        let ones = CsrMatrix::ones(2, 3, vec![0, 2, 4], vec![0, 2, 1, 2]);
        assert!(matches!(
            ones.layout,
            Layout::Ones {
                starts: RowStarts::Every(2),
                ..
            }
        ));
        let general =
            CsrMatrix::from_parts(2, 3, vec![0, 2, 4], vec![0, 2, 1, 2], vec![1.0; 4]).unwrap();
        assert_eq!(ones, general);
        assert_eq!(ones.row(1), (&[1, 2][..], &[1.0, 1.0][..]));
        assert_eq!(ones.indptr(), &[0, 2, 4]);
        assert_eq!(ones.to_dense(), general.to_dense());
        assert_eq!(ones.nnz(), 4);
    }

    #[test]
    #[should_panic(expected = "row 2 of a 2-row matrix")]
    fn a_row_past_the_end_panics() {
        CsrMatrix::ones(2, 3, vec![0, 2, 4], vec![0, 2, 1, 2]).row(2);
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
