// Runs a batch as fixed-size shards on an executor (inline, or the worker pool) and merges
// the shards' gradients on the calling thread in shard order. The shard size comes from the
// configuration, never from the number of workers, and every random draw is keyed by
// (seed, epoch, global sample index): 0, 1 or 8 workers give bit-identical weights.
import { gather } from "../data/batches.js";
import type { Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { InlineExecutor, type Executor } from "../pool/executor.js";
import { layoutShard, type ShardPayload, type ShardRegion } from "../pool/shard.js";
import { ATTACK_TASKS, type AttackRunResult } from "../attack/tasks.js";
import type { AttackSpec } from "../attack/registry.js";
import type { PgdOptions } from "../attack/threat.js";
import type { ObjectiveConfig, StepResult } from "./objective.js";
import { TRAIN_TASKS, type TrainShardPayload } from "./tasks.js";

export class ShardedEngine {
  readonly regions: ShardRegion[] = [];

  constructor(readonly model: Model, readonly executor: Executor, readonly shardSize: number, maxBatch: number) {
    if (!Number.isInteger(shardSize) || shardSize < 1) throw new Error(`shard size must be a positive integer, got ${shardSize}`);
    const arena = model.arena; // regions follow the model in its own arena
    const count = Math.ceil(maxBatch / shardSize);
    for (let s = 0; s < count; s++) {
      const start = arena.mark();
      const r = layoutShard(model.rt, model.arch, model.params.ptr, start, shardSize, true);
      arena.bytes(r.end - start); // reserve the region in the main arena
      this.regions.push(r);
    }
  }

  /** Fills shard regions with the rows `idx` of data; returns the payload base of each. */
  private load(data: Dataset, idx: Uint32Array): ShardPayload[] {
    const payloads: ShardPayload[] = [];
    for (let s = 0, off = 0; off < idx.length; s++, off += this.shardSize) {
      if (!this.regions[s]) throw new Error(`batch of ${idx.length} exceeds the engine's ${this.regions.length} shards of ${this.shardSize}`);
      payloads.push(this.fill(s, data, idx.subarray(off, Math.min(off + this.shardSize, idx.length))));
    }
    return payloads;
  }

  /** Fills region s with the rows `rows` of data; returns its payload base. */
  private fill(s: number, data: Dataset, rows: Uint32Array): ShardPayload {
    const r = this.regions[s];
    gather(data, rows, r.x0, r.plan.labels);
    r.samples.set(rows);
    return { arch: this.model.arch, params: this.model.params.ptr, region: r.start, capacity: this.shardSize, n: rows.length };
  }

  /** One step's gradient (batch mean) into model.grads; returns the summed loss and hits. */
  async trainStep(data: Dataset, idx: Uint32Array, o: { objective: ObjectiveConfig; seed: number; epoch: number; eps: number }): Promise<StepResult> {
    const base = this.load(data, idx);
    const payloads: TrainShardPayload[] = base.map((p) => ({ ...p, ...o, scale: 1 / idx.length }));
    const results = await this.executor.run<StepResult>("train.shard", payloads);
    // Sum the slots in shard order (deterministic whatever ran them).
    const { k } = this.model.rt;
    const g = this.model.grads;
    g.f32.set(this.regions[0].model.grads.f32);
    for (let s = 1; s < payloads.length; s++) k.axpy(g.length, 1, this.regions[s].model.grads.ptr, g.ptr);
    let lossSum = 0;
    let correct = 0;
    for (const r of results) {
      lossSum += r.lossSum;
      correct += r.correct;
    }
    return { lossSum, correct };
  }

  /**
   * Runs a shard task over the rows `indices` of data; returns the shards' results in index
   * order. On a pool each region takes the next shard as soon as its own comes back, so no
   * shard waits for the slowest of a wave; results land by shard index, never by which region
   * or worker ran them. Inline, the shards run one after another.
   */
  async map<R>(task: string, data: Dataset, indices: Uint32Array, extra: object): Promise<R[]> {
    const shards = Math.ceil(indices.length / this.shardSize);
    const out = new Array<R>(shards);
    let next = 0;
    const lane = async (s: number): Promise<void> => {
      for (let k = next++; k < shards; k = next++) {
        const rows = indices.subarray(k * this.shardSize, Math.min((k + 1) * this.shardSize, indices.length));
        out[k] = (await this.executor.run<R>(task, [{ ...this.fill(s, data, rows), ...extra }]))[0];
      }
    };
    const lanes = this.executor.workers > 0 ? Math.min(this.regions.length, shards) : 1;
    await Promise.all(Array.from({ length: lanes }, (_, s) => lane(s)));
    return out;
  }

  /**
   * Clean and robust correctness (1/0) of each sample under untargeted CE PGD (`attack`), in
   * index order: robust means right on the clean input and at the attack's point.
   */
  async attack(data: Dataset, indices: Uint32Array, attack: PgdOptions, seed: number, stream: number): Promise<{ clean: number[]; robust: number[] }> {
    const spec: AttackSpec = { ...attack, name: "pgd", loss: "ce", target: null, queries: 1 };
    const clean: number[] = [];
    const robust: number[] = [];
    let k = 0;
    for (const r of await this.map<AttackRunResult>("attack.run", data, indices, { spec, seed, stream })) {
      r.outcomes.forEach((o, i) => {
        const right = r.cleanPred[i] === data.y[indices[k++]] ? 1 : 0;
        clean.push(right);
        robust.push(right && !o.success ? 1 : 0);
      });
    }
    return { clean, robust };
  }
}

/** An in-process engine (no workers): serverless use, tests, and `train(model, ...)`. */
export function inlineEngine(model: Model, batchSize: number, shardSize = batchSize): ShardedEngine {
  return new ShardedEngine(model, new InlineExecutor(model.rt, { ...TRAIN_TASKS, ...ATTACK_TASKS }), shardSize, batchSize);
}
