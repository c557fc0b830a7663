// Clean accuracy and loss of a model on a dataset, in batches.
import type { Dataset } from "../data/dataset.js";
import { gather } from "../data/batches.js";
import type { Model } from "../nn/model.js";
import { countCorrect } from "./objective.js";

export interface EvalResult {
  accuracy: number;
  loss: number;
  correct: number;
  n: number;
}

export function evaluate(model: Model, ds: Dataset, batchSize = 500): EvalResult {
  const plan = model.plan(batchSize);
  let correct = 0;
  let lossSum = 0;
  const idx = new Uint32Array(batchSize);
  for (let start = 0; start < ds.n; start += batchSize) {
    const b = Math.min(batchSize, ds.n - start);
    for (let i = 0; i < b; i++) idx[i] = start + i;
    gather(ds, idx.subarray(0, b), plan.input, plan.labels);
    model.forward(plan, b);
    lossSum += model.lossAndGrad(plan, b) * b;
    correct += countCorrect(model, plan, b);
  }
  return { accuracy: ds.n ? correct / ds.n : 0, loss: ds.n ? lossSum / ds.n : 0, correct, n: ds.n };
}
