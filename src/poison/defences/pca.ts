// Principal directions of a centred per-class matrix, through the project's randomized SVD.
import { mat, rsvd } from "../linalg.js";

/**
 * The top-k right singular vectors of the centred m × n matrix x, as k rows of length n
 * (row c is direction c). Seeded, so a defence gives the same verdicts on every run.
 */
export function topDirections(x: Float64Array, m: number, n: number, k: number, seed: number): { dirs: Float64Array; k: number; values: Float64Array } {
  const kk = Math.max(1, Math.min(k, m, n));
  const svd = rsvd(mat(m, n, x), kk, { oversample: 10, powerIters: 4, seed });
  const got = svd.s.length;
  const dirs = new Float64Array(got * n);
  for (let c = 0; c < got; c++) for (let j = 0; j < n; j++) dirs[c * n + j] = svd.v.data[j * svd.v.cols + c];
  for (let i = 0; i < dirs.length; i++) if (!Number.isFinite(dirs[i])) throw new Error("PCA produced non-finite directions");
  return { dirs, k: got, values: svd.s.slice(0, got) };
}

/** y (m × k) = x (m × n) · dirsᵀ (dirs: k × n). */
export function project(x: Float64Array, m: number, n: number, dirs: Float64Array, k: number): Float64Array {
  const y = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let c = 0; c < k; c++) {
      let s = 0;
      const d = c * n;
      for (let j = 0; j < n; j++) s += x[row + j] * dirs[d + j];
      y[i * k + c] = s;
    }
  }
  return y;
}
