// `bulwark poison-eval`: the whole poisoning experiment in one run. Poison a clean training set
// with a backdoor, train on it and measure clean accuracy and attack success (the share of
// triggered test images of other classes classified as the target), then for each defence:
// sanitise on the poisoned model's activations, retrain from scratch with the same recipe and
// seed, and measure again. An unpoisoned model trained the same way is the reference for clean
// accuracy. Prints JSON (or a table) and can draw the result as an SVG bar chart.
import type { Command } from "commander";
import { subset, type Dataset } from "../data/dataset.js";
import { loadData } from "../data/index.js";
import { saveModel } from "../io/bwk.js";
import { architecture, ARCHITECTURES } from "../nn/architectures.js";
import { Model } from "../nn/model.js";
import { backdoor, triggeredTestSet } from "../poison/attacks.js";
import { describeLayers } from "../poison/defences/activations.js";
import type { ClassReport } from "../poison/defences/split.js";
import { defend, DEFENCES, detection, type DefenceName, type Detection } from "../poison/defences/sanitize.js";
import { InlineExecutor, type Executor } from "../pool/executor.js";
import { PoolExecutor, resolveWorkers } from "../pool/pool.js";
import { writeSvg } from "../report/plot.js";
import { ShardedEngine } from "../train/engine.js";
import { evaluate, predictAll } from "../train/evaluate.js";
import { train } from "../train/loop.js";
import { createOptimizer } from "../train/optimizer.js";
import { parseSchedule } from "../train/schedule.js";
import { TASKS } from "../worker/entry.js";
import { checkWritable, int, num, oneOf, workersOption } from "./options.js";
import { createProgress } from "./progress.js";
import { emit, interruptible, type GlobalOptions } from "./run.js";
import { defenceOptions } from "./sanitize.js";

export interface PoisonEvalOptions extends GlobalOptions {
  data: string;
  fraction: number;
  target: number;
  poisonSeed: number;
  model: string;
  layer: number;
  defences: DefenceName[];
  epochs: number;
  batchSize: number;
  shardSize: number;
  lr: number;
  seed: number;
  workers: string;
  limit?: number;
  testLimit?: number;
  baseline: boolean;
  plot?: string;
  saveModels?: string;
  rank?: number;
  dims?: number;
  epsilon?: number;
  removalFactor?: number;
}

export interface StageResult {
  stage: string;
  trainSamples: number;
  cleanAccuracy: number;
  attackSuccess: number;
  trainSeconds: number;
}

function defenceList(v: string): DefenceName[] {
  const names = v === "all" ? [...DEFENCES] : v.split(",").map((s) => s.trim());
  for (const n of names) oneOf("--defences", DEFENCES)(n);
  return [...new Set(names)] as DefenceName[];
}

/** Share of `triggered` (test images of other classes, with the trigger) classified as `target`. */
export function attackSuccess(model: Model, triggered: Dataset, target: number): number {
  const p = predictAll(model, triggered);
  let hits = 0;
  for (const v of p) if (v === target) hits++;
  return triggered.n ? hits / triggered.n : 0;
}

/** Standard training with the default recipe (Adam, one-cycle to lr, seeded), as `bulwark train`. */
async function trainModel(o: PoisonEvalOptions, data: Dataset, label: string): Promise<{ model: Model; seconds: number }> {
  const model = new Model(architecture(o.model, data.shape, data.classes)).init(o.seed);
  const optimizer = createOptimizer(model, { name: "adam", lr: o.lr, weightDecay: 0 });
  const workers = resolveWorkers(o.workers);
  const executor: Executor = workers === 0 ? new InlineExecutor(model.rt, TASKS) : new PoolExecutor(model.rt, { workers });
  try {
    const engine = new ShardedEngine(model, executor, o.shardSize, o.batchSize);
    const batches = Math.ceil(data.n / o.batchSize) * o.epochs;
    const progress = createProgress(`train ${label}`, batches, { quiet: o.quiet });
    let done = 0;
    const r = await interruptible((stop) => train(engine, data, optimizer, {
      epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, lr: o.lr, schedule: parseSchedule("onecycle"),
    }, { stopRequested: stop, onBatch: () => progress.update(++done, "") }));
    progress.stop();
    if (!r.completed) throw new Error(`interrupted while training ${label}`);
    return { model, seconds: r.trainSeconds };
  } finally {
    await executor.close();
  }
}

export async function runPoisonEval(o: PoisonEvalOptions): Promise<Record<string, unknown>> {
  if (o.plot) checkWritable(o.plot);
  if (o.shardSize > o.batchSize) throw new Error(`--shard-size ${o.shardSize} is larger than --batch-size ${o.batchSize}`);
  if (o.fraction > 1) throw new Error(`--fraction must be at most 1, got ${o.fraction}`);
  if (o.defences.length === 0) throw new Error("--defences names no defence");
  const data = loadData(o.data, { limit: o.limit, testLimit: o.testLimit });
  if (o.target >= data.train.classes) throw new Error(`--target ${o.target} is not a class (0..${data.train.classes - 1})`);
  // Fail on a bad --layer before minutes of training.
  const probe = new Model(architecture(o.model, data.train.shape, data.train.classes));
  if (o.layer >= probe.layers.length) throw new Error(`--layer ${o.layer} is not a layer of ${o.model} (${describeLayers(probe)})`);
  const poisoned = backdoor(data.train, { fraction: o.fraction, target: o.target, seed: o.poisonSeed });
  const triggered = triggeredTestSet(data.test, o.target);
  const stages: StageResult[] = [];
  const measure = (stage: string, model: Model, trainSamples: number, seconds: number): StageResult => {
    const s = { stage, trainSamples, cleanAccuracy: evaluate(model, data.test).accuracy, attackSuccess: attackSuccess(model, triggered, o.target), trainSeconds: seconds };
    stages.push(s);
    if (!o.quiet) process.stderr.write(`${stage}: clean accuracy ${(100 * s.cleanAccuracy).toFixed(2)} %, attack success ${(100 * s.attackSuccess).toFixed(2)} %\n`);
    return s;
  };
  const save = (name: string, model: Model) => {
    if (o.saveModels) saveModel(`${o.saveModels}/${name}.bwk`, { architecture: model.arch, params: model.params.f32, meta: { poisonEval: name, created: new Date().toISOString() } });
  };
  if (o.baseline) {
    const b = await trainModel(o, data.train, "unpoisoned");
    measure("unpoisoned", b.model, data.train.n, b.seconds);
    save("unpoisoned", b.model);
  }
  const p = await trainModel(o, poisoned.data, "poisoned");
  const poisonedStage = measure("poisoned", p.model, poisoned.data.n, p.seconds);
  save("poisoned", p.model);
  const defences: { defence: DefenceName; detection: Detection; flagged: number; suspiciousClasses: number[]; classes: ClassReport[]; defenceSeconds: number; retrained: StageResult }[] = [];
  for (const name of o.defences) {
    const t0 = performance.now();
    const r = defend(name, p.model, poisoned.data, defenceOptions(o));
    const defenceSeconds = (performance.now() - t0) / 1000;
    const det = detection(r.flagged, poisoned.poisoned);
    const keep: number[] = [];
    for (let i = 0; i < r.flagged.length; i++) if (!r.flagged[i]) keep.push(i);
    if (!o.quiet) process.stderr.write(`${name}: flagged ${r.flagged.length - keep.length}, TPR ${(100 * det.tpr).toFixed(2)} %, FPR ${(100 * det.fpr).toFixed(2)} %\n`);
    const cleaned = subset(poisoned.data, keep, `${poisoned.data.name}+${name}`);
    const m = await trainModel(o, cleaned, `retrained after ${name}`);
    const retrained = measure(`retrained after ${name}`, m.model, cleaned.n, m.seconds);
    save(`retrained-${name}`, m.model);
    defences.push({
      defence: name, detection: det, flagged: r.flagged.length - keep.length,
      suspiciousClasses: r.classes.filter((c) => c.suspicious).map((c) => c.class), classes: r.classes, defenceSeconds, retrained,
    });
  }
  if (o.plot) await writeSvg(o.plot, chart(stages, `${o.model}, ${(100 * o.fraction).toFixed(1)} % backdoor → ${o.target}, layer ${o.layer}`));
  const baseline = stages.find((s) => s.stage === "unpoisoned") ?? null;
  return {
    command: "poison-eval", data: o.data, model: o.model, layer: o.layer, layerType: probe.layers[o.layer].spec.type,
    attack: { name: "backdoor", fraction: o.fraction, target: o.target, seed: o.poisonSeed, poisoned: poisoned.poisoned.length },
    training: { epochs: o.epochs, batchSize: o.batchSize, shardSize: o.shardSize, optimizer: "adam", lr: o.lr, schedule: "onecycle", seed: o.seed },
    trainSamples: data.train.n, testSamples: data.test.n, triggeredTestSamples: triggered.n,
    baseline, poisoned: poisonedStage,
    cleanAccuracyDrop: baseline ? baseline.cleanAccuracy - poisonedStage.cleanAccuracy : null,
    defences, stages, plot: o.plot ?? null,
  };
}

/** Grouped bars: clean accuracy and attack success for every stage. */
function chart(stages: StageResult[], subtitle: string) {
  const rows = stages.flatMap((s) => [
    { stage: s.stage, metric: "clean accuracy", value: 100 * s.cleanAccuracy },
    { stage: s.stage, metric: "attack success", value: 100 * s.attackSuccess },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Backdoor poisoning: before and after sanitising", subtitle },
    data: { values: rows },
    mark: "bar",
    encoding: {
      x: { field: "stage", type: "nominal", sort: stages.map((s) => s.stage), axis: { labelAngle: -30, labelLimit: 300, title: null } },
      xOffset: { field: "metric" },
      y: { field: "value", type: "quantitative", title: "%", scale: { domain: [0, 100] } },
      color: { field: "metric", type: "nominal", title: null },
    },
    width: { step: 60 },
    height: 240,
  } as Parameters<typeof writeSvg>[1];
}

export function registerPoisonEval(program: Command): void {
  program.command("poison-eval")
    .description("poison a training set with a backdoor, train, sanitise with each defence, retrain; clean accuracy and attack success at every stage")
    .option("--data <spec>", "clean source: mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--fraction <f>", "share of the training set poisoned", num("--fraction", { positive: true }), 0.05)
    .option("--target <class>", "class the backdoor points to", int("--target", 0), 7)
    .option("--poison-seed <n>", "which samples are poisoned", int("--poison-seed", 0), 0)
    .option("--model <name>", `architecture: ${ARCHITECTURES.join(", ")}`, oneOf("--model", ARCHITECTURES), "cnn-small")
    .requiredOption("--layer <n>", "layer the defences inspect (6 = last hidden ReLU of cnn-small, 4 of mlp)", int("--layer", 0))
    .option("--defences <list>", `comma-separated: ${DEFENCES.join(", ")}, or all`, defenceList, [...DEFENCES])
    .option("--epochs <n>", "epochs per training run", int("--epochs", 1), 1)
    .option("--batch-size <n>", "samples per step", int("--batch-size", 1), 64)
    .option("--shard-size <n>", "samples per shard", int("--shard-size", 1), 32)
    .option("--lr <x>", "peak Adam learning rate (one-cycle)", num("--lr", { positive: true }), 5e-3)
    .option("--seed <n>", "seed for initialisation, shuffling and the defences", int("--seed", 0), 0)
    .option("--workers <n>", "worker threads: auto, or 0 to run in-process", workersOption, "auto")
    .option("--limit <n>", "use only the first n training samples", int("--limit", 1))
    .option("--test-limit <n>", "use only the first n test samples", int("--test-limit", 1))
    .option("--no-baseline", "skip the unpoisoned reference model")
    .option("--plot <file.svg>", "draw clean accuracy and attack success per stage")
    .option("--save-models <dir>", "save every trained model here as <stage>.bwk")
    .option("--rank <r>", "rpca: rank of the robust low-rank model", int("--rank", 0))
    .option("--dims <k>", "activation-clustering: principal components kept", int("--dims", 1))
    .option("--epsilon <f>", "spectral: poisoned share of a suspicious class (default: estimated)", num("--epsilon", { positive: true }))
    .option("--removal-factor <x>", "spectral: remove this many × ε·n of a suspicious class", num("--removal-factor", { positive: true }))
    .action(async (opts: PoisonEvalOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as PoisonEvalOptions;
      if (o.saveModels) checkWritable(`${o.saveModels}/x.bwk`);
      const r = await runPoisonEval(o);
      const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
      emit(o, r, () => [
        `${r.model} on ${r.data}, backdoor ${(100 * o.fraction).toFixed(1)} % → ${o.target}, defences on layer ${o.layer}`,
        ...(r.stages as StageResult[]).map((s) => `${s.stage.padEnd(34)} ${String(s.trainSamples).padStart(6)} samples  clean ${pct(s.cleanAccuracy)}  attack success ${pct(s.attackSuccess)}`),
        ...(r.defences as { defence: string; detection: Detection }[]).map((d) => `${d.defence}: TPR ${pct(d.detection.tpr)}, FPR ${pct(d.detection.fpr)}`),
        ...(r.plot ? [`wrote ${r.plot}`] : []),
      ]);
    });
}
