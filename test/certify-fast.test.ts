// The batched float32 bound path (src/certify/fast.ts): agreement with the float64 reference
// (bounds.ts marginBounds) on random and trained nets, soundness on sampled points and box
// corners, the float32 widening rule, the float64 mode and the fallback for pooling nets, bad
// input, and the per-entry kernels of assembly/bounds.ts against the JavaScript they replaced.
// Conv nets: test/certify-fast-conv.test.ts.
import test from "ava";
import type { Kernels } from "../src/core/kernels.js";
import { Model } from "../src/nn/model.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Stream } from "../src/core/random.js";
import { runtime } from "../src/core/runtime.js";
import { Arena, defaultArena } from "../src/core/arena.js";
import { loadData } from "../src/data/index.js";
import { inputBox, marginBounds, type SampleBounds } from "../src/certify/bounds.js";
import { FAST_METHODS, fastMarginBounds, fastPathSupport, type FastBoundOptions, type FastSampleBounds } from "../src/certify/fast.js";
import { logitMargins } from "../src/certify/verdict.js";
import { trainedMlp } from "./helpers/trained.js";
import { samplePoints } from "./helpers/box.js";
import { soundBelowExact } from "./helpers/sound.js";
import { dense, flatten, net, relu } from "./helpers/nets.js";
import { bump, gamma32, grow32, up32 } from "../src/certify/rounding32.js";



const NETS: { name: string; shape: [number, number, number]; layers: LayerSpec[] }[] = [
  { name: "mlp 12-16-16-5", shape: [1, 3, 4], layers: [flatten, dense(12, 16), relu, dense(16, 16), relu, dense(16, 5)] },
  { name: "mlp 7-9-9-9-3", shape: [1, 1, 7], layers: [flatten, dense(7, 9), relu, dense(9, 9), relu, dense(9, 9), relu, dense(9, 3)] },
  { name: "mlp with two dense layers in a row", shape: [1, 2, 5], layers: [flatten, dense(10, 8), relu, dense(8, 6), dense(6, 7), relu, dense(7, 4)] },
];

function inputs(m: Model, n: number, rng: Stream): { x: Float32Array; y: number[] } {
  const x = Float32Array.from({ length: n * m.inputSize }, () => rng.next());
  const y = Array.from({ length: n }, (_, i) => i % m.outputSize);
  return { x, y };
}

/** Fails when a margin of the float32 network at a sampled point lies below its bound. */
function checkSampled(t: { fail(m: string): void }, m: Model, x: Float32Array, label: number, lower: Float64Array, eps: number,
  clip: { lo: number; hi: number } | null, count: number, rng: Stream): number {
  const [lo, hi] = inputBox(x, eps, clip);
  const pts = samplePoints(lo, hi, count, rng);
  let gap = Infinity;
  for (const mg of logitMargins(m, pts, new Array(count).fill(label))) {
    for (let j = 0; j < mg.length; j++) {
      if (j === label) continue;
      if (mg[j] < lower[j]) t.fail(`margin ${j} = ${mg[j]} below its bound ${lower[j]}`);
      gap = Math.min(gap, mg[j] - lower[j]);
    }
  }
  return gap;
}

/**
 * The contract between the paths: the float32 bound (error terms dropped) agrees with the float64
 * exact-arithmetic bound to 1e-5 relative; the sound float32 bound is never above the float64
 * exact-arithmetic one (up to that tolerance) nor above its own unwidened value.
 */
function checkAgreement(t: { true(c: boolean, m?: string): void }, what: string, ref: SampleBounds[], raw: FastSampleBounds[],
  sound: FastSampleBounds[], y: number[], relTol = 1e-5): { maxRel: number; maxWiden: number } {
  let maxRel = 0;
  let maxWiden = 0;
  ref.forEach((r, s) => {
    for (let j = 0; j < r.lower.length; j++) {
      if (j === y[s]) {
        t.true(sound[s].lower[j] === Infinity, `${what}: entry y is not +Infinity`);
        continue;
      }
      const tol = 1e-5 * Math.max(1, Math.abs(r.lower[j]));
      const rel = Math.abs(raw[s].lower[j] - r.lower[j]) / Math.max(1, Math.abs(r.lower[j]));
      maxRel = Math.max(maxRel, rel);
      t.true(rel <= relTol, `${what}: sample ${s} margin ${j}: float32 ${raw[s].lower[j]} vs float64 ${r.lower[j]}`);
      t.true(sound[s].lower[j] <= r.lower[j] + tol, `${what}: sound float32 bound ${sound[s].lower[j]} above the exact-arithmetic bound ${r.lower[j]}`);
      t.true(sound[s].lower[j] <= raw[s].lower[j] + 1e-9 * Math.max(1, Math.abs(raw[s].lower[j])), `${what}: the widening raised the bound`);
      t.true(sound[s].widening![j] >= 0, `${what}: negative widening`);
      maxWiden = Math.max(maxWiden, raw[s].lower[j] - sound[s].lower[j]);
    }
    t.true(sound[s].lowest === Math.min(...Array.from(sound[s].lower).filter((_, j) => j !== y[s])), `${what}: lowest`);
  });
  return { maxRel, maxWiden };
}

for (const spec of NETS) {
  test(`agrees with the float64 reference and is sound on sampled points: ${spec.name}`, (t) => {
    const rng = new Stream(11, 2);
    for (let seed = 1; seed <= 3; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      t.is(fastPathSupport(m), null);
      for (const eps of [0.02, 0.15]) {
        for (const clip of [{ lo: 0, hi: 1 }, null]) {
          const { x, y } = inputs(m, 5, rng);
          for (const method of FAST_METHODS) {
            for (const pure of [false, true]) {
              const what = `${spec.name} seed ${seed} ε ${eps} clip ${clip !== null} ${method}${pure ? " pure" : ""}`;
              const o: FastBoundOptions = { method, eps, clip, pure };
              const ref = marginBounds(m, x, y, { ...o, rounding: "none" });
              const raw = fastMarginBounds(m, x, y, { ...o, rounding: "none", errorTerms: false });
              const sound = fastMarginBounds(m, x, y, { ...o, rounding: "none" });
              checkAgreement(t, what, ref, raw, sound, y);
              // With the network's own allowance, against sampled margins of the float32 network.
              const withNet = fastMarginBounds(m, x, y, o);
              const refNet = marginBounds(m, x, y, o);
              withNet.forEach((b, s) => {
                t.true(b.lowest <= refNet[s].lowest + 1e-5 * Math.max(1, Math.abs(refNet[s].lowest)), `${what}: above the float64 path`);
                checkSampled(t, m, x.subarray(s * m.inputSize, (s + 1) * m.inputSize), y[s], b.lower, eps, clip, 60, rng);
              });
            }
          }
        }
      }
    }
  });
}

test("the float32 input box contains bounds.ts's float64 box, at most one float32 step wider per edge", (t) => {
  const rt = runtime();
  const arena = new Arena(rt, defaultArena(rt).used + (1 << 16));
  const n = 1003;
  const [x, lo, hi, c, r, m] = Array.from({ length: 6 }, () => arena.f32(n));
  const cases: [number, { lo: number; hi: number } | null][] = [[0.01, { lo: 0, hi: 1 }], [0.3, null], [0, { lo: 0, hi: 1 }], [1e-7, { lo: -0.5, hi: 0.7 }]];
  for (const [eps, clip] of cases) {
    for (let i = 0; i < n; i++) x.f32[i] = i % 5 === 0 ? 0 : i % 5 === 1 ? 1 : Math.fround(Math.sin(i * 7.3) * (i % 3 === 0 ? 1e-3 : 0.5) + (clip ? 0.4 : 0));
    rt.k.linfBox(x.ptr, n, eps, clip ? 1 : 0, clip ? clip.lo : 0, clip ? clip.hi : 0, lo.ptr, hi.ptr, c.ptr, r.ptr, m.ptr);
    const [L, H] = inputBox(x.f32, eps, clip);
    for (let i = 0; i < n; i++) {
      if (L[i] > H[i]) continue; // x outside the clip range: the box is empty
      const step = (v: number): number => Math.max(Math.abs(v) * 2 ** -23, 2 ** -149);
      t.true(lo.f32[i] <= L[i] && L[i] - lo.f32[i] <= step(L[i]), `lo ${i}: ${lo.f32[i]} vs ${L[i]}`);
      t.true(hi.f32[i] >= H[i] && hi.f32[i] - H[i] <= step(H[i]), `hi ${i}: ${hi.f32[i]} vs ${H[i]}`);
      t.true(c.f32[i] - r.f32[i] <= lo.f32[i] && c.f32[i] + r.f32[i] >= hi.f32[i], `centre/radius ${i}`);
      t.is(m.f32[i], Math.max(Math.abs(lo.f32[i]), Math.abs(hi.f32[i])));
    }
  }
});

test("a single affine layer: the IBP and CROWN bounds are attained at a box corner, so the sampling check can fail", (t) => {
  const m = net([1, 1, 4], [flatten, dense(4, 3)], 3);
  const x = Float32Array.from([0.5, 0.4, 0.6, 0.5]);
  const [lo, hi] = inputBox(x, 0.1, { lo: 0, hi: 1 });
  const pts = new Float32Array(16 * 4);
  for (let c = 0; c < 16; c++) for (let i = 0; i < 4; i++) pts[c * 4 + i] = Math.fround((c >> i) & 1 ? hi[i] : lo[i]);
  const mg = logitMargins(m, pts, new Array(16).fill(0));
  for (const method of FAST_METHODS) {
    const b = fastMarginBounds(m, x, [0], { method, eps: 0.1 })[0];
    for (const j of [1, 2]) {
      const worst = Math.min(...mg.map((r) => r[j]));
      t.true(b.lower[j] <= worst, `${method} margin ${j}: bound ${b.lower[j]} above the corner minimum ${worst}`);
      t.true(worst - b.lower[j] < 1e-5, `${method} margin ${j}: bound ${b.lower[j]} far below the corner minimum ${worst}`);
    }
    // The checker catches a bound that is too high by 1e-3.
    const raised = b.lower.map((v) => v + 1e-3);
    let failed = false;
    checkSampled({ fail: () => (failed = true) }, m, x, 0, raised, 0.1, { lo: 0, hi: 1 }, 300, new Stream(1, 1));
    t.true(failed, `${method}: a raised bound went unnoticed`);
  }
});

test("the widening covers float32 rounding where the raw float32 bound would be wrong", (t) => {
  // Cancelling weights ±1000 on 200 inputs: the exact pre-activations are O(1), float32 sums of
  // the O(10^5) terms err by far more than the box width. The unwidened float32 bound lands above
  // the exact one; the sound bound never does.
  const nin = 200;
  const m = net([1, 1, nin], [flatten, dense(nin, 6), relu, dense(6, 3)], 5);
  const p = m.layerParams(1);
  const rng = new Stream(3, 3);
  for (let i = 0; i < 6 * nin; i++) p[i] = Math.fround((i % 2 === 0 ? 1000 : -1000) * (1 + 1e-3 * rng.next()));
  const n = 12;
  const x = Float32Array.from({ length: n * nin }, () => Math.fround(0.3 + 0.4 * rng.next()));
  const y = Array.from({ length: n }, (_, i) => i % 3);
  let rawAbove = 0;
  for (const method of FAST_METHODS) {
    rawAbove += soundBelowExact(t, m, x, y, { method, eps: 1e-4, rounding: "none" });
  }
  t.true(rawAbove > 0, "the raw float32 bounds never exceeded the exact ones: the test lost its point");
});

test("trained MLP: agreement with float64, sound on sampled points and PGD-like corners", async (t) => {
  const data = loadData("mnist", { limit: 2000, testLimit: 6 });
  const m = await trainedMlp(data.train);
  const n = 6;
  const x = data.test.x.subarray(0, n * m.inputSize);
  const y = Array.from(data.test.y.subarray(0, n));
  const rng = new Stream(5, 5);
  const cases: FastBoundOptions[] = [
    { method: "ibp", eps: 0.01 }, { method: "crown-ibp", eps: 0.01 }, { method: "crown", eps: 0.01 },
    { method: "crown", eps: 0.02, clip: null }, { method: "crown-ibp", eps: 0.05, pure: true },
  ];
  for (const o of cases) {
    const what = `${o.method}${o.pure ? " pure" : ""} ε ${o.eps}${o.clip === null ? " no clip" : ""}`;
    const nn = o.method === "crown" ? 3 : n;
    const xs = x.subarray(0, nn * m.inputSize);
    const ys = y.slice(0, nn);
    const ref = marginBounds(m, xs, ys, { ...o, rounding: "none" });
    const raw = fastMarginBounds(m, xs, ys, { ...o, rounding: "none", errorTerms: false });
    const sound = fastMarginBounds(m, xs, ys, { ...o, rounding: "none" });
    // 3e-5 here: the float32 input box alone is up to one float32 step (6e-8 near 1) wider per
    // pixel edge than the float64 one, 6e-6 of ε = 0.01, and 784 pixels add up.
    const { maxWiden } = checkAgreement(t, what, ref, raw, sound, ys, 3e-5);
    // The computation's widening is of the order of the network's own allowance, not more.
    const refNet = marginBounds(m, xs, ys, o);
    let allowance = 0;
    ref.forEach((r, s) => r.lower.forEach((v, j) => j !== ys[s] && (allowance = Math.max(allowance, v - refNet[s].lower[j]))));
    t.true(maxWiden <= 2 * allowance, `${what}: widening ${maxWiden} vs network allowance ${allowance}`);
    const withNet = fastMarginBounds(m, xs, ys, o);
    withNet.forEach((b, s) => checkSampled(t, m, xs.subarray(s * m.inputSize, (s + 1) * m.inputSize), ys[s], b.lower, o.eps, o.clip === undefined ? { lo: 0, hi: 1 } : o.clip, 90, rng));
  }
});

test("pure CROWN equals the float64 pure CROWN (same formulas, every neuron back-substituted)", (t) => {
  const shapes: LayerSpec[][] = [
    [flatten, dense(16, 24), relu, dense(24, 24), relu, dense(24, 6)],
    [flatten, dense(16, 20), relu, dense(20, 20), relu, dense(20, 20), relu, dense(20, 5)],
  ];
  for (const layers of shapes) {
    const m = net([1, 4, 4], layers, 9, 1.3);
    const { x, y } = inputs(m, 7, new Stream(2, 9));
    for (const eps of [0.02, 0.08]) {
      for (const pure of [true, false]) {
        const o: FastBoundOptions = { method: "crown", eps, pure, rounding: "none" };
        const ref = marginBounds(m, x, y, o);
        const raw = fastMarginBounds(m, x, y, { ...o, errorTerms: false });
        const sound = fastMarginBounds(m, x, y, o);
        ref.forEach((r, s) => r.lower.forEach((v, j) => {
          if (j === y[s]) return;
          t.true(Math.abs(v - raw[s].lower[j]) <= 1e-5 * Math.max(1, Math.abs(v)), `${layers.length} layers ε ${eps} pure ${pure}: ${v} vs ${raw[s].lower[j]}`);
          t.true(sound[s].lower[j] <= v, `sound ${sound[s].lower[j]} above exact ${v}`);
        }));
      }
    }
  }
});

test("batching: deterministic, and the same bounds at any batch size up to float32 reordering", (t) => {
  const m = net([1, 3, 4], NETS[0].layers, 4, 1.5);
  const { x, y } = inputs(m, 9, new Stream(4, 4));
  for (const method of FAST_METHODS) {
    const a = fastMarginBounds(m, x, y, { method, eps: 0.05 });
    const b = fastMarginBounds(m, x, y, { method, eps: 0.05 });
    t.deepEqual(a, b);
    const c = fastMarginBounds(m, x, y, { method, eps: 0.05, batch: 2 });
    a.forEach((r, s) => r.lower.forEach((v, j) => j !== y[s] && t.true(Math.abs(v - c[s].lower[j]) <= 1e-6 * Math.max(1, Math.abs(v)))));
  }
});

test("precision float64, pooling nets and other methods use the float64 path; conv nets do not", (t) => {
  const m = net([1, 3, 4], NETS[0].layers, 4);
  const { x, y } = inputs(m, 3, new Stream(6, 6));
  t.deepEqual(fastMarginBounds(m, x, y, { method: "crown", eps: 0.05, precision: "float64" }), marginBounds(m, x, y, { method: "crown", eps: 0.05 }));
  const conv = net([1, 5, 5], [{ type: "conv2d", inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 0 }, relu, flatten, dense(18, 3)], 2);
  t.is(fastPathSupport(conv), null);
  const pooled = net([1, 5, 5], [{ type: "conv2d", inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 0 }, relu, { type: "avgpool2d", kernel: 2, stride: 1 }, flatten, dense(8, 3)], 2);
  t.regex(fastPathSupport(pooled) ?? "", /avgpool2d/);
  t.regex(fastPathSupport(m, "dual") ?? "", /dual/);
  t.deepEqual(fastMarginBounds(m, x, y, { method: "dual", eps: 0.05 }), marginBounds(m, x, y, { method: "dual", eps: 0.05 }));
  const xc = Float32Array.from({ length: 2 * 25 }, (_, i) => (i % 7) / 7);
  t.deepEqual(fastMarginBounds(pooled, xc, [0, 2], { method: "crown-ibp", eps: 0.05 }), marginBounds(pooled, xc, [0, 2], { method: "crown-ibp", eps: 0.05 }));
  t.deepEqual(fastMarginBounds(conv, xc, [0, 2], { method: "crown-ibp", eps: 0.05, precision: "float64" }), marginBounds(conv, xc, [0, 2], { method: "crown-ibp", eps: 0.05 }));
});

test("bad input is a one-line error", (t) => {
  const m = net([1, 3, 4], NETS[0].layers, 4);
  const x = new Float32Array(24);
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "ibp", eps: -0.1 }), { message: /ε must be a non-negative/ });
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "ibp", eps: NaN }), { message: /ε must be/ });
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "lp" as never, eps: 0.1 }), { message: /unknown bound method/ });
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "ibp", eps: 0.1, precision: "half" as never }), { message: /unknown precision/ });
  t.throws(() => fastMarginBounds(m, x, [0], { method: "ibp", eps: 0.1 }), { message: /x holds 24 values/ });
  t.throws(() => fastMarginBounds(m, x, [0, 5], { method: "ibp", eps: 0.1 }), { message: /label 5 of sample 1/ });
  const bad = x.slice();
  bad[13] = NaN;
  t.throws(() => fastMarginBounds(m, bad, [0, 1], { method: "crown", eps: 0.1 }), { message: /x\[13\] is not finite \(sample 1\)/ });
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "ibp", eps: 0.1, clip: { lo: 1, hi: 0 } }), { message: /clip range/ });
  t.throws(() => fastMarginBounds(m, x, [0, 1], { method: "ibp", eps: 0.1, batch: 0 }), { message: /batch must be/ });
});

// The per-entry kernels of fast.ts (assembly/bounds.ts) against the JavaScript they replaced:
// the same float64 operations, so the same bits.

function scratch(): { k: Kernels; f32: (n: number) => Float32Array; f64: (n: number) => Float64Array; i32: (n: number) => Int32Array; at: (v: ArrayBufferView) => number } {
  const rt = runtime();
  const arena = new Arena(rt, defaultArena(rt).used + (1 << 16));
  return {
    k: rt.k,
    f32: (n) => arena.f32(n).f32,
    f64: (n) => {
      const ptr = arena.bytes(n * 8);
      return new Float64Array(rt.memory.buffer, ptr, n);
    },
    i32: (n) => arena.i32(n).i32,
    at: (v) => v.byteOffset,
  };
}

/** Same value and sign of zero, or both NaN. */
function sameBits(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!sameBits(a[i], b[i])) return i;
  return -1;
}

/** Values that probe the rounding edges: zeros of both signs, subnormal and huge values, non-finite ones. */
const EDGES = [0, -0, 2 ** -149, -(2 ** -149), 1e-46, -1e-46, 1e-300, 3.4e38, 3.5e38, -3.5e38, Infinity, -Infinity, NaN, 1, -1, 0.1, 1 / 3];

function mixed(n: number, rng: Stream, scale: number, edges: number[] = EDGES): number[] {
  return Array.from({ length: n }, (_, i) => (i % 5 === 0 ? edges[(i / 5) % edges.length] : scale * (2 * rng.next() - 1) * 10 ** (Math.floor(rng.next() * 6) - 3)));
}

test("kernel ibpRadius equals its JavaScript reference bit for bit", (t) => {
  const { k, f32, f64, at } = scratch();
  const rng = new Stream(21, 1);
  for (const cols of [8, 7, 1]) {
    const n = 5;
    const nn = n * cols;
    const cv = f32(nn);
    const av = f32(3 * nn);
    const bias = f32(cols);
    cv.set(mixed(nn, rng, 4));
    // |W|·r, |W|·M, |W|·E are non-negative in use; the edges check the arithmetic anyway.
    av.set(mixed(3 * nn, rng, 2).map((v, i) => (i % 3 === 0 ? v : Math.abs(v))));
    bias.set(mixed(cols, rng, 1));
    for (const [growNet, gNet, grow, g] of [[grow32(cols), gamma32(cols + 1), grow32(cols), gamma32(cols + 1)], [grow32(cols), gamma32(cols + 1), 1, 0]]) {
      for (const hasE of [0, 1]) for (const withBox of [0, 1]) for (const allowance of [0, 1]) {
        const [lo, hi, e] = [f64(nn).fill(7), f64(nn).fill(7), f64(nn).fill(7)];
        const w = f32(nn).fill(7);
        k.ibpRadius(n, cols, at(cv), at(av), at(bias), hasE, withBox, allowance, growNet, gNet, grow, g, at(lo), at(hi), at(w), at(e));
        // The JavaScript of fast.ts ibpStep before the kernel.
        const rlo = new Float64Array(nn).fill(7);
        const rhi = new Float64Array(nn).fill(7);
        const re = new Float64Array(nn).fill(7);
        const rw = new Float32Array(nn).fill(7);
        for (let s = 0, i = 0; s < n; s++) {
          for (let j = 0; j < cols; j++, i++) {
            const mh = growNet * av[nn + i] + Math.abs(bias[j]);
            rw[i] = up32(mh);
            if (withBox) {
              const rad = bump(grow * av[i] + g * mh);
              rlo[i] = cv[i] - rad;
              rhi[i] = cv[i] + rad;
            }
            if (allowance) {
              const ein = hasE ? growNet * av[2 * nn + i] : 0;
              re[i] = bump(ein + gNet * (mh + ein));
            }
          }
        }
        const what = `cols ${cols} hasE ${hasE} box ${withBox} allowance ${allowance} g ${g}`;
        for (const [name, a, b] of [["w", w, rw], ["lo", lo, rlo], ["hi", hi, rhi], ["e", e, re]] as const) {
          const d = firstDiff(a, b);
          t.is(d, -1, `${what}: ${name}[${d}] = ${a[d]} vs ${b[d]}`);
        }
      }
    }
  }
});

test("kernel boxFromBounds equals its JavaScript reference bit for bit", (t) => {
  const { k, f32, f64, at } = scratch();
  const rng = new Stream(22, 1);
  for (const nn of [64, 67, 3]) {
    const lo = f64(nn);
    const hi = f64(nn);
    const e = f64(nn);
    const l = mixed(nn, rng, 3);
    const w = mixed(nn, rng, 1, [0, 0, -0, 2 ** -149, 1e-300, 1e-46, Infinity, NaN, 1]);
    lo.set(l);
    // Mostly hi ≥ lo (as boxes are), with the edge cases in both positions.
    hi.set(l.map((v, i) => (i % 7 === 3 ? EDGES[i % EDGES.length] : v + Math.abs(w[i]))));
    // Signed zeros and non-finite pairs, in both f64x2 halves of the SIMD body (and the tail).
    const pairs = [[-0, -0], [-0, 0], [0, -0], [-(2 ** -149), -0], [NaN, 1], [-1, NaN], [-Infinity, Infinity], [Infinity, Infinity], [-(2 ** -149), 2 ** -149], [-3.5e38, -1e-300], [-Infinity, 1], [1, Infinity]];
    pairs.forEach(([a, b], q) => {
      for (const i of [4 * q, 4 * q + 3, q]) {
        if (i >= nn) continue;
        lo[i] = a;
        hi[i] = b;
      }
    });
    e.set(mixed(nn, rng, 1e-4).map(Math.abs));
    for (const relu of [0, 1]) for (const hasE of [0, 1]) {
      const [c, r, m, eo] = [f32(nn).fill(7), f32(nn).fill(7), f32(nn).fill(7), f32(nn).fill(7)];
      k.boxFromBounds(nn, at(lo), at(hi), at(e), relu, hasE, at(c), at(r), at(m), at(eo));
      // The JavaScript of fast.ts boxInto before the kernel.
      const [rc, rr, rm, re] = [new Float32Array(nn).fill(7), new Float32Array(nn).fill(7), new Float32Array(nn).fill(7), new Float32Array(nn).fill(7)];
      for (let i = 0; i < nn; i++) {
        const li = relu ? Math.max(0, lo[i]) : lo[i];
        const hi_ = relu ? Math.max(0, hi[i]) : hi[i];
        const ci = Math.fround(0.5 * (li + hi_));
        rc[i] = ci;
        rr[i] = up32(Math.max(hi_ - ci, ci - li));
        rm[i] = up32(Math.max(Math.abs(li), Math.abs(hi_)));
        if (hasE) re[i] = up32(e[i]);
      }
      for (const [name, a, b] of [["c", c, rc], ["r", r, rr], ["m", m, rm], ["e", eo, re]] as const) {
        const d = firstDiff(a, b);
        t.is(d, -1, `nn ${nn} relu ${relu} hasE ${hasE}: ${name}[${d}] = ${a[d]} vs ${b[d]} (lo ${lo[d]}, hi ${hi[d]})`);
      }
    }
  }
});

test("kernel reluRelax equals its JavaScript reference bit for bit", (t) => {
  const { k, f32, f64, at } = scratch();
  const rng = new Stream(23, 1);
  const nn = 403;
  const lo = f64(nn);
  const hi = f64(nn);
  const l = mixed(nn, rng, 2);
  lo.set(l);
  hi.set(l.map((v, i) => (i % 9 === 4 ? EDGES[i % EDGES.length] : i % 4 === 0 ? v : v + 3 * rng.next())));
  const [al, au, bu, w] = [f32(nn).fill(7), f32(nn).fill(7), f32(nn).fill(7), f32(nn).fill(7)];
  k.reluRelax(nn, at(lo), at(hi), at(al), at(au), at(bu), at(w));
  // The JavaScript of fast.ts relaxation before the kernel.
  const [ral, rau, rbu, rw] = [new Float32Array(nn), new Float32Array(nn), new Float32Array(nn), new Float32Array(nn)];
  let unstable = 0;
  for (let i = 0; i < nn; i++) {
    const li = lo[i];
    const u = hi[i];
    if (li >= 0) {
      ral[i] = 1;
      rau[i] = 1;
    } else if (u > 0) {
      const s = up32(u / (u - li));
      const b = up32(-s * li);
      rau[i] = s;
      rbu[i] = b;
      ral[i] = u > -li ? 1 : 0;
      rw[i] = up32(Math.max(-li, u) + b);
      unstable++;
    }
  }
  t.true(unstable > 50, "too few unstable entries to test");
  for (const [name, a, b] of [["al", al, ral], ["au", au, rau], ["bu", bu, rbu], ["w", w, rw]] as const) {
    const d = firstDiff(a, b);
    t.is(d, -1, `${name}[${d}] = ${a[d]} vs ${b[d]} (lo ${lo[d]}, hi ${hi[d]})`);
  }
});

test("kernels foldLast and foldedRows: the folded layer and its three products, as the GEMM computed them", (t) => {
  const { k, f32, i32, at } = scratch();
  const rng = new Stream(24, 1);
  const wk = f32(k.gemmWorkBytes() / 4);
  // 530 inputs: two k blocks of the GEMM's narrow path and a tail of 2.
  for (const [classes, cols] of [[10, 64], [11, 530], [3, 13], [16, 4]]) {
    const W = f32(classes * cols);
    const b = f32(classes);
    W.set(Array.from({ length: classes * cols }, () => 2 * rng.next() - 1));
    b.set(Array.from({ length: classes }, () => rng.next() - 0.5));
    const n = 6;
    const labels = i32(n);
    labels.set(Array.from({ length: n }, (_, s) => (3 * s + 1) % classes));
    const tabs = i32(n);
    const tables = new Map<number, Float32Array>();
    for (const y of new Set(labels)) {
      const wf = f32(classes * cols).fill(7);
      const bf = f32(classes).fill(7);
      k.foldLast(at(W), at(b), classes, cols, y, at(wf), at(bf));
      for (let j = 0; j < classes; j++) {
        t.is(bf[j], j === y ? 0 : Math.fround(b[y] - b[j]));
        for (let i = 0; i < cols; i++) {
          if (wf[j * cols + i] !== (j === y ? 0 : Math.fround(W[y * cols + i] - W[j * cols + i]))) t.fail(`foldLast: label ${y} row ${j} column ${i}`);
        }
      }
      tables.set(y, wf);
    }
    labels.forEach((y, s) => (tabs[s] = at(tables.get(y)!)));
    const c = f32(n * cols);
    const r = f32(n * cols);
    const m = f32(n * cols);
    c.set(Array.from({ length: n * cols }, () => rng.next()));
    r.set(Array.from({ length: n * cols }, () => 0.1 * rng.next()));
    m.set(c.map((v, i) => Math.fround(v + r[i])));
    const out = f32(3 * n * classes).fill(7);
    k.foldedRows(n, classes, cols, at(tabs), at(labels), at(c), at(r), at(m), at(out));
    const nc = n * classes;
    for (let s = 0; s < n; s++) {
      const y = labels[s];
      const wf = tables.get(y)!;
      const wAbs = f32(classes * cols);
      wAbs.set(wf.map(Math.abs));
      // What fast.ts ran before: the GEMM of each sample's row against the table. foldedRows
      // follows gemm.ts's narrow-path summation order (≤ 16 classes), so the bits agree; if
      // that order changes, change foldedDots with it (the γ check below is the sound part).
      const g = f32(3 * classes);
      k.gemm(0, 1, 1, classes, cols, at(c) + 4 * s * cols, cols, at(wf), cols, at(g), classes, 0, at(wk));
      k.gemm(0, 1, 1, classes, cols, at(r) + 4 * s * cols, cols, at(wAbs), cols, at(g) + 4 * classes, classes, 0, at(wk));
      k.gemm(0, 1, 1, classes, cols, at(m) + 4 * s * cols, cols, at(wAbs), cols, at(g) + 8 * classes, classes, 0, at(wk));
      for (let j = 0; j < classes; j++) {
        for (let q = 0; q < 3; q++) {
          const got = out[q * nc + s * classes + j];
          if (j === y) {
            t.is(got, 0);
            continue;
          }
          t.true(sameBits(got, g[q * classes + j]), `classes ${classes} cols ${cols} sample ${s} class ${j} product ${q}: ${got} vs GEMM ${g[q * classes + j]}`);
          // And within the float32 error bound of the exact sum.
          let exact = 0;
          let mag = 0;
          const v = [c, r, m][q];
          for (let i = 0; i < cols; i++) {
            const wv = q === 0 ? wf[j * cols + i] : Math.abs(wf[j * cols + i]);
            exact += wv * v[s * cols + i];
            mag += Math.abs(wv * v[s * cols + i]);
          }
          t.true(Math.abs(got - exact) <= gamma32(cols) * mag, `classes ${classes} cols ${cols}: ${got} vs exact ${exact}`);
        }
      }
    }
  }
});

test("kernel linfBox reports non-finite inputs, in the SIMD body and in the tail", (t) => {
  const { k, f32, at } = scratch();
  const n = 11;
  const x = f32(n);
  const [lo, hi, c, r, m] = [f32(n), f32(n), f32(n), f32(n), f32(n)];
  const call = (): number => k.linfBox(at(x), n, 0.1, 1, 0, 1, at(lo), at(hi), at(c), at(r), at(m));
  x.fill(0.5);
  t.is(call(), 0);
  for (const at_ of [0, 5, 7, 8, 10]) {
    for (const bad of [NaN, Infinity, -Infinity]) {
      x.fill(0.5);
      x[at_] = bad;
      t.is(call(), 1, `x[${at_}] = ${bad}`);
    }
  }
  x.fill(3.4e38);
  t.is(call(), 0, "large but finite");
});
