// Certified training objectives: IBP (Gowal et al. 2018) and CROWN-IBP (Zhang et al. 2020).
//   L = κ·CE(f(x), y) + (1 − κ)·CE(−m̲(x, ε), y)
// where m̲_j is a lower bound of the margin z_y − z_j over the ε-box (m̲_y = 0), so −m̲ are the
// worst-case logits. IBP takes m̲ from interval propagation; CROWN-IBP from
// β·(CROWN back-substitution over IBP intermediate bounds) + (1 − β)·IBP. Over the ε warm-up
// (ε_t / ε going 0 → 1) κ goes 1 → κ_end and β goes 1 → β_end. Gradients of every term reach
// the weights exactly (through |W|, the ReLU boxes, and CROWN's relaxation slopes).
import type { Model, Plan } from "../nn/model.js";
import { certifiedWorkspace, loadWeights, storeGradient } from "./certified-workspace.js";
import { crownMarginBackward, crownMargins } from "./crown-pass.js";
import { foldedMargins, intervalBackward, intervalForward } from "./interval-pass.js";
import type { ObjectiveConfig, StepContext, StepResult } from "./objective.js";

/** κ at the end of the warm-up when not configured (Gowal et al.). */
export const DEFAULT_KAPPA_END = 0.5;
/** β at the end of the warm-up when not configured (Zhang et al.: pure IBP at the end). */
export const DEFAULT_CROWN_IBP_BETA_END = 0;

export interface CertifiedMix {
  /** Weight of the clean cross-entropy. */
  kappa: number;
  /** Weight of the CROWN bound in the worst-case margins (0 for IBP). */
  beta: number;
}

/** κ and β at the step whose ε is `eps` (the warm-up's progress is eps / o.eps). */
export function certifiedMix(o: ObjectiveConfig, eps: number): CertifiedMix {
  const progress = o.eps > 0 ? Math.min(1, eps / o.eps) : 1;
  const kappaEnd = o.kappaEnd ?? DEFAULT_KAPPA_END;
  const betaEnd = o.crownIbpBeta ?? DEFAULT_CROWN_IBP_BETA_END;
  return {
    kappa: 1 - (1 - kappaEnd) * progress,
    beta: o.name === "crown-ibp" ? 1 - (1 - betaEnd) * progress : 0,
  };
}

export function validateCertified(o: ObjectiveConfig): void {
  const k = o.kappaEnd ?? DEFAULT_KAPPA_END;
  if (!(k >= 0 && k <= 1)) throw new Error(`κ_end must be in [0, 1], got ${k}`);
  const b = o.crownIbpBeta ?? DEFAULT_CROWN_IBP_BETA_END;
  if (!(b >= 0 && b <= 1)) throw new Error(`CROWN-IBP β_end must be in [0, 1], got ${b}`);
  if (o.norm !== "linf") throw new Error(`certified training bounds L∞ boxes only, got norm ${o.norm}`);
}

/** Loss and gradient of the worst-case CE for lower margins m (n × C, (s, y) ignored). */
function worstCaseCE(m: Float64Array, labels: Int32Array, n: number, C: number, weight: number): { lossSum: number; gm: Float64Array } {
  const gm = new Float64Array(n * C);
  let lossSum = 0;
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    // Logits z_j = −m_j, z_y = 0: loss = logsumexp(z) − 0.
    let top = 0;
    for (let j = 0; j < C; j++) if (j !== y) top = Math.max(top, -m[s * C + j]);
    let sum = Math.exp(-top);
    for (let j = 0; j < C; j++) if (j !== y) sum += Math.exp(-m[s * C + j] - top);
    const lse = top + Math.log(sum);
    lossSum += lse;
    for (let j = 0; j < C; j++) if (j !== y) gm[s * C + j] = -weight * Math.exp(-m[s * C + j] - lse);
  }
  return { lossSum, gm };
}

/**
 * One shard of an `ibp` or `crown-ibp` step: the mixed loss of the n samples in plan
 * (clean inputs at c.x0, labels in plan.labels), its gradient (× c.scale) written to
 * model.grads. `correct` counts clean hits.
 */
export function certifiedStep(model: Model, plan: Plan, n: number, o: ObjectiveConfig, c: StepContext): StepResult {
  validateCertified(o);
  const ws = certifiedWorkspace(model.rt, model.arch, plan.capacity);
  const { kappa, beta } = certifiedMix(o, c.eps);
  const C = model.outputSize;
  const d = model.inputSize;
  const x = model.rt.f32(c.x0, n * d).slice();
  const labels = ws.plan.labels;
  labels.set(plan.labels.subarray(0, n));
  loadWeights(ws, model.params.f32);
  // Clean term (its forward also gives the clean hits reported).
  ws.plan.input.set(x);
  ws.model.forward(ws.plan, n);
  const cleanSum = ws.model.lossAndGrad(ws.plan, n, kappa * c.scale) * n;
  const pred = ws.model.predict(ws.plan, n);
  let correct = 0;
  for (let s = 0; s < n; s++) if (pred[s] === labels[s]) correct++;
  if (kappa > 0) ws.model.backward(ws.plan, n, { accumulate: true });
  let worstSum = 0;
  if (kappa < 1) {
    intervalForward(ws, x, n, c.eps, o.lo, o.hi);
    const ibp = foldedMargins(ws, labels, n);
    const m = new Float64Array(n * C);
    for (let i = 0; i < m.length; i++) m[i] = ibp.mu[i] - ibp.rad[i];
    const crown = beta > 0 ? crownMargins(ws, x, labels, n, c.eps, o.lo, o.hi) : null;
    if (crown) for (let i = 0; i < m.length; i++) m[i] = beta * crown.lower[i] + (1 - beta) * m[i];
    const ce = worstCaseCE(m, labels, n, C, (1 - kappa) * c.scale);
    worstSum = ce.lossSum;
    // m = β·crown + (1 − β)·(μ − rad).
    const gMu = new Float64Array(n * C);
    const gRad = new Float64Array(n * C);
    for (let i = 0; i < m.length; i++) {
      gMu[i] = (1 - beta) * ce.gm[i];
      gRad[i] = -(1 - beta) * ce.gm[i];
    }
    const bounds = crown ? crownMarginBackward(ws, crown, ce.gm.map((g) => beta * g), labels, n) : undefined;
    intervalBackward(ws, labels, n, gMu, gRad, bounds);
  }
  storeGradient(ws, model.grads.f32);
  return { lossSum: kappa * cleanSum + (1 - kappa) * worstSum, correct };
}
