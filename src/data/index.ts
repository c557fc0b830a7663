// The one entry point the CLI and sweeps use: a dataset spec ('mnist', 'fashion-mnist' /
// 'fashion', or a directory of IDX files) plus --limit / --test-limit, to a train/test split.
import { existsSync } from "node:fs";
import { limit, type DataSplit } from "./dataset.js";
import { loadMnist } from "./mnist.js";
import { loadFashionMnist, type FashionOptions } from "./fashion.js";
import { loadIdxDirectory } from "./directory.js";

export * from "./dataset.js";
export * from "./idx.js";
export * from "./batches.js";
export { loadMnist, mnistDir } from "./mnist.js";
export { loadFashionMnist, fashionCacheDir, FASHION_ORDER_SEED, type FashionOptions } from "./fashion.js";
export { loadIdxDirectory, IDX_NAMES } from "./directory.js";

export interface LoadOptions {
  /** Use only the first `limit` training samples. */
  limit?: number;
  /** Use only the first `testLimit` test samples. */
  testLimit?: number;
  /** Passed to the Fashion-MNIST loader (cache location, progress messages). */
  fashion?: FashionOptions;
}

export const DATASET_NAMES = ["mnist", "fashion-mnist", "fashion"] as const;

/**
 * Loads a dataset by spec. Synchronous (all sources are local files); callers may still
 * `await` it. A spec that is neither a known name nor an existing path is a one-line error.
 */
export function loadData(spec: string, opts: LoadOptions = {}): DataSplit {
  let split: DataSplit;
  if (spec === "mnist") split = loadMnist();
  else if (spec === "fashion-mnist" || spec === "fashion") split = loadFashionMnist(opts.fashion);
  else if (existsSync(spec) || /[\\/]/.test(spec) || spec.startsWith(".")) split = loadIdxDirectory(spec);
  else throw new Error(`unknown dataset '${spec}' (expected mnist, fashion-mnist (alias fashion), or a directory of IDX files)`);
  return {
    train: opts.limit === undefined ? split.train : limit(split.train, opts.limit),
    test: opts.testLimit === undefined ? split.test : limit(split.test, opts.testLimit),
  };
}
