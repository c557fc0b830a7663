// Dense linear algebra for robust PCA: matrix products, Householder QR, one-sided Jacobi SVD,
// randomized SVD (range finder with power iterations), and the shrinkage operators. Matrices
// are row-major Float64Array with explicit sizes. The O(n³)/O(mnk) work runs in the WASM core
// (assembly/linalg.ts: f64x2 GEMM, Householder QR, Jacobi sweeps; the f32 GEMM of gemm.ts in
// float32 mode) through src/poison/wasm.ts; the small O(k³) pieces stay in TypeScript.
import { Stream } from "../core/random.js";
import { alloc, gemm, kernels, precisionOf, ptr, resident, scope, type Precision, type Vec } from "./wasm.js";

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

/** op(A)·op(B) through the WASM GEMM (operands copied in, the product copied out). */
function product(transA: boolean, transB: boolean, a: Mat, b: Mat, M: number, N: number, K: number): Mat {
  return scope(() => {
    const c = alloc(M * N, "float64");
    gemm(transA, transB, M, N, K, resident(a.data, "float64"), resident(b.data, "float64"), c);
    return mat(M, N, c.slice());
  });
}

/** C = A·B. */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  return product(false, false, a, b, a.rows, b.cols, a.cols);
}

/** C = Aᵀ·B (A is k×m, B is k×n). */
export function matmulTN(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows) throw new Error(`matmulTN: (${a.rows}×${a.cols})ᵀ · ${b.rows}×${b.cols}`);
  return product(true, false, a, b, a.cols, b.cols, a.rows);
}

/** C = A·Bᵀ (A is m×k, B is n×k). */
export function matmulNT(a: Mat, b: Mat): Mat {
  if (a.cols !== b.cols) throw new Error(`matmulNT: ${a.rows}×${a.cols} · (${b.rows}×${b.cols})ᵀ`);
  return product(false, true, a, b, a.rows, b.rows, a.cols);
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

/**
 * Householder QR of the m×k matrix whose columns are the k rows of `w` (a WASM-resident k×m
 * float64 array, overwritten). Returns Qᵀ (resident k×m, inside the caller's scope) and R.
 */
export function qrRows(w: Float64Array, k: number, m: number): { qt: Float64Array; r: Float64Array } {
  if (m < k) throw new Error(`qr: needs rows ≥ cols, got ${m}×${k}`);
  const K = kernels();
  const r = alloc(k * k, "float64"), betas = alloc(k, "float64"), qt = alloc(k * m, "float64");
  K.householderQr(ptr(w), k, m, ptr(r), ptr(betas));
  K.householderQ(ptr(w), k, m, ptr(betas), ptr(qt));
  return { qt, r: r.slice() };
}

/** Thin Householder QR of an m×k matrix with m ≥ k. */
export function qr(a: Mat): QR {
  const m = a.rows, k = a.cols;
  if (m < k) throw new Error(`qr: needs rows ≥ cols, got ${m}×${k}`);
  return scope(() => {
    const w = alloc(k * m, "float64");
    w.set(transpose(a).data);
    const { qt, r } = qrRows(w, k, m);
    return { q: transpose(mat(k, m, qt.slice())), r: mat(k, k, r) };
  });
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
 * every singular value, including the small ones. Cost O(sweeps · m · n²); the sweeps run in
 * WASM (assembly/linalg.ts jacobiSweep).
 */
export function jacobiSvd(a: Mat, opts: JacobiOptions = {}): SVD {
  if (a.rows < a.cols) {
    const t = jacobiSvd(transpose(a), { ...opts, v0: undefined });
    return { u: t.v, s: t.s, v: t.u, sweeps: t.sweeps };
  }
  const m = a.rows, n = a.cols;
  const tol = opts.tol ?? 1e-15;
  const maxSweeps = opts.maxSweeps ?? 60;
  if (opts.v0 && (opts.v0.rows !== n || opts.v0.cols !== n)) throw new Error(`jacobiSvd: v0 must be ${n}×${n}`);
  const K = kernels();
  return scope(() => {
    const W = alloc(n * m, "float64"); // row j = column j of A·V
    const Vt = alloc(n * n, "float64"); // row j = column j of V
    if (opts.v0) {
      gemm(true, true, n, m, n, resident(opts.v0.data, "float64"), resident(a.data, "float64"), W); // (A V0)ᵀ = V0ᵀ Aᵀ
      Vt.set(transpose(opts.v0).data);
    } else {
      W.set(transpose(a).data);
      for (let j = 0; j < n; j++) Vt[j * n + j] = 1;
    }
    const norms = alloc(n, "float64");
    const rowNorms = () => {
      for (let j = 0; j < n; j++) norms[j] = K.dsumSquares(m, ptr(W) + j * m * 8);
    };
    let sweeps = 0;
    for (; sweeps < maxSweeps; sweeps++) {
      rowNorms();
      if (K.jacobiSweep(ptr(W), ptr(Vt), ptr(norms), n, m, n, tol) === 0) break;
    }
    rowNorms();
    const sig = new Float64Array(n);
    for (let j = 0; j < n; j++) sig[j] = Math.sqrt(norms[j]);
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
  });
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

/** Top-k singular triplets with the vectors stored as rows: ut (k×m), vt (k×n). */
export interface ThinSvd {
  ut: Float64Array;
  s: Float64Array;
  vt: Float64Array;
  k: number;
  /** All l computed right singular vectors (rows), to warm-start the next call. */
  vtAll?: Float64Array;
}

/** x in float64 (a view of x itself when it already is). */
function asF64(x: Vec): Float64Array {
  return x instanceof Float64Array ? x : (resident(x, "float64") as Float64Array);
}

/**
 * Randomized top-k SVD of the m×n matrix `a` (WASM-resident, float64 or float32) with l ≥ k
 * sampled columns and `powerIters` re-orthonormalised power iterations. The products with a
 * run in a's precision; the thin factors (l×m, l×n) are orthonormalised in float64 by
 * Householder QR. The small l×l step is QR-preconditioned: B = QᵀA has Bᵀ = Q_b R_b, and
 * R_b = U_r Σ V_rᵀ by Jacobi gives A ≈ (Q V_r) Σ (Q_b U_r)ᵀ. Returned arrays are resident in
 * the caller's scope. With `start` (rows of right singular vectors of a nearby matrix, e.g.
 * the previous iterate's), Ω begins from them: subspace iteration with a warm start, which
 * needs fewer power iterations.
 */
export function rangeSvd(a: Vec, m: number, n: number, k: number, l: number, powerIters: number, seed: number, start?: Float64Array): ThinSvd {
  const p: Precision = precisionOf(a);
  if (!(k >= 1 && l >= k && l <= Math.min(m, n))) throw new Error(`internal: rangeSvd k=${k}, l=${l} for ${m}×${n}`);
  const inP = (x: Float64Array) => resident(x, p);
  const orth = (y: Vec, rows: number, cols: number) => {
    const w = alloc(rows * cols, "float64");
    w.set(y);
    return qrRows(w, rows, cols).qt;
  };
  const yt = alloc(l * m, p), zt = alloc(l * n, p);
  // Ω: the given start (rows of a nearby V, as in subspace iteration), topped up with Gaussian rows.
  const given = start ? Math.min(Math.floor(start.length / n), l) : 0;
  const omegaT = new Float64Array(l * n);
  if (start) omegaT.set(start.subarray(0, given * n));
  if (given < l) omegaT.set(gaussian(l - given, n, seed).data, given * n);
  gemm(false, true, l, m, n, inP(omegaT), a, yt); // Yᵀ = Ωᵀ Aᵀ
  let qt = orth(yt, l, m);
  for (let it = 0; it < powerIters; it++) {
    gemm(false, false, l, n, m, inP(qt), a, zt); // Zᵀ = Qᵀ A
    gemm(false, true, l, m, n, inP(orth(zt, l, n)), a, yt);
    qt = orth(yt, l, m);
  }
  gemm(false, false, l, n, m, inP(qt), a, zt); // B = Qᵀ A (l×n)
  const b = alloc(l * n, "float64");
  b.set(zt);
  const { qt: qbt, r } = qrRows(b, l, n); // Bᵀ = Q_b R_b
  const small = jacobiSvd(mat(l, l, r)); // R_b = U_r Σ V_rᵀ
  const ut = alloc(l * m, "float64"), vt = alloc(l * n, "float64");
  gemm(true, false, l, m, l, resident(small.v.data, "float64"), asF64(qt), ut); // (Q V_r)ᵀ
  gemm(true, false, l, n, l, resident(small.u.data, "float64"), qbt, vt); // (Q_b U_r)ᵀ
  return { ut: ut.subarray(0, k * m), s: small.s.slice(0, k), vt: vt.subarray(0, k * n), k, vtAll: vt };
}

/**
 * Top-k SVD of A by a randomized range finder (k + oversample columns, `powerIters` rounds of
 * re-orthonormalised power iteration), see rangeSvd.
 */
export function rsvd(a: Mat, k: number, opts: RsvdOptions = {}): SVD {
  const m = a.rows, n = a.cols;
  const kk = Math.min(k, m, n);
  const l = Math.min(kk + (opts.oversample ?? 10), m, n);
  if (l >= Math.min(m, n)) return truncate(jacobiSvd(a), kk);
  return scope(() => {
    const t = rangeSvd(resident(a.data, "float64"), m, n, kk, l, opts.powerIters ?? 2, opts.seed ?? 1);
    return { u: transpose(mat(kk, m, t.ut.slice())), s: t.s, v: transpose(mat(kk, n, t.vt.slice())), sweeps: 0 };
  });
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

/**
 * out (m×n, resident, its own precision) = Σ_c w_c u_c v_cᵀ over the first k rows of ut
 * (k×m) and vt (k×n), by one GEMM (ut scaled by w first).
 */
export function reconstructRows(ut: Float64Array, vt: Float64Array, w: Float64Array, k: number, m: number, n: number, out: Vec): void {
  const p = precisionOf(out);
  if (k === 0) {
    out.fill(0);
    return;
  }
  scope(() => {
    const us = alloc(k * m, p), vs = alloc(k * n, p);
    for (let c = 0; c < k; c++) {
      const wc = w[c];
      for (let i = 0; i < m; i++) us[c * m + i] = ut[c * m + i] * wc;
    }
    vs.set(vt.subarray(0, k * n));
    gemm(true, false, m, n, k, us, vs, out);
  });
}

/** U · diag(w) · Vᵀ for the first k triplets (w defaults to s). */
export function reconstruct(svd: SVD, k = svd.s.length, w?: Float64Array): Mat {
  const m = svd.u.rows, n = svd.v.rows;
  const kk = Math.min(k, svd.s.length);
  const rows = (x: Mat) => {
    const t = new Float64Array(kk * x.rows);
    for (let i = 0; i < x.rows; i++) for (let c = 0; c < kk; c++) t[c * x.rows + i] = x.data[i * x.cols + c];
    return t;
  };
  return scope(() => {
    const out = alloc(m * n, "float64");
    reconstructRows(rows(svd.u), rows(svd.v), w ?? svd.s, kk, m, n, out);
    return mat(m, n, out.slice());
  });
}

/** Largest singular value of the m×n matrix in `a` by power iteration on AᵀA (matvecs in WASM). */
export function spectralNormOf(a: Vec, m: number, n: number, iters = 100, seed = 7): number {
  const K = kernels();
  return scope(() => {
    const A = resident(a, "float64");
    const v = alloc(n, "float64"), av = alloc(m, "float64");
    v.set(gaussian(n, 1, seed, 0x534e).data);
    let s = 0;
    for (let it = 0; it < iters; it++) {
      const nv = frobenius(v);
      if (nv === 0) return 0;
      for (let i = 0; i < n; i++) v[i] /= nv;
      K.dgemv(0, m, n, ptr(A), ptr(v), ptr(av));
      const s2 = frobenius(av);
      K.dgemv(1, m, n, ptr(A), ptr(av), ptr(v));
      if (Math.abs(s2 - s) <= 1e-12 * s2) return s2;
      s = s2;
    }
    return s;
  });
}

/** Largest singular value by power iteration on AᵀA. */
export function spectralNorm(a: Mat, iters = 100, seed = 7): number {
  return spectralNormOf(a.data, a.rows, a.cols, iters, seed);
}
