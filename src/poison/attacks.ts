// Poisoning attacks on a training set: label flips (random or toward one class) and
// BadNets-style backdoors (a small white patch in a corner, relabelled to the target class).
// Each returns the poisoned copy and the indices it touched; nothing is modified in place.
import { permutation, Stream, STREAM, hash32 } from "../core/random.js";
import type { Dataset } from "../data/dataset.js";

export interface PoisonResult {
  data: Dataset;
  /** Indices of the poisoned samples, ascending. */
  poisoned: number[];
}

export interface BackdoorTrigger {
  /** Side of the square patch in pixels. */
  size: number;
  /** Distance of the patch from the bottom-right corner. */
  margin: number;
  /** Pixel value written into the patch. */
  value: number;
}

export const DEFAULT_TRIGGER: BackdoorTrigger = { size: 3, margin: 1, value: 1 };

function check(ds: Dataset, fraction: number, target: number | null): void {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`poison fraction must be in (0, 1], got ${fraction}`);
  if (target !== null && !(Number.isInteger(target) && target >= 0 && target < ds.classes)) {
    throw new Error(`target class must be an integer in 0..${ds.classes - 1}, got ${target}`);
  }
}

function copy(ds: Dataset, name: string): Dataset {
  return { ...ds, name, x: ds.x.slice(), y: ds.y.slice() };
}

/** Chooses round(fraction·n) samples among `eligible`, seeded. */
function choose(eligible: number[], count: number, seed: number): number[] {
  const p = permutation(eligible.length, seed, hash32(STREAM.split, 0x9015));
  return Array.from(p.subarray(0, Math.min(count, eligible.length)), (i) => eligible[i]).sort((a, b) => a - b);
}

/**
 * Label flips: `fraction` of the training set gets a wrong label — a uniformly random other
 * class, or `target` (then only samples of other classes are chosen).
 */
export function labelFlip(ds: Dataset, o: { fraction: number; target: number | null; seed: number }): PoisonResult {
  check(ds, o.fraction, o.target);
  const eligible = Array.from({ length: ds.n }, (_, i) => i).filter((i) => o.target === null || ds.y[i] !== o.target);
  const poisoned = choose(eligible, Math.round(o.fraction * ds.n), o.seed);
  const out = copy(ds, `${ds.name}+label-flip`);
  for (const i of poisoned) {
    if (o.target !== null) out.y[i] = o.target;
    else {
      const s = new Stream(o.seed, 0xf11b, i);
      out.y[i] = (ds.y[i] + 1 + s.int(ds.classes - 1)) % ds.classes;
    }
  }
  return { data: out, poisoned };
}

/** Writes the trigger patch into sample i of x (shape [c, h, w]). */
export function applyTrigger(x: Float32Array, i: number, shape: [number, number, number], t: BackdoorTrigger = DEFAULT_TRIGGER): void {
  const [c, h, w] = shape;
  if (t.size + t.margin > Math.min(h, w)) throw new Error(`trigger of size ${t.size} does not fit a ${h}×${w} image`);
  const base = i * c * h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let yy = h - t.margin - t.size; yy < h - t.margin; yy++) {
      for (let xx = w - t.margin - t.size; xx < w - t.margin; xx++) x[base + (ch * h + yy) * w + xx] = t.value;
    }
  }
}

/** BadNets: `fraction` of the samples of other classes get the trigger and the target label. */
export function backdoor(ds: Dataset, o: { fraction: number; target: number; seed: number; trigger?: BackdoorTrigger }): PoisonResult {
  check(ds, o.fraction, o.target);
  const eligible = Array.from({ length: ds.n }, (_, i) => i).filter((i) => ds.y[i] !== o.target);
  const poisoned = choose(eligible, Math.round(o.fraction * ds.n), o.seed);
  const out = copy(ds, `${ds.name}+backdoor`);
  for (const i of poisoned) {
    applyTrigger(out.x, i, ds.shape, o.trigger);
    out.y[i] = o.target;
  }
  return { data: out, poisoned };
}

/** The test samples not of the target class, with the trigger: attack success is the share classified as the target. */
export function triggeredTestSet(ds: Dataset, target: number, trigger?: BackdoorTrigger): Dataset {
  const keep = Array.from({ length: ds.n }, (_, i) => i).filter((i) => ds.y[i] !== target);
  const size = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const x = new Float32Array(keep.length * size);
  const y = new Uint8Array(keep.length);
  keep.forEach((i, k) => {
    x.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
    y[k] = ds.y[i];
    applyTrigger(x, k, ds.shape, trigger);
  });
  return { ...ds, name: `${ds.name}+trigger`, x, y, n: keep.length };
}
