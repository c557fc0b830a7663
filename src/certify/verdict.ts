// Per-sample verdicts: attack first (PGD), then bounds. falsified: the attack found a point in
// the box that the network misclassifies (its margin is reported); certified: every margin's
// lower bound is > 0; unknown otherwise. Two internal checks guard soundness: an attack point
// inside the box whose margin lies below a proven lower bound, or a "certified" sample the
// attack broke, is a bug and throws. The work runs per shard (certifyShard) so the pool can
// spread samples over workers; every random draw is keyed by the global sample index, so the
// verdicts do not depend on the number of workers.
import type { TightenMode } from "./tighten.js";
import { runAttack, type AttackSpec } from "../attack/registry.js";
import { attackStream } from "../attack/threat.js";
import { fromFloat, type Dataset } from "../data/dataset.js";
import { Arena } from "../core/arena.js";
import { Runtime } from "../core/runtime.js";
import { Model } from "../nn/model.js";
import { InlineExecutor } from "../pool/executor.js";
import type { ShardRegion } from "../pool/shard.js";
import { ShardedEngine } from "../train/engine.js";
import { BOUND_METHODS, type BoundMethod, inputBox } from "./bounds.js";
import { fastMarginBounds } from "./fast.js";
import { lpMarginBounds, type ExactBounds } from "./lp.js";
import { milpMarginBounds } from "./milp.js";
import { CERTIFY_TASKS } from "./tasks.js";

export type Verdict = "certified" | "falsified" | "unknown";

/**
 * Bound methods, the exact solvers (HiGHS) and `auto`: cheap to expensive — IBP, CROWN,
 * α-CROWN, then MILP within the time limit — each on the samples still undecided.
 */
export const CERTIFY_METHODS = [...BOUND_METHODS, "lp", "milp", "auto"] as const;
export type CertifyMethod = (typeof CERTIFY_METHODS)[number];
const AUTO_STAGES: CertifyMethod[] = ["ibp", "crown", "alpha-crown", "milp"];

export interface CertifyOptions {
  method: CertifyMethod;
  /** LP/MILP solver time limit per margin, seconds (default 10). */
  timeLimit?: number;
  /** MILP branch-and-bound nodes per margin (deterministic, unlike the time limit). */
  nodeLimit?: number;
  /** LP/MILP intermediate bounds: "lp" re-bounds unstable neurons by LPs, "none" keeps CROWN's (milp.ts/lp.ts defaults). */
  tighten?: TightenMode;
  /**
   * "float32" (default): IBP/CROWN/CROWN-IBP of Dense/ReLU nets run batched in the WASM kernels
   * (fast.ts; other nets and methods use the float64 path); "float64": always the float64 path.
   * Both are sound for the float32 network.
   */
  precision?: "float32" | "float64";
  /** α-CROWN's Adam steps and step size (bounds.ts defaults). */
  alphaIterations?: number;
  alphaStep?: number;
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
  /** What settled the verdict: "attack", a bound method, or "" when nothing did. */
  decidedBy: string;
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
  // The model keeps its plan: no arena mark/release around it (a later model's weights would
  // land in the released space and be overwritten by the next call).
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

interface OpenBounds {
  lower: Float64Array;
  lowest: number;
  /** A solver's point where some margin is negative (float64 arithmetic): checked by the caller. */
  counterexample?: Float32Array;
  decidedBy: string;
}

// The batched float32 bounds need scratch memory the size of their coefficient matrices, but
// shard regions sit back to back in the shared memory with nothing free after them. So the
// bounds run on this thread's private instance (its own memory) over a copy of the weights.
let privateRuntime: Runtime | undefined;

function privateCopy(model: Model): Model {
  privateRuntime ??= new Runtime({ simd: model.rt.variant, module: model.rt.module });
  const copy = new Model(model.arch, new Arena(privateRuntime)); // from the heap base: reuses the memory
  copy.params.f32.set(model.params.f32);
  return copy;
}

function boundOptions(method: BoundMethod, o: CertifyOptions, clip: { lo: number; hi: number } | null) {
  return { method, eps: o.eps, clip, rounding: o.rounding, precision: o.precision, alphaIterations: o.alphaIterations, alphaStep: o.alphaStep };
}

function fromExact(r: ExactBounds, method: string): OpenBounds {
  return { lower: r.lower, lowest: r.lowest, counterexample: r.counterexample?.x, decidedBy: method };
}

/** Margin lower bounds of the samples the attack left open, by o.method. */
async function openBounds(model: Model, xs: Float32Array, labels: number[], o: CertifyOptions): Promise<OpenBounds[]> {
  const clip = o.clip !== false ? { lo: 0, hi: 1 } : null;
  const dim = model.inputSize;
  const method = o.method;
  if ((BOUND_METHODS as readonly string[]).includes(method)) {
    return fastMarginBounds(privateCopy(model), xs, labels, boundOptions(method as BoundMethod, o, clip))
      .map((b) => ({ lower: b.lower, lowest: b.lowest, decidedBy: method }));
  }
  const exact = { eps: o.eps, clip, rounding: o.rounding, timeLimit: o.timeLimit, nodeLimit: o.nodeLimit, tighten: o.tighten };
  const out: OpenBounds[] = [];
  for (let k = 0; k < labels.length; k++) {
    const x = xs.subarray(k * dim, (k + 1) * dim);
    if (method === "lp") out.push(fromExact(await lpMarginBounds(model, x, labels[k], exact), method));
    else if (method === "milp") out.push(fromExact(await milpMarginBounds(model, x, labels[k], { ...exact, stopOnViolation: true }), method));
    else if (method === "auto") out.push(await autoBounds(model, x, labels[k], o, exact));
    else throw new Error(`unknown certification method '${method}' (expected ${CERTIFY_METHODS.join(", ")})`);
  }
  return out;
}

/** auto: every stage keeps the best bound per margin so far; the MILP solves only the margins still unproved. */
async function autoBounds(model: Model, x: Float32Array, label: number, o: CertifyOptions, exact: { eps: number; clip: { lo: number; hi: number } | null; rounding?: "float32" | "none"; timeLimit?: number; nodeLimit?: number; tighten?: TightenMode }): Promise<OpenBounds> {
  const lower = new Float64Array(model.outputSize).fill(-Infinity);
  lower[label] = Infinity;
  const lowest = (): number => Math.min(...Array.from(lower).filter((_, j) => j !== label));
  for (const stage of AUTO_STAGES) {
    if (stage === "milp") {
      const margins = Array.from(lower.keys()).filter((j) => j !== label && !(lower[j] > 0));
      const r = await milpMarginBounds(model, x, label, { ...exact, margins, stopOnViolation: true });
      for (const j of margins) lower[j] = Math.max(lower[j], r.lower[j]);
      if (lowest() > 0 || r.counterexample) return { lower, lowest: lowest(), counterexample: r.counterexample?.x, decidedBy: stage };
      continue;
    }
    const b = fastMarginBounds(privateCopy(model), x, [label], boundOptions(stage as BoundMethod, o, exact.clip))[0];
    for (let j = 0; j < lower.length; j++) if (j !== label) lower[j] = Math.max(lower[j], b.lower[j]);
    if (lowest() > 0) return { lower, lowest: lowest(), decidedBy: stage };
  }
  return { lower, lowest: lowest(), decidedBy: "" };
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
  const bounds = await openBounds(model, xs, open.map((i) => labels[i]), o);
  const t2 = performance.now();
  const boundOf = new Map(open.map((i, k) => [i, bounds[k]]));
  // A solver's counterexample counts only if the float32 network misclassifies it too.
  const solverFound = new Map<number, number>();
  for (const [i, b] of boundOf) {
    if (!b.counterexample) continue;
    plan.input.set(b.counterexample);
    plan.labels[0] = labels[i];
    const m = minOff(planMargins(model, region, 1)[0], labels[i]);
    plan.labels.set(labels);
    if (m < 0) solverFound.set(i, m);
  }
  const samples: SampleVerdict[] = [];
  for (let i = 0; i < n; i++) {
    const index = region.samples[i];
    const label = labels[i];
    const b = boundOf.get(i);
    const cx = minOff(advMargins[i], label);
    const cleanCorrect = minOff(cleanMargins[i], label) > 0;
    if (!b) {
      samples.push({ index, label, verdict: "falsified", lowestBound: NaN, counterexampleMargin: cx, cleanCorrect, decidedBy: "attack" });
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
    const found = solverFound.get(i);
    const verdict: Verdict = b.lowest > 0 ? "certified" : found !== undefined ? "falsified" : "unknown";
    if (verdict === "certified" && (outcomes[i].success || !cleanCorrect)) {
      throw new Error(`internal error: sample ${index} certified although the attack or the clean point misclassifies it`);
    }
    samples.push({
      index, label, verdict, lowestBound: b.lowest, counterexampleMargin: found ?? NaN, cleanCorrect,
      decidedBy: verdict === "unknown" ? "" : b.decidedBy,
    });
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
  // Its own instance over a copy of the weights: the shard regions live across awaits (LP/MILP),
  // so taking and releasing them in the caller's arena would race with concurrent callers.
  const own = new Model(model.arch, new Arena(new Runtime({ simd: model.rt.variant, module: model.rt.module })));
  own.params.f32.set(model.params.f32);
  const engine = new ShardedEngine(own, new InlineExecutor(own.rt, CERTIFY_TASKS), shardSize, shardSize);
  return certifyOn(engine, data, Uint32Array.from({ length: data.n }, (_, i) => i), o);
}
