// Transfer learning on frozen features: the model's final dense layer retrained alone on the
// penultimate activations of a training set — the victim's retraining in the poison-frogs
// experiments. The objective, mean softmax cross-entropy + (λ/2)‖θ‖², is smooth and strongly
// convex, so it is minimised full-batch by L-BFGS (Armijo backtracking) to a small gradient, from
// the model's own last layer: the result is the optimum, not an artefact of a schedule or seed.
// Forward and backward passes run on a one-layer Model (WASM); the L-BFGS vectors are float64.
import { defaultArena } from "../core/arena.js";
import { Model, type Plan } from "../nn/model.js";
import { FeatureExtractor } from "./features.js";

export interface HeadTrainingOptions {
  /** Most L-BFGS iterations (default 500). */
  steps?: number;
  /** Stop when ‖∇‖₂ of the objective falls below this (default 1e-4). */
  tolerance?: number;
  /** λ of the L2 penalty (λ/2)‖θ‖² on the layer's weights and bias (default 1e-4). */
  weightDecay?: number;
}

export const HEAD_TRAINING_DEFAULTS = { steps: 500, tolerance: 1e-4, weightDecay: 1e-4 } as const;

export interface HeadFit {
  /** Mean cross-entropy on the training features at the end (without the L2 term). */
  loss: number;
  trainAccuracy: number;
  /** ‖∇‖₂ of the full objective (with L2) at the end: how close to the optimum it got. */
  gradNorm: number;
  iterations: number;
}

const MEMORY = 10;

export class LastLayer {
  /** The extractor that produces the head's inputs (all layers but the last). */
  readonly features: FeatureExtractor;
  readonly head: Model;
  /** The model's own last layer: where every fit starts. */
  readonly initial: Float32Array;
  readonly classes: number;

  constructor(readonly model: Model) {
    const last = model.layers[model.layers.length - 1];
    if (last.spec.type !== "dense") throw new Error(`retraining the last layer needs a dense last layer, got ${last.spec.type}`);
    this.features = new FeatureExtractor(model);
    this.classes = model.outputSize;
    this.head = new Model({ name: "head", inputShape: [this.features.size], layers: [last.spec] }, defaultArena(model.rt));
    this.initial = model.layerParams(model.layers.length - 1).slice();
    this.head.setParams(this.initial);
  }

  /** Trains the head on n rows of features with their labels, from the model's last layer. */
  fit(features: Float32Array, labels: ArrayLike<number>, o: HeadTrainingOptions = {}): HeadFit {
    const m = this.features.size;
    const n = labels.length;
    if (n < 1 || features.length !== n * m) throw new Error(`head training needs ${m} features per label, got ${features.length} values for ${n} labels`);
    const steps = o.steps ?? HEAD_TRAINING_DEFAULTS.steps;
    const tol = o.tolerance ?? HEAD_TRAINING_DEFAULTS.tolerance;
    const wd = o.weightDecay ?? HEAD_TRAINING_DEFAULTS.weightDecay;
    if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`head training steps must be a non-negative integer, got ${steps}`);
    if (!(wd >= 0 && Number.isFinite(wd))) throw new Error(`weight decay must be a non-negative number, got ${wd}`);
    const head = this.head;
    const plan = head.plan(n);
    head.rt.f32(plan.acts[0], n * m).set(features);
    for (let i = 0; i < n; i++) {
      if (!(labels[i] >= 0 && labels[i] < this.classes)) throw new Error(`label ${labels[i]} at row ${i} is outside 0..${this.classes - 1}`);
      plan.labels[i] = labels[i];
    }
    const P = head.paramCount;
    const x = Float64Array.from(this.initial);
    const g = new Float64Array(P);
    let f = this.objective(plan, n, x, g, wd);
    const ss: Float64Array[] = [];
    const ys: Float64Array[] = [];
    const d = new Float64Array(P);
    const xNew = new Float64Array(P);
    const gNew = new Float64Array(P);
    const alpha = new Float64Array(MEMORY);
    let it = 0;
    for (; it < steps && norm(g) > tol; it++) {
      // Two-loop recursion: d = −H·g.
      for (let i = 0; i < P; i++) d[i] = -g[i];
      for (let j = ss.length - 1; j >= 0; j--) {
        alpha[j] = dot(ss[j], d) / dot(ys[j], ss[j]);
        axpy(-alpha[j], ys[j], d);
      }
      const gamma = ss.length ? dot(ss[ss.length - 1], ys[ys.length - 1]) / dot(ys[ys.length - 1], ys[ys.length - 1]) : 1 / Math.max(norm(g), 1);
      for (let i = 0; i < P; i++) d[i] *= gamma;
      for (let j = 0; j < ss.length; j++) axpy(alpha[j] - dot(ys[j], d) / dot(ys[j], ss[j]), ss[j], d);
      let slope = dot(g, d);
      if (!(slope < 0)) {
        // Not a descent direction (float32 noise in y·s): restart from steepest descent.
        ss.length = 0;
        ys.length = 0;
        for (let i = 0; i < P; i++) d[i] = -g[i] / Math.max(norm(g), 1);
        slope = dot(g, d);
      }
      let step = 1;
      let fNew = Infinity;
      for (let k = 0; k < 30; k++, step /= 2) {
        for (let i = 0; i < P; i++) xNew[i] = x[i] + step * d[i];
        fNew = this.objective(plan, n, xNew, gNew, wd);
        if (fNew <= f + 1e-4 * step * slope) break;
      }
      if (!(fNew <= f + 1e-4 * step * slope)) break; // no decrease left at float32 precision
      const s = new Float64Array(P);
      const y = new Float64Array(P);
      for (let i = 0; i < P; i++) {
        s[i] = xNew[i] - x[i];
        y[i] = gNew[i] - g[i];
      }
      if (dot(s, y) > 1e-12) {
        ss.push(s);
        ys.push(y);
        if (ss.length > MEMORY) {
          ss.shift();
          ys.shift();
        }
      }
      x.set(xNew);
      g.set(gNew);
      f = fNew;
    }
    head.setParams(Float32Array.from(x));
    head.forward(plan, n);
    const loss = head.lossAndGrad(plan, n);
    const pred = head.predict(plan, n);
    let correct = 0;
    for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++;
    return { loss, trainAccuracy: correct / n, gradNorm: norm(g), iterations: it };
  }

  /** Objective and its gradient at parameters x (the head's plan holds the n training rows). */
  private objective(plan: Plan, n: number, x: Float64Array, g: Float64Array, wd: number): number {
    const head = this.head;
    head.params.f32.set(x);
    head.forward(plan, n);
    let f = head.lossAndGrad(plan, n);
    head.backward(plan, n);
    const hg = head.grads.f32;
    let r = 0;
    for (let i = 0; i < x.length; i++) {
      r += x[i] * x[i];
      g[i] = hg[i] + wd * x[i];
    }
    f += 0.5 * wd * r;
    return f;
  }

  /** The head's class for each row of features (in batches of the head's plan). */
  predict(features: Float32Array): Int32Array {
    const m = this.features.size;
    const n = features.length / m;
    const out = new Int32Array(n);
    const plan = this.head.plan(Math.min(Math.max(n, 1), 1024));
    for (let s = 0; s < n; s += plan.capacity) {
      const b = Math.min(plan.capacity, n - s);
      this.head.rt.f32(plan.acts[0], b * m).set(features.subarray(s * m, (s + b) * m));
      this.head.forward(plan, b);
      out.set(this.head.predict(plan, b).subarray(0, b), s);
    }
    return out;
  }

  /** Share of rows the head classifies as their label. */
  accuracy(features: Float32Array, labels: ArrayLike<number>): number {
    const pred = this.predict(features);
    let correct = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
    return labels.length ? correct / labels.length : 0;
  }

  /** Puts the original last layer back (predictions of the model as loaded). */
  reset(): void {
    this.head.setParams(this.initial);
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function norm(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}
