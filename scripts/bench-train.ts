// Clean-training throughput on one thread: our step (forward, softmax cross-entropy, backward,
// Adam) for mlp and cnn-small, beside the same step in PyTorch 1.13 (Debian python3-torch, run
// with /usr/bin/python3, one thread, OpenMP passive) in the same run. Prints samples/s and the
// ratio ours/PyTorch. Skips PyTorch with a message when it is not installed.
//
//   npx tsx scripts/bench-train.ts [--models mlp,cnn-small] [--batches 64,128] [--seconds 2] [--json]
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Arena } from "../src/core/arena.js";
import { Stream } from "../src/core/random.js";
import { Runtime } from "../src/core/runtime.js";
import { relaxedSimdAvailable } from "../src/core/module.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { standard } from "../src/train/objective.js";
import { createOptimizer } from "../src/train/optimizer.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const models = arg("models", "mlp,cnn-small").split(",");
const batches = arg("batches", "64,128").split(",").map(Number);
const seconds = Number(arg("seconds", "2"));
const json = process.argv.includes("--json");
const PY = "/usr/bin/python3";
const TORCH_SCRIPT = fileURLToPath(new URL("./torch_step.py", import.meta.url));

function ours(simd: "plain" | "relaxed", name: string, batch: number): number {
  const rt = new Runtime({ simd });
  const model = new Model(architecture(name), new Arena(rt)).init(0);
  const opt = createOptimizer(model, { name: "adam", lr: 1e-3 });
  const plan = model.plan(batch);
  const s = new Stream(0, 1);
  for (let i = 0; i < batch * model.inputSize; i++) plan.input[i] = s.next();
  for (let i = 0; i < batch; i++) plan.labels[i] = i % 10;
  const step = () => {
    standard.step(model, plan, batch);
    opt.step(1e-3);
  };
  for (let i = 0; i < 5; i++) step();
  // Best of 5 slices: other processes share the cores, the best slice is the machine's speed.
  let best = 0;
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (seconds * 1000) / 5) {
      step();
      n++;
    }
    best = Math.max(best, (n * batch) / ((performance.now() - t0) / 1000));
  }
  return best;
}

let torchNote = "";
function torchAvailable(): boolean {
  if (!existsSync(PY)) {
    torchNote = `${PY} not found`;
    return false;
  }
  try {
    execFileSync(PY, ["-c", "import torch"], { stdio: "pipe" });
    return true;
  } catch {
    torchNote = "PyTorch not installed (apt-get install python3-torch libopenblas0-pthread)";
    return false;
  }
}

function torch(name: string, batch: number): number {
  const out = execFileSync(PY, [TORCH_SCRIPT, "--model", name, "--batch", String(batch), "--threads", "1", "--seconds", String(seconds)], {
    env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1", OMP_WAIT_POLICY: "PASSIVE" },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop()!).samplesPerSecond;
}

const haveTorch = torchAvailable();
const haveRelaxed = relaxedSimdAvailable();
const rows: Record<string, unknown>[] = [];
for (const name of models) {
  for (const batch of batches) {
    const plain = ours("plain", name, batch);
    const relaxed = haveRelaxed ? ours("relaxed", name, batch) : null;
    const pt = haveTorch ? torch(name, batch) : null;
    const row = {
      model: name, batch, oursPlain: Math.round(plain), oursRelaxed: relaxed && Math.round(relaxed),
      pytorch1Thread: pt && Math.round(pt),
      ratioPlain: pt ? +(plain / pt).toFixed(3) : null,
      ratioRelaxed: pt && relaxed ? +(relaxed / pt).toFixed(3) : null,
    };
    rows.push(row);
    if (!json) {
      console.log(`${name.padEnd(10)} batch ${String(batch).padStart(4)}  ours plain ${String(row.oursPlain).padStart(6)}  relaxed ${String(row.oursRelaxed ?? "-").padStart(6)}  pytorch ${String(row.pytorch1Thread ?? "-").padStart(6)} samples/s  ratio plain ${row.ratioPlain ?? "-"}  relaxed ${row.ratioRelaxed ?? "-"}`);
    }
  }
}
if (!haveTorch && !json) console.log(`PyTorch comparison skipped: ${torchNote}`);
if (json) console.log(JSON.stringify({ benchmark: "train-step-1-thread", rows, pytorch: haveTorch ? "python3-torch" : torchNote }));
