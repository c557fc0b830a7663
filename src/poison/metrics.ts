// What a robust-PCA run reports: its own health (residual, rank, sparsity) and, for a problem
// with a known answer, how close it came (relative errors of L and S, F1 of S's support).
import { diffNorm, frobenius, maxAbs, type Mat } from "./linalg.js";

export interface RpcaResult {
  lowRank: Mat;
  sparse: Mat;
  iterations: number;
  /** Numerical rank of L (singular values above 1e-9·σ₁ at the last SVD). */
  rank: number;
  converged: boolean;
}

export interface RpcaStats {
  iterations: number;
  rank: number;
  /** Fraction of entries of S counted as nonzero. */
  sparsity: number;
  /** ‖M − L − S‖_F / ‖M‖_F. */
  residual: number;
}

export interface RecoveryStats {
  lowRankError: number;
  sparseError: number;
  supportF1: number;
}

/** Entries with |x| > tol·max|M| count as the support (soft/hard thresholds leave exact zeros). */
export const SUPPORT_TOL = 1e-6;

export function support(s: Float64Array, scale: number, tol = SUPPORT_TOL): Uint8Array {
  const out = new Uint8Array(s.length);
  const t = tol * scale;
  for (let i = 0; i < s.length; i++) out[i] = Math.abs(s[i]) > t ? 1 : 0;
  return out;
}

export function rpcaStats(m: Mat, r: RpcaResult): RpcaStats {
  const M = m.data, L = r.lowRank.data, S = r.sparse.data;
  let res = 0;
  for (let i = 0; i < M.length; i++) {
    const d = M[i] - L[i] - S[i];
    res += d * d;
  }
  const nm = frobenius(M);
  const supp = support(S, maxAbs(M));
  let nnz = 0;
  for (let i = 0; i < supp.length; i++) nnz += supp[i];
  return { iterations: r.iterations, rank: r.rank, sparsity: nnz / M.length, residual: nm > 0 ? Math.sqrt(res) / nm : Math.sqrt(res) };
}

export function f1(found: Uint8Array, truth: Uint8Array): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < found.length; i++) {
    if (found[i] && truth[i]) tp++;
    else if (found[i]) fp++;
    else if (truth[i]) fn++;
  }
  if (tp + fp + fn === 0) return 1;
  return (2 * tp) / (2 * tp + fp + fn);
}

export function recoveryStats(m: Mat, r: RpcaResult, lowRank: Mat, sparse: Mat): RecoveryStats {
  const nl = frobenius(lowRank.data), ns = frobenius(sparse.data);
  const el = diffNorm(r.lowRank.data, lowRank.data), es = diffNorm(r.sparse.data, sparse.data);
  const scale = maxAbs(m.data);
  return {
    lowRankError: nl > 0 ? el / nl : el,
    sparseError: ns > 0 ? es / ns : es,
    supportF1: f1(support(r.sparse.data, scale), support(sparse.data, scale)),
  };
}

export function checkFinite(m: Mat, what = "matrix"): void {
  const d = m.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new Error(`${what} has a non-finite value (${d[i]}) at row ${Math.floor(i / m.cols) + 1}, column ${(i % m.cols) + 1}`);
  }
}
