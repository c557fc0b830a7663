// The threat model and the projected-step toolkit every attack shares: the ε-ball (L∞ or
// L2) intersected with the data range [lo, hi], random starts keyed by each sample's global
// index, and one projected step. Kernels in assembly/attack.ts.
import { hash32, Stream, STREAM } from "../core/random.js";
import type { Model, Plan } from "../nn/model.js";

export type Norm = "linf" | "l2";

export interface ThreatModel {
  norm: Norm;
  eps: number;
  /** Data range (MNIST pixels: [0, 1]). */
  lo: number;
  hi: number;
}

export interface PgdOptions extends ThreatModel {
  /** Step size. */
  alpha: number;
  steps: number;
  /** Independent random starts; the worst case per sample is kept. */
  restarts: number;
  /** Start at a uniform point of the ball (not clipped to the data range: clipping the start
   * is a known cause of catastrophic overfitting in FGSM training) or at x. */
  randomStart: boolean;
}

/** Which random numbers an attack draws: (seed, stream, global sample index, coordinate). */
export interface AttackKeys {
  seed: number;
  /** Distinguishes epochs, restarts and purposes. */
  stream: number;
  /** Address of n int32 global sample indices. */
  samples: number;
}

export function attackStream(epoch: number, restart: number, purpose = 0): number {
  return hash32(STREAM.attack, epoch, restart, purpose);
}

export function validateThreat(t: ThreatModel): void {
  if (t.norm !== "linf" && t.norm !== "l2") throw new Error(`unknown norm '${t.norm}' (expected linf or l2)`);
  if (!(t.eps >= 0) || !Number.isFinite(t.eps)) throw new Error(`ε must be a non-negative number, got ${t.eps}`);
  if (!(t.lo < t.hi)) throw new Error(`data range [${t.lo}, ${t.hi}] is empty`);
}

/** xadv = a random point of the ε-ball around x0 (xadv = x0 when eps = 0). */
export function randomStart(model: Model, xadv: number, x0: number, n: number, t: ThreatModel, keys: AttackKeys): void {
  const { k } = model.rt;
  const dim = model.inputSize;
  if (t.norm === "linf") {
    k.uniformRows(xadv, n, dim, keys.samples, keys.seed >>> 0, keys.stream >>> 0, -t.eps, t.eps);
    k.axpy(n * dim, 1, x0, xadv);
    return;
  }
  // L2: a uniform direction scaled by ε·u^(1/d), drawn per sample from its own stream.
  const samples = model.rt.i32(keys.samples, n);
  const xa = model.rt.f32(xadv, n * dim);
  const x = model.rt.f32(x0, n * dim);
  for (let r = 0; r < n; r++) {
    const s = new Stream(keys.seed, keys.stream, samples[r]);
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const g = s.normal();
      xa[r * dim + j] = g;
      norm += g * g;
    }
    const radius = t.eps * s.next() ** (1 / dim) / Math.sqrt(norm || 1);
    for (let j = 0; j < dim; j++) xa[r * dim + j] = x[r * dim + j] + radius * xa[r * dim + j];
  }
}

/** One projected step along grad (sign for L∞, normalised for L2); alpha = 0 only projects. */
export function projectedStep(model: Model, plan: Plan, xadv: number, grad: number, x0: number, n: number, t: ThreatModel, alpha: number, work: number): void {
  const { k } = model.rt;
  if (t.norm === "linf") k.linfStep(xadv, grad, x0, n * model.inputSize, alpha, t.eps, t.lo, t.hi);
  else k.l2Step(xadv, grad, x0, n, model.inputSize, alpha, t.eps, t.lo, t.hi, work);
}

/** The views an iterative attack works through: the inputs X and their gradient G, a copy of
 * the clean inputs X0, the logits Z and their gradient DZ (n samples). */
export function attackViews(model: Model, plan: Plan, n: number, x0: number) {
  const size = n * model.inputSize;
  const last = model.layers.length;
  const classes = model.outputSize;
  return {
    X: model.rt.f32(plan.acts[0], size),
    G: model.rt.f32(plan.grads[0], size),
    X0: Float32Array.from(model.rt.f32(x0, size)),
    Z: model.rt.f32(plan.acts[last], n * classes),
    DZ: model.rt.f32(plan.grads[last], n * classes),
  };
}
