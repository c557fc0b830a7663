// The worker pool: results never depend on the number of workers, and a worker that throws
// or dies mid-step is replaced and its shard recomputed to the same result. Workers run the
// compiled dist/ (npm run build).
import test from "ava";
import { existsSync } from "node:fs";
import { loadData } from "../src/data/index.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { weightsHash } from "../src/io/bwk.js";
import { InlineExecutor, type Executor } from "../src/pool/executor.js";
import { PoolExecutor, WORKER_ENTRY } from "../src/pool/pool.js";
import { TASKS } from "../src/worker/entry.js";
import { ShardedEngine } from "../src/train/engine.js";
import { train } from "../src/train/loop.js";
import type { ObjectiveConfig } from "../src/train/objective.js";
import { createOptimizer } from "../src/train/optimizer.js";

const data = loadData("mnist", { limit: 384, testLimit: 10 });
const base = { norm: "linf", eps: 0.2, alpha: 0.05, steps: 2, restarts: 1, beta: 3, lo: 0, hi: 1 } as const;

test.before(() => {
  if (!existsSync(WORKER_ENTRY)) throw new Error(`${WORKER_ENTRY} missing: run npm run build first`);
});

async function run(objective: ObjectiveConfig, workers: number, arch = "mlp", hook?: (ex: Executor) => void): Promise<{ hash: string; retries: number }> {
  const model = new Model(architecture(arch)).init(5);
  const ex: Executor = workers === 0 ? new InlineExecutor(model.rt, TASKS) : new PoolExecutor(model.rt, { workers });
  try {
    hook?.(ex);
    const engine = new ShardedEngine(model, ex, 16, 64);
    const opt = createOptimizer(model, { name: "adam", lr: 1e-3 });
    await train(engine, data.train, opt, { epochs: 1, batchSize: 64, seed: 9, lr: 1e-3, schedule: { name: "constant" }, objective, epsWarmup: 0.5 });
    return { hash: weightsHash(model.params.f32), retries: ex instanceof PoolExecutor ? ex.retries : 0 };
  } finally {
    await ex.close();
  }
}

for (const name of ["standard", "fgsm-rs", "pgd", "trades"] as const) {
  test.serial(`${name}: weights after 6 steps are bit-identical for 0, 1, 2 and 3 workers`, async (t) => {
    const objective = { ...base, name };
    const hashes: string[] = [];
    for (const w of [0, 1, 2, 3]) hashes.push((await run(objective, w)).hash);
    t.log(hashes.map((h) => h.slice(0, 12)).join(" "));
    t.true(hashes.every((h) => h === hashes[0]), `hashes differ: ${hashes.join(", ")}`);
  });
}

test.serial("cnn-small pgd: 0 and 2 workers agree bit for bit", async (t) => {
  const objective = { ...base, name: "pgd" as const };
  const [a, b] = [await run(objective, 0, "cnn-small"), await run(objective, 2, "cnn-small")];
  t.is(a.hash, b.hash);
});

test.serial("a worker that throws, and one that dies, are replaced; the step result is unchanged", async (t) => {
  const objective = { ...base, name: "pgd" as const };
  const clean = await run(objective, 2);
  const faulty = await run(objective, 2, "mlp", (ex) => {
    (ex as PoolExecutor).faults = new Map([[0, "throw"], [2, "exit"]]);
  });
  t.is(faulty.retries, 2, "both faulty shards were run again");
  t.is(faulty.hash, clean.hash);
});
