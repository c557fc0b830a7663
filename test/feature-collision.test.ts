// Clean-label feature collision (poison frogs): the poisons stay images, land on their targets
// in feature space, are deterministic, flip retrained last layers, and the CLI writes them with a
// manifest (or fails in one line, writing nothing).
import test from "ava";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { limit, loadData, subset } from "../src/data/index.js";
import { saveModel } from "../src/io/bwk.js";
import type { Model } from "../src/nn/model.js";
import { chooseBases, collisionBeta, featureCollision, featureCollisionPoison, featureDistances } from "../src/poison/feature-collision.js";
import { FeatureExtractor } from "../src/poison/features.js";
import { poisonFrogs } from "../src/poison/poison-frogs.js";
import { bulwark, failsWith, json, tmp } from "./helpers/cli.js";
import { trainedMlp } from "./helpers/trained.js";

const data = loadData("mnist", { limit: 2000, testLimit: 1000 });
// Trained once before any test: the shared fixture hands out its model before training ends.
let trained: Model;
test.before(async () => {
  trained = await trainedMlp(data.train);
});
const model = async (): Promise<Model> => trained;


const SIZE = 784;
const rows = (ds: typeof data.train, idx: number[]) => subset(ds, idx).x;

test("the feature-term input gradient matches finite differences", async (t) => {
  const m = await model();
  const fx = new FeatureExtractor(m);
  t.is(fx.depth, m.layers.length - 1);
  t.is(fx.size, 256);
  const plan = m.plan(2);
  const x = rows(data.test, [3, 4]);
  const tf = (() => {
    m.rt.f32(plan.acts[0], 2 * SIZE).set(rows(data.test, [5, 6]));
    fx.forward(plan, 2);
    return fx.features(plan, 2).slice();
  })();
  const objective = (v: Float32Array): number => {
    m.rt.f32(plan.acts[0], 2 * SIZE).set(v);
    fx.forward(plan, 2);
    const f = fx.features(plan, 2);
    const g = fx.featureGrad(plan, 2);
    let s = 0;
    for (let j = 0; j < f.length; j++) {
      s += (f[j] - tf[j]) ** 2;
      g[j] = 2 * (f[j] - tf[j]);
    }
    return s;
  };
  objective(x);
  const grad = fx.inputGradient(plan, 2).slice();
  let worst = 0;
  // Pixels with ink, where the gradient is not zero (float64 objective, float32 network).
  const coords = [SIZE * 0 + 300, SIZE * 0 + 405, SIZE * 1 + 350, SIZE * 1 + 460, 180, SIZE + 210];
  for (const i of coords) {
    const h = 1e-2;
    const v = x[i];
    x[i] = v + h;
    const up = objective(x);
    x[i] = v - h;
    const down = objective(x);
    x[i] = v;
    const num = (up - down) / (2 * h);
    worst = Math.max(worst, Math.abs(num - grad[i]) / Math.max(1, Math.abs(num)));
  }
  t.true(worst < 2e-2, `worst relative error ${worst}`);
  t.throws(() => new FeatureExtractor(m, m.layers.length), { message: /feature layer 6 is out of range.*1\.\.5/ });
  t.throws(() => new FeatureExtractor(m, 0), { message: /out of range/ });
});

test("poisons stay in [0,1], collide with their targets in feature space, and change with β as they should", async (t) => {
  const m = await model();
  const bases = chooseBases(data.train, 3, 4, 1);
  t.true(bases.every((i) => data.train.y[i] === 3));
  t.is(new Set(bases).size, 4);
  const targets = [0, 1, 2, 4].filter((i) => data.test.y[i] !== 3);
  const b = rows(data.train, bases.slice(0, targets.length));
  const tx = rows(data.test, targets);
  const r = featureCollision(m, b, tx, { steps: 300 });
  t.is(r.beta, collisionBeta(0.25, 256, 784));
  t.true(r.poisons.every((v) => v >= 0 && v <= 1));
  for (let k = 0; k < targets.length; k++) {
    t.true(r.featureDistance[k] < 0.1 * r.baseFeatureDistance[k], `poison ${k}: ${r.featureDistance[k]} vs base ${r.baseFeatureDistance[k]}`);
    t.true(r.pixelDistance[k] > 0);
  }
  // The distances it reports are the distances of the images it returns.
  const again = featureDistances(m, undefined, r.poisons, tx);
  again.forEach((d, k) => t.true(Math.abs(d - r.featureDistance[k]) < 1e-3 * Math.max(1, d)));
  // A much larger β keeps the poison nearer its base (and farther from the target's features).
  const tight = featureCollision(m, b, tx, { steps: 300, beta0: 400 });
  for (let k = 0; k < targets.length; k++) {
    t.true(tight.pixelDistance[k] < r.pixelDistance[k]);
    t.true(tight.featureDistance[k] > r.featureDistance[k]);
  }
  // An earlier layer (the first hidden layer's ReLU) works the same way.
  const early = featureCollision(m, b.subarray(0, SIZE), tx.subarray(0, SIZE), { steps: 50, depth: 3 });
  t.like(early, { depth: 3, featureSize: 256 });
  t.true(early.featureDistance[0] < 0.5 * early.baseFeatureDistance[0]);
  // No steps: the poison is the base.
  const none = featureCollision(m, b, tx, { steps: 0 });
  t.deepEqual(none.poisons, b);
  t.throws(() => featureCollision(m, b, tx.subarray(0, SIZE)), { message: /as many targets as bases/ });
});

test("featureCollisionPoison: appended, clean-label, deterministic with a seed", async (t) => {
  const m = await model();
  const train = limit(data.train, 500);
  const o = { targets: [0, 1], baseClass: 5, seed: 7, steps: 60 };
  const a = featureCollisionPoison(m, train, data.test, o);
  const b = featureCollisionPoison(m, train, data.test, o);
  t.deepEqual(a.poisoned, [500, 501]);
  t.is(a.data.n, 502);
  t.deepEqual(Array.from(a.data.y.subarray(500)), [5, 5]);
  t.deepEqual(a.data.x.subarray(0, 500 * SIZE), train.x);
  t.deepEqual(a.poisons, b.poisons);
  t.deepEqual(a.bases, b.bases);
  t.true(a.bases.every((i) => train.y[i] === 5));
  const c = featureCollisionPoison(m, train, data.test, { ...o, seed: 8 });
  t.notDeepEqual(c.bases, a.bases);
  t.throws(() => featureCollisionPoison(m, train, data.test, { ...o, targets: [data.test.n] }), { message: /target index 1000 is outside the test set/ });
  const own = Array.from({ length: 50 }, (_, i) => i).find((i) => data.test.y[i] === 5)!;
  t.throws(() => featureCollisionPoison(m, train, data.test, { ...o, targets: [own] }), { message: /already of base class 5/ });
});

test("one poison per target flips a retrained last layer on most targets; the unchanged base does not", async (t) => {
  const m = await model();
  const retrain = limit(data.train, 300);
  const head = { weightDecay: 1e-4 };
  const r = poisonFrogs(m, retrain, data.test, { targets: 8, baseClass: null, seed: 1, collision: { steps: 300 }, head });
  t.is(r.targets, 8);
  t.is(r.cleanRetrainedBaseRate, 0);
  t.true(r.headFit.cleanGradNorm < 1e-3 && r.headFit.maxPoisonedGradNorm < 1e-3, JSON.stringify(r.headFit));
  t.true(r.successRate >= 0.6, `success rate ${r.successRate}`);
  t.true(r.meanFeatureDistance < 0.1 * r.meanBaseFeatureDistance);
  t.true(r.accuracy.poisonedMin > r.accuracy.cleanRetrained - 0.02, JSON.stringify(r.accuracy));
  // Control: the base image itself (no optimisation) as the "poison" moves nothing.
  const control = poisonFrogs(m, retrain, data.test, { targets: 8, baseClass: null, seed: 1, collision: { steps: 0 }, head });
  t.true(control.successRate <= 0.125, `control success rate ${control.successRate}`);
});

test("CLI: writes the poisons and a manifest with target and poison indices; one-line errors write nothing", async (t) => {
  const dir = tmp(t);
  const modelPath = join(dir, "m.bwk");
  const m = await model();
  saveModel(modelPath, { architecture: m.arch, params: m.params.f32.slice() });
  const common = ["poison", "--data", "mnist", "--limit", "300", "--attack", "feature-collision"];
  const run = (extra: string[], out: string) => bulwark([...common, ...extra, "--out", join(dir, out)]);
  const [ok, noModel, farTarget, badIndex, badLayer] = await Promise.all([
    run(["--model", modelPath, "--target-index", "0,1", "--base-class", "3", "--steps", "100", "--seed", "2", "--json"], "p"),
    run(["--target-index", "0", "--base-class", "3"], "a"),
    run(["--model", modelPath, "--target-index", "10000", "--base-class", "3"], "b"),
    run(["--model", modelPath, "--target-index", "x", "--base-class", "3"], "c"),
    run(["--model", modelPath, "--target-index", "0", "--base-class", "3", "--layer", "9"], "d"),
  ]);
  const r = json(t, ok);
  t.deepEqual(r.targets, [0, 1]);
  t.deepEqual(r.poisoned, [300, 301]);
  const out = join(dir, "p");
  const man = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
  t.like(man, { format: "bulwark-poison", attack: "feature-collision", trainSamples: 302, poisoned: [300, 301], targets: [0, 1], baseClass: 3, layer: 5, originalLabels: [3, 3], cleanLabel: true });
  t.is(man.bases.length, 2);
  t.true(man.featureDistance.every((d: number, k: number) => d < 0.2 * man.baseFeatureDistance[k]));
  const back = loadData(out);
  t.is(back.train.n, 302);
  t.is(back.train.y[300], 3);

  failsWith(t, noModel, 1, /needs --model/, "no model");
  failsWith(t, farTarget, 1, /--target-index 10000 is outside the test set \(0\.\.9999\)/, "target out of range");
  failsWith(t, badIndex, 2, /--target-index must be/, "bad index");
  failsWith(t, badLayer, 1, /feature layer 9 is out of range/, "bad layer");
  t.false(["a", "b", "c", "d"].some((x) => existsSync(join(dir, x))));
});
