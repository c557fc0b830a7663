// Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based
// random search. Each iteration changes one random square window of the current best
// perturbation (L∞: the window set to ±ε; L2: mass moved between two windows, keeping
// ‖δ‖₂ = ε) and keeps the proposal when the margin s_y − max_{j≠y} s_j drops. The window
// side shrinks on the paper's schedule for p (the fraction of pixels changed). Each sample
// stops at its first success or when its queries run out; every draw is keyed by
// (seed, sample index, iteration), so a sample's run does not depend on its batch.
import { hash32, Stream, STREAM } from "../core/random.js";
import { checkBatch, margin, type BlackBoxBatch, type BlackBoxResult, type Oracle } from "./oracle.js";
import { validateThreat, type ThreatModel } from "./threat.js";

export interface SquareOptions extends ThreatModel {
  /** Initial fraction of pixels a window covers (paper: 0.05 ImageNet L∞, 0.1 L2, up to 0.8 on MNIST). */
  pInit: number;
  /**
   * Iterations the p-schedule is laid out over (default: the oracle's budget less the two
   * queries spent on the clean point and the initial perturbation).
   */
  iterations?: number;
}

const SQUARE = 0x53515541; // "SQUA": the attack's own stream family

/** The paper's piecewise-constant schedule: p halves at fixed fractions of the run. */
export function squareP(pInit: number, it: number, iterations: number): number {
  const i = Math.floor((it / iterations) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  if (i <= cuts[0] || i > 10000) return pInit;
  let k = 0;
  while (k < cuts.length && i > cuts[k]) k++;
  return pInit / 2 ** k;
}

/** [c, h, w] of the oracle's input: images as given; a flat vector of d = h² values as one h×h plane. */
function geometry(shape: readonly number[], dim: number): [number, number, number] {
  if (shape.length === 3) return [shape[0], shape[1], shape[2]];
  if (shape.length === 2) return [1, shape[0], shape[1]];
  const h = Math.round(Math.sqrt(dim));
  if (h * h === dim) return [1, h, h];
  throw new Error(`the Square attack needs image inputs, got shape [${shape.join(",")}]`);
}

/**
 * Runs the attack on the batch; queries one point per active sample per iteration (plus
 * the clean point and the initial perturbation). Samples misclassified at the clean point
 * are returned unchanged with success set.
 */
export function square(oracle: Oracle, b: BlackBoxBatch, o: SquareOptions): BlackBoxResult {
  validateThreat(o);
  if (!(o.pInit > 0 && o.pInit <= 1)) throw new Error(`pInit must be in (0, 1], got ${o.pInit}`);
  if (oracle.kind === "labels") throw new Error("the Square attack needs scores, not labels only");
  const n = checkBatch(oracle, b);
  const dim = oracle.dim;
  const [c, h, w] = geometry(oracle.shape, dim);
  const iterations = o.iterations ?? oracle.budget - 2;
  if (!(iterations >= 1 && Number.isFinite(iterations))) throw new Error(`the Square attack needs a finite number of iterations (set iterations or a budget ≥ 3), got ${iterations}`);
  const base = hash32(STREAM.attack, SQUARE, (b.stream ?? 0) >>> 0);
  const rng = (i: number, it: number) => new Stream(b.seed >>> 0, hash32(base, it), b.samples[i] >>> 0);
  const start = Int32Array.from({ length: n }, (_, i) => oracle.used(i));

  const xbest = Float32Array.from(b.x0);
  const best = new Float64Array(n).fill(Infinity);
  const success = new Uint8Array(n);
  const cand = new Float32Array(n * dim);
  const owners = new Int32Array(n);

  // Queries `rows` candidate rows for the samples in owners; keeps improvements (or, with
  // first, every answer).
  const step = (rows: number, first = false): void => {
    const s = oracle.scores(cand, owners, rows);
    for (let r = 0; r < rows; r++) {
      const i = owners[r];
      const m = margin(s, r, oracle.classes, b.labels[i]);
      if (m < best[i] || first) {
        best[i] = m;
        xbest.set(cand.subarray(r * dim, (r + 1) * dim), i * dim);
      }
      if (m < 0) success[i] = 1;
    }
  };
  const active = (need = 1): number => {
    let rows = 0;
    for (let i = 0; i < n; i++) if (!success[i] && oracle.remaining(i) >= need) owners[rows++] = i;
    return rows;
  };

  // The clean point: already misclassified samples need no search.
  let rows = active();
  for (let r = 0; r < rows; r++) cand.set(b.x0.subarray(owners[r] * dim, (owners[r] + 1) * dim), r * dim);
  if (rows > 0) step(rows, true);
  if (o.eps === 0) return finish();

  // The initial perturbation (L∞: vertical stripes of ±ε; L2: a grid of ±pseudo-Gaussian
  // squares scaled to ε). Taken whatever its margin, as in the reference code: later
  // windows only reshape a perturbation that already uses the whole ball.
  rows = active();
  for (let r = 0; r < rows; r++) {
    const i = owners[r];
    const row = cand.subarray(r * dim, (r + 1) * dim);
    if (o.norm === "linf") stripes(row, b.x0.subarray(i * dim, (i + 1) * dim), c, h, w, o, rng(i, 0));
    else l2Init(row, b.x0.subarray(i * dim, (i + 1) * dim), c, h, w, o, rng(i, 0));
  }
  if (rows > 0) step(rows, true);

  for (let it = 0; it < iterations; it++) {
    rows = active();
    if (rows === 0) break;
    const p = squareP(o.pInit, it, iterations);
    for (let r = 0; r < rows; r++) {
      const i = owners[r];
      const row = cand.subarray(r * dim, (r + 1) * dim);
      const x = b.x0.subarray(i * dim, (i + 1) * dim);
      const cur = xbest.subarray(i * dim, (i + 1) * dim);
      if (o.norm === "linf") linfProposal(row, x, cur, c, h, w, p, o, rng(i, it + 1));
      else l2Proposal(row, x, cur, c, h, w, p, o, rng(i, it + 1));
    }
    step(rows);
  }
  return finish();

  function finish(): BlackBoxResult {
    const queries = Int32Array.from({ length: n }, (_, i) => oracle.used(i) - start[i]);
    return { xadv: xbest, success, queries };
  }
}

const clip = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** L∞ start: one ±ε sign per (channel, column), so each column is a stripe. */
function stripes(out: Float32Array, x: Float32Array, c: number, h: number, w: number, t: ThreatModel, s: Stream): void {
  for (let ch = 0; ch < c; ch++) {
    for (let col = 0; col < w; col++) {
      const d = s.next() < 0.5 ? -t.eps : t.eps;
      for (let row = 0; row < h; row++) {
        const j = (ch * h + row) * w + col;
        out[j] = clip(x[j] + d, t.lo, t.hi);
      }
    }
  }
}

/** L∞ proposal: the current point with one s×s window per channel set to x ± ε (a sign that changes something). */
function linfProposal(out: Float32Array, x: Float32Array, cur: Float32Array, c: number, h: number, w: number, p: number, t: ThreatModel, s: Stream): void {
  let side = Math.max(Math.round(Math.sqrt((p * c * h * w) / c)), 1);
  side = Math.min(side, Math.min(h, w) - 1);
  side = Math.max(side, 1);
  const r0 = s.int(h - side + 1);
  const c0 = s.int(w - side + 1);
  out.set(cur);
  for (let ch = 0; ch < c; ch++) {
    // Redraw while the window would stay as it is (as the reference code does); with a
    // sign flip at hand this ends after at most a few draws.
    for (let attempt = 0; attempt < 64; attempt++) {
      const d = s.next() < 0.5 ? -t.eps : t.eps;
      let changed = false;
      for (let r = r0; r < r0 + side; r++) {
        for (let q = c0; q < c0 + side; q++) {
          const j = (ch * h + r) * w + q;
          const v = clip(x[j] + d, t.lo, t.hi);
          out[j] = v;
          if (Math.abs(v - cur[j]) >= 1e-7) changed = true;
        }
      }
      if (changed) break;
    }
  }
}

// The L2 attack's building block: a centred pattern of nested rectangles with weights
// 1/(k+1)², unit norm (the reference code's pseudo_gaussian_pert_rectangles).
function rectangles(x: number, y: number): Float64Array {
  const d = new Float64Array(x * y);
  const xc = Math.floor(x / 2) + 1;
  const yc = Math.floor(y / 2) + 1;
  let a = xc - 1;
  let bb = yc - 1;
  for (let k = 0; k < Math.max(xc, yc); k++) {
    for (let i = Math.max(a, 0); i < Math.min(a + 2 * k + 1, x); i++) {
      for (let j = Math.max(bb, 0); j < Math.min(bb + 2 * k + 1, y); j++) d[i * y + j] += 1 / (k + 1) ** 2;
    }
    a--;
    bb--;
  }
  return unit(d);
}

function unit(d: Float64Array): Float64Array {
  let s = 0;
  for (const v of d) s += v * v;
  const k = 1 / Math.sqrt(s || 1);
  for (let i = 0; i < d.length; i++) d[i] *= k;
  return d;
}

const patterns = new Map<number, [Float64Array, Float64Array]>();

/** The s×s pattern: +rectangles on the top half, −rectangles on the bottom; [as is, transposed]. */
function pattern(s: number): [Float64Array, Float64Array] {
  let p = patterns.get(s);
  if (!p) {
    const top = Math.floor(s / 2);
    const d = new Float64Array(s * s);
    if (top > 0) d.set(rectangles(top, s), 0);
    const low = rectangles(s - top, s);
    for (let i = 0; i < low.length; i++) d[top * s + i] = -low[i];
    unit(d);
    const t = new Float64Array(s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) t[j * s + i] = d[i * s + j];
    p = [d, t];
    patterns.set(s, p);
  }
  return p;
}

/** out = clip(x + ε·δ/‖δ‖₂, lo, hi), shrunk if float32 rounding left it a hair outside the ball. */
function placeL2(out: Float32Array, x: Float32Array, delta: Float64Array, t: ThreatModel): void {
  let s = 0;
  for (const v of delta) s += v * v;
  const k = s > 0 ? t.eps / Math.sqrt(s) : 0;
  let n2 = 0;
  for (let j = 0; j < out.length; j++) {
    out[j] = clip(x[j] + k * delta[j], t.lo, t.hi);
    const d = out[j] - x[j];
    n2 += d * d;
  }
  if (Math.sqrt(n2) > t.eps) {
    const f = (t.eps / Math.sqrt(n2)) * (1 - 1e-6);
    for (let j = 0; j < out.length; j++) out[j] = clip(x[j] + f * (out[j] - x[j]), t.lo, t.hi);
  }
}

/** L2 start: a grid of h/5-sided squares, each ± the pattern per channel, scaled to ‖δ‖₂ = ε. */
function l2Init(out: Float32Array, x: Float32Array, c: number, h: number, w: number, t: ThreatModel, s: Stream): void {
  const delta = new Float64Array(c * h * w);
  const side = Math.max(Math.floor(h / 5), 1);
  const sp = Math.floor((h - side * 5) / 2);
  for (let r0 = sp, a = 0; a < Math.floor(h / side) && r0 + side <= h; a++, r0 += side) {
    for (let c0 = sp, bb = 0; bb < Math.floor(w / side) && c0 + side <= w; bb++, c0 += side) {
      const pat = pattern(side)[s.next() < 0.5 ? 0 : 1];
      for (let ch = 0; ch < c; ch++) {
        const sg = s.next() < 0.5 ? -1 : 1;
        for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) delta[(ch * h + r0 + i) * w + c0 + j] += sg * pat[i * side + j];
      }
    }
  }
  placeL2(out, x, delta, t);
}

/**
 * L2 proposal: window 2's mass is freed, window 1 gets ±pattern plus its old direction,
 * scaled to take the freed mass (and whatever of ε the image has not used), then the whole
 * perturbation is rescaled to ε.
 */
function l2Proposal(out: Float32Array, x: Float32Array, cur: Float32Array, c: number, h: number, w: number, p: number, t: ThreatModel, s: Stream): void {
  let side = Math.max(Math.round(Math.sqrt((p * c * h * w) / c)), 3);
  if (side % 2 === 0) side++;
  side = Math.min(side, h, w);
  const r1 = s.int(h - side + 1), c1 = s.int(w - side + 1);
  const r2 = s.int(h - side + 1), c2 = s.int(w - side + 1);
  const pat = pattern(side)[s.next() < 0.5 ? 0 : 1];
  const delta = new Float64Array(c * h * w);
  let image = 0;
  for (let j = 0; j < delta.length; j++) {
    delta[j] = cur[j] - x[j];
    image += delta[j] * delta[j];
  }
  const in1 = (r: number, q: number) => r >= r1 && r < r1 + side && q >= c1 && q < c1 + side;
  const in2 = (r: number, q: number) => r >= r2 && r < r2 + side && q >= c2 && q < c2 + side;
  const neu = new Float64Array(side * side);
  for (let ch = 0; ch < c; ch++) {
    const at = (r: number, q: number) => (ch * h + r) * w + q;
    let win1 = 0;
    let both = 0;
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < w; q++) {
        const v = delta[at(r, q)];
        if (in1(r, q)) win1 += v * v;
        if (in1(r, q) || in2(r, q)) both += v * v;
      }
    }
    const norm1 = Math.sqrt(win1);
    const sg = s.next() < 0.5 ? -1 : 1;
    let nn = 0;
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) {
        const v = sg * pat[i * side + j] + delta[at(r1 + i, c1 + j)] / (1e-10 + norm1);
        neu[i * side + j] = v;
        nn += v * v;
      }
    }
    const target = Math.sqrt(Math.max(t.eps * t.eps - image, 0) / c + both);
    const k = target / Math.sqrt(nn || 1);
    for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) delta[at(r2 + i, c2 + j)] = 0;
    for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) delta[at(r1 + i, c1 + j)] = k * neu[i * side + j];
  }
  placeL2(out, x, delta, t);
}
