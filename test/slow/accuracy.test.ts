// The accuracy targets on full MNIST (minutes each; `npm run test:slow`, not CI):
// one epoch with the default recipe (Adam, one-cycle to 5e-3, batch 64) reaches ≥ 98 % with
// cnn-small and ≥ 97 % with mlp.
import test from "ava";
import { loadData } from "../../src/data/index.js";
import { architecture } from "../../src/nn/architectures.js";
import { Model } from "../../src/nn/model.js";
import { evaluate } from "../../src/train/evaluate.js";
import { train } from "../../src/train/loop.js";
import { createOptimizer } from "../../src/train/optimizer.js";

const data = loadData("mnist");

for (const [name, floor] of [["cnn-small", 0.98], ["mlp", 0.97]] as const) {
  for (const seed of [0, 1]) {
    test.serial(`${name}, 1 epoch full MNIST, seed ${seed}: test accuracy ≥ ${floor}`, async (t) => {
      const model = new Model(architecture(name)).init(seed);
      const opt = createOptimizer(model, { name: "adam", lr: 5e-3 });
      const r = await train(model, data.train, opt, {
        epochs: 1, batchSize: 64, seed, lr: 5e-3, schedule: { name: "onecycle", peak: 0.4 },
      });
      const acc = evaluate(model, data.test).accuracy;
      t.log(`${name} seed ${seed}: ${(100 * acc).toFixed(2)} %, ${r.samplesPerSecond.toFixed(0)} samples/s`);
      t.true(acc >= floor, `accuracy ${acc}`);
    });
  }
}
