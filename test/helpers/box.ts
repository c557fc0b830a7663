// Points of an input box for the soundness checks of bounds: a third exact corners, a third
// near corners, a third uniform — float32 values, rounded toward the inside of the box.
import type { Stream } from "../../src/core/random.js";

export function samplePoints(lo: Float64Array, hi: Float64Array, count: number, rng: Stream): Float32Array {
  const d = lo.length;
  const out = new Float32Array(count * d);
  for (let s = 0; s < count; s++) {
    const kind = s % 3;
    for (let i = 0; i < d; i++) {
      const r = rng.next();
      const t = kind === 0 ? (r < 0.5 ? 0 : 1) : kind === 1 ? (r < 0.5 ? 0.05 * rng.next() : 1 - 0.05 * rng.next()) : r;
      // float32 rounding toward the inside keeps the point in the (float64) box.
      let v = Math.fround(lo[i] + t * (hi[i] - lo[i]));
      if (v < lo[i]) v = Math.fround(lo[i] + Math.abs(lo[i]) * 2 ** -22 + 1e-30);
      if (v > hi[i]) v = Math.fround(hi[i] - Math.abs(hi[i]) * 2 ** -22 - 1e-30);
      out[s * d + i] = Math.min(hi[i], Math.max(lo[i], v));
    }
  }
  return out;
}
