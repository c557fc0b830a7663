// Robust PCA's door into the WASM core (assembly/linalg.ts, assembly/gemm.ts): float64 and
// float32 arrays that live inside WASM memory, so the solvers hand their m×n matrices to
// kernels by pointer with no copies, and scopes that give that memory back in one call.
// The arrays are ordinary typed-array views; memory is shared, so a view stays valid after
// the memory grows (it just keeps pointing at the old, shorter buffer object).
import { defaultArena, type Arena } from "../core/arena.js";
import { runtime, type Runtime } from "../core/runtime.js";
import type { Kernels } from "../core/kernels.js";

export type Precision = "float64" | "float32";
export type Vec = Float64Array | Float32Array;

export const PRECISIONS: readonly Precision[] = ["float64", "float32"];

/** The WASM memory buffers views have been made on (memory.buffer changes on growth). */
const wasmBuffers = new WeakSet<ArrayBufferLike>();

let state: { rt: Runtime; arena: Arena; k: Kernels } | undefined;

function core(): { rt: Runtime; arena: Arena; k: Kernels } {
  if (!state) {
    const rt = runtime();
    state = { rt, arena: defaultArena(rt), k: rt.k };
  }
  return state;
}

export function kernels(): Kernels {
  return core().k;
}

/** Runs f and then frees every WASM array allocated inside it (results must be copied out). */
export function scope<T>(f: () => T): T {
  const { arena } = core();
  const mark = arena.mark();
  try {
    return f();
  } finally {
    arena.release(mark);
  }
}

/** Raw scratch bytes inside the current scope. */
export function scratch(bytes: number): number {
  return core().arena.bytes(bytes);
}

/** A zero-filled array of `length` elements inside WASM memory (freed when its scope ends). */
export function alloc(length: number, precision: "float64"): Float64Array;
export function alloc(length: number, precision: "float32"): Float32Array;
export function alloc(length: number, precision: Precision): Vec;
export function alloc(length: number, precision: Precision): Vec {
  const { rt, arena } = core();
  const bytes = precision === "float64" ? 8 : 4;
  const ptr = arena.bytes(length * bytes);
  const buf = rt.memory.buffer;
  wasmBuffers.add(buf);
  const v = precision === "float64" ? new Float64Array(buf, ptr, length) : new Float32Array(buf, ptr, length);
  v.fill(0);
  return v;
}

export function precisionOf(v: Vec): Precision {
  return v instanceof Float64Array ? "float64" : "float32";
}

export function isResident(v: Vec): boolean {
  return wasmBuffers.has(v.buffer);
}

/** The byte address of a WASM-resident array. */
export function ptr(v: Vec): number {
  if (!isResident(v)) throw new Error("internal: array is not in WASM memory");
  return v.byteOffset;
}

/** v itself when it is already in WASM memory in this precision, else a resident copy (converted). */
export function resident(v: ArrayLike<number> & { length: number }, precision: Precision): Vec {
  if ((v instanceof Float64Array || v instanceof Float32Array) && precisionOf(v) === precision && isResident(v)) return v;
  const r = alloc(v.length, precision);
  r.set(v as ArrayLike<number>);
  return r;
}

/** C = op(A)·op(B) on resident arrays of one precision (row-major, leading dims = widths). */
export function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, a: Vec, b: Vec, c: Vec, accumulate = false): void {
  const { k } = core();
  const lda = transA ? M : K, ldb = transB ? K : N;
  if (a.length < M * K || b.length < K * N || c.length < M * N) throw new Error(`internal: gemm operand sizes (${M}×${N}×${K})`);
  const p = precisionOf(c);
  if (precisionOf(a) !== p || precisionOf(b) !== p) throw new Error("internal: gemm operands of mixed precision");
  scope(() => {
    if (p === "float64") k.dgemm(+transA, +transB, M, N, K, ptr(a), lda, ptr(b), ldb, ptr(c), N, +accumulate, scratch(k.dgemmWorkBytes()));
    else k.gemm(+transA, +transB, M, N, K, ptr(a), lda, ptr(b), ldb, ptr(c), N, +accumulate, scratch(k.gemmWorkBytes()));
  });
}

/** out = a − b + s·c (c omitted: out = a − b), all resident, one precision. */
export function subAxpy(a: Vec, b: Vec, out: Vec, c?: Vec, s = 0): void {
  const { k } = core();
  const n = out.length;
  if (precisionOf(out) === "float64") k.dsubAxpy(n, ptr(a), ptr(b), c ? ptr(c) : 0, s, ptr(out));
  else k.ssubAxpy(n, ptr(a), ptr(b), c ? ptr(c) : 0, s, ptr(out));
}

/** Σ x² accumulated in float64. */
export function sumSquares(x: Vec): number {
  const { k } = core();
  return precisionOf(x) === "float64" ? k.dsumSquares(x.length, ptr(x)) : k.ssumSquares64(x.length, ptr(x));
}

/** PCP's fused pass after L (see assembly/linalg.ts dpcpUpdate): returns [ΣZ², Σ(ΔL)², Σ(ΔS)²]. */
export function pcpUpdate(d: Vec, l: Vec, lold: Vec, s: Vec, sold: Vec, y: Vec, inv: number, tau: number, mu: number): [number, number, number] {
  const { k } = core();
  return scope(() => {
    const sums = alloc(3, "float64");
    if (precisionOf(d) === "float64") k.dpcpUpdate(d.length, ptr(d), ptr(l), ptr(lold), ptr(s), ptr(sold), ptr(y), inv, tau, mu, ptr(sums));
    else k.spcpUpdate(d.length, ptr(d), ptr(l), ptr(lold), ptr(s), ptr(sold), ptr(y), inv, tau, mu, ptr(sums));
    return [sums[0], sums[1], sums[2]];
  });
}

/** AltProj's fused pass after L: S ← H_ζ(D − L); returns [Σ(D − L − S)², Σ(L − Lold)²]. */
export function altprojUpdate(d: Vec, l: Vec, lold: Vec, s: Vec, zeta: number): [number, number] {
  const { k } = core();
  return scope(() => {
    const sums = alloc(2, "float64");
    if (precisionOf(d) === "float64") k.daltprojUpdate(d.length, ptr(d), ptr(l), ptr(lold), ptr(s), zeta, ptr(sums));
    else k.saltprojUpdate(d.length, ptr(d), ptr(l), ptr(lold), ptr(s), zeta, ptr(sums));
    return [sums[0], sums[1]];
  });
}
