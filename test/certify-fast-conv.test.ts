// The float32 bound path on conv nets (src/certify/fast.ts with fast-conv.ts): agreement with
// the float64 reference (bounds.ts), soundness on sampled points and box corners, the widening
// rule, windows vs full rows, chunking, a conv net where raw float32 bounds go wrong, a trained
// cnn-small, and the new kernels (assembly/bounds.ts) and conv wrappers against plain
// JavaScript references.
import test from "ava";
import { Model } from "../src/nn/model.js";
import { architecture } from "../src/nn/architectures.js";
import { Stream } from "../src/core/random.js";
import { runtime } from "../src/core/runtime.js";
import { Arena, defaultArena } from "../src/core/arena.js";
import type { Kernels } from "../src/core/kernels.js";
import { loadData } from "../src/data/index.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { attack } from "../src/attack/api.js";
import { inputBox, marginBounds, type SampleBounds } from "../src/certify/bounds.js";
import { FAST_METHODS, fastMarginBounds, fastPathSupport, type FastBoundOptions, type FastSampleBounds, type FastStats } from "../src/certify/fast.js";
import { convForward, convLayer, convTransposed, windowGeom, type ConvL } from "../src/certify/fast-conv.js";
import { logitMargins } from "../src/certify/verdict.js";
import { gamma32, gamma64, grow32 } from "../src/certify/rounding32.js";
import { samplePoints } from "./helpers/box.js";
import { soundBelowExact } from "./helpers/sound.js";
import { conv, dense, flatten, net, pool, relu, SMALL_NETS, type NetSpec } from "./helpers/nets.js";

/**
 * Conv nets covering the engines (im2col/GEMM for other kernels or cout % 8 ≠ 0, implicit GEMM
 * for 4-wide kernels and cout % 8 = 0), padding and stride, windowed and full-row
 * intermediate bounds (`windows`: which refined conv layers run on windows).
 */
const CONV_NETS: (NetSpec & { windows: boolean })[] = [
  {
    name: "k3 s1 p1 → k3 s2 p1, GEMM engines", shape: [2, 6, 6], windows: true,
    layers: [conv(2, 3, 3, 1, 1), relu, conv(3, 4, 3, 2, 1), relu, flatten, dense(36, 6), relu, dense(6, 3)],
  },
  {
    name: "cnn-small shape (k4 s2 p1 twice, 8 channels): direct engines", shape: [1, 12, 12], windows: true,
    layers: [conv(1, 8, 4, 2, 1), relu, conv(8, 8, 4, 2, 1), relu, flatten, dense(72, 10), relu, dense(10, 4)],
  },
  {
    name: "cnn-large shape (k3, k4 s2, k3): windows for one layer, full rows for the next", shape: [1, 8, 8], windows: true,
    layers: [conv(1, 8, 3, 1, 1), relu, conv(8, 8, 4, 2, 1), relu, conv(8, 8, 3, 1, 1), relu, flatten, dense(128, 6), relu, dense(6, 3)],
  },
  {
    name: "no padding, k3 s2 then k2 s1", shape: [2, 7, 7], windows: true,
    layers: [conv(2, 5, 3, 2, 0), relu, conv(5, 4, 2, 1, 0), relu, flatten, dense(16, 5), relu, dense(5, 4)],
  },
  {
    name: "two convs in a row (no ReLU between: full rows)", shape: [1, 6, 6], windows: false,
    layers: [conv(1, 4, 3, 1, 0), conv(4, 4, 3, 1, 1), relu, flatten, dense(64, 5), relu, dense(5, 3)],
  },
  {
    name: "one conv, then dense", shape: [1, 5, 5], windows: false,
    layers: [conv(1, 2, 3, 1, 0), relu, flatten, dense(18, 3)],
  },
];

function inputs(m: Model, n: number, rng: Stream): { x: Float32Array; y: number[] } {
  const x = Float32Array.from({ length: n * m.inputSize }, () => rng.next());
  const y = Array.from({ length: n }, (_, i) => (3 * i + 1) % m.outputSize);
  return { x, y };
}

/** Fails when a margin of the float32 network at a sampled point (a third of them box corners) lies below its bound. */
function checkSampled(t: { fail(m: string): void }, m: Model, x: Float32Array, label: number, lower: Float64Array, eps: number,
  clip: { lo: number; hi: number } | null, count: number, rng: Stream): void {
  const [lo, hi] = inputBox(x, eps, clip);
  const pts = samplePoints(lo, hi, count, rng);
  for (const mg of logitMargins(m, pts, new Array(count).fill(label))) {
    for (let j = 0; j < mg.length; j++) {
      if (j !== label && mg[j] < lower[j]) t.fail(`margin ${j} = ${mg[j]} below its bound ${lower[j]}`);
    }
  }
}

/**
 * ref: float64 exact-arithmetic bounds; raw: float32 without its error terms; sound: float32
 * with them (all rounding "none"). raw within relTol of ref; sound never above ref (up to
 * 1e-6 relative, the float32 input box being ≤ one step wider per edge) nor above raw.
 */
function checkAgreement(t: { true(c: boolean, m?: string): void }, what: string, ref: SampleBounds[], raw: FastSampleBounds[],
  sound: FastSampleBounds[], y: number[], relTol: number): number {
  let maxRel = 0;
  ref.forEach((r, s) => {
    for (let j = 0; j < r.lower.length; j++) {
      if (j === y[s]) {
        t.true(sound[s].lower[j] === Infinity, `${what}: entry y is not +Infinity`);
        continue;
      }
      const scale = Math.max(1, Math.abs(r.lower[j]));
      const rel = Math.abs(raw[s].lower[j] - r.lower[j]) / scale;
      maxRel = Math.max(maxRel, rel);
      t.true(rel <= relTol, `${what}: sample ${s} margin ${j}: float32 ${raw[s].lower[j]} vs float64 ${r.lower[j]}`);
      t.true(sound[s].lower[j] <= r.lower[j] + 1e-6 * scale, `${what}: sound float32 bound ${sound[s].lower[j]} above the exact-arithmetic bound ${r.lower[j]}`);
      t.true(sound[s].lower[j] <= raw[s].lower[j], `${what}: the widening raised the bound`);
    }
    t.true(sound[s].lowest === Math.min(...Array.from(sound[s].lower).filter((_, j) => j !== y[s])), `${what}: lowest`);
  });
  return maxRel;
}

/**
 * With the default rounding: never above the float64 path's bound, and below it by no more
 * than the widening the float32 path reports (plus the raw difference, ≤ relTol).
 */
function checkWidening(t: { true(c: boolean, m?: string): void }, what: string, refNet: SampleBounds[], withNet: FastSampleBounds[], y: number[], relTol: number): void {
  refNet.forEach((r, s) => {
    for (let j = 0; j < r.lower.length; j++) {
      if (j === y[s]) continue;
      const scale = Math.max(1, Math.abs(r.lower[j]));
      const f32 = withNet[s].lower[j];
      const wd = withNet[s].widening![j];
      t.true(wd >= 0, `${what}: negative widening`);
      t.true(f32 <= r.lower[j] + 1e-6 * scale, `${what}: sample ${s} margin ${j}: float32 ${f32} above float64 ${r.lower[j]}`);
      t.true(r.lower[j] - f32 <= wd + relTol * scale, `${what}: sample ${s} margin ${j}: float64 ${r.lower[j]} − float32 ${f32} exceeds the reported widening ${wd}`);
    }
  });
}

test("fastPathSupport: conv2d runs in float32; pooling and normalisation still go to float64", (t) => {
  for (const spec of CONV_NETS) t.is(fastPathSupport(net(spec.shape, spec.layers, 1)), null, spec.name);
  const pooled = SMALL_NETS.find((s) => s.layers.some((l) => l.type === "avgpool2d"))!;
  const pm = net(pooled.shape, pooled.layers, 2);
  t.regex(fastPathSupport(pm) ?? "", /avgpool2d/);
  const x = Float32Array.from({ length: 2 * pm.inputSize }, (_, i) => (i % 7) / 7);
  t.deepEqual(fastMarginBounds(pm, x, [0, 2], { method: "crown", eps: 0.05 }), marginBounds(pm, x, [0, 2], { method: "crown", eps: 0.05 }));
  const poolAfter = net([1, 6, 6], [conv(1, 2, 3, 1, 0), relu, pool(2, 2), flatten, dense(8, 3)], 3);
  t.regex(fastPathSupport(poolAfter) ?? "", /avgpool2d/);
});

for (const spec of CONV_NETS) {
  test(`conv net agrees with the float64 reference, is sound on sampled points, widens as reported: ${spec.name}`, (t) => {
    const rng = new Stream(31, 7);
    for (let seed = 1; seed <= 2; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      for (const eps of [0.02, 0.15]) {
        for (const clip of [{ lo: 0, hi: 1 }, null]) {
          const { x, y } = inputs(m, 4, rng);
          for (const method of FAST_METHODS) {
            for (const pure of [false, true]) {
              const what = `${spec.name} seed ${seed} ε ${eps} clip ${clip !== null} ${method}${pure ? " pure" : ""}`;
              const o: FastBoundOptions = { method, eps, clip, pure };
              const ref = marginBounds(m, x, y, { ...o, rounding: "none" });
              const raw = fastMarginBounds(m, x, y, { ...o, rounding: "none", errorTerms: false });
              const sound = fastMarginBounds(m, x, y, { ...o, rounding: "none" });
              checkAgreement(t, what, ref, raw, sound, y, 1e-4);
              const stats: FastStats = { gemmFlops: 0, denseFlops: 0, backMs: 0, gemmMs: 0, rows: 0 };
              const withNet = fastMarginBounds(m, x, y, o, stats);
              if (method === "crown") t.is((stats.windowRows ?? 0) > 0, spec.windows, `${what}: rows on windows ${stats.windowRows}`);
              checkWidening(t, what, marginBounds(m, x, y, o), withNet, y, 1e-4);
              withNet.forEach((b, s) => checkSampled(t, m, x.subarray(s * m.inputSize, (s + 1) * m.inputSize), y[s], b.lower, eps, clip, 45, rng));
            }
          }
        }
      }
    }
  });
}

test("windows, chunking and batching change nothing but float32 summation order", (t) => {
  const rng = new Stream(8, 8);
  const mlp = SMALL_NETS[0];
  for (const spec of [...CONV_NETS.slice(0, 4), { ...mlp, windows: false }]) {
    const m = net(spec.shape, spec.layers, 5, 1.5);
    const { x, y } = inputs(m, 5, rng);
    for (const pure of [false, true]) {
      const o: FastBoundOptions = { method: "crown", eps: 0.1, pure, rounding: "none", errorTerms: false };
      const base = fastMarginBounds(m, x, y, o);
      const variants: [string, FastBoundOptions][] = [
        ["full rows", { ...o, windows: false }],
        ["a 2-row working set (samples split across chunks)", { ...o, chunkFloats: 50 }],
        ["windows off and small chunks", { ...o, windows: false, chunkFloats: 300 }],
        ["batch 2", { ...o, batch: 2 }],
      ];
      for (const [name, v] of variants) {
        const other = fastMarginBounds(m, x, y, v);
        base.forEach((b, s) => b.lower.forEach((val, j) => {
          if (j === y[s]) return;
          t.true(Math.abs(val - other[s].lower[j]) <= 2e-6 * Math.max(1, Math.abs(val)), `${spec.name} pure ${pure} ${name}: ${val} vs ${other[s].lower[j]}`);
        }));
      }
      // And the sound bounds with small chunks stay sound against the exact ones.
      const exact = marginBounds(m, x, y, { method: "crown", eps: 0.1, pure, rounding: "none" });
      const chunked = fastMarginBounds(m, x, y, { method: "crown", eps: 0.1, pure, rounding: "none", chunkFloats: 50 });
      exact.forEach((r, s) => r.lower.forEach((v, j) => j !== y[s] && t.true(chunked[s].lower[j] <= v + 1e-6 * Math.max(1, Math.abs(v)))));
    }
  }
});

test("a conv net whose raw float32 bounds go above the exact ones: the sound bounds never do", (t) => {
  // Weights +1000 on the first half of each 8·3·3 window, −1000 on the second, over a constant
  // image: the pre-activations cancel to O(1) while float32 partial sums reach ~2·10^4, so the
  // sums err by ~10^-3. The clip range makes the input box [0.5, 0.5 + 2^-20] exactly float32
  // (no outward rounding to hide the error behind), and the radius is small: unwidened
  // float32 bounds land above exact ones.
  const m = net([8, 5, 5], [conv(8, 6, 3, 1, 1), relu, conv(6, 8, 3, 2, 1), relu, flatten, dense(72, 3)], 5);
  const p = m.layerParams(0);
  const rng = new Stream(3, 3);
  for (let i = 0; i < 6 * 72; i++) p[i] = Math.fround((i % 72 < 36 ? 1000 : -1000) * (1 + 1e-3 * rng.next()));
  const n = 6;
  const x = new Float32Array(n * m.inputSize).fill(0.5);
  const y = Array.from({ length: n }, (_, i) => i % 3);
  let rawAbove = 0;
  for (const method of FAST_METHODS) {
    for (const pure of [false, true]) {
      rawAbove += soundBelowExact(t, m, x, y, { method, eps: 0.01, clip: { lo: 0.5, hi: 0.5 + 2 ** -20 }, pure, rounding: "none" });
    }
  }
  t.true(rawAbove > 0, "the raw float32 bounds never exceeded the exact ones: the test lost its point");
});

test.serial("trained cnn-small: agreement with float64, sound at sampled points and at PGD's points, widening of the order of the network allowance", async (t) => {
  const data = loadData("mnist", { limit: 2000, testLimit: 8 });
  const m = new Model(architecture("cnn-small")).init(1);
  const opt = createOptimizer(m, { name: "adam", lr: 2e-3 });
  await train(m, data.train, opt, { epochs: 1, batchSize: 64, seed: 1, lr: 2e-3, schedule: { name: "constant" } });
  t.is(fastPathSupport(m), null);
  const n = 4;
  const x = data.test.x.subarray(0, n * m.inputSize);
  const y = Array.from(data.test.y.subarray(0, n));
  const rng = new Stream(5, 6);
  const cases: FastBoundOptions[] = [
    { method: "ibp", eps: 0.01 }, { method: "crown-ibp", eps: 0.02 }, { method: "crown", eps: 0.01 }, { method: "crown", eps: 0.03, clip: null },
  ];
  for (const o of cases) {
    const what = `${o.method} ε ${o.eps}${o.clip === null ? " no clip" : ""}`;
    const clip = o.clip === undefined ? { lo: 0, hi: 1 } : o.clip;
    const ref = marginBounds(m, x, y, { ...o, rounding: "none" });
    const raw = fastMarginBounds(m, x, y, { ...o, rounding: "none", errorTerms: false });
    const sound = fastMarginBounds(m, x, y, { ...o, rounding: "none" });
    // The float32 input box is up to one float32 step wider per pixel edge (784 pixels add up).
    checkAgreement(t, what, ref, raw, sound, y, 1e-4);
    const refNet = marginBounds(m, x, y, o);
    const withNet = fastMarginBounds(m, x, y, o);
    checkWidening(t, what, refNet, withNet, y, 1e-4);
    // The computation's own widening is of the order of the network's allowance, not more.
    let allowance = 0;
    let own = 0;
    ref.forEach((r, s) => r.lower.forEach((v, j) => {
      if (j === y[s]) return;
      allowance = Math.max(allowance, v - refNet[s].lower[j]);
      own = Math.max(own, raw[s].lower[j] - sound[s].lower[j]);
    }));
    t.true(own <= 2 * allowance, `${what}: own widening ${own} vs network allowance ${allowance}`);
    withNet.forEach((b, s) => checkSampled(t, m, x.subarray(s * m.inputSize, (s + 1) * m.inputSize), y[s], b.lower, o.eps, clip, 60, rng));
    // PGD with the margin loss: its points never beat a bound, and a certified sample is never broken.
    const adv = attack(m, x, y, { eps: o.eps, steps: 20, loss: "margin", seed: 3, ...(clip ? {} : { lo: -1e6, hi: 1e6 }) });
    const mg = logitMargins(m, adv.adversarial, y);
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < 10; j++) if (j !== y[s] && mg[s][j] < withNet[s].lower[j]) t.fail(`${what} sample ${s}: PGD margin ${mg[s][j]} < bound ${withNet[s].lower[j]}`);
      if (withNet[s].lowest > 0) t.false(adv.outcomes[s].success === 1, `${what} sample ${s}: certified but PGD succeeded`);
    }
  }
});

// ---------------------------------------------------------------------------------------
// Kernels (assembly/bounds.ts) and the conv wrappers (fast-conv.ts) against plain JavaScript.

function scratch(): { k: Kernels; arena: Arena; f32: (n: number) => Float32Array; f64: (n: number) => Float64Array; i32: (n: number) => Int32Array; at: (v: ArrayBufferView) => number } {
  const rt = runtime();
  const arena = new Arena(rt, defaultArena(rt).used + (1 << 16));
  return {
    k: rt.k,
    arena,
    f32: (n) => arena.f32(n).f32,
    f64: (n) => new Float64Array(rt.memory.buffer, arena.bytes(n * 8), n),
    i32: (n) => arena.i32(n).i32,
    at: (v) => v.byteOffset,
  };
}

/** Rows per sample for 3 samples (one with none), the offsets, and random rows of `cols` floats with zeros and exact negatives. */
function rowSet(rng: Stream, cols: number, i32: (n: number) => Int32Array, f32: (n: number) => Float32Array): { offs: Int32Array; rows: number; a: Float32Array } {
  const counts = [3, 0, 5];
  const offs = i32(4);
  counts.forEach((c, s) => (offs[s + 1] = offs[s] + c));
  const rows = offs[3];
  const a = f32(rows * cols);
  for (let i = 0; i < a.length; i++) a[i] = i % 11 === 0 ? 0 : Math.fround((rng.next() - 0.5) * 10 ** (Math.floor(rng.next() * 4) - 2));
  return { offs, rows, a };
}

const sampleOf = (offs: Int32Array, r: number): number => {
  let s = 0;
  while (offs[s + 1] <= r) s++;
  return s;
};

test("kernel relaxRows64: float32 coefficients as a·slope, float64 constant, float32 error weights", (t) => {
  const { k, f32, f64, i32, at } = scratch();
  const rng = new Stream(41, 1);
  for (const cols of [16, 13, 3]) {
    const { offs, rows, a } = rowSet(rng, cols, i32, f32);
    const nn = 3 * cols;
    const lo = f64(nn);
    const hi = f64(nn);
    for (let i = 0; i < nn; i++) {
      lo[i] = rng.next() - 0.6;
      hi[i] = i % 5 === 0 ? lo[i] : lo[i] + rng.next();
    }
    const [al, au, bu, w] = [f32(nn), f32(nn), f32(nn), f32(nn)];
    k.reluRelax(nn, at(lo), at(hi), at(al), at(au), at(bu), at(w));
    const before = Float32Array.from(a);
    const cOut = f64(rows).fill(7);
    const eOut = f32(rows).fill(7);
    k.relaxRows64(at(a), cols, at(offs), 3, at(al), at(au), at(bu), at(w), at(cOut), at(eOut));
    for (let r = 0; r < rows; r++) {
      const s = sampleOf(offs, r);
      let c = 0;
      let mag = 0;
      let e = 0;
      for (let q = 0; q < cols; q++) {
        const v = before[r * cols + q];
        const i = s * cols + q;
        const want = Math.fround(v * (v >= 0 ? al[i] : au[i]));
        if (!Object.is(a[r * cols + q], want) && !(a[r * cols + q] === 0 && want === 0)) t.fail(`cols ${cols} row ${r} entry ${q}: ${a[r * cols + q]} vs ${want}`);
        if (v < 0) {
          c += v * bu[i]; // exact in float64
          mag += Math.abs(v * bu[i]);
        }
        e += Math.abs(v) * w[i];
      }
      t.true(Math.abs(cOut[r] - c) <= gamma64(cols) * mag, `cols ${cols} row ${r}: constant ${cOut[r]} vs ${c}`);
      t.true(Math.abs(eOut[r] - e) <= gamma32(cols + 1) * e, `cols ${cols} row ${r}: error weight ${eOut[r]} vs ${e}`);
    }
  }
});

test("kernels rowDots64 and concretizeRows64: float64 dots of exact products, float32 error weights", (t) => {
  const { k, f32, f64, i32, at } = scratch();
  const rng = new Stream(42, 1);
  for (const cols of [20, 9, 2]) {
    const { offs, rows, a } = rowSet(rng, cols, i32, f32);
    const b = f32(cols);
    const w = f32(3 * cols);
    const lo = f32(3 * cols);
    const hi = f32(3 * cols);
    const m = f32(3 * cols);
    for (let i = 0; i < cols; i++) b[i] = Math.fround(rng.next() - 0.5);
    for (let i = 0; i < 3 * cols; i++) {
      w[i] = Math.fround(rng.next());
      lo[i] = Math.fround(rng.next() - 0.5);
      hi[i] = Math.fround(lo[i] + 0.3 * rng.next());
      m[i] = Math.max(Math.abs(lo[i]), Math.abs(hi[i]));
    }
    const cOut = f64(rows).fill(7);
    const eOut = f32(rows).fill(7);
    k.rowDots64(at(a), cols, at(offs), 3, at(b), at(w), at(cOut), at(eOut));
    const vOut = f64(rows).fill(7);
    const mOut = f32(rows).fill(7);
    k.concretizeRows64(at(a), cols, at(offs), 3, at(lo), at(hi), at(m), at(vOut), at(mOut));
    for (let r = 0; r < rows; r++) {
      const s = sampleOf(offs, r);
      let c = 0, cm = 0, e = 0, v = 0, vm = 0, em = 0;
      for (let q = 0; q < cols; q++) {
        const x = a[r * cols + q];
        const i = s * cols + q;
        c += x * b[q];
        cm += Math.abs(x * b[q]);
        e += Math.abs(x) * w[i];
        const at_ = x >= 0 ? lo[i] : hi[i];
        v += x * at_;
        vm += Math.abs(x * at_);
        em += Math.abs(x) * m[i];
      }
      t.true(Math.abs(cOut[r] - c) <= gamma64(cols) * cm, `rowDots64 cols ${cols} row ${r}: ${cOut[r]} vs ${c}`);
      t.true(Math.abs(eOut[r] - e) <= gamma32(cols + 1) * e, `rowDots64 cols ${cols} row ${r}: error weight ${eOut[r]} vs ${e}`);
      t.true(Math.abs(vOut[r] - v) <= gamma64(cols) * vm, `concretizeRows64 cols ${cols} row ${r}: ${vOut[r]} vs ${v}`);
      t.true(Math.abs(mOut[r] - em) <= gamma32(cols + 1) * em, `concretizeRows64 cols ${cols} row ${r}: ${mOut[r]} vs ${em}`);
    }
  }
});

/** Plain JavaScript conv geometry: for output (co, oy, ox) and tap (ci, ky, kx), the input index or −1 in the padding. */
function tap(cin: number, h: number, wd: number, kk: number, stride: number, pad: number, oy: number, ox: number, ci: number, ky: number, kx: number): number {
  const iy = oy * stride - pad + ky;
  const ix = ox * stride - pad + kx;
  return iy < 0 || iy >= h || ix < 0 || ix >= wd ? -1 : (ci * h + iy) * wd + ix;
}

const SHAPES: { cin: number; h: number; wd: number; cout: number; k: number; s: number; p: number }[] = [
  { cin: 1, h: 12, wd: 12, cout: 8, k: 4, s: 2, p: 1 }, // direct engines
  { cin: 3, h: 7, wd: 6, cout: 16, k: 4, s: 2, p: 1 }, // direct engines, odd plane
  { cin: 2, h: 6, wd: 6, cout: 3, k: 3, s: 1, p: 1 }, // GEMM engines
  { cin: 2, h: 7, wd: 7, cout: 5, k: 3, s: 2, p: 0 }, // GEMM engines, no padding
  { cin: 4, h: 5, wd: 5, cout: 8, k: 2, s: 1, p: 0 }, // direct forward, GEMM transposed
];

function convOp(rng: Stream, k: Kernels, arena: Arena, sh: (typeof SHAPES)[number]): ConvL {
  const ckk = sh.cin * sh.k * sh.k;
  const params = arena.f32(sh.cout * ckk + sh.cout).f32;
  for (let i = 0; i < params.length; i++) params[i] = Math.fround(rng.next() - 0.5);
  return convLayer(k, arena, [sh.cin, sh.h, sh.wd], { outChannels: sh.cout, kernel: sh.k, stride: sh.s, padding: sh.p }, params);
}

test("kernel convUnitRows writes ±(row j of the convolution's matrix), padding taps dropped", (t) => {
  const { k, arena, f32, i32, at } = scratch();
  const rng = new Stream(43, 1);
  for (const sh of SHAPES) {
    const op = convOp(rng, k, arena, sh);
    const W = runtime().f32(op.w, op.cout * op.ckk);
    const rows = 9;
    const idx = i32(rows);
    for (let r = 0; r < rows; r++) {
      const j = Math.floor(rng.next() * op.outSize);
      idx[r] = r % 2 === 0 ? j : -j - 1;
    }
    idx[0] = 0;
    idx[1] = -op.outSize;
    const dst = f32(rows * op.inSize).fill(7);
    k.convUnitRows(op.w, op.cin, op.h, op.wd, op.k, op.stride, op.pad, op.oh, op.ow, at(idx), rows, at(dst));
    for (let r = 0; r < rows; r++) {
      const j = idx[r] >= 0 ? idx[r] : -idx[r] - 1;
      const sign = idx[r] >= 0 ? 1 : -1;
      const co = Math.floor(j / op.plane);
      const oy = Math.floor((j % op.plane) / op.ow);
      const ox = j % op.ow;
      const want = new Float32Array(op.inSize);
      for (let ci = 0; ci < op.cin; ci++) for (let ky = 0; ky < op.k; ky++) for (let kx = 0; kx < op.k; kx++) {
        const i = tap(op.cin, op.h, op.wd, op.k, op.stride, op.pad, oy, ox, ci, ky, kx);
        if (i >= 0) want[i] = sign * W[((co * op.cin + ci) * op.k + ky) * op.k + kx];
      }
      t.deepEqual(Array.from(dst.subarray(r * op.inSize, (r + 1) * op.inSize)), Array.from(want), `${JSON.stringify(sh)} row ${r}`);
    }
  }
});

test("kernel gatherWindows copies windows of per-sample planes, zero outside the plane", (t) => {
  const { k, f32, i32, at } = scratch();
  const [C, H, W] = [3, 5, 6];
  const n = 2;
  const src = f32(n * C * H * W);
  src.forEach((_, i) => (src[i] = i + 1));
  const corners = [[0, 0, 0], [1, -2, -1], [0, 3, 4], [1, -7, 0], [0, 1, 5], [1, 4, -3]];
  for (const [wh, ww] of [[3, 3], [4, 2], [1, 6]]) {
    const seg = i32(3 * corners.length);
    corners.forEach((c, q) => seg.set(c, 3 * q));
    const block = C * wh * ww;
    const dst = f32(corners.length * block).fill(7);
    k.gatherWindows(at(src), C * H * W, C, H, W, wh, ww, at(seg), corners.length, at(dst));
    corners.forEach(([s, y0, x0], q) => {
      for (let c = 0; c < C; c++) for (let dy = 0; dy < wh; dy++) for (let dx = 0; dx < ww; dx++) {
        const y = y0 + dy;
        const x = x0 + dx;
        const want = y >= 0 && y < H && x >= 0 && x < W ? src[s * C * H * W + (c * H + y) * W + x] : 0;
        const got = dst[q * block + (c * wh + dy) * ww + dx];
        if (got !== want) t.fail(`window ${wh}×${ww} at ${[s, y0, x0]}: (${c},${dy},${dx}) = ${got}, want ${want}`);
      }
    });
  }
  t.pass();
});

test("convForward (both engines) is within γ_{ckk+1} of the exact convolution, |W| variant without bias", (t) => {
  const { k, arena, f32, at } = scratch();
  const rt = runtime();
  const rng = new Stream(44, 1);
  const work = arena.bytes(k.gemmWorkBytes());
  for (const sh of SHAPES) {
    const op = convOp(rng, k, arena, sh);
    const W = rt.f32(op.w, op.cout * op.ckk);
    const batch = 5;
    const x = f32(batch * op.inSize);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(rng.next() * 2 - 0.5);
    for (const abs of [false, true]) {
      for (const chunk of [1 << 19, 200]) {
        const y = f32(batch * op.outSize).fill(7);
        convForward(k, arena, op, at(x), batch, at(y), abs, work, chunk);
        const g = gamma32(op.ckk + 1);
        for (let s = 0; s < batch; s++) for (let co = 0; co < op.cout; co++) for (let oy = 0; oy < op.oh; oy++) for (let ox = 0; ox < op.ow; ox++) {
          let exact = abs ? 0 : op.bias[co];
          let mag = abs ? 0 : Math.abs(op.bias[co]);
          for (let ci = 0; ci < op.cin; ci++) for (let ky = 0; ky < op.k; ky++) for (let kx = 0; kx < op.k; kx++) {
            const i = tap(op.cin, op.h, op.wd, op.k, op.stride, op.pad, oy, ox, ci, ky, kx);
            if (i < 0) continue;
            const wv = W[((co * op.cin + ci) * op.k + ky) * op.k + kx];
            const term = (abs ? Math.abs(wv) : wv) * x[s * op.inSize + i];
            exact += term;
            mag += Math.abs(term);
          }
          const got = y[s * op.outSize + (co * op.oh + oy) * op.ow + ox];
          if (!(Math.abs(got - exact) <= g * mag)) t.fail(`${JSON.stringify(sh)} abs ${abs} chunk ${chunk}: (${s},${co},${oy},${ox}) ${got} vs ${exact}`);
        }
      }
    }
  }
  t.pass();
});

test("convTransposed (both engines, full planes and windows) is within γ_m (m = cout·⌈k/s⌉²) of the exact transposed convolution", (t) => {
  const { k, arena, f32, at } = scratch();
  const rt = runtime();
  const rng = new Stream(45, 1);
  const work = arena.bytes(k.gemmWorkBytes());
  for (const sh of SHAPES) {
    const op = convOp(rng, k, arena, sh);
    const W = rt.f32(op.w, op.cout * op.ckk);
    const g = gamma32(op.backTerms);
    t.is(op.backTerms, sh.cout * Math.ceil(sh.k / sh.s) ** 2);
    const wh = Math.min(2, op.oh);
    const ww = Math.min(3, op.ow);
    for (const geom of [op, windowGeom(op, wh, ww)]) {
      const { h, wd, pad, oh, ow } = geom;
      const outSize = op.cout * oh * ow;
      const inSize = op.cin * h * wd;
      const rows = 7;
      const a = f32(rows * outSize);
      for (let i = 0; i < a.length; i++) a[i] = i % 5 === 0 ? 0 : Math.fround(rng.next() - 0.5);
      for (const chunk of [1 << 19, 150]) {
        const out = f32(rows * inSize).fill(7);
        convTransposed(k, arena, op, at(a), rows, at(out), work, undefined, geom, chunk);
        const exact = new Float64Array(rows * inSize);
        const mag = new Float64Array(rows * inSize);
        const terms = new Int32Array(inSize);
        for (let r = 0; r < rows; r++) for (let co = 0; co < op.cout; co++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
          const av = a[r * outSize + (co * oh + oy) * ow + ox];
          for (let ci = 0; ci < op.cin; ci++) for (let ky = 0; ky < op.k; ky++) for (let kx = 0; kx < op.k; kx++) {
            const i = tap(op.cin, h, wd, op.k, op.stride, pad, oy, ox, ci, ky, kx);
            if (i < 0) continue;
            const term = av * W[((co * op.cin + ci) * op.k + ky) * op.k + kx];
            exact[r * inSize + i] += term;
            mag[r * inSize + i] += Math.abs(term);
            if (r === 0) terms[i]++;
          }
        }
        t.true(Math.max(...terms) <= op.backTerms, `${JSON.stringify(sh)}: ${Math.max(...terms)} terms in an entry, backTerms ${op.backTerms}`);
        for (let i = 0; i < rows * inSize; i++) {
          if (!(Math.abs(out[i] - exact[i]) <= g * mag[i])) t.fail(`${JSON.stringify(sh)} geometry ${JSON.stringify({ h, wd, pad, oh, ow })} chunk ${chunk}: entry ${i} ${out[i]} vs ${exact[i]}`);
        }
      }
    }
  }
  t.pass();
});

test("grow32 and gamma64 as the conv analysis uses them", (t) => {
  t.true(gamma64(1000) < 2 ** -40);
  t.true(gamma64(1) > 2 ** -53);
  t.true(grow32(3136) > 1 + 2 * 3136 * 2 ** -24);
  t.throws(() => gamma64(2 ** 52));
});
