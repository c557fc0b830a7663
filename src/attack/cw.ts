// Carlini & Wagner's L2 attack: a minimum-norm attack. It minimises ‖x′ − x‖₂² + c·f(x′)
// with f = max(z_y − max_{j≠y} z_j, −κ) (targeted: max_{j≠t} z_j − z_t), over
// x′ = lo + (hi − lo)(tanh w + 1)/2, so the data range holds without projection and Adam
// runs on the unconstrained w. A per-sample binary search on c finds the smallest constant
// that still succeeds; the smallest successful perturbation seen is returned.
//
// Per-step arithmetic is O(n·d) in JS over views of WASM memory (tanh and Adam on w); the
// model's forward and input-gradient passes run in the kernels.
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import { argmaxExcept, isSuccess, targetView, type MinNormOutcome, type Targets } from "./losses.js";
import { attackViews, type AttackKeys } from "./threat.js";

export interface CwOptions {
  /** Data range. */
  lo: number;
  hi: number;
  /** Adam steps per value of c (default 100). */
  steps?: number;
  /** Binary-search rounds on c (default 6). */
  searchSteps?: number;
  /** Adam's step size on w (default 0.1; the original's 0.01 needs thousands of steps: inputs at the range's ends start at |w| ≈ 7.25, where tanh is flat). */
  lr?: number;
  /** The first c (default 0.1); ×10 while nothing succeeds, bisected once something does. */
  initialConst?: number;
  /** Confidence κ: success needs the margin beyond −κ (default 0). */
  kappa?: number;
  targets?: Targets;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
/** atanh(±1) is infinite: inputs at the range's ends map to w = atanh(±(1 − 1e-6)). */
const TANH_CLIP = 1 - 1e-6;

/**
 * Leaves in plan.input, per sample, the smallest successful point found (the clean input
 * where none was), and reports success and ‖x′ − x‖₂. C&W draws no random numbers and needs
 * no workspace; keys and ws keep the signature every attack shares.
 */
export function cw(model: Model, plan: Plan, n: number, x0: number, o: CwOptions, _keys?: AttackKeys, _ws?: AttackWorkspace): MinNormOutcome {
  const { lo, hi } = o;
  if (!(lo < hi)) throw new Error(`data range [${lo}, ${hi}] is empty`);
  const steps = o.steps ?? 100;
  const searchSteps = o.searchSteps ?? 6;
  const lr = o.lr ?? 0.1;
  const kappa = o.kappa ?? 0;
  const c0 = o.initialConst ?? 0.1;
  if (!(c0 > 0) || !(lr > 0) || !(kappa >= 0)) throw new Error("C&W needs initialConst > 0, lr > 0 and kappa ≥ 0");
  const targets = targetView(model, n, o.targets);
  const classes = model.outputSize;
  const dim = model.inputSize;
  const size = n * dim;
  const { X, G, X0, Z, DZ } = attackViews(model, plan, n, x0);
  const half = (hi - lo) / 2;

  const w0 = new Float64Array(size);
  for (let i = 0; i < size; i++) w0[i] = Math.atanh(Math.max(-TANH_CLIP, Math.min(TANH_CLIP, (X0[i] - lo) / half - 1)));
  const w = new Float64Array(size);
  const m = new Float64Array(size);
  const v = new Float64Array(size);
  const th = new Float64Array(size);

  const c = new Float64Array(n).fill(c0);
  const lower = new Float64Array(n);
  const upper = new Float64Array(n).fill(Infinity);
  const bestSq = new Float64Array(n).fill(Infinity);
  const bestX = Float32Array.from(X0);
  const found = new Uint8Array(n);

  for (let round = 0; round < searchSteps; round++) {
    // Every round starts afresh from x (as the original does), with the new c.
    w.set(w0);
    m.fill(0);
    v.fill(0);
    found.fill(0);
    // Early abort (as the original): stop the round once the objective stalls for steps/10 steps.
    let lastObjective = Infinity;
    const every = Math.max(1, Math.ceil(steps / 10));
    for (let s = 1; s <= steps; s++) {
      for (let i = 0; i < size; i++) {
        th[i] = Math.tanh(w[i]);
        X[i] = lo + half * (th[i] + 1);
      }
      model.forward(plan, n);
      const pred = model.predict(plan, n);
      DZ.fill(0, 0, n * classes);
      let objective = 0;
      for (let r = 0; r < n; r++) {
        const o = r * classes;
        const y = plan.labels[r];
        const t = targets?.[r];
        // The margin the attack drives below −κ: f = z_keep − z_other.
        const keep = t === undefined ? y : argmaxExcept(Z, o, classes, t);
        const other = t === undefined ? argmaxExcept(Z, o, classes, y) : t;
        const f = Z[o + keep] - Z[o + other];
        let sq = 0;
        for (let j = r * dim; j < (r + 1) * dim; j++) sq += (X[j] - X0[j]) ** 2;
        if (f <= -kappa && isSuccess(pred[r], y, t)) {
          found[r] = 1;
          if (sq < bestSq[r]) {
            bestSq[r] = sq;
            bestX.set(X.subarray(r * dim, (r + 1) * dim), r * dim);
          }
        }
        objective += sq + c[r] * Math.max(f, -kappa);
        if (f > -kappa) {
          DZ[o + keep] += c[r];
          DZ[o + other] -= c[r];
        }
      }
      if (s === steps) break; // the last point is scored, not stepped from
      if (s % every === 0) {
        if (objective > lastObjective * (1 - 1e-4)) break;
        lastObjective = objective;
      }
      model.backward(plan, n, { inputGrad: true, weightGrads: false });
      // ∂/∂w of ‖x′ − x‖² + c·f, then one Adam step.
      const bc1 = 1 - BETA1 ** s;
      const bc2 = 1 - BETA2 ** s;
      for (let i = 0; i < size; i++) {
        const g = (2 * (X[i] - X0[i]) + G[i]) * half * (1 - th[i] * th[i]);
        m[i] = BETA1 * m[i] + (1 - BETA1) * g;
        v[i] = BETA2 * v[i] + (1 - BETA2) * g * g;
        w[i] -= (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + 1e-8);
      }
    }
    // Binary search: a success bounds c from above; a failure from below (×10 until bounded).
    for (let r = 0; r < n; r++) {
      if (found[r]) {
        upper[r] = Math.min(upper[r], c[r]);
        c[r] = (lower[r] + upper[r]) / 2;
      } else {
        lower[r] = Math.max(lower[r], c[r]);
        c[r] = Number.isFinite(upper[r]) ? (lower[r] + upper[r]) / 2 : c[r] * 10;
      }
    }
  }

  X.set(bestX);
  const success = new Uint8Array(n);
  const norm = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    success[r] = Number.isFinite(bestSq[r]) ? 1 : 0;
    norm[r] = success[r] ? Math.sqrt(bestSq[r]) : 0;
  }
  return { success, norm };
}
