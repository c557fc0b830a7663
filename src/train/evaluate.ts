// Clean accuracy and loss of a model on a dataset, in batches.
import type { Dataset } from "../data/dataset.js";
import { gather } from "../data/batches.js";
import type { Model, Plan } from "../nn/model.js";
import { countCorrect } from "./objective.js";
import type { ShardedEngine } from "./engine.js";
import { attackStream, type PgdOptions } from "../attack/threat.js";

export interface EvalResult {
  accuracy: number;
  loss: number;
  correct: number;
  n: number;
}

/** Runs the model forward over ds in order, batch by batch; `visit` reads the plan. */
function forwardBatches(model: Model, ds: Dataset, batchSize: number, visit: (plan: Plan, b: number, start: number) => void): void {
  const plan = model.plan(batchSize);
  const idx = new Uint32Array(batchSize);
  for (let start = 0; start < ds.n; start += batchSize) {
    const b = Math.min(batchSize, ds.n - start);
    for (let i = 0; i < b; i++) idx[i] = start + i;
    gather(ds, idx.subarray(0, b), plan.input, plan.labels);
    model.forward(plan, b);
    visit(plan, b, start);
  }
}

export function evaluate(model: Model, ds: Dataset, batchSize = 500): EvalResult {
  let correct = 0;
  let lossSum = 0;
  forwardBatches(model, ds, batchSize, (plan, b) => {
    lossSum += model.lossAndGrad(plan, b) * b;
    correct += countCorrect(model, plan, b);
  });
  return { accuracy: ds.n ? correct / ds.n : 0, loss: ds.n ? lossSum / ds.n : 0, correct, n: ds.n };
}

/** The arg-max class of every sample of ds, in order. */
export function predictAll(model: Model, ds: Dataset, batchSize = 500): Int32Array {
  const out = new Int32Array(ds.n);
  forwardBatches(model, ds, batchSize, (plan, b, start) => out.set(model.predict(plan, b).subarray(0, b), start));
  return out;
}

export interface RobustResult {
  cleanAccuracy: number;
  robustAccuracy: number;
  n: number;
  method: { attack: "pgd"; norm: string; eps: number; alpha: number; steps: number; restarts: number; randomStart: boolean; samples: number; seed: number };
}

/** Robust accuracy of the engine's model on the first `limit` samples of ds under PGD. */
export async function robustEvaluate(engine: ShardedEngine, ds: Dataset, attack: PgdOptions, opts: { limit: number; seed: number }): Promise<RobustResult> {
  const n = Math.min(opts.limit, ds.n);
  const idx = Uint32Array.from({ length: n }, (_, i) => i);
  const r = await engine.attack(ds, idx, attack, opts.seed, attackStream(0xe7a1, 0));
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
  return {
    cleanAccuracy: n ? sum(r.clean) / n : 0,
    robustAccuracy: n ? sum(r.robust) / n : 0,
    n,
    method: { attack: "pgd", norm: attack.norm, eps: attack.eps, alpha: attack.alpha, steps: attack.steps, restarts: attack.restarts, randomStart: attack.randomStart, samples: n, seed: opts.seed },
  };
}
