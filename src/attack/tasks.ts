// The attack work a worker can do, as named tasks (collected by src/worker/entry.ts).
import type { TaskEnv } from "../pool/task.js";
import { shardView, type ShardPayload } from "../pool/shard.js";
import { runAttack, type AttackSpec, type SampleOutcome } from "./registry.js";

export interface AttackRunPayload extends ShardPayload {
  spec: AttackSpec;
  seed: number;
  stream: number;
  /** Also send back the adversarial inputs (transfer attacks evaluate them elsewhere). */
  returnInputs?: boolean;
}

export interface AttackRunResult {
  cleanPred: number[];
  outcomes: SampleOutcome[];
  inputs?: Float32Array;
}

/** Any registered attack on one shard: clean predictions and one outcome per sample. */
function attackRun(p: AttackRunPayload, env: TaskEnv): AttackRunResult {
  const r = shardView(env.rt, env.cache, p.arch, p.params, p.region, p.capacity);
  const { model, plan } = r;
  plan.input.set(r.x0.subarray(0, p.n * model.inputSize));
  model.forward(plan, p.n);
  const cleanPred = Array.from(model.predict(plan, p.n).subarray(0, p.n));
  plan.input.set(r.x0.subarray(0, p.n * model.inputSize));
  const outcomes = runAttack(model, plan, p.n, r.x0Ptr, p.spec, { seed: p.seed, stream: p.stream, samples: r.samplesPtr }, r.ws);
  return { cleanPred, outcomes, ...(p.returnInputs ? { inputs: plan.input.slice(0, p.n * model.inputSize) } : {}) };
}

export const ATTACK_TASKS = {
  "attack.run": attackRun,
};
