// `bulwark sanitize`: score every training sample with a poisoning defence on one layer of a
// trained model, drop the suspected poisons, write the cleaned set (IDX + manifest.json of
// what was dropped) and, when the data directory has a poison manifest, report TPR/FPR.
import type { Command } from "commander";
import { existsSync, readdirSync, statSync } from "node:fs";
import type { DataSplit } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { describeLayers } from "../poison/defences/activations.js";
import { defend, DEFENCES, detection, readPoisonManifest, writeSanitizedSet, type DefenceName, type DefenceOptions, type Detection } from "../poison/defences/sanitize.js";
import type { ClassReport } from "../poison/defences/split.js";
import { loadModelAndData } from "./inputs.js";
import { int, num, oneOf } from "./options.js";
import { emit, type GlobalOptions } from "./run.js";

export interface SanitizeOptions extends GlobalOptions {
  model: string;
  data: string;
  defence: DefenceName;
  layer: number;
  out?: string;
  seed: number;
  limit?: number;
  rank?: number;
  dims?: number;
  epsilon?: number;
  removalFactor?: number;
}

export interface SanitizeSummary {
  [key: string]: unknown;
  defence: DefenceName;
  layer: number;
  trainSamples: number;
  flagged: number;
  kept: number;
  detection: Detection | null;
  classes: ClassReport[];
  out: string | null;
}

export function checkEmptyDir(out: string, flag = "--out"): void {
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new Error(`${flag} ${out} exists and is not an empty directory`);
  }
}

export function defenceOptions(o: Pick<SanitizeOptions, "layer" | "seed" | "rank" | "dims" | "epsilon" | "removalFactor">): DefenceOptions {
  return { layer: o.layer, seed: o.seed, rank: o.rank, dims: o.dims, epsilon: o.epsilon, removalFactor: o.removalFactor };
}

/** Sanitises data.train with an already loaded model; writes `out` when given. */
export function sanitizeLoaded(model: Model, data: DataSplit, o: SanitizeOptions, poisoned: number[] | null): SanitizeSummary {
  if (o.layer >= model.layers.length) throw new Error(`--layer ${o.layer} is not a layer of ${o.model} (${describeLayers(model)})`);
  const t0 = performance.now();
  const result = defend(o.defence, model, data.train, defenceOptions(o));
  const seconds = (performance.now() - t0) / 1000;
  const det = poisoned ? detection(result.flagged, poisoned) : null;
  let flagged = 0;
  for (const f of result.flagged) flagged += f;
  if (o.out) writeSanitizedSet(o.out, data.train, data.test, result, { source: o.data, model: o.model, poisoned, detection: det });
  return {
    command: "sanitize", defence: o.defence, layer: o.layer, layerType: model.layers[o.layer].spec.type,
    parameters: result.parameters, trainSamples: data.train.n, flagged, kept: data.train.n - flagged,
    detection: det, classes: result.classes, seconds, out: o.out ?? null,
  };
}

export function runSanitize(o: SanitizeOptions): SanitizeSummary {
  if (o.out) checkEmptyDir(o.out);
  const { model, data } = loadModelAndData(o.model, o.data, { limit: o.limit });
  const manifest = existsSync(o.data) && statSync(o.data).isDirectory() ? readPoisonManifest(o.data, data.train.n) : null;
  return sanitizeLoaded(model, data, o, manifest?.poisoned ?? null);
}

export function registerSanitize(program: Command): void {
  program.command("sanitize")
    .description("find suspected poisons with a defence on one layer's activations, drop them, write the cleaned training set")
    .requiredOption("--model <file.bwk>", "the model trained on the (possibly poisoned) data")
    .requiredOption("--data <spec>", "the training data: a directory of IDX files (with manifest.json from `bulwark poison` for TPR/FPR), mnist or fashion-mnist")
    .requiredOption("--defence <name>", `${DEFENCES.join(", ")}`, oneOf("--defence", DEFENCES))
    .requiredOption("--layer <n>", "index of the layer whose output is inspected (detection depends on it; the last hidden layer is usually best: 6 for cnn-small, 4 for mlp)", int("--layer", 0))
    .option("--out <dir>", "write the cleaned training set (IDX + manifest.json) here; must be new or empty")
    .option("--seed <n>", "seed for the randomized SVD and k-means", int("--seed", 0), 0)
    .option("--limit <n>", "use only the first n training samples", int("--limit", 1))
    .option("--rank <r>", "rpca: rank of the robust low-rank model", int("--rank", 0))
    .option("--dims <k>", "activation-clustering: principal components kept before 2-means", int("--dims", 1))
    .option("--epsilon <f>", "spectral: poisoned share of a suspicious class (default: estimated per class)", num("--epsilon", { positive: true }))
    .option("--removal-factor <x>", "spectral: remove this many × ε·n of a suspicious class", num("--removal-factor", { positive: true }))
    .action(async (opts: SanitizeOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as SanitizeOptions;
      const s = runSanitize(o);
      emit(o, s, () => [
        `${s.defence} on layer ${s.layer}: flagged ${s.flagged} of ${s.trainSamples} training samples (${s.classes.filter((c) => c.suspicious).map((c) => `class ${c.class}: ${c.flagged}`).join(", ") || "no suspicious class"})`,
        ...(s.detection ? [`against the manifest: TPR ${(100 * s.detection.tpr).toFixed(2)} % (${s.detection.truePositives}/${s.detection.poisoned}), FPR ${(100 * s.detection.fpr).toFixed(2)} % (${s.detection.falsePositives}/${s.detection.clean})`] : []),
        ...(s.out ? [`wrote ${s.out}: ${s.kept} training samples, manifest.json lists the ${s.flagged} dropped`] : []),
      ]);
    });
}
