// `bulwark poison`: write a poisoned copy of a training set (IDX files the other commands read
// with --data DIR) and a manifest of which samples were poisoned.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { existsSync, readdirSync, statSync } from "node:fs";
import { loadData } from "../data/index.js";
import { backdoor, DEFAULT_TRIGGER, labelFlip } from "../poison/attacks.js";
import { FEATURE_COLLISION_DEFAULTS, featureCollisionPoison, featureDistances } from "../poison/feature-collision.js";
import { writePoisonedSet } from "../poison/write.js";
import { loadModelAndData } from "./inputs.js";
import { int, num, oneOf } from "./options.js";
import { emit, type GlobalOptions } from "./run.js";

interface PoisonOptions extends GlobalOptions {
  data: string;
  attack: "label-flip" | "backdoor" | "feature-collision";
  fraction: number;
  target?: number;
  seed: number;
  limit?: number;
  out: string;
  model?: string;
  targetIndex?: number[];
  baseClass?: number;
  layer?: number;
  beta0: number;
  steps: number;
  lr: number;
}

/** --target-index 3 or 3,17,42 (repeatable): test indices. */
function indexList(v: string, prev: number[] = []): number[] {
  const parts = v.split(",").map((p) => p.trim());
  for (const p of parts) if (!/^\d+$/.test(p)) throw new InvalidArgumentError(`--target-index must be test indices like 3 or 3,17,42, got '${v}'`);
  return [...prev, ...parts.map(Number)];
}

export function registerPoison(program: Command): void {
  program.command("poison")
    .description("write a poisoned copy of a training set (IDX) and a manifest of the poisoned samples")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--attack <name>", "label-flip (random, or toward --target), backdoor (a trigger patch, relabelled to --target) or feature-collision (clean-label poison frogs: needs --model, --target-index, --base-class)", oneOf("--attack", ["label-flip", "backdoor", "feature-collision"]), "backdoor")
    .option("--fraction <f>", "share of the training set to poison", num("--fraction", { positive: true }), 0.05)
    .option("--target <class>", "target class (required for backdoor)", int("--target", 0))
    .option("--seed <n>", "which samples are poisoned (feature-collision: which base images)", int("--seed", 0), 0)
    .option("--limit <n>", "use only the first n training samples", int("--limit", 1))
    .option("--model <path>", "feature-collision: the model whose frozen features the poisons collide in (.bwk)")
    .option("--target-index <i>", "feature-collision: test image(s) to attack, one poison each (3 or 3,17,42; repeatable)", indexList)
    .option("--base-class <c>", "feature-collision: class of the base images (the poisons keep this, their true label)", int("--base-class", 0))
    .option("--layer <n>", "feature-collision: collide the output of the first n layers (default: all but the last, the penultimate features)", int("--layer", 1))
    .option("--beta0 <b>", "feature-collision: pixel-closeness weight β0, scaled as β = β0·(features/inputs)²", num("--beta0", { min: 0 }), FEATURE_COLLISION_DEFAULTS.beta0)
    .option("--steps <n>", "feature-collision: forward-backward iterations", int("--steps", 0), FEATURE_COLLISION_DEFAULTS.steps)
    .option("--lr <λ>", "feature-collision: initial step size (×1.5 after a step that lowers the objective, ½ after one that does not)", num("--lr", { positive: true }), FEATURE_COLLISION_DEFAULTS.lr)
    .requiredOption("--out <dir>", "directory to write (must be new or empty)")
    .action(async (opts: PoisonOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as PoisonOptions;
      if (o.fraction > 1) throw new Error(`--fraction must be at most 1, got ${o.fraction}`);
      if (o.attack === "backdoor" && o.target === undefined) throw new Error("--attack backdoor needs --target");
      if (o.attack === "feature-collision") {
        if (o.model === undefined) throw new Error("--attack feature-collision needs --model (the feature extractor)");
        if (o.targetIndex === undefined) throw new Error("--attack feature-collision needs --target-index");
        if (o.baseClass === undefined) throw new Error("--attack feature-collision needs --base-class");
        if (o.target !== undefined) throw new Error("--target is a class for label-flip and backdoor; feature-collision attacks test images given by --target-index");
      }
      if (existsSync(o.out) && (!statSync(o.out).isDirectory() || readdirSync(o.out).length > 0)) {
        throw new Error(`--out ${o.out} exists and is not an empty directory`);
      }
      if (o.attack === "feature-collision") return featureCollisionCommand(o);
      const data = loadData(o.data, { limit: o.limit });
      if (o.target !== undefined && o.target >= data.train.classes) throw new Error(`--target ${o.target} is not a class (0..${data.train.classes - 1})`);
      const r = o.attack === "backdoor"
        ? backdoor(data.train, { fraction: o.fraction, target: o.target!, seed: o.seed })
        : labelFlip(data.train, { fraction: o.fraction, target: o.target ?? null, seed: o.seed });
      const manifest = {
        format: "bulwark-poison", source: o.data, attack: o.attack, fraction: o.fraction, target: o.target ?? null, seed: o.seed,
        trigger: o.attack === "backdoor" ? { ...DEFAULT_TRIGGER, corner: "bottom-right" } : null,
        trainSamples: r.data.n, poisoned: r.poisoned,
        originalLabels: r.poisoned.map((i) => data.train.y[i]),
      };
      writePoisonedSet(o.out, r.data, data.test, manifest);
      emit(o, { command: "poison", out: o.out, attack: o.attack, target: o.target ?? null, trainSamples: r.data.n, poisonedCount: r.poisoned.length, manifest: `${o.out}/manifest.json` },
        () => [`wrote ${o.out}: ${r.data.n} training samples, ${r.poisoned.length} poisoned (${o.attack}${o.target !== undefined ? ` → ${o.target}` : ""}), manifest.json`]);
    });
}

/** Poison frogs: one clean-label poison per target, appended to the training set. */
function featureCollisionCommand(o: PoisonOptions): void {
  const { file, model, data } = loadModelAndData(o.model!, o.data, { limit: o.limit });
  if (o.baseClass! >= data.train.classes) throw new Error(`--base-class ${o.baseClass} is not a class (0..${data.train.classes - 1})`);
  for (const t of o.targetIndex!) {
    if (t >= data.test.n) throw new Error(`--target-index ${t} is outside the test set (0..${data.test.n - 1})`);
  }
  const r = featureCollisionPoison(model, data.train, data.test, {
    targets: o.targetIndex!, baseClass: o.baseClass!, seed: o.seed, depth: o.layer, beta0: o.beta0, steps: o.steps, lr: o.lr,
  });
  // The IDX files hold bytes: report the distances of the poisons as they are written.
  const written = Float32Array.from(r.poisons, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255) / 255);
  const size = model.inputSize;
  const targetX = new Float32Array(r.targets.length * size);
  r.targets.forEach((t, k) => targetX.set(data.test.x.subarray(t * size, (t + 1) * size), k * size));
  const writtenDistance = featureDistances(model, r.depth, written, targetX);
  const manifest = {
    format: "bulwark-poison", source: o.data, attack: o.attack, fraction: r.poisoned.length / r.data.n, target: null, seed: o.seed,
    trigger: null, trainSamples: r.data.n, poisoned: r.poisoned, originalLabels: r.poisoned.map((i) => r.data.y[i]),
    cleanLabel: true,
    model: o.model, weightsHash: file.weightsHash, layer: r.depth, featureSize: r.featureSize, beta0: r.beta0, beta: r.beta, steps: o.steps, lr: o.lr,
    baseClass: o.baseClass, targets: r.targets, targetLabels: r.targets.map((t) => data.test.y[t]), bases: r.bases,
    featureDistance: writtenDistance, baseFeatureDistance: r.baseFeatureDistance, pixelDistance: r.pixelDistance, pixelLinf: r.pixelLinf, iterations: r.iterations,
  };
  writePoisonedSet(o.out, r.data, data.test, manifest);
  emit(o, {
    command: "poison", out: o.out, attack: o.attack, target: null, targets: r.targets, baseClass: o.baseClass, poisoned: r.poisoned,
    trainSamples: r.data.n, poisonedCount: r.poisoned.length, featureDistance: writtenDistance, baseFeatureDistance: r.baseFeatureDistance,
    pixelDistance: r.pixelDistance, manifest: `${o.out}/manifest.json`,
  }, () => [
    `wrote ${o.out}: ${r.data.n} training samples, ${r.poisoned.length} clean-label poison${r.poisoned.length === 1 ? "" : "s"} (feature collision, base class ${o.baseClass}) appended as ${r.poisoned.join(",")}, manifest.json`,
    ...r.targets.map((t, k) => `  target ${t} (label ${data.test.y[t]}): feature distance ${r.baseFeatureDistance[k].toFixed(3)} → ${writtenDistance[k].toFixed(3)}, ‖p − b‖₂ ${r.pixelDistance[k].toFixed(3)}`),
  ]);
}
