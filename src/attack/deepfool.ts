// DeepFool (Moosavi-Dezfooli et al.): a minimum-norm attack that linearises the classifier
// at the current point and steps onto the nearest linearised decision boundary between the
// label y and a candidate class k: distance |f_k| / ‖∇f_k‖_q with f_k = z_k − z_y, q the dual
// norm (2 for L2, 1 for L∞). The accumulated step is applied with a small overshoot so
// the point lands just past the boundary. Each iteration is one forward pass and one
// input-gradient pass per candidate class (the backward passes reuse the forward's state).
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import type { MinNormOutcome } from "./losses.js";
import { attackViews, type AttackKeys, type Norm } from "./threat.js";

export interface DeepFoolOptions {
  norm: Norm;
  lo: number;
  hi: number;
  /** Iterations at most (default 50). */
  steps?: number;
  /** The step is applied ×(1 + overshoot) (default 0.02). */
  overshoot?: number;
  /** Classes considered: the label and the highest-scoring others at x (default all). */
  candidates?: number;
}

/**
 * Leaves the points in plan.input (stops moving a sample once it is misclassified) and
 * reports success (misclassified) and ‖x′ − x‖ in the attack's norm. No random numbers and
 * no workspace: keys and ws keep the shared signature.
 */
export function deepfool(model: Model, plan: Plan, n: number, x0: number, o: DeepFoolOptions, _keys?: AttackKeys, _ws?: AttackWorkspace): MinNormOutcome {
  if (o.norm !== "linf" && o.norm !== "l2") throw new Error(`unknown norm '${o.norm}' (expected linf or l2)`);
  if (!(o.lo < o.hi)) throw new Error(`data range [${o.lo}, ${o.hi}] is empty`);
  const steps = o.steps ?? 50;
  const overshoot = o.overshoot ?? 0.02;
  const classes = model.outputSize;
  const cand = Math.min(o.candidates ?? classes, classes);
  if (!(cand >= 2)) throw new Error(`DeepFool needs at least 2 candidate classes, got ${o.candidates}`);
  const dim = model.inputSize;
  const size = n * dim;
  const { X, G, X0, Z, DZ } = attackViews(model, plan, n, x0);
  const labels = plan.labels;

  // Candidate classes per sample, ranked once by the clean logits (the label excluded).
  X.set(X0);
  model.forward(plan, n);
  const others: Int32Array[] = Array.from({ length: cand - 1 }, () => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const rest = Array.from({ length: classes }, (_, j) => j).filter((j) => j !== labels[i]);
    rest.sort((a, b) => Z[i * classes + b] - Z[i * classes + a] || a - b);
    for (let c = 0; c < cand - 1; c++) others[c][i] = rest[c];
  }

  const total = new Float64Array(size);
  const bestDist = new Float64Array(n);
  const bestStep = new Float64Array(size);
  const active = new Uint8Array(n);
  for (let it = 0; it <= steps; it++) {
    if (it > 0) model.forward(plan, n);
    const pred = model.predict(plan, n);
    let any = 0;
    for (let i = 0; i < n; i++) any += active[i] = pred[i] === labels[i] ? 1 : 0;
    if (!any || it === steps) break;
    bestDist.fill(Infinity);
    for (let c = 0; c < cand - 1; c++) {
      DZ.fill(0, 0, n * classes);
      for (let i = 0; i < n; i++) {
        DZ[i * classes + others[c][i]] = 1;
        DZ[i * classes + labels[i]] = -1;
      }
      model.backward(plan, n, { inputGrad: true, weightGrads: false });
      for (let i = 0; i < n; i++) {
        if (!active[i]) continue;
        const o0 = i * dim;
        const f = Math.abs(Z[i * classes + others[c][i]] - Z[i * classes + labels[i]]);
        let q = 0; // ‖∇f‖₂² for L2, ‖∇f‖₁ for L∞
        for (let j = o0; j < o0 + dim; j++) q += o.norm === "l2" ? G[j] * G[j] : Math.abs(G[j]);
        const dist = f / ((o.norm === "l2" ? Math.sqrt(q) : q) + 1e-8);
        if (!(dist < bestDist[i])) continue;
        bestDist[i] = dist;
        // The step onto this linearised boundary (plus 1e-4 so it lands past it).
        const s = q > 0 ? (f + 1e-4) / q : 0;
        for (let j = o0; j < o0 + dim; j++) bestStep[j] = o.norm === "l2" ? s * G[j] : s * Math.sign(G[j]);
      }
    }
    for (let i = 0; i < n; i++) {
      if (!active[i]) continue;
      for (let j = i * dim; j < (i + 1) * dim; j++) {
        total[j] += bestStep[j];
        const x = X0[j] + (1 + overshoot) * total[j];
        X[j] = x < o.lo ? o.lo : x > o.hi ? o.hi : x;
      }
    }
  }

  // The last forward pass was at the returned points: pred is current.
  const pred = model.predict(plan, n);
  const success = new Uint8Array(n);
  const norm = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    success[i] = pred[i] !== labels[i] ? 1 : 0;
    let acc = 0;
    for (let j = i * dim; j < (i + 1) * dim; j++) {
      const d = Math.abs(X[j] - X0[j]);
      acc = o.norm === "l2" ? acc + d * d : Math.max(acc, d);
    }
    norm[i] = o.norm === "l2" ? Math.sqrt(acc) : acc;
  }
  return { success, norm };
}
