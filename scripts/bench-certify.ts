// Certification bound speed: the batched float32 WASM path (src/certify/fast.ts) against the
// float64 reference path (src/certify/bounds.ts), on a 784-64-64-10 MLP (default) or a CNN
// trained here for one epoch on MNIST (or loaded from a .bwk file), at batch 100, one thread.
//
//   npx tsx scripts/bench-certify.ts                     default: MLP, ε = 0.1, clip to [0,1], 100 test samples
//   npx tsx scripts/bench-certify.ts --eps 0.05 --batch 100 --train 20000 --reps 20 --json
//   npx tsx scripts/bench-certify.ts --model cnn-small --eps 0.02,0.1   cnn-small (conv 1→16→32, dense 1568→100→10)
//   npx tsx scripts/bench-certify.ts --model-file m.bwk --eps 0.1       a trained model from a file
//   (each float32 case runs ≥ --reps calls and ≥ 2 s; the fastest call is reported, with the median;
//   the float64 path, slow on CNNs, is timed and compared on the first --ref-samples samples:
//   default all of them for the MLP, 10 for CNNs; --pure adds pure CROWN for CNNs)
//   BULWARK_SIMD=relaxed npx tsx scripts/bench-certify.ts   the fused multiply-add build
//
// Reports samples/s per method and path (fastest of --reps calls, and the median; also by CPU
// time, which a busy machine disturbs less than wall time), the
// back-substitution's GEMM FLOPs (2·M·N·K of every product it runs) and GF/s over the whole
// back-substitution and inside its GEMM calls, our sgemm's GF/s on the back-substitution's
// dominant shape measured in the same run, certified counts, the largest float32 − float64
// difference of the exact-arithmetic bounds with the float32 error terms dropped, the largest
// widening those error terms cost, and the network rounding allowance of bounds.ts beside it.
import { loadData } from "../src/data/index.js";
import { Model } from "../src/nn/model.js";
import { architecture, type Architecture } from "../src/nn/architectures.js";
import { loadModel } from "../src/io/bwk.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { marginBounds, type BoundMethod } from "../src/certify/bounds.js";
import { fastMarginBounds, type FastStats } from "../src/certify/fast.js";
import { logitMargins } from "../src/certify/verdict.js";
import { Arena } from "../src/core/arena.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}

function argStr(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const epsList = argStr("eps", "0.1").split(",").map((v) => {
  const e = Number(v);
  if (!(e >= 0)) throw new Error(`--eps needs numbers, got '${v}'`);
  return e;
});
const batch = arg("batch", 100);
const trainN = arg("train", 20000);
const reps = arg("reps", 15);
const json = process.argv.includes("--json");
const modelFile = argStr("model-file", "");
const modelName = argStr("model", "mlp-784-64-64-10");

const MLP: Architecture = {
  name: "mlp-784-64-64-10",
  inputShape: [1, 28, 28],
  layers: [
    { type: "flatten" }, { type: "dense", in: 784, out: 64 }, { type: "relu" },
    { type: "dense", in: 64, out: 64 }, { type: "relu" }, { type: "dense", in: 64, out: 10 },
  ],
};

const data = loadData("mnist", { limit: modelFile ? 100 : trainN, testLimit: batch });
let model: Model;
let origin: string;
if (modelFile) {
  const f = loadModel(modelFile);
  model = new Model(f.architecture);
  model.setParams(f.params);
  origin = `${f.architecture.name} from ${modelFile}`;
} else {
  model = new Model(modelName === MLP.name || modelName === "mlp-64" ? MLP : architecture(modelName)).init(1);
  const opt = createOptimizer(model, { name: "adam", lr: 2e-3 });
  await train(model, data.train, opt, { epochs: 1, batchSize: 64, seed: 1, lr: 2e-3, schedule: { name: "constant" } });
  origin = `${model.arch.name} (1 epoch on ${trainN} MNIST images)`;
}
const isConv = model.arch.layers.some((l) => l.type === "conv2d");
const refN = Math.min(batch, arg("ref-samples", isConv ? 10 : batch));
const x = data.test.x.subarray(0, batch * 784);
const y = Array.from(data.test.y.subarray(0, batch));
const xr = x.subarray(0, refN * 784);
const yr = y.slice(0, refN);
const clean = logitMargins(model, x, y);
const accuracy = clean.filter((m, s) => m.every((v, j) => j === y[s] || v > 0)).length / batch;

/** CPU seconds of this process so far (user + system). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Best and median seconds of `reps` calls after two warm-up calls, and the best in CPU seconds. */
function time(f: () => void, n: number): { best: number; median: number; bestCpu: number } {
  f();
  f();
  const t: number[] = [];
  let bestCpu = Infinity;
  for (let i = 0; i < n; i++) {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    f();
    t.push((performance.now() - t0) / 1000);
    bestCpu = Math.min(bestCpu, cpuSeconds() - c0);
  }
  t.sort((a, b) => a - b);
  return { best: t[0], median: t[Math.floor(t.length / 2)], bestCpu };
}

/** Our sgemm on the back-substitution's dominant shape: (rows × 64)·(64 × 784), NN; GF/s by wall and by CPU time. */
function sgemmGflops(M: number, N: number, K: number): { wall: number; cpu: number } {
  const rt = model.rt;
  const arena = new Arena(rt, model.arena.used + (1 << 20));
  const a = arena.f32(M * K);
  const b = arena.f32(K * N);
  const c = arena.f32(M * N);
  const work = arena.bytes(rt.k.gemmWorkBytes());
  for (let i = 0; i < a.length; i++) a.f32[i] = Math.sin(i);
  for (let i = 0; i < b.length; i++) b.f32[i] = Math.cos(i);
  const reps = Math.max(3, Math.round(2e9 / (2 * M * N * K) / 10));
  const { best, bestCpu } = time(() => {
    for (let r = 0; r < reps; r++) rt.k.gemm(0, 0, M, N, K, a.ptr, K, b.ptr, N, c.ptr, N, 0, work);
  }, 25);
  return { wall: (2 * M * N * K * reps) / best / 1e9, cpu: (2 * M * N * K * reps) / bestCpu / 1e9 };
}

interface Row {
  eps: number;
  method: string;
  path: string;
  samplesPerSec: number;
  medianSamplesPerSec: number;
  /** samples per CPU second of the call that used the least CPU time. */
  cpuSamplesPerSec: number;
  backGflop?: number;
  backGflops?: number;
  denseGflop?: number;
  denseGflops?: number;
  gemmGflops?: number;
  backShare?: number;
  /** max |float32 − float64| of the exact-arithmetic bounds, float32 error terms dropped. */
  maxRawDiff?: number;
  /** max widening of the float32 computation (sound − raw) and the network allowance of bounds.ts. */
  maxWidening?: number;
  networkAllowance?: number;
  certified?: number;
  /** Samples the row's figures are over (the float64 path: the first --ref-samples). */
  samples: number;
  /** Rows back-substituted per sample, and of them on windows (conv layers' intermediate bounds). */
  rowsPerSample?: number;
  windowRowsPerSample?: number;
}

const rows: Row[] = [];
const cases: { label: string; method: BoundMethod; pure: boolean }[] = [
  { label: "ibp", method: "ibp", pure: false },
  ...(isConv && !process.argv.includes("--pure") ? [] : [{ label: "crown (pure)", method: "crown" as const, pure: true }]),
  { label: "crown (unstable only, ∩ IBP)", method: "crown", pure: false },
  { label: "crown-ibp", method: "crown-ibp", pure: false },
];
for (const eps of epsList) for (const c of cases) {
  const o = { method: c.method, eps, pure: c.pure };
  // Each rep records its own total and back-substitution time; the fastest rep is reported.
  fastMarginBounds(model, x, y, o);
  fastMarginBounds(model, x, y, o);
  const runs: { total: number; cpu: number; stats: FastStats }[] = [];
  // At least `reps` calls and 2 s: on a shared machine the fastest call is the least disturbed one.
  const start = performance.now();
  for (let r = 0; r < reps || performance.now() - start < 2000; r++) {
    const stats: FastStats = { gemmFlops: 0, denseFlops: 0, backMs: 0, gemmMs: 0, rows: 0, windowRows: 0 };
    const c0 = cpuSeconds();
    const t0 = performance.now();
    fastMarginBounds(model, x, y, o, stats);
    runs.push({ total: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0, stats });
  }
  runs.sort((a, b) => a.total - b.total);
  const best = runs[0];
  const median = runs[Math.floor(runs.length / 2)].total;
  const bestCpu = Math.min(...runs.map((r) => r.cpu));
  // Accuracy against the float64 path on the first refN samples.
  const ref = marginBounds(model, xr, yr, { ...o, rounding: "none" });
  const raw = fastMarginBounds(model, xr, yr, { ...o, rounding: "none", errorTerms: false });
  const sound = fastMarginBounds(model, xr, yr, { ...o, rounding: "none" });
  const refNet = marginBounds(model, xr, yr, o);
  let maxRawDiff = 0;
  let maxWidening = 0;
  let networkAllowance = 0;
  ref.forEach((r, s) => r.lower.forEach((v, j) => {
    if (j === y[s]) return;
    maxRawDiff = Math.max(maxRawDiff, Math.abs(v - raw[s].lower[j]));
    maxWidening = Math.max(maxWidening, raw[s].lower[j] - sound[s].lower[j]);
    networkAllowance = Math.max(networkAllowance, v - refNet[s].lower[j]);
  }));
  const refT = time(() => marginBounds(model, xr, yr, o), c.method === "ibp" && !isConv ? 3 : 1);
  const certified = fastMarginBounds(model, x, y, o).filter((b) => b.lowest > 0).length;
  const st = best.stats;
  rows.push({
    eps, samples: batch, rowsPerSample: st.rows / batch, windowRowsPerSample: (st.windowRows ?? 0) / batch,
    method: c.label, path: "float32 (fast.ts)", samplesPerSec: batch / best.total, medianSamplesPerSec: batch / median, cpuSamplesPerSec: batch / bestCpu,
    backGflop: st.gemmFlops / 1e9, backGflops: st.backMs > 0 ? st.gemmFlops / (st.backMs / 1000) / 1e9 : undefined,
    denseGflop: st.denseFlops / 1e9, denseGflops: st.backMs > 0 ? st.denseFlops / (st.backMs / 1000) / 1e9 : undefined,
    gemmGflops: st.gemmMs > 0 ? st.gemmFlops / (st.gemmMs / 1000) / 1e9 : undefined,
    backShare: st.backMs / 1000 / best.total, maxRawDiff, maxWidening, networkAllowance, certified,
  });
  rows.push({
    eps, samples: refN,
    method: c.label, path: "float64 (bounds.ts)", samplesPerSec: refN / refT.best, medianSamplesPerSec: refN / refT.median, cpuSamplesPerSec: refN / refT.bestCpu,
    certified: refNet.filter((b) => b.lowest > 0).length,
  });
}
// Our sgemm on the MLP back-substitution's dominant shape (the CNNs' products are convolutions).
const sgemm = isConv ? undefined : sgemmGflops(640, 784, 64);
const sgemmSquare = sgemmGflops(256, 256, 256);

if (json) {
  console.log(JSON.stringify({ model: origin, eps: epsList, batch, refSamples: refN, accuracy, simd: model.rt.variant, sgemmGflops: sgemm?.wall, sgemmCpuGflops: sgemm?.cpu, sgemm256Gflops: sgemmSquare.wall, rows }, null, 2));
} else {
  console.log(`${origin}, clean accuracy ${(100 * accuracy).toFixed(1)} % on ${batch} test images; ε = ${epsList.join(", ")}, clip [0,1], batch ${batch}, 1 thread, ${model.rt.variant} SIMD`);
  console.log(`float64 path timed and compared on the first ${refN} samples (samples/s and certified count over those)`);
  if (sgemm) console.log(`sgemm in this run: ${sgemm.wall.toFixed(1)} GF/s on 640×64·64×784 (the back-substitution's shape; ${sgemm.cpu.toFixed(1)} by CPU time), ${sgemmSquare.wall.toFixed(1)} GF/s on 256³`);
  else console.log(`sgemm in this run: ${sgemmSquare.wall.toFixed(1)} GF/s on 256³`);
  console.log("back GFLOP: products as run (conv: the transposed convolutions' MACs ×2); dense: textbook CROWN's products (every column, full planes), GF/s over the whole back-substitution");
  console.log("ε      method                        path                 samples/s  (median)     (cpu)  rows/smp  (windows)  back GFLOP  back GF/s  (in GEMM)  dense GFLOP  back share  certified  max|Δ| raw  widening  net allowance");
  const f = (v: number | undefined, w: number, d: number, e = false): string => (v === undefined ? "" : e ? v.toExponential(1) : v.toFixed(d)).padStart(w);
  for (const r of rows) {
    console.log(
      `${String(r.eps).padEnd(7)}${r.method.padEnd(30)}${r.path.padEnd(20)}${f(r.samplesPerSec, 10, 1)}${f(r.medianSamplesPerSec, 10, 1)}${f(r.cpuSamplesPerSec, 10, 1)}` +
      `${f(r.rowsPerSample, 10, 1)}${f(r.windowRowsPerSample, 11, 1)}${f(r.backGflop, 12, 3)}` +
      `${f(r.backGflops, 11, 1)}${f(r.gemmGflops, 11, 1)}${f(r.denseGflop, 13, 3)}${r.backShare !== undefined ? f(100 * r.backShare, 10, 0) + " %" : "".padStart(12)}` +
      `${f(r.certified, 11, 0)}${f(r.maxRawDiff, 12, 0, true)}${f(r.maxWidening, 10, 0, true)}${f(r.networkAllowance, 15, 0, true)}`,
    );
  }
}
