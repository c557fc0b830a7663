// Measures clean-label feature collision (poison frogs) in the transfer-learning setting: N target
// MNIST test images, one poison each, the last layer retrained on the frozen features of a small
// clean set plus that poison; prints success rate, distances and clean accuracies as JSON.
// Without --model it first trains the feature extractor itself (mlp, seeded) on training images
// that the retraining set does not contain, as a pre-trained extractor would be.
// Usage: npx tsx scripts/feature-collision.ts [--targets 50] [--clean 1000] [--model m.bwk] [--png f.png] ...
import { Command } from "commander";
import { loadMnist } from "../src/data/mnist.js";
import { limit, subset } from "../src/data/dataset.js";
import { instantiate, loadModel } from "../src/io/bwk.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { FEATURE_COLLISION_DEFAULTS } from "../src/poison/feature-collision.js";
import { HEAD_TRAINING_DEFAULTS } from "../src/poison/last-layer.js";
import { poisonFrogs } from "../src/poison/poison-frogs.js";
import { writeGridPng } from "../src/report/png.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { int, num } from "../src/cli/options.js";

const o = new Command("feature-collision")
  .option("--model <path>", "feature extractor (.bwk); default: train an mlp here")
  .option("--arch <name>", "architecture to train without --model", "mlp")
  .option("--pretrain <n>", "training images (after the retraining set) the extractor is trained on", int("--pretrain", 1), 20000)
  .option("--pretrain-epochs <n>", "epochs of extractor training", int("--pretrain-epochs", 1), 2)
  .option("--targets <n>", "target test images, one poison each", int("--targets", 1), 50)
  .option("--clean <n>", "clean retraining set: the first n training images", int("--clean", 1), 1000)
  .option("--base-class <c>", "base class for every target (default: a seeded random other class per target)", int("--base-class", 0))
  .option("--layer <n>", "collide the output of the first n layers (default: all but the last)", int("--layer", 1))
  .option("--beta0 <b>", "β0 of β = β0·(features/inputs)²", num("--beta0", { min: 0 }), FEATURE_COLLISION_DEFAULTS.beta0)
  .option("--steps <n>", "forward-backward iterations per poison", int("--steps", 0), FEATURE_COLLISION_DEFAULTS.steps)
  .option("--lr <λ>", "initial step size of the feature step", num("--lr", { positive: true }), FEATURE_COLLISION_DEFAULTS.lr)
  .option("--head-steps <n>", "most L-BFGS iterations when retraining the last layer", int("--head-steps", 0), HEAD_TRAINING_DEFAULTS.steps)
  .option("--head-tolerance <g>", "retraining stops at this gradient norm", num("--head-tolerance", { positive: true }), HEAD_TRAINING_DEFAULTS.tolerance)
  .option("--weight-decay <w>", "λ of the L2 penalty (λ/2)‖θ‖² on the retrained layer", num("--weight-decay", { min: 0 }), HEAD_TRAINING_DEFAULTS.weightDecay)
  .option("--per-target", "include the per-target rows")
  .option("--png <path>", "also write base | poison | target for the first 8 targets as a PNG grid")
  .option("--seed <n>", "targets, bases and extractor training", int("--seed", 0), 0)
  .parse(process.argv)
  .opts();

const t0 = performance.now();
const data = loadMnist();
const retrain = limit(data.train, o.clean);
let model: Model;
let extractor: Record<string, unknown>;
if (o.model) {
  model = instantiate(loadModel(o.model));
  extractor = { model: o.model };
} else {
  if (o.clean + o.pretrain > data.train.n) throw new Error(`--clean + --pretrain exceeds the ${data.train.n} training images`);
  const pre = subset(data.train, Array.from({ length: o.pretrain }, (_, i) => o.clean + i), "pretrain");
  model = new Model(architecture(o.arch)).init(o.seed);
  const opt = createOptimizer(model, { name: "adam", lr: 2e-3 });
  await train(model, pre, opt, { epochs: o.pretrainEpochs, batchSize: 64, seed: o.seed, lr: 2e-3, schedule: { name: "constant" } });
  extractor = { arch: o.arch, trainedOn: `mnist train[${o.clean}..${o.clean + o.pretrain})`, epochs: o.pretrainEpochs, optimizer: "adam 2e-3, batch 64" };
}
const r = poisonFrogs(model, retrain, data.test, {
  targets: o.targets, baseClass: o.baseClass ?? null, seed: o.seed,
  collision: { depth: o.layer, beta0: o.beta0, steps: o.steps, lr: o.lr },
  head: { steps: o.headSteps, tolerance: o.headTolerance, weightDecay: o.weightDecay },
});
const { perTarget, poisons, ...summary } = r;
if (o.png) {
  const size = 784;
  const img = (x: Float32Array, i: number) => ({ data: x.subarray(i * size, (i + 1) * size), lo: 0, hi: 1 });
  writeGridPng(o.png, perTarget.slice(0, 8).map((p, k) => [img(retrain.x, p.base), img(poisons, k), img(data.test.x, p.target)]), 28, 28);
}
process.stdout.write(JSON.stringify({
  experiment: "feature-collision (poison frogs, transfer learning)",
  extractor,
  setting: {
    retrainingSet: `mnist train[0..${o.clean})`, poisonsPerRetraining: 1, testSet: `mnist test (${data.test.n})`,
    baseClass: o.baseClass ?? "random other class per target", layer: o.layer ?? "penultimate",
    beta0: o.beta0, steps: o.steps, lr: o.lr, head: { solver: "L-BFGS, full batch", steps: o.headSteps, tolerance: o.headTolerance, weightDecay: o.weightDecay, start: "model's last layer" }, seed: o.seed,
  },
  ...summary,
  ...(o.perTarget ? { perTarget } : {}),
  seconds: +((performance.now() - t0) / 1000).toFixed(1),
}, null, 1) + "\n");
