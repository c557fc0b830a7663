// Training objectives: what a step minimises on a shard of a batch. Each leaves
// dL/dθ (scaled so that the shards of a batch sum to the batch mean) in model.grads and
// reports the mean loss and how many samples it classified right (on the inputs it trained
// on: clean for standard, adversarial otherwise).
import { hash32 } from "../core/random.js";
import { pgd } from "../attack/pgd.js";
import type { AttackWorkspace } from "../pool/shard.js";
import { projectedStep, randomStart, type Norm } from "../attack/threat.js";
import type { Model, Plan } from "../nn/model.js";
import { certifiedStep } from "./certified.js";

export interface StepResult {
  /** Sum of per-sample losses over the shard. */
  lossSum: number;
  /** Samples classified right. */
  correct: number;
}

export interface ObjectiveConfig {
  name: "standard" | "fgsm-rs" | "pgd" | "trades" | "ibp" | "crown-ibp";
  norm: Norm;
  /** Full ε (the engine scales it during warm-up). */
  eps: number;
  /** Step size: for fgsm-rs the FGSM step (Wong et al.: 1.25 ε), for pgd/trades each step's. */
  alpha: number;
  steps: number;
  restarts: number;
  /** TRADES' trade-off β. */
  beta: number;
  lo: number;
  hi: number;
  /** ibp, crown-ibp: weight of the clean loss at the end of the ε warm-up (it starts at 1). */
  kappaEnd?: number;
  /** crown-ibp: weight of the CROWN bound at the end of the ε warm-up (it starts at 1). */
  crownIbpBeta?: number;
}

/** What a shard step gets besides the plan (plan.input and plan.labels hold the shard). */
export interface StepContext {
  /** 1 / (samples in the whole batch). */
  scale: number;
  seed: number;
  epoch: number;
  /** ε in force for this step (after warm-up). */
  eps: number;
  /** Address of the clean inputs (also in plan.input at entry). */
  x0: number;
  /** Address of n int32 global sample indices (random draws are keyed by them). */
  samples: number;
  ws: AttackWorkspace;
}

export const OBJECTIVES = ["standard", "fgsm-rs", "pgd", "trades", "ibp", "crown-ibp"] as const;

export function countCorrect(model: Model, plan: Plan, batch: number): number {
  const pred = model.predict(plan, batch);
  let c = 0;
  for (let i = 0; i < batch; i++) if (pred[i] === plan.labels[i]) c++;
  return c;
}

/** Plain empirical risk on the clean inputs; what `train` runs when no objective is given. */
export const STANDARD: ObjectiveConfig = { name: "standard", norm: "linf", eps: 0, alpha: 0, steps: 0, restarts: 1, beta: 0, lo: 0, hi: 1 };

/** Forward, cross-entropy, backward into model.grads on whatever plan.input holds. */
export function standardStep(model: Model, plan: Plan, n: number, scale = 1 / n): StepResult {
  return descend(model, plan, n, scale);
}

function descend(model: Model, plan: Plan, n: number, scale: number): StepResult {
  model.forward(plan, n);
  const lossSum = model.lossAndGrad(plan, n, scale) * n;
  const correct = countCorrect(model, plan, n);
  model.backward(plan, n);
  return { lossSum, correct };
}

export function runObjective(model: Model, plan: Plan, n: number, o: ObjectiveConfig, c: StepContext): StepResult {
  const keys = { seed: c.seed, stream: hash32(0x7a11, c.epoch), samples: c.samples };
  switch (o.name) {
    case "standard":
      return descend(model, plan, n, c.scale);
    case "fgsm-rs":
      // Wong, Rice & Kolter: one FGSM step of size α from a uniform random start.
      pgd(model, plan, n, c.x0, { ...o, eps: c.eps, alpha: o.alpha * (c.eps / (o.eps || 1)), steps: 1, restarts: 1, randomStart: true }, keys, c.ws);
      return descend(model, plan, n, c.scale);
    case "pgd":
      pgd(model, plan, n, c.x0, { ...o, eps: c.eps, alpha: o.alpha * (c.eps / (o.eps || 1)), randomStart: true }, keys, c.ws);
      return descend(model, plan, n, c.scale);
    case "trades":
      return trades(model, plan, n, o, c, keys);
    case "ibp":
    case "crown-ibp":
      return certifiedStep(model, plan, n, o, c);
    default:
      throw new Error(`unknown objective '${(o as { name: string }).name}' (expected ${OBJECTIVES.join(", ")})`);
  }
}

/**
 * TRADES (Zhang et al.): CE(f(x), y) + β·KL(p(x) ‖ p(x′)), x′ maximising the KL term by PGD
 * from x + 0.001·noise. Gradients of both terms are accumulated into model.grads.
 */
function trades(model: Model, plan: Plan, n: number, o: ObjectiveConfig, c: StepContext, keys: { seed: number; stream: number; samples: number }): StepResult {
  const rt = model.rt;
  const classes = model.outputSize;
  const last = model.layers.length;
  const logits = rt.f32(plan.acts[last], n * classes);
  const dlogits = rt.f32(plan.grads[last], n * classes);
  // Clean probabilities p (kept in JS: n × classes is small).
  model.forward(plan, n);
  const p = softmaxRows(logits, n, classes);
  const eps = c.eps;
  const alpha = o.alpha * (eps / (o.eps || 1));
  // Inner maximisation of KL(p ‖ q(x′)): start near x, then signed/normalised steps.
  const tiny = { ...o, eps: Math.min(0.001, eps) };
  randomStart(model, plan.acts[0], c.x0, n, tiny, keys);
  projectedStep(model, plan, plan.acts[0], plan.grads[0], c.x0, n, { ...o, eps }, 0, c.ws.work);
  for (let s = 0; s < o.steps; s++) {
    model.forward(plan, n);
    const q = softmaxRows(logits, n, classes);
    for (let i = 0; i < n * classes; i++) dlogits[i] = q[i] - p[i];
    model.backward(plan, n, { inputGrad: true, weightGrads: false });
    projectedStep(model, plan, plan.acts[0], plan.grads[0], c.x0, n, { ...o, eps }, alpha, c.ws.work);
  }
  // Outer: β·KL at x′ (gradient through q: β(q − p)/batch), then CE + β·KL at x (through p).
  model.forward(plan, n);
  const q = softmaxRows(logits, n, classes);
  let kl = 0;
  for (let i = 0; i < n * classes; i++) {
    if (p[i] > 0) kl += p[i] * (Math.log(p[i]) - Math.log(Math.max(q[i], 1e-30)));
    dlogits[i] = o.beta * c.scale * (q[i] - p[i]);
  }
  model.backward(plan, n);
  const adv = rt.f32(plan.acts[0], n * model.inputSize);
  adv.set(rt.f32(c.x0, n * model.inputSize));
  model.forward(plan, n);
  const lossSum = model.lossAndGrad(plan, n, c.scale) * n;
  const correct = countCorrect(model, plan, n);
  // d/dz KL(p ‖ q) with p = softmax(z): p_j (log p_j − log q_j − KL_row).
  for (let r = 0; r < n; r++) {
    let klr = 0;
    for (let j = 0; j < classes; j++) {
      const i = r * classes + j;
      if (p[i] > 0) klr += p[i] * (Math.log(p[i]) - Math.log(Math.max(q[i], 1e-30)));
    }
    for (let j = 0; j < classes; j++) {
      const i = r * classes + j;
      const lp = p[i] > 0 ? Math.log(p[i]) : 0;
      dlogits[i] += o.beta * c.scale * p[i] * (lp - Math.log(Math.max(q[i], 1e-30)) - klr);
    }
  }
  model.backward(plan, n, { accumulate: true });
  return { lossSum: lossSum + o.beta * kl, correct };
}

function softmaxRows(z: Float32Array, n: number, classes: number): Float64Array {
  const out = new Float64Array(n * classes);
  for (let r = 0; r < n; r++) {
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, z[r * classes + j]);
    let s = 0;
    for (let j = 0; j < classes; j++) s += out[r * classes + j] = Math.exp(z[r * classes + j] - m);
    for (let j = 0; j < classes; j++) out[r * classes + j] /= s;
  }
  return out;
}
