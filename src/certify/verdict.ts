// Per-sample verdicts: attack first (PGD), then bounds. falsified: the attack found a point in
// the box that the network misclassifies (its margin is reported); certified: every margin's
// lower bound is > 0; unknown otherwise. Two internal checks guard soundness: an attack point
// inside the box whose margin lies below a proven lower bound, or a "certified" sample the
// attack broke, is a bug and throws.
import { attack } from "../attack/api.js";
import type { Model } from "../nn/model.js";
import { marginBounds, type BoundMethod, inputBox } from "./bounds.js";

export type Verdict = "certified" | "falsified" | "unknown";

export interface CertifyOptions {
  method: BoundMethod;
  eps: number;
  /** Intersect the ball with [0, 1] (default true). */
  clip?: boolean;
  /** PGD steps and restarts (defaults 40, 1). */
  steps?: number;
  restarts?: number;
  seed?: number;
  rounding?: "float32" | "none";
}

export interface SampleVerdict {
  index: number;
  label: number;
  verdict: Verdict;
  /** Lowest margin lower bound (NaN when bounds were not computed: falsified samples). */
  lowestBound: number;
  /** min_{j≠y} z_y − z_j at the attack's point when falsified, else NaN. */
  counterexampleMargin: number;
  cleanCorrect: boolean;
}

export interface CertifyResult {
  samples: SampleVerdict[];
  counts: { certified: number; falsified: number; unknown: number };
  cleanAccuracy: number;
  certifiedAccuracy: number;
  /** Wall time of the attack and of the bounds (seconds). */
  attackSeconds: number;
  boundSeconds: number;
}

/** Logit margins z_y − z_j of the float32 network at n points. */
export function logitMargins(model: Model, x: Float32Array, y: ArrayLike<number>): Float64Array[] {
  const dim = model.inputSize;
  const classes = model.outputSize;
  const n = y.length;
  const cap = Math.min(Math.max(n, 1), 256);
  const arena = model.arena;
  const mark = arena.mark();
  try {
    const plan = model.plan(cap);
    const out: Float64Array[] = [];
    for (let s = 0; s < n; s += cap) {
      const m = Math.min(cap, n - s);
      plan.input.set(x.subarray(s * dim, (s + m) * dim));
      model.forward(plan, m);
      for (let i = 0; i < m; i++) {
        const z = plan.logits.subarray(i * classes, (i + 1) * classes);
        const label = y[s + i];
        out.push(Float64Array.from(z, (v) => z[label] - v));
      }
    }
    return out;
  } finally {
    arena.release(mark);
  }
}

function minOff(m: Float64Array, label: number): number {
  let v = Infinity;
  for (let j = 0; j < m.length; j++) if (j !== label) v = Math.min(v, m[j]);
  return v;
}

export function certify(model: Model, x: Float32Array, y: ArrayLike<number>, o: CertifyOptions): CertifyResult {
  const clip = o.clip !== false;
  const n = y.length;
  const dim = model.inputSize;
  const t0 = performance.now();
  const adv = attack(model, x, y, {
    attack: "pgd", eps: o.eps, lo: clip ? 0 : -Infinity, hi: clip ? 1 : Infinity,
    steps: o.steps ?? 40, restarts: o.restarts ?? 1, loss: "margin", seed: o.seed ?? 0,
  });
  const advMargins = logitMargins(model, adv.adversarial, y);
  const cleanMargins = logitMargins(model, x, y);
  const samples: SampleVerdict[] = [];
  // Only samples the attack did not break need bounds; the rest are bounded too when cheap,
  // so that the attack's points can check the bounds (bounds of broken samples: below).
  const open: number[] = [];
  for (let i = 0; i < n; i++) if (!adv.outcomes[i].success && minOff(advMargins[i], y[i]) > 0) open.push(i);
  const xs = new Float32Array(open.length * dim);
  open.forEach((i, k) => xs.set(x.subarray(i * dim, (i + 1) * dim), k * dim));
  const t1 = performance.now();
  const bounds = marginBounds(model, xs, open.map((i) => y[i]), {
    method: o.method, eps: o.eps, clip: clip ? { lo: 0, hi: 1 } : null, rounding: o.rounding,
  });
  const t2 = performance.now();
  const boundOf = new Map(open.map((i, k) => [i, bounds[k]]));
  for (let i = 0; i < n; i++) {
    const label = y[i];
    const b = boundOf.get(i);
    const cx = minOff(advMargins[i], label);
    const cleanCorrect = minOff(cleanMargins[i], label) > 0;
    if (!b) {
      samples.push({ index: i, label, verdict: "falsified", lowestBound: NaN, counterexampleMargin: cx, cleanCorrect });
      continue;
    }
    // Soundness check: the attack's point (if inside the box) must respect every bound.
    const [lo, hi] = inputBox(x.subarray(i * dim, (i + 1) * dim), o.eps, clip ? { lo: 0, hi: 1 } : null);
    let inside = true;
    for (let k = 0; k < dim && inside; k++) {
      const v = adv.adversarial[i * dim + k];
      inside = v >= lo[k] && v <= hi[k];
    }
    if (inside) {
      for (let j = 0; j < model.outputSize; j++) {
        if (j !== label && advMargins[i][j] < b.lower[j]) {
          throw new Error(`internal error: sample ${i}: margin ${j} is ${advMargins[i][j]} at an attack point inside the box, below its proven lower bound ${b.lower[j]}`);
        }
      }
    }
    const verdict: Verdict = b.lowest > 0 ? "certified" : "unknown";
    if (verdict === "certified" && (adv.outcomes[i].success || !cleanCorrect)) {
      throw new Error(`internal error: sample ${i} certified although the attack or the clean point misclassifies it`);
    }
    samples.push({ index: i, label, verdict, lowestBound: b.lowest, counterexampleMargin: NaN, cleanCorrect });
  }
  const counts = { certified: 0, falsified: 0, unknown: 0 };
  for (const s of samples) counts[s.verdict]++;
  const clean = samples.filter((s) => s.cleanCorrect).length;
  return {
    samples, counts, cleanAccuracy: n ? clean / n : 0, certifiedAccuracy: n ? counts.certified / n : 0,
    attackSeconds: (t1 - t0) / 1000, boundSeconds: (t2 - t1) / 1000,
  };
}
