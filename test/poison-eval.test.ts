// `bulwark poison-eval` end to end on an MNIST subset (10 000 training samples, one epoch of
// cnn-small per model): the backdoor takes hold, activation clustering finds it, the retrained
// model loses it and keeps its clean accuracy, and the chart is written. Bad options fail
// before any training.
import test from "ava";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPoisonEval, type PoisonEvalOptions, type StageResult } from "../src/cli/poison-eval.js";

function options(over: Partial<PoisonEvalOptions>): PoisonEvalOptions {
  return {
    data: "mnist", fraction: 0.05, target: 7, poisonSeed: 0, model: "cnn-small", layer: 5,
    defences: ["activation-clustering"], epochs: 1, batchSize: 64, shardSize: 32, lr: 5e-3, seed: 0,
    workers: "0", limit: 10000, testLimit: 1000, baseline: true, quiet: true, ...over,
  };
}

test("backdoor, sanitise, retrain: attack success collapses, clean accuracy stays", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-poison-eval-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plot = join(dir, "chart.svg");
  const r = await runPoisonEval(options({ plot }));
  const stages = r.stages as StageResult[];
  t.deepEqual(stages.map((s) => s.stage), ["unpoisoned", "poisoned", "retrained after activation-clustering"]);
  const [clean, poisoned, retrained] = stages;
  t.true(clean.attackSuccess < 0.05, `unpoisoned attack success ${clean.attackSuccess}`);
  t.true(poisoned.attackSuccess > 0.9, `poisoned attack success ${poisoned.attackSuccess}`);
  t.true(Math.abs(poisoned.cleanAccuracy - clean.cleanAccuracy) < 0.03, `clean ${clean.cleanAccuracy} vs poisoned ${poisoned.cleanAccuracy}`);
  const d = (r.defences as { detection: { tpr: number; fpr: number }; suspiciousClasses: number[] }[])[0];
  t.true(d.detection.tpr >= 0.9, `TPR ${d.detection.tpr}`);
  t.true(d.detection.fpr <= 0.02, `FPR ${d.detection.fpr}`);
  t.deepEqual(d.suspiciousClasses, [7]);
  t.true(retrained.attackSuccess < 0.2, `retrained attack success ${retrained.attackSuccess}`);
  t.true(retrained.cleanAccuracy > clean.cleanAccuracy - 0.03, `retrained clean ${retrained.cleanAccuracy}`);
  t.is(retrained.trainSamples, 10000 - (r.defences as { flagged: number }[])[0].flagged);
  t.like(r, { attack: { name: "backdoor", fraction: 0.05, target: 7, seed: 0, poisoned: 500 }, trainSamples: 10000, testSamples: 1000 });
  const svg = readFileSync(plot, "utf8");
  t.true(svg.startsWith("<svg") && svg.includes("attack success") && svg.includes("retrained after activation-clustering"));
});

test("bad options fail before training and write nothing", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-poison-eval-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plot = join(dir, "chart.svg");
  await t.throwsAsync(runPoisonEval(options({ layer: 8, plot })), { message: /--layer 8 is not a layer of cnn-small \(0 conv2d/ });
  await t.throwsAsync(runPoisonEval(options({ target: 10, plot })), { message: /--target 10 is not a class/ });
  await t.throwsAsync(runPoisonEval(options({ fraction: 1.5, plot })), { message: /--fraction must be at most 1/ });
  await t.throwsAsync(runPoisonEval(options({ plot: join(dir, "missing", "c.svg") })), { message: /does not exist/ });
  t.false(existsSync(plot));
});
