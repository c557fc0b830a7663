// Every attack by name, run on one shard region: the adversarial points land in plan.input
// (white-box) or come back from the oracle (black-box), and each sample gets one outcome
// row. The CLI, the suite and the pool's attack task all go through here.
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import type { AttackLoss } from "./losses.js";
import type { AttackKeys, Norm } from "./threat.js";
import { pgd } from "./pgd.js";
import { apgd, apgdT } from "./apgd.js";
import { cw } from "./cw.js";
import { deepfool } from "./deepfool.js";
import { ModelOracle, type BlackBoxResult } from "./oracle.js";
import { square } from "./square.js";
import { nes, spsa } from "./nes.js";
import { hopSkipJump } from "./hopskipjump.js";

export const WHITE_BOX = ["fgsm", "pgd", "apgd-ce", "apgd-t", "cw", "deepfool"] as const;
export const BLACK_BOX = ["square", "nes", "spsa", "hopskipjump"] as const;
export const ATTACKS = [...WHITE_BOX, ...BLACK_BOX] as const;
export type AttackName = (typeof ATTACKS)[number];

/** Minimum-norm attacks: they ignore ε; a sample counts as broken when its norm is ≤ ε. */
export const MIN_NORM: readonly AttackName[] = ["cw", "deepfool", "hopskipjump"];

export interface AttackSpec {
  name: AttackName;
  norm: Norm;
  eps: number;
  lo: number;
  hi: number;
  /** Iterations (white-box and NES/SPSA steps). */
  steps: number;
  restarts: number;
  /** Step size (default per attack). */
  alpha?: number;
  loss: AttackLoss;
  /** Random start (PGD). */
  randomStart: boolean;
  /** A fixed target class for targeted attacks (PGD, APGD), or null for untargeted. */
  target: number | null;
  /** Per-sample query budget of black-box attacks. */
  queries: number;
}

export interface SampleOutcome {
  advPred: number;
  /** Misclassified (or, targeted, classified as the target) at the attack's point and within ε. */
  success: number;
  linf: number;
  l2: number;
  /** Queries used (black-box), else 0. */
  queries: number;
}

export function isBlackBox(name: AttackName): boolean {
  return (BLACK_BOX as readonly string[]).includes(name);
}

/** Runs `spec` on the n samples of a shard (x0: clean inputs; plan.labels: labels). */
export function runAttack(model: Model, plan: Plan, n: number, x0: number, spec: AttackSpec, keys: AttackKeys, ws: AttackWorkspace): SampleOutcome[] {
  const dim = model.inputSize;
  const x0v = model.rt.f32(x0, n * dim);
  const labels = plan.labels.slice(0, n);
  const targets = spec.target === null ? undefined : new Int32Array(n).fill(spec.target);
  let queries: Int32Array | null = null;
  let blackBox: BlackBoxResult | null = null;
  const threat = { norm: spec.norm, eps: spec.eps, lo: spec.lo, hi: spec.hi };
  switch (spec.name) {
    case "fgsm":
      pgd(model, plan, n, x0, { ...threat, alpha: spec.alpha ?? spec.eps, steps: 1, restarts: 1, randomStart: false, loss: spec.loss, targets }, keys, ws);
      break;
    case "pgd":
      pgd(model, plan, n, x0, {
        ...threat, alpha: spec.alpha ?? (2.5 * spec.eps) / spec.steps, steps: spec.steps, restarts: spec.restarts,
        randomStart: spec.randomStart, loss: spec.loss, targets, keep: "success",
      }, keys, ws);
      break;
    case "apgd-ce":
      apgd(model, plan, n, x0, { ...threat, steps: spec.steps, restarts: spec.restarts, loss: spec.target === null ? spec.loss : "ce", targets }, keys, ws);
      break;
    case "apgd-t":
      apgdT(model, plan, n, x0, { ...threat, steps: spec.steps, restarts: 1 }, keys, ws);
      break;
    case "cw":
      cw(model, plan, n, x0, { lo: spec.lo, hi: spec.hi, steps: spec.steps, targets }, keys, ws);
      break;
    case "deepfool":
      deepfool(model, plan, n, x0, { norm: spec.norm, lo: spec.lo, hi: spec.hi, steps: spec.steps }, keys, ws);
      break;
    default: {
      const oracle = new ModelOracle(model, n, { kind: spec.name === "hopskipjump" ? "labels" : "logits", budget: spec.queries, plan });
      const samples = model.rt.i32(keys.samples, n).slice();
      const batch = { x0: x0v.slice(), labels, samples, seed: keys.seed, stream: keys.stream };
      if (spec.name === "square") blackBox = square(oracle, batch, { ...threat, pInit: spec.norm === "linf" ? 0.8 : 0.1 });
      else if (spec.name === "hopskipjump") blackBox = hopSkipJump(oracle, batch, { lo: spec.lo, hi: spec.hi });
      else {
        const o = { ...threat, q: 20, sigma: 0.001, alpha: spec.alpha ?? (2.5 * spec.eps) / spec.steps, steps: spec.steps };
        blackBox = spec.name === "nes" ? nes(oracle, batch, o) : spsa(oracle, batch, o);
      }
      queries = blackBox.queries;
      plan.input.set(blackBox.xadv.subarray(0, n * dim));
    }
  }
  // Judge every attack the same way: predictions at the returned points, norms of δ.
  model.forward(plan, n);
  const pred = model.predict(plan, n);
  const xa = plan.input;
  const minNorm = MIN_NORM.includes(spec.name);
  const out: SampleOutcome[] = [];
  for (let i = 0; i < n; i++) {
    let linf = 0;
    let l2 = 0;
    for (let j = 0; j < dim; j++) {
      const d = xa[i * dim + j] - x0v[i * dim + j];
      linf = Math.max(linf, Math.abs(d));
      l2 += d * d;
    }
    l2 = Math.sqrt(l2);
    const hit = targets ? pred[i] === targets[i] : pred[i] !== labels[i];
    const within = !minNorm || (spec.norm === "linf" ? linf : l2) <= spec.eps * (1 + 1e-6);
    out.push({ advPred: pred[i], success: hit && within ? 1 : 0, linf, l2, queries: queries ? queries[i] : 0 });
  }
  return out;
}
