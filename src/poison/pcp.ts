// Principal Component Pursuit, min ‖L‖_* + λ‖S‖₁ s.t. L + S = M, by the inexact augmented
// Lagrange multiplier method (Lin, Chen & Ma 2010, Algorithm 5):
//   L ← SVT_{1/μ}(M − S + Y/μ),  S ← shrink_{λ/μ}(M − L + Y/μ),  Y ← Y + μ(M − L − S),  μ ← min(ρμ, μ̄).
// With the usual ρ = 1.5, μ grows so fast that L + S = M is met before the objective is
// optimal (FACTS.md: 6e-2 error at 100×100 rank 25). `accurate` mode grows μ slowly (ρ = 1.1)
// and caps it (μ̄ = 1e3·μ₀ by default), so the tail of the run is fixed-μ ADMM, which does
// converge to the optimum, and tightens the stopping tolerance.
// The SVT uses a randomized partial SVD of predicted rank (grown until the smallest computed
// singular value is below the threshold) when that is much smaller than min(m, n), else a
// full Jacobi SVD warm-started from the previous iterate's right singular vectors.
import { frobenius, jacobiSvd, mat, rsvd, softThreshold, spectralNorm, maxAbs, type Mat, type SVD } from "./linalg.js";
import { checkFinite, type RpcaResult } from "./metrics.js";

export interface PcpOptions {
  /** Weight of ‖S‖₁ (default 1/√max(m, n)). */
  lambda?: number;
  /** μ growth factor (default 1.5; 1.1 in accurate mode). */
  rho?: number;
  /** Initial μ (default 1.25/‖M‖₂). */
  mu0?: number;
  /** Cap on μ (default 1e7·μ₀; 1e3·μ₀ in accurate mode). */
  muMax?: number;
  /** Stop when ‖M − L − S‖_F/‖M‖_F < tol and (accurate mode) the iterates stopped moving (default 1e-7; 1e-10 accurate). */
  tol?: number;
  maxIter?: number;
  accurate?: boolean;
  /** SVD used for the singular value threshold. */
  svd?: "auto" | "full" | "partial";
  seed?: number;
  /** Called after each iteration (progress, interruption: return true to stop). */
  onIteration?: (it: number, residual: number, rank: number) => boolean | void;
}

/** Singular value thresholding: U·max(Σ − τ, 0)·Vᵀ, with the SVD it used. */
function svt(d: Mat, tau: number, predicted: number, mode: "full" | "partial", v0: Mat | undefined, seed: number): { l: Mat; rank: number; svd: SVD } {
  const minDim = Math.min(d.rows, d.cols);
  let svd: SVD;
  if (mode === "partial") {
    let k = Math.max(1, predicted);
    for (;;) {
      svd = rsvd(d, k, { oversample: 10, powerIters: 2, seed });
      if (svd.s.length >= minDim || svd.s[svd.s.length - 1] <= tau) break;
      k = Math.min(minDim, k + Math.max(5, Math.round(0.05 * minDim)));
      if (k >= minDim / 2) {
        svd = jacobiSvd(d);
        break;
      }
    }
  } else {
    svd = jacobiSvd(d, { v0: v0 && v0.rows === d.cols && v0.cols === d.cols && d.rows >= d.cols ? v0 : undefined });
  }
  let rank = 0;
  const w = new Float64Array(svd.s.length);
  for (let c = 0; c < svd.s.length; c++) {
    if (svd.s[c] > tau) {
      w[c] = svd.s[c] - tau;
      rank++;
    }
  }
  const m = d.rows, n = d.cols, l = new Float64Array(m * n);
  const U = svd.u.data, V = svd.v.data, uc = svd.u.cols, vc = svd.v.cols;
  for (let c = 0; c < rank; c++) {
    const wc = w[c];
    for (let i = 0; i < m; i++) {
      const x = U[i * uc + c] * wc;
      const oi = i * n;
      for (let j = 0; j < n; j++) l[oi + j] += x * V[j * vc + c];
    }
  }
  return { l: mat(m, n, l), rank, svd };
}

export function pcp(M: Mat, opts: PcpOptions = {}): RpcaResult {
  checkFinite(M, "input");
  const m = M.rows, n = M.cols, N = m * n;
  const accurate = opts.accurate ?? false;
  const lambda = opts.lambda ?? 1 / Math.sqrt(Math.max(m, n));
  const rho = opts.rho ?? (accurate ? 1.1 : 1.5);
  const tol = opts.tol ?? (accurate ? 1e-10 : 1e-7);
  const maxIter = opts.maxIter ?? (accurate ? 3000 : 500);
  const seed = opts.seed ?? 1;
  const D = M.data;
  const normM = frobenius(D);
  const zero = (): RpcaResult => ({ lowRank: mat(m, n), sparse: mat(m, n), iterations: 0, rank: 0, converged: true });
  if (normM === 0) return zero();
  const norm2 = spectralNorm(M);
  const mu0 = opts.mu0 ?? 1.25 / norm2;
  const muMax = opts.muMax ?? (accurate ? 1e3 : 1e7) * mu0;
  if (!(lambda > 0 && rho >= 1 && mu0 > 0 && muMax >= mu0)) throw new Error(`pcp: bad parameters (λ=${lambda}, ρ=${rho}, μ₀=${mu0}, μ̄=${muMax})`);
  const minDim = Math.min(m, n);
  // Y₀ = M / J(M), J(M) = max(‖M‖₂, ‖M‖_∞/λ).
  const J = Math.max(norm2, maxAbs(D) / lambda);
  const Y = new Float64Array(N);
  for (let i = 0; i < N; i++) Y[i] = D[i] / J;
  let S: Float64Array = new Float64Array(N);
  let L: Float64Array = new Float64Array(N);
  let mu = mu0;
  let predicted = Math.max(1, Math.round(0.1 * minDim));
  let rank = 0;
  let v0: Mat | undefined;
  let converged = false;
  let it = 0;
  const work = new Float64Array(N);
  for (; it < maxIter; ) {
    it++;
    const inv = 1 / mu;
    for (let i = 0; i < N; i++) work[i] = D[i] - S[i] + Y[i] * inv;
    const mode = opts.svd === "full" || opts.svd === "partial" ? opts.svd : predicted + 10 < minDim / 3 ? "partial" : "full";
    const r = svt(mat(m, n, work), inv, predicted + 1, mode, v0, seed + it);
    v0 = mode === "full" ? r.svd.v : undefined;
    const Lnew = r.l.data;
    rank = r.rank;
    predicted = Math.min(minDim, rank + 1);
    for (let i = 0; i < N; i++) work[i] = D[i] - Lnew[i] + Y[i] * inv;
    const Snew = softThreshold(work, lambda * inv);
    let res = 0, dl = 0, ds = 0;
    for (let i = 0; i < N; i++) {
      const z = D[i] - Lnew[i] - Snew[i];
      Y[i] += mu * z;
      res += z * z;
      const a = Lnew[i] - L[i], b = Snew[i] - S[i];
      dl += a * a;
      ds += b * b;
    }
    L = Lnew;
    S = Snew;
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
  return { lowRank: mat(m, n, L), sparse: mat(m, n, S), iterations: it, rank, converged };
}
