// The HiGHS solver (npm `highs`, WebAssembly): loaded once per thread, a linear program in
// row-compressed form that can be handed to it, and the weak-duality bound that turns any
// row-dual vector the solver returns into a lower bound that holds in exact arithmetic —
// independent of the solver's tolerances and of whether it finished.
import highsModule from "highs";
import type { Highs, Model as HighsModel } from "highs";

export type { Highs };

// The package's typings describe a CommonJS module while Node's ESM import yields the loader
// itself; accept both shapes.
type Loader = () => Promise<Highs>;
const loadHighsModule: Loader = typeof highsModule === "function" ? (highsModule as Loader) : (highsModule as unknown as { default: Loader }).default;

let loading: Promise<Highs> | undefined;

/** The solver module of this thread (loaded on first use; WASM instantiation is async). */
export function loadHighs(): Promise<Highs> {
  const p = loading ?? loadHighsModule().catch((e: unknown) => {
    loading = undefined;
    throw new Error(`could not load the HiGHS solver: ${(e as Error).message ?? e}`);
  });
  loading = p;
  return p;
}

/**
 * min cost·v subject to rowLower ≤ A v ≤ rowUpper, colLower ≤ v ≤ colUpper, with A in CSR
 * form. Every column bound is finite here (weakDualBound relies on it).
 */
export interface LinearProgram {
  numCols: number;
  numRows: number;
  colLower: Float64Array;
  colUpper: Float64Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  starts: Int32Array;
  indices: Int32Array;
  values: Float64Array;
  /** Columns that must be integer (binaries of a MILP). */
  integer?: Int32Array;
}

/** Incremental builder of a LinearProgram. */
export class ProgramBuilder {
  private colLo: number[] = [];
  private colHi: number[] = [];
  private rowLo: number[] = [];
  private rowHi: number[] = [];
  private starts: number[] = [0];
  private idx: number[] = [];
  private val: number[] = [];
  private ints: number[] = [];

  get numCols(): number {
    return this.colLo.length;
  }

  get numRows(): number {
    return this.rowLo.length;
  }

  addCol(lo: number, hi: number, integer = false): number {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) throw new Error(`invalid variable bounds [${lo}, ${hi}]`);
    this.colLo.push(lo);
    this.colHi.push(hi);
    if (integer) this.ints.push(this.colLo.length - 1);
    return this.colLo.length - 1;
  }

  /** lo ≤ Σ values[k]·v[cols[k]] ≤ hi (columns distinct; zero coefficients dropped). */
  addRow(cols: ArrayLike<number>, values: ArrayLike<number>, lo: number, hi: number): number {
    for (let k = 0; k < cols.length; k++) {
      if (values[k] === 0) continue;
      this.idx.push(cols[k]);
      this.val.push(values[k]);
    }
    this.starts.push(this.idx.length);
    this.rowLo.push(lo);
    this.rowHi.push(hi);
    return this.rowLo.length - 1;
  }

  /** Replaces column c's bounds (by a tightened box: tighten.ts). */
  setColBounds(c: number, lo: number, hi: number): void {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) throw new Error(`invalid variable bounds [${lo}, ${hi}]`);
    this.colLo[c] = lo;
    this.colHi[c] = hi;
  }

  build(): LinearProgram {
    return {
      numCols: this.colLo.length,
      numRows: this.rowLo.length,
      colLower: Float64Array.from(this.colLo),
      colUpper: Float64Array.from(this.colHi),
      rowLower: Float64Array.from(this.rowLo),
      rowUpper: Float64Array.from(this.rowHi),
      starts: Int32Array.from(this.starts),
      indices: Int32Array.from(this.idx),
      values: Float64Array.from(this.val),
      integer: this.ints.length ? Int32Array.from(this.ints) : undefined,
    };
  }
}

/**
 * A HiGHS model of the program (zero cost; set costs with changeColCost). Silent. With
 * relaxed: the integrality of `integer` columns is dropped (the LP relaxation). The caller
 * disposes it.
 */
export function createHighsModel(h: Highs, p: LinearProgram, relaxed = false): HighsModel {
  const inf = (v: number) => (v === Infinity ? h.infinity : v === -Infinity ? -h.infinity : v);
  let integrality: Int32Array | undefined;
  if (!relaxed && p.integer) {
    integrality = new Int32Array(p.numCols);
    for (const c of p.integer) integrality[c] = h.constants.variableType.integer;
  }
  const m = h.createModel({
    numCols: p.numCols,
    numRows: p.numRows,
    colCost: new Float64Array(p.numCols),
    colLower: p.colLower,
    colUpper: p.colUpper,
    rowLower: p.rowLower.map(inf),
    rowUpper: p.rowUpper.map(inf),
    matrix: { format: "csr", numRows: p.numRows, numCols: p.numCols, starts: p.starts, indices: p.indices, values: p.values },
    integrality,
  });
  m.options.set({ output_flag: false });
  return m;
}

export type LpStatus = "optimal" | "limit" | "failed";

export interface LpRun {
  status: LpStatus;
  /** A lower bound of min cost·v over the program (weakDualBound; sound whatever the status). */
  bound: number;
  /** The solver's primal point when it reports a feasible one (an input to re-check, not a proof). */
  colValue?: ArrayLike<number>;
}

/**
 * Runs the LP model m of program p, whose costs the caller has set to `cost`. The bound comes
 * from the row duals by weak duality; with no usable duals (or a throw) y = 0, i.e. the
 * column box alone — a failed or cut-short solve only weakens the bound.
 */
export function runLp(h: Highs, m: HighsModel, p: LinearProgram, cost: ArrayLike<number>): LpRun {
  const ms = h.constants.modelStatus;
  let status: LpStatus;
  let y: ArrayLike<number> | undefined;
  let colValue: ArrayLike<number> | undefined;
  m.zeroAllClocks();
  try {
    const code = m.run().modelStatus;
    status = code === ms.optimal ? "optimal" : code === ms.timeLimit || code === ms.iterationLimit || code === ms.interrupted ? "limit" : "failed";
    const sol = m.getSolution();
    if (Number(m.info.get("dual_solution_status")) !== 0) y = sol.rowDual;
    if (Number(m.info.get("primal_solution_status")) === h.constants.solutionStatus.feasible) colValue = sol.colValue;
  } catch {
    status = "failed";
  }
  const zero = new Float64Array(p.numRows);
  const bound = Math.max(y ? weakDualBound(p, cost, y) : -Infinity, weakDualBound(p, cost, zero));
  return { status, bound, colValue };
}

/** γ_n of float64 (Higham §3.1). */
function gamma64(n: number): number {
  const u = 2 ** -53;
  return (n * u) / (1 - n * u);
}

/**
 * A lower bound of min cost·v over the program (integrality ignored) from any row-dual
 * vector y, by weak duality: for y_i > 0 the row's lower bound, for y_i < 0 its upper bound
 * (a y_i pointing at an infinite side is dropped), then the reduced costs r = cost − Aᵀy are
 * minimised over the finite column box. It holds for every y, so the solver's tolerances and
 * status do not matter — only the quality of the bound does. The float64 rounding of this
 * evaluation (a sum of at most N terms) is covered by subtracting γ_N·Σ|terms|.
 */
export function weakDualBound(p: LinearProgram, cost: ArrayLike<number>, y: ArrayLike<number>): number {
  const r = Float64Array.from(cost);
  const rMag = Float64Array.from(cost, Math.abs);
  let s = 0;
  let mag = 0;
  for (let i = 0; i < p.numRows; i++) {
    const yi = y[i];
    if (!Number.isFinite(yi) || yi === 0) continue;
    const t = yi > 0 ? p.rowLower[i] : p.rowUpper[i];
    if (!Number.isFinite(t)) continue;
    s += yi * t;
    mag += Math.abs(yi * t);
    for (let k = p.starts[i]; k < p.starts[i + 1]; k++) {
      const c = p.indices[k];
      const v = yi * p.values[k];
      r[c] -= v;
      rMag[c] += Math.abs(v);
    }
  }
  for (let c = 0; c < p.numCols; c++) {
    const lo = p.colLower[c];
    const hi = p.colUpper[c];
    s += r[c] >= 0 ? r[c] * lo : r[c] * hi;
    mag += rMag[c] * Math.max(Math.abs(lo), Math.abs(hi));
  }
  return s - gamma64(p.indices.length + p.numRows + 2 * p.numCols + 2) * mag;
}
