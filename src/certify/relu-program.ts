// A ReLU network as rows of a linear program over an input box (the "triangle" relaxation of
// Ehlers 2017; with `integer`, the big-M encoding of Tjeng et al. 2019): every neuron is a
// column bounded by the intermediate box, affine operators are equality rows, stable ReLUs are
// linear, each unstable one (l < 0 < u) is relaxed to its convex hull h ≥ 0, h ≥ z,
// h ≤ u(z − l)/(u − l), and with `integer` also gets a binary. lp.ts (margins of an ε-ball) and
// conjunction.ts (VNNLIB rows over a box) put their objectives on top of it.
import type { ProgramBuilder } from "./highs.js";
import { DenseOp, type AffineOp, type Op } from "./network.js";

/** boxes[i]: the input box of folded[i] (boxes[n]: the outputs'), as propagate returns them. */
export type Boxes = [Float64Array, Float64Array][];

/**
 * Called once the columns of an affine operator that feeds a ReLU exist (not before any ReLU:
 * there CROWN is already exact). It may narrow `box` (the operator's output box) in place and
 * the builder's bounds of `cols`; the ReLU's rows are built from the narrowed box.
 */
export type Tightener = (b: ProgramBuilder, cols: Int32Array, box: [Float64Array, Float64Array]) => void;

export interface NetworkColumns {
  /** Column of each input coordinate. */
  inputCols: Int32Array;
  /** Column of each output of the last operator (−1 where not asked for). */
  outCols: Int32Array;
  /** Unstable ReLUs (one binary each with integer). */
  unstable: number;
  /** The boxes the rows were built from: copies, narrowed where a tightener ran. */
  boxes: Boxes;
}

/** Row-compressed W and the bias b of an affine operator, exactly as its float64 map. */
export function affineRows(op: AffineOp): { starts: Int32Array; indices: Int32Array; values: Float64Array; bias: Float64Array } {
  const { inSize: n, outSize: m } = op;
  const starts = new Int32Array(m + 1);
  const idx: number[] = [];
  const val: number[] = [];
  const bias = new Float64Array(m);
  if (op instanceof DenseOp) {
    for (let o = 0; o < m; o++) {
      for (let i = 0; i < n; i++) {
        const v = op.w[o * n + i];
        if (v !== 0) {
          idx.push(i);
          val.push(v);
        }
      }
      starts[o + 1] = idx.length;
      bias[o] = op.b[o];
    }
  } else {
    // back() of unit rows is W's rows and adds b into c — exact, since each entry is one
    // product by 1 (plus exact zeros). Chunked so conv layers never form W densely.
    const chunk = Math.max(1, Math.min(m, Math.floor(2 ** 21 / Math.max(n, 1))));
    for (let s = 0; s < m; s += chunk) {
      const rows = Math.min(chunk, m - s);
      const a = new Float64Array(rows * m);
      for (let r = 0; r < rows; r++) a[r * m + s + r] = 1;
      const c = new Float64Array(rows);
      const w = op.back(a, rows, c);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < n; i++) {
          const v = w[r * n + i];
          if (v !== 0) {
            idx.push(i);
            val.push(v);
          }
        }
        starts[s + r + 1] = idx.length;
        bias[s + r] = c[r];
      }
    }
  }
  return { starts, indices: Int32Array.from(idx), values: Float64Array.from(val), bias };
}

/**
 * Adds the network `folded` over the input box boxes[0] to b; of the last operator only the
 * outputs `outs` get columns. With integer: each unstable ReLU also gets a binary a (a = 1:
 * active) and the big-M rows h ≤ z − l(1 − a), h ≤ u·a, which with h ≥ 0, h ≥ z make
 * h = max(0, z) exactly; the triangle row stays (it is the big-M rows' LP relaxation).
 */
export function addNetwork(b: ProgramBuilder, folded: Op[], boxes: Boxes, outs: number[], integer: boolean, tighten?: Tightener): NetworkColumns {
  const bx: Boxes = boxes.map(([l, u]) => [l.slice(), u.slice()]);
  const [lo0, hi0] = bx[0];
  const inputCols = new Int32Array(lo0.length);
  for (let i = 0; i < lo0.length; i++) inputCols[i] = b.addCol(lo0[i], hi0[i]);
  // cur[k]: the column holding neuron k of the current layer, or −1 where it is exactly 0.
  let cur: Int32Array = inputCols;
  let unstable = 0;
  let seenRelu = false;
  const n = folded.length;
  for (let i = 0; i < n; i++) {
    const op = folded[i];
    const [l, u] = bx[i];
    if (op.kind === "relu") {
      seenRelu = true;
      const next = new Int32Array(op.size);
      for (let k = 0; k < op.size; k++) {
        const z = cur[k];
        if (z < 0 || u[k] <= 0) next[k] = -1;
        else if (l[k] >= 0) next[k] = z;
        else {
          unstable++;
          const h = b.addCol(0, u[k]);
          next[k] = h;
          b.addRow([h, z], [1, -1], 0, Infinity);
          const s = u[k] / (u[k] - l[k]);
          b.addRow([h, z], [1, -s], -Infinity, -s * l[k]);
          if (integer) {
            const a = b.addCol(0, 1, true);
            b.addRow([h, z, a], [1, -1, -l[k]], -Infinity, -l[k]);
            b.addRow([h, a], [1, -u[k]], -Infinity, 0);
          }
        }
      }
      cur = next;
      continue;
    }
    const rows = affineRows(op);
    const [ol, oh] = bx[i + 1];
    const last = i === n - 1;
    const next = new Int32Array(op.outSize).fill(-1);
    const which = last ? outs : Array.from({ length: op.outSize }, (_, k) => k);
    for (const k of which) {
      const col = b.addCol(ol[k], oh[k]);
      next[k] = col;
      // col − Σ W_kc v_c = b_k
      const cols = [col];
      const vals = [1];
      for (let t = rows.starts[k]; t < rows.starts[k + 1]; t++) {
        const v = cur[rows.indices[t]];
        if (v < 0) continue;
        cols.push(v);
        vals.push(-rows.values[t]);
      }
      b.addRow(cols, vals, rows.bias[k], rows.bias[k]);
    }
    if (tighten && seenRelu && folded[i + 1]?.kind === "relu") tighten(b, next, bx[i + 1]);
    cur = next;
  }
  const outCols = new Int32Array(cur.length).fill(-1);
  for (const k of outs) outCols[k] = cur[k];
  return { inputCols, outCols, unstable, boxes: bx };
}
