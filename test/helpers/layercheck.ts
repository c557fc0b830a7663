// Helpers for checking single layers and small models: one arena for all models of a test
// process (so that models never overlap in WASM memory), seeded random fills, float64
// reference implementations of Dense / Conv2d / AvgPool2d (forward and backward), and
// finite-difference checks against a float64 linear functional of a model's output.
import { Arena } from "../../src/core/arena.js";
import { Stream } from "../../src/core/random.js";
import { runtime } from "../../src/core/runtime.js";
import type { Architecture } from "../../src/nn/architectures.js";
import type { LayerSpec, Shape } from "../../src/nn/layer.js";
import { Model } from "../../src/nn/model.js";

let arena: Arena | undefined;

/**
 * The process-wide arena for test models. Model's default arena starts at the heap base for
 * every model, so two models built with it share memory (see test/nn.test.ts); tests that
 * need several models at once pass this one instead.
 */
export function testArena(): Arena {
  arena ??= new Arena(runtime());
  return arena;
}

export function makeModel(inputShape: Shape, layers: LayerSpec[], seed = 0, name = "test"): Model {
  const arch: Architecture = { name, inputShape, layers };
  return new Model(arch, testArena()).init(seed);
}

/** n uniform values in [lo, hi) from a seeded stream. */
export function uniformArray(n: number, seed: number, lo = -1, hi = 1, stream = 11): Float64Array {
  const s = new Stream(seed, stream);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * s.next();
  return out;
}

/** Largest |a − b| / max(floor, |b|) over all entries. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(floor, Math.abs(b[i])));
  return worst;
}

/** Largest |a − b| / max|b| (error relative to the array's scale). */
export function scaledErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / Math.max(scale, 1e-30);
}

// ---------------------------------------------------------------------------------------------
// float64 references (NCHW, W [out, in] for dense and [Cout, Cin, K, K] for conv)

export function denseRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, batch: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(batch * outF);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * w[o * inF + i];
      y[n * outF + o] = s;
    }
  }
  return y;
}

/** dL/dx, dL/dW, dL/db of a dense layer given dL/dy. */
export function denseBackRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, batch: number, inF: number, outF: number) {
  const dx = new Float64Array(batch * inF);
  const dw = new Float64Array(outF * inF);
  const db = new Float64Array(outF);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outF; o++) {
      const g = dy[n * outF + o];
      db[o] += g;
      for (let i = 0; i < inF; i++) {
        dw[o * inF + i] += g * x[n * inF + i];
        dx[n * inF + i] += g * w[o * inF + i];
      }
    }
  }
  return { dx, dw, db };
}

export interface ConvGeom {
  batch: number;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  pad: number;
}

export function convOut(g: ConvGeom): { oh: number; ow: number } {
  return {
    oh: Math.floor((g.h + 2 * g.pad - g.k) / g.stride) + 1,
    ow: Math.floor((g.w + 2 * g.pad - g.k) / g.stride) + 1,
  };
}

/** Calls f(n, co, oy, ox, ci, ky, kx, xIndex, wIndex, yIndex) for every in-bounds tap. */
function convTaps(g: ConvGeom, f: (xi: number, wi: number, yi: number) => void): void {
  const { oh, ow } = convOut(g);
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.cout; co++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yi = ((n * g.cout + co) * oh + oy) * ow + ox;
          for (let ci = 0; ci < g.cin; ci++) {
            for (let ky = 0; ky < g.k; ky++) {
              const iy = oy * g.stride - g.pad + ky;
              if (iy < 0 || iy >= g.h) continue;
              for (let kx = 0; kx < g.k; kx++) {
                const ix = ox * g.stride - g.pad + kx;
                if (ix < 0 || ix >= g.w) continue;
                f(((n * g.cin + ci) * g.h + iy) * g.w + ix, ((co * g.cin + ci) * g.k + ky) * g.k + kx, yi);
              }
            }
          }
        }
      }
    }
  }
}

export function convRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, g: ConvGeom): Float64Array {
  const { oh, ow } = convOut(g);
  const plane = oh * ow;
  const y = new Float64Array(g.batch * g.cout * plane);
  for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / plane) % g.cout];
  convTaps(g, (xi, wi, yi) => {
    y[yi] += x[xi] * w[wi];
  });
  return y;
}

export function convBackRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, g: ConvGeom) {
  const { oh, ow } = convOut(g);
  const plane = oh * ow;
  const dx = new Float64Array(g.batch * g.cin * g.h * g.w);
  const dw = new Float64Array(g.cout * g.cin * g.k * g.k);
  const db = new Float64Array(g.cout);
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / plane) % g.cout] += dy[i];
  convTaps(g, (xi, wi, yi) => {
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });
  return { dx, dw, db };
}

export function avgPoolRef(x: ArrayLike<number>, planes: number, h: number, w: number, k: number, s: number): Float64Array {
  const oh = Math.floor((h - k) / s) + 1;
  const ow = Math.floor((w - k) / s) + 1;
  const y = new Float64Array(planes * oh * ow);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum = 0;
        for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) sum += x[(p * h + oy * s + ky) * w + ox * s + kx];
        y[(p * oh + oy) * ow + ox] = sum / (k * k);
      }
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// Running a model on given inputs

/** Loads `x` into the plan's input, runs forward, returns a float64 copy of the output. */
export function runForward(model: Model, x: ArrayLike<number>, batch: number): Float64Array {
  const plan = model.plan(batch);
  plan.input.set(x as ArrayLike<number>);
  const out = model.forward(plan, batch);
  return Float64Array.from(model.rt.f32(out, batch * model.outputSize));
}

/**
 * Runs forward and backward with dL/d(output) = c (so L = Σ c·y); returns the float64 input
 * gradient and a copy of the weight gradients.
 */
export function runBackward(model: Model, x: ArrayLike<number>, c: ArrayLike<number>, batch: number, accumulate = false) {
  const plan = model.plan(batch);
  plan.input.set(x as ArrayLike<number>);
  model.forward(plan, batch);
  model.rt.f32(plan.grads[model.layers.length], batch * model.outputSize).set(c as ArrayLike<number>);
  model.backward(plan, batch, { inputGrad: true, accumulate });
  return {
    dx: Float64Array.from(model.rt.f32(plan.grads[0], batch * model.inputSize)),
    dparams: Float64Array.from(model.grads.f32),
  };
}

/** L = Σ c·model(x), accumulated in float64. */
export function linearLoss(model: Model, x: ArrayLike<number>, c: ArrayLike<number>, batch: number): number {
  const y = runForward(model, x, batch);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += c[i] * y[i];
  return s;
}

export interface FdResult {
  /** Largest |analytic − numeric| / max(floor, |numeric|). */
  worst: number;
  /** Coordinates checked. */
  checked: number;
}

/**
 * Central-difference check of dL/dθ and dL/dx for L = Σ c·model(x) at `count` sampled
 * coordinates of each. `skip(i)` may exclude input coordinates (ReLU kinks).
 */
export function finiteDiffLinear(
  model: Model, x: Float64Array, c: ArrayLike<number>, batch: number,
  opts: { h: number; count?: number; seed?: number; floor?: number; skipInput?: (i: number) => boolean },
): { params: FdResult; input: FdResult } {
  const { h, count = 40, seed = 5, floor = 1e-3 } = opts;
  const { dx, dparams } = runBackward(model, x, c, batch);
  const s = new Stream(seed, 23);
  const params: FdResult = { worst: 0, checked: 0 };
  const p = model.params.f32;
  for (let n = 0; n < count && model.paramCount > 0; n++) {
    const i = s.int(model.paramCount);
    const v = p[i];
    p[i] = v + h;
    const lp = linearLoss(model, x, c, batch);
    p[i] = v - h;
    const lm = linearLoss(model, x, c, batch);
    p[i] = v;
    // The step actually taken after rounding to float32.
    const num = (lp - lm) / (Math.fround(v + h) - Math.fround(v - h));
    params.worst = Math.max(params.worst, Math.abs(dparams[i] - num) / Math.max(floor, Math.abs(num)));
    params.checked++;
  }
  const input: FdResult = { worst: 0, checked: 0 };
  const xx = Float64Array.from(x);
  for (let n = 0; n < count; n++) {
    const i = s.int(x.length);
    if (opts.skipInput?.(i)) continue;
    const v = xx[i];
    xx[i] = v + h;
    const lp = linearLoss(model, xx, c, batch);
    xx[i] = v - h;
    const lm = linearLoss(model, xx, c, batch);
    xx[i] = v;
    const num = (lp - lm) / (Math.fround(v + h) - Math.fround(v - h));
    input.worst = Math.max(input.worst, Math.abs(dx[i] - num) / Math.max(floor, Math.abs(num)));
    input.checked++;
  }
  return { params, input };
}
