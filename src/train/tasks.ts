// The training work a worker can do, as named tasks (collected by src/worker/entry.ts).
import type { TaskEnv } from "../pool/task.js";
import { runObjective, type ObjectiveConfig, type StepResult } from "./objective.js";
import { shardView, type ShardPayload } from "../pool/shard.js";

export interface TrainShardPayload extends ShardPayload {
  objective: ObjectiveConfig;
  scale: number;
  seed: number;
  epoch: number;
  eps: number;
}

function trainShard(p: TrainShardPayload, env: TaskEnv): StepResult {
  const r = shardView(env.rt, env.cache, p.arch, p.params, p.region, p.capacity);
  r.plan.input.set(r.x0.subarray(0, p.n * r.model.inputSize));
  return runObjective(r.model, r.plan, p.n, p.objective, {
    scale: p.scale, seed: p.seed, epoch: p.epoch, eps: p.eps, x0: r.x0Ptr, samples: r.samplesPtr, ws: r.ws,
  });
}

export const TRAIN_TASKS = {
  "train.shard": trainShard,
};
