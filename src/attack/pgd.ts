// Projected gradient descent on the loss (Madry et al.) with random starts and restarts,
// untargeted or targeted, on the CE, margin (C&W) or DLR loss; FGSM and FGSM with random
// start are its one-step cases (fgsm.ts). Input gradients only: the backward pass never
// computes weight gradients.
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import { attackLoss, isSuccess, lossAndInputGrad, targetView, validateLoss, type AttackLoss, type Targets } from "./losses.js";
import { attackStream, projectedStep, randomStart, type AttackKeys, type PgdOptions } from "./threat.js";

export interface PgdAttackOptions extends PgdOptions {
  /** The loss to ascend (default "ce"). */
  loss?: AttackLoss;
  /** Target classes for a targeted attack (the loss then pulls toward them). */
  targets?: Targets;
  /**
   * Which restart's point a sample keeps: the highest loss ("loss": what adversarial
   * training wants), or a successful point first and then the highest loss ("success":
   * what evaluation wants). Default: "loss" for untargeted CE (as before these options
   * existed), "success" otherwise — with −CE to a target, a higher loss need not mean the
   * target is reached.
   */
  keep?: "loss" | "success";
}

/**
 * Leaves the adversarial inputs of the n samples in plan.input. x0 holds the clean inputs,
 * plan.labels the labels. With finalLoss (or restarts > 1) it also returns the per-sample
 * loss at the returned points (plan.losses); training skips that extra forward pass.
 */
export function pgd(model: Model, plan: Plan, n: number, x0: number, o: PgdAttackOptions, keys: AttackKeys, ws: AttackWorkspace, finalLoss = false): Float32Array {
  const dim = model.inputSize;
  const xadv = plan.acts[0];
  const grad = plan.grads[0];
  const loss = o.loss ?? "ce";
  const targets = targetView(model, n, o.targets);
  validateLoss(loss, model.outputSize, targets !== undefined);
  const keep = o.keep ?? (loss === "ce" && !targets ? "loss" : "success");
  const restarts = Math.max(1, o.restarts);
  const bestOk = keep === "success" && restarts > 1 ? new Uint8Array(n) : undefined;
  for (let r = 0; r < restarts; r++) {
    if (o.randomStart && o.eps > 0) {
      randomStart(model, xadv, x0, n, o, { ...keys, stream: attackStream(keys.stream, r) });
    } else {
      plan.input.set(model.rt.f32(x0, n * dim));
    }
    for (let s = 0; s < o.steps; s++) {
      lossAndInputGrad(model, plan, n, loss, targets);
      projectedStep(model, plan, xadv, grad, x0, n, o, o.alpha, ws.work);
    }
    if (o.steps === 0) projectedStep(model, plan, xadv, grad, x0, n, o, 0, ws.work);
    if (restarts === 1) {
      if (finalLoss) {
        model.forward(plan, n);
        attackLoss(model, plan, n, loss, targets, true);
      }
      break;
    }
    // Keep each sample's worst point over the restarts (successful first when keep = success).
    model.forward(plan, n);
    attackLoss(model, plan, n, loss, targets, true);
    const pred = bestOk ? model.predict(plan, n) : undefined;
    const cur = model.rt.f32(xadv, n * dim);
    const best = model.rt.f32(ws.best, n * dim);
    for (let i = 0; i < n; i++) {
      const ok = pred ? (isSuccess(pred[i], plan.labels[i], targets?.[i]) ? 1 : 0) : 0;
      const better = r === 0 || (bestOk && ok !== bestOk[i] ? ok > bestOk[i] : plan.losses[i] > ws.bestLoss[i]);
      if (better) {
        ws.bestLoss[i] = plan.losses[i];
        if (bestOk) bestOk[i] = ok;
        best.set(cur.subarray(i * dim, (i + 1) * dim), i * dim);
      }
    }
  }
  if (restarts > 1) {
    plan.input.set(model.rt.f32(ws.best, n * dim));
    plan.losses.set(ws.bestLoss.subarray(0, n));
  }
  return plan.losses;
}
