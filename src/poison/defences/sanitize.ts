// Sanitising a training set: run one defence on a layer's activations, measure it against the
// poison manifest when there is one, and write the kept samples as a new IDX directory (same
// layout as the input, so `--data DIR` reads it) with a manifest of what was dropped.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { subset, type Dataset } from "../../data/dataset.js";
import type { Model } from "../../nn/model.js";
import { writePoisonedSet } from "../write.js";
import { layerActivations } from "./activations.js";
import { activationClustering } from "./activation-clustering.js";
import { rpcaFilter } from "./rpca-filter.js";
import { spectralSignatures } from "./spectral.js";
import type { DefenceResult } from "./split.js";

export const DEFENCES = ["spectral", "activation-clustering", "rpca"] as const;
export type DefenceName = (typeof DEFENCES)[number];

export interface DefenceOptions {
  /** Layer whose output is inspected (index into model.layers; required: detection depends on it). */
  layer: number;
  seed?: number;
  /** spectral: removal budget as a multiple of ε (1.5). */
  removalFactor?: number;
  /** spectral: poisoned share of a suspicious class (estimated when absent). */
  epsilon?: number;
  /** activation-clustering: principal components kept (10). */
  dims?: number;
  /** rpca: rank of the robust low-rank model (10). */
  rank?: number;
}

/** Runs a defence on precomputed activations (n × width). */
export function defendActivations(name: DefenceName, acts: Float32Array, width: number, labels: Uint8Array, classes: number, o: DefenceOptions): DefenceResult {
  switch (name) {
    case "spectral": return spectralSignatures(acts, width, labels, classes, o);
    case "activation-clustering": return activationClustering(acts, width, labels, classes, o);
    case "rpca": return rpcaFilter(acts, width, labels, classes, o);
    default: throw new Error(`unknown defence '${name as string}' (expected ${DEFENCES.join(", ")})`);
  }
}

/** Runs a defence on the training set as seen by layer `o.layer` of `model`. */
export function defend(name: DefenceName, model: Model, train: Dataset, o: DefenceOptions): DefenceResult {
  const { data, width } = layerActivations(model, train, o.layer);
  return defendActivations(name, data, width, train.y, train.classes, o);
}

export interface Detection {
  poisoned: number;
  clean: number;
  truePositives: number;
  falsePositives: number;
  /** Share of the poisons flagged. */
  tpr: number;
  /** Share of the clean samples flagged. */
  fpr: number;
}

export function detection(flagged: Uint8Array, poisoned: readonly number[]): Detection {
  const truth = new Uint8Array(flagged.length);
  for (const i of poisoned) truth[i] = 1;
  let tp = 0, fp = 0;
  for (let i = 0; i < flagged.length; i++) {
    if (flagged[i]) {
      if (truth[i]) tp++;
      else fp++;
    }
  }
  const pos = poisoned.length, neg = flagged.length - pos;
  return { poisoned: pos, clean: neg, truePositives: tp, falsePositives: fp, tpr: pos ? tp / pos : 0, fpr: neg ? fp / neg : 0 };
}

/**
 * The poisoned training indices named by DIR/manifest.json (written by `bulwark poison` or by
 * a previous sanitise), or null when the directory has none. A manifest that does not fit the
 * training set is an error, not a silently wrong TPR.
 */
export function readPoisonManifest(dir: string, trainSamples: number): { path: string; poisoned: number[]; manifest: Record<string, unknown> } | null {
  const path = join(dir, "manifest.json");
  if (!existsSync(path)) return null;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  // A cleaned set made from data whose poisons were unknown cannot be scored either.
  if (m?.poisonsKnown === false) return null;
  const p = m?.poisoned;
  if (!Array.isArray(p)) throw new Error(`${path}: no 'poisoned' array of training indices`);
  const total = typeof m.trainSamples === "number" ? m.trainSamples : trainSamples;
  if (total < trainSamples) throw new Error(`${path}: describes ${total} training samples, the data has ${trainSamples}`);
  const seen = new Set<number>();
  for (const i of p) {
    if (!Number.isInteger(i) || i < 0 || i >= total) throw new Error(`${path}: poisoned index ${JSON.stringify(i)} is outside 0..${total - 1}`);
    if (seen.has(i)) throw new Error(`${path}: poisoned index ${i} appears twice`);
    seen.add(i);
  }
  // With --limit the data is a prefix of what the manifest describes.
  return { path, poisoned: (p as number[]).filter((i) => i < trainSamples).sort((a, b) => a - b), manifest: m };
}

/**
 * Writes the kept samples (train minus flagged) and the unchanged test set to `dir`, with a
 * manifest: which original indices were dropped and, when the poisons are known, which
 * indices of the cleaned set are still poisoned (so a second sanitise or a retrain can be
 * scored the same way).
 */
export function writeSanitizedSet(dir: string, train: Dataset, test: Dataset, result: DefenceResult, info: {
  source: string; model: string; poisoned: number[] | null; detection: Detection | null;
}): { kept: number; dropped: number } {
  const keep: number[] = [];
  const dropped: number[] = [];
  const newIndex = new Int32Array(train.n).fill(-1);
  for (let i = 0; i < train.n; i++) {
    if (result.flagged[i]) dropped.push(i);
    else {
      newIndex[i] = keep.length;
      keep.push(i);
    }
  }
  const cleaned = subset(train, keep, `${train.name}+${result.defence}`);
  const remaining = info.poisoned === null ? null : info.poisoned.filter((i) => newIndex[i] >= 0).map((i) => newIndex[i]);
  writePoisonedSet(dir, cleaned, test, {
    format: "bulwark-sanitized", source: info.source, model: info.model, defence: result.defence, layer: result.layer,
    parameters: result.parameters, trainSamples: cleaned.n, originalTrainSamples: train.n,
    dropped, droppedLabels: dropped.map((i) => train.y[i]),
    // Indices into this directory's training set of the known poisons that survived.
    poisoned: remaining ?? [], poisonsKnown: remaining !== null,
    detection: info.detection,
  });
  return { kept: keep.length, dropped: dropped.length };
}
