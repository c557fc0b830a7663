// Per-sample verdicts: attack first (PGD), then bounds. falsified: the attack found a point in
// the box that the network misclassifies (its margin is reported); certified: every margin's
// lower bound is > 0; unknown otherwise. Two internal checks guard soundness: an attack point
// inside the box whose margin lies below a proven lower bound, or a "certified" sample the
// attack broke, is a bug and throws. The work runs per shard (certifyShard) so the pool can
// spread samples over workers; every random draw is keyed by the global sample index, so the
// verdicts do not depend on the number of workers.
import { runAttack, type AttackSpec } from "../attack/registry.js";
import { attackStream } from "../attack/threat.js";
import { fromFloat, type Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { InlineExecutor } from "../pool/executor.js";
import type { ShardRegion } from "../pool/shard.js";
import { ShardedEngine } from "../train/engine.js";
import { marginBounds, type BoundMethod, inputBox } from "./bounds.js";
import { CERTIFY_TASKS } from "./tasks.js";

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

/** Margins z_y − z_j of the n rows now in plan.input, after a forward pass. */
function planMargins(model: Model, region: ShardRegion, n: number): Float64Array[] {
  const classes = model.outputSize;
  model.forward(region.plan, n);
  const z = region.plan.logits;
  const out: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const label = region.plan.labels[i];
    const row = z.subarray(i * classes, (i + 1) * classes);
    out.push(Float64Array.from(row, (v) => row[label] - v));
  }
  return out;
}

/** Shard-level result: verdicts (index = global sample index) and the time spent on each stage. */
export interface ShardVerdicts {
  samples: SampleVerdict[];
  attackSeconds: number;
  boundSeconds: number;
}

/**
 * Verdicts for the n samples of a shard region (clean inputs in x0, labels in plan.labels,
 * global indices in samples).
 */
export async function certifyShard(region: ShardRegion, n: number, o: CertifyOptions): Promise<ShardVerdicts> {
  const { model, plan } = region;
  const clip = o.clip !== false;
  const dim = model.inputSize;
  const x0 = region.x0.subarray(0, n * dim);
  const labels = Array.from(plan.labels.subarray(0, n));
  const t0 = performance.now();
  plan.input.set(x0);
  const cleanMargins = planMargins(model, region, n);
  plan.input.set(x0);
  const spec: AttackSpec = {
    name: "pgd", norm: "linf", eps: o.eps, lo: clip ? 0 : -Infinity, hi: clip ? 1 : Infinity, steps: o.steps ?? 40,
    restarts: o.restarts ?? 1, loss: "margin", randomStart: true, target: null, queries: 0,
  };
  const outcomes = runAttack(model, plan, n, region.x0Ptr, spec, { seed: o.seed ?? 0, stream: attackStream(0xa77ac, 0), samples: region.samplesPtr }, region.ws);
  const adversarial = plan.input.slice(0, n * dim);
  const advMargins = planMargins(model, region, n);
  // Only samples the attack did not break need bounds.
  const open: number[] = [];
  for (let i = 0; i < n; i++) if (!outcomes[i].success && minOff(advMargins[i], labels[i]) > 0) open.push(i);
  const xs = new Float32Array(open.length * dim);
  open.forEach((i, k) => xs.set(x0.subarray(i * dim, (i + 1) * dim), k * dim));
  const t1 = performance.now();
  const bounds = marginBounds(model, xs, open.map((i) => labels[i]), {
    method: o.method, eps: o.eps, clip: clip ? { lo: 0, hi: 1 } : null, rounding: o.rounding,
  });
  const t2 = performance.now();
  const boundOf = new Map(open.map((i, k) => [i, bounds[k]]));
  const samples: SampleVerdict[] = [];
  for (let i = 0; i < n; i++) {
    const index = region.samples[i];
    const label = labels[i];
    const b = boundOf.get(i);
    const cx = minOff(advMargins[i], label);
    const cleanCorrect = minOff(cleanMargins[i], label) > 0;
    if (!b) {
      samples.push({ index, label, verdict: "falsified", lowestBound: NaN, counterexampleMargin: cx, cleanCorrect });
      continue;
    }
    // Soundness check: the attack's point (if inside the box) must respect every bound.
    const [lo, hi] = inputBox(x0.subarray(i * dim, (i + 1) * dim), o.eps, clip ? { lo: 0, hi: 1 } : null);
    let inside = true;
    for (let k = 0; k < dim && inside; k++) {
      const v = adversarial[i * dim + k];
      inside = v >= lo[k] && v <= hi[k];
    }
    if (inside) {
      for (let j = 0; j < model.outputSize; j++) {
        if (j !== label && advMargins[i][j] < b.lower[j]) {
          throw new Error(`internal error: sample ${index}: margin ${j} is ${advMargins[i][j]} at an attack point inside the box, below its proven lower bound ${b.lower[j]}`);
        }
      }
    }
    const verdict: Verdict = b.lowest > 0 ? "certified" : "unknown";
    if (verdict === "certified" && (outcomes[i].success || !cleanCorrect)) {
      throw new Error(`internal error: sample ${index} certified although the attack or the clean point misclassifies it`);
    }
    samples.push({ index, label, verdict, lowestBound: b.lowest, counterexampleMargin: NaN, cleanCorrect });
  }
  return { samples, attackSeconds: (t1 - t0) / 1000, boundSeconds: (t2 - t1) / 1000 };
}

/** Merges shard results (in index order) into counts and accuracies. */
export function summarize(shards: ShardVerdicts[]): CertifyResult {
  const samples = shards.flatMap((s) => s.samples);
  const counts = { certified: 0, falsified: 0, unknown: 0 };
  for (const s of samples) counts[s.verdict]++;
  const n = samples.length;
  const clean = samples.filter((s) => s.cleanCorrect).length;
  return {
    samples, counts, cleanAccuracy: n ? clean / n : 0, certifiedAccuracy: n ? counts.certified / n : 0,
    attackSeconds: shards.reduce((a, s) => a + s.attackSeconds, 0), boundSeconds: shards.reduce((a, s) => a + s.boundSeconds, 0),
  };
}

/** Verdicts for the rows `indices` of data, sharded over the engine's executor (inline or pool). */
export async function certifyOn(engine: ShardedEngine, data: Dataset, indices: Uint32Array, o: CertifyOptions): Promise<CertifyResult> {
  if (!(o.eps >= 0) || !Number.isFinite(o.eps)) throw new Error(`ε must be a non-negative number, got ${o.eps}`);
  return summarize(await engine.map<ShardVerdicts>("certify.run", data, indices, { options: o }));
}

/** In-process verdicts for n samples (x: n × inputSize). */
export async function certify(model: Model, x: Float32Array, y: ArrayLike<number>, o: CertifyOptions & { shardSize?: number }): Promise<CertifyResult> {
  const shape = model.arch.inputShape as [number, number, number];
  const data = fromFloat("samples", x, y, shape, model.outputSize);
  const shardSize = o.shardSize ?? 32;
  const mark = model.arena.mark();
  try {
    const engine = new ShardedEngine(model, new InlineExecutor(model.rt, CERTIFY_TASKS), shardSize, shardSize);
    return await certifyOn(engine, data, Uint32Array.from({ length: data.n }, (_, i) => i), o);
  } finally {
    model.arena.release(mark);
  }
}
