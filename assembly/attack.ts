// Kernels of the attack toolkit: counter-based random starts and the projected steps of
// L∞ and L2 PGD. Adversarial inputs live in [lo, hi] (the data range) and within ε of x.

// murmur3's 32-bit finaliser; hash32 chains it over four key words exactly as
// src/core/random.ts does, so JS and WASM draw the same numbers for the same key.
// @ts-ignore: decorator
@inline
function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

export function hash32(a: u32, b: u32, c: u32, d: u32): u32 {
  let h = fmix32(a ^ 0x9e3779b9);
  h = fmix32(h ^ ((b ^ 0x7f4a7c15) * 0x2545f491));
  h = fmix32(h ^ ((c ^ 0x27d4eb2f) * 0x165667b1));
  h = fmix32(h ^ ((d ^ 0x61c88647) * 0x9e3779b1));
  return h;
}

/**
 * dst[r, j] = lo + (hi − lo)·u with u = hash32(seed, stream, sample[r], j) / 2³² ∈ [0, 1):
 * a draw keyed by the sample's global index, so it does not depend on how a batch is split.
 */
export function uniformRows(dst: usize, rows: i32, dim: i32, sample: usize, seed: u32, stream: u32, lo: f32, hi: f32): void {
  const scale: f32 = (hi - lo) / 4294967296.0;
  for (let r = 0; r < rows; r++) {
    const s = load<u32>(sample + <usize>r * 4);
    const d = dst + <usize>r * <usize>dim * 4;
    for (let j = 0; j < dim; j++) {
      store<f32>(d + <usize>j * 4, lo + <f32>hash32(seed, stream, s, j) * scale);
    }
  }
}

// xadv = clip(clip(xadv + α·sign(g), x − ε, x + ε), lo, hi); sign(0) = 0. α = 0 only projects.
export function linfStep(xadv: usize, g: usize, x: usize, n: i32, alpha: f32, eps: f32, lo: f32, hi: f32): void {
  const a = f32x4.splat(alpha), e = f32x4.splat(eps), l = f32x4.splat(lo), h = f32x4.splat(hi);
  const zero = f32x4.splat(0), one = f32x4.splat(1), mone = f32x4.splat(-1);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    const gi = v128.load(g + o);
    const sg = v128.bitselect(one, v128.bitselect(mone, zero, f32x4.lt(gi, zero)), f32x4.gt(gi, zero));
    const xi = v128.load(x + o);
    let v = f32x4.add(v128.load(xadv + o), f32x4.mul(a, sg));
    v = f32x4.min(f32x4.max(v, f32x4.sub(xi, e)), f32x4.add(xi, e));
    v128.store(xadv + o, f32x4.min(f32x4.max(v, l), h));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const gi = load<f32>(g + o);
    const sg: f32 = gi > 0 ? 1 : gi < 0 ? -1 : 0;
    const xi = load<f32>(x + o);
    let v = load<f32>(xadv + o) + alpha * sg;
    v = min<f32>(max<f32>(v, xi - eps), xi + eps);
    store<f32>(xadv + o, min<f32>(max<f32>(v, lo), hi));
  }
}

function rowNorm(p: usize, dim: i32): f64 {
  let s: f64 = 0;
  for (let j = 0; j < dim; j++) {
    const v = <f64>load<f32>(p + <usize>j * 4);
    s += v * v;
  }
  return Math.sqrt(s);
}

/**
 * Per sample: xadv += α·g/‖g‖₂ (no move where g = 0), then δ = xadv − x is scaled back onto
 * the ε-ball when longer, and xadv is clipped to [lo, hi]. α = 0 only projects. `work` holds
 * dim floats.
 */
export function l2Step(xadv: usize, g: usize, x: usize, rows: i32, dim: i32, alpha: f32, eps: f32, lo: f32, hi: f32, work: usize): void {
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>dim * 4;
    const xa = xadv + off, gr = g + off, xr = x + off;
    if (alpha != 0) {
      const gn = rowNorm(gr, dim);
      if (gn > 0) {
        const s = <f32>(<f64>alpha / gn);
        for (let j = 0; j < dim; j++) {
          const o = <usize>j * 4;
          store<f32>(xa + o, load<f32>(xa + o) + s * load<f32>(gr + o));
        }
      }
    }
    for (let j = 0; j < dim; j++) {
      const o = <usize>j * 4;
      store<f32>(work + o, load<f32>(xa + o) - load<f32>(xr + o));
    }
    const dn = rowNorm(work, dim);
    const s: f32 = dn > <f64>eps ? <f32>(<f64>eps / dn) : 1;
    for (let j = 0; j < dim; j++) {
      const o = <usize>j * 4;
      store<f32>(xa + o, min<f32>(max<f32>(load<f32>(xr + o) + s * load<f32>(work + o), lo), hi));
    }
  }
}
