// A user's directory of IDX files (`--data path/`), under the standard MNIST file names. Only
// plain files are read: a directory holding just the .gz downloads gets an error saying to
// unpack them, and anything missing is named, so the user fixes it in one go.
import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { readIdxPair } from "./idx.js";
import { fromU8, type DataSplit, type Dataset } from "./dataset.js";

export const IDX_NAMES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** Loads train-/t10k- images and labels from `dir`; labels must lie in 0..classes-1. */
export function loadIdxDirectory(dir: string, classes = 10): DataSplit {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new Error(`${dir}: no such data directory`);
  }
  if (!isDir) throw new Error(`${dir}: not a directory (--data expects a directory of IDX files)`);

  const missing = Object.values(IDX_NAMES).filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    const gz = missing.filter((f) => existsSync(join(dir, `${f}.gz`)));
    if (gz.length === missing.length) {
      throw new Error(`${dir}: only gzipped files found (${gz.map((f) => f + ".gz").join(", ")}); gunzip them first`);
    }
    const which = missing.every((f) => f.startsWith("t10k"))
      ? "test set"
      : missing.every((f) => f.startsWith("train"))
        ? "training set"
        : "files";
    const gzNote = gz.length > 0 ? ` (${gz.map((f) => f + ".gz").join(", ")} must be gunzipped)` : "";
    throw new Error(`${dir}: missing ${which}: ${missing.join(", ")}${gzNote}`);
  }

  const name = basename(resolve(dir));
  const part = (images: string, labels: string, which: string): Dataset => {
    const p = readIdxPair(join(dir, images), join(dir, labels), classes);
    return fromU8(`${name}:${which}`, p.images.data, p.labels.labels, [1, p.images.rows, p.images.cols], classes);
  };
  const train = part(IDX_NAMES.trainImages, IDX_NAMES.trainLabels, "train");
  const test = part(IDX_NAMES.testImages, IDX_NAMES.testLabels, "test");
  if (train.shape[1] !== test.shape[1] || train.shape[2] !== test.shape[2]) {
    throw new Error(
      `${join(dir, IDX_NAMES.testImages)}: test images are ${test.shape[1]}×${test.shape[2]}, training images ${train.shape[1]}×${train.shape[2]}`,
    );
  }
  return { train, test };
}
