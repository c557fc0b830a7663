// Layers and models: forward passes against float64 references, every layer's backward
// against the float64 reference backward and against central finite differences, gradient
// accumulation, seeded initialisation, the built-in architectures, and buildLayers' errors.
import test, { type ExecutionContext } from "ava";
import { Stream } from "../src/core/random.js";
import { architecture, ARCHITECTURES } from "../src/nn/architectures.js";
import { buildLayers } from "../src/nn/build.js";
import type { LayerSpec, Shape } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import {
  avgPoolRef,
  convBackRef,
  convOut,
  convRef,
  denseBackRef,
  denseRef,
  finiteDiffLinear,
  makeModel,
  maxRelErr,
  runBackward,
  runForward,
  scaledErr,
  testArena,
  uniformArray,
  type ConvGeom,
} from "./helpers/layercheck.js";

const conv = (ci: number, co: number, k: number, s: number, p: number): LayerSpec =>
  ({ type: "conv2d", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p });
const dense = (i: number, o: number): LayerSpec => ({ type: "dense", in: i, out: o });
const relu: LayerSpec = { type: "relu" };
const flatten: LayerSpec = { type: "flatten" };
const avgpool = (kernel: number, stride: number): LayerSpec => ({ type: "avgpool2d", kernel, stride });

/** Conv geometries: [batch, cin, cout, h, w, kernel, stride, padding]. */
const CONVS: [number, number, number, number, number, number, number, number][] = [
  [2, 3, 4, 8, 8, 4, 2, 1], // stride 2, pad 1, kernel 4 (the cnn-small/large downsampling)
  [3, 2, 3, 7, 9, 3, 1, 1], // kernel 3 pad 1, odd spatial size
  [2, 2, 3, 7, 9, 5, 1, 0], // kernel 5, no padding
  [2, 3, 2, 7, 9, 4, 2, 1], // stride 2 on odd sizes (floor)
  [2, 1, 5, 9, 7, 3, 2, 0], // stride 2, no padding, 1 input channel
  [1, 4, 3, 10, 11, 3, 3, 2], // stride 3, padding 2
  [2, 3, 2, 5, 6, 1, 1, 0], // 1×1 kernel
  [1, 2, 17, 6, 6, 3, 1, 1], // more output channels than one SIMD tile
  // 4×4 kernels with Cout % 8 == 0 take the implicit-GEMM engine (src/nn/conv2d.ts):
  [3, 1, 16, 28, 28, 4, 2, 1], // cnn-small's first layer
  [2, 16, 32, 14, 14, 4, 2, 1], // cnn-small's second layer (49 pixels: partial pixel tiles)
  [3, 3, 8, 9, 7, 4, 1, 0], // stride 1, no padding, odd sizes
  [2, 2, 16, 10, 11, 4, 3, 2], // stride 3, padding 2
  [1, 2, 24, 5, 5, 4, 1, 2], // padding wider than the image edge
];

function geom([batch, cin, cout, h, w, k, stride, pad]: (typeof CONVS)[number]): ConvGeom {
  return { batch, cin, cout, h, w, k, stride, pad };
}

const label = (g: ConvGeom) => `${g.cin}→${g.cout} ${g.h}×${g.w} k${g.k} s${g.stride} p${g.pad} batch ${g.batch}`;

/** A model that is one conv layer (then a flatten so the output is a vector). */
function convModel(g: ConvGeom, seed = 3): Model {
  return makeModel([g.cin, g.h, g.w], [conv(g.cin, g.cout, g.k, g.stride, g.pad), flatten], seed);
}

function convParams(model: Model, g: ConvGeom) {
  const p = Float64Array.from(model.params.f32);
  const nw = g.cout * g.cin * g.k * g.k;
  return { w: p.subarray(0, nw), b: p.subarray(nw) };
}

// ---------------------------------------------------------------------------------------------
// Forward against float64 references

test("Dense forward matches a float64 reference", (t) => {
  for (const [batch, inF, outF] of [[3, 7, 5], [1, 33, 17], [5, 64, 10], [4, 1, 3], [2, 130, 9]]) {
    const model = makeModel([inF], [dense(inF, outF)], 7);
    const x = uniformArray(batch * inF, batch + inF);
    const p = Float64Array.from(model.params.f32);
    const want = denseRef(x, p.subarray(0, inF * outF), p.subarray(inF * outF), batch, inF, outF);
    const got = runForward(model, x, batch);
    t.true(scaledErr(got, want) < 1e-5, `dense ${inF}→${outF} batch ${batch}: error ${scaledErr(got, want)}`);
  }
});

test("Conv2d forward matches a float64 reference (strides, paddings, kernels, odd sizes)", (t) => {
  for (const c of CONVS) {
    const g = geom(c);
    const model = convModel(g);
    const { oh, ow } = convOut(g);
    t.deepEqual(model.layers[0].outShape, [g.cout, oh, ow], label(g));
    const x = uniformArray(g.batch * g.cin * g.h * g.w, g.h * 31 + g.k);
    const { w, b } = convParams(model, g);
    const want = convRef(x, w, b, g);
    const got = runForward(model, x, g.batch);
    t.is(got.length, want.length);
    t.true(scaledErr(got, want) < 1e-5, `${label(g)}: error ${scaledErr(got, want)}`);
  }
});

test("Conv2d: padding taps see zeros, not neighbouring rows or samples", (t) => {
  // All-ones input and weights, zero bias: each output counts its in-bounds taps.
  const g: ConvGeom = { batch: 2, cin: 1, cout: 1, h: 5, w: 7, k: 3, stride: 1, pad: 1 };
  const model = convModel(g);
  model.params.f32.fill(1);
  model.params.f32[model.paramCount - 1] = 0;
  const got = runForward(model, new Float64Array(g.batch * g.h * g.w).fill(1), g.batch);
  const want = convRef(new Float64Array(g.batch * g.h * g.w).fill(1), new Float64Array(9).fill(1), [0], g);
  t.deepEqual(Array.from(got), Array.from(want));
  t.is(got[0], 4); // corner
  t.is(got[1], 6); // top edge
  t.is(got[g.w + 1], 9); // interior
});

test("AvgPool2d forward matches a float64 reference", (t) => {
  for (const [c, h, w, k, s] of [[2, 8, 8, 2, 2], [3, 7, 9, 2, 2], [1, 7, 9, 3, 1], [2, 6, 5, 3, 2]]) {
    const model = makeModel([c, h, w], [avgpool(k, s), flatten]);
    const x = uniformArray(2 * c * h * w, h + w);
    const got = runForward(model, x, 2);
    const want = avgPoolRef(x, 2 * c, h, w, k, s);
    t.true(scaledErr(got, want) < 1e-6, `avgpool ${c}×${h}×${w} k${k} s${s}: error ${scaledErr(got, want)}`);
  }
});

test("ReLU forward is max(0, x) and Flatten is the identity", (t) => {
  const r = makeModel([37], [relu]);
  const x = uniformArray(3 * 37, 1);
  t.deepEqual(Array.from(runForward(r, x, 3)), Array.from(x, (v) => Math.max(0, Math.fround(v))));
  const f = makeModel([2, 3, 4], [flatten]);
  const xf = uniformArray(2 * 24, 2);
  t.deepEqual(f.layers[0].outShape, [24]);
  t.deepEqual(Array.from(runForward(f, xf, 2)), Array.from(xf, Math.fround));
});

// ---------------------------------------------------------------------------------------------
// Backward: exact comparison with the float64 reference backward, and finite differences.
// Dense, Conv2d, AvgPool2d and Flatten are linear in x (and in θ), so with L = Σ c·y the
// central difference is exact up to rounding for any step: use a big one (h = 0.25).

test("Dense backward: dx, dW, db match the float64 reference and finite differences", (t) => {
  for (const [batch, inF, outF] of [[3, 7, 5], [4, 33, 17], [1, 5, 1]]) {
    const model = makeModel([inF], [dense(inF, outF)], 9);
    const x = uniformArray(batch * inF, 3 * inF);
    const c = uniformArray(batch * outF, 4 * outF, -1, 1, 12);
    const p = Float64Array.from(model.params.f32);
    const ref = denseBackRef(x, p.subarray(0, inF * outF), c, batch, inF, outF);
    const { dx, dparams } = runBackward(model, x, c, batch);
    const what = `dense ${inF}→${outF} batch ${batch}`;
    t.true(scaledErr(dx, ref.dx) < 1e-5, `${what} dx: ${scaledErr(dx, ref.dx)}`);
    t.true(scaledErr(dparams.subarray(0, inF * outF), ref.dw) < 1e-5, `${what} dW`);
    t.true(scaledErr(dparams.subarray(inF * outF), ref.db) < 1e-5, `${what} db`);
    const fd = finiteDiffLinear(model, x, c, batch, { h: 0.25, count: 30 });
    t.true(fd.params.worst < 1e-3, `${what} weights vs finite differences: ${fd.params.worst}`);
    t.true(fd.input.worst < 1e-3, `${what} input vs finite differences: ${fd.input.worst}`);
  }
});

for (const c of CONVS) {
  const g = geom(c);
  test(`Conv2d backward ${label(g)}: dx, dW, db match the float64 reference and finite differences`, (t) => {
    const model = convModel(g, 4);
    const { oh, ow } = convOut(g);
    const x = uniformArray(g.batch * g.cin * g.h * g.w, g.w * 13 + g.stride);
    const dy = uniformArray(g.batch * g.cout * oh * ow, g.h * 17 + g.pad, -1, 1, 12);
    const { w } = convParams(model, g);
    const ref = convBackRef(x, w, dy, g);
    const { dx, dparams } = runBackward(model, x, dy, g.batch);
    const nw = w.length;
    t.true(scaledErr(dx, ref.dx) < 1e-5, `dx error ${scaledErr(dx, ref.dx)}`);
    t.true(scaledErr(dparams.subarray(0, nw), ref.dw) < 1e-5, `dW error ${scaledErr(dparams.subarray(0, nw), ref.dw)}`);
    t.true(scaledErr(dparams.subarray(nw), ref.db) < 1e-5, `db error ${scaledErr(dparams.subarray(nw), ref.db)}`);
    const fd = finiteDiffLinear(model, x, dy, g.batch, { h: 0.25, count: 30 });
    t.true(fd.params.worst < 1e-3, `weights vs finite differences: ${fd.params.worst}`);
    t.true(fd.input.worst < 1e-3, `input vs finite differences: ${fd.input.worst}`);
  });
}

test("AvgPool2d backward matches finite differences on every input coordinate", (t) => {
  for (const [c, h, w, k, s] of [[2, 6, 6, 2, 2], [1, 7, 9, 2, 2], [2, 5, 7, 3, 1]]) {
    const model = makeModel([c, h, w], [avgpool(k, s), flatten]);
    const n = 2 * c * h * w;
    const x = uniformArray(n, 5);
    const cc = uniformArray(2 * model.outputSize, 6, -1, 1, 12);
    const fd = finiteDiffLinear(model, x, cc, 2, { h: 0.25, count: n });
    t.true(fd.input.worst < 1e-4, `avgpool ${c}×${h}×${w} k${k} s${s}: ${fd.input.worst}`);
    // Pixels no window covers (the remainder rows/columns) get no gradient.
    const { dx } = runBackward(model, x, cc, 2);
    const ow = Math.floor((w - k) / s) + 1;
    const covered = (ow - 1) * s + k;
    for (let col = covered; col < w; col++) t.is(dx[col], 0, `uncovered column ${col}`);
  }
});

test("ReLU backward is dy·[x > 0] and matches finite differences away from the kink", (t) => {
  const n = 50;
  const model = makeModel([n], [relu]);
  const x = uniformArray(3 * n, 8);
  const c = uniformArray(3 * n, 9, -1, 1, 12);
  const { dx } = runBackward(model, x, c, 3);
  t.deepEqual(Array.from(dx), Array.from(x, (v, i) => (v > 0 ? Math.fround(c[i]) : 0)));
  const h = 1e-3;
  const fd = finiteDiffLinear(model, x, c, 3, { h, count: 3 * n, skipInput: (i) => Math.abs(x[i]) < 10 * h });
  t.true(fd.input.checked > 100);
  t.true(fd.input.worst < 1e-3, `relu input gradient vs finite differences: ${fd.input.worst}`);
});

test("Flatten backward passes the gradient through unchanged", (t) => {
  const model = makeModel([3, 2, 4], [flatten, dense(24, 5)], 2);
  const x = uniformArray(2 * 24, 3);
  const c = uniformArray(2 * 5, 4, -1, 1, 12);
  const p = Float64Array.from(model.params.f32);
  const ref = denseBackRef(x, p.subarray(0, 120), c, 2, 24, 5);
  const { dx } = runBackward(model, x, c, 2);
  t.true(scaledErr(dx, ref.dx) < 1e-5);
  const fd = finiteDiffLinear(model, x, c, 2, { h: 0.25, count: 48 });
  t.true(fd.input.worst < 1e-3, `flatten + dense input gradient: ${fd.input.worst}`);
});

// ---------------------------------------------------------------------------------------------
// Whole small networks with the cross-entropy loss: central differences.

interface NetCase {
  name: string;
  input: Shape;
  layers: LayerSpec[];
}

const NETS: NetCase[] = [
  { name: "mlp 2×5×5-8-6-4", input: [2, 5, 5], layers: [flatten, dense(50, 8), relu, dense(8, 6), relu, dense(6, 4)] },
  {
    name: "cnn conv3p1-relu-avgpool-conv4s2p1-relu-dense on 7×9",
    input: [2, 7, 9],
    layers: [conv(2, 3, 3, 1, 1), relu, avgpool(2, 1), conv(3, 4, 4, 2, 1), relu, flatten, dense(4 * 3 * 4, 5)],
  },
  {
    name: "cnn conv5p0-relu-conv3s2p1-flatten-dense on 9×9",
    input: [1, 9, 9],
    layers: [conv(1, 3, 5, 1, 0), relu, conv(3, 2, 3, 2, 1), flatten, dense(2 * 3 * 3, 3)],
  },
];

/** Mean cross-entropy (accumulated in float64 by the kernel) of the current batch. */
function ceLoss(model: Model, batch: number): number {
  const plan = model.plan(batch);
  model.forward(plan, batch);
  return model.lossAndGrad(plan, batch);
}

function ceGradCheck(t: ExecutionContext, net: NetCase, input: boolean) {
  const batch = 3;
  const model = makeModel(net.input, net.layers, 11);
  // Bigger initial weights than the default so that gradients are not tiny.
  for (let i = 0; i < model.paramCount; i++) model.params.f32[i] *= 2;
  const plan = model.plan(batch);
  const s = new Stream(21, 1);
  for (let i = 0; i < batch * model.inputSize; i++) plan.input[i] = s.next();
  for (let i = 0; i < batch; i++) plan.labels[i] = s.int(model.outputSize);
  model.forward(plan, batch);
  model.lossAndGrad(plan, batch);
  model.backward(plan, batch, { inputGrad: input });
  const analytic = input ? Float64Array.from(model.rt.f32(plan.grads[0], batch * model.inputSize)) : Float64Array.from(model.grads.f32);
  const target = input ? plan.input : model.params.f32;
  let scale = 0;
  for (const v of analytic) scale = Math.max(scale, Math.abs(v));
  // Float32 noise in the loss gives ~1e-5/h relative error, so big steps are more accurate,
  // but a step that crosses a ReLU kink spoils its estimate. Each coordinate is measured
  // with h = 1e-2, 3e-3 and 1e-3 and the best estimate counts; a coordinate where the
  // estimates disagree by > 5 % and none matches is a kink on every scale and is skipped.
  const steps = [1e-2, 3e-3, 1e-3];
  const numeric = (i: number, step: number): number => {
    const v = target[i];
    target[i] = v + step;
    const lp = ceLoss(model, batch);
    target[i] = v - step;
    const lm = ceLoss(model, batch);
    target[i] = v;
    return (lp - lm) / (Math.fround(v + step) - Math.fround(v - step));
  };
  const floor = 1e-2 * scale; // relative errors are measured against ≥ 1 % of the largest gradient
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), floor);
  const pick = new Stream(31, 2);
  let worst = 0;
  let worstAt = -1;
  let checked = 0;
  let kinks = 0;
  for (let n = 0; n < 80; n++) {
    const i = pick.int(target.length);
    const nums = steps.map((h) => numeric(i, h));
    const err = Math.min(...nums.map((v) => rel(analytic[i], v)));
    if (rel(nums[0], nums[2]) > 0.05 && err > 1e-2) {
      kinks++;
      continue;
    }
    checked++;
    if (err > worst) {
      worst = err;
      worstAt = i;
    }
  }
  t.true(checked >= 60, `only ${checked} of 80 coordinates away from ReLU kinks`);
  t.log(`${net.name} ${input ? "input" : "weight"} gradients: worst relative error ${worst.toExponential(2)} (at ${worstAt}), ${checked} checked, ${kinks} skipped at kinks`);
  t.true(worst < 5e-3, `worst relative error ${worst} at coordinate ${worstAt}`);
}

for (const net of NETS) {
  test(`cross-entropy weight gradients of ${net.name} match finite differences`, (t) => ceGradCheck(t, net, false));
  test(`cross-entropy input gradients of ${net.name} match finite differences`, (t) => ceGradCheck(t, net, true));
}

test("the loss gradient dL/dlogits is (softmax − onehot)/batch", (t) => {
  const model = makeModel([6], [dense(6, 4)], 3);
  const batch = 5;
  const plan = model.plan(batch);
  const x = uniformArray(batch * 6, 4, -2, 2);
  plan.input.set(x);
  for (let i = 0; i < batch; i++) plan.labels[i] = i % 4;
  model.forward(plan, batch);
  const z = Float64Array.from(plan.logits.subarray(0, batch * 4));
  const loss = model.lossAndGrad(plan, batch);
  const dz = Float64Array.from(model.rt.f32(plan.grads[1], batch * 4));
  let want = 0;
  const wantDz = new Float64Array(batch * 4);
  for (let r = 0; r < batch; r++) {
    const row = z.subarray(r * 4, r * 4 + 4);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    want += (lse - row[plan.labels[r]]) / batch;
    for (let j = 0; j < 4; j++) wantDz[r * 4 + j] = (Math.exp(row[j] - lse) - (j === plan.labels[r] ? 1 : 0)) / batch;
  }
  t.true(Math.abs(loss - want) < 1e-6 * Math.abs(want));
  t.true(maxRelErr(dz, wantDz, 1e-4) < 1e-4);
});

// ---------------------------------------------------------------------------------------------
// Accumulation

test("backward with accumulate: true adds: grads(A) + grads(B) = grads(A ∪ B)", (t) => {
  const layers = [conv(2, 3, 4, 2, 1), relu, conv(3, 4, 3, 1, 1), relu, avgpool(2, 2), flatten, dense(4 * 2 * 2, 6), relu, dense(6, 5)];
  const model = makeModel([2, 9, 8], layers, 5);
  const nA = 3;
  const nB = 4;
  const size = model.inputSize;
  const x = uniformArray((nA + nB) * size, 77, 0, 1);
  const labels = Array.from({ length: nA + nB }, (_, i) => (i * 3) % 5);
  const plan = model.plan(nA + nB);
  const run = (from: number, n: number, accumulate: boolean) => {
    plan.input.set(x.subarray(from * size, (from + n) * size));
    for (let i = 0; i < n; i++) plan.labels[i] = labels[from + i];
    model.forward(plan, n);
    model.lossAndGrad(plan, n, 1); // sum of per-sample losses, so batches add up
    model.backward(plan, n, { accumulate });
  };
  run(0, nA + nB, false);
  const both = Float64Array.from(model.grads.f32);
  run(0, nA, false);
  const onlyA = Float64Array.from(model.grads.f32);
  run(nA, nB, true);
  const sum = Float64Array.from(model.grads.f32);
  t.true(scaledErr(sum, both) < 1e-5, `accumulated vs whole batch: ${scaledErr(sum, both)}`);
  t.true(scaledErr(onlyA, both) > 1e-2, "the first half alone differs from the whole batch");
  // And accumulate: false overwrites (stale gradients do not leak in).
  model.grads.f32.fill(123);
  run(0, nA + nB, false);
  t.true(scaledErr(Float64Array.from(model.grads.f32), both) < 1e-6);
});

test("backward with weightGrads: false leaves weight gradients untouched and still gives dL/dx", (t) => {
  const layers = [conv(1, 2, 3, 1, 1), relu, flatten, dense(2 * 5 * 5, 4)];
  const model = makeModel([1, 5, 5], layers, 6);
  const x = uniformArray(2 * 25, 1, 0, 1);
  const c = uniformArray(2 * 4, 2, -1, 1, 12);
  const full = runBackward(model, x, c, 2);
  model.grads.f32.fill(7);
  const plan = model.plan(2);
  plan.input.set(x);
  model.forward(plan, 2);
  model.rt.f32(plan.grads[model.layers.length], 8).set(c);
  model.backward(plan, 2, { inputGrad: true, weightGrads: false });
  t.true(model.grads.f32.every((v) => v === 7), "weight gradients were written");
  t.deepEqual(Float64Array.from(model.rt.f32(plan.grads[0], 50)), full.dx);
});

// ---------------------------------------------------------------------------------------------
// Initialisation, architectures, build errors

test("Model.init is deterministic per seed and differs across seeds", (t) => {
  const arch = architecture("cnn-small");
  const a = new Model(arch, testArena()).init(0);
  const b = new Model(arch, testArena()).init(0);
  const c = new Model(arch, testArena()).init(1);
  t.not(a.params.ptr, b.params.ptr);
  t.deepEqual(a.params.f32, b.params.f32);
  t.notDeepEqual(a.params.f32, c.params.f32);
  const again = a.params.f32.slice();
  a.init(1);
  t.deepEqual(a.params.f32, c.params.f32);
  a.init(0);
  t.deepEqual(a.params.f32, again);
  // PyTorch's default: weights and biases U(−1/√fan_in, 1/√fan_in) — the largest |value|
  // of each layer lies just under the bound.
  // conv 1→16 k4, relu, conv 16→32 k4, relu, flatten, dense 1568→100, relu, dense 100→10
  const fanIn = [16, 0, 16 * 16, 0, 0, 32 * 7 * 7, 0, 100]; // 0 = no parameters
  a.layers.forEach((l, i) => {
    const p = a.layerParams(i);
    t.is(p.length, l.paramCount);
    if (!fanIn[i]) return t.is(l.paramCount, 0, `layer ${i}`);
    const bound = 1 / Math.sqrt(fanIn[i]);
    const max = p.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.true(max <= bound && max > 0.95 * bound, `layer ${i} (${l.spec.type}): max |θ| ${max}, bound ${bound}`);
    const mean = p.reduce((m, v) => m + v, 0) / p.length;
    t.true(Math.abs(mean) < 0.2 * bound, `layer ${i}: mean ${mean} is centred`);
  });
  // Layers draw from independent streams: two identical dense layers get different weights.
  const d = new Model({ name: "d", inputShape: [4], layers: [dense(4, 4), dense(4, 4)] }, testArena()).init(0);
  t.notDeepEqual(d.layerParams(0), d.layerParams(1));
});

test("two Models built with the default arena do not share WASM memory", (t) => {
  const a = new Model(architecture("mlp")).init(1);
  const before = a.params.f32.slice();
  const b = new Model(architecture("mlp"));
  b.init(2);
  t.not(a.params.ptr, b.params.ptr, "both models' parameters start at the same address");
  t.deepEqual(a.params.f32, before, "building and initialising a second model changed the first model's weights");
});

test("built-in architectures: parameter counts and output shape [10]", (t) => {
  t.deepEqual([...ARCHITECTURES].sort(), ["cnn-large", "cnn-small", "mlp"]);
  // cnn-large by hand (Wong & Kolter's large net on 1×28×28):
  //   conv 1→32 k3 s1 p1 (28×28):  32·1·9 + 32
  //   conv 32→32 k4 s2 p1 (14×14): 32·32·16 + 32
  //   conv 32→64 k3 s1 p1 (14×14): 64·32·9 + 64
  //   conv 64→64 k4 s2 p1 (7×7):   64·64·16 + 64
  //   dense 64·7·7 → 512, 512 → 512, 512 → 10
  const cnnLarge = (32 * 1 * 9 + 32) + (32 * 32 * 16 + 32) + (64 * 32 * 9 + 64) + (64 * 64 * 16 + 64)
    + (64 * 7 * 7 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10);
  t.is(cnnLarge, 1974762);
  const expected: Record<string, number> = { mlp: 269322, "cnn-small": 166406, "cnn-large": cnnLarge };
  const arena = testArena();
  for (const name of ARCHITECTURES) {
    const model = new Model(architecture(name), arena).init(0);
    t.is(model.paramCount, expected[name], name);
    t.is(model.params.length, expected[name]);
    t.deepEqual(model.layers[model.layers.length - 1].outShape, [10], name);
    t.is(model.outputSize, 10);
    t.is(model.inputSize, 784);
    // Sum of the per-layer parameter shapes agrees with the count.
    const fromShapes = model.layers.flatMap((l) => l.paramShapes()).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    t.is(fromShapes, expected[name]);
    const plan = model.plan(2);
    plan.input.set(uniformArray(2 * 784, 1, 0, 1));
    model.forward(plan, 2);
    t.true(plan.logits.subarray(0, 20).every(Number.isFinite), `${name} logits are finite`);
    t.true(plan.logits.subarray(0, 20).some((v) => v !== 0));
  }
  t.deepEqual(architecture("cnn-small").layers[0], conv(1, 16, 4, 2, 1));
  t.throws(() => architecture("resnet"), { message: /unknown model 'resnet'/ });
});

test("built-in architectures follow the input shape and class count", (t) => {
  const layers = buildLayers([3, 32, 32], architecture("cnn-small", [3, 32, 32], 7).layers);
  t.deepEqual(layers[layers.length - 1].outShape, [7]);
  t.deepEqual(layers[0].outShape, [16, 16, 16]);
});

function oneLineError(t: ExecutionContext, fn: () => unknown, re: RegExp): string {
  const e = t.throws(fn);
  const msg = e?.message ?? "";
  t.regex(msg, re);
  t.false(msg.includes("\n"), `multi-line error: ${msg}`);
  return msg;
}

test("buildLayers: unknown layer type is a one-line error naming the layer", (t) => {
  const msg = oneLineError(t, () => buildLayers([4], [dense(4, 3), { type: "softmax" } as unknown as LayerSpec]),
    /layer 1.*unknown layer type 'softmax'/);
  t.regex(msg, /dense/); // lists the known types
});

test("buildLayers: shape mismatches are one-line errors naming the layer", (t) => {
  oneLineError(t, () => buildLayers([1, 28, 28], [flatten, dense(100, 10)]), /layer 1 \(dense\).*100.*\[784\]/);
  oneLineError(t, () => buildLayers([1, 28, 28], [dense(784, 10)]), /layer 0 \(dense\).*\[1,28,28\]/);
  oneLineError(t, () => buildLayers([1, 28, 28], [conv(1, 4, 3, 1, 1), relu, conv(3, 4, 3, 1, 1)]), /layer 2 \(conv2d\).*3 input channels.*\[4,28,28\]/);
  oneLineError(t, () => buildLayers([1, 4, 4], [conv(1, 2, 7, 1, 0)]), /conv2d kernel 7 does not fit/);
  oneLineError(t, () => buildLayers([1, 28, 28], [conv(1, 4, 0, 1, 0)]), /layer 0 \(conv2d\): kernel/);
  oneLineError(t, () => buildLayers([1, 28, 28], [conv(1, 4, 3, 1, -1)]), /layer 0 \(conv2d\): padding/);
  oneLineError(t, () => buildLayers([10], [dense(10, 2.5)]), /layer 0 \(dense\): out/);
  oneLineError(t, () => buildLayers([10], []), /no layers/);
  oneLineError(t, () => buildLayers([0, 3], [flatten]), /input shape/);
  oneLineError(t, () => new Model({ name: "x", inputShape: [1, 4, 4], layers: [conv(1, 2, 3, 1, 1)] }, testArena()), /last layer must output a vector/);
});
