//! scikit-learn's LSQR solver (`LinearRegression` on sparse input) over the centered matrix.

use crate::sparse::CsrMatrix;

/// Column means, summed in row order as scikit-learn's `mean_variance_axis` does.
pub(super) fn column_means(x: &CsrMatrix) -> Vec<f64> {
    let mut sums = vec![0.0; x.ncols()];
    x.for_each_row(|_, idx, val| {
        for (&j, &v) in idx.iter().zip(val) {
            sums[j as usize] += v;
        }
    });
    let n = x.nrows() as f64;
    sums.iter().map(|s| s / n).collect()
}

/// `Xc = X − 1·x̄ᵀ` without forming it (scikit-learn's `LinearOperator`).
pub(super) struct CenteredOperator<'a> {
    pub(super) x: &'a CsrMatrix,
    pub(super) mean: &'a [f64],
}

impl CenteredOperator<'_> {
    /// `out = Xc·v`
    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let shift: f64 = v.iter().zip(self.mean).map(|(a, b)| a * b).sum();
        self.x.for_each_row(|i, idx, val| {
            let mut s = 0.0;
            for (&j, &x) in idx.iter().zip(val) {
                s += x * v[j as usize];
            }
            out[i] = s - shift;
        });
    }

    /// `out = Xcᵀ·u`
    fn rmatvec(&self, u: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut total = 0.0;
        self.x.for_each_row(|i, idx, val| {
            let ui = u[i];
            total += ui;
            for (&j, &x) in idx.iter().zip(val) {
                out[j as usize] += x * ui;
            }
        });
        for (o, m) in out.iter_mut().zip(self.mean) {
            *o -= m * total;
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Scales `v` to unit length unless it is zero; gives its length before.
fn normalize(v: &mut [f64]) -> f64 {
    let length = norm(v);
    if length > 0.0 {
        let inv = 1.0 / length;
        v.iter_mut().for_each(|e| *e *= inv);
    }
    length
}

/// SciPy's `_sym_ortho`: a stable Givens rotation `(c, s, r)` with `[c s; -s c]·[a; b] = [r; 0]`.
fn sym_ortho(a: f64, b: f64) -> (f64, f64, f64) {
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    if b == 0.0 {
        (sign(a), 0.0, a.abs())
    } else if a == 0.0 {
        (0.0, sign(b), b.abs())
    } else if b.abs() > a.abs() {
        let tau = a / b;
        let s = sign(b) / (1.0 + tau * tau).sqrt();
        let c = s * tau;
        (c, s, b / s)
    } else {
        let tau = b / a;
        let c = sign(a) / (1.0 + tau * tau).sqrt();
        let s = c * tau;
        (c, s, a / c)
    }
}

/// LSQR (Paige & Saunders), step for step as SciPy's `scipy.sparse.linalg.lsqr` with
/// `damp = 0`, `x0 = 0` and `iter_lim = 2·n`.
pub(super) fn lsqr(
    a: &CenteredOperator<'_>,
    b: &[f64],
    atol: f64,
    btol: f64,
    conlim: f64,
) -> Vec<f64> {
    let m = b.len();
    let n = a.mean.len();
    let iter_lim = 2 * n;
    let eps = f64::EPSILON;
    let ctol = if conlim > 0.0 { 1.0 / conlim } else { 0.0 };
    let mut x = vec![0.0; n];
    if n == 0 {
        return x;
    }
    let (mut anorm, mut ddnorm, mut xxnorm, mut z) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut cs2, mut sn2) = (-1.0f64, 0.0f64);

    let mut u = b.to_vec();
    let mut beta = normalize(&mut u);
    let bnorm = beta;
    let mut v = vec![0.0; n];
    let mut alfa = 0.0;
    if beta > 0.0 {
        a.rmatvec(&u, &mut v);
        alfa = normalize(&mut v);
    }
    let mut w = v.clone();
    let mut rhobar = alfa;
    let mut phibar = beta;
    if alfa * beta == 0.0 {
        return x;
    }
    let mut av = vec![0.0; m];
    let mut atu = vec![0.0; n];
    let mut itn = 0;
    while itn < iter_lim {
        itn += 1;
        a.matvec(&v, &mut av);
        for (ui, avi) in u.iter_mut().zip(&av) {
            *ui = avi - alfa * *ui;
        }
        beta = normalize(&mut u);
        if beta > 0.0 {
            anorm = (anorm * anorm + alfa * alfa + beta * beta).sqrt();
            a.rmatvec(&u, &mut atu);
            for (vi, ai) in v.iter_mut().zip(&atu) {
                *vi = ai - beta * *vi;
            }
            alfa = normalize(&mut v);
        }
        let rhobar1 = rhobar;
        let (cs, sn, rho) = sym_ortho(rhobar1, beta);
        let theta = sn * alfa;
        rhobar = -cs * alfa;
        let phi = cs * phibar;
        phibar *= sn;
        let tau = sn * phi;

        let t1 = phi / rho;
        let t2 = -theta / rho;
        let mut dk2 = 0.0;
        for ((xi, wi), vi) in x.iter_mut().zip(w.iter_mut()).zip(&v) {
            let dk = (1.0 / rho) * *wi;
            dk2 += dk * dk;
            *xi += t1 * *wi;
            *wi = vi + t2 * *wi;
        }
        ddnorm += dk2;

        let delta = sn2 * rho;
        let gambar = -cs2 * rho;
        let rhs = phi - delta * z;
        let zbar = rhs / gambar;
        let xnorm = (xxnorm + zbar * zbar).sqrt();
        let gamma = (gambar * gambar + theta * theta).sqrt();
        cs2 = gambar / gamma;
        sn2 = theta / gamma;
        z = rhs / gamma;
        xxnorm += z * z;

        let acond = anorm * ddnorm.sqrt();
        let rnorm = phibar.abs();
        let arnorm = alfa * tau.abs();
        let test1 = rnorm / bnorm;
        let test2 = arnorm / (anorm * rnorm + eps);
        let test3 = 1.0 / (acond + eps);
        let t1 = test1 / (1.0 + anorm * xnorm / bnorm);
        let rtol = btol + atol * anorm * xnorm / bnorm;
        let stop = itn >= iter_lim
            || 1.0 + test3 <= 1.0
            || 1.0 + test2 <= 1.0
            || 1.0 + t1 <= 1.0
            || test3 <= ctol
            || test2 <= atol
            || test1 <= rtol;
        if stop {
            break;
        }
    }
    x
}
