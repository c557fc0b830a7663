// HopSkipJump (Chen, Jordan & Wainwright, IEEE S&P 2020), L2, untargeted: a decision-based
// attack that sees labels only. It starts from a misclassified point (uniform noise,
// blended towards x by binary search), walks along the decision boundary, and shrinks the
// distance to x: each iteration estimates the boundary's normal from the signs of random
// probes around the current boundary point (2·φ − 1, baseline-corrected), takes a
// geometric step search along it (halving until the point is still adversarial), and
// binary-searches back to the boundary on the segment to x. The returned point is always
// one the oracle answered "misclassified". Samples run in lockstep, each on its own keyed
// draws and its own budget, so a sample's run does not depend on its batch.
import { hash32, Stream, STREAM } from "../core/random.js";
import { gaussianDirection } from "./nes.js";
import { checkBatch, type BlackBoxBatch, type BlackBoxResult, type Oracle } from "./oracle.js";

export interface HopSkipJumpOptions {
  /** Data range. */
  lo: number;
  hi: number;
  /** Most iterations (default: as many as the budget allows). */
  iterations?: number;
  /** Probes of the first gradient estimate; iteration j uses initEvals·√j (default 100). */
  initEvals?: number;
  /** Most probes per estimate (default 10 000). */
  maxEvals?: number;
  /** θ = γ / d^{3/2}: the binary searches' tolerance (default γ = 1). */
  gamma?: number;
  /** Noise draws tried to find a misclassified start (default 100). */
  initTries?: number;
  /** n × dim starting guesses (e.g. images of other classes), tried before any noise. */
  starts?: Float32Array;
}

export interface HopSkipJumpResult extends BlackBoxResult {
  /** ‖xadv − x0‖₂ per sample (Infinity where no misclassified point was found). */
  distance: Float64Array;
}

const HSJ = 0x48534a41; // "HSJA": the attack's own stream family
/** Halvings the step search tries before giving up on an iteration. */
const MAX_HALVINGS = 25;
/** Rows per oracle call in the gradient estimate at most. */
const MAX_ROWS = 2048;

export function hopSkipJump(oracle: Oracle, b: BlackBoxBatch, o: HopSkipJumpOptions): HopSkipJumpResult {
  if (!(o.lo < o.hi)) throw new Error(`data range [${o.lo}, ${o.hi}] is empty`);
  const n = checkBatch(oracle, b);
  const dim = oracle.dim;
  const initEvals = o.initEvals ?? 100;
  const maxEvals = o.maxEvals ?? 10000;
  const theta = (o.gamma ?? 1) / (dim * Math.sqrt(dim));
  const iterations = o.iterations ?? Infinity;
  if (iterations === Infinity && oracle.budget === Infinity) throw new Error("HopSkipJump needs a query budget or a number of iterations");
  const initTries = o.initTries ?? 100;
  const seed = b.seed >>> 0;
  const base = hash32(STREAM.attack, HSJ, (b.stream ?? 0) >>> 0);
  const start = Int32Array.from({ length: n }, (_, i) => oracle.used(i));
  const row = (a: Float32Array, i: number) => a.subarray(i * dim, (i + 1) * dim);
  const x0 = (i: number) => row(b.x0, i);
  const clip = (v: number) => (v < o.lo ? o.lo : v > o.hi ? o.hi : v);

  const xadv = Float32Array.from(b.x0);
  const success = new Uint8Array(n);
  const distance = new Float64Array(n).fill(Infinity);
  const live = new Uint8Array(n); // still improving
  const dist = (i: number, p: Float32Array) => {
    let s = 0;
    const x = x0(i);
    for (let j = 0; j < dim; j++) s += (p[j] - x[j]) ** 2;
    return Math.sqrt(s);
  };

  /** Asks whether each candidate row is misclassified; row r belongs to sample who[r]. */
  const adversarial = (cand: Float32Array, who: ArrayLike<number>): boolean[] => {
    const lab = oracle.labels(cand, who);
    return Array.from(lab, (l, r) => l !== b.labels[who[r]]);
  };
  const afford = (i: number, k = 1) => oracle.remaining(i) >= k;

  // The clean point.
  {
    const who = Int32Array.from({ length: n }, (_, i) => i).filter((i) => afford(i));
    const adv = adversarial(gatherRows(b.x0, who, dim), who);
    who.forEach((i, r) => {
      if (adv[r]) {
        success[i] = 1;
        distance[i] = 0;
      } else live[i] = 1;
    });
  }

  // A misclassified start: the caller's guess, then noise until one is misclassified.
  // Dense uniform noise tends to land in one class (on MNIST mlps, nearly always the same
  // digit), which leaves that class's samples without a start; so the draws cycle through
  // sparser noise, a fraction 2^-(t mod 6) of the pixels set (the rest at lo).
  const noise = new Float32Array(n * dim);
  const found = new Uint8Array(n);
  if (o.starts && o.starts.length !== n * dim) throw new Error(`starts hold ${o.starts.length} values, expected ${n} × ${dim}`);
  for (let t = o.starts ? -1 : 0; t < initTries; t++) {
    const who = Int32Array.from({ length: n }, (_, i) => i).filter((i) => live[i] && !found[i] && afford(i));
    if (who.length === 0) break;
    for (const i of who) {
      const z = row(noise, i);
      if (t < 0) {
        for (let j = 0; j < dim; j++) z[j] = clip(o.starts![i * dim + j]);
        continue;
      }
      const s = new Stream(seed, hash32(base, 0, t), b.samples[i] >>> 0);
      const density = 2 ** -(t % 6);
      for (let j = 0; j < dim; j++) {
        const on = density === 1 || s.next() < density;
        z[j] = on ? o.lo + (o.hi - o.lo) * s.next() : o.lo;
      }
    }
    const adv = adversarial(gatherRows(noise, who, dim), who);
    who.forEach((i, r) => {
      if (adv[r]) found[i] = 1;
    });
  }
  for (let i = 0; i < n; i++) {
    if (!live[i]) continue;
    if (!found[i]) live[i] = 0;
    else {
      xadv.set(row(noise, i), i * dim);
      success[i] = 1;
      distance[i] = dist(i, row(noise, i));
    }
  }
  // Blend the noise towards x (tolerance 10⁻³), then go to the boundary (tolerance θ).
  searchSegment(Int32Array.from({ length: n }, (_, i) => i).filter((i) => live[i]), 0.001);
  const before = new Float64Array(n); // distance of each point before its binary search
  for (let i = 0; i < n; i++) before[i] = distance[i];
  searchSegment(Int32Array.from({ length: n }, (_, i) => i).filter((i) => live[i]), theta);

  const est = new Float64Array(n * dim); // Σ f_k·u_k, then the unit gradient estimate
  const sum = new Float64Array(n * dim); // Σ u_k
  for (let it = 1; it <= iterations; it++) {
    // Budget each live sample's estimate so a step search and a binary search still fit.
    const reserve = 4 + Math.ceil(Math.log2(1 / theta));
    const evals = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (!live[i]) continue;
      evals[i] = Math.min(Math.floor(initEvals * Math.sqrt(it)), maxEvals, oracle.remaining(i) - reserve);
      if (evals[i] < 2) live[i] = 0;
    }
    const who = Int32Array.from({ length: n }, (_, i) => i).filter((i) => live[i]);
    if (who.length === 0) break;
    estimateGradients(who, evals, it);
    stepAndSearch(who, it);
  }
  const queries = Int32Array.from({ length: n }, (_, i) => oracle.used(i) - start[i]);
  return { xadv, success, queries, distance };

  /**
   * Binary search on the segment from x0 (not adversarial) to xadv (adversarial) until its
   * length fraction is below tol; xadv becomes the adversarial end. A sample whose budget
   * runs out keeps the adversarial end it has.
   */
  function searchSegment(who: Int32Array, tol: number): void {
    const lows = new Float64Array(n);
    const highs = new Float64Array(n).fill(1);
    const far = Float32Array.from(xadv); // the segment's adversarial end
    const cand = new Float32Array(who.length * dim);
    for (;;) {
      const act = who.filter((i) => highs[i] - lows[i] > tol && afford(i));
      if (act.length === 0) break;
      act.forEach((i, r) => {
        const mid = (lows[i] + highs[i]) / 2;
        const x = x0(i);
        const f = row(far, i);
        for (let j = 0; j < dim; j++) cand[r * dim + j] = (1 - mid) * x[j] + mid * f[j];
      });
      const adv = adversarial(cand, act);
      act.forEach((i, r) => {
        const mid = (lows[i] + highs[i]) / 2;
        if (adv[r]) {
          highs[i] = mid;
          xadv.set(cand.subarray(r * dim, (r + 1) * dim), i * dim);
        } else lows[i] = mid;
      });
    }
    for (const i of who) distance[i] = dist(i, row(xadv, i));
  }

  /** The boundary normal at each xadv from evals[i] probes at radius δ (sign-corrected mean). */
  function estimateGradients(who: Int32Array, evals: Int32Array, it: number): void {
    const stream = hash32(base, 1, it);
    const f = new Float64Array(n); // Σ f_k
    for (const i of who) {
      est.fill(0, i * dim, (i + 1) * dim);
      sum.fill(0, i * dim, (i + 1) * dim);
    }
    // δ: a tenth of the data range first, then √d·θ·(distance before the last binary search).
    const delta = (i: number) => (it === 1 ? 0.1 * (o.hi - o.lo) : Math.sqrt(dim) * theta * before[i]);
    const most = Math.max(...Array.from(who, (i) => evals[i]));
    const perCall = Math.max(1, Math.floor(MAX_ROWS / who.length));
    const u = new Float32Array(dim);
    for (let k0 = 0; k0 < most; k0 += perCall) {
      const rows: number[] = [];
      for (const i of who) for (let k = k0; k < Math.min(k0 + perCall, evals[i]); k++) rows.push(i);
      const cand = new Float32Array(rows.length * dim);
      let r = 0;
      for (const i of who) {
        const x = row(xadv, i);
        const d = delta(i);
        for (let k = k0; k < Math.min(k0 + perCall, evals[i]); k++, r++) {
          gaussianDirection(u, 0, dim, seed, stream, hash32(b.samples[i] >>> 0, k));
          let un = 0;
          for (let j = 0; j < dim; j++) un += u[j] * u[j];
          const s = d / Math.sqrt(un);
          for (let j = 0; j < dim; j++) cand[r * dim + j] = clip(x[j] + s * u[j]);
        }
      }
      const adv = adversarial(cand, rows);
      // Accumulate in probe order per sample, so chunking does not change the sums.
      rows.forEach((i, q) => {
        const fk = adv[q] ? 1 : -1;
        f[i] += fk;
        const x = row(xadv, i);
        const d = delta(i);
        const e = i * dim;
        for (let j = 0; j < dim; j++) {
          const rv = (cand[q * dim + j] - x[j]) / d; // the probe actually made, after clipping
          est[e + j] += fk * rv;
          sum[e + j] += rv;
        }
      });
    }
    for (const i of who) {
      // All probes on one side: their mean direction (signed); otherwise subtract the mean
      // sign as a baseline, which lowers the estimate's variance.
      const mean = f[i] / evals[i];
      const e = i * dim;
      let nn = 0;
      for (let j = 0; j < dim; j++) {
        const g = Math.abs(mean) === 1 ? est[e + j] : est[e + j] - mean * sum[e + j];
        est[e + j] = g;
        nn += g * g;
      }
      const k = nn > 0 ? 1 / Math.sqrt(nn) : 0;
      for (let j = 0; j < dim; j++) est[e + j] *= k;
    }
  }

  /** Geometric step search from xadv along the estimate, then back to the boundary. */
  function stepAndSearch(who: Int32Array, it: number): void {
    const step = new Float64Array(n);
    for (const i of who) step[i] = distance[i] / Math.sqrt(it);
    const moved = new Uint8Array(n);
    const cand = new Float32Array(who.length * dim);
    const next = new Float32Array(n * dim);
    let pending = who.filter((i) => afford(i));
    for (let h = 0; h < MAX_HALVINGS && pending.length > 0; h++) {
      pending.forEach((i, r) => {
        const x = row(xadv, i);
        const e = i * dim;
        for (let j = 0; j < dim; j++) cand[r * dim + j] = clip(x[j] + step[i] * est[e + j]);
      });
      const adv = adversarial(cand, pending);
      pending.forEach((i, r) => {
        if (adv[r]) {
          moved[i] = 1;
          next.set(cand.subarray(r * dim, (r + 1) * dim), i * dim);
        } else step[i] /= 2;
      });
      pending = pending.filter((i) => !moved[i] && afford(i));
    }
    for (const i of who) {
      if (!moved[i]) {
        // No adversarial step found (or no queries left): stay, and stop if out of queries.
        if (!afford(i)) live[i] = 0;
        before[i] = distance[i];
        continue;
      }
      xadv.set(row(next, i), i * dim);
      before[i] = dist(i, row(next, i));
    }
    searchSegment(who.filter((i) => moved[i]), theta);
  }
}

function gatherRows(src: Float32Array, who: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(who.length * dim);
  for (let r = 0; r < who.length; r++) out.set(src.subarray(who[r] * dim, (who[r] + 1) * dim), r * dim);
  return out;
}
