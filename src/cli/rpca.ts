// `bulwark rpca`: split a matrix into low-rank L and sparse S (robust PCA), by AltProj or PCP.
import { type Command, InvalidArgumentError } from "commander";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../core/files.js";
import { altproj } from "../poison/altproj.js";
import type { Mat } from "../poison/linalg.js";
import { encodeBinary, formatCsv, parseMatrix } from "../poison/matrix-io.js";
import { recoveryStats, rpcaStats, type RecoveryStats, type RpcaResult, type RpcaStats } from "../poison/metrics.js";
import { pcp } from "../poison/pcp.js";
import { syntheticRpca } from "../poison/synthetic.js";
import type { Precision } from "../poison/wasm.js";
import { int, num, oneOf } from "./options.js";
import { emit, type GlobalOptions } from "./run.js";

export interface RpcaOptions {
  input?: string;
  synthetic?: [number, number, number, number];
  method: "altproj" | "pcp";
  rankHint?: number;
  beta?: number;
  lambda?: number;
  rho?: number;
  accurate?: boolean;
  tol?: number;
  maxIter?: number;
  seed: number;
  out?: string;
  format: "csv" | "f32";
  /** Arithmetic of the solver's m×n iterates (default float64). */
  precision?: Precision;
  /** PCP's SVD for the singular value threshold (default auto). */
  svd?: "auto" | "full" | "partial";
}

export type RpcaReport = RpcaStats & Partial<RecoveryStats> & {
  method: string;
  precision: Precision;
  rows: number;
  cols: number;
  converged: boolean;
  seconds: number;
  files?: string[];
};

function syntheticSpec(v: string): [number, number, number, number] {
  const p = v.split(",").map((x) => x.trim());
  const nums = p.map(Number);
  if (p.length !== 4 || p.some((x) => x === "") || nums.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError(`--synthetic must be m,n,rank,fraction, got '${v}'`);
  const [m, n, r, f] = nums;
  if (![m, n, r].every((x) => Number.isInteger(x)) || m < 2 || n < 2 || r < 1 || r >= Math.min(m, n)) throw new InvalidArgumentError(`--synthetic needs integers m,n ≥ 2 and 1 ≤ rank < min(m,n), got '${v}'`);
  if (!(f >= 0 && f < 1)) throw new InvalidArgumentError(`--synthetic fraction must be in [0, 1), got '${v}'`);
  return [m, n, r, f];
}

/** The whole command without commander: load or generate, solve, measure, write. */
export function runRpca(o: RpcaOptions): { report: RpcaReport; result: RpcaResult } {
  if (!o.input === !o.synthetic) throw new Error("give exactly one of --input or --synthetic");
  let M: Mat;
  let truth: { lowRank: Mat; sparse: Mat } | undefined;
  if (o.input) {
    let buf: Buffer;
    try {
      buf = readFileSync(o.input);
    } catch (e) {
      throw new Error(`${o.input}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    M = parseMatrix(buf, o.input);
  } else {
    const [m, n, r, f] = o.synthetic!;
    const p = syntheticRpca(m, n, r, f, o.seed);
    M = p.m;
    truth = p;
  }
  if (Math.min(M.rows, M.cols) < 2) throw new Error(`matrix is ${M.rows}×${M.cols}: robust PCA needs at least 2 rows and 2 columns`);
  if (o.out) {
    try {
      mkdirSync(o.out, { recursive: true });
    } catch (e) {
      throw new Error(`cannot create ${o.out} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (!statSync(o.out).isDirectory()) throw new Error(`${o.out} is not a directory`);
  }
  const rank = o.rankHint ?? (truth ? o.synthetic![2] : Math.max(1, Math.round(0.1 * Math.min(M.rows, M.cols))));
  const precision = o.precision ?? "float64";
  const t0 = performance.now();
  const result = o.method === "altproj"
    ? altproj(M, { rank, beta: o.beta, tol: o.tol, maxIter: o.maxIter, seed: o.seed, precision })
    : pcp(M, { lambda: o.lambda, rho: o.rho, accurate: o.accurate, tol: o.tol, maxIter: o.maxIter, seed: o.seed, precision, svd: o.svd });
  const seconds = (performance.now() - t0) / 1000;
  const report: RpcaReport = { method: o.method, precision, rows: M.rows, cols: M.cols, ...rpcaStats(M, result), converged: result.converged, seconds };
  if (truth) Object.assign(report, recoveryStats(M, result, truth.lowRank, truth.sparse));
  if (o.out) {
    const ext = o.format === "f32" ? "f32" : "csv";
    const enc = (a: Mat) => (o.format === "f32" ? encodeBinary(a) : formatCsv(a));
    const files = [join(o.out, `L.${ext}`), join(o.out, `S.${ext}`), join(o.out, "rpca.json")];
    writeFileAtomic(files[0], enc(result.lowRank));
    writeFileAtomic(files[1], enc(result.sparse));
    report.files = files;
    writeFileAtomic(files[2], JSON.stringify(report, null, 2) + "\n");
  }
  return { report, result };
}

export function registerRpca(program: Command): void {
  program.command("rpca")
    .description("robust PCA: split a matrix into low-rank L plus sparse S (AltProj or PCP)")
    .option("--input <file>", "matrix: CSV, or float32 binary (BWKM magic + JSON header)")
    .option("--synthetic <m,n,rank,fraction>", "generate a problem with a known answer", syntheticSpec)
    .option("--method <name>", "altproj or pcp", oneOf("--method", ["altproj", "pcp"]), "altproj")
    .option("--rank-hint <r>", "largest rank of L (AltProj)", int("--rank-hint", 1))
    .option("--beta <b>", "AltProj threshold constant (default 1/√max(m,n))", num("--beta", { positive: true }))
    .option("--lambda <l>", "PCP sparsity weight (default 1/√max(m,n))", num("--lambda", { positive: true }))
    .option("--rho <r>", "PCP μ growth factor (default 1.5, 1.1 with --accurate)", num("--rho", { min: 1 }))
    .option("--accurate", "PCP: slow μ growth and a capped μ, to reach the PCP optimum")
    .option("--tol <t>", "stop at ‖M−L−S‖/‖M‖ below this", num("--tol", { positive: true }))
    .option("--precision <p>", "arithmetic of the solver's m×n iterates: float64, or float32 (half the memory, ~1e-4 accuracy)", oneOf("--precision", ["float64", "float32"]), "float64")
    .option("--svd <mode>", "PCP's SVD: auto, full (Jacobi) or partial (randomized)", oneOf("--svd", ["auto", "full", "partial"]), "auto")
    .option("--max-iter <n>", "iteration limit", int("--max-iter", 1))
    .option("--seed <n>", "seed for --synthetic and the randomized SVD", int("--seed", 0), 1)
    .option("--format <f>", "output format for L and S: csv or f32", oneOf("--format", ["csv", "f32"]), "csv")
    .option("--out <dir>", "write L, S and rpca.json here (atomically)")
    .action((opts: Record<string, unknown>, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions & RpcaOptions;
      const { report } = runRpca({ ...o, method: (opts.method as "altproj" | "pcp") ?? "altproj", seed: o.seed ?? 1, format: o.format ?? "csv" });
      emit(o, report, () => {
        const e = (x: number) => x.toExponential(2);
        const lines = [
          `${report.method} (${report.precision}): ${report.rows}×${report.cols}, rank ${report.rank}, S ${(100 * report.sparsity).toFixed(2)} % nonzero, residual ${e(report.residual)}, ${report.iterations} iterations, ${report.seconds.toFixed(2)} s${report.converged ? "" : " (not converged)"}`,
        ];
        if (report.lowRankError !== undefined) lines.push(`recovery: ‖L−L*‖/‖L*‖ ${e(report.lowRankError)}, ‖S−S*‖/‖S*‖ ${e(report.sparseError!)}, support F1 ${report.supportF1!.toFixed(4)}`);
        if (report.files) lines.push(`wrote ${report.files.join(", ")}`);
        return lines;
      });
    });
}
