// Per-sample certification on the pool: samples/s of `certify` (PGD first, then bounds) with
// 1 and 2 workers on the same samples, interleaved in rounds (the shared VM's speed swings),
// best round of each, and the scaling ratio (issue 6 target: ≥ 1.85× from 1 to 2 workers).
// The model: a 784-64-64-10 MLP trained for one epoch in-process (seeded), so that the
// bounds see realistic unstable neurons.
//
//   npx tsx scripts/bench-certify-workers.ts [--method crown] [--eps 0.02] [--samples 200]
//     [--shard 8] [--rounds 3] [--precision float32|float64] [--json]
import { Runtime } from "../src/core/runtime.js";
import { defaultArena } from "../src/core/arena.js";
import { loadData } from "../src/data/index.js";
import { Model } from "../src/nn/model.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { PoolExecutor } from "../src/pool/pool.js";
import { ShardedEngine } from "../src/train/engine.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { certifyOn } from "../src/certify/verdict.js";
import type { BoundMethod } from "../src/certify/bounds.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const method = arg("method", "crown") as BoundMethod;
const eps = Number(arg("eps", "0.02"));
const samples = Number(arg("samples", "200"));
const shard = Number(arg("shard", "8"));
const rounds = Number(arg("rounds", "3"));
const precision = arg("precision", "float32") as "float32" | "float64";
const json = process.argv.includes("--json");

const rt = new Runtime();
const data = loadData("mnist", { limit: 10000, testLimit: samples });
const layers: LayerSpec[] = [
  { type: "flatten" }, { type: "dense", in: 784, out: 64 }, { type: "relu" },
  { type: "dense", in: 64, out: 64 }, { type: "relu" }, { type: "dense", in: 64, out: 10 },
];
const model = new Model({ name: "mlp-64", inputShape: [1, 28, 28], layers }, defaultArena(rt)).init(0);
await train(model, data.train, createOptimizer(model, { name: "adam", lr: 2e-3 }), { epochs: 1, batchSize: 64, seed: 0, lr: 2e-3, schedule: { name: "constant" } });
const indices = Uint32Array.from({ length: data.test.n }, (_, i) => i);
const best = new Map<number, number>();
let counts = "";
for (let r = 0; r < rounds; r++) {
  for (const workers of [1, 2]) {
    const executor = new PoolExecutor(rt, { workers });
    const engine = new ShardedEngine(model, executor, shard, shard * workers * 4);
    await certifyOn(engine, data.test, indices.subarray(0, workers * shard), { method, eps, steps: 40, precision }); // warm the threads
    const t0 = performance.now();
    const res = await certifyOn(engine, data.test, indices, { method, eps, steps: 40, precision });
    const rate = data.test.n / ((performance.now() - t0) / 1000);
    await executor.close();
    best.set(workers, Math.max(best.get(workers) ?? 0, rate));
    counts = JSON.stringify(res.counts);
    if (!json) console.log(`round ${r + 1}: ${workers} worker(s) ${rate.toFixed(1)} samples/s ${counts}`);
  }
}
const one = best.get(1)!;
const two = best.get(2)!;
const row = { benchmark: "certify-workers", method, precision, eps, samples: data.test.n, shard, simd: rt.variant, oneWorker: one, twoWorkers: two, scaling: two / one, counts: JSON.parse(counts) };
console.log(json ? JSON.stringify(row) : `${method} (${precision}) ε=${eps}: 1 worker ${one.toFixed(1)}, 2 workers ${two.toFixed(1)} samples/s, scaling ${(two / one).toFixed(2)}×`);
