//! The study's matrix multiplication, shared by the `examples/matmul` component (compiled to
//! Wasm) and the native servers it is measured against (compiled for the host), so that both
//! run the same code.
//!
//! Every system in the study multiplies the same matrices: `A[i][j] = (31i + 17j) mod 100` and
//! `B[i][j] = (13i + 7j) mod 100`, as `f64`, and reports the sum of the entries of `C = A·B`.
//! Entries of `A` and `B` are integers below 100, so every product and partial sum is an
//! integer below 2^53 for n ≤ 5000: any summation order gives the exact same checksum, which
//! is how the study checks that every peer computed the right thing.
//!
//! ```
//! use matmul_core::{Kernel, study_checksum};
//! assert_eq!(study_checksum(3, Kernel::Naive), 29_898.0);
//! assert_eq!(study_checksum(100, Kernel::Fast), 2_450_250_000.0);
//! ```
//!
//! # Layout
//! - [`Matrix`]: a row-major matrix, its shapes and their errors.
//! - [`Kernel`]: `naive` (the plain i-k-j loop every peer in the study runs) and `fast` (cache
//!   blocked, with a register-tiled inner kernel on 128-bit vectors from the `wide` crate:
//!   simd128 on `wasm32` built with `+simd128`, SSE2 on x86-64).

mod blocked;
mod matrix;

pub use matrix::{Matrix, ShapeError};

/// The largest `n` the study's endpoint accepts: three 5000×5000 matrices take 600 MB.
pub const MAX_N: usize = 5000;

/// A multiplication algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The i-k-j triple loop, as every peer in the study writes it.
    Naive,
    /// Cache-blocked with packed panels and a 4×4 register tile.
    Fast,
}

impl Kernel {
    /// Every kernel, in the order the API lists them.
    pub const ALL: [Self; 2] = [Self::Naive, Self::Fast];

    /// The name the API uses (`naive`, `fast`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Fast => "fast",
        }
    }

    /// The kernel called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// `c += a · b` for row-major `a` (m×k), `b` (k×n) and `c` (m×n).
    ///
    /// # Panics
    /// If a slice's length is not the product of its dimensions.
    pub fn multiply_add(self, a: &[f64], b: &[f64], c: &mut [f64], m: usize, k: usize, n: usize) {
        assert_eq!(a.len(), m * k, "a is m×k");
        assert_eq!(b.len(), k * n, "b is k×n");
        assert_eq!(c.len(), m * n, "c is m×n");
        match self {
            Self::Naive => naive(a, b, c, k, n),
            Self::Fast => blocked::multiply_add(a, b, c, m, k, n),
        }
    }
}

/// The i-k-j loop: for each row of `a`, each of its entries scales a row of `b` into the
/// same row of `c`.
#[inline(never)]
fn naive(a: &[f64], b: &[f64], c: &mut [f64], k: usize, n: usize) {
    if k == 0 || n == 0 {
        return;
    }
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (&a_ip, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            for (c_ij, &b_pj) in c_row.iter_mut().zip(b_row) {
                *c_ij += a_ip * b_pj;
            }
        }
    }
}

/// The study's workload: builds `A` and `B` of size `n`, multiplies them with `kernel`, and
/// returns the sum of the entries of the product.
pub fn study_checksum(n: usize, kernel: Kernel) -> f64 {
    let a = Matrix::study_a(n);
    let b = Matrix::study_b(n);
    a.multiply(&b, kernel)
        .expect("the study's matrices are square and of the same size")
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random integer matrix (xorshift), entries in 0..100.
    fn noise(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Matrix::from_fn(rows, cols, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 100) as f64
        })
    }

    /// The definition, one dot product per entry, as a reference.
    fn reference(a: &Matrix, b: &Matrix) -> Matrix {
        Matrix::from_fn(a.rows(), b.cols(), |i, j| {
            (0..a.cols()).map(|p| a.get(i, p) * b.get(p, j)).sum()
        })
    }

    #[test]
    fn the_issue_checksums() {
        for kernel in Kernel::ALL {
            assert_eq!(study_checksum(3, kernel), 29_898.0, "{kernel:?}");
            assert_eq!(study_checksum(100, kernel), 2_450_250_000.0, "{kernel:?}");
        }
    }

    #[test]
    fn the_study_matrices_by_hand() {
        let a = Matrix::study_a(3);
        assert_eq!(
            a.to_rows(),
            [[0.0, 17.0, 34.0], [31.0, 48.0, 65.0], [62.0, 79.0, 96.0]]
        );
        let b = Matrix::study_b(3);
        assert_eq!(
            b.to_rows(),
            [[0.0, 7.0, 14.0], [13.0, 20.0, 27.0], [26.0, 33.0, 40.0]]
        );
        // Entries wrap at 100: A[3][1] = (93 + 17) mod 100.
        assert_eq!(Matrix::study_a(4).get(3, 1), 10.0);
    }

    #[test]
    fn both_kernels_match_the_definition_on_awkward_shapes() {
        // Shapes around the tile (4), the packed depth (256) and the blocks, and degenerate ones.
        let shapes = [
            (1, 1, 1),
            (1, 7, 3),
            (5, 1, 9),
            (4, 4, 4),
            (5, 5, 5),
            (3, 300, 2),
            (67, 259, 133),
            (130, 17, 515),
            (9, 520, 1030),
        ];
        for (seed, &(m, k, n)) in shapes.iter().enumerate() {
            let a = noise(m, k, seed as u64);
            let b = noise(k, n, seed as u64 + 100);
            let expected = reference(&a, &b);
            for kernel in Kernel::ALL {
                assert_eq!(
                    a.multiply(&b, kernel).unwrap(),
                    expected,
                    "{kernel:?} on {m}x{k} · {k}x{n}"
                );
            }
        }
    }

    #[test]
    fn fractions_agree_closely() {
        let a = Matrix::from_fn(37, 41, |i, j| (i as f64 + 0.5) / (j as f64 + 1.25));
        let b = Matrix::from_fn(41, 29, |i, j| (i as f64 * 0.3) - j as f64 / 7.0);
        let expected = reference(&a, &b);
        for kernel in Kernel::ALL {
            let c = a.multiply(&b, kernel).unwrap();
            for (x, y) in c.as_slice().iter().zip(expected.as_slice()) {
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "{kernel:?}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn kernels_have_names() {
        for kernel in Kernel::ALL {
            assert_eq!(Kernel::from_name(kernel.name()), Some(kernel));
        }
        assert_eq!(Kernel::from_name("strassen"), None);
    }
}
