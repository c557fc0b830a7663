// A shard's region of the shared memory: everything one shard of a batch needs, laid out
// by the same code on the main thread (which fills inputs and labels) and on whichever
// thread runs the shard (which re-derives the layout without touching the contents).
// The region's gradient buffer is the shard's slot; the main thread sums the slots in
// shard order, so the result does not depend on which thread ran which shard.
import { Arena } from "../core/arena.js";
import type { Runtime } from "../core/runtime.js";
import type { Architecture } from "../nn/architectures.js";
import { Model, type Plan } from "../nn/model.js";

/** Scratch an attack needs beside the plan: the best point so far and an L2 work row. */
export interface AttackWorkspace {
  /** capacity × inputSize floats. */
  best: number;
  /** capacity floats: the best loss so far per sample. */
  bestLoss: Float32Array;
  /** inputSize floats. */
  work: number;
}

export interface ShardRegion {
  start: number;
  end: number;
  capacity: number;
  /** A view of the shared parameters whose gradient buffer is this shard's slot. */
  model: Model;
  plan: Plan;
  /** Clean inputs (capacity × inputSize), as gathered by the main thread. */
  x0: Float32Array;
  x0Ptr: number;
  /** Global sample indices of the shard's rows (random draws are keyed by them). */
  samples: Int32Array;
  samplesPtr: number;
  ws: AttackWorkspace;
}

export function layoutShard(rt: Runtime, arch: Architecture, params: number, start: number, capacity: number, fresh: boolean): ShardRegion {
  const arena = new Arena(rt, start, { zero: fresh });
  const model = new Model(arch, arena, { params });
  const plan = model.plan(capacity);
  const x0 = arena.f32(capacity * model.inputSize);
  const samples = arena.i32(capacity);
  const best = arena.f32(capacity * model.inputSize);
  const bestLoss = arena.f32(capacity);
  const work = arena.f32(model.inputSize);
  return {
    start, end: arena.used, capacity, model, plan,
    x0: x0.f32, x0Ptr: x0.ptr, samples: samples.i32, samplesPtr: samples.ptr,
    ws: { best: best.ptr, bestLoss: bestLoss.f32, work: work.ptr },
  };
}

/** The same region as seen from a worker thread, cached per thread. */
export function shardView(rt: Runtime, cache: Map<string, unknown>, arch: Architecture, params: number, start: number, capacity: number): ShardRegion {
  const key = `shard:${start}:${capacity}:${params}:${JSON.stringify(arch.layers)}`;
  let r = cache.get(key) as ShardRegion | undefined;
  if (!r) {
    r = layoutShard(rt, arch, params, start, capacity, false);
    cache.set(key, r);
  }
  return r;
}

/** What every shard task is told: which region, over which weights, how many samples. */
export interface ShardPayload {
  arch: Architecture;
  params: number;
  region: number;
  capacity: number;
  /** Samples in this shard. */
  n: number;
}
