// Float64 dense linear algebra for robust PCA: matrix products, Householder QR, one-sided
// Jacobi SVD, randomized SVD (range finder with power iterations), and the shrinkage
// operators. Matrices are row-major Float64Array with explicit sizes. Plain TypeScript: the
// accuracy targets (1e-5 relative error of L) need float64, and these loops are small next to
// the products, which are written cache-friendly (row axpys / row dots).
import { Stream } from "../core/random.js";

/** A row-major m×n matrix. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function mat(rows: number, cols: number, data?: Float64Array): Mat {
  if (data && data.length !== rows * cols) throw new Error(`matrix data has ${data.length} values, expected ${rows}×${cols}`);
  return { rows, cols, data: data ?? new Float64Array(rows * cols) };
}

export function transpose(a: Mat): Mat {
  const { rows: m, cols: n, data } = a;
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = data[i * n + j];
  return mat(n, m, t);
}

/** C = A·B. */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const m = a.rows, k = a.cols, n = b.cols;
  const A = a.data, B = b.data, C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const x = A[i * k + p];
      if (x === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += x * B[bp + j];
    }
  }
  return mat(m, n, C);
}

/** C = Aᵀ·B (A is k×m, B is k×n). */
export function matmulTN(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows) throw new Error(`matmulTN: (${a.rows}×${a.cols})ᵀ · ${b.rows}×${b.cols}`);
  const k = a.rows, m = a.cols, n = b.cols;
  const A = a.data, B = b.data, C = new Float64Array(m * n);
  for (let p = 0; p < k; p++) {
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const x = A[p * m + i];
      if (x === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) C[ci + j] += x * B[bp + j];
    }
  }
  return mat(m, n, C);
}

/** C = A·Bᵀ (A is m×k, B is n×k). */
export function matmulNT(a: Mat, b: Mat): Mat {
  if (a.cols !== b.cols) throw new Error(`matmulNT: ${a.rows}×${a.cols} · (${b.rows}×${b.cols})ᵀ`);
  const m = a.rows, k = a.cols, n = b.rows;
  const A = a.data, B = b.data, C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += A[ai + p] * B[bj + p];
      C[i * n + j] = s;
    }
  }
  return mat(m, n, C);
}

export function frobenius(a: Float64Array): number {
  // Scaled sum of squares would guard against overflow; robust-PCA data never gets near it.
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export function maxAbs(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > s || v !== v) s = v;
  }
  return s;
}

/** ‖a − b‖_F. */
export function diffNorm(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/** Elementwise soft threshold: sign(x)·max(|x|−τ, 0), into `out` (may alias x). */
export function softThreshold(x: Float64Array, tau: number, out = new Float64Array(x.length)): Float64Array {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > tau ? v - tau : v < -tau ? v + tau : 0;
  }
  return out;
}

/** Elementwise hard threshold: x where |x| > τ, else 0, into `out` (may alias x). */
export function hardThreshold(x: Float64Array, tau: number, out = new Float64Array(x.length)): Float64Array {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > tau || v < -tau ? v : 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Householder QR

export interface QR {
  /** m×k with orthonormal columns (thin Q). */
  q: Mat;
  /** k×k upper triangular. */
  r: Mat;
}

/** Thin Householder QR of an m×k matrix with m ≥ k. */
export function qr(a: Mat): QR {
  const m = a.rows, k = a.cols;
  if (m < k) throw new Error(`qr: needs rows ≥ cols, got ${m}×${k}`);
  // Work on the transpose so each column is a contiguous row.
  const W = transpose(a).data; // k×m, row j = column j of A
  const vs = new Float64Array(k * m); // Householder vectors, row j (entries j..m-1)
  const betas = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const cj = j * m;
    let norm = 0;
    for (let i = j; i < m; i++) norm += W[cj + i] * W[cj + i];
    norm = Math.sqrt(norm);
    const vj = j * m;
    if (norm === 0) {
      betas[j] = 0;
      continue;
    }
    const alpha = W[cj + j] >= 0 ? -norm : norm;
    for (let i = j; i < m; i++) vs[vj + i] = W[cj + i];
    vs[vj + j] -= alpha;
    let vnorm2 = 0;
    for (let i = j; i < m; i++) vnorm2 += vs[vj + i] * vs[vj + i];
    const beta = vnorm2 > 0 ? 2 / vnorm2 : 0;
    betas[j] = beta;
    // Apply H = I − β v vᵀ to columns j..k-1.
    for (let c = j; c < k; c++) {
      const cc = c * m;
      let d = 0;
      for (let i = j; i < m; i++) d += vs[vj + i] * W[cc + i];
      d *= beta;
      for (let i = j; i < m; i++) W[cc + i] -= d * vs[vj + i];
    }
  }
  const R = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) R[i * k + j] = W[j * m + i];
  // Q = H_0 H_1 … H_{k-1} [I_k; 0], built column by column (rows of Qt).
  const Qt = new Float64Array(k * m);
  for (let c = 0; c < k; c++) Qt[c * m + c] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const beta = betas[j];
    if (beta === 0) continue;
    const vj = j * m;
    for (let c = 0; c < k; c++) {
      const cc = c * m;
      let d = 0;
      for (let i = j; i < m; i++) d += vs[vj + i] * Qt[cc + i];
      d *= beta;
      if (d !== 0) for (let i = j; i < m; i++) Qt[cc + i] -= d * vs[vj + i];
    }
  }
  return { q: transpose(mat(k, m, Qt)), r: mat(k, k, R) };
}

// ---------------------------------------------------------------------------------------------
// One-sided Jacobi SVD

export interface SVD {
  /** m×k, orthonormal columns (columns for zero singular values are zero). */
  u: Mat;
  /** k singular values, descending. */
  s: Float64Array;
  /** n×k, orthonormal columns. */
  v: Mat;
  /** Jacobi sweeps used (0 for the randomized path's outer loop). */
  sweeps: number;
}

export interface JacobiOptions {
  /** Rotation threshold on |cos angle| between column pairs. */
  tol?: number;
  maxSweeps?: number;
  /** n×n orthogonal starting V (e.g. the previous iterate's V): converges in 1–3 sweeps when close. */
  v0?: Mat;
}

/**
 * Thin SVD of an m×n matrix by one-sided (Hestenes) Jacobi. Accurate to working precision in
 * every singular value, including the small ones. Cost O(sweeps · m · n²).
 */
export function jacobiSvd(a: Mat, opts: JacobiOptions = {}): SVD {
  if (a.rows < a.cols) {
    const t = jacobiSvd(transpose(a), { ...opts, v0: undefined });
    return { u: t.v, s: t.s, v: t.u, sweeps: t.sweeps };
  }
  const m = a.rows, n = a.cols;
  const tol = opts.tol ?? 1e-15;
  const maxSweeps = opts.maxSweeps ?? 60;
  let W: Float64Array; // n×m: row j = column j of A·V
  let Vt: Float64Array; // n×n: row j = column j of V
  if (opts.v0) {
    if (opts.v0.rows !== n || opts.v0.cols !== n) throw new Error(`jacobiSvd: v0 must be ${n}×${n}`);
    W = matmulTN(opts.v0, transpose(a)).data; // (A V0)ᵀ = V0ᵀ Aᵀ
    Vt = transpose(opts.v0).data;
  } else {
    W = transpose(a).data;
    Vt = new Float64Array(n * n);
    for (let j = 0; j < n; j++) Vt[j * n + j] = 1;
  }
  const norms = new Float64Array(n);
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      const r = j * m;
      for (let i = 0; i < m; i++) s += W[r + i] * W[r + i];
      norms[j] = s;
    }
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const rp = p * m;
      for (let q = p + 1; q < n; q++) {
        const alpha = norms[p], beta = norms[q];
        if (alpha === 0 || beta === 0) continue;
        const rq = q * m;
        let gamma = 0;
        for (let i = 0; i < m; i++) gamma += W[rp + i] * W[rq + i];
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = W[rp + i], y = W[rq + i];
          W[rp + i] = c * x - s * y;
          W[rq + i] = s * x + c * y;
        }
        const vp = p * n, vq = q * n;
        for (let i = 0; i < n; i++) {
          const x = Vt[vp + i], y = Vt[vq + i];
          Vt[vp + i] = c * x - s * y;
          Vt[vq + i] = s * x + c * y;
        }
        norms[p] = alpha - t * gamma;
        norms[q] = beta + t * gamma;
      }
    }
    if (!rotated) break;
  }
  const sig = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    const r = j * m;
    for (let i = 0; i < m; i++) s += W[r + i] * W[r + i];
    sig[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => sig[y] - sig[x]);
  const U = new Float64Array(m * n), V = new Float64Array(n * n), S = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const j = order[c];
    S[c] = sig[j];
    const inv = sig[j] > 0 ? 1 / sig[j] : 0;
    for (let i = 0; i < m; i++) U[i * n + c] = W[j * m + i] * inv;
    for (let i = 0; i < n; i++) V[i * n + c] = Vt[j * n + i];
  }
  return { u: mat(m, n, U), s: S, v: mat(n, n, V), sweeps };
}

// ---------------------------------------------------------------------------------------------
// Randomized SVD (Halko, Martinsson & Tropp)

export interface RsvdOptions {
  oversample?: number;
  powerIters?: number;
  seed?: number;
}

/** A Gaussian n×l test matrix from a seeded stream. */
export function gaussian(rows: number, cols: number, seed: number, stream = 0x5256): Mat {
  const g = new Stream(seed, stream);
  const d = new Float64Array(rows * cols);
  for (let i = 0; i < d.length; i++) d[i] = g.normal();
  return mat(rows, cols, d);
}

/**
 * Top-k SVD of A by a randomized range finder (k + oversample columns, `powerIters` rounds of
 * re-orthonormalised power iteration) and a Jacobi SVD of the small projected matrix.
 */
export function rsvd(a: Mat, k: number, opts: RsvdOptions = {}): SVD {
  const m = a.rows, n = a.cols;
  const kk = Math.min(k, m, n);
  const l = Math.min(kk + (opts.oversample ?? 10), m, n);
  if (l >= Math.min(m, n)) {
    const full = jacobiSvd(a);
    return truncate(full, kk);
  }
  const omega = gaussian(n, l, opts.seed ?? 1);
  let q = qr(matmul(a, omega)).q; // m×l
  for (let it = 0; it < (opts.powerIters ?? 2); it++) {
    const z = qr(matmulTN(a, q)).q; // n×l
    q = qr(matmul(a, z)).q;
  }
  const bt = matmulTN(a, q); // n×l = (Qᵀ A)ᵀ
  const small = jacobiSvd(bt); // Bᵀ = Ub S Vbᵀ → B = Vb S Ubᵀ
  const u = matmul(q, small.v); // m×l
  return truncate({ u, s: small.s, v: small.u, sweeps: small.sweeps }, kk);
}

/** The first k singular triplets. */
export function truncate(svd: SVD, k: number): SVD {
  const kk = Math.min(k, svd.s.length);
  const take = (x: Mat): Mat => {
    const d = new Float64Array(x.rows * kk);
    for (let i = 0; i < x.rows; i++) for (let j = 0; j < kk; j++) d[i * kk + j] = x.data[i * x.cols + j];
    return mat(x.rows, kk, d);
  };
  return { u: take(svd.u), s: svd.s.slice(0, kk), v: take(svd.v), sweeps: svd.sweeps };
}

/** U · diag(w) · Vᵀ for the first k triplets (w defaults to s). */
export function reconstruct(svd: SVD, k = svd.s.length, w?: Float64Array): Mat {
  const m = svd.u.rows, n = svd.v.rows;
  const out = new Float64Array(m * n);
  const U = svd.u.data, V = svd.v.data, uc = svd.u.cols, vc = svd.v.cols;
  const weights = w ?? svd.s;
  for (let c = 0; c < k; c++) {
    const wc = weights[c];
    if (wc === 0) continue;
    for (let i = 0; i < m; i++) {
      const x = U[i * uc + c] * wc;
      if (x === 0) continue;
      const oi = i * n;
      for (let j = 0; j < n; j++) out[oi + j] += x * V[j * vc + c];
    }
  }
  return mat(m, n, out);
}

/** Largest singular value by power iteration on AᵀA. */
export function spectralNorm(a: Mat, iters = 100, seed = 7): number {
  let v = gaussian(a.cols, 1, seed, 0x534e).data;
  let s = 0;
  for (let it = 0; it < iters; it++) {
    const nv = frobenius(v);
    if (nv === 0) return 0;
    for (let i = 0; i < v.length; i++) v[i] /= nv;
    const av = matmul(a, mat(a.cols, 1, v));
    const s2 = frobenius(av.data);
    v = matmulTN(a, av).data;
    if (Math.abs(s2 - s) <= 1e-12 * s2) return s2;
    s = s2;
  }
  return s;
}
