// The linear regions of a small ReLU network over an input box, for exact references: IBP fixes
// the stable neurons; on each on/off pattern of the unstable ones the network is affine in x,
// on the polytope where the pattern holds. Tests minimise over each region with one LP.
import { propagate } from "../../src/certify/bounds.js";
import type { Op } from "../../src/certify/network.js";

/** lo ≤ a·x + (nothing) ≤ hi over the n0 inputs; a has n0 + 1 entries, the last one unused (0). */
export interface RegionRow {
  a: Float64Array;
  lo: number;
  hi: number;
}

export interface LinearRegion {
  /** The pattern's constraints over x. */
  rows: RegionRow[];
  /** Per output: n0 coefficients and a constant (entry n0). */
  out: Float64Array[];
}

/** The unstable ReLU count, and every pattern's region (2^unstable of them, some empty). */
export function linearRegions(ops: Op[], lo: ArrayLike<number>, hi: ArrayLike<number>): { unstable: number; regions: Generator<LinearRegion> } {
  const n0 = lo.length;
  const { boxes } = propagate(ops, Float64Array.from(lo), Float64Array.from(hi), { method: "ibp" });
  let unstable = 0;
  ops.forEach((op, i) => {
    if (op.kind === "relu") for (let k = 0; k < op.size; k++) if (boxes[i][0][k] < 0 && boxes[i][1][k] > 0) unstable++;
  });
  function* regions(): Generator<LinearRegion> {
    for (let pattern = 0; pattern < 2 ** unstable; pattern++) {
      // v[k]: neuron k as n0 coefficients and a constant.
      let v = Array.from({ length: n0 }, (_, i) => Float64Array.from({ length: n0 + 1 }, (_, t) => (t === i ? 1 : 0)));
      const rows: RegionRow[] = [];
      let bit = 0;
      ops.forEach((op, i) => {
        if (op.kind === "relu") {
          v = v.map((a, k) => {
            const [l, u] = [boxes[i][0][k], boxes[i][1][k]];
            if (u <= 0) return new Float64Array(n0 + 1);
            if (l >= 0) return a;
            const on = ((pattern >> bit++) & 1) === 1;
            // a·x + c ≥ 0 (on) or ≤ 0 (off), as a row over x.
            const x = Float64Array.from(a);
            x[n0] = 0;
            rows.push(on ? { a: x, lo: -a[n0], hi: Infinity } : { a: x, lo: -Infinity, hi: -a[n0] });
            return on ? a : new Float64Array(n0 + 1);
          });
          return;
        }
        // Through any affine operator: apply(column) − apply(0) for the x parts, apply(constants) for the constant.
        const zero = op.apply(new Float64Array(op.inSize));
        const next = Array.from({ length: op.outSize }, () => new Float64Array(n0 + 1));
        for (let c = 0; c <= n0; c++) {
          const y = op.apply(Float64Array.from(v, (a) => a[c]));
          for (let o = 0; o < op.outSize; o++) next[o][c] = c < n0 ? y[o] - zero[o] : y[o];
        }
        v = next;
      });
      yield { rows, out: v };
    }
  }
  return { unstable, regions: regions() };
}
