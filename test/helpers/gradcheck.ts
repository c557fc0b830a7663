// Finite-difference checks of a model's gradients (weights and input).
import { Stream } from "../../src/core/random.js";
import type { Model } from "../../src/nn/model.js";

/** Fills the plan with a seeded random batch and labels. */
export function randomBatch(model: Model, batch: number, seed: number): void {
  const plan = model.plan(batch);
  const s = new Stream(seed, 99);
  for (let i = 0; i < batch * model.inputSize; i++) plan.input[i] = s.next();
  for (let i = 0; i < batch; i++) plan.labels[i] = s.int(model.outputSize);
}

export function loss(model: Model, batch: number): number {
  const plan = model.plan(batch);
  model.forward(plan, batch);
  return model.lossAndGrad(plan, batch);
}

/**
 * Largest |analytic − numeric| / max(1e-3, |numeric|) over `count` sampled coordinates of
 * the parameters (and of the input when input = true), central differences with step h.
 */
export function gradError(model: Model, batch: number, opts: { count?: number; h?: number; input?: boolean; seed?: number } = {}): number {
  const { count = 60, h = 1e-2, input = false, seed = 1 } = opts;
  const plan = model.plan(batch);
  model.forward(plan, batch);
  model.lossAndGrad(plan, batch);
  model.backward(plan, batch, { inputGrad: input });
  const target = input ? plan.input : model.params.f32;
  const analytic = input ? model.rt.f32(plan.grads[0], batch * model.inputSize).slice() : model.grads.f32.slice();
  const s = new Stream(seed, 7);
  let worst = 0;
  for (let c = 0; c < count; c++) {
    const i = s.int(input ? batch * model.inputSize : model.paramCount);
    const v = target[i];
    target[i] = v + h;
    const lp = loss(model, batch);
    target[i] = v - h;
    const lm = loss(model, batch);
    target[i] = v;
    const numeric = (lp - lm) / (2 * h);
    worst = Math.max(worst, Math.abs(analytic[i] - numeric) / Math.max(1e-3, Math.abs(numeric)));
  }
  return worst;
}
