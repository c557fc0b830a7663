// The black-box view of a model: attacks that may only query it get an Oracle, never the
// Model. An oracle answers scores (logits or probabilities) or labels only, counts every
// point it evaluates against the sample under attack that asked for it, and refuses a call
// that would take any sample past its budget — so a reported query count is a fact about
// the calls made, not the attack's own bookkeeping.
import type { Model, Plan } from "../nn/model.js";

/** What a query returns: raw logits, softmax probabilities, or the arg-max label only. */
export type OracleKind = "logits" | "probs" | "labels";

export interface Oracle {
  readonly kind: OracleKind;
  /** Input shape ([c, h, w] for images) and values per input. */
  readonly shape: readonly number[];
  readonly dim: number;
  readonly classes: number;
  /** Samples under attack (owners are 0..n-1). */
  readonly n: number;
  /** Queries each sample may make (Infinity: unlimited). */
  readonly budget: number;
  used(owner: number): number;
  remaining(owner: number): number;
  /**
   * Scores (rows × classes) of rows [0, rows) of x (rows × dim); row r is charged to sample
   * owners[r]. Throws (evaluating nothing) for a labels-only oracle or when a sample would
   * exceed its budget.
   */
  scores(x: Float32Array, owners: ArrayLike<number>, rows?: number): Float32Array;
  /** Arg-max labels of rows [0, rows) of x, charged as scores() is. */
  labels(x: Float32Array, owners: ArrayLike<number>, rows?: number): Int32Array;
}

export class QueryBudgetError extends Error {
  constructor(readonly owner: number, readonly used: number, readonly asked: number, readonly budget: number) {
    super(`query budget exceeded: sample ${owner} has used ${used} of ${budget} queries and asked for ${asked} more`);
    this.name = "QueryBudgetError";
  }
}

/**
 * The GEMM picks its kernel by row count (≤ 16 rows run as the transposed problem, which
 * sums in another order), so a row's logits could differ in the last bit with the size of
 * the call. Every forward pass gets at least this many rows (padding repeats the last one,
 * uncharged): a sample's answers are then a function of its own input only, whichever
 * samples share its batch.
 */
export const MIN_ROWS = 17;

export interface ModelOracleOptions {
  kind: OracleKind;
  /** Queries per sample (default: unlimited). */
  budget?: number;
  /** Buffers to run in (a shard's plan); default model.plan(256). Capacity ≥ MIN_ROWS. */
  plan?: Plan;
}

/** An Oracle answering from a Model; candidate points are evaluated plan.capacity at a time. */
export class ModelOracle implements Oracle {
  readonly kind: OracleKind;
  readonly shape: readonly number[];
  readonly dim: number;
  readonly classes: number;
  readonly budget: number;
  private readonly counts: Float64Array;
  private readonly plan: Plan;

  constructor(private readonly model: Model, readonly n: number, o: ModelOracleOptions) {
    if (o.kind !== "logits" && o.kind !== "probs" && o.kind !== "labels") throw new Error(`unknown oracle kind '${o.kind}' (expected logits, probs or labels)`);
    const budget = o.budget ?? Infinity;
    if (!(budget >= 0)) throw new Error(`query budget must be a non-negative number, got ${budget}`);
    if (!Number.isInteger(n) || n < 0) throw new Error(`bad sample count ${n}`);
    this.kind = o.kind;
    this.budget = budget;
    this.shape = [...model.arch.inputShape];
    this.dim = model.inputSize;
    this.classes = model.outputSize;
    this.plan = o.plan ?? model.plan(256);
    if (this.plan.capacity < MIN_ROWS) throw new Error(`oracle plan capacity ${this.plan.capacity} is below ${MIN_ROWS} rows`);
    this.counts = new Float64Array(n);
  }

  used(owner: number): number {
    return this.counts[owner];
  }

  remaining(owner: number): number {
    return this.budget - this.counts[owner];
  }

  scores(x: Float32Array, owners: ArrayLike<number>, rows = owners.length): Float32Array {
    if (this.kind === "labels") throw new Error("this oracle answers labels only");
    this.charge(x, owners, rows);
    const c = this.classes;
    const out = new Float32Array(rows * c);
    this.run(x, rows, (from, m) => {
      out.set(this.plan.logits.subarray(0, m * c), from * c);
    });
    if (this.kind === "probs") softmaxRows(out, rows, c);
    return out;
  }

  labels(x: Float32Array, owners: ArrayLike<number>, rows = owners.length): Int32Array {
    this.charge(x, owners, rows);
    const out = new Int32Array(rows);
    this.run(x, rows, (from, m) => {
      out.set(this.model.predict(this.plan, m).subarray(0, m), from);
    });
    return out;
  }

  /** Checks the whole call against the budgets first, so a refused call charges nothing. */
  private charge(x: Float32Array, owners: ArrayLike<number>, rows: number): void {
    if (!(rows >= 0 && rows <= owners.length)) throw new Error(`${rows} rows but ${owners.length} owners`);
    if (x.length < rows * this.dim) throw new Error(`query of ${rows} rows needs ${rows * this.dim} values, got ${x.length}`);
    const asked = new Map<number, number>();
    for (let r = 0; r < rows; r++) {
      const o = owners[r];
      if (!(Number.isInteger(o) && o >= 0 && o < this.n)) throw new Error(`query owner ${o} is outside 0..${this.n - 1}`);
      asked.set(o, (asked.get(o) ?? 0) + 1);
    }
    for (const [o, k] of asked) if (this.counts[o] + k > this.budget) throw new QueryBudgetError(o, this.counts[o], k, this.budget);
    for (const [o, k] of asked) this.counts[o] += k;
  }

  /** Forwards rows [0, rows) of x in chunks of the plan's capacity, each padded to MIN_ROWS. */
  private run(x: Float32Array, rows: number, take: (from: number, m: number) => void): void {
    const { dim, plan } = this;
    for (let from = 0; from < rows; from += plan.capacity) {
      const m = Math.min(plan.capacity, rows - from);
      plan.input.set(x.subarray(from * dim, (from + m) * dim));
      const b = Math.max(m, MIN_ROWS);
      for (let r = m; r < b; r++) plan.input.copyWithin(r * dim, (m - 1) * dim, m * dim);
      this.model.forward(plan, b);
      take(from, m);
    }
  }
}

function softmaxRows(z: Float32Array, rows: number, c: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, z[o + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(z[o + j] - mx);
    for (let j = 0; j < c; j++) z[o + j] = Math.exp(z[o + j] - mx) / s;
  }
}

/** The inputs of a black-box attack: n clean rows, their labels, and the keys of its draws. */
export interface BlackBoxBatch {
  /** n × dim clean inputs. */
  x0: Float32Array;
  labels: ArrayLike<number>;
  /** Global sample indices: every random draw is keyed by them, never by batch position. */
  samples: ArrayLike<number>;
  seed: number;
  /** Distinguishes runs (restarts, epochs) under one seed; default 0. */
  stream?: number;
}

export interface BlackBoxResult {
  /** n × dim adversarial inputs (the clean input where nothing better was found). */
  xadv: Float32Array;
  /** 1 where xadv is misclassified (as answered by the oracle). */
  success: Uint8Array;
  /** Queries each sample used. */
  queries: Int32Array;
}

/** s_y − max_{j≠y} s_j of one row of scores: negative exactly when the label is wrong. */
export function margin(scores: Float32Array, row: number, classes: number, label: number): number {
  const o = row * classes;
  let other = -Infinity;
  for (let j = 0; j < classes; j++) if (j !== label && scores[o + j] > other) other = scores[o + j];
  return scores[o + label] - other;
}

/** Validates a batch against the oracle (shapes, finite inputs, labels); returns n. */
export function checkBatch(oracle: Oracle, b: BlackBoxBatch): number {
  const n = b.labels.length;
  if (n !== oracle.n) throw new Error(`batch of ${n} samples, oracle counts ${oracle.n}`);
  if (b.x0.length !== n * oracle.dim) throw new Error(`x0 holds ${b.x0.length} values, expected ${n} × ${oracle.dim}`);
  if (b.samples.length !== n) throw new Error(`${b.samples.length} sample keys for ${n} samples`);
  for (let j = 0; j < b.x0.length; j++) if (!Number.isFinite(b.x0[j])) throw new Error(`x0 holds a non-finite value at sample ${Math.floor(j / oracle.dim)}`);
  for (let i = 0; i < n; i++) {
    if (!(Number.isInteger(b.labels[i]) && b.labels[i] >= 0 && b.labels[i] < oracle.classes)) throw new Error(`label ${b.labels[i]} of sample ${i} is outside 0..${oracle.classes - 1}`);
  }
  return n;
}

/** The queries each of n samples has used so far. */
export function usedQueries(oracle: Oracle, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => oracle.used(i));
}
