// AltProj (Netrapalli, Niranjan, Sanghavi, Anandkumar & Jain 2014): non-convex robust PCA by
// alternating projections with rank stages k = 1..r and hard thresholds that decrease:
//   ζ = β(σ_{k+1}(M − S) + (½)^t σ_k(M − S)),  L ← P_k(M − S),  S ← H_ζ(M − L).
// A stage ends when L stops moving; the next rank is only taken while σ_{k+1}(M − S) is still a
// real singular value. The last stage runs until ‖M − L − S‖/‖M‖ < tol. If the residual grows,
// goes non-finite or never falls below tol, this throws a one-line error rather than return
// a wrong split (β too large — FACTS.md: 2/√n diverged — or too much corruption).
import { frobenius, hardThreshold, mat, reconstruct, rsvd, type Mat, type SVD } from "./linalg.js";
import { checkFinite, type RpcaResult } from "./metrics.js";

export interface AltProjOptions {
  /** Upper bound on the rank of L (the rank hint). */
  rank: number;
  /** Threshold constant (default 1/√n with n = max(m, n)). */
  beta?: number;
  /** Stop when ‖M − L − S‖_F/‖M‖_F < tol (default 1e-10). */
  tol?: number;
  /** σ_{k+1}/σ₁ below this means rank k is enough (default 1e-6). */
  rankTol?: number;
  /** When a stage settles with σ_{k+1} < gapTol·σ_k, rank k is taken as final (default 1e-2). */
  gapTol?: number;
  /** Iterations per intermediate rank stage (default 30). */
  stageIters?: number;
  /** Iterations in the final stage (default 300). */
  maxIter?: number;
  seed?: number;
  onIteration?: (it: number, residual: number, rank: number) => boolean | void;
}

export class AltProjDivergence extends Error {}

export function altproj(M: Mat, opts: AltProjOptions): RpcaResult {
  checkFinite(M, "input");
  const m = M.rows, n = M.cols, N = m * n;
  const minDim = Math.min(m, n);
  const rmax = Math.min(opts.rank, minDim - 1);
  if (!(Number.isInteger(opts.rank) && opts.rank >= 1)) throw new Error(`altproj: rank hint must be an integer ≥ 1, got ${opts.rank}`);
  const beta = opts.beta ?? 1 / Math.sqrt(Math.max(m, n));
  if (!(beta > 0)) throw new Error(`altproj: β must be positive, got ${beta}`);
  const tol = opts.tol ?? 1e-10;
  const rankTol = opts.rankTol ?? 1e-6;
  const gapTol = opts.gapTol ?? 1e-2;
  const stageIters = opts.stageIters ?? 30;
  const maxIter = opts.maxIter ?? 300;
  const seed = opts.seed ?? 1;
  const D = M.data;
  const normM = frobenius(D);
  if (normM === 0) return { lowRank: mat(m, n), sparse: mat(m, n), iterations: 0, rank: 0, converged: true };
  const svdOf = (x: Float64Array, k: number, salt: number): SVD => rsvd(mat(m, n, x), k, { oversample: 10, powerIters: 3, seed: seed + salt });

  const sigma1 = svdOf(D, 1, 0).s[0];
  let S: Float64Array = hardThreshold(D, beta * sigma1);
  let L: Float64Array = new Float64Array(N);
  const work = new Float64Array(N);
  let iterations = 0;
  let k = 1;
  for (;;) {
    const final0 = k >= rmax;
    let final = final0;
    let best = Infinity;
    let tBest = 0;
    let residual = Infinity;
    let limit = final ? maxIter : stageIters;
    for (let t = 0; t < limit; t++) {
      iterations++;
      for (let i = 0; i < N; i++) work[i] = D[i] - S[i];
      const svd = svdOf(work, k + 1, iterations);
      const sk = svd.s[k - 1] ?? 0, sk1 = svd.s[k] ?? 0;
      const zeta = beta * (sk1 + Math.pow(0.5, t) * sk);
      const Lnew = reconstruct(svd, k).data;
      for (let i = 0; i < N; i++) work[i] = D[i] - Lnew[i];
      const Snew = hardThreshold(work, zeta);
      let res = 0, dl = 0;
      for (let i = 0; i < N; i++) {
        const z = D[i] - Lnew[i] - Snew[i];
        res += z * z;
        const a = Lnew[i] - L[i];
        dl += a * a;
      }
      L = Lnew;
      S = Snew;
      residual = Math.sqrt(res) / normM;
      const moved = Math.sqrt(dl) / normM;
      if (!Number.isFinite(residual) || !Number.isFinite(zeta)) {
        throw new AltProjDivergence(`altproj diverged at iteration ${iterations} (rank stage ${k}): non-finite values; try a smaller β (now ${beta.toPrecision(3)})`);
      }
      if (residual < 0.99 * best) tBest = t;
      best = Math.min(best, residual);
      if (final && t - tBest > 40) break; // stalled: reported below as not converged
      if (t >= 5 && residual > 10 * best && residual > 1e-6) {
        throw new AltProjDivergence(`altproj diverged at iteration ${iterations} (rank stage ${k}): residual grew from ${best.toExponential(2)} to ${residual.toExponential(2)}; try a smaller β (now ${beta.toPrecision(3)})`);
      }
      if (opts.onIteration?.(iterations, residual, k) === true) return { lowRank: mat(m, n, L), sparse: mat(m, n, S), iterations, rank: k, converged: false };
      // σ_{k+1} has vanished: rank k explains M − S, so this stage is the last.
      if (!final && sk1 <= rankTol * svd.s[0]) {
        final = true;
        limit = t + maxIter;
      }
      if (final && residual < tol && moved < tol) {
        return { lowRank: mat(m, n, L), sparse: mat(m, n, S), iterations, rank: k, converged: true };
      }
      if (!final && t >= 2 && moved < 1e-3 * Math.max(sk, 1e-300) / normM) {
        // The stage has settled. A clear gap below σ_k means rank k is the answer: finish here.
        if (sk1 < gapTol * sk) {
          final = true;
          limit = t + maxIter;
        } else break;
      }
    }
    if (final || k >= rmax) {
      throw new AltProjDivergence(`altproj did not converge: residual ${residual.toExponential(2)} after ${iterations} iterations at rank ${k} (tol ${tol}); β = ${beta.toPrecision(3)} may be too large, the corruption too dense, or the rank hint too small`);
    }
    k++;
  }
}
