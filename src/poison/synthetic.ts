// Seeded robust-PCA test problems with a known answer (Candès, Li, Ma & Wright 2011, §4):
// L* = U Vᵀ with U (m×r) and V (n×r) Gaussian with variances 1/m and 1/n, and S* with a
// fraction ρ of entries set to ±1 (equal odds) at uniformly random positions; M = L* + S*.
import { permutation, Stream } from "../core/random.js";
import { mat, matmulNT, type Mat } from "./linalg.js";

/** Stream ids for the generator (distinct from the core's STREAM ids). */
export const RPCA_STREAM = { u: 0x52500001, v: 0x52500002, support: 0x52500003, sign: 0x52500004 } as const;

export interface SyntheticProblem {
  m: Mat;
  lowRank: Mat;
  sparse: Mat;
  rank: number;
  fraction: number;
  seed: number;
}

export function syntheticRpca(rows: number, cols: number, rank: number, fraction: number, seed = 1): SyntheticProblem {
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0)) throw new Error(`synthetic: sizes must be positive integers, got ${rows}×${cols}`);
  if (!(Number.isInteger(rank) && rank >= 0 && rank <= Math.min(rows, cols))) throw new Error(`synthetic: rank must be an integer in [0, ${Math.min(rows, cols)}], got ${rank}`);
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`synthetic: fraction must be in [0, 1], got ${fraction}`);
  const gu = new Stream(seed, RPCA_STREAM.u), gv = new Stream(seed, RPCA_STREAM.v);
  const u = new Float64Array(rows * rank), v = new Float64Array(cols * rank);
  const su = 1 / Math.sqrt(rows), sv = 1 / Math.sqrt(cols);
  for (let i = 0; i < u.length; i++) u[i] = gu.normal() * su;
  for (let i = 0; i < v.length; i++) v[i] = gv.normal() * sv;
  const lowRank = rank > 0 ? matmulNT(mat(rows, rank, u), mat(cols, rank, v)) : mat(rows, cols);
  const total = rows * cols;
  const count = Math.round(fraction * total);
  const perm = permutation(total, seed, RPCA_STREAM.support);
  const signs = new Stream(seed, RPCA_STREAM.sign);
  const s = new Float64Array(total);
  for (let i = 0; i < count; i++) s[perm[i]] = signs.next() < 0.5 ? -1 : 1;
  const m = new Float64Array(total);
  for (let i = 0; i < total; i++) m[i] = lowRank.data[i] + s[i];
  return { m: mat(rows, cols, m), lowRank, sparse: mat(rows, cols, s), rank, fraction, seed };
}
