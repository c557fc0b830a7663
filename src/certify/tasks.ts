// The certification work a worker can do, as named tasks (collected by src/worker/entry.ts).
import type { TaskEnv } from "../pool/task.js";
import { shardView, type ShardPayload } from "../pool/shard.js";
import { certifyShard, type CertifyOptions, type ShardVerdicts } from "./verdict.js";

export interface CertifyRunPayload extends ShardPayload {
  options: CertifyOptions;
}

/** Verdicts of one shard's samples. */
function certifyRun(p: CertifyRunPayload, env: TaskEnv): Promise<ShardVerdicts> {
  const r = shardView(env.rt, env.cache, p.arch, p.params, p.region, p.capacity);
  return certifyShard(r, p.n, p.options);
}

export const CERTIFY_TASKS = {
  "certify.run": certifyRun,
};
