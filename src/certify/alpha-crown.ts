// α-CROWN (Xu et al., "Fast and Complete", ICLR 2021): the lower slope α of every unstable ReLU
// (l < 0 < u) is a free parameter of the back-substitution bound — h ≥ α·z holds for any
// α ∈ [0, 1] — chosen per (spec row, neuron). Projected gradient ascent (Adam) on α maximises
// each row's bound, starting from CROWN's slopes; the best bound seen per row is kept, so the
// result is never below CROWN's (every α gives a sound bound, so the best one is sound too).
//
// The gradient is exact: with the other slopes fixed the bound is linear in each α, and reverse
// mode through the back-substitution reduces to a forward pass of the relaxed network at the
// corner of the input box that attains the bound (∂bound/∂A of "A·v + c over the box" is the
// corner; through y = W·x + b the derivative is W·g + b, i.e. the operator applied to g).
import type { Relax } from "./bounds.js";
import type { Op } from "./network.js";

export interface AlphaOptions {
  /** Gradient steps (0: CROWN's slopes only). */
  iterations: number;
  /** Adam step size on α ∈ [0, 1]. */
  step: number;
}

export const ALPHA_DEFAULTS: AlphaOptions = { iterations: 20, step: 0.1 };

/**
 * Free slopes of a back-substitution with `rows` rows: for each ReLU operator i, slot[i][k] is
 * the position of neuron k among the unstable ones (−1 when stable), alpha[i] holds
 * rows × (unstable count) slopes, row-major.
 */
export interface Slopes {
  slot: (Int32Array | undefined)[];
  count: number[];
  alpha: (Float64Array | undefined)[];
}

/** A neuron's lower slope is free when it is unstable: the upper line then has a positive offset −s·l. */
function isFree(r: Relax, k: number): boolean {
  return r.bu[k] > 0;
}

/** CROWN's slopes (the relaxation's own lower slopes) as the starting point, for ops[0..end). */
export function initialSlopes(ops: Op[], end: number, rows: number, relaxes: (Relax | undefined)[]): Slopes {
  const slot: (Int32Array | undefined)[] = [];
  const count: number[] = [];
  const alpha: (Float64Array | undefined)[] = [];
  for (let i = 0; i < end; i++) {
    const op = ops[i];
    if (op.kind !== "relu") continue;
    const r = relaxes[i]!;
    const s = new Int32Array(op.size).fill(-1);
    const free: number[] = [];
    for (let k = 0; k < op.size; k++) if (isFree(r, k)) s[k] = free.push(k) - 1;
    const a = new Float64Array(rows * free.length);
    for (let row = 0; row < rows; row++) free.forEach((k, p) => (a[row * free.length + p] = r.al[k]));
    slot[i] = s;
    count[i] = free.length;
    alpha[i] = a;
  }
  return { slot, count, alpha };
}

export interface SlopeBound {
  /** Lower bound of each row. */
  bound: Float64Array;
  /** ∂bound[row]/∂alpha[i][row, ·], same layout as Slopes.alpha (only when asked for). */
  grad?: (Float64Array | undefined)[];
}

/**
 * Lower bounds of the `rows` linear functions A·v + c (v the output of ops[end-1]) over the box
 * [lo, hi] by back-substitution with the given lower slopes, and optionally their gradient.
 */
export function slopeBound(
  ops: Op[], end: number, a0: Float64Array, rows: number, relaxes: (Relax | undefined)[], slopes: Slopes,
  lo: Float64Array, hi: Float64Array, withGrad: boolean,
): SlopeBound {
  let a: Float64Array = Float64Array.from(a0);
  const c = new Float64Array(rows);
  // Coefficients on each ReLU's output, kept for the gradient pass.
  const atRelu: (Float64Array | undefined)[] = [];
  for (let i = end - 1; i >= 0; i--) {
    const op = ops[i];
    if (op.kind === "affine") {
      a = op.back(a, rows, c);
      continue;
    }
    if (withGrad) atRelu[i] = Float64Array.from(a);
    const { al, au, bu } = relaxes[i]!;
    const slot = slopes.slot[i]!;
    const alpha = slopes.alpha[i]!;
    const cnt = slopes.count[i];
    const n = op.size;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      const ab = r * cnt;
      let cb = 0;
      for (let k = 0; k < n; k++) {
        const coef = a[base + k];
        if (coef >= 0) {
          const p = slot[k];
          a[base + k] = coef * (p >= 0 ? alpha[ab + p] : al[k]);
        } else {
          a[base + k] = coef * au[k];
          cb += coef * bu[k];
        }
      }
      c[r] += cb;
    }
  }
  const n0 = lo.length;
  const bound = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = c[r];
    const base = r * n0;
    for (let k = 0; k < n0; k++) {
      const coef = a[base + k];
      s += coef >= 0 ? coef * lo[k] : coef * hi[k];
    }
    bound[r] = s;
  }
  if (!withGrad) return { bound };

  // Reverse mode: g = ∂bound/∂(coefficients on the current operator's input), walked upwards.
  let lastRelu = -1;
  for (let i = 0; i < end; i++) if (ops[i].kind === "relu") lastRelu = i;
  let g = new Float64Array(rows * n0);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < n0; k++) g[r * n0 + k] = a[r * n0 + k] >= 0 ? lo[k] : hi[k];
  }
  const grad: (Float64Array | undefined)[] = [];
  for (let i = 0; i <= lastRelu; i++) {
    const op = ops[i];
    if (op.kind === "affine") {
      const next = new Float64Array(rows * op.outSize);
      for (let r = 0; r < rows; r++) next.set(op.apply(g.subarray(r * op.inSize, (r + 1) * op.inSize)), r * op.outSize);
      g = next;
      continue;
    }
    const { al, au, bu } = relaxes[i]!;
    const coefs = atRelu[i]!;
    const slot = slopes.slot[i]!;
    const alpha = slopes.alpha[i]!;
    const cnt = slopes.count[i];
    const gi = new Float64Array(rows * cnt);
    const n = op.size;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      const ab = r * cnt;
      for (let k = 0; k < n; k++) {
        const coef = coefs[base + k];
        if (coef >= 0) {
          const p = slot[k];
          if (p >= 0) {
            gi[ab + p] = coef * g[base + k];
            g[base + k] *= alpha[ab + p];
          } else g[base + k] *= al[k];
        } else g[base + k] = au[k] * g[base + k] + bu[k];
      }
    }
    grad[i] = gi;
  }
  return { bound, grad };
}

/**
 * The best lower bounds of A·v + c found by projected Adam ascent on the slopes of ops[0..end),
 * starting from CROWN's. Each row has its own slopes, so rows are optimised independently.
 */
export function optimiseSlopes(
  ops: Op[], end: number, a0: Float64Array, rows: number, relaxes: (Relax | undefined)[],
  lo: Float64Array, hi: Float64Array, o: AlphaOptions,
): Float64Array {
  const slopes = initialSlopes(ops, end, rows, relaxes);
  const free = slopes.count.reduce((s, v) => s + (v ?? 0), 0);
  const iterations = free > 0 ? o.iterations : 0;
  const best = new Float64Array(rows).fill(-Infinity);
  const m = slopes.alpha.map((a) => a && new Float64Array(a.length));
  const v = slopes.alpha.map((a) => a && new Float64Array(a.length));
  const b1 = 0.9;
  const b2 = 0.999;
  for (let it = 0; ; it++) {
    const last = it === iterations;
    const { bound, grad } = slopeBound(ops, end, a0, rows, relaxes, slopes, lo, hi, !last);
    for (let r = 0; r < rows; r++) if (bound[r] > best[r]) best[r] = bound[r];
    if (last) break;
    const c1 = 1 - b1 ** (it + 1);
    const c2 = 1 - b2 ** (it + 1);
    slopes.alpha.forEach((alpha, i) => {
      if (!alpha) return;
      const gi = grad![i]!;
      const mi = m[i]!;
      const vi = v[i]!;
      for (let q = 0; q < alpha.length; q++) {
        const gq = gi[q];
        mi[q] = b1 * mi[q] + (1 - b1) * gq;
        vi[q] = b2 * vi[q] + (1 - b2) * gq * gq;
        // Ascent, then projection onto [0, 1] (where h ≥ α·z is valid; a NaN lands on 0).
        const next = alpha[q] + (o.step * (mi[q] / c1)) / (Math.sqrt(vi[q] / c2) + 1e-8);
        alpha[q] = next >= 0 ? (next <= 1 ? next : 1) : 0;
      }
    });
  }
  return best;
}
