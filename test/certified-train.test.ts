// Certified training (ibp, crown-ibp): the κ/β schedule, agreement with plain CE at ε = 0,
// finite-difference gradients of both losses on tiny dense and conv nets, bounds equal to
// the float64 verifier's (src/certify/bounds.ts), pooled = in-process weights, and that an
// IBP-trained net certifies far more samples than a standard one.
import test from "ava";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Stream } from "../src/core/random.js";
import { loadData, type DataSplit } from "../src/data/index.js";
import { weightsHash } from "../src/io/bwk.js";
import { architecture } from "../src/nn/architectures.js";
import type { LayerSpec, Shape } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import { InlineExecutor, type Executor } from "../src/pool/executor.js";
import { runTask, type TaskEnv } from "../src/pool/task.js";
import { Runtime } from "../src/core/runtime.js";
import { objectiveFrom, type TrainOptions } from "../src/cli/train.js";
import { PoolExecutor } from "../src/pool/pool.js";
import { marginBounds } from "../src/certify/bounds.js";
import { certifiedMix } from "../src/train/certified.js";
import { certifiedWorkspace, loadWeights } from "../src/train/certified-workspace.js";
import { crownMargins } from "../src/train/crown-pass.js";
import { ShardedEngine } from "../src/train/engine.js";
import { foldedMargins, intervalForward } from "../src/train/interval-pass.js";
import { train } from "../src/train/loop.js";
import { runObjective, standardStep, type ObjectiveConfig } from "../src/train/objective.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { TASKS } from "../src/worker/entry.js";
import { makeModel, testArena } from "./helpers/layercheck.js";

const dense = (i: number, o: number): LayerSpec => ({ type: "dense", in: i, out: o });
const relu: LayerSpec = { type: "relu" };
const MLP: { shape: Shape; layers: LayerSpec[] } = { shape: [6], layers: [dense(6, 10), relu, dense(10, 8), relu, dense(8, 4)] };
// A 4×4 conv with 8 output channels (the implicit-GEMM engine), a 3×3 one (im2col), pooling.
const CNN: { shape: Shape; layers: LayerSpec[] } = {
  shape: [1, 6, 6],
  layers: [
    { type: "conv2d", inChannels: 1, outChannels: 8, kernel: 4, stride: 2, padding: 1 }, relu,
    { type: "conv2d", inChannels: 8, outChannels: 4, kernel: 3, stride: 1, padding: 1 }, relu,
    { type: "avgpool2d", kernel: 2, stride: 1 }, { type: "flatten" }, dense(16, 6), relu, dense(6, 5),
  ],
};

// Input normalisation first (a negative std too): the radius must pass as r / |std|, unshifted.
const NORMALISED: { shape: Shape; layers: LayerSpec[] } = {
  shape: [6], layers: [{ type: "normalize", mean: [0.3], std: [-0.5] }, ...MLP.layers],
};

function objective(name: "ibp" | "crown-ibp", extra: Partial<ObjectiveConfig> = {}): ObjectiveConfig {
  return { name, norm: "linf", eps: 0.2, alpha: 0, steps: 0, restarts: 1, beta: 0, lo: 0, hi: 1, ...extra };
}

/** A tiny net with a seeded batch of n inputs in [0, 1] (clean copy at x0) and labels. */
function setup(net: { shape: Shape; layers: LayerSpec[] }, n = 5, seed = 3) {
  const model = makeModel(net.shape, net.layers, seed);
  const plan = model.plan(n);
  const d = model.inputSize;
  const x0 = testArena().f32(n * d);
  const s = new Stream(seed, 1);
  for (let i = 0; i < n * d; i++) x0.f32[i] = s.next();
  for (let i = 0; i < n; i++) plan.labels[i] = s.int(model.outputSize);
  const step = (o: ObjectiveConfig, eps: number) => {
    plan.input.set(x0.f32);
    const ws = { best: 0, bestLoss: new Float32Array(0), work: 0 };
    return runObjective(model, plan, n, o, { scale: 1 / n, seed: 0, epoch: 0, eps, x0: x0.ptr, samples: 0, ws });
  };
  return { model, plan, x0, n, step };
}

/**
 * Median relative error of the directional derivative along 5 random ±1 directions: analytic
 * (gradient · v) against central differences. Moving every weight at once crosses ReLU kinks
 * (of the clean pass and of both interval ends), which spoils single directions even for
 * plain CE at larger steps; at h = 1e-4 the median of a correct gradient stays ≲ 1e-2, while
 * dropping CROWN's slope gradients alone gives ≳ 5e-2.
 */
function directionalError(net: { shape: Shape; layers: LayerSpec[] }, o: ObjectiveConfig, eps: number, h = 1e-4): number {
  const { model, n, step } = setup(net);
  const loss = () => step(o, eps).lossSum / n;
  loss();
  const g = model.grads.f32.slice();
  const p = model.params.f32;
  const p0 = p.slice();
  const errors: number[] = [];
  for (let t = 0; t < 5; t++) {
    const r = new Stream(11, t);
    const v = Float64Array.from({ length: p.length }, () => (r.next() < 0.5 ? -1 : 1));
    let analytic = 0;
    for (let i = 0; i < p.length; i++) analytic += g[i] * v[i];
    for (let i = 0; i < p.length; i++) p[i] = p0[i] + h * v[i];
    const lp = loss();
    for (let i = 0; i < p.length; i++) p[i] = p0[i] - h * v[i];
    const lm = loss();
    p.set(p0);
    const numeric = (lp - lm) / (2 * h);
    errors.push(Math.abs(analytic - numeric) / Math.abs(numeric));
  }
  return errors.sort((a, b) => a - b)[2];
}

test("κ goes 1 → κ_end and β 1 → β_end as ε warms up; ibp has β = 0", (t) => {
  const c = objective("crown-ibp", { eps: 0.2, kappaEnd: 0.5, crownIbpBeta: 0.25 });
  t.deepEqual(certifiedMix(c, 0), { kappa: 1, beta: 1 });
  t.deepEqual(certifiedMix(c, 0.1), { kappa: 0.75, beta: 0.625 });
  t.deepEqual(certifiedMix(c, 0.2), { kappa: 0.5, beta: 0.25 });
  t.deepEqual(certifiedMix(c, 0.3), { kappa: 0.5, beta: 0.25 });
  t.deepEqual(certifiedMix(objective("ibp"), 0.2), { kappa: 0.5, beta: 0 });
  t.throws(() => setup(MLP).step(objective("ibp", { kappaEnd: 1.5 }), 0.1), { message: /κ_end must be in \[0, 1\]/ });
  t.throws(() => setup(MLP).step(objective("ibp", { norm: "l2" }), 0.1), { message: /L∞/ });
});

test("at ε = 0 the ibp and crown-ibp losses and gradients are plain cross-entropy's", (t) => {
  for (const net of [MLP, CNN]) {
    const { model, plan, x0, n, step } = setup(net);
    plan.input.set(x0.f32);
    const ref = standardStep(model, plan, n);
    const gRef = model.grads.f32.slice();
    for (const name of ["ibp", "crown-ibp"] as const) {
      // o.eps = 0: the warm-up is over (κ = κ_end), so the worst-case term is active.
      const r = step(objective(name, { eps: 0, kappaEnd: 0.3, crownIbpBeta: 0.5 }), 0);
      t.true(Math.abs(r.lossSum - ref.lossSum) < 1e-5 * ref.lossSum, `${name}: ${r.lossSum} vs ${ref.lossSum}`);
      t.is(r.correct, ref.correct);
      let worst = 0;
      let scale = 0;
      model.grads.f32.forEach((g, i) => {
        worst = Math.max(worst, Math.abs(g - gRef[i]));
        scale = Math.max(scale, Math.abs(gRef[i]));
      });
      t.true(worst < 1e-5 * scale, `${name}: gradient differs by ${worst} (scale ${scale})`);
    }
  }
});

for (const [netName, net] of [["dense", MLP], ["conv", CNN], ["normalised", NORMALISED]] as const) {
  test(`${netName} net: finite differences agree with the ibp gradient (worst case alone, and mixed with clean CE)`, (t) => {
    const pure = directionalError(net, objective("ibp", { kappaEnd: 0 }), 0.2);
    const mixed = directionalError(net, objective("ibp", { kappaEnd: 0.5 }), 0.1);
    t.log(`median relative error: pure ${pure.toExponential(2)}, mixed ${mixed.toExponential(2)}`);
    t.true(pure < 1e-2 && mixed < 1e-2);
  });

  test(`${netName} net: finite differences agree with the crown-ibp gradient (CROWN alone, and mixed with IBP and clean CE)`, (t) => {
    const pure = directionalError(net, objective("crown-ibp", { kappaEnd: 0, crownIbpBeta: 1 }), 0.2);
    const mixed = directionalError(net, objective("crown-ibp", { kappaEnd: 0.3, crownIbpBeta: 0.2 }), 0.1);
    t.log(`median relative error: pure ${pure.toExponential(2)}, mixed ${mixed.toExponential(2)}`);
    t.true(pure < 1e-2 && mixed < 1e-2);
  });

  test(`${netName} net: training-time IBP and CROWN-IBP margin bounds equal the verifier's (float64, no rounding allowance)`, (t) => {
    const { model, plan, x0, n } = setup(net, 6, 5);
    const eps = 0.15;
    const ws = certifiedWorkspace(model.rt, model.arch, plan.capacity);
    loadWeights(ws, model.params.f32);
    const labels = plan.labels.subarray(0, n);
    intervalForward(ws, x0.f32, n, eps, 0, 1);
    const ibp = foldedMargins(ws, labels, n);
    const crown = crownMargins(ws, x0.f32, labels, n, eps, 0, 1);
    const refIbp = marginBounds(model, x0.f32, labels, { method: "ibp", eps, rounding: "none" });
    const refCrown = marginBounds(model, x0.f32, labels, { method: "crown-ibp", eps, rounding: "none", pure: true });
    const C = model.outputSize;
    let worst = 0;
    let compared = 0;
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < C; j++) {
        if (j === labels[s]) continue;
        const a = ibp.mu[s * C + j] - ibp.rad[s * C + j];
        const b = crown.lower[s * C + j];
        worst = Math.max(worst, Math.abs(a - refIbp[s].lower[j]) / Math.max(1, Math.abs(refIbp[s].lower[j])));
        worst = Math.max(worst, Math.abs(b - refCrown[s].lower[j]) / Math.max(1, Math.abs(refCrown[s].lower[j])));
        compared += 2;
      }
    }
    t.log(`${compared} bounds, worst difference ${worst.toExponential(2)}`);
    t.true(worst < 1e-5, `worst ${worst}`);
    // CROWN-IBP is not looser than IBP on average here (it can be on single margins).
    let sumIbp = 0;
    let sumCrown = 0;
    for (let i = 0; i < n * C; i++) {
      sumIbp += ibp.mu[i] - ibp.rad[i];
      sumCrown += crown.lower[i];
    }
    t.true(sumCrown > sumIbp, `CROWN ${sumCrown} vs IBP ${sumIbp}`);
  });
}

let mnist: DataSplit | undefined;
function data(): DataSplit {
  mnist ??= loadData("mnist", { limit: 3000, testLimit: 200 });
  return mnist;
}

function ibpCertified(model: Model, ds: DataSplit["test"], eps: number): number {
  const y = Array.from(ds.y);
  const bounds = marginBounds(model, ds.x, y, { method: "ibp", eps });
  return bounds.filter((b) => b.lowest > 0).length / ds.n;
}

test.serial("an IBP-trained mlp certifies far more MNIST test samples at ε = 0.1 (IBP) than a standard one", async (t) => {
  const { train: tr, test: te } = data();
  const run = async (o?: ObjectiveConfig) => {
    const model = new Model(architecture("mlp"), testArena()).init(0);
    const opt = createOptimizer(model, { name: "adam", lr: 1e-3 });
    await train(model, tr, opt, { epochs: 3, batchSize: 50, seed: 0, lr: 1e-3, schedule: { name: "constant" }, objective: o, epsWarmup: o ? 0.5 : 0 });
    return ibpCertified(model, te, 0.1);
  };
  const standard = await run();
  const ibp = await run(objective("ibp", { eps: 0.1 }));
  t.log(`IBP-certified accuracy at ε = 0.1 on ${te.n} test samples: standard ${standard}, ibp ${ibp}`);
  t.true(ibp >= standard + 0.3, `ibp ${ibp} vs standard ${standard}`);
});

/**
 * What a pool does, on this thread: shards alternate between two WASM instances over the one
 * shared memory, each with its own task cache and so its own private certified workspace.
 */
class TwoInstanceExecutor implements Executor {
  readonly workers = 2;
  private readonly envs: TaskEnv[];

  constructor(rt: Runtime) {
    this.envs = [0, 1].map(() => ({ rt: new Runtime({ module: rt.module, memory: rt.memory, simd: rt.variant }), cache: new Map() }));
  }

  async run<R>(task: string, payloads: unknown[]): Promise<R[]> {
    return payloads.map((p, i) => runTask(TASKS, task, p, this.envs[i % 2]) as R);
  }

  async close(): Promise<void> {}
}

async function trainHash(name: "ibp" | "crown-ibp", executor: (m: Model) => Executor): Promise<string> {
  const model = new Model(architecture("cnn-small"), testArena()).init(4);
  const ex = executor(model);
  try {
    const engine = new ShardedEngine(model, ex, 16, 48);
    const opt = createOptimizer(model, { name: "adam", lr: 1e-3 });
    const sub = { ...data().train, n: 144 };
    await train(engine, sub, opt, { epochs: 1, batchSize: 48, seed: 2, lr: 1e-3, schedule: { name: "constant" }, objective: objective(name, { eps: 0.1 }), epsWarmup: 0.5 });
  } finally {
    await ex.close();
  }
  return weightsHash(model.params.f32);
}

test.serial("ibp and crown-ibp shards give the same weights whichever WASM instance runs them (in-process vs two instances)", async (t) => {
  for (const name of ["ibp", "crown-ibp"] as const) {
    const inline = await trainHash(name, (m) => new InlineExecutor(m.rt, TASKS));
    const two = await trainHash(name, (m) => new TwoInstanceExecutor(m.rt));
    t.is(two, inline, name);
  }
});

test("the CLI maps --kappa-end and --crown-ibp-beta into the objective and rejects values above 1", (t) => {
  const base = { objective: "crown-ibp", eps: 0.1, norm: "linf", pgdSteps: 10, restarts: 1, beta: 6, kappaEnd: 0.25, crownIbpBeta: 0.5 } as unknown as TrainOptions;
  const o = objectiveFrom(base);
  t.is(o.kappaEnd, 0.25);
  t.is(o.crownIbpBeta, 0.5);
  t.false("kappaEnd" in objectiveFrom({ ...base, objective: "pgd" }));
  t.throws(() => objectiveFrom({ ...base, kappaEnd: 2 }), { message: /--kappa-end must be in \[0, 1\]/ });
  t.throws(() => objectiveFrom({ ...base, crownIbpBeta: 1.5 }), { message: /--crown-ibp-beta must be in \[0, 1\]/ });
});

// The pool's workers run the compiled dist/; skip (visibly) until it has been rebuilt.
const DIST_CERTIFIED = fileURLToPath(new URL("../dist/train/certified.js", import.meta.url));
(existsSync(DIST_CERTIFIED) ? test.serial : test.skip)("pooled ibp and crown-ibp training give the same weights as in-process training (1 and 2 workers)", async (t) => {
  for (const name of ["ibp", "crown-ibp"] as const) {
    const inline = await trainHash(name, (m) => new InlineExecutor(m.rt, TASKS));
    for (const workers of [1, 2]) t.is(await trainHash(name, (m) => new PoolExecutor(m.rt, { workers })), inline, `${name}, ${workers} worker(s)`);
  }
});
