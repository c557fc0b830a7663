// Float64 dense linear algebra for robust PCA (src/poison): a blocked f64x2 GEMM, the two
// halves of a Householder QR, one sweep of one-sided Jacobi, and the fused elementwise
// passes of the PCP and AltProj iterations (thresholds with their residual sums).
// Row-major; pointers are byte addresses; nothing allocates.
//
// GEMM: the blocking of gemm.ts (GotoBLAS order: B block KC×NC in panels of NR columns,
// A block MC×KC in panels of MR rows) with a 4×4 f64 register tile — 8 v128 accumulators,
// the same register budget as the f32 4×8 tile (V8 spills beyond ~12 live vectors).
// Transposition is folded into the packing, so NN, NT, TN and TT run one micro-kernel.

const MR: i32 = 4;
const NR: i32 = 4;
const KC: i32 = 256;
const MC: i32 = 64;
const NC: i32 = 256;
const PB_BYTES: i32 = KC * NC * 8;
const PA_BYTES: i32 = MC * KC * 8;

export function dgemmWorkBytes(): i32 {
  return PB_BYTES + PA_BYTES;
}

// a·b + c, fused in the relaxed-SIMD build.
// @ts-ignore: decorator
@inline
function madd2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f64x2.relaxed_madd(a, b, c);
  } else {
    return f64x2.add(f64x2.mul(a, b), c);
  }
}

// B block (rows k0..k0+kb, cols j0..j0+nb of op(B)) → panels of NR columns, k-major,
// zero-padded.
function packB(trans: i32, b: usize, ldb: i32, k0: i32, kb: i32, j0: i32, nb: i32, dst: usize): void {
  const ld = <usize>ldb * 8;
  for (let jp = 0; jp < nb; jp += NR) {
    const w = min(NR, nb - jp);
    let d = dst + <usize>(jp * kb) * 8;
    if (trans == 0) {
      let s = b + <usize>k0 * ld + <usize>(j0 + jp) * 8;
      if (w == NR) {
        for (let k = 0; k < kb; k++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += ld;
          d += NR * 8;
        }
      } else {
        for (let k = 0; k < kb; k++) {
          for (let j = 0; j < NR; j++) store<f64>(d + <usize>j * 8, j < w ? load<f64>(s + <usize>j * 8) : 0);
          s += ld;
          d += NR * 8;
        }
      }
    } else {
      // B stored [N,K]: column j of op(B) is row j, contiguous in k.
      const s0 = b + <usize>(j0 + jp) * ld + <usize>k0 * 8;
      if (w == NR) {
        const s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
        const k2 = kb & ~1;
        let o: usize = 0;
        for (let k = 0; k < k2; k += 2) {
          const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o), r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
          v128.store(d, i64x2.shuffle(r0, r1, 0, 2));
          v128.store(d, i64x2.shuffle(r2, r3, 0, 2), 16);
          v128.store(d, i64x2.shuffle(r0, r1, 1, 3), 32);
          v128.store(d, i64x2.shuffle(r2, r3, 1, 3), 48);
          o += 16;
          d += 2 * NR * 8;
        }
        if (k2 < kb) {
          store<f64>(d, load<f64>(s0 + o));
          store<f64>(d, load<f64>(s1 + o), 8);
          store<f64>(d, load<f64>(s2 + o), 16);
          store<f64>(d, load<f64>(s3 + o), 24);
        }
      } else {
        for (let k = 0; k < kb; k++) {
          for (let j = 0; j < NR; j++) store<f64>(d + <usize>j * 8, j < w ? load<f64>(s0 + <usize>j * ld + <usize>k * 8) : 0);
          d += NR * 8;
        }
      }
    }
  }
}

// A block (rows i0..i0+mb of op(A), cols k0..k0+kb) → panels of MR rows, k-major,
// zero-padded.
function packA(trans: i32, a: usize, lda: i32, i0: i32, mb: i32, k0: i32, kb: i32, dst: usize): void {
  const ld = <usize>lda * 8;
  for (let ip = 0; ip < mb; ip += MR) {
    const h = min(MR, mb - ip);
    let d = dst + <usize>(ip * kb) * 8;
    if (trans == 0) {
      // A is [M,K]: 4 rows, each contiguous in k.
      const s0 = a + <usize>(i0 + ip) * ld + <usize>k0 * 8;
      if (h == MR) {
        const s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
        const k2 = kb & ~1;
        let o: usize = 0;
        for (let k = 0; k < k2; k += 2) {
          const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o), r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
          v128.store(d, i64x2.shuffle(r0, r1, 0, 2));
          v128.store(d, i64x2.shuffle(r2, r3, 0, 2), 16);
          v128.store(d, i64x2.shuffle(r0, r1, 1, 3), 32);
          v128.store(d, i64x2.shuffle(r2, r3, 1, 3), 48);
          o += 16;
          d += 2 * MR * 8;
        }
        if (k2 < kb) {
          store<f64>(d, load<f64>(s0 + o));
          store<f64>(d, load<f64>(s1 + o), 8);
          store<f64>(d, load<f64>(s2 + o), 16);
          store<f64>(d, load<f64>(s3 + o), 24);
        }
      } else {
        for (let k = 0; k < kb; k++) {
          for (let r = 0; r < MR; r++) store<f64>(d + <usize>r * 8, r < h ? load<f64>(s0 + <usize>r * ld + <usize>k * 8) : 0);
          d += MR * 8;
        }
      }
    } else {
      // A stored [K,M]: the 4 rows at one k are 4 contiguous doubles.
      let s = a + <usize>k0 * ld + <usize>(i0 + ip) * 8;
      if (h == MR) {
        for (let k = 0; k < kb; k++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += ld;
          d += MR * 8;
        }
      } else {
        for (let k = 0; k < kb; k++) {
          for (let r = 0; r < MR; r++) store<f64>(d + <usize>r * 8, r < h ? load<f64>(s + <usize>r * 8) : 0);
          s += ld;
          d += MR * 8;
        }
      }
    }
  }
}

// Writes (or adds) the first w ≤ 4 lanes of the row (lo, hi) at c.
// @ts-ignore: decorator
@inline
function storeRow(c: usize, lo: v128, hi: v128, w: i32, add: bool): void {
  if (w == NR) {
    if (add) {
      v128.store(c, f64x2.add(v128.load(c), lo));
      v128.store(c, f64x2.add(v128.load(c, 16), hi), 16);
    } else {
      v128.store(c, lo);
      v128.store(c, hi, 16);
    }
  } else {
    for (let j = 0; j < w; j++) {
      const v = j == 0 ? f64x2.extract_lane(lo, 0) : j == 1 ? f64x2.extract_lane(lo, 1) : f64x2.extract_lane(hi, 0);
      const p = c + <usize>j * 8;
      store<f64>(p, add ? load<f64>(p) + v : v);
    }
  }
}

// 4×4 tile: C[0..h, 0..w] (+)= Apanel(4×kb) · Bpanel(kb×4).
function kernel(kb: i32, pa: usize, pb: usize, c: usize, ldc: i32, h: i32, w: i32, add: bool): void {
  let c0l = f64x2.splat(0), c0h = f64x2.splat(0);
  let c1l = f64x2.splat(0), c1h = f64x2.splat(0);
  let c2l = f64x2.splat(0), c2h = f64x2.splat(0);
  let c3l = f64x2.splat(0), c3h = f64x2.splat(0);
  for (let k = 0; k < kb; k++) {
    const bl = v128.load(pb);
    const bh = v128.load(pb, 16);
    let a = v128.load64_splat(pa);
    c0l = madd2(a, bl, c0l); c0h = madd2(a, bh, c0h);
    a = v128.load64_splat(pa, 8);
    c1l = madd2(a, bl, c1l); c1h = madd2(a, bh, c1h);
    a = v128.load64_splat(pa, 16);
    c2l = madd2(a, bl, c2l); c2h = madd2(a, bh, c2h);
    a = v128.load64_splat(pa, 24);
    c3l = madd2(a, bl, c3l); c3h = madd2(a, bh, c3h);
    pa += MR * 8;
    pb += NR * 8;
  }
  const rs = <usize>ldc * 8;
  storeRow(c, c0l, c0h, w, add);
  if (h > 1) storeRow(c + rs, c1l, c1h, w, add);
  if (h > 2) storeRow(c + 2 * rs, c2l, c2h, w, add);
  if (h > 3) storeRow(c + 3 * rs, c3l, c3h, w, add);
}

/**
 * C = op(A)·op(B) (accumulate = 0) or C += op(A)·op(B) (accumulate = 1), float64.
 * transA = 0: A is [M,K] with row stride lda; 1: A is [K,M]. transB = 0: B is [K,N]; 1: B is
 * [N,K]. `work` holds dgemmWorkBytes() bytes.
 */
export function dgemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: i32, work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (accumulate == 0) for (let i = 0; i < M; i++) memory.fill(c + <usize>i * <usize>ldc * 8, 0, <usize>N * 8);
    return;
  }
  const pbBuf = work;
  const paBuf = work + <usize>PB_BYTES;
  const nk = (K + KC - 1) / KC;
  const kstep = min(KC, (((K + nk - 1) / nk) + 1) & ~1);
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nb = min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += kstep) {
      const kb = min(kstep, K - k0);
      const add = accumulate != 0 || k0 > 0;
      packB(transB, b, ldb, k0, kb, j0, nb, pbBuf);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mb = min(MC, M - i0);
        packA(transA, a, lda, i0, mb, k0, kb, paBuf);
        for (let jp = 0; jp < nb; jp += NR) {
          const w = min(NR, nb - jp);
          const pb = pbBuf + <usize>(jp * kb) * 8;
          for (let ip = 0; ip < mb; ip += MR) {
            const h = min(MR, mb - ip);
            const cp = c + (<usize>(i0 + ip) * <usize>ldc + <usize>(j0 + jp)) * 8;
            kernel(kb, paBuf + <usize>(ip * kb) * 8, pb, cp, ldc, h, w, add);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Vector helpers (n doubles from unaligned addresses).

// @ts-ignore: decorator
@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

function dot(x: usize, y: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  const n4 = n & ~3;
  let o: usize = 0;
  const end = <usize>n4 * 8;
  for (; o < end; o += 32) {
    s0 = madd2(v128.load(x + o), v128.load(y + o), s0);
    s1 = madd2(v128.load(x + o, 16), v128.load(y + o, 16), s1);
  }
  let s = hsum(f64x2.add(s0, s1));
  for (let i = n4; i < n; i++) s += load<f64>(x + <usize>i * 8) * load<f64>(y + <usize>i * 8);
  return s;
}

// y −= α·x
function axmy(alpha: f64, x: usize, y: usize, n: i32): void {
  const a = f64x2.splat(alpha);
  const n2 = n & ~1;
  const end = <usize>n2 * 8;
  for (let o: usize = 0; o < end; o += 16) v128.store(y + o, f64x2.sub(v128.load(y + o), f64x2.mul(a, v128.load(x + o))));
  if (n2 < n) {
    const p = y + <usize>n2 * 8;
    store<f64>(p, load<f64>(p) - alpha * load<f64>(x + <usize>n2 * 8));
  }
}

// ---------------------------------------------------------------------------------------
// Householder QR of an m×k matrix A (m ≥ k), given as W = Aᵀ (k rows of m, row j = column
// j of A). In place: row j keeps the Householder vector v_j in entries j..m−1 (H_j = I −
// β_j v_j v_jᵀ), R (k×k, upper triangular) is written to r, β to betas.
export function householderQr(w: usize, k: i32, m: i32, r: usize, betas: usize): void {
  const rs = <usize>m * 8;
  memory.fill(r, 0, <usize>(k * k) * 8);
  for (let j = 0; j < k; j++) {
    const vj = w + <usize>j * rs + <usize>j * 8;
    const len = m - j;
    const norm = Math.sqrt(dot(vj, vj, len));
    if (norm == 0) {
      store<f64>(betas + <usize>j * 8, 0);
      for (let c = j + 1; c < k; c++) store<f64>(r + <usize>(j * k + c) * 8, load<f64>(w + <usize>c * rs + <usize>j * 8));
      continue;
    }
    const x0 = load<f64>(vj);
    const alpha = x0 >= 0 ? -norm : norm;
    store<f64>(vj, x0 - alpha);
    // ‖v‖² = ‖x‖² − x₀² + (x₀ − α)²
    const v0 = x0 - alpha;
    const vnorm2 = norm * norm - x0 * x0 + v0 * v0;
    const beta = vnorm2 > 0 ? 2 / vnorm2 : 0;
    store<f64>(betas + <usize>j * 8, beta);
    store<f64>(r + <usize>(j * k + j) * 8, alpha);
    for (let c = j + 1; c < k; c++) {
      const wc = w + <usize>c * rs + <usize>j * 8;
      const d = beta * dot(vj, wc, len);
      if (d != 0) axmy(d, vj, wc, len);
      store<f64>(r + <usize>(j * k + c) * 8, load<f64>(wc));
    }
  }
}

// The thin Q of householderQr, transposed: qt (k×m, row c = column c of Q) = rows of
// H_0 ⋯ H_{k−1} [I_k; 0]. Applied backwards, H_j only touches rows c ≥ j.
export function householderQ(w: usize, k: i32, m: i32, betas: usize, qt: usize): void {
  const rs = <usize>m * 8;
  memory.fill(qt, 0, <usize>k * rs);
  for (let c = 0; c < k; c++) store<f64>(qt + <usize>c * rs + <usize>c * 8, 1);
  for (let j = k - 1; j >= 0; j--) {
    const beta = load<f64>(betas + <usize>j * 8);
    if (beta == 0) continue;
    const vj = w + <usize>j * rs + <usize>j * 8;
    const len = m - j;
    for (let c = j; c < k; c++) {
      const qc = qt + <usize>c * rs + <usize>j * 8;
      const d = beta * dot(vj, qc, len);
      if (d != 0) axmy(d, vj, qc, len);
    }
  }
}

// ---------------------------------------------------------------------------------------
// One-sided Jacobi: one sweep over the column pairs of A, given as W = (A·V)ᵀ (n rows of m)
// and Vt (n rows of nv). norms[j] holds ‖W_j‖² on entry and is kept current. A pair is
// rotated when |W_p·W_q| > tol·‖W_p‖‖W_q‖. Returns the number of rotations.
// Pairs are visited block by block (rows ib..ib+JB against rows jb..jb+JB, then within the
// rows p < q), so 2·JB rows of W and Vt stay in cache while their pairs are done; a row-cyclic
// order streams all of W and Vt through memory for every p.
const JB: i32 = 32;
export function jacobiSweep(w: usize, vt: usize, norms: usize, n: i32, m: i32, nv: i32, tol: f64): i32 {
  let rotations = 0;
  for (let ib = 0; ib < n; ib += JB) {
    for (let jb = ib; jb < n; jb += JB) {
      rotations += jacobiBlock(w, vt, norms, m, nv, tol, ib, min(ib + JB, n), jb, min(jb + JB, n));
    }
  }
  return rotations;
}

// The pairs p < q with p in [p0, p1) and q in [q0, q1).
function jacobiBlock(w: usize, vt: usize, norms: usize, m: i32, nv: i32, tol: f64, p0: i32, p1: i32, q0: i32, q1: i32): i32 {
  const rs = <usize>m * 8;
  const vs = <usize>nv * 8;
  let rotations = 0;
  for (let p = p0; p < p1; p++) {
    const wp = w + <usize>p * rs;
    const vp = vt + <usize>p * vs;
    for (let q = max(p + 1, q0); q < q1; q++) {
      const alpha = load<f64>(norms + <usize>p * 8);
      const beta = load<f64>(norms + <usize>q * 8);
      if (alpha == 0 || beta == 0) continue;
      const wq = w + <usize>q * rs;
      const gamma = dot(wp, wq, m);
      if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
      rotations++;
      const zeta = (beta - alpha) / (2 * gamma);
      const t = (zeta >= 0 ? 1.0 : -1.0) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t);
      const s = c * t;
      rotate(wp, wq, m, c, s);
      rotate(vp, vt + <usize>q * vs, nv, c, s);
      store<f64>(norms + <usize>p * 8, alpha - t * gamma);
      store<f64>(norms + <usize>q * 8, beta + t * gamma);
    }
  }
  return rotations;
}

// (x, y) ← (c·x − s·y, s·x + c·y)
function rotate(x: usize, y: usize, n: i32, c: f64, s: f64): void {
  const cv = f64x2.splat(c), sv = f64x2.splat(s);
  const n2 = n & ~1;
  const end = <usize>n2 * 8;
  for (let o: usize = 0; o < end; o += 16) {
    const a = v128.load(x + o), b = v128.load(y + o);
    v128.store(x + o, f64x2.sub(f64x2.mul(cv, a), f64x2.mul(sv, b)));
    v128.store(y + o, f64x2.add(f64x2.mul(sv, a), f64x2.mul(cv, b)));
  }
  if (n2 < n) {
    const o = <usize>n2 * 8;
    const a = load<f64>(x + o), b = load<f64>(y + o);
    store<f64>(x + o, c * a - s * b);
    store<f64>(y + o, s * a + c * b);
  }
}

/** Σ x_i² over n doubles. */
export function dsumSquares(n: i32, x: usize): f64 {
  return dot(x, x, n);
}

// ---------------------------------------------------------------------------------------
// Fused elementwise passes of the robust-PCA iterations (n doubles each).

/** out = a − b + s·c (c may be 0: then out = a − b). */
export function dsubAxpy(n: i32, a: usize, b: usize, c: usize, s: f64, out: usize): void {
  const sv = f64x2.splat(s);
  const n2 = n & ~1;
  const end = <usize>n2 * 8;
  if (c == 0) {
    for (let o: usize = 0; o < end; o += 16) v128.store(out + o, f64x2.sub(v128.load(a + o), v128.load(b + o)));
  } else {
    for (let o: usize = 0; o < end; o += 16) {
      v128.store(out + o, madd2(sv, v128.load(c + o), f64x2.sub(v128.load(a + o), v128.load(b + o))));
    }
  }
  if (n2 < n) {
    const o = <usize>n2 * 8;
    store<f64>(out + o, load<f64>(a + o) - load<f64>(b + o) + (c == 0 ? 0 : s * load<f64>(c + o)));
  }
}

/**
 * One PCP (inexact ALM) update after L: with T = D − L + inv·Y,
 *   S ← sign(T)·max(|T| − τ, 0) = T − clamp(T, −τ, τ),  Z = D − L − S,  Y ← Y + μ·Z,
 * and sums[0..3] = (Σ Z², Σ (L − Lold)², Σ (S − Sold)²). S and Sold may not alias.
 */
export function dpcpUpdate(n: i32, d: usize, l: usize, lold: usize, s: usize, sold: usize, y: usize, inv: f64, tau: f64, mu: f64, sums: usize): void {
  const iv = f64x2.splat(inv), tv = f64x2.splat(tau), nt = f64x2.splat(-tau), mv = f64x2.splat(mu);
  let res = f64x2.splat(0), dl = f64x2.splat(0), ds = f64x2.splat(0);
  const n2 = n & ~1;
  const end = <usize>n2 * 8;
  for (let o: usize = 0; o < end; o += 16) {
    const dv = v128.load(d + o), lv = v128.load(l + o), yv = v128.load(y + o);
    const dl0 = f64x2.sub(dv, lv);
    const t = madd2(yv, iv, dl0);
    const sv = f64x2.sub(t, f64x2.max(nt, f64x2.min(tv, t)));
    v128.store(s + o, sv);
    const z = f64x2.sub(dl0, sv);
    v128.store(y + o, madd2(mv, z, yv));
    res = madd2(z, z, res);
    const a = f64x2.sub(lv, v128.load(lold + o)), b = f64x2.sub(sv, v128.load(sold + o));
    dl = madd2(a, a, dl);
    ds = madd2(b, b, ds);
  }
  let r0 = hsum(res), r1 = hsum(dl), r2 = hsum(ds);
  if (n2 < n) {
    const o = end;
    const dv = load<f64>(d + o), lv = load<f64>(l + o), yv = load<f64>(y + o);
    const t = dv - lv + yv * inv;
    const sv = t - max(-tau, min(tau, t));
    store<f64>(s + o, sv);
    const z = dv - lv - sv;
    store<f64>(y + o, yv + mu * z);
    r0 += z * z;
    const a = lv - load<f64>(lold + o), b = sv - load<f64>(sold + o);
    r1 += a * a;
    r2 += b * b;
  }
  store<f64>(sums, r0);
  store<f64>(sums, r1, 8);
  store<f64>(sums, r2, 16);
}

/**
 * One AltProj update after L: S ← H_ζ(D − L) (keep entries with |·| > ζ), and
 * sums[0..2] = (Σ (D − L − S)², Σ (L − Lold)²).
 */
export function daltprojUpdate(n: i32, d: usize, l: usize, lold: usize, s: usize, zeta: f64, sums: usize): void {
  const zv = f64x2.splat(zeta);
  let res = f64x2.splat(0), dl = f64x2.splat(0);
  const n2 = n & ~1;
  const end = <usize>n2 * 8;
  for (let o: usize = 0; o < end; o += 16) {
    const lv = v128.load(l + o);
    const r = f64x2.sub(v128.load(d + o), lv);
    const keep = f64x2.gt(f64x2.abs(r), zv);
    v128.store(s + o, v128.and(r, keep));
    const rest = v128.andnot(r, keep);
    res = madd2(rest, rest, res);
    const a = f64x2.sub(lv, v128.load(lold + o));
    dl = madd2(a, a, dl);
  }
  let r0 = hsum(res), r1 = hsum(dl);
  if (n2 < n) {
    const o = end;
    const lv = load<f64>(l + o);
    const r = load<f64>(d + o) - lv;
    if (Math.abs(r) > zeta) store<f64>(s + o, r);
    else {
      store<f64>(s + o, 0);
      r0 += r * r;
    }
    const a = lv - load<f64>(lold + o);
    r1 += a * a;
  }
  store<f64>(sums, r0);
  store<f64>(sums, r1, 8);
}

// Float32 twins of the passes above, for the float32 mode (sums still in float64).

/** out = a − b + s·c over float32 (c may be 0). */
export function ssubAxpy(n: i32, a: usize, b: usize, c: usize, s: f32, out: usize): void {
  const sv = f32x4.splat(s);
  const n4 = n & ~3;
  const end = <usize>n4 * 4;
  if (c == 0) {
    for (let o: usize = 0; o < end; o += 16) v128.store(out + o, f32x4.sub(v128.load(a + o), v128.load(b + o)));
  } else {
    for (let o: usize = 0; o < end; o += 16) {
      v128.store(out + o, f32x4.add(f32x4.mul(sv, v128.load(c + o)), f32x4.sub(v128.load(a + o), v128.load(b + o))));
    }
  }
  for (let i = n4; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(out + o, load<f32>(a + o) - load<f32>(b + o) + (c == 0 ? <f32>0 : s * load<f32>(c + o)));
  }
}

export function spcpUpdate(n: i32, d: usize, l: usize, lold: usize, s: usize, sold: usize, y: usize, inv: f32, tau: f32, mu: f32, sums: usize): void {
  let res: f64 = 0, dl: f64 = 0, ds: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * 4;
    const dv = load<f32>(d + o), lv = load<f32>(l + o), yv = load<f32>(y + o);
    const t = dv - lv + yv * inv;
    const sv: f32 = t > tau ? t - tau : t < -tau ? t + tau : 0;
    store<f32>(s + o, sv);
    const z = dv - lv - sv;
    store<f32>(y + o, yv + mu * z);
    res += <f64>z * <f64>z;
    const a = <f64>lv - <f64>load<f32>(lold + o), b = <f64>sv - <f64>load<f32>(sold + o);
    dl += a * a;
    ds += b * b;
  }
  store<f64>(sums, res);
  store<f64>(sums, dl, 8);
  store<f64>(sums, ds, 16);
}

export function saltprojUpdate(n: i32, d: usize, l: usize, lold: usize, s: usize, zeta: f32, sums: usize): void {
  let res: f64 = 0, dl: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * 4;
    const lv = load<f32>(l + o);
    const r = load<f32>(d + o) - lv;
    const keep = r > zeta || r < -zeta;
    store<f32>(s + o, keep ? r : 0);
    if (!keep) res += <f64>r * <f64>r;
    const a = <f64>lv - <f64>load<f32>(lold + o);
    dl += a * a;
  }
  store<f64>(sums, res);
  store<f64>(sums, dl, 8);
}

/** Σ x_i² over n floats, accumulated in float64. */
export function ssumSquares64(n: i32, x: usize): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(x + <usize>i * 4);
    s += v * v;
  }
  return s;
}

/** y = A·x (trans = 0, y has m entries) or y = Aᵀ·x (trans = 1, y has n), A m×n float64. */
export function dgemv(trans: i32, m: i32, n: i32, a: usize, x: usize, y: usize): void {
  const rs = <usize>n * 8;
  if (trans == 0) {
    for (let i = 0; i < m; i++) store<f64>(y + <usize>i * 8, dot(a + <usize>i * rs, x, n));
  } else {
    memory.fill(y, 0, rs);
    for (let i = 0; i < m; i++) {
      const xi = load<f64>(x + <usize>i * 8);
      if (xi != 0) axmy(-xi, a + <usize>i * rs, y, n);
    }
  }
}
