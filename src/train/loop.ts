// The training loop: seeded epoch order, mini-batches, an objective, an optimiser and a
// learning-rate schedule. It yields to the event loop between batches so that progress
// output and Ctrl-C are handled while it runs.
import { batchIndices, epochOrder } from "../data/batches.js";
import type { Dataset } from "../data/dataset.js";
import { inlineEngine, ShardedEngine } from "./engine.js";
import { STANDARD, type ObjectiveConfig } from "./objective.js";
import type { Model } from "../nn/model.js";
import type { Optimizer } from "./optimizer.js";
import { learningRate, type ScheduleConfig } from "./schedule.js";

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  seed: number;
  lr: number;
  schedule: ScheduleConfig;
  /** Default: standard training. */
  objective?: ObjectiveConfig;
  /** ε ramps linearly from 0 to objective.eps over this fraction of training (default 0: none). */
  epsWarmup?: number;
}

/** ε in force at `epoch` (fractional): the linear warm-up, then the full value. */
export function epsAt(c: Pick<TrainConfig, "objective" | "epsWarmup" | "epochs">, epoch: number): number {
  const eps = (c.objective ?? STANDARD).eps;
  const ramp = (c.epsWarmup ?? 0) * c.epochs;
  return ramp > 0 ? eps * Math.min(1, epoch / ramp) : eps;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  lr: number;
  eps: number;
}

export interface EpochInfo {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
  samples: number;
}

export interface TrainHooks {
  onBatch?(b: BatchInfo): void;
  /** After each epoch (checkpointing happens here). */
  onEpoch?(e: EpochInfo): void | Promise<void>;
  /** Checked between batches; true stops after the current step. */
  stopRequested?(): boolean;
}

export interface TrainResult {
  epochs: EpochInfo[];
  trainSeconds: number;
  samples: number;
  samplesPerSecond: number;
  /** False when stopped early. */
  completed: boolean;
  /** Epochs fully completed (including those before a resume). */
  epochsDone: number;
}

export function validateTrainConfig(c: TrainConfig): void {
  if (!Number.isInteger(c.epochs) || c.epochs < 0) throw new Error(`epochs must be a non-negative integer, got ${c.epochs}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${c.batchSize}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new Error(`seed must be a non-negative integer, got ${c.seed}`);
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw new Error(`learning rate must be a positive number, got ${c.lr}`);
  const warm = c.epsWarmup ?? 0;
  if (!(warm >= 0 && warm <= 1)) throw new Error(`ε warm-up must be a fraction in [0, 1], got ${warm}`);
  const eps = (c.objective ?? STANDARD).eps;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`ε must be a non-negative number, got ${eps}`);
}

/**
 * Trains on `data`. Given a Model it runs in-process (one shard per batch); given a
 * ShardedEngine, on that engine's executor (the worker pool) with its shard size.
 */
export async function train(
  target: Model | ShardedEngine, data: Dataset, optimizer: Optimizer,
  config: TrainConfig, hooks: TrainHooks = {}, startEpoch = 0,
): Promise<TrainResult> {
  validateTrainConfig(config);
  if (data.n < 1) throw new Error("training set is empty");
  const engine = target instanceof ShardedEngine ? target : inlineEngine(target, config.batchSize);
  const objective = config.objective ?? STANDARD;
  const epochs: EpochInfo[] = [];
  let samples = 0;
  let seconds = 0;
  let epochsDone = startEpoch;
  for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
    const order = epochOrder(data.n, config.seed, epoch);
    const batches = batchIndices(order, config.batchSize, false);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    const t0 = performance.now();
    for (let bi = 0; bi < batches.length; bi++) {
      const idx = batches[bi];
      const b = idx.length;
      const t = epoch + bi / batches.length;
      const lr = learningRate(config.schedule, config.lr, t, config.epochs);
      const eps = epsAt(config, t);
      const r = await engine.trainStep(data, idx, { objective, seed: config.seed, epoch, eps });
      optimizer.step(lr);
      lossSum += r.lossSum;
      correct += r.correct;
      seen += b;
      hooks.onBatch?.({ epoch, batch: bi, batches: batches.length, loss: r.lossSum / b, lr, eps });
      if (hooks.stopRequested?.()) break;
      await yieldToEventLoop();
      if (hooks.stopRequested?.()) break;
    }
    const dt = (performance.now() - t0) / 1000;
    seconds += dt;
    samples += seen;
    if (seen < data.n) break; // stopped mid-epoch: the epoch does not count
    const info = { epoch, loss: lossSum / seen, trainAccuracy: correct / seen, seconds: dt, samples: seen };
    epochs.push(info);
    epochsDone = epoch + 1;
    await hooks.onEpoch?.(info);
    if (hooks.stopRequested?.()) break;
  }
  return {
    epochs, trainSeconds: seconds, samples,
    samplesPerSecond: seconds > 0 ? samples / seconds : 0,
    completed: epochsDone >= config.epochs, epochsDone,
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
