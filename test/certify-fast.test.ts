// The batched float32 bound path (src/certify/fast.ts): agreement with the float64 reference
// (bounds.ts marginBounds) on random and trained nets, soundness on sampled points and box
// corners, the float32 widening rule, the float64 mode and the fallback for conv nets, and bad
// input.
import test from "ava";
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
import { dense, flatten, net, relu } from "./helpers/nets.js";



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
    const o: FastBoundOptions = { method, eps: 1e-4, rounding: "none" };
    const exact = marginBounds(m, x, y, o);
    const raw = fastMarginBounds(m, x, y, { ...o, errorTerms: false });
    const sound = fastMarginBounds(m, x, y, o);
    exact.forEach((e, s) => {
      for (let j = 0; j < 3; j++) {
        if (j === y[s]) continue;
        if (raw[s].lower[j] > e.lower[j]) rawAbove++;
        t.true(sound[s].lower[j] <= e.lower[j], `${method}: sound ${sound[s].lower[j]} above exact ${e.lower[j]}`);
      }
    });
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

test("precision float64 and conv nets use the float64 path", (t) => {
  const m = net([1, 3, 4], NETS[0].layers, 4);
  const { x, y } = inputs(m, 3, new Stream(6, 6));
  t.deepEqual(fastMarginBounds(m, x, y, { method: "crown", eps: 0.05, precision: "float64" }), marginBounds(m, x, y, { method: "crown", eps: 0.05 }));
  const conv = net([1, 5, 5], [{ type: "conv2d", inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 0 }, relu, flatten, dense(18, 3)], 2);
  t.regex(fastPathSupport(conv) ?? "", /conv2d/);
  t.regex(fastPathSupport(m, "dual") ?? "", /dual/);
  t.deepEqual(fastMarginBounds(m, x, y, { method: "dual", eps: 0.05 }), marginBounds(m, x, y, { method: "dual", eps: 0.05 }));
  const xc = Float32Array.from({ length: 2 * 25 }, (_, i) => (i % 7) / 7);
  t.deepEqual(fastMarginBounds(conv, xc, [0, 2], { method: "crown-ibp", eps: 0.05 }), marginBounds(conv, xc, [0, 2], { method: "crown-ibp", eps: 0.05 }));
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
