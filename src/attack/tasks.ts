// The attack work a worker can do, as named tasks (collected by src/worker/entry.ts).
import type { TaskEnv } from "../pool/task.js";
import { shardView, type ShardPayload } from "../pool/shard.js";
import { pgd } from "./pgd.js";
import type { PgdOptions } from "./threat.js";
import { runAttack, type AttackSpec, type SampleOutcome } from "./registry.js";

export interface AttackShardPayload extends ShardPayload {
  attack: PgdOptions;
  seed: number;
  stream: number;
}

export interface AttackShardResult {
  /** 1 where the clean prediction is right, per sample. */
  clean: number[];
  /** 1 where the prediction at the attack's point is still right, per sample. */
  robust: number[];
}

function attackShard(p: AttackShardPayload, env: TaskEnv): AttackShardResult {
  const r = shardView(env.rt, env.cache, p.arch, p.params, p.region, p.capacity);
  const { model, plan } = r;
  plan.input.set(r.x0.subarray(0, p.n * model.inputSize));
  model.forward(plan, p.n);
  const pred = model.predict(plan, p.n);
  const clean = Array.from({ length: p.n }, (_, i) => (pred[i] === plan.labels[i] ? 1 : 0));
  pgd(model, plan, p.n, r.x0Ptr, p.attack, { seed: p.seed, stream: p.stream, samples: r.samplesPtr }, r.ws);
  model.forward(plan, p.n);
  const adv = model.predict(plan, p.n);
  const robust = Array.from({ length: p.n }, (_, i) => (clean[i] && adv[i] === plan.labels[i] ? 1 : 0));
  return { clean, robust };
}

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
  "attack.shard": attackShard,
  "attack.run": attackRun,
};
