// Projected gradient descent on the loss (Madry et al.), untargeted cross-entropy, with random
// starts and restarts; FGSM and FGSM with random start are its one-step cases. Input
// gradients only: the backward pass never computes weight gradients.
import type { Model, Plan } from "../nn/model.js";
import type { AttackWorkspace } from "../pool/shard.js";
import { attackStream, projectedStep, randomStart, type AttackKeys, type PgdOptions } from "./threat.js";


/**
 * Leaves the adversarial inputs of the n samples in plan.input. x0 holds the clean inputs,
 * plan.labels the labels. With finalLoss (or restarts > 1) it also returns the per-sample
 * loss at the returned points (plan.losses); training skips that extra forward pass.
 */
export function pgd(model: Model, plan: Plan, n: number, x0: number, o: PgdOptions, keys: AttackKeys, ws: AttackWorkspace, finalLoss = false): Float32Array {
  const { k } = model.rt;
  const dim = model.inputSize;
  const xadv = plan.acts[0];
  const grad = plan.grads[0];
  const restarts = Math.max(1, o.restarts);
  for (let r = 0; r < restarts; r++) {
    if (o.randomStart && o.eps > 0) {
      randomStart(model, xadv, x0, n, o, { ...keys, stream: attackStream(keys.stream, r) });
    } else {
      plan.input.set(model.rt.f32(x0, n * dim));
    }
    for (let s = 0; s < o.steps; s++) {
      model.forward(plan, n);
      model.lossAndGrad(plan, n, 1);
      model.backward(plan, n, { inputGrad: true, weightGrads: false });
      projectedStep(model, plan, xadv, grad, x0, n, o, o.alpha, ws.work);
    }
    if (o.steps === 0) projectedStep(model, plan, xadv, grad, x0, n, o, 0, ws.work);
    if (restarts === 1) {
      if (finalLoss) {
        model.forward(plan, n);
        model.lossAndGrad(plan, n, 1);
      }
      break;
    }
    // Keep each sample's worst point over the restarts.
    model.forward(plan, n);
    model.lossAndGrad(plan, n, 1);
    const cur = model.rt.f32(xadv, n * dim);
    const best = model.rt.f32(ws.best, n * dim);
    for (let i = 0; i < n; i++) {
      if (r === 0 || plan.losses[i] > ws.bestLoss[i]) {
        ws.bestLoss[i] = plan.losses[i];
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
