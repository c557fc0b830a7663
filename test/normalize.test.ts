// The normalisation layer y = (x − mean[c]) / std[c]: forward and backward against a plain
// float64 reference, finite differences through a small model, spec errors, .bwk round trip,
// a few training steps, an attack through it, and its certification operator (NormalizeOp)
// against the layer and under every bound method.
import test from "ava";
import { Stream } from "../src/core/random.js";
import { attack } from "../src/attack/api.js";
import { BOUND_METHODS, inputBox, marginBounds, roundingAllowance } from "../src/certify/bounds.js";
import { networkOps, NormalizeOp } from "../src/certify/network.js";
import { logitMargins } from "../src/certify/verdict.js";
import { decodeModel, encodeModel } from "../src/io/bwk.js";
import { buildLayers } from "../src/nn/build.js";
import type { LayerSpec, Shape } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { train } from "../src/train/loop.js";
import type { ScheduleConfig } from "../src/train/schedule.js";
import { finiteDiffLinear, makeModel, runBackward, runForward, testArena, uniformArray } from "./helpers/layercheck.js";

const CONSTANT: ScheduleConfig = { name: "constant" };
const norm = (mean: number[], std: number[]): LayerSpec => ({ type: "normalize", mean, std });
const flatten: LayerSpec = { type: "flatten" };
const relu: LayerSpec = { type: "relu" };
const dense = (i: number, o: number): LayerSpec => ({ type: "dense", in: i, out: o });
const conv = (ci: number, co: number, k: number, s: number, p: number): LayerSpec =>
  ({ type: "conv2d", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p });

/** Plain reference: element i of sample n is in channel floor(i / plane). */
function normRef(x: ArrayLike<number>, shape: Shape, mean: number[], std: number[], batch: number): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const plane = size / shape[0];
  const y = new Float64Array(batch * size);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < size; i++) {
      const c = Math.floor(i / plane);
      const m = mean.length === 1 ? mean[0] : mean[c];
      const s = std.length === 1 ? std[0] : std[c];
      y[n * size + i] = (x[n * size + i] - m) / s;
    }
  }
  return y;
}

const CASES: { name: string; shape: Shape; mean: number[]; std: number[] }[] = [
  { name: "per channel [3,4,5]", shape: [3, 4, 5], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  { name: "scalar [1,6,6] (MNIST)", shape: [1, 6, 6], mean: [0.1307], std: [0.3081] },
  { name: "scalar mean, per-channel std", shape: [2, 3, 3], mean: [0.5], std: [2, -0.25] },
  { name: "per feature of a flat vector", shape: [7], mean: [1, 2, 3, 4, 5, 6, 7], std: [1, 0.5, 4, 8, 0.1, 3, 9] },
];

test("forward and backward match the plain reference", (t) => {
  for (const c of CASES) {
    const batch = 3;
    const size = c.shape.reduce((a, b) => a * b, 1);
    const model = makeModel(c.shape, [norm(c.mean, c.std), ...(c.shape.length > 1 ? [flatten] : [])]);
    const x = Float64Array.from(uniformArray(batch * size, 4), Math.fround);
    const want = normRef(x, c.shape, c.mean, c.std, batch);
    const got = runForward(model, x, batch);
    // One float32 rounding of the exact value: within half an ulp.
    for (let i = 0; i < got.length; i++) t.is(got[i], Math.fround(want[i]), `${c.name} forward at ${i}`);
    const dy = Float64Array.from(uniformArray(batch * size, 9), Math.fround);
    const { dx } = runBackward(model, x, dy, batch);
    const ones = new Float64Array(c.shape[0]).fill(1);
    const wantDx = normRef(dy, c.shape, [0], c.std.length === 1 ? c.std : Array.from(ones, (_, k) => c.std[k]), batch);
    for (let i = 0; i < dx.length; i++) t.is(dx[i], Math.fround(wantDx[i]), `${c.name} backward at ${i}`);
  }
});

test("finite differences through normalize → conv → relu → dense", (t) => {
  const shape: Shape = [2, 5, 5];
  const model = makeModel(shape, [norm([0.3, -0.2], [0.5, 2]), conv(2, 3, 3, 1, 1), relu, flatten, dense(75, 4)], 2);
  const batch = 2;
  const x = uniformArray(batch * 50, 12);
  const c = uniformArray(batch * 4, 13);
  const fd = finiteDiffLinear(model, x, c, batch, { h: 1e-2, count: 40 });
  t.true(fd.params.worst < 2e-2, `params: ${fd.params.worst}`);
  t.true(fd.input.worst < 2e-2, `input: ${fd.input.worst}`);
  t.true(fd.input.checked > 20);
});

test("bad specs are one-line errors naming the problem", (t) => {
  const build = (shape: Shape, spec: LayerSpec) => buildLayers(shape, [spec]);
  t.throws(() => build([3, 2, 2], norm([0, 0], [1])), { message: /layer 0 \(normalize\): mean must be a list of 1 or 3 numbers.*got 2 values/ });
  t.throws(() => build([3, 2, 2], norm([0], [1, 0, 1])), { message: /std\[1\] must be a finite, nonzero number, got 0/ });
  t.throws(() => build([1, 2, 2], norm([NaN], [1])), { message: /mean\[0\] must be a finite number, got NaN/ });
  t.throws(() => build([1, 2, 2], { type: "normalize", mean: 0.5, std: [1] } as unknown as LayerSpec), { message: /mean must be a list/ });
  t.throws(() => build([4], norm([0], [])), { message: /std must be a list of 1 or 4 numbers/ });
});

test("a model with normalisation survives a .bwk round trip", (t) => {
  const arch = { name: "n", inputShape: [2, 4, 4], layers: [norm([0.25, 0.75], [0.5, 0.125]), conv(2, 2, 3, 1, 0), relu, flatten, dense(8, 3)] };
  const model = new Model(arch, testArena()).init(4);
  const buf = encodeModel({ architecture: arch, params: model.params.f32.slice() });
  const back = decodeModel(buf);
  t.deepEqual(back.architecture, arch);
  const again = new Model(back.architecture, testArena());
  again.setParams(back.params);
  const x = uniformArray(2 * 32, 3, 0, 1);
  t.deepEqual(runForward(again, x, 2), runForward(model, x, 2));
});

/** A 2-class set whose classes differ in the mean of a channel that normalisation rescales. */
function separable(n: number, seed: number) {
  const s = new Stream(seed, 1);
  const x = new Float32Array(n * 8);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let k = 0; k < 8; k++) x[i * 8 + k] = 100 + (y[i] ? 0.4 : -0.4) + 0.3 * s.normal();
  }
  return { name: "sep", x, y, n, shape: [2, 2, 2] as [number, number, number], classes: 2 };
}

test("training through a normalisation layer learns; attacks go through it", async (t) => {
  // Inputs around 100 with spread 0.3: without the layer this is badly conditioned for SGD.
  const data = separable(200, 1);
  const model = makeModel([2, 2, 2], [norm([100], [0.3]), flatten, dense(8, 8), relu, dense(8, 2)], 5);
  const opt = createOptimizer(model, { name: "sgd", lr: 0.1 });
  const r = await train(model, data, opt, { epochs: 3, batchSize: 20, seed: 1, lr: 0.1, schedule: CONSTANT });
  t.true(r.epochs[r.epochs.length - 1].trainAccuracy > 0.9, `accuracy ${r.epochs[r.epochs.length - 1].trainAccuracy}`);
  // PGD within ε = 1 (3 standard deviations of the normalised scale) breaks most samples;
  // the attack must stay inside the ball.
  const x = data.x.subarray(0, 40 * 8);
  const y = Array.from(data.y.subarray(0, 40));
  const adv = attack(model, x, y, { attack: "pgd", eps: 1, lo: -Infinity, hi: Infinity, steps: 20, loss: "margin", seed: 0 });
  for (let i = 0; i < x.length; i++) t.true(Math.abs(adv.adversarial[i] - x[i]) <= 1 + 1e-4);
  t.true(adv.robustAccuracy < 0.2, `robust accuracy ${adv.robustAccuracy}`);
});

test("NormalizeOp is the layer's affine map; bounds with it are sound", (t) => {
  const shape: Shape = [2, 3, 3];
  const model = makeModel(shape, [norm([0.4, -1], [0.2, -3]), conv(2, 3, 2, 1, 0), relu, flatten, dense(12, 6), relu, dense(6, 3)], 8);
  const ops = networkOps(model);
  t.true(ops[0] instanceof NormalizeOp);
  const op = ops[0] as NormalizeOp;
  const x = uniformArray(18, 21, 0, 1);
  const want = normRef(x, shape, [0.4, -1], [0.2, -3], 1);
  const got = op.apply(x);
  for (let i = 0; i < 18; i++) t.true(Math.abs(got[i] - want[i]) < 1e-12);
  // back() is the transpose: ⟨a, W v⟩ = ⟨Wᵀ a, v⟩ and the shift lands in c.
  const a = uniformArray(2 * 18, 22);
  const c = new Float64Array(2);
  const back = op.back(a, 2, c);
  for (let r = 0; r < 2; r++) {
    let lhs = 0;
    let rhs = c[r];
    for (let i = 0; i < 18; i++) {
      lhs += a[r * 18 + i] * got[i];
      rhs += back[r * 18 + i] * x[i];
    }
    t.true(Math.abs(lhs - rhs) < 1e-12);
  }
  // Interval with a negative std swaps the ends.
  const [lo, hi] = op.interval(new Float64Array(18).fill(0), new Float64Array(18).fill(1));
  for (let i = 0; i < 18; i++) t.true(lo[i] <= hi[i]);
  // Every bound method is sound on random points of the box.
  const rng = new Stream(3, 5);
  const centres = Float32Array.from({ length: 4 * 18 }, () => rng.next());
  const labels = [0, 1, 2, 1];
  for (const method of BOUND_METHODS) {
    const bounds = marginBounds(model, centres, labels, { method, eps: 0.05 });
    for (let s = 0; s < labels.length; s++) {
      const [blo, bhi] = inputBox(centres.subarray(s * 18, (s + 1) * 18), 0.05, { lo: 0, hi: 1 });
      const pts = new Float32Array(50 * 18);
      for (let i = 0; i < pts.length; i++) {
        const k = i % 18;
        pts[i] = Math.min(bhi[k], Math.max(blo[k], Math.fround(blo[k] + rng.next() * (bhi[k] - blo[k]))));
      }
      const margins = logitMargins(model, pts, new Array(50).fill(labels[s]));
      for (const m of margins) {
        for (let j = 0; j < 3; j++) if (j !== labels[s]) t.true(m[j] >= bounds[s].lower[j], `${method}: margin ${m[j]} below bound ${bounds[s].lower[j]}`);
      }
    }
  }
  // The rounding allowance counts the normalisation's rounding (nonzero after it).
  const boxes = [[new Float64Array(18), new Float64Array(18).fill(1)] as [Float64Array, Float64Array]];
  const e = roundingAllowance([op], boxes);
  for (let i = 0; i < 18; i++) t.true(e[i] > 0 && e[i] < 1e-5);
});
