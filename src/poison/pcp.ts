// Principal Component Pursuit, min ‖L‖_* + λ‖S‖₁ s.t. L + S = M, by the inexact augmented
// Lagrange multiplier method (Lin, Chen & Ma 2010, Algorithm 5):
//   L ← SVT_{1/μ}(M − S + Y/μ),  S ← shrink_{λ/μ}(M − L + Y/μ),  Y ← Y + μ(M − L − S),  μ ← min(ρμ, μ̄).
// With the usual ρ = 1.5, μ grows so fast that L + S = M is met before the objective is
// optimal (FACTS.md: 6e-2 error at 100×100 rank 25). `accurate` mode grows μ slowly (ρ = 1.1)
// and caps it (μ̄ = 1e3·μ₀ by default), so the tail of the run is fixed-μ ADMM, which does
// converge to the optimum, and tightens the stopping tolerance.
// The SVT uses a randomized partial SVD of predicted rank when that is much smaller than
// min(m, n) (the prediction grows by 5 % of min(m, n) while every computed value passes the
// threshold, as in Lin et al.'s code), else a full Jacobi SVD warm-started from the previous
// iterate's right singular vectors.
// The m×n iterates live in WASM memory (float64, or float32 with `precision: "float32"`), and
// each iteration is one SVD, one GEMM for L and one fused pass for S, Y and the sums.
import { frobenius, jacobiSvd, mat, maxAbs, rangeSvd, reconstructRows, spectralNormOf, type Mat } from "./linalg.js";
import { checkFinite, type RpcaResult } from "./metrics.js";
import { alloc, pcpUpdate, scope, subAxpy, type Precision, type Vec } from "./wasm.js";

export interface PcpOptions {
  /** Weight of ‖S‖₁ (default 1/√max(m, n)). */
  lambda?: number;
  /** μ growth factor (default 1.5; 1.1 in accurate mode). */
  rho?: number;
  /** Initial μ (default 1.25/‖M‖₂). */
  mu0?: number;
  /** Cap on μ (default 1e7·μ₀; 1e3·μ₀ in accurate mode). */
  muMax?: number;
  /**
   * Stop when ‖M − L − S‖_F/‖M‖_F < tol and (accurate mode) the iterates stopped moving
   * (default 1e-7, 1e-10 accurate; float32: 1e-6, 1e-7 accurate).
   */
  tol?: number;
  maxIter?: number;
  accurate?: boolean;
  /** SVD used for the singular value threshold. */
  svd?: "auto" | "full" | "partial";
  /** Arithmetic of the m×n iterates and their products (default float64). */
  precision?: Precision;
  seed?: number;
  /** Called after each iteration (progress, interruption: return true to stop). */
  onIteration?: (it: number, residual: number, rank: number) => boolean | void;
}

/** Thresholded singular triplets of d: rows of U and V with weights max(σ − τ, 0). */
interface Svt {
  ut: Float64Array;
  vt: Float64Array;
  w: Float64Array;
  /** Singular values above τ. */
  rank: number;
  /** Singular values computed (rank = computed means the threshold may have cut more). */
  computed: number;
  /** Right singular vectors of a full SVD (the next iteration's warm start). */
  v?: Mat;
}

/**
 * Singular value thresholding of the m×n resident d at τ (the SVD part; L is one GEMM later).
 * Partial mode computes the top `k` triplets only (randomized, k + 10 samples); when all k
 * exceed τ this SVT is truncated, and the caller asks for more next time (Lin et al.'s
 * inexact ALM does the same with PROPACK).
 */
function svt(d: Vec, m: number, n: number, tau: number, k: number, mode: "full" | "partial", v0: Mat | undefined, seed: number): Svt {
  const minDim = Math.min(m, n);
  const weights = (s: Float64Array) => {
    const w = new Float64Array(s.length);
    let rank = 0;
    for (let c = 0; c < s.length; c++) {
      if (s[c] > tau) {
        w[c] = s[c] - tau;
        rank++;
      }
    }
    return { w, rank, computed: s.length };
  };
  if (mode === "partial" && k + 10 < minDim) {
    const t = rangeSvd(d, m, n, k, k + 10, 2, seed);
    return { ut: t.ut, vt: t.vt, ...weights(t.s) };
  }
  // Full SVD (Jacobi, warm-started from the previous V when given), as rows of U and V.
  const full = jacobiSvd(mat(m, n, Float64Array.from(d)), { v0: v0 && v0.rows === n && v0.cols === n && m >= n ? v0 : undefined });
  const sw = weights(full.s);
  const ut = alloc(sw.rank * m, "float64"), vt = alloc(sw.rank * n, "float64");
  const U = full.u.data, V = full.v.data, uc = full.u.cols, vc = full.v.cols;
  for (let c = 0; c < sw.rank; c++) {
    for (let i = 0; i < m; i++) ut[c * m + i] = U[i * uc + c];
    for (let j = 0; j < n; j++) vt[c * n + j] = V[j * vc + c];
  }
  return { ut, vt, ...sw, v: mode === "full" ? full.v : undefined };
}

export function pcp(M: Mat, opts: PcpOptions = {}): RpcaResult {
  checkFinite(M, "input");
  const m = M.rows, n = M.cols, N = m * n;
  const accurate = opts.accurate ?? false;
  const precision = opts.precision ?? "float64";
  if (precision !== "float64" && precision !== "float32") throw new Error(`pcp: precision must be float64 or float32, got ${precision}`);
  const f32 = precision === "float32";
  const lambda = opts.lambda ?? 1 / Math.sqrt(Math.max(m, n));
  const rho = opts.rho ?? (accurate ? 1.1 : 1.5);
  const tol = opts.tol ?? (f32 ? (accurate ? 1e-7 : 1e-6) : accurate ? 1e-10 : 1e-7);
  const maxIter = opts.maxIter ?? (accurate ? 3000 : 500);
  const seed = opts.seed ?? 1;
  const normM = frobenius(M.data);
  const zero = (): RpcaResult => ({ lowRank: mat(m, n), sparse: mat(m, n), iterations: 0, rank: 0, converged: true });
  if (normM === 0) return zero();
  const norm2 = spectralNormOf(M.data, m, n);
  const mu0 = opts.mu0 ?? 1.25 / norm2;
  const muMax = opts.muMax ?? (accurate ? 1e3 : 1e7) * mu0;
  if (!(lambda > 0 && rho >= 1 && mu0 > 0 && muMax >= mu0)) throw new Error(`pcp: bad parameters (λ=${lambda}, ρ=${rho}, μ₀=${mu0}, μ̄=${muMax})`);
  const minDim = Math.min(m, n);
  return scope(() => {
    const D = alloc(N, precision);
    D.set(M.data);
    // Y₀ = M / J(M), J(M) = max(‖M‖₂, ‖M‖_∞/λ).
    const J = Math.max(norm2, maxAbs(M.data) / lambda);
    const Y = alloc(N, precision);
    for (let i = 0; i < N; i++) Y[i] = M.data[i] / J;
    let S = alloc(N, precision), Snew = alloc(N, precision);
    let L = alloc(N, precision), Lnew = alloc(N, precision);
    const work = alloc(N, precision);
    let mu = mu0;
    let predicted = Math.max(1, Math.round(0.1 * minDim));
    let rank = 0;
    let v0: Mat | undefined;
    let converged = false;
    let it = 0;
    for (; it < maxIter; ) {
      it++;
      const inv = 1 / mu;
      subAxpy(D, S, work, Y, inv); // M − S + Y/μ
      const mode = opts.svd === "full" || opts.svd === "partial" ? opts.svd : predicted + 10 < minDim / 3 ? "partial" : "full";
      const moved2 = scope(() => {
        const r = svt(work, m, n, inv, predicted, mode, v0, seed + it);
        v0 = r.v;
        rank = r.rank;
        // Next rank to ask for: one more than found, or 5 % more when all computed were kept.
        predicted = Math.min(minDim, r.rank < r.computed ? r.rank + 1 : r.rank + Math.max(1, Math.round(0.05 * minDim)));
        reconstructRows(r.ut, r.vt, r.w, r.rank, m, n, Lnew);
        return pcpUpdate(D, Lnew, L, Snew, S, Y, inv, lambda * inv, mu);
      });
      [L, Lnew] = [Lnew, L];
      [S, Snew] = [Snew, S];
      const [res, dl, ds] = moved2;
      const residual = Math.sqrt(res) / normM;
      const moved = Math.sqrt(dl + ds) / normM;
      if (!Number.isFinite(residual)) throw new Error(`pcp: diverged at iteration ${it} (non-finite residual)`);
      if (opts.onIteration?.(it, residual, rank) === true) break;
      if (residual < tol && (!accurate || moved < tol)) {
        converged = true;
        break;
      }
      mu = Math.min(mu * rho, muMax);
    }
    return { lowRank: mat(m, n, Float64Array.from(L)), sparse: mat(m, n, Float64Array.from(S)), iterations: it, rank, converged };
  });
}
