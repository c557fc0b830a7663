// FGSM (Goodfellow et al.) and FGSM from a random start (Wong, Rice & Kolter): one
// projected step of PGD. For L2 the step is the normalised gradient (the fast gradient method).
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import type { AttackLoss, Targets } from "./losses.js";
import { pgd } from "./pgd.js";
import type { AttackKeys, ThreatModel } from "./threat.js";

export interface FgsmOptions extends ThreatModel {
  /** Step size (default ε for fgsm; 1.25·ε for fgsmRandomStart, as Wong et al. use). */
  alpha?: number;
  loss?: AttackLoss;
  targets?: Targets;
}

/** One step of size α (default ε) from x; adversarial inputs in plan.input, losses returned. */
export function fgsm(model: Model, plan: Plan, n: number, x0: number, o: FgsmOptions, keys: AttackKeys, ws: AttackWorkspace, finalLoss = false): Float32Array {
  return pgd(model, plan, n, x0, { ...o, alpha: o.alpha ?? o.eps, steps: 1, restarts: 1, randomStart: false }, keys, ws, finalLoss);
}

/** One step of size α (default 1.25·ε) from a uniform point of the ε-ball around x. */
export function fgsmRandomStart(model: Model, plan: Plan, n: number, x0: number, o: FgsmOptions, keys: AttackKeys, ws: AttackWorkspace, finalLoss = false): Float32Array {
  return pgd(model, plan, n, x0, { ...o, alpha: o.alpha ?? 1.25 * o.eps, steps: 1, restarts: 1, randomStart: true }, keys, ws, finalLoss);
}
