// `bulwark attack`: robust accuracy of a saved model under one attack, an AutoAttack-style
// suite, or a curve over several ε; per-sample CSV, curve CSV/JSON/SVG, hygiene warnings.
import type { Command } from "commander";
import type { Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { InlineExecutor, type Executor } from "../pool/executor.js";
import { PoolExecutor, resolveWorkers } from "../pool/pool.js";
import { TASKS } from "../worker/entry.js";
import { ShardedEngine } from "../train/engine.js";
import { ATTACKS, isBlackBox, type AttackName, type AttackSpec, type SampleOutcome } from "../attack/registry.js";
import { ATTACK_LOSSES, type AttackLoss } from "../attack/losses.js";
import { attackStream } from "../attack/threat.js";
import type { AttackRunResult } from "../attack/tasks.js";
import { hygieneWarnings, type HygieneInput } from "../attack/hygiene.js";
import { writeCsv } from "../report/csv.js";
import { lineChart, writeSvg } from "../report/plot.js";
import { writeFileAtomic } from "../core/files.js";
import { checkWritable, int, num, oneOf, workersOption } from "./options.js";
import { createProgress } from "./progress.js";
import { loadModelAndData } from "./inputs.js";
import { emit, type GlobalOptions } from "./run.js";

export interface AttackOptions extends GlobalOptions {
  model: string;
  data: string;
  attack: AttackName | "suite";
  eps: string;
  norm: "linf" | "l2";
  steps?: number;
  restarts: number;
  alpha?: number;
  loss: AttackLoss;
  target?: number;
  queries: number;
  randomStart: boolean;
  limit: number;
  start: number;
  perSample?: string;
  curve?: string;
  workers: string;
  shardSize: number;
  seed: number;
}

export interface Row extends SampleOutcome {
  index: number;
  label: number;
  cleanPred: number;
  attack: string;
}

/** Default iterations per attack (the usual published settings, scaled for MNIST). */
export function defaultSteps(name: AttackName): number {
  return { fgsm: 1, pgd: 40, "apgd-ce": 100, "apgd-t": 100, cw: 100, deepfool: 50, square: 0, nes: 30, spsa: 30, hopskipjump: 0 }[name];
}

function parseEps(v: string): number[] {
  const list = v.split(",").map((s) => Number(s.trim()));
  if (!list.length || list.some((e) => !Number.isFinite(e) || e < 0)) throw new Error(`--eps must be a non-negative number or a comma-separated list, got '${v}'`);
  return [...list].sort((a, b) => a - b);
}

export class Evaluator {
  readonly engine: ShardedEngine;
  private readonly executor: Executor;

  constructor(readonly o: Pick<AttackOptions, "workers" | "shardSize" | "seed">, model: Model) {
    const workers = resolveWorkers(o.workers);
    this.executor = workers === 0 ? new InlineExecutor(model.rt, TASKS) : new PoolExecutor(model.rt, { workers });
    this.engine = new ShardedEngine(model, this.executor, o.shardSize, o.shardSize * Math.max(1, workers) * 2);
  }

  get workers(): number {
    return this.executor.workers;
  }

  /** One attack on the samples `idx` (dataset rows); rows in idx order. */
  async run(data: Dataset, idx: Uint32Array, spec: AttackSpec, stage = 0): Promise<Row[]> {
    return (await this.craft(data, idx, spec, stage, false)).rows;
  }

  /** As run(), and with keepInputs the adversarial inputs too (n × inputSize, idx order). */
  async craft(data: Dataset, idx: Uint32Array, spec: AttackSpec, stage = 0, keepInputs = true): Promise<{ rows: Row[]; inputs: Float32Array | null }> {
    const shards = await this.engine.map<AttackRunResult>("attack.run", data, idx, { spec, seed: this.o.seed, stream: attackStream(0xa77ac, stage), returnInputs: keepInputs });
    const dim = this.engine.model.inputSize;
    const inputs = keepInputs ? new Float32Array(idx.length * dim) : null;
    const rows: Row[] = [];
    let k = 0;
    for (const s of shards) {
      if (inputs && s.inputs) inputs.set(s.inputs, k * dim);
      s.outcomes.forEach((out, i) => {
        const index = idx[k++];
        rows.push({ index, label: data.y[index], cleanPred: s.cleanPred[i], attack: spec.name, ...out });
      });
    }
    return { rows, inputs };
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}

export function specFor(o: AttackOptions, name: AttackName, eps: number, over: Partial<AttackSpec> = {}): AttackSpec {
  return {
    name, norm: o.norm, eps, lo: 0, hi: 1, steps: o.steps ?? defaultSteps(name), restarts: o.restarts,
    alpha: o.alpha, loss: o.loss, randomStart: o.randomStart, target: o.target ?? null, queries: o.queries, ...over,
  };
}

interface EpsResult {
  eps: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  attackSuccessRate: number;
  queries: { mean: number; median: number; max: number; budget: number } | null;
  seconds: number;
  rows: Row[];
  stages?: { attack: string; robustAccuracyAfter: number; broke: number }[];
  diagnostics?: Record<string, number>;
  blackBoxOnly?: number;
}

function summarise(eps: number, rows: Row[], seconds: number, blackBox: boolean, budget: number): EpsResult {
  const n = rows.length || 1;
  const clean = rows.filter((r) => r.cleanPred === r.label).length;
  const robust = rows.filter((r) => r.cleanPred === r.label && !r.success).length;
  const q = rows.map((r) => r.queries).sort((a, b) => a - b);
  return {
    eps, cleanAccuracy: clean / n, robustAccuracy: robust / n, attackSuccessRate: clean ? (clean - robust) / clean : 0,
    queries: blackBox ? { mean: q.reduce((s, v) => s + v, 0) / n, median: q[Math.floor(q.length / 2)] ?? 0, max: q[q.length - 1] ?? 0, budget } : null,
    seconds, rows,
  };
}

/** AutoAttack-style: APGD-CE, APGD-T (DLR, 9 targets), Square, each on the samples still robust. */
async function suite(ev: Evaluator, o: AttackOptions, data: Dataset, idx: Uint32Array, eps: number): Promise<EpsResult> {
  const t0 = performance.now();
  const stages: AttackSpec[] = [
    specFor(o, "apgd-ce", eps, { steps: o.steps ?? 100, loss: "ce", target: null }),
    specFor(o, "apgd-t", eps, { steps: o.steps ?? 100, target: null }),
    specFor(o, "square", eps, { queries: o.queries, target: null }),
  ];
  const worst = new Map<number, Row>();
  let remaining = idx;
  const report: NonNullable<EpsResult["stages"]> = [];
  let blackBoxOnly = 0;
  for (let s = 0; s < stages.length; s++) {
    const rows = await ev.run(data, remaining, stages[s], s + 1);
    let broke = 0;
    for (const r of rows) {
      const prev = worst.get(r.index);
      if (!prev || (r.success && !prev.success) || prev.cleanPred !== prev.label) worst.set(r.index, r);
      if (r.success && r.cleanPred === r.label) {
        broke++;
        if (isBlackBox(stages[s].name)) blackBoxOnly++;
      }
    }
    remaining = Uint32Array.from(rows.filter((r) => r.cleanPred === r.label && !r.success).map((r) => r.index));
    report.push({ attack: stages[s].name, robustAccuracyAfter: remaining.length / idx.length, broke });
    if (!remaining.length) break;
  }
  // Diagnostics for the hygiene checks: FGSM and PGD-20 from the clean point and from a random start.
  const diag: Record<string, number> = {};
  for (const [label, spec] of [
    ["fgsm", specFor(o, "fgsm", eps, { loss: "ce", target: null })],
    ["pgdZeroStart", specFor(o, "pgd", eps, { steps: 20, restarts: 1, randomStart: false, loss: "ce", target: null })],
    ["pgdRandomStart", specFor(o, "pgd", eps, { steps: 20, restarts: 1, randomStart: true, loss: "ce", target: null })],
  ] as const) {
    const rows = await ev.run(data, idx, spec, 10 + Object.keys(diag).length);
    diag[label] = rows.filter((r) => r.cleanPred === r.label && !r.success).length / idx.length;
    // A diagnostic that breaks a sample the suite missed also counts toward the worst case.
    for (const r of rows) if (r.success && r.cleanPred === r.label && !worst.get(r.index)?.success) worst.set(r.index, r);
  }
  const rows = Array.from(idx, (i) => worst.get(i)!);
  const res = summarise(eps, rows, (performance.now() - t0) / 1000, false, 0);
  return { ...res, stages: report, diagnostics: diag, blackBoxOnly };
}

export function registerAttack(program: Command): void {
  program.command("attack")
    .description("robust accuracy of a saved model under an attack, the suite, or a curve over ε")
    .requiredOption("--model <file.bwk>", "model file")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--attack <name>", `attack: ${ATTACKS.join(", ")}, or suite (APGD-CE, APGD-T, Square)`, oneOf("--attack", [...ATTACKS, "suite"]), "pgd")
    .option("--eps <x[,y...]>", "perturbation budget, or a list for a robustness curve", "0.3")
    .option("--norm <p>", "linf or l2", oneOf("--norm", ["linf", "l2"]), "linf")
    .option("--steps <n>", "iterations (default: pgd 40, apgd 100, cw 100, deepfool 50, nes/spsa 30)", int("--steps", 1))
    .option("--restarts <n>", "random restarts (pgd, apgd-ce)", int("--restarts", 1), 1)
    .option("--alpha <x>", "step size (default 2.5·ε/steps for pgd)", num("--alpha", { positive: true }))
    .option("--loss <name>", `loss for pgd/fgsm/apgd-ce: ${ATTACK_LOSSES.join(", ")}`, oneOf("--loss", ATTACK_LOSSES), "ce")
    .option("--target <class>", "targeted attack toward this class (pgd, fgsm, apgd-ce, cw)", int("--target", 0))
    .option("--queries <n>", "per-sample query budget of black-box attacks", int("--queries", 1), 5000)
    .option("--no-random-start", "pgd: start from the clean point")
    .option("--limit <n>", "attack the first n test samples", int("--limit", 1), 1000)
    .option("--start <n>", "first test sample", int("--start", 0), 0)
    .option("--per-sample <file.csv>", "write one row per sample")
    .option("--curve <prefix>", "with several ε: write <prefix>.csv, .json and .svg (default robustness-curve)")
    .option("--workers <n>", "worker threads: auto, or 0 to run in-process", workersOption, "auto")
    .option("--shard-size <n>", "samples per shard", int("--shard-size", 1), 32)
    .option("--seed <n>", "seed for random starts and black-box proposals", int("--seed", 0), 0)
    .action(async (opts: AttackOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as AttackOptions;
      const epsList = parseEps(o.eps);
      const curvePrefix = epsList.length > 1 ? o.curve ?? "robustness-curve" : null;
      if (o.perSample) checkWritable(o.perSample);
      if (curvePrefix) checkWritable(`${curvePrefix}.csv`);
      if (o.target !== undefined && o.target >= 10) throw new Error(`--target ${o.target} is not a class (0..9)`);
      if (o.shardSize < 17 && (o.attack === "suite" || isBlackBox(o.attack as AttackName))) {
        throw new Error("black-box attacks need --shard-size ≥ 17 (the oracle evaluates at least 17 rows per call)");
      }
      const { model, data } = loadModelAndData(o.model, o.data);
      if (o.start >= data.test.n) throw new Error(`--start ${o.start} is past the ${data.test.n} test samples`);
      const n = Math.min(o.limit, data.test.n - o.start);
      const idx = Uint32Array.from({ length: n }, (_, i) => o.start + i);
      const ev = new Evaluator(o, model);
      const results: EpsResult[] = [];
      const progress = createProgress(`attack ${o.attack}`, epsList.length, { quiet: o.quiet });
      try {
        for (const eps of epsList) {
          const t0 = performance.now();
          if (o.attack === "suite") results.push(await suite(ev, o, data.test, idx, eps));
          else {
            const name = o.attack as AttackName;
            const rows = await ev.run(data.test, idx, specFor(o, name, eps));
            results.push(summarise(eps, rows, (performance.now() - t0) / 1000, isBlackBox(name), o.queries));
          }
          progress.update(results.length, `ε ${eps}: robust ${(100 * results[results.length - 1].robustAccuracy).toFixed(1)} %`);
        }
      } finally {
        progress.stop();
        await ev.close();
      }
      const curve = results.map(({ rows: _r, ...r }) => r);
      const last = results[results.length - 1];
      const h: HygieneInput = { norm: o.norm, samples: n, curve: curve.map((c) => ({ eps: c.eps, robustAccuracy: c.robustAccuracy })) };
      if (last.diagnostics) Object.assign(h, last.diagnostics, { blackBoxOnly: last.blackBoxOnly });
      const warnings = hygieneWarnings(h);
      if (o.perSample) {
        writeCsv(o.perSample, results.flatMap((r) => r.rows.map((row) => ({
          index: row.index, label: row.label, cleanPrediction: row.cleanPred, adversarialPrediction: row.advPred,
          eps: r.eps, linf: row.linf, l2: row.l2, success: row.success, queries: row.queries, attack: row.attack,
        }))));
      }
      let files: Record<string, string> | null = null;
      if (curvePrefix) {
        files = { csv: `${curvePrefix}.csv`, json: `${curvePrefix}.json`, svg: `${curvePrefix}.svg` };
        const points = curve.map((c) => ({ eps: c.eps, cleanAccuracy: c.cleanAccuracy, robustAccuracy: c.robustAccuracy }));
        writeCsv(files.csv, points);
        writeFileAtomic(files.json, JSON.stringify({ model: o.model, attack: o.attack, norm: o.norm, samples: n, curve: points }, null, 2) + "\n");
        await writeSvg(files.svg, lineChart({
          title: `${o.model}: robust accuracy under ${o.attack} (${o.norm === "linf" ? "L∞" : "L2"}, ${n} samples)`,
          x: "eps", y: "robustAccuracy", rows: points, yDomain: [0, 1],
        }));
      }
      for (const w of warnings) process.stderr.write(`bulwark: WARNING: ${w}\n`);
      const seconds = results.reduce((s, r) => s + r.seconds, 0);
      const result = {
        command: "attack", model: o.model, data: o.data, attack: o.attack, norm: o.norm,
        eps: epsList.length === 1 ? epsList[0] : epsList,
        steps: o.attack === "suite" ? null : o.steps ?? defaultSteps(o.attack as AttackName),
        restarts: o.restarts, target: o.target ?? null, samples: n, workers: ev.workers, seed: o.seed,
        cleanAccuracy: last.cleanAccuracy,
        robustAccuracy: epsList.length === 1 ? last.robustAccuracy : curve.map((c) => c.robustAccuracy),
        attackSuccessRate: last.attackSuccessRate,
        queries: last.queries,
        seconds, samplesPerSecond: (n * results.length) / Math.max(seconds, 1e-9),
        ...(last.stages ? { stages: last.stages, diagnostics: last.diagnostics } : {}),
        ...(epsList.length > 1 ? { curve, files } : {}),
        perSample: o.perSample ?? null,
        warnings,
      };
      emit(o, result, () => [
        `clean accuracy ${(100 * last.cleanAccuracy).toFixed(2)} % on ${n} test samples`,
        ...curve.map((c) => `${o.attack} ${o.norm === "linf" ? "L∞" : "L2"} ε=${c.eps}: robust accuracy ${(100 * c.robustAccuracy).toFixed(2)} %` +
          (c.queries ? ` (queries mean ${c.queries.mean.toFixed(0)}, max ${c.queries.max})` : "") + ` in ${c.seconds.toFixed(1)} s`),
        ...(last.stages ? last.stages.map((s) => `  after ${s.attack}: ${(100 * s.robustAccuracyAfter).toFixed(2)} % (broke ${s.broke})`) : []),
        ...(files ? [`wrote ${files.csv}, ${files.json}, ${files.svg}`] : []),
      ]);
    });
}
