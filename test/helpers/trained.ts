// A small undefended model that attack tests share: an mlp trained for one epoch on the first
// 2000 MNIST training images (so attacks have something to fight), built once per process.
import type { Dataset } from "../../src/data/dataset.js";
import { architecture } from "../../src/nn/architectures.js";
import { Model } from "../../src/nn/model.js";
import { train } from "../../src/train/loop.js";
import { createOptimizer } from "../../src/train/optimizer.js";

// The promise is cached, not the model: concurrent tests must not see it half-trained.
let trained: Promise<Model> | undefined;

export function trainedMlp(trainSet: Dataset): Promise<Model> {
  trained ??= (async () => {
    const m = new Model(architecture("mlp")).init(1);
    const opt = createOptimizer(m, { name: "adam", lr: 2e-3 });
    await train(m, trainSet, opt, { epochs: 1, batchSize: 64, seed: 1, lr: 2e-3, schedule: { name: "constant" } });
    return m;
  })();
  return trained;
}
