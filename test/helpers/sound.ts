// Float32-path soundness against the exact (float64, rounding "none") bounds on a net built so
// that float32 rounding matters: the sound bounds never exceed the exact ones, while the raw
// float32 bounds (error terms dropped) must exceed them somewhere, or the net lost its point.
import type { ExecutionContext } from "ava";
import { marginBounds } from "../../src/certify/bounds.js";
import { fastMarginBounds, type FastBoundOptions } from "../../src/certify/fast.js";
import type { Model } from "../../src/nn/model.js";

/** Asserts sound ≤ exact on every margin; returns how many raw float32 bounds exceed exact. */
export function soundBelowExact(t: ExecutionContext, m: Model, x: Float32Array, y: number[], o: FastBoundOptions): number {
  const exact = marginBounds(m, x, y, o);
  const raw = fastMarginBounds(m, x, y, { ...o, errorTerms: false });
  const sound = fastMarginBounds(m, x, y, o);
  let rawAbove = 0;
  exact.forEach((e, s) => {
    for (let j = 0; j < m.outputSize; j++) {
      if (j === y[s]) continue;
      if (raw[s].lower[j] > e.lower[j]) rawAbove++;
      t.true(sound[s].lower[j] <= e.lower[j], `${o.method}: sound ${sound[s].lower[j]} above exact ${e.lower[j]}`);
    }
  });
  return rawAbove;
}
