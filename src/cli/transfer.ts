// `bulwark transfer`: craft adversarial examples on a surrogate (white-box) and evaluate
// them on a target model; the same routine reports transfer success for `bulwark steal`.
import type { Command } from "commander";
import { loadData } from "../data/index.js";
import { fromFloat, type Dataset } from "../data/dataset.js";
import { instantiate } from "../io/bwk.js";
import { loadModelFile } from "./inputs.js";
import type { Model } from "../nn/model.js";
import { predictAll } from "../train/evaluate.js";
import { WHITE_BOX, type AttackName } from "../attack/registry.js";
import { ATTACK_LOSSES } from "../attack/losses.js";
import { Evaluator, specFor, type AttackOptions } from "./attack.js";
import { int, num, oneOf, workersOption } from "./options.js";
import { emit, type GlobalOptions } from "./run.js";

export interface TransferResult {
  attack: string;
  eps: number;
  norm: string;
  samples: number;
  sourceCleanAccuracy: number;
  sourceRobustAccuracy: number;
  targetCleanAccuracy: number;
  /** Target accuracy on the examples crafted on the source. */
  targetTransferAccuracy: number;
  /** Among samples both models classify right and the source attack broke, the share the target gets wrong too. */
  transferSuccessRate: number;
}

export async function transferAttack(source: Model, target: Model, data: Dataset, n: number, o: AttackOptions): Promise<TransferResult> {
  const idx = Uint32Array.from({ length: n }, (_, i) => o.start + i);
  const ev = new Evaluator(o, source);
  const spec = specFor(o, o.attack as AttackName, Number(o.eps));
  let crafted;
  try {
    crafted = await ev.craft(data, idx, spec);
  } finally {
    await ev.close();
  }
  const labels = Array.from(idx, (i) => data.y[i]);
  const clean = fromFloat("clean", data.x.slice(o.start * source.inputSize, (o.start + n) * source.inputSize), labels, data.shape, data.classes);
  const adv = fromFloat("transferred", crafted.inputs!, labels, data.shape, data.classes);
  const tClean = predictAll(target, clean);
  const tAdv = predictAll(target, adv);
  let eligible = 0;
  let transferred = 0;
  crafted.rows.forEach((r, i) => {
    if (r.cleanPred === r.label && r.success && tClean[i] === r.label) {
      eligible++;
      if (tAdv[i] !== r.label) transferred++;
    }
  });
  const rows = crafted.rows;
  return {
    attack: spec.name, eps: spec.eps, norm: spec.norm, samples: n,
    sourceCleanAccuracy: rows.filter((r) => r.cleanPred === r.label).length / n,
    sourceRobustAccuracy: rows.filter((r) => r.cleanPred === r.label && !r.success).length / n,
    targetCleanAccuracy: share(tClean, labels),
    targetTransferAccuracy: share(tAdv, labels),
    transferSuccessRate: eligible ? transferred / eligible : 0,
  };
}

function share(pred: Int32Array, labels: number[]): number {
  return labels.length ? labels.filter((y, i) => pred[i] === y).length / labels.length : 0;
}

/** The attack options transfer and steal share. */
export function addCraftOptions(cmd: Command, epsFlag = "--eps"): Command {
  return cmd
    .option("--attack <name>", `white-box attack crafted on the source: ${WHITE_BOX.join(", ")}`, oneOf("--attack", WHITE_BOX), "pgd")
    .option(`${epsFlag} <x>`, "perturbation budget", num(epsFlag, { min: 0 }), 0.3)
    .option("--norm <p>", "linf or l2", oneOf("--norm", ["linf", "l2"]), "linf")
    .option("--steps <n>", "attack iterations", int("--steps", 1))
    .option("--restarts <n>", "random restarts", int("--restarts", 1), 1)
    .option("--loss <name>", `attack loss: ${ATTACK_LOSSES.join(", ")}`, oneOf("--loss", ATTACK_LOSSES), "ce")
    .option("--workers <n>", "worker threads: auto, or 0 to run in-process", workersOption, "auto")
    .option("--shard-size <n>", "samples per shard", int("--shard-size", 1), 32)
    .option("--seed <n>", "seed", int("--seed", 0), 0);
}

export function craftOptions(o: Record<string, unknown>, eps: number, start = 0): AttackOptions {
  return {
    ...(o as object), eps: String(eps), start, limit: 0, queries: 1, randomStart: true, target: undefined, alpha: undefined,
  } as unknown as AttackOptions;
}

interface TransferOptions extends GlobalOptions {
  source: string;
  target: string;
  data: string;
  eps: number;
  limit: number;
  start: number;
}

export function registerTransfer(program: Command): void {
  addCraftOptions(program.command("transfer")
    .description("craft adversarial examples on a source model and measure how they transfer to a target model")
    .requiredOption("--source <file.bwk>", "surrogate the attack sees")
    .requiredOption("--target <file.bwk>", "model the examples are tried on")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--limit <n>", "test samples", int("--limit", 1), 1000)
    .option("--start <n>", "first test sample", int("--start", 0), 0))
    .action(async (opts: TransferOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as TransferOptions;
      const source = instantiate(loadModelFile(o.source));
      const target = instantiate(loadModelFile(o.target));
      const data = loadData(o.data, { limit: 1 });
      for (const [path, m] of [[o.source, source], [o.target, target]] as const) {
        if (m.arch.inputShape.join("×") !== data.test.shape.join("×")) throw new Error(`${path} expects inputs of shape ${m.arch.inputShape.join("×")}, but ${o.data} has ${data.test.shape.join("×")}`);
      }
      if (o.start >= data.test.n) throw new Error(`--start ${o.start} is past the ${data.test.n} test samples`);
      const n = Math.min(o.limit, data.test.n - o.start);
      const t0 = performance.now();
      const r = await transferAttack(source, target, data.test, n, craftOptions(o as never, o.eps, o.start));
      const result = { command: "transfer", source: o.source, target: o.target, data: o.data, ...r, seconds: (performance.now() - t0) / 1000 };
      emit(o, result, () => [
        `${r.attack} ${r.norm === "linf" ? "L∞" : "L2"} ε=${r.eps} on ${o.source}: source robust accuracy ${(100 * r.sourceRobustAccuracy).toFixed(2)} %`,
        `on ${o.target}: clean ${(100 * r.targetCleanAccuracy).toFixed(2)} %, on transferred examples ${(100 * r.targetTransferAccuracy).toFixed(2)} %; transfer success ${(100 * r.transferSuccessRate).toFixed(1)} %`,
      ]);
    });
}
