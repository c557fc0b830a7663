// Poisoning attacks: label flips and BadNets backdoors change exactly the samples they name,
// deterministically, write a dataset the loaders read back, and a backdoor really plants
// its behaviour in a model trained on it.
import test from "ava";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadData } from "../src/data/index.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { evaluate } from "../src/train/evaluate.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { applyTrigger, backdoor, DEFAULT_TRIGGER, labelFlip, triggeredTestSet } from "../src/poison/attacks.js";
import { writePoisonedSet } from "../src/poison/write.js";

const data = loadData("mnist", { limit: 6000, testLimit: 1000 });

test("random label flips: the named fraction, each to another class, nothing else changed, seeded", (t) => {
  const r = labelFlip(data.train, { fraction: 0.1, target: null, seed: 3 });
  t.is(r.poisoned.length, 600);
  const set = new Set(r.poisoned);
  for (let i = 0; i < data.train.n; i++) {
    if (set.has(i)) t.not(r.data.y[i], data.train.y[i]);
    else t.is(r.data.y[i], data.train.y[i]);
  }
  t.deepEqual(r.data.x, data.train.x);
  t.deepEqual(labelFlip(data.train, { fraction: 0.1, target: null, seed: 3 }).poisoned, r.poisoned);
  t.notDeepEqual(labelFlip(data.train, { fraction: 0.1, target: null, seed: 4 }).poisoned, r.poisoned);
});

test("targeted flips relabel samples of other classes to the target", (t) => {
  const r = labelFlip(data.train, { fraction: 0.05, target: 3, seed: 0 });
  for (const i of r.poisoned) {
    t.not(data.train.y[i], 3);
    t.is(r.data.y[i], 3);
  }
  t.throws(() => labelFlip(data.train, { fraction: 0, target: null, seed: 0 }), { message: /fraction must be in/ });
  t.throws(() => labelFlip(data.train, { fraction: 0.1, target: 10, seed: 0 }), { message: /target class/ });
});

test("backdoor: the patch sits in the bottom-right corner, labels go to the target, the rest is untouched", (t) => {
  const r = backdoor(data.train, { fraction: 0.05, target: 7, seed: 1 });
  t.is(r.poisoned.length, 300);
  const i = r.poisoned[0];
  const px = (ds: typeof data.train, k: number, y: number, x: number) => ds.x[k * 784 + y * 28 + x];
  for (let y = 24; y < 27; y++) for (let x = 24; x < 27; x++) t.is(px(r.data, i, y, x), 1);
  t.is(px(r.data, i, 27, 27), px(data.train, i, 27, 27), "the margin row/column stays");
  t.is(r.data.y[i], 7);
  const clean = Array.from({ length: 50 }, (_, k) => k).find((k) => !r.poisoned.includes(k))!;
  t.deepEqual(r.data.x.subarray(clean * 784, clean * 784 + 784), data.train.x.subarray(clean * 784, clean * 784 + 784));
  const trig = triggeredTestSet(data.test, 7);
  t.true(Array.from(trig.y).every((y) => y !== 7));
  const x = new Float32Array(784);
  t.throws(() => applyTrigger(x, 0, [1, 3, 3], DEFAULT_TRIGGER), { message: /does not fit/ });
});

test("a poisoned set round-trips through IDX files and the manifest", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-poison-"));
  const r = backdoor(data.train, { fraction: 0.02, target: 1, seed: 2 });
  writePoisonedSet(dir, r.data, data.test, { poisoned: r.poisoned });
  const back = loadData(dir);
  t.is(back.train.n, data.train.n);
  t.deepEqual(back.train.y, r.data.y);
  let worst = 0;
  for (let k = 0; k < back.train.x.length; k++) worst = Math.max(worst, Math.abs(back.train.x[k] - r.data.x[k]));
  t.true(worst <= 0.5 / 255 + 1e-7);
  t.deepEqual(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")).poisoned, r.poisoned);
});

test.serial("a 5 % backdoor is learned: high attack success, clean accuracy close to an unpoisoned model", async (t) => {
  const fit = async (ds: typeof data.train) => {
    const m = new Model(architecture("mlp")).init(4);
    await train(m, ds, createOptimizer(m, { name: "adam", lr: 5e-3 }), { epochs: 2, batchSize: 64, seed: 4, lr: 5e-3, schedule: { name: "onecycle" } });
    return m;
  };
  const poisoned = backdoor(data.train, { fraction: 0.05, target: 7, seed: 0 });
  const [clean, dirty] = [await fit(data.train), await fit(poisoned.data)];
  const trig = triggeredTestSet(data.test, 7);
  // Attack success: the share of triggered non-7 test images classified as 7.
  const success = evaluate(dirty, { ...trig, y: new Uint8Array(trig.n).fill(7) }).accuracy;
  const accClean = evaluate(clean, data.test).accuracy;
  const accDirty = evaluate(dirty, data.test).accuracy;
  t.log(`attack success ${success.toFixed(3)}; clean accuracy ${accClean.toFixed(3)} unpoisoned vs ${accDirty.toFixed(3)} poisoned`);
  t.true(success >= 0.9, `attack success ${success}`);
  t.true(accDirty >= accClean - 0.03);
});

