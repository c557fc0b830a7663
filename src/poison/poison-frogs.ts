// The poison-frogs transfer-learning experiment (Shafahi et al. 2018, "one-shot kill"): for each
// of N target test images, one poison made by feature collision is added to a small clean
// retraining set, the model's last layer is retrained on the frozen features of that set, and
// the attack succeeds when the retrained model puts the target in the poison's (base) class.
// Each target is its own experiment: one poison, one retraining from the same starting layer.
import { hash32, permutation, Stream } from "../core/random.js";
import { subset, type Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { chooseBases, featureCollision, type FeatureCollisionOptions } from "./feature-collision.js";
import { LastLayer, type HeadTrainingOptions } from "./last-layer.js";

export interface PoisonFrogsOptions {
  /** How many targets (each with one poison). */
  targets: number;
  /** One base class for all targets, or null: a seeded random class other than the target's. */
  baseClass: number | null;
  seed: number;
  collision?: FeatureCollisionOptions;
  head?: HeadTrainingOptions;
}

export interface PoisonFrogsResult {
  targets: number;
  successes: number;
  successRate: number;
  /** Share of targets put in the base class by the clean retrained model (0 by construction: targets are chosen among its correct answers). */
  cleanRetrainedBaseRate: number;
  meanFeatureDistance: number;
  meanBaseFeatureDistance: number;
  /** Mean ‖f(t)‖: the scale the feature distances compare with. */
  meanTargetFeatureNorm: number;
  meanPixelDistance: number;
  meanPixelLinf: number;
  meanCollisionIterations: number;
  accuracy: {
    /** The model as given, on the whole test set. */
    original: number;
    /** Last layer retrained on the clean retraining set alone. */
    cleanRetrained: number;
    /** Last layer retrained on the clean set + one poison: mean and lowest over the targets. */
    poisonedMean: number;
    poisonedMin: number;
  };
  /** How well retraining converged: the clean fit, and the worst of the poisoned fits. */
  headFit: { cleanLoss: number; cleanGradNorm: number; cleanIterations: number; maxPoisonedGradNorm: number; meanPoisonedIterations: number; poisonsFitted: number };
  /** The poisons, row after row in perTarget order (not for JSON). */
  poisons: Float32Array;
  perTarget: { target: number; targetLabel: number; base: number; baseClass: number; success: boolean; prediction: number; featureDistance: number; baseFeatureDistance: number; pixelDistance: number }[];
}

const mean = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);

/**
 * Runs the experiment on `model` with `retrain` as the victim's clean retraining set (bases are
 * drawn from it) and `test` as the source of targets and the clean-accuracy check.
 */
export function poisonFrogs(model: Model, retrain: Dataset, test: Dataset, o: PoisonFrogsOptions): PoisonFrogsResult {
  if (!(Number.isInteger(o.targets) && o.targets >= 1)) throw new Error(`targets must be a positive integer, got ${o.targets}`);
  const last = new LastLayer(model);
  const fx = last.features;
  const m = fx.size;
  const trainFeatures = fx.ofDataset(retrain);
  const testFeatures = fx.ofDataset(test);
  const original = last.accuracy(testFeatures, test.y);

  const cleanFit = last.fit(trainFeatures, retrain.y, o.head);
  const cleanPred = last.predict(testFeatures);
  let correct = 0;
  for (let i = 0; i < test.n; i++) if (cleanPred[i] === test.y[i]) correct++;
  const cleanRetrained = correct / test.n;

  // Targets: test images the clean retrained model gets right, in a seeded order, each with a
  // base class (given, or drawn) different from its own.
  const order = permutation(test.n, o.seed, hash32(0xf20c, 1));
  const chosen: { target: number; baseClass: number }[] = [];
  for (let k = 0; k < order.length && chosen.length < o.targets; k++) {
    const t = order[k];
    if (cleanPred[t] !== test.y[t]) continue;
    let c = o.baseClass;
    if (c === null) c = (test.y[t] + 1 + new Stream(o.seed, hash32(0xf20c, 2), t).int(test.classes - 1)) % test.classes;
    if (c === test.y[t]) continue;
    chosen.push({ target: t, baseClass: c });
  }
  if (chosen.length < o.targets) throw new Error(`only ${chosen.length} usable targets in the test set, ${o.targets} asked for`);
  const bases = chosen.map(({ target, baseClass }) => chooseBases(retrain, baseClass, 1, hash32(o.seed, target))[0]);

  const baseX = subset(retrain, bases).x;
  const targetX = subset(test, chosen.map((c) => c.target)).x;
  const col = featureCollision(model, baseX, targetX, o.collision);
  const poisonFeatures = fx.ofDataset({ ...retrain, name: "poisons", x: col.poisons, y: new Uint8Array(chosen.length), n: chosen.length });
  const targetFeatures = fx.ofDataset({ ...test, name: "targets", x: targetX, y: new Uint8Array(chosen.length), n: chosen.length });

  // Retraining set + one poison: the clean rows stay, the last row is the poison.
  const n = retrain.n;
  const feats = new Float32Array((n + 1) * m);
  feats.set(trainFeatures);
  const labels = new Uint8Array(n + 1);
  labels.set(retrain.y);
  const perTarget: PoisonFrogsResult["perTarget"] = [];
  const accs: number[] = [];
  const gradNorms: number[] = [];
  const iterations: number[] = [];
  let poisonsFitted = 0;
  chosen.forEach(({ target, baseClass }, k) => {
    feats.set(poisonFeatures.subarray(k * m, (k + 1) * m), n * m);
    labels[n] = retrain.y[bases[k]];
    const fit = last.fit(feats, labels, o.head);
    gradNorms.push(fit.gradNorm);
    iterations.push(fit.iterations);
    const pred = last.predict(feats.subarray(n * m, (n + 1) * m))[0];
    if (pred === labels[n]) poisonsFitted++;
    const prediction = last.predict(targetFeatures.subarray(k * m, (k + 1) * m))[0];
    accs.push(last.accuracy(testFeatures, test.y));
    perTarget.push({
      target, targetLabel: test.y[target], base: bases[k], baseClass, success: prediction === baseClass, prediction,
      featureDistance: col.featureDistance[k], baseFeatureDistance: col.baseFeatureDistance[k], pixelDistance: col.pixelDistance[k],
    });
  });
  last.reset();

  let normSum = 0;
  for (let k = 0; k < chosen.length; k++) {
    let s = 0;
    for (let j = k * m; j < (k + 1) * m; j++) s += targetFeatures[j] ** 2;
    normSum += Math.sqrt(s);
  }
  const successes = perTarget.filter((p) => p.success).length;
  return {
    targets: chosen.length,
    successes,
    successRate: successes / chosen.length,
    cleanRetrainedBaseRate: chosen.filter((c) => cleanPred[c.target] === c.baseClass).length / chosen.length,
    meanFeatureDistance: mean(col.featureDistance),
    meanBaseFeatureDistance: mean(col.baseFeatureDistance),
    meanTargetFeatureNorm: normSum / chosen.length,
    meanPixelDistance: mean(col.pixelDistance),
    meanPixelLinf: mean(col.pixelLinf),
    meanCollisionIterations: mean(col.iterations),
    accuracy: { original, cleanRetrained, poisonedMean: mean(accs), poisonedMin: Math.min(...accs) },
    headFit: {
      cleanLoss: cleanFit.loss, cleanGradNorm: cleanFit.gradNorm, cleanIterations: cleanFit.iterations,
      maxPoisonedGradNorm: Math.max(...gradNorms), meanPoisonedIterations: mean(iterations), poisonsFitted,
    },
    poisons: col.poisons,
    perTarget,
  };
}
