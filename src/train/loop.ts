// The training loop: seeded epoch order, mini-batches, an objective, an optimiser and a
// learning-rate schedule. It yields to the event loop between batches so that progress
// output and Ctrl-C are handled while it runs.
import { batchIndices, epochOrder, gather } from "../data/batches.js";
import type { Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import type { Objective } from "./objective.js";
import type { Optimizer } from "./optimizer.js";
import { learningRate, type ScheduleConfig } from "./schedule.js";

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  seed: number;
  lr: number;
  schedule: ScheduleConfig;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  lr: number;
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
  /** Checked between batches; true stops after the current epoch's last complete step. */
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
}

export async function train(
  model: Model, data: Dataset, objective: Objective, optimizer: Optimizer,
  config: TrainConfig, hooks: TrainHooks = {}, startEpoch = 0,
): Promise<TrainResult> {
  validateTrainConfig(config);
  if (data.n < 1) throw new Error("training set is empty");
  const plan = model.plan(config.batchSize);
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
      gather(data, idx, plan.input, plan.labels);
      const lr = learningRate(config.schedule, config.lr, epoch + bi / batches.length, config.epochs);
      const r = objective.step(model, plan, b);
      optimizer.step(lr);
      lossSum += r.loss * b;
      correct += r.correct;
      seen += b;
      hooks.onBatch?.({ epoch, batch: bi, batches: batches.length, loss: r.loss, lr });
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
