// Poisoning defences (spectral signatures, activation clustering, the robust-PCA filter) and
// `bulwark sanitize`: they find a planted population, leave clean data alone (a defence that
// flags clean classes wholesale is a known failure), never drop a whole class, refuse NaN,
// and the command writes a cleaned IDX set with a manifest and nothing on bad input.
import test from "ava";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { Stream } from "../src/core/random.js";
import { loadData, loadIdxDirectory } from "../src/data/index.js";
import { saveModel } from "../src/io/bwk.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { backdoor } from "../src/poison/attacks.js";
import { layerActivations } from "../src/poison/defences/activations.js";
import { defend, defendActivations, DEFENCES, detection, type DefenceName } from "../src/poison/defences/sanitize.js";
import { MAX_POPULATION_SHARE, twoGroupSplit } from "../src/poison/defences/split.js";
import { writePoisonedSet } from "../src/poison/write.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { runSanitize, type SanitizeOptions } from "../src/cli/sanitize.js";

function tmp(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), "bulwark-sanitize-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/**
 * Synthetic representations: `classes` classes of `perClass` samples in `width` dims, each a
 * correlated Gaussian cloud (a few strong directions, like real activations) around its own
 * mean; `planted` samples of class `target` are moved by a common offset of size `shift`.
 */
function synthetic(o: { classes: number; perClass: number; width: number; target: number; planted: number; shift: number; seed: number }) {
  const s = new Stream(o.seed, 0x5a17);
  const n = o.classes * o.perClass;
  const acts = new Float32Array(n * o.width);
  const labels = new Uint8Array(n);
  const means = Array.from({ length: o.classes }, () => Array.from({ length: o.width }, () => 3 * s.normal()));
  const mix = Array.from({ length: 4 }, () => Array.from({ length: o.width }, () => s.normal()));
  const offset = Array.from({ length: o.width }, (_, j) => (j % 3 === 0 ? 1 : 0));
  const norm = Math.hypot(...offset);
  const planted: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / o.perClass);
    labels[i] = c;
    const factors = mix.map((_, q) => (2 - q * 0.4) * s.normal());
    const poison = c === o.target && i % o.perClass < o.planted;
    if (poison) planted.push(i);
    for (let j = 0; j < o.width; j++) {
      let v = means[c][j] + 0.5 * s.normal();
      for (let q = 0; q < mix.length; q++) v += factors[q] * mix[q][j] / 4;
      if (poison) v += (o.shift * offset[j]) / norm;
      acts[i * o.width + j] = v;
    }
  }
  return { acts, labels, planted, width: o.width, classes: o.classes };
}

test("two-group split: the exact 1-D 2-means cut and Ashman's D", (t) => {
  const s = twoGroupSplit([0, 1, 2, 10, 11, 12]);
  t.is(s.cut, 2);
  t.is(s.lowCount, 3);
  t.is(s.highCount, 3);
  t.true(Math.abs(s.separation - 10 / Math.sqrt(2 / 3)) < 1e-9);
  t.is(twoGroupSplit([4, 4, 4]).separation, 0);
  t.throws(() => twoGroupSplit([1, NaN, 2]), { message: /non-finite/ });
});

for (const name of DEFENCES) {
  test(`${name}: finds a planted population (25 % of one class), flags nothing in the others, deterministic`, (t) => {
    const d = synthetic({ classes: 4, perClass: 400, width: 24, target: 2, planted: 100, shift: 12, seed: 1 });
    const r = defendActivations(name, d.acts, d.width, d.labels, d.classes, { layer: 0, seed: 3 });
    const det = detection(r.flagged, d.planted);
    t.true(det.tpr >= 0.95, `TPR ${det.tpr}`);
    t.true(det.fpr <= (name === "spectral" ? 0.05 : 0.01), `FPR ${det.fpr}`);
    t.deepEqual(r.classes.filter((c) => c.suspicious).map((c) => c.class), [2]);
    for (const c of r.classes) if (c.class !== 2) t.is(c.flagged, 0);
    t.deepEqual(defendActivations(name, d.acts, d.width, d.labels, d.classes, { layer: 0, seed: 3 }).flagged, r.flagged);
  });

  test(`${name}: all-clean data, and a class made of two equally common populations, lose nothing`, (t) => {
    const clean = synthetic({ classes: 4, perClass: 400, width: 24, target: 0, planted: 0, shift: 0, seed: 2 });
    const r = defendActivations(name, clean.acts, clean.width, clean.labels, clean.classes, { layer: 0 });
    t.is(r.flagged.reduce((a, b) => a + b, 0), 0);
    t.true(r.classes.every((c) => !c.suspicious && Number.isFinite(c.separation)));
    // Half of class 1 shifted far away: two styles of one digit, not a minority to drop.
    const halves = synthetic({ classes: 3, perClass: 400, width: 24, target: 1, planted: 200, shift: 20, seed: 4 });
    const h = defendActivations(name, halves.acts, halves.width, halves.labels, halves.classes, { layer: 0 });
    for (const c of h.classes) t.true(c.flagged <= MAX_POPULATION_SHARE * c.samples, `class ${c.class}: ${c.flagged} of ${c.samples}`);
    t.is(h.flagged.reduce((a, b) => a + b, 0), 0);
  });

  test(`${name}: NaN activations and mismatched sizes are one-line errors`, (t) => {
    const d = synthetic({ classes: 2, perClass: 50, width: 8, target: 0, planted: 0, shift: 0, seed: 5 });
    const bad = d.acts.slice();
    bad[17] = NaN;
    t.throws(() => defendActivations(name, bad, d.width, d.labels, 2, { layer: 0 }), { message: /non-finite activation NaN for sample 2/ });
    t.throws(() => defendActivations(name, d.acts, 7, d.labels, 2, { layer: 0 }), { message: /activations for 100 samples of width 7/ });
  });
}

// Real models on MNIST subsets: 10 000 training samples, one epoch of cnn-small (about 10 s).
const data = loadData("mnist", { limit: 10000, testLimit: 500 });
const poisoned = backdoor(data.train, { fraction: 0.05, target: 7, seed: 0 });

async function trained(ds: typeof data.train): Promise<Model> {
  const m = new Model(architecture("cnn-small")).init(0);
  const opt = createOptimizer(m, { name: "adam", lr: 5e-3 });
  await train(m, ds, opt, { epochs: 1, batchSize: 64, seed: 0, lr: 5e-3, schedule: { name: "onecycle", peak: 0.4 } });
  return m;
}
const poisonedModel = trained(poisoned.data);

test("layer activations: the output of the named layer, and a clear error for a layer that is not there", async (t) => {
  const m = await poisonedModel;
  const a = layerActivations(m, data.test, 5);
  t.is(a.width, 100);
  t.is(a.data.length, 100 * data.test.n);
  const relu = layerActivations(m, data.test, 6).data;
  for (let i = 0; i < relu.length; i++) if (relu[i] !== Math.max(0, a.data[i])) return t.fail(`relu mismatch at ${i}`);
  t.throws(() => layerActivations(m, data.test, 8), { message: /layer 8 is not a layer of this model \(0\.\.7: 0 conv2d \[16×14×14\]/ });
  t.throws(() => layerActivations(m, data.test, -1), { message: /layer -1 is not a layer/ });
});

test("a model with NaN weights is refused, not scored", async (t) => {
  const m = new Model(architecture("mlp")).init(0);
  m.params.f32[5] = NaN;
  t.throws(() => defend("spectral", m, data.test, { layer: 4 }), { message: /non-finite activation/ });
});

test("MNIST backdoor (5 % toward 7, cnn-small, layer 5): activation clustering and the RPCA filter find the poisons", async (t) => {
  const m = await poisonedModel;
  for (const name of ["activation-clustering", "rpca"] as DefenceName[]) {
    const r = defend(name, m, poisoned.data, { layer: 5, seed: 0 });
    const det = detection(r.flagged, poisoned.poisoned);
    t.true(det.tpr >= 0.9, `${name} TPR ${det.tpr}`);
    t.true(det.fpr <= 0.02, `${name} FPR ${det.fpr}`);
    t.deepEqual(r.classes.filter((c) => c.suspicious).map((c) => c.class), [7], name);
  }
});

test("all-clean MNIST: no defence flags anything", async (t) => {
  const m = await trained(data.train);
  for (const name of DEFENCES) {
    const r = defend(name, m, data.train, { layer: 5, seed: 0 });
    t.is(r.flagged.reduce((a, b) => a + b, 0), 0, `${name}: ${JSON.stringify(r.classes.map((c) => c.separation.toFixed(2)))}`);
  }
});

test("sanitize writes a cleaned IDX set and a manifest; TPR/FPR from the poison manifest", async (t) => {
  const dir = tmp(t);
  const src = join(dir, "poisoned");
  writePoisonedSet(src, poisoned.data, data.test, { format: "bulwark-poison", trainSamples: poisoned.data.n, poisoned: poisoned.poisoned });
  const m = await poisonedModel;
  const modelPath = join(dir, "m.bwk");
  saveModel(modelPath, { architecture: m.arch, params: m.params.f32, meta: {} });
  const out = join(dir, "clean");
  const o: SanitizeOptions = { model: modelPath, data: src, defence: "rpca", layer: 5, seed: 0, out };
  const s = runSanitize(o);
  t.truthy(s.detection);
  t.true(s.detection!.tpr >= 0.9);
  const cleaned = loadIdxDirectory(out);
  t.is(cleaned.train.n, s.kept);
  t.is(cleaned.test.n, data.test.n);
  const man = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
  t.like(man, { format: "bulwark-sanitized", defence: "rpca", layer: 5, trainSamples: s.kept, originalTrainSamples: 10000, poisonsKnown: true });
  t.is(man.dropped.length, s.flagged);
  // The survivors are renumbered into the cleaned set: each still carries the trigger and label 7.
  t.is(man.poisoned.length, s.detection!.poisoned - s.detection!.truePositives);
  for (const i of man.poisoned) t.is(cleaned.train.y[i], 7);
  // A second pass reads that manifest.
  const again = runSanitize({ ...o, data: out, out: undefined });
  t.is(again.detection!.poisoned, man.poisoned.length);

  // Errors: one line, nothing written.
  const full = join(dir, "full");
  mkdirSync(full);
  writeFileSync(join(full, "keep.txt"), "x");
  t.throws(() => runSanitize({ ...o, out: full }), { message: /--out .* exists and is not an empty directory/ });
  t.deepEqual(readdirSync(full), ["keep.txt"]);
  const fresh = join(dir, "fresh");
  t.throws(() => runSanitize({ ...o, layer: 9, out: fresh }), { message: /--layer 9 is not a layer/ });
  t.false(existsSync(fresh));
  writeFileSync(join(src, "manifest.json"), JSON.stringify({ poisoned: [1, 99999] }));
  t.throws(() => runSanitize({ ...o, out: fresh }), { message: /poisoned index 99999 is outside/ });
  t.false(existsSync(fresh));
});
