// Auto-PGD (Croce & Hein 2020): PGD without a step size to tune. Each sample starts with
// step η = 2ε, moves with momentum 0.75, and at checkpoints (first after 22 % of the
// iterations, then at shrinking intervals down to 6 %) halves its step and jumps back to its
// best point when the loss rose in at most 75 % of the steps since the last checkpoint, or
// when neither the step nor the best loss changed since then. APGD-CE ascends CE; APGD-T
// ascends the targeted DLR loss toward each of the top-k other classes in turn.
//
// The step arithmetic is O(n·d) per iteration in JS over views of WASM memory (the model's
// forward and backward, O(n·d·width), stay in the kernels); the per-sample state (previous
// point, best point and its gradient, first successful point) lives in JS arrays because a
// shard's region has a fixed layout.
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import { isSuccess, lossAndInputGrad, targetView, validateLoss, type AttackLoss, type AttackOutcome, type Targets } from "./losses.js";
import { attackStream, projectedStep, randomStart, validateThreat, type AttackKeys, type ThreatModel } from "./threat.js";

export interface ApgdOptions extends ThreatModel {
  /** Iterations after the start point (each one forward and one input-gradient pass). */
  steps: number;
  /** Independent runs from fresh random starts; per sample a successful point is kept first. */
  restarts?: number;
  /**
   * Default "ce" (−CE to the target when targeted). Targeted DLR only asks z_t > z_y, which
   * suits misclassification (apgdT), not reaching a given class.
   */
  loss?: AttackLoss;
  /** Target classes: the goal becomes reaching them. */
  targets?: Targets;
  /** Start from a uniform point of the ball (default true) or from x. */
  randomStart?: boolean;
}

export interface ApgdTOptions extends ThreatModel {
  steps: number;
  /** How many of the highest-scoring other classes to try as targets (default 9). */
  targetClasses?: number;
  /** Restarts per target class (default 1). */
  restarts?: number;
  randomStart?: boolean;
}

/** Croce & Hein's constants. */
const MOMENTUM = 0.75;
const RHO = 0.75;

/**
 * APGD: leaves the adversarial inputs in plan.input — per sample a successful point when
 * one was found (misclassified; classified as the target when targeted), else the point of
 * highest loss.
 */
export function apgd(model: Model, plan: Plan, n: number, x0: number, o: ApgdOptions, keys: AttackKeys, ws: AttackWorkspace): AttackOutcome {
  validateThreat(o);
  const targets = targetView(model, n, o.targets);
  const loss = o.loss ?? "ce";
  validateLoss(loss, model.outputSize, targets !== undefined);
  const best = new Best(model, n, ws);
  for (let r = 0; r < Math.max(1, o.restarts ?? 1); r++) {
    const start = (o.randomStart ?? true) ? { ...keys, stream: attackStream(keys.stream, r) } : undefined;
    best.merge(run(model, plan, n, x0, o, loss, targets, targets, start, ws));
  }
  return best.finish(plan);
}

/**
 * APGD-T: targeted DLR toward each of the targetClasses classes scoring highest at x (the
 * label excluded), keeping per sample the first misclassified point. The goal stays
 * untargeted: any wrong class counts.
 */
export function apgdT(model: Model, plan: Plan, n: number, x0: number, o: ApgdTOptions, keys: AttackKeys, ws: AttackWorkspace): AttackOutcome {
  validateThreat(o);
  const classes = model.outputSize;
  validateLoss("dlr", classes, true);
  const k = Math.min(o.targetClasses ?? 9, classes - 1);
  if (!(k >= 1)) throw new Error(`APGD-T needs at least one target class, got ${o.targetClasses}`);
  // Rank the other classes by their clean logits once.
  const dim = model.inputSize;
  plan.input.set(model.rt.f32(x0, n * dim));
  model.forward(plan, n);
  const z = model.rt.f32(plan.acts[model.layers.length], n * classes);
  const order: Int32Array[] = Array.from({ length: k }, () => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const others = Array.from({ length: classes }, (_, j) => j).filter((j) => j !== plan.labels[i]);
    others.sort((a, b) => z[i * classes + b] - z[i * classes + a] || a - b);
    for (let c = 0; c < k; c++) order[c][i] = others[c];
  }
  const best = new Best(model, n, ws);
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < Math.max(1, o.restarts ?? 1); r++) {
      const start = (o.randomStart ?? true) ? { ...keys, stream: attackStream(keys.stream, r, 1 + c) } : undefined;
      best.merge(run(model, plan, n, x0, o, "dlr", order[c], undefined, start, ws));
    }
  }
  return best.finish(plan);
}

interface RunResult {
  /** n × dim: the point each sample returns. */
  x: Float32Array;
  ok: Uint8Array;
  loss: Float32Array;
}

/** One APGD run from one start. lossTargets steer the loss, goalTargets decide success. */
function run(
  model: Model, plan: Plan, n: number, x0: number, t: ThreatModel & { steps: number }, loss: AttackLoss,
  lossTargets: Int32Array | undefined, goalTargets: Int32Array | undefined, start: AttackKeys | undefined, ws: AttackWorkspace,
): RunResult {
  const dim = model.inputSize;
  const size = n * dim;
  const X = model.rt.f32(plan.acts[0], size);
  const G = model.rt.f32(plan.grads[0], size);
  const X0 = model.rt.f32(x0, size);
  if (start && t.eps > 0) {
    randomStart(model, plan.acts[0], x0, n, t, start);
    projectedStep(model, plan, plan.acts[0], plan.grads[0], x0, n, t, 0, ws.work);
  } else {
    X.set(X0);
  }

  const labels = plan.labels;
  const out: RunResult = { x: new Float32Array(size), ok: new Uint8Array(n), loss: new Float32Array(n) };
  const xMax = new Float32Array(size);
  const gMax = new Float32Array(size);
  const lossMax = new Float32Array(n);
  // Records success at the current point: the latest successful point is kept (as AutoAttack does).
  const recordSuccess = (): void => {
    const pred = model.predict(plan, n);
    for (let i = 0; i < n; i++) {
      if (!isSuccess(pred[i], labels[i], goalTargets?.[i])) continue;
      out.ok[i] = 1;
      out.loss[i] = plan.losses[i];
      out.x.set(X.subarray(i * dim, (i + 1) * dim), i * dim);
    }
  };

  lossAndInputGrad(model, plan, n, loss, lossTargets);
  recordSuccess();
  xMax.set(X);
  gMax.set(G);
  lossMax.set(plan.losses.subarray(0, n));

  const steps = Math.max(0, Math.floor(t.steps));
  const eta = new Float64Array(n).fill(2 * t.eps);
  const xPrev = Float32Array.from(X);
  const lastLoss = Float32Array.from(lossMax);
  const rises = new Int32Array(n);
  const lossAtCheck = Float32Array.from(lossMax);
  // Official code: no "no improvement" halving at the first checkpoint.
  const halvedAtCheck = new Uint8Array(n).fill(1);
  const firstCheck = Math.max(Math.floor(0.22 * steps), 1);
  const minCheck = Math.max(Math.floor(0.06 * steps), 1);
  const shrink = Math.max(Math.floor(0.03 * steps), 1);
  let interval = firstCheck;
  let sinceCheck = 0;
  const z = new Float64Array(dim);

  for (let it = 0; it < steps; it++) {
    const a = it === 0 ? 1 : MOMENTUM;
    for (let i = 0; i < n; i++) momentumStep(X, G, X0, xPrev, z, i * dim, dim, eta[i], a, t);
    lossAndInputGrad(model, plan, n, loss, lossTargets);
    recordSuccess();
    for (let i = 0; i < n; i++) {
      const l = plan.losses[i];
      if (l > lastLoss[i]) rises[i]++;
      lastLoss[i] = l;
      if (l > lossMax[i]) {
        lossMax[i] = l;
        xMax.set(X.subarray(i * dim, (i + 1) * dim), i * dim);
        gMax.set(G.subarray(i * dim, (i + 1) * dim), i * dim);
      }
    }
    if (++sinceCheck < interval) continue;
    // Checkpoint: halve the step where progress stalled, and restart from the best point.
    for (let i = 0; i < n; i++) {
      const oscillating = rises[i] <= interval * RHO;
      const stalled = !halvedAtCheck[i] && lossAtCheck[i] >= lossMax[i];
      const halve = oscillating || stalled;
      halvedAtCheck[i] = halve ? 1 : 0;
      lossAtCheck[i] = lossMax[i];
      rises[i] = 0;
      if (halve) {
        eta[i] /= 2;
        X.set(xMax.subarray(i * dim, (i + 1) * dim), i * dim);
        G.set(gMax.subarray(i * dim, (i + 1) * dim), i * dim);
      }
    }
    sinceCheck = 0;
    interval = Math.max(interval - shrink, minCheck);
  }

  for (let i = 0; i < n; i++) {
    if (out.ok[i]) continue;
    out.loss[i] = lossMax[i];
    out.x.set(xMax.subarray(i * dim, (i + 1) * dim), i * dim);
  }
  return out;
}

/**
 * Row o of X: z = P(x + η·step(g)), then x ← P(x + a(z − x) + (1 − a)(x − x_prev)), and
 * x_prev ← x. P projects onto the ε-ball around x0 and the data range; step(g) is sign(g)
 * for L∞ and g/‖g‖₂ for L2.
 */
function momentumStep(X: Float32Array, G: Float32Array, X0: Float32Array, xPrev: Float32Array, z: Float64Array, o: number, dim: number, eta: number, a: number, t: ThreatModel): void {
  const { eps, lo, hi } = t;
  if (t.norm === "linf") {
    for (let j = 0; j < dim; j++) {
      const x = X[o + j];
      const bl = Math.max(X0[o + j] - eps, lo);
      const bh = Math.min(X0[o + j] + eps, hi);
      const g = G[o + j];
      const zj = clamp(x + eta * (g > 0 ? 1 : g < 0 ? -1 : 0), bl, bh);
      const v = x + a * (zj - x) + (1 - a) * (x - xPrev[o + j]);
      xPrev[o + j] = x;
      X[o + j] = clamp(v, bl, bh);
    }
    return;
  }
  let gn = 0;
  for (let j = 0; j < dim; j++) gn += G[o + j] * G[o + j];
  gn = Math.sqrt(gn);
  const s = gn > 0 ? eta / gn : 0;
  for (let j = 0; j < dim; j++) z[j] = X[o + j] + s * G[o + j];
  projectL2(z, X0, o, dim, t);
  for (let j = 0; j < dim; j++) {
    const x = X[o + j];
    z[j] = x + a * (z[j] - x) + (1 - a) * (x - xPrev[o + j]);
    xPrev[o + j] = x;
  }
  projectL2(z, X0, o, dim, t);
  for (let j = 0; j < dim; j++) X[o + j] = z[j];
}

/** z ← clip(x0 + δ·min(1, ε/‖δ‖₂), lo, hi) with δ = z − x0 (clipping only shrinks δ). */
function projectL2(z: Float64Array, X0: Float32Array, o: number, dim: number, t: ThreatModel): void {
  let dn = 0;
  for (let j = 0; j < dim; j++) dn += (z[j] - X0[o + j]) ** 2;
  dn = Math.sqrt(dn);
  const s = dn > t.eps ? t.eps / dn : 1;
  for (let j = 0; j < dim; j++) z[j] = clamp(X0[o + j] + s * (z[j] - X0[o + j]), t.lo, t.hi);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** The best point per sample over runs: successful first, then the higher loss. */
class Best {
  private readonly ok: Uint8Array;
  private runs = 0;

  constructor(private readonly model: Model, private readonly n: number, private readonly ws: AttackWorkspace) {
    this.ok = new Uint8Array(n);
  }

  merge(r: RunResult): void {
    const dim = this.model.inputSize;
    const best = this.model.rt.f32(this.ws.best, this.n * dim);
    for (let i = 0; i < this.n; i++) {
      const better = this.runs === 0 || (r.ok[i] !== this.ok[i] ? r.ok[i] > this.ok[i] : !this.ok[i] && r.loss[i] > this.ws.bestLoss[i]);
      if (!better) continue;
      this.ok[i] = r.ok[i];
      this.ws.bestLoss[i] = r.loss[i];
      best.set(r.x.subarray(i * dim, (i + 1) * dim), i * dim);
    }
    this.runs++;
  }

  finish(plan: Plan): AttackOutcome {
    const dim = this.model.inputSize;
    plan.input.set(this.model.rt.f32(this.ws.best, this.n * dim));
    return { success: this.ok.slice(), loss: this.ws.bestLoss.slice(0, this.n) };
  }
}
