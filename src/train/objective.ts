// Training objectives: what a step minimises on a batch. Each computes the loss, leaves
// dL/dθ in model.grads, and reports how many samples it classified right. Adversarial and
// certified objectives (later issues) plug in here with the same shape.
import type { Model, Plan } from "../nn/model.js";

export interface StepResult {
  /** Mean loss over the batch. */
  loss: number;
  /** Samples whose clean prediction was right. */
  correct: number;
}

export interface Objective {
  readonly name: string;
  /** plan.input and plan.labels hold the batch; writes gradients into model.grads. */
  step(model: Model, plan: Plan, batch: number): StepResult;
}

export function countCorrect(model: Model, plan: Plan, batch: number): number {
  const pred = model.predict(plan, batch);
  let c = 0;
  for (let i = 0; i < batch; i++) if (pred[i] === plan.labels[i]) c++;
  return c;
}

/** Plain empirical risk: mean cross-entropy on clean inputs. */
export const standard: Objective = {
  name: "standard",
  step(model, plan, batch) {
    model.forward(plan, batch);
    const loss = model.lossAndGrad(plan, batch);
    const correct = countCorrect(model, plan, batch);
    model.backward(plan, batch);
    return { loss, correct };
  },
};

export const OBJECTIVES: Record<string, Objective> = { standard };

export function objective(name: string): Objective {
  const o = OBJECTIVES[name];
  if (!o) throw new Error(`unknown objective '${name}' (available: ${Object.keys(OBJECTIVES).join(", ")})`);
  return o;
}
