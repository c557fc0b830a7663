// `bulwark poison`: write a poisoned copy of a training set (IDX files the other commands read
// with --data DIR) and a manifest of which samples were poisoned.
import type { Command } from "commander";
import { existsSync, readdirSync, statSync } from "node:fs";
import { loadData } from "../data/index.js";
import { backdoor, DEFAULT_TRIGGER, labelFlip } from "../poison/attacks.js";
import { writePoisonedSet } from "../poison/write.js";
import { int, num, oneOf } from "./options.js";
import { emit, type GlobalOptions } from "./run.js";

interface PoisonOptions extends GlobalOptions {
  data: string;
  attack: "label-flip" | "backdoor";
  fraction: number;
  target?: number;
  seed: number;
  limit?: number;
  out: string;
}

export function registerPoison(program: Command): void {
  program.command("poison")
    .description("write a poisoned copy of a training set (IDX) and a manifest of the poisoned samples")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--attack <name>", "label-flip (random, or toward --target) or backdoor (a trigger patch, relabelled to --target)", oneOf("--attack", ["label-flip", "backdoor"]), "backdoor")
    .option("--fraction <f>", "share of the training set to poison", num("--fraction", { positive: true }), 0.05)
    .option("--target <class>", "target class (required for backdoor)", int("--target", 0))
    .option("--seed <n>", "which samples are poisoned", int("--seed", 0), 0)
    .option("--limit <n>", "use only the first n training samples", int("--limit", 1))
    .requiredOption("--out <dir>", "directory to write (must be new or empty)")
    .action(async (opts: PoisonOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as PoisonOptions;
      if (o.fraction > 1) throw new Error(`--fraction must be at most 1, got ${o.fraction}`);
      if (o.attack === "backdoor" && o.target === undefined) throw new Error("--attack backdoor needs --target");
      if (existsSync(o.out) && (!statSync(o.out).isDirectory() || readdirSync(o.out).length > 0)) {
        throw new Error(`--out ${o.out} exists and is not an empty directory`);
      }
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
