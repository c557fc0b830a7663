// Clean-training throughput on one thread: our step (forward, softmax cross-entropy, backward,
// Adam) for mlp and cnn-small, beside the same step in PyTorch 1.13 (Debian python3-torch, run
// with /usr/bin/python3, one thread, OpenMP passive) in the same run. The machine is a shared
// VM whose speed swings by up to 2×, so ours (plain and relaxed builds) and PyTorch run in
// interleaved short slices over several rounds and each reports its best slice. Skips PyTorch
// with a message when it is not installed.
//
//   npx tsx scripts/bench-train.ts [--models mlp,cnn-small] [--batches 64,128] [--rounds 6] [--slice 0.4] [--json]
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Arena } from "../src/core/arena.js";
import { Stream } from "../src/core/random.js";
import { Runtime } from "../src/core/runtime.js";
import { relaxedSimdAvailable } from "../src/core/module.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { standardStep } from "../src/train/objective.js";
import { createOptimizer } from "../src/train/optimizer.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

export interface TrainBenchRow {
  model: string;
  batch: number;
  oursPlain: number;
  oursRelaxed: number | null;
  pytorch1Thread: number | null;
  ratioPlain: number | null;
  ratioRelaxed: number | null;
}

const PY = "/usr/bin/python3";
const TORCH_SCRIPT = fileURLToPath(new URL("./torch_step.py", import.meta.url));

/** Our training step, ready to time in slices. */
function ourStep(simd: "plain" | "relaxed", name: string, batch: number): () => void {
  const rt = new Runtime({ simd });
  const model = new Model(architecture(name), new Arena(rt)).init(0);
  const opt = createOptimizer(model, { name: "adam", lr: 1e-3 });
  const plan = model.plan(batch);
  const s = new Stream(0, 1);
  for (let i = 0; i < batch * model.inputSize; i++) plan.input[i] = s.next();
  for (let i = 0; i < batch; i++) plan.labels[i] = i % 10;
  return () => {
    standardStep(model, plan, batch);
    opt.step(1e-3);
  };
}

function slice(step: () => void, batch: number, seconds: number): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    step();
    n++;
  }
  return (n * batch) / ((performance.now() - t0) / 1000);
}

/** A long-lived PyTorch process answering timing requests, or a reason why there is none. */
async function startTorch(): Promise<{ ask(model: string, batch: number, seconds: number): Promise<number>; close(): void } | string> {
  if (!existsSync(PY)) return `${PY} not found`;
  const child = spawn(PY, [TORCH_SCRIPT], {
    env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1", OMP_WAIT_POLICY: "PASSIVE" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) return /No module named 'torch'/.test(stderr) ? "PyTorch not installed (apt-get install python3-torch libopenblas0-pthread)" : `PyTorch failed to start: ${stderr.trim().split("\n").pop()}`;
  return {
    async ask(model, batch, seconds) {
      child.stdin.write(JSON.stringify({ model, batch, seconds }) + "\n");
      const r = await lines.next();
      if (r.done) throw new Error(`PyTorch process ended: ${stderr.trim().split("\n").pop()}`);
      return JSON.parse(r.value).samplesPerSecond;
    },
    close: () => child.stdin.end(),
  };
}

export async function benchTrain(opts: { models: string[]; batches: number[]; rounds: number; slice: number }): Promise<{ rows: TrainBenchRow[]; pytorch: string }> {
  const torch = await startTorch();
  const relaxed = relaxedSimdAvailable();
  const rows: TrainBenchRow[] = [];
  for (const name of opts.models) {
    for (const batch of opts.batches) {
      const plainStep = ourStep("plain", name, batch);
      const relaxedStep = relaxed ? ourStep("relaxed", name, batch) : null;
      for (let i = 0; i < 3; i++) {
        plainStep();
        relaxedStep?.();
      }
      let bp = 0, br = 0, bt = 0;
      for (let r = 0; r < opts.rounds; r++) {
        bp = Math.max(bp, slice(plainStep, batch, opts.slice));
        if (relaxedStep) br = Math.max(br, slice(relaxedStep, batch, opts.slice));
        if (typeof torch !== "string") bt = Math.max(bt, await torch.ask(name, batch, opts.slice));
      }
      rows.push({
        model: name, batch, oursPlain: Math.round(bp), oursRelaxed: relaxed ? Math.round(br) : null,
        pytorch1Thread: bt ? Math.round(bt) : null,
        ratioPlain: bt ? +(bp / bt).toFixed(3) : null,
        ratioRelaxed: bt && relaxed ? +(br / bt).toFixed(3) : null,
      });
    }
  }
  if (typeof torch !== "string") torch.close();
  return { rows, pytorch: typeof torch === "string" ? torch : "python3-torch, 1 thread" };
}

export function formatTrainRows(rows: TrainBenchRow[]): string {
  return rows.map((r) =>
    `${r.model.padEnd(10)} batch ${String(r.batch).padStart(4)}  ours plain ${String(r.oursPlain).padStart(6)}  relaxed ${String(r.oursRelaxed ?? "-").padStart(6)}  pytorch ${String(r.pytorch1Thread ?? "-").padStart(6)} samples/s  ratio plain ${r.ratioPlain ?? "-"}  relaxed ${r.ratioRelaxed ?? "-"}`).join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await benchTrain({
    models: arg("models", "mlp,cnn-small").split(","),
    batches: arg("batches", "64,128").split(",").map(Number),
    rounds: Number(arg("rounds", "6")),
    slice: Number(arg("slice", "0.4")),
  });
  if (process.argv.includes("--json")) console.log(JSON.stringify({ benchmark: "train-step-1-thread", ...r }));
  else {
    console.log(formatTrainRows(r.rows));
    if (r.pytorch !== "python3-torch, 1 thread") console.log(`PyTorch comparison skipped: ${r.pytorch}`);
  }
}
