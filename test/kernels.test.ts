// Every non-convolution kernel of the WASM core (assembly/index.ts) against a plain
// TypeScript reference, on seeded random data with odd sizes and sizes that cross the
// GEMM blocking boundaries, for the plain-SIMD build and (where it validates) the
// relaxed-SIMD build.
import test from "ava";
import { Runtime } from "../src/core/runtime.js";
import { Arena } from "../src/core/arena.js";
import { relaxedSimdAvailable } from "../src/core/module.js";
import { Stream } from "../src/core/random.js";

const U = 2 ** -24; // unit roundoff of float32

type Variant = "plain" | "relaxed";
const VARIANTS: Variant[] = ["plain", "relaxed"];
const relaxedOk = (() => {
  try {
    return relaxedSimdAvailable();
  } catch {
    return false;
  }
})();

interface Env {
  rt: Runtime;
  arena: Arena;
  work: number;
}

const envs = new Map<Variant, Env>();
function env(v: Variant): Env {
  let e = envs.get(v);
  if (!e) {
    const rt = new Runtime({ simd: v });
    const arena = new Arena(rt);
    const work = arena.bytes(rt.k.gemmWorkBytes());
    e = { rt, arena, work };
    envs.set(v, e);
  }
  return e;
}

/** Registers one test per build; the relaxed one logs and passes where it cannot run. */
function both(title: string, body: (e: Env, rand: Rand, t: import("ava").ExecutionContext) => void): void {
  for (const v of VARIANTS) {
    test(`${title} [${v}]`, (t) => {
      if (v === "relaxed" && !relaxedOk) {
        t.log("relaxed-SIMD build does not validate on this runtime: skipped");
        t.pass();
        return;
      }
      const e = env(v);
      t.is(e.rt.k.relaxedSimd(), v === "relaxed" ? 1 : 0);
      const mark = e.arena.mark();
      try {
        body(e, new Rand(hashTitle(title)), t);
      } finally {
        e.arena.release(mark);
      }
    });
  }
}

function hashTitle(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

class Rand {
  private s: Stream;
  constructor(seed: number) {
    this.s = new Stream(seed, 7);
  }
  /** Uniform in [lo, hi). */
  u(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.s.next();
  }
  int(n: number): number {
    return this.s.int(n);
  }
  f32(n: number, lo = -1, hi = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.u(lo, hi);
    return a;
  }
}

/** Copies data into a fresh arena buffer; returns its pointer. */
function put(e: Env, data: Float32Array | Int32Array): number {
  const ptr = e.arena.bytes(data.length * 4);
  if (data instanceof Int32Array) e.rt.i32(ptr, data.length).set(data);
  else e.rt.f32(ptr, data.length).set(data);
  return ptr;
}
const get = (e: Env, ptr: number, n: number) => e.rt.f32(ptr, n).slice();

/** Asserts |got − want| ≤ tol · scale elementwise; reports the worst entry. */
function close(
  t: import("ava").ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>,
  tol: number, scale: (i: number) => number = (i) => Math.max(1, Math.abs(want[i])), what = "",
): void {
  t.is(got.length, want.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / scale(i);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (!(worst <= tol)) {
    t.fail(`${what}: entry ${at}: got ${got[at]}, want ${want[at]} (scaled error ${worst.toExponential(2)} > ${tol.toExponential(2)})`);
  } else {
    t.pass();
  }
}

// ---------------------------------------------------------------------------------------
// GEMM

interface GemmCase {
  M: number;
  N: number;
  K: number;
  /** Extra row stride beyond the minimum for A, B and C (tests submatrix strides). */
  pad?: number;
  accumulate?: 0 | 1;
}

// Blocking in assembly/gemm.ts: general path MR×NR = 4×8, KC = 512, MC = 64, NC = 256;
// narrow path for N ≤ 16 (or M ≤ 16, on the transposed problem) with 2-column panels,
// k blocks ≤ 512, 4-row / 16-row strips.
const GEMM_CASES: GemmCase[] = [
  { M: 1, N: 1, K: 1 },
  { M: 3, N: 17, K: 67 },
  { M: 67, N: 3, K: 17 },
  { M: 17, N: 67, K: 3 },
  { M: 1, N: 300, K: 1 },
  { M: 300, N: 1, K: 9 },
  { M: 2, N: 3, K: 5, pad: 3 },
  { M: 16, N: 16, K: 16 },
  { M: 17, N: 17, K: 17, pad: 1 },
  { M: 33, N: 10, K: 101, accumulate: 1 },
  { M: 65, N: 257, K: 513, pad: 5 }, // crosses MC, NC and KC
  { M: 129, N: 24, K: 1030, accumulate: 1 }, // three k blocks
  { M: 130, N: 10, K: 1100, pad: 2 }, // narrow path, three k blocks
  { M: 70, N: 15, K: 600, accumulate: 1 }, // narrow, odd N, partial strips
  { M: 10, N: 256, K: 128 }, // last-layer weight gradient (few rows: transposed narrow)
  { M: 7, N: 33, K: 1100, pad: 2, accumulate: 1 }, // few rows, three k blocks
  { M: 16, N: 41, K: 19, pad: 1 },
  { M: 128, N: 40, K: 10 }, // small K
  { M: 64, N: 8, K: 0 }, // K = 0: C = 0 (or unchanged)
  { M: 5, N: 3, K: 0, accumulate: 1 },
];

/** Row-major transpose of an r×c matrix with row stride ld, into a dense c×r one. */
function transposed(x: Float32Array, r: number, c: number): Float32Array {
  const y = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) y[j * r + i] = x[i * c + j];
  return y;
}

/** Lays a dense r×c matrix out with row stride ld, the padding filled with `fill`. */
function strided(x: Float32Array, r: number, c: number, ld: number, fill: number): Float32Array {
  const y = new Float32Array(r * ld).fill(fill);
  for (let i = 0; i < r; i++) y.set(x.subarray(i * c, i * c + c), i * ld);
  return y;
}

function runGemm(e: Env, rand: Rand, t: import("ava").ExecutionContext, tA: 0 | 1, tB: 0 | 1, cs: GemmCase): void {
  const { M, N, K } = cs;
  const pad = cs.pad ?? 0;
  const acc = cs.accumulate ?? 0;
  const A = rand.f32(M * K); // op(A), M×K
  const B = rand.f32(K * N); // op(B), K×N
  const C0 = rand.f32(M * N);
  // Storage: A is [M,K] or [K,M], B is [K,N] or [N,K]; row strides padded.
  const aRows = tA ? K : M, aCols = tA ? M : K;
  const bRows = tB ? N : K, bCols = tB ? K : N;
  const lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
  const SENTINEL = 12345.5;
  const a = put(e, strided(tA ? transposed(A, M, K) : A, aRows, aCols, lda, NaN));
  const b = put(e, strided(tB ? transposed(B, K, N) : B, bRows, bCols, ldb, NaN));
  const c = put(e, strided(C0, M, N, ldc, SENTINEL));
  e.rt.k.gemm(tA, tB, M, N, K, a, lda, b, ldb, c, ldc, acc, e.work);
  const out = get(e, c, M * ldc);

  const got = new Float64Array(M * N);
  const want = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  let padOk = true;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < ldc; j++) {
      if (j >= N) {
        if (out[i * ldc + j] !== SENTINEL) padOk = false;
        continue;
      }
      let s = acc ? C0[i * N + j] : 0;
      let m = Math.abs(s);
      for (let k = 0; k < K; k++) {
        s += A[i * K + k] * B[k * N + j];
        m += Math.abs(A[i * K + k] * B[k * N + j]);
      }
      want[i * N + j] = s;
      mag[i * N + j] = m;
      got[i * N + j] = out[i * ldc + j];
    }
  }
  t.true(padOk, "entries of C past column N (inside ldc) must not be written");
  // Any correct float32 summation of K+1 terms is within (K+1)·u·Σ|terms| of the exact sum.
  close(t, got, want, 2 * (K + 2) * U, (i) => Math.max(mag[i], 1e-30), `gemm tA=${tA} tB=${tB} ${M}x${K}x${N}`);
}

for (const tA of [0, 1] as const) {
  for (const tB of [0, 1] as const) {
    both(`gemm transA=${tA} transB=${tB}`, (e, rand, t) => {
      for (const cs of GEMM_CASES) runGemm(e, rand, t, tA, tB, cs);
    });
  }
}

both("gemm: several calls share one work buffer and give identical results", (e, rand, t) => {
  const M = 37, N = 29, K = 45;
  const a = put(e, rand.f32(M * K));
  const b = put(e, rand.f32(K * N));
  const c1 = put(e, new Float32Array(M * N));
  const c2 = put(e, new Float32Array(M * N));
  e.rt.k.gemm(0, 1, M, N, K, a, K, b, K, c1, N, 0, e.work);
  e.rt.k.gemm(1, 0, K, K, M, a, K, a, K, put(e, new Float32Array(K * K)), K, 0, e.work); // clobber work
  e.rt.k.gemm(0, 1, M, N, K, a, K, b, K, c2, N, 0, e.work);
  t.deepEqual(get(e, c1, M * N), get(e, c2, M * N));
});

// ---------------------------------------------------------------------------------------
// Elementwise and reductions

const SIZES = [1, 3, 17, 67, 1000];

both("biasAddRows", (e, rand, t) => {
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [67, 10], [5, 256]]) {
    const y = rand.f32(rows * cols, -5, 5);
    const bias = rand.f32(cols);
    const py = put(e, y);
    e.rt.k.biasAddRows(py, put(e, bias), rows, cols);
    const want = y.map((v, i) => Math.fround(v + bias[i % cols]));
    t.deepEqual(get(e, py, rows * cols), want, `${rows}x${cols}`);
  }
});

both("sumRows", (e, rand, t) => {
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [67, 10], [130, 257]]) {
    for (const acc of [0, 1]) {
      const dy = rand.f32(rows * cols);
      const db0 = rand.f32(cols);
      const pdb = put(e, db0);
      e.rt.k.sumRows(put(e, dy), pdb, rows, cols, acc);
      const want = new Float64Array(cols);
      for (let j = 0; j < cols; j++) {
        let s = acc ? db0[j] : 0;
        for (let r = 0; r < rows; r++) s += dy[r * cols + j];
        want[j] = s;
      }
      close(t, get(e, pdb, cols), want, (rows + 2) * U * 2, () => rows + 1, `sumRows ${rows}x${cols} acc=${acc}`);
    }
  }
});

both("biasAddChannels", (e, rand, t) => {
  for (const [batch, ch, plane] of [[1, 1, 1], [2, 3, 17], [3, 5, 49], [1, 16, 784], [4, 7, 3]]) {
    const n = batch * ch * plane;
    const y = rand.f32(n, -3, 3);
    const bias = rand.f32(ch);
    const py = put(e, y);
    e.rt.k.biasAddChannels(py, put(e, bias), batch, ch, plane);
    const want = y.map((v, i) => Math.fround(v + bias[Math.floor(i / plane) % ch]));
    t.deepEqual(get(e, py, n), want, `${batch}x${ch}x${plane}`);
  }
});

both("sumChannels", (e, rand, t) => {
  for (const [batch, ch, plane] of [[1, 1, 1], [2, 3, 17], [3, 5, 49], [2, 16, 784], [4, 7, 3]]) {
    for (const acc of [0, 1]) {
      const n = batch * ch * plane;
      const dy = rand.f32(n);
      const db0 = rand.f32(ch);
      const pdb = put(e, db0);
      e.rt.k.sumChannels(put(e, dy), pdb, batch, ch, plane, acc);
      const want = new Float64Array(ch);
      for (let c = 0; c < ch; c++) want[c] = acc ? db0[c] : 0;
      for (let i = 0; i < n; i++) want[Math.floor(i / plane) % ch] += dy[i];
      const terms = batch * plane + 1;
      close(t, get(e, pdb, ch), want, (terms + 2) * U * 2, () => terms, `sumChannels ${batch}x${ch}x${plane} acc=${acc}`);
    }
  }
});

both("reluForward and reluBackward (also in place)", (e, rand, t) => {
  for (const n of SIZES) {
    const x = rand.f32(n);
    if (n > 2) x[1] = 0;
    const px = put(e, x);
    const py = put(e, new Float32Array(n));
    e.rt.k.reluForward(px, py, n);
    const y = x.map((v) => (v > 0 ? v : 0));
    t.deepEqual(get(e, py, n), y, `forward n=${n}`);
    e.rt.k.reluForward(px, px, n);
    t.deepEqual(get(e, px, n), y, `forward in place n=${n}`);

    const dy = rand.f32(n);
    const pdy = put(e, dy);
    const pdx = put(e, new Float32Array(n));
    e.rt.k.reluBackward(py, pdy, pdx, n);
    const dx = dy.map((v, i) => (y[i] > 0 ? v : 0));
    t.deepEqual(get(e, pdx, n), dx, `backward n=${n}`);
    e.rt.k.reluBackward(py, pdy, pdy, n);
    t.deepEqual(get(e, pdy, n), dx, `backward in place n=${n}`);
  }
});

both("axpy and scale", (e, rand, t) => {
  for (const n of SIZES) {
    const x = rand.f32(n, -10, 10);
    const y = rand.f32(n, -10, 10);
    const alpha = Math.fround(rand.u(-3, 3));
    const py = put(e, y);
    e.rt.k.axpy(n, alpha, put(e, x), py);
    const want = y.map((v, i) => v + alpha * x[i]);
    close(t, get(e, py, n), want, 4 * U, (i) => Math.abs(y[i]) + Math.abs(alpha * x[i]) + 1e-30, `axpy n=${n}`);

    const px = put(e, x);
    e.rt.k.scale(n, alpha, px);
    t.deepEqual(get(e, px, n), x.map((v) => Math.fround(alpha * v)), `scale n=${n}`);
  }
});

both("sumSquares", (e, rand, t) => {
  for (const n of [...SIZES, 100_003]) {
    const x = rand.f32(n, -100, 100);
    let want = 0;
    for (const v of x) want += v * v;
    const got = e.rt.k.sumSquares(n, put(e, x));
    t.true(Math.abs(got - want) <= 4 * U * want + 1e-30, `n=${n}: got ${got}, want ${want}`);
  }
  t.is(e.rt.k.sumSquares(0, put(e, new Float32Array(4))), 0);
});

both("countNonFinite", (e, rand, t) => {
  for (const n of SIZES) {
    const x = rand.f32(n);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const r = rand.int(10);
      if (r === 0) x[i] = NaN;
      else if (r === 1) x[i] = Infinity;
      else if (r === 2) x[i] = -Infinity;
      else if (r === 3) x[i] = 3.4e38; // large but finite
      else continue;
      if (r < 3) bad++;
    }
    t.is(e.rt.k.countNonFinite(n, put(e, x)), bad, `n=${n}`);
  }
});

/** float32 emulation of one SGD step (PyTorch convention). */
function sgdRef(p: number, g: number, v: number, lr: number, mom: number, wd: number, nesterov: boolean) {
  const f = Math.fround;
  const gi = f(g + f(wd * p));
  const vi = f(f(mom * v) + gi);
  const d = nesterov ? f(gi + f(mom * vi)) : vi;
  return { p: f(p - f(lr * d)), v: vi };
}

both("sgdStep", (e, rand, t) => {
  for (const n of SIZES) {
    for (const [mom, wd, nesterov] of [[0, 0, 0], [0.9, 5e-4, 0], [0.9, 1e-2, 1]] as const) {
      const lr = 0.05;
      const p = rand.f32(n), g = rand.f32(n), v = rand.f32(n);
      const pp = put(e, p), pg = put(e, g), pv = put(e, v);
      e.rt.k.sgdStep(n, pp, pg, pv, lr, mom, wd, nesterov);
      const wantP = new Float64Array(n), wantV = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const r = sgdRef(p[i], g[i], v[i], Math.fround(lr), Math.fround(mom), Math.fround(wd), nesterov === 1);
        wantP[i] = r.p;
        wantV[i] = r.v;
      }
      // Within a few ulps (the relaxed build may contract a multiply-add).
      close(t, get(e, pv, n), wantV, 8 * U, () => 2, `sgd v n=${n} mom=${mom}`);
      close(t, get(e, pp, n), wantP, 8 * U, () => 2, `sgd p n=${n} mom=${mom} nesterov=${nesterov}`);
      t.deepEqual(get(e, pg, n), g, "the gradient is left alone");
    }
  }
});

both("adamStep (Adam and AdamW)", (e, rand, t) => {
  for (const n of SIZES) {
    for (const adamw of [0, 1]) {
      // The kernel takes float32 arguments: the reference uses the same rounded values.
      const f = Math.fround;
      const lr = f(1e-3), b1 = f(0.9), b2 = f(0.999), eps = f(1e-8), wd = f(1e-2), step = 3;
      const bc1 = f(1 - b1 ** step), bc2 = f(1 - b2 ** step);
      const p = rand.f32(n), g = rand.f32(n), m = rand.f32(n, -0.1, 0.1), v = rand.f32(n, 0, 0.01);
      const pp = put(e, p), pm = put(e, m), pv = put(e, v);
      e.rt.k.adamStep(n, pp, put(e, g), pm, pv, lr, b1, b2, eps, bc1, bc2, wd, adamw);
      const wantP = new Float64Array(n), wantM = new Float64Array(n), wantV = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let pi = p[i], gi = g[i];
        if (adamw) pi -= lr * wd * pi;
        else gi += wd * pi;
        const mi = b1 * m[i] + f(1 - b1) * gi;
        const vi = b2 * v[i] + f(1 - b2) * gi * gi;
        wantM[i] = mi;
        wantV[i] = vi;
        wantP[i] = pi - (lr / bc1) * mi / (Math.sqrt(vi) / Math.sqrt(bc2) + eps);
      }
      close(t, get(e, pm, n), wantM, 1e-6, () => 1, `adam m n=${n} adamw=${adamw}`);
      close(t, get(e, pv, n), wantV, 1e-6, (i) => wantV[i] + 1e-6, `adam v n=${n} adamw=${adamw}`);
      // The update itself is ~lr; compare the step taken, relative to lr.
      close(t, get(e, pp, n).map((x, i) => x - p[i]), wantP.map((x, i) => x - p[i]), 1e-3, () => lr, `adam p n=${n} adamw=${adamw}`);
    }
  }
});

// ---------------------------------------------------------------------------------------
// Loss and argmax

function softmaxRef(z: Float32Array, labels: Int32Array, rows: number, cols: number, scale: number) {
  const loss = new Float64Array(rows);
  const dz = new Float64Array(rows * cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, z[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(z[r * cols + j] - m);
    const lse = m + Math.log(s);
    loss[r] = lse - z[r * cols + labels[r]];
    total += loss[r];
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(z[r * cols + j] - lse);
      dz[r * cols + j] = scale * (j === labels[r] ? p - 1 : p);
    }
  }
  return { loss, dz, total };
}

both("softmaxCrossEntropy: loss and gradient vs float64", (e, rand, t) => {
  for (const [rows, cols, spread] of [[1, 1, 1], [1, 10, 3], [3, 17, 5], [67, 10, 10], [128, 10, 1e4], [5, 3, 3e4]]) {
    const z = rand.f32(rows * cols, -spread, spread);
    const labels = new Int32Array(rows).map(() => rand.int(cols));
    const scale = 1 / rows;
    const pz = put(e, z), pl = put(e, labels);
    const pdz = put(e, new Float32Array(rows * cols));
    const ploss = put(e, new Float32Array(rows));
    const total = e.rt.k.softmaxCrossEntropy(pz, pl, rows, cols, pdz, scale, ploss);
    const ref = softmaxRef(z, labels, rows, cols, scale);
    const what = `${rows}x${cols} logits ±${spread}`;
    t.true(Number.isFinite(total), `${what}: finite total`);
    // Loss magnitudes reach ~2·spread; float32 logits carry ~u·spread of rounding.
    t.true(Math.abs(total - ref.total) <= 1e-6 * (Math.abs(ref.total) + rows * spread) + 1e-6,
      `${what}: total ${total} vs ${ref.total}`);
    close(t, get(e, ploss, rows), ref.loss, 1e-6, (i) => Math.max(1, Math.abs(ref.loss[i]), spread), `${what}: per-row loss`);
    const dz = get(e, pdz, rows * cols);
    t.true(dz.every(Number.isFinite), `${what}: finite gradient`);
    close(t, dz, ref.dz, 1e-5, () => scale, `${what}: gradient`);
    // Each gradient row sums to 0 (softmax sums to 1).
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += dz[r * cols + j];
      if (Math.abs(s) > 1e-5 * scale * cols) t.fail(`${what}: gradient row ${r} sums to ${s}`);
    }
  }
});

both("softmaxCrossEntropy: huge logits stay finite and exact", (e, _rand, t) => {
  // Row 0: the label holds the max (loss ≈ 0, exp(−2e4) underflows); row 1: the label
  // is 10 below the max (loss ≈ 10.3). exp(1e4) would overflow without the max shift.
  const z = new Float32Array([1e4, -1e4, 0, 1e4 - 1, 1e4, 9990]);
  const labels = new Int32Array([0, 2]);
  const pdz = put(e, new Float32Array(6));
  const ploss = put(e, new Float32Array(2));
  const total = e.rt.k.softmaxCrossEntropy(put(e, z), put(e, labels), 2, 3, pdz, 1, ploss);
  const ref = softmaxRef(z, labels, 2, 3, 1);
  t.true(Math.abs(total - ref.total) < 1e-3, `total ${total} vs ${ref.total}`);
  const loss = get(e, ploss, 2);
  t.true(Math.abs(loss[0] - ref.loss[0]) < 1e-6, `loss0 ${loss[0]} vs ${ref.loss[0]}`);
  t.true(Math.abs(loss[1] - ref.loss[1]) < 1e-3, `loss1 ${loss[1]} vs ${ref.loss[1]}`);
  close(t, get(e, pdz, 6), ref.dz, 1e-6, () => 1, "gradient");
});

both("softmaxCrossEntropy: loss only (dz = 0, lossOut = 0)", (e, rand, t) => {
  const rows = 17, cols = 10;
  const z = rand.f32(rows * cols, -4, 4);
  const labels = new Int32Array(rows).map(() => rand.int(cols));
  const total = e.rt.k.softmaxCrossEntropy(put(e, z), put(e, labels), rows, cols, 0, 1, 0);
  const ref = softmaxRef(z, labels, rows, cols, 1);
  t.true(Math.abs(total - ref.total) <= 1e-5 * ref.total, `${total} vs ${ref.total}`);
});

both("argmaxRows (first index on ties)", (e, rand, t) => {
  for (const [rows, cols] of [[1, 1], [3, 17], [67, 10], [5, 3]]) {
    const x = rand.f32(rows * cols);
    // Plant ties: copy the max of some rows into a later column.
    const want = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + best]) best = j;
      if (r % 2 === 0 && best + 1 < cols) x[r * cols + cols - 1] = x[r * cols + best];
      want[r] = best;
    }
    const pout = put(e, new Int32Array(rows));
    e.rt.k.argmaxRows(put(e, x), rows, cols, pout);
    t.deepEqual(e.rt.i32(pout, rows).slice(), want, `${rows}x${cols}`);
  }
});
