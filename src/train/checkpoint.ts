// Checkpoints: the model file plus optimiser state and the training position, written
// atomically after each epoch so that an interrupted run can resume exactly.
import { loadModel, saveModel } from "../io/bwk.js";
import type { Model } from "../nn/model.js";
import type { Optimizer } from "./optimizer.js";

export interface CheckpointInfo {
  /** Epochs completed. */
  epoch: number;
  /** The options the run was started with (a resume must match them). */
  config: Record<string, unknown>;
}

export function saveCheckpoint(path: string, model: Model, optimizer: Optimizer, info: CheckpointInfo): void {
  saveModel(path, {
    architecture: model.arch,
    params: model.params.f32,
    tensors: optimizer.state(),
    meta: { checkpoint: info },
  });
}

/** Loads a checkpoint into model and optimizer; returns where training stopped. */
export function loadCheckpoint(path: string, model: Model, optimizer: Optimizer): CheckpointInfo {
  const file = loadModel(path);
  const info = file.meta?.checkpoint as CheckpointInfo | undefined;
  if (!info || !Number.isInteger(info.epoch)) throw new Error(`${path}: not a training checkpoint (no optimiser state)`);
  if (JSON.stringify(file.architecture.layers) !== JSON.stringify(model.arch.layers)) {
    throw new Error(`${path}: checkpoint architecture '${file.architecture.name}' differs from the model being trained`);
  }
  model.setParams(file.params);
  optimizer.loadState(file.tensors ?? {});
  return info;
}
