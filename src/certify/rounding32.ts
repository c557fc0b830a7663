// Outward rounding helpers for bounds computed in float32 (fast.ts).
//
// The rule (Higham, Accuracy and Stability of Numerical Algorithms, §3.1): a float32 sum of n
// terms (products included, in any order, SIMD lanes and fused multiply-adds included) differs
// from the exact sum by at most γ_n·Σ|terms|, γ_n = n·u/(1 − n·u), u = 2^-24. A sum of
// non-negative terms therefore comes out ≥ (1 − γ_n)·exact, so exact ≤ computed·(1 + 2γ_n)
// (for γ_n ≤ 1/2): that factor is grow(n). Values carried in float64 between kernels are
// rounded to float32 upward (up32); the float64 arithmetic in between errs by
// ≈ 2^-53 relative per operation, which the 2^-50 raise of up32 (and the 2^-45
// bump of bump()) absorbs.

/** float32 unit roundoff. */
export const U32 = 2 ** -24;

/** γ_n = n·u / (1 − n·u) for float32. */
export function gamma32(n: number): number {
  const nu = n * U32;
  if (nu >= 0.5) throw new Error(`float32 rounding bound undefined for sums of ${n} terms`);
  return nu / (1 - nu);
}

/** A factor ≥ 1/(1 − γ_n): a computed float32 sum of n non-negative terms times this is ≥ the exact sum. */
export function grow32(n: number): number {
  return 1 + 2 * gamma32(n);
}

/**
 * A float32 value ≥ v (v finite), for v computed in float64: v is first raised by 2^-50 of
 * itself to cover its own few float64 roundings. No absolute term, so 0 stays 0 (a float64 0
 * from one correctly rounded operation is exact) and nothing becomes subnormal, which would
 * slow every later kernel ~50×.
 */
export function up32(v: number): number {
  return ceil32(v + Math.abs(v) * 2 ** -50);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The smallest float32 ≥ v (for exactly known inputs such as ε and the clip range). */
export function ceil32(v: number): number {
  f32[0] = v;
  if (f32[0] >= v || Number.isNaN(v)) return f32[0];
  // Rounded down: step one unit up (toward +∞).
  if (f32[0] === 0) return 2 ** -149;
  u32[0] += f32[0] > 0 ? 1 : -1;
  return f32[0];
}

/** v moved up by 2^-45 of itself: covers the float64 rounding of a few operations that made it. */
export function bump(v: number): number {
  return v + Math.abs(v) * 2 ** -45;
}

/** float64 unit roundoff. */
export const U64 = 2 ** -53;

/** γ_n = n·u / (1 − n·u) for float64 (sums that a kernel accumulates in float64). */
export function gamma64(n: number): number {
  const nu = n * U64;
  if (nu >= 0.5) throw new Error(`float64 rounding bound undefined for sums of ${n} terms`);
  return nu / (1 - nu);
}
