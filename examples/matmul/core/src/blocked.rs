//! The `fast` kernel: the GEMM loop nest of BLIS and GotoBLAS, in portable Rust.
//!
//! `b` is copied a block at a time (`KC` rows × `NC` columns) into panels `NR` columns wide,
//! and `a` a block at a time (`MC` rows × `KC` columns) into panels `MR` rows tall, each laid
//! out in the order the inner kernel reads it. The inner kernel then multiplies an `MR`-row
//! panel of `a` by an `NR`-column panel of `b` into an `MR`×`NR` tile of sums that stays in
//! registers for the whole depth `KC`, reading both panels sequentially from L1. The naive
//! loop instead streams a whole row of `b` (and of `c`) from memory for every entry of `a`.
//!
//! The panels hold 128-bit vectors ([`wide::f64x2`]: simd128 on `wasm32` built with
//! `+simd128`, SSE2 on x86-64): `b`'s entries in pairs, `a`'s each broadcast to both lanes, so
//! that the inner loop is vector loads, multiplies and adds and nothing else, with its 8
//! accumulators in 8 of the 16 vector registers of both targets. Compilers do not reliably
//! vectorise the scalar form of this loop for `wasm32` (LLVM left it scalar), hence the
//! explicit vectors. No fused multiply-add: products round as in the naive loop (and for the
//! study's integer matrices every result is exact).

use wide::f64x2;

/// Rows of the register tile.
const MR: usize = 4;
/// Columns of the register tile: two vectors.
const NR: usize = 4;
const NV: usize = NR / 2;
/// Depth of a packed block: an `NR`-column panel of `b` is `KC * NR * 8` = 8 KiB (L1).
const KC: usize = 256;
/// Rows of `a` packed at once: `MC * KC * 16` = 256 KiB (L2; entries broadcast to pairs).
const MC: usize = 64;
/// Columns of `b` packed at once: `KC * NC * 8` = 4 MiB (L3).
const NC: usize = 2048;

/// `c += a · b` for row-major `a` (m×k), `b` (k×n), `c` (m×n).
#[inline(never)]
pub(crate) fn multiply_add(a: &[f64], b: &[f64], c: &mut [f64], m: usize, k: usize, n: usize) {
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    let mut a_pack = vec![f64x2::ZERO; MC.min(round_up(m, MR)) * KC.min(k)];
    let mut b_pack = vec![f64x2::ZERO; KC.min(k) * NC.min(round_up(n, NR)) / 2];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(b, n, pc, kc, jc, nc, &mut b_pack);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                pack_a(a, k, ic, mc, pc, kc, &mut a_pack);
                for (jr, b_panel) in (0..nc).step_by(NR).zip(b_pack.chunks_exact(kc * NV)) {
                    let cols = NR.min(nc - jr);
                    for (ir, a_panel) in (0..mc).step_by(MR).zip(a_pack.chunks_exact(kc * MR)) {
                        let tile = tile(a_panel, b_panel);
                        for (r, sums) in tile.iter().enumerate().take(MR.min(mc - ir)) {
                            let row = &mut c[(ic + ir + r) * n + jc + jr..][..cols];
                            for (c_ij, sum) in row.iter_mut().zip(sums) {
                                *c_ij += sum;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Copies `b[pc..pc+kc][jc..jc+nc]` into panels of `NR` columns: panel `p` holds, for each
/// of the `kc` rows, its `NR` entries in columns `jc + p*NR ..` as `NV` pairs, zero past
/// column `nc`.
fn pack_b(b: &[f64], n: usize, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f64x2]) {
    for (panel, j0) in out.chunks_exact_mut(kc * NV).zip((0..nc).step_by(NR)) {
        let cols = NR.min(nc - j0);
        for (p, pairs) in panel.chunks_exact_mut(NV).enumerate() {
            let src = &b[(pc + p) * n + jc + j0..][..cols];
            let mut row = [0.0; NR];
            row[..cols].copy_from_slice(src);
            for (pair, values) in pairs.iter_mut().zip(row.chunks_exact(2)) {
                *pair = f64x2::new([values[0], values[1]]);
            }
        }
    }
}

/// Copies `a[ic..ic+mc][pc..pc+kc]` into panels of `MR` rows: panel `p` holds, for each of
/// the `kc` columns, its `MR` entries in rows `ic + p*MR ..`, each in both lanes of a vector,
/// zero past row `mc`.
fn pack_a(a: &[f64], k: usize, ic: usize, mc: usize, pc: usize, kc: usize, out: &mut [f64x2]) {
    for (panel, i0) in out.chunks_exact_mut(kc * MR).zip((0..mc).step_by(MR)) {
        let rows = MR.min(mc - i0);
        for r in 0..MR {
            if r < rows {
                let src = &a[(ic + i0 + r) * k + pc..][..kc];
                for (p, &value) in src.iter().enumerate() {
                    panel[p * MR + r] = f64x2::splat(value);
                }
            } else {
                for p in 0..kc {
                    panel[p * MR + r] = f64x2::ZERO;
                }
            }
        }
    }
}

/// Depth steps the tile loop takes per trip. Wasmtime checks the epoch (the deadline) at
/// every loop header, and Cranelift keeps the accumulators in memory across that check (its
/// slow path is a call, which may clobber every vector register; Wasmtime issue 7244): the
/// 8 accumulators are stored and reloaded once per trip. Two steps per trip halve that, and
/// measured best (docs/performance.md, "Matrix multiplication"): with more, Cranelift does
/// all the trip's loads first (it places arithmetic just before its first use, the jump back
/// to the loop header) and spills those too, even when the loads are volatile.
const UNROLL: usize = 2;

/// The `MR`×`NR` tile of sums over the panels' common depth: `tile[r][j] = Σ_p a[p][r] b[p][j]`.
#[inline(always)]
fn tile(a_panel: &[f64x2], b_panel: &[f64x2]) -> [[f64; NR]; MR] {
    let mut sums = [[f64x2::ZERO; NV]; MR];
    let a_steps = a_panel.chunks_exact(MR * UNROLL);
    let b_steps = b_panel.chunks_exact(NV * UNROLL);
    let (a_rest, b_rest) = (a_steps.remainder(), b_steps.remainder());
    for (a, b) in a_steps.zip(b_steps) {
        for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NV)) {
            step(&mut sums, a, b);
        }
    }
    for (a, b) in a_rest.chunks_exact(MR).zip(b_rest.chunks_exact(NV)) {
        step(&mut sums, a, b);
    }
    sums.map(|row| {
        let [low, high] = row;
        let (low, high) = (low.to_array(), high.to_array());
        [low[0], low[1], high[0], high[1]]
    })
}

/// One step of depth: `sums[r] += a[r] * b` for the `MR` broadcast entries of `a`.
#[inline(always)]
fn step(sums: &mut [[f64x2; NV]; MR], a: &[f64x2], b: &[f64x2]) {
    for (row, &a_r) in sums.iter_mut().zip(a) {
        for (sum, &b_j) in row.iter_mut().zip(b) {
            *sum += a_r * b_j;
        }
    }
}
