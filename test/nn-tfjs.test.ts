// Layers against TensorFlow.js as an oracle (DESIGN.md, decision 5): Dense and Conv2d forward
// on the wasm backend, and Conv2d's input and weight gradients. bulwark is NCHW with conv
// weights [Cout, Cin, K, K]; tfjs conv2d is NHWC with filters [K, K, Cin, Cout], so inputs,
// weights and outputs are transposed on the way in and out. tfjs-backend-wasm has no
// Conv2DBackpropFilter kernel (FACTS.md), so gradients are taken on the cpu backend
// (@tensorflow/tfjs-backend-cpu, installed with tfjs-backend-wasm); the input gradient is also
// checked on wasm. The Node build of tfjs-core registers no gradient functions (tf.grad fails
// with "gradient function not found for Sum"), so gradients call tfjs's backprop kernels
// directly (Conv2DBackpropInput, Conv2DBackpropFilter) and plain ops for Dense.
// Every test is serial: the tfjs backend is process-wide state.
import test from "ava";
import "@tensorflow/tfjs-backend-cpu";
import type { LayerSpec } from "../src/nn/layer.js";
import { makeModel, runBackward, runForward, scaledErr, uniformArray, convOut, type ConvGeom } from "./helpers/layercheck.js";
import { tfjsWasm, type Tf } from "./helpers/tfjs.js";

const TOL = 1e-4;

let tf: Tf;

test.before(async () => {
  tf = await tfjsWasm();
  // Silences the cpu backend's "install tfjs-node" banner (tfjs's warn() honours IS_TEST).
  tf.env().set("IS_TEST", true);
});

async function onBackend<T>(name: "wasm" | "cpu", fn: () => T): Promise<T> {
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs backend '${name}' failed to initialise`);
    await tf.ready();
  }
  return tf.tidy(fn as () => never) as T;
}

const conv = (g: ConvGeom): LayerSpec =>
  ({ type: "conv2d", inChannels: g.cin, outChannels: g.cout, kernel: g.k, stride: g.stride, padding: g.pad });

const GEOMS: ConvGeom[] = [
  { batch: 2, cin: 3, cout: 4, h: 8, w: 8, k: 4, stride: 2, pad: 1 },
  { batch: 3, cin: 2, cout: 5, h: 7, w: 9, k: 3, stride: 1, pad: 1 },
  { batch: 2, cin: 2, cout: 3, h: 7, w: 9, k: 5, stride: 1, pad: 0 },
  { batch: 2, cin: 3, cout: 2, h: 9, w: 7, k: 4, stride: 2, pad: 1 },
  { batch: 1, cin: 1, cout: 16, h: 28, w: 28, k: 4, stride: 2, pad: 1 }, // cnn-small's first layer
  { batch: 2, cin: 16, cout: 32, h: 14, w: 14, k: 4, stride: 2, pad: 1 }, // and its second
  { batch: 1, cin: 4, cout: 3, h: 10, w: 11, k: 3, stride: 3, pad: 2 },
];

const label = (g: ConvGeom) => `${g.cin}→${g.cout} ${g.h}×${g.w} k${g.k} s${g.stride} p${g.pad} batch ${g.batch}`;

/** bulwark tensors (NCHW input, [Cout,Cin,K,K] weights) → tfjs NHWC / [K,K,Cin,Cout]. */
function tfConv(g: ConvGeom, x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>) {
  const xt = tf.transpose(tf.tensor4d(Float32Array.from(x), [g.batch, g.cin, g.h, g.w]), [0, 2, 3, 1]);
  const wt = tf.transpose(tf.tensor4d(Float32Array.from(w), [g.cout, g.cin, g.k, g.k]), [2, 3, 1, 0]);
  const bt = tf.tensor1d(Float32Array.from(b));
  const pad = [[0, 0], [g.pad, g.pad], [g.pad, g.pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const run = (xx: typeof xt, ww: typeof wt) =>
    tf.add(tf.conv2d(xx as never, ww as never, g.stride, g.pad === 0 ? "valid" : pad), bt);
  return { xt, wt, run };
}

/** NHWC tfjs output → NCHW float64. */
function toNchw(y: ReturnType<Tf["tensor4d"]>): Float64Array {
  return Float64Array.from(tf.transpose(y, [0, 3, 1, 2]).dataSync());
}

test.serial("tfjs is on the wasm backend", (t) => {
  t.is(tf.getBackend(), "wasm");
});

test.serial("Dense forward matches tfjs matMul + bias (wasm backend)", async (t) => {
  for (const [batch, inF, outF] of [[4, 784, 256], [3, 256, 10], [5, 17, 9], [1, 3, 1]]) {
    const model = makeModel([inF], [{ type: "dense", in: inF, out: outF }], 3);
    const x = uniformArray(batch * inF, inF, 0, 1);
    const ours = runForward(model, x, batch);
    const p = model.params.f32;
    const theirs = await onBackend("wasm", () => {
      const y = tf.add(
        tf.matMul(tf.tensor2d(Float32Array.from(x), [batch, inF]), tf.tensor2d(p.slice(0, inF * outF), [outF, inF]), false, true),
        tf.tensor1d(p.slice(inF * outF)));
      return Float64Array.from(y.dataSync());
    });
    const err = scaledErr(ours, theirs);
    t.true(err < TOL, `dense ${inF}→${outF} batch ${batch}: relative error ${err}`);
  }
});

for (const g of GEOMS) {
  test.serial(`Conv2d forward ${label(g)} matches tfjs conv2d (wasm backend)`, async (t) => {
    const model = makeModel([g.cin, g.h, g.w], [conv(g), { type: "flatten" }], 5);
    const x = uniformArray(g.batch * g.cin * g.h * g.w, g.h + g.k, 0, 1);
    const ours = runForward(model, x, g.batch);
    const nw = g.cout * g.cin * g.k * g.k;
    const p = model.params.f32;
    const theirs = await onBackend("wasm", () => {
      const { xt, wt, run } = tfConv(g, x, p.slice(0, nw), p.slice(nw));
      const y = run(xt, wt);
      const { oh, ow } = convOut(g);
      if (y.shape.join() !== [g.batch, oh, ow, g.cout].join()) throw new Error(`tfjs output shape ${y.shape}`);
      return toNchw(y as never);
    });
    const err = scaledErr(ours, theirs);
    t.true(err < TOL, `relative error ${err}`);
  });

  test.serial(`Conv2d gradients ${label(g)}: dx (wasm and cpu) and dW, db (cpu) match tfjs`, async (t) => {
    const model = makeModel([g.cin, g.h, g.w], [conv(g), { type: "flatten" }], 6);
    const { oh, ow } = convOut(g);
    const x = uniformArray(g.batch * g.cin * g.h * g.w, g.w + g.stride, 0, 1);
    const c = uniformArray(g.batch * g.cout * oh * ow, g.h + g.pad, -1, 1, 12);
    const { dx, dparams } = runBackward(model, x, c, g.batch);
    const nw = g.cout * g.cin * g.k * g.k;
    const p = model.params.f32;
    // L = Σ c·y with c given in NCHW, so dL/dy = c.
    const strides: [number, number] = [g.stride, g.stride];
    const pad = [[0, 0], [g.pad, g.pad], [g.pad, g.pad], [0, 0]];
    const grads = (withWeights: boolean) => {
      const { xt, wt } = tfConv(g, x, p.slice(0, nw), p.slice(nw));
      const dy = tf.transpose(tf.tensor4d(Float32Array.from(c), [g.batch, g.cout, oh, ow]), [0, 2, 3, 1]);
      const gx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: wt },
        { strides, pad, dataFormat: "NHWC", inputShape: [g.batch, g.h, g.w, g.cin] } as never) as ReturnType<Tf["tensor4d"]>;
      if (!withWeights) return { dx: toNchw(gx) };
      const gw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: xt, dy },
        { strides, pad, dataFormat: "NHWC", filterShape: [g.k, g.k, g.cin, g.cout] } as never) as ReturnType<Tf["tensor4d"]>;
      return {
        dx: toNchw(gx),
        // [K,K,Cin,Cout] → [Cout,Cin,K,K]
        dw: Float64Array.from(tf.transpose(gw, [3, 2, 0, 1]).dataSync()),
        // db = Σ over batch and positions of dy
        db: Float64Array.from(tf.sum(dy, [0, 1, 2]).dataSync()),
      };
    };
    const wasm = await onBackend("wasm", () => grads(false));
    t.true(scaledErr(dx, wasm.dx) < TOL, `dx vs tfjs wasm: ${scaledErr(dx, wasm.dx)}`);
    const cpu = await onBackend("cpu", () => grads(true));
    await onBackend("wasm", () => 0);
    t.true(scaledErr(dx, cpu.dx!) < TOL, `dx vs tfjs cpu: ${scaledErr(dx, cpu.dx!)}`);
    const dw = dparams.subarray(0, nw);
    const db = dparams.subarray(nw);
    t.true(scaledErr(dw, cpu.dw!) < TOL, `dW vs tfjs cpu: ${scaledErr(dw, cpu.dw!)}`);
    t.true(scaledErr(db, cpu.db!) < TOL, `db vs tfjs cpu: ${scaledErr(db, cpu.db!)}`);
  });
}

test.serial("Dense gradients match tfjs matMul products (cpu backend)", async (t) => {
  const [batch, inF, outF] = [6, 50, 12];
  const model = makeModel([inF], [{ type: "dense", in: inF, out: outF }], 8);
  const x = uniformArray(batch * inF, 4, 0, 1);
  const c = uniformArray(batch * outF, 5, -1, 1, 12);
  const { dx, dparams } = runBackward(model, x, c, batch);
  const p = model.params.f32;
  // L = Σ c·(x·Wᵀ + b): dx = c·W, dW = cᵀ·x, db = Σ_batch c.
  const theirs = await onBackend("cpu", () => {
    const ct = tf.tensor2d(Float32Array.from(c), [batch, outF]);
    const xt = tf.tensor2d(Float32Array.from(x), [batch, inF]);
    const wt = tf.tensor2d(p.slice(0, inF * outF), [outF, inF]);
    return {
      dx: Float64Array.from(tf.matMul(ct, wt).dataSync()),
      dw: Float64Array.from(tf.matMul(ct, xt, true, false).dataSync()),
      db: Float64Array.from(tf.sum(ct, 0).dataSync()),
    };
  });
  await onBackend("wasm", () => 0);
  t.true(scaledErr(dx, theirs.dx) < TOL);
  t.true(scaledErr(dparams.subarray(0, inF * outF), theirs.dw) < TOL);
  t.true(scaledErr(dparams.subarray(inF * outF), theirs.db) < TOL);
});
