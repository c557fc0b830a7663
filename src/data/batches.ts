// Seeded shuffling and batching. The order of an epoch is a pure function of (seed, epoch) —
// never of how many workers run or how many epochs came before — which is what makes training
// reproducible and resumable from a checkpoint (DESIGN.md, decision 2).
import { hash32, permutation, STREAM } from "../core/random.js";
import { sampleSize, type Dataset } from "./dataset.js";

/** The sample order for one epoch: a permutation of 0..n-1 keyed by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`epochOrder: bad sample count ${n}`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`epochOrder: bad epoch ${epoch}`);
  return permutation(n, seed >>> 0, hash32(STREAM.shuffle, epoch));
}

/**
 * Cuts `order` into consecutive batches of `batchSize` (views into `order`, no copies). The
 * last, short batch is kept unless `dropLast`.
 */
export function batchIndices(order: Uint32Array, batchSize: number, dropLast: boolean): Uint32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`bad batch size ${batchSize}`);
  const out: Uint32Array[] = [];
  for (let s = 0; s < order.length; s += batchSize) {
    const e = Math.min(s + batchSize, order.length);
    if (e - s < batchSize && dropLast) break;
    out.push(order.subarray(s, e));
  }
  return out;
}

/**
 * Copies the samples at `indices` into `xOut` (row after row) and their labels into `yOut`.
 * The outputs are caller-owned — typically views into WASM memory — and this function
 * allocates nothing, so it can run every step without feeding the garbage collector.
 */
export function gather(ds: Dataset, indices: ArrayLike<number>, xOut: Float32Array, yOut: Int32Array): void {
  const size = sampleSize(ds);
  const m = indices.length;
  if (xOut.length < m * size) throw new Error(`gather: xOut holds ${xOut.length} values, needs ${m * size}`);
  if (yOut.length < m) throw new Error(`gather: yOut holds ${yOut.length} labels, needs ${m}`);
  const x = ds.x;
  const y = ds.y;
  for (let k = 0; k < m; k++) {
    const i = indices[k];
    if (!(i >= 0 && i < ds.n) || i !== Math.floor(i)) throw new Error(`gather: index ${i} is outside 0..${ds.n - 1}`);
    const src = i * size;
    const dst = k * size;
    for (let j = 0; j < size; j++) xOut[dst + j] = x[src + j];
    yOut[k] = y[i];
  }
}
