// The in-memory dataset every other layer consumes: one flat Float32Array of samples (so a
// batch is a contiguous copy into WASM memory) and one Uint8Array of labels. Constructors
// validate once here, so nothing downstream re-checks for NaN or out-of-range labels.
import { permutation, STREAM } from "../core/random.js";

export interface Dataset {
  name: string;
  /** n × (c·h·w) values; for image sets, pixels in [0,1]. */
  x: Float32Array;
  /** n labels in 0..classes-1. */
  y: Uint8Array;
  n: number;
  /** [c, h, w], e.g. [1, 28, 28]. */
  shape: [number, number, number];
  classes: number;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
}

/** Values per sample (c·h·w). */
export function sampleSize(ds: Pick<Dataset, "shape">): number {
  return ds.shape[0] * ds.shape[1] * ds.shape[2];
}

function checkShape(name: string, shape: readonly number[]): void {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${name}: bad sample shape [${shape.join(",")}] (expected [c,h,w] of positive integers)`);
  }
}

function checkClasses(name: string, classes: number): void {
  if (!Number.isInteger(classes) || classes < 2 || classes > 256) {
    throw new Error(`${name}: bad class count ${classes} (expected 2..256)`);
  }
}

/** Checks shape, class count, value count and labels; returns the labels as bytes. */
function checkLayout(name: string, values: number, y: ArrayLike<number>, shape: [number, number, number], classes: number, unit: string): Uint8Array {
  checkShape(name, shape);
  checkClasses(name, classes);
  const size = sampleSize({ shape });
  const n = y.length;
  if (values !== n * size) {
    throw new Error(`${name}: ${values} ${unit} for ${n} samples of ${shape.join("×")} (expected ${n * size})`);
  }
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`${name}: label ${v} at index ${i} is outside 0..${classes - 1}`);
    }
    labels[i] = v;
  }
  return labels;
}

/** Builds a dataset from u8 pixels (scaled to [0,1] by /255) and labels checked against `classes`. */
export function fromU8(
  name: string,
  pixels: Uint8Array,
  labels: Uint8Array,
  shape: [number, number, number],
  classes = 10,
): Dataset {
  const y = checkLayout(name, pixels.length, labels, shape, classes, "pixels");
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) x[i] = pixels[i] / 255;
  return { name, x, y, n: y.length, shape: [...shape], classes };
}

/**
 * Builds a dataset from floats (synthetic data: Gaussian models and the like, so values are not
 * restricted to [0,1]). Rejects NaN/Inf and labels that are not integers in 0..classes-1.
 * Takes ownership of `x` (no copy).
 */
export function fromFloat(
  name: string,
  x: Float32Array,
  y: ArrayLike<number>,
  shape: [number, number, number],
  classes = 10,
): Dataset {
  const labels = checkLayout(name, x.length, y, shape, classes, "values");
  const size = sampleSize({ shape });
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new Error(`${name}: non-finite value ${x[i]} in sample ${Math.floor(i / size)} (offset ${i % size})`);
    }
  }
  return { name, x, y: labels, n: labels.length, shape: [...shape], classes };
}

/** A copy holding the samples at `indices`, in that order (repeats allowed). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const size = sampleSize(ds);
  const m = indices.length;
  const x = new Float32Array(m * size);
  const y = new Uint8Array(m);
  for (let k = 0; k < m; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) throw new Error(`${ds.name}: index ${i} is outside 0..${ds.n - 1}`);
    x.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
    y[k] = ds.y[i];
  }
  return { name, x, y, n: m, shape: [...ds.shape], classes: ds.classes };
}

/**
 * A copy of the first n samples (`--limit n`). A copy rather than a view, so the full set can be
 * freed and so that editing the result (poisoning it, say) never touches the original. Asking
 * for more samples than there are is an error, not a silent clamp, so a sweep over
 * training-set sizes never quietly runs the same size twice.
 */
export function limit(ds: Dataset, n: number): Dataset {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${ds.name}: bad limit ${n} (expected a positive integer)`);
  if (n > ds.n) throw new Error(`${ds.name}: limit ${n} exceeds the ${ds.n} samples available`);
  const size = sampleSize(ds);
  return { ...ds, shape: [...ds.shape], x: ds.x.slice(0, n * size), y: ds.y.slice(0, n), n };
}

/**
 * Splits off a validation set: round(fraction·n) samples chosen by a permutation keyed by
 * `seed` (stream STREAM.split), so the split is the same on every run and every machine. Both
 * parts keep the original sample order.
 */
export function splitValidation(
  ds: Dataset,
  fraction: number,
  seed: number,
): { train: Dataset; validation: Dataset } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`${ds.name}: validation fraction ${fraction} is not in (0,1)`);
  const nv = Math.round(fraction * ds.n);
  if (nv < 1 || nv >= ds.n) {
    throw new Error(`${ds.name}: validation fraction ${fraction} of ${ds.n} samples leaves an empty part`);
  }
  const p = permutation(ds.n, seed, STREAM.split);
  const val = p.slice(0, nv).sort();
  const train = p.slice(nv).sort();
  return { train: subset(ds, train, ds.name), validation: subset(ds, val, `${ds.name}:validation`) };
}
