// Kernels of the batched float32 bound computation (src/certify/fast.ts). Coefficient
// matrices hold one row per bound being computed; the rows of sample s are rows
// offs[s] .. offs[s+1]−1 (offs: i32, samples+1 entries), and per-sample vectors (slopes,
// magnitudes) are rows of a samples × cols matrix. Every kernel that rounds also returns
// Σ|a|·w for the caller's error bound (fast.ts explains the rule); those sums are of
// non-negative terms, so their own rounding only shrinks them by a factor ≥ 1 − γ_cols,
// which the caller undoes.

import { madd } from "./gemm";

// @ts-ignore: decorator
@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * The L∞ ball around x (n floats) as a float32 box: lo/hi
 * lie just outside bounds.ts inputBox's float64 box [max(clipLo, x − ε − 2^-22(|x| + ε)),
 * min(clipHi, x + ε + 2^-22(|x| + ε))] (computed here in float64), with the centre/radius form
 * c, r ([c − r, c + r] ⊇ [lo, hi]: r is the larger half-width, rounded up by the factor
 * 1 + 2^-22 against the ≤ 2^-24 rounding of each float32 operation) and m = max(|lo|, |hi|).
 * clip = 0 skips clipping. Returns 1 if some x is not finite (the box is then meaningless), else 0.
 */
export function linfBox(
  x: usize, n: i32, eps: f64, clip: i32, clipLo: f64, clipHi: f64,
  lo: usize, hi: usize, c: usize, r: usize, m: usize,
): i32 {
  const ev = f64x2.splat(eps);
  const cl = f64x2.splat(clipLo);
  const ch = f64x2.splat(clipHi);
  const k22 = f64x2.splat(2.384185791015625e-7); // 2^-22
  const zero = f32x4.splat(0);
  const one = i32x4.splat(1);
  const half = f32x4.splat(0.5);
  const grow = f32x4.splat(<f32>(1 + 2.384185791015625e-7));
  let bad = i32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    const xv = v128.load(x + o);
    bad = v128.or(bad, f32x4.ne(f32x4.sub(xv, xv), zero)); // x − x is NaN for ±∞ and NaN
    // The float64 box of the 4 values, as two f64x2 halves.
    const x0 = f64x2.promote_low_f32x4(xv);
    const x1 = f64x2.promote_low_f32x4(f32x4.shuffle(xv, xv, 2, 3, 0, 1));
    const s0 = f64x2.mul(f64x2.add(f64x2.abs(x0), ev), k22);
    const s1 = f64x2.mul(f64x2.add(f64x2.abs(x1), ev), k22);
    let l0 = f64x2.sub(f64x2.sub(x0, ev), s0);
    let l1 = f64x2.sub(f64x2.sub(x1, ev), s1);
    let h0 = f64x2.add(f64x2.add(x0, ev), s0);
    let h1 = f64x2.add(f64x2.add(x1, ev), s1);
    if (clip != 0) {
      l0 = f64x2.pmax(cl, l0);
      l1 = f64x2.pmax(cl, l1);
      h0 = f64x2.pmin(ch, h0);
      h1 = f64x2.pmin(ch, h1);
    }
    // Round to nearest float32, then one unit outward in the lanes that landed inside
    // (64-bit compare masks narrowed to the 32-bit lanes): toward −∞ for l (bits − 1 if
    // positive, + 1 if negative or −0), toward +∞ for h (bits + 1 if ≥ +0, − 1 if negative).
    let l = f32x4.shuffle(f32x4.demote_f64x2_zero(l0), f32x4.demote_f64x2_zero(l1), 0, 1, 4, 5);
    let h = f32x4.shuffle(f32x4.demote_f64x2_zero(h0), f32x4.demote_f64x2_zero(h1), 0, 1, 4, 5);
    const inL = i32x4.shuffle(
      f64x2.gt(f64x2.promote_low_f32x4(l), l0),
      f64x2.gt(f64x2.promote_low_f32x4(f32x4.shuffle(l, l, 2, 3, 0, 1)), l1), 0, 2, 4, 6);
    const inH = i32x4.shuffle(
      f64x2.lt(f64x2.promote_low_f32x4(h), h0),
      f64x2.lt(f64x2.promote_low_f32x4(f32x4.shuffle(h, h, 2, 3, 0, 1)), h1), 0, 2, 4, 6);
    l = i32x4.add(l, v128.and(v128.or(f32x4.gt(l, zero), one), inL));
    h = i32x4.add(h, v128.and(v128.or(i32x4.shr_s(h, 31), one), inH));
    v128.store(lo + o, l);
    v128.store(hi + o, h);
    // pmax (one instruction; max is eight in V8) agrees with max on these values: no NaN
    // when x is finite, and no −0 to tell apart from +0 (x − x and |·| give +0).
    const ci = f32x4.mul(f32x4.add(l, h), half);
    v128.store(c + o, ci);
    v128.store(r + o, f32x4.mul(f32x4.pmax(f32x4.sub(h, ci), f32x4.sub(ci, l)), grow));
    v128.store(m + o, f32x4.pmax(f32x4.abs(l), f32x4.abs(h)));
  }
  let nonFinite = v128.any_true(bad) ? 1 : 0;
  for (; i < n; i++) {
    // The same arithmetic, one lane.
    const o = <usize>i * 4;
    const xf = load<f32>(x + o);
    if (!isFinite<f32>(xf)) nonFinite = 1;
    const xi = <f64>xf;
    const s = (abs<f64>(xi) + eps) * 2.384185791015625e-7;
    let l = xi - eps - s;
    let h = xi + eps + s;
    if (clip != 0) {
      l = max<f64>(clipLo, l);
      h = min<f64>(clipHi, h);
    }
    let l32 = <f32>l;
    if (<f64>l32 > l) l32 = reinterpret<f32>(reinterpret<i32>(l32) + (l32 > 0 ? -1 : 1));
    let h32 = <f32>h;
    if (<f64>h32 < h) h32 = reinterpret<f32>(reinterpret<i32>(h32) + (reinterpret<i32>(h32) >= 0 ? 1 : -1));
    store<f32>(lo + o, l32);
    store<f32>(hi + o, h32);
    const ci: f32 = (l32 + h32) * 0.5;
    store<f32>(c + o, ci);
    store<f32>(r + o, max<f32>(h32 - ci, ci - l32) * <f32>(1 + 2.384185791015625e-7));
    store<f32>(m + o, max<f32>(abs<f32>(l32), abs<f32>(h32)));
  }
  return nonFinite;
}

/**
 * Back-substitution through a ReLU with per-sample relaxation h ≥ al·z (coefficient ≥ 0),
 * h ≤ au·z + bu (coefficient < 0): each coefficient a becomes a·al or a·au in place,
 * cOut[r] = Σ_{a<0} a·bu (the constant picked up), eOut[r] = Σ |a|·w with the caller's
 * per-sample error weights w.
 */
export function relaxRows(
  a: usize, cols: i32, offs: usize, samples: i32,
  al: usize, au: usize, bu: usize, w: usize, cOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let cacc = zero;
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        const pos = f32x4.ge(av, zero);
        const slope = v128.bitselect(v128.load(al + vb + o), v128.load(au + vb + o), pos);
        v128.store(row + o, f32x4.mul(av, slope));
        cacc = f32x4.add(cacc, v128.bitselect(zero, f32x4.mul(av, v128.load(bu + vb + o)), pos));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(w + vb + o)));
      }
      let cs = hsum(cacc);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        if (av >= 0) {
          store<f32>(row + o, av * load<f32>(al + vb + o));
        } else {
          store<f32>(row + o, av * load<f32>(au + vb + o));
          cs += av * load<f32>(bu + vb + o);
        }
        es += abs<f32>(av) * load<f32>(w + vb + o);
      }
      store<f32>(cOut + <usize>r * 4, cs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * Per row: cOut[r] = Σ a·b (b one vector shared by all rows: a layer's bias) and
 * eOut[r] = Σ |a|·w (w per sample).
 */
export function rowDots(
  a: usize, cols: i32, offs: usize, samples: i32, b: usize, w: usize, cOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let cacc = zero;
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        cacc = f32x4.add(cacc, f32x4.mul(av, v128.load(b + o)));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(w + vb + o)));
      }
      let cs = hsum(cacc);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        cs += av * load<f32>(b + o);
        es += abs<f32>(av) * load<f32>(w + vb + o);
      }
      store<f32>(cOut + <usize>r * 4, cs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * Minimum of each row's linear function over its sample's box: vOut[r] = Σ a·(a ≥ 0 ? lo : hi),
 * eOut[r] = Σ |a|·m with m = max(|lo|, |hi|) (the rounding error is ≤ γ_cols·eOut).
 */
export function concretizeRows(
  a: usize, cols: i32, offs: usize, samples: i32, lo: usize, hi: usize, m: usize, vOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let vacc = zero;
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        const at = v128.bitselect(v128.load(lo + vb + o), v128.load(hi + vb + o), f32x4.ge(av, zero));
        vacc = f32x4.add(vacc, f32x4.mul(av, at));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(m + vb + o)));
      }
      let vs = hsum(vacc);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        vs += av * (av >= 0 ? load<f32>(lo + vb + o) : load<f32>(hi + vb + o));
        es += abs<f32>(av) * load<f32>(m + vb + o);
      }
      store<f32>(vOut + <usize>r * 4, vs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * dst row r = src row k when idx[r] = k ≥ 0, or −(src row k) when idx[r] = −k − 1
 * (the ±e_k starting rows of an intermediate bound, already pushed through their layer).
 */
export function gatherSignedRows(src: usize, cols: i32, idx: usize, rows: i32, dst: usize): void {
  const rowBytes = <usize>cols * 4;
  const c4 = cols & ~3;
  const sign = i32x4.splat(0x80000000);
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(idx + <usize>r * 4);
    const k = t >= 0 ? t : -t - 1;
    const from = src + <usize>k * rowBytes;
    const to = dst + <usize>r * rowBytes;
    if (t >= 0) {
      memory.copy(to, from, rowBytes);
      continue;
    }
    let j = 0;
    for (; j < c4; j += 4) {
      const o = <usize>j * 4;
      v128.store(to + o, v128.xor(v128.load(from + o), sign));
    }
    for (; j < cols; j++) {
      const o = <usize>j * 4;
      store<f32>(to + o, -load<f32>(from + o));
    }
  }
}

// dst = |src| (n floats); dst may be src.
export function absInto(src: usize, dst: usize, n: i32): void {
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    v128.store(dst + o, f32x4.abs(v128.load(src + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(dst + o, abs<f32>(load<f32>(src + o)));
  }
}

// dst (rows × k, packed) = the columns idx[0..k) of a (rows × lda): a sample's coefficient
// rows without the columns of its inactive neurons, which are zero.
export function gatherCols(a: usize, lda: i32, rows: i32, idx: usize, k: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const src = a + <usize>r * <usize>lda * 4;
    const to = dst + <usize>r * <usize>k * 4;
    for (let q = 0; q < k; q++) {
      store<f32>(to + <usize>q * 4, load<f32>(src + <usize>load<i32>(idx + <usize>q * 4) * 4));
    }
  }
}

// Row 2q+1 = −row 2q for q < pairs (rows of `cols` floats): the upper-bound row of a neuron
// where it is the negated lower-bound row.
export function negatePairs(a: usize, cols: i32, pairs: i32): void {
  const rowBytes = <usize>cols * 4;
  const c4 = cols & ~3;
  const sign = i32x4.splat(0x80000000);
  for (let q = 0; q < pairs; q++) {
    const from = a + <usize>(2 * q) * rowBytes;
    const to = from + rowBytes;
    let j = 0;
    for (; j < c4; j += 4) {
      const o = <usize>j * 4;
      v128.store(to + o, v128.xor(v128.load(from + o), sign));
    }
    for (; j < cols; j++) {
      const o = <usize>j * 4;
      store<f32>(to + o, -load<f32>(from + o));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Per-entry steps between the GEMMs of fast.ts. They run in float64, operation for operation
// as the JavaScript they replace (the same IEEE operations in the same order, no fused
// multiply-add, max with Math.max's NaN rule), so their results are bit-identical to it and
// the error analysis in fast.ts is unchanged; float32 results round upward like rounding32.ts
// up32. The hot ones take 4 entries as two f64x2 halves: the same steps in scalar float64 ran
// ~4× slower here (boxFromBounds: 24 vs 6 ns per entry).

// rounding32.ts up32: the smallest float32 ≥ v + |v|·2^-50 (NaN stays NaN). Branch-free (the
// nearest float32 lands below about half the time): one unit up is bits + 1 at ≥ +0 (+0 goes
// to 2^-149) and bits − 1 when negative (−∞ to −max). −0 never needs the step: rounding keeps
// the sign, so f = −0 means w ≤ 0 ≤ f.
// @ts-ignore: decorator
@inline
function up32(v: f64): f32 {
  const w = v + abs<f64>(v) * 8.881784197001252e-16; // 2^-50
  const f = <f32>w;
  const b = reinterpret<i32>(f);
  return select<f32>(reinterpret<f32>(b + ((b >> 31) | 1)), f, <f64>f < w);
}

// up32 of 4 values given as two f64x2 halves; the float32 results in lanes 0..3.
// @ts-ignore: decorator
@inline
function up32x4(v0: v128, v1: v128): v128 {
  const c = f64x2.splat(8.881784197001252e-16); // 2^-50
  const w0 = f64x2.add(v0, f64x2.mul(f64x2.abs(v0), c));
  const w1 = f64x2.add(v1, f64x2.mul(f64x2.abs(v1), c));
  const f = f32x4.shuffle(f32x4.demote_f64x2_zero(w0), f32x4.demote_f64x2_zero(w1), 0, 1, 4, 5);
  // Lanes that rounded below w (64-bit masks narrowed to 32-bit lanes).
  const below = i32x4.shuffle(
    f64x2.lt(f64x2.promote_low_f32x4(f), w0),
    f64x2.lt(f64x2.promote_low_f32x4(f32x4.shuffle(f, f, 2, 3, 0, 1)), w1), 0, 2, 4, 6);
  const stepped = i32x4.add(f, v128.or(i32x4.shr_s(f, 31), i32x4.splat(1)));
  return v128.bitselect(stepped, f, below);
}

// rounding32.ts bump: v + |v|·2^-45.
// @ts-ignore: decorator
@inline
function bump(v: f64): f64 {
  return v + abs<f64>(v) * 2.842170943040401e-14; // 2^-45
}

// @ts-ignore: decorator
@inline
function bumpx2(v: v128): v128 {
  return f64x2.add(v, f64x2.mul(f64x2.abs(v), f64x2.splat(2.842170943040401e-14)));
}

// Lanes 0, 1 and lanes 2, 3 of a float32 vector as float64 pairs.
// @ts-ignore: decorator
@inline
function lo64of(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
// @ts-ignore: decorator
@inline
function hi64of(v: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
}

// Math.max(0, v) on both lanes: pmax keeps a NaN v (v < 0 is false), + 0 turns −0 into +0.
// @ts-ignore: decorator
@inline
function relux2(v: v128): v128 {
  const zero = f64x2.splat(0);
  return f64x2.add(f64x2.pmax(v, zero), zero);
}

/**
 * The output box of one IBP step (n × cols entries, row j of a sample uses bias[j]), from the
 * float32 products cv = fl(W·c + b) and av = [fl(|W|·r); fl(|W|·M); fl(|W|·E)] (3 blocks of
 * n × cols):
 *   mh = growNet·|W|M + |b|               → w = up32(mh) (float32)
 *   rad = bump(grow·|W|r + g·mh)          → lo = cv − rad, hi = cv + rad (float64; withBox)
 *   ein = hasE ? growNet·|W|E : 0          → e = bump(ein + gNet·(mh + ein)) (float64; allowance)
 */
export function ibpRadius(
  n: i32, cols: i32, cv: usize, av: usize, bias: usize, hasE: i32, withBox: i32, allowance: i32,
  growNet: f64, gNet: f64, grow: f64, g: f64, lo: usize, hi: usize, w: usize, e: usize,
): void {
  const nn = <usize>n * <usize>cols;
  const avM = av + nn * 4;
  const avE = av + 2 * nn * 4;
  const growNet2 = f64x2.splat(growNet);
  const gNet2 = f64x2.splat(gNet);
  const grow2 = f64x2.splat(grow);
  const g2 = f64x2.splat(g);
  const c4 = cols & ~3;
  for (let s = 0; s < n; s++) {
    const row = <usize>s * <usize>cols;
    let j = 0;
    for (; j < c4; j += 4) {
      const i = row + <usize>j;
      const b = f32x4.abs(v128.load(bias + <usize>j * 4));
      const am = v128.load(avM + i * 4);
      const mh0 = f64x2.add(f64x2.mul(growNet2, lo64of(am)), lo64of(b));
      const mh1 = f64x2.add(f64x2.mul(growNet2, hi64of(am)), hi64of(b));
      v128.store(w + i * 4, up32x4(mh0, mh1));
      if (withBox != 0) {
        const ar = v128.load(av + i * 4);
        const rad0 = bumpx2(f64x2.add(f64x2.mul(grow2, lo64of(ar)), f64x2.mul(g2, mh0)));
        const rad1 = bumpx2(f64x2.add(f64x2.mul(grow2, hi64of(ar)), f64x2.mul(g2, mh1)));
        const c = v128.load(cv + i * 4);
        const c0 = lo64of(c);
        const c1 = hi64of(c);
        v128.store(lo + i * 8, f64x2.sub(c0, rad0));
        v128.store(lo + i * 8, f64x2.sub(c1, rad1), 16);
        v128.store(hi + i * 8, f64x2.add(c0, rad0));
        v128.store(hi + i * 8, f64x2.add(c1, rad1), 16);
      }
      if (allowance != 0) {
        let ein0 = f64x2.splat(0);
        let ein1 = f64x2.splat(0);
        if (hasE != 0) {
          const ae = v128.load(avE + i * 4);
          ein0 = f64x2.mul(growNet2, lo64of(ae));
          ein1 = f64x2.mul(growNet2, hi64of(ae));
        }
        v128.store(e + i * 8, bumpx2(f64x2.add(ein0, f64x2.mul(gNet2, f64x2.add(mh0, ein0)))));
        v128.store(e + i * 8, bumpx2(f64x2.add(ein1, f64x2.mul(gNet2, f64x2.add(mh1, ein1)))), 16);
      }
    }
    for (; j < cols; j++) {
      // The same arithmetic, one entry.
      const i = row + <usize>j;
      const mh = growNet * <f64>load<f32>(avM + i * 4) + <f64>abs<f32>(load<f32>(bias + <usize>j * 4));
      store<f32>(w + i * 4, up32(mh));
      if (withBox != 0) {
        const rad = bump(grow * <f64>load<f32>(av + i * 4) + g * mh);
        const c = <f64>load<f32>(cv + i * 4);
        store<f64>(lo + i * 8, c - rad);
        store<f64>(hi + i * 8, c + rad);
      }
      if (allowance != 0) {
        const ein = hasE != 0 ? growNet * <f64>load<f32>(avE + i * 4) : 0;
        store<f64>(e + i * 8, bump(ein + gNet * (mh + ein)));
      }
    }
  }
}

/**
 * The float32 input form of a float64 box [lo, hi] (nn entries; through a ReLU if relu):
 * centre c = fl32(½(l + h)), radius r = up32(max(h − c, c − l)), magnitude m =
 * up32(max(|l|, |h|)), and eo = up32(e) when hasE.
 */
export function boxFromBounds(
  nn: i32, lo: usize, hi: usize, e: usize, relu: i32, hasE: i32, c: usize, r: usize, m: usize, eo: usize,
): void {
  const half = f64x2.splat(0.5);
  const n4 = nn & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o8 = <usize>i * 8;
    const o4 = <usize>i * 4;
    let l0 = v128.load(lo + o8);
    let l1 = v128.load(lo + o8, 16);
    let h0 = v128.load(hi + o8);
    let h1 = v128.load(hi + o8, 16);
    if (relu != 0) {
      l0 = relux2(l0);
      l1 = relux2(l1);
      h0 = relux2(h0);
      h1 = relux2(h1);
    }
    const ci = f32x4.shuffle(
      f32x4.demote_f64x2_zero(f64x2.mul(half, f64x2.add(l0, h0))),
      f32x4.demote_f64x2_zero(f64x2.mul(half, f64x2.add(l1, h1))), 0, 1, 4, 5);
    v128.store(c + o4, ci);
    const c0 = lo64of(ci);
    const c1 = hi64of(ci);
    v128.store(r + o4, up32x4(f64x2.max(f64x2.sub(h0, c0), f64x2.sub(c0, l0)), f64x2.max(f64x2.sub(h1, c1), f64x2.sub(c1, l1))));
    v128.store(m + o4, up32x4(f64x2.max(f64x2.abs(l0), f64x2.abs(h0)), f64x2.max(f64x2.abs(l1), f64x2.abs(h1))));
    if (hasE != 0) v128.store(eo + o4, up32x4(v128.load(e + o8), v128.load(e + o8, 16)));
  }
  for (; i < nn; i++) {
    // The same arithmetic, one entry.
    const o8 = <usize>i * 8;
    const o4 = <usize>i * 4;
    let l = load<f64>(lo + o8);
    let h = load<f64>(hi + o8);
    if (relu != 0) {
      l = max<f64>(0, l);
      h = max<f64>(0, h);
    }
    const ci = <f32>(0.5 * (l + h));
    store<f32>(c + o4, ci);
    store<f32>(r + o4, up32(max<f64>(h - <f64>ci, <f64>ci - l)));
    store<f32>(m + o4, up32(max<f64>(abs<f64>(l), abs<f64>(h))));
    if (hasE != 0) store<f32>(eo + o4, up32(load<f64>(e + o8)));
  }
}

/**
 * The ReLU relaxation of boxes [lo, hi] (nn entries, float64): stably active al = au = 1;
 * unstable au = up32(u/(u − l)), bu = up32(−au·l) (so au·z + bu ≥ ReLU(z) on [l, u]),
 * al = u > −l ? 1 : 0 and error weight w = up32(max(−l, u) + bu); all 0 otherwise.
 */
export function reluRelax(nn: i32, lo: usize, hi: usize, al: usize, au: usize, bu: usize, w: usize): void {
  for (let i = 0; i < nn; i++) {
    const l = load<f64>(lo + <usize>i * 8);
    const u = load<f64>(hi + <usize>i * 8);
    const o = <usize>i * 4;
    let vl: f32 = 0, vu: f32 = 0, vb: f32 = 0, vw: f32 = 0;
    if (l >= 0) {
      vl = 1;
      vu = 1;
    } else if (u > 0) {
      vu = up32(u / (u - l));
      vb = up32(-<f64>vu * l);
      vl = u > -l ? 1 : 0;
      vw = up32(max<f64>(-l, u) + <f64>vb);
    }
    store<f32>(al + o, vl);
    store<f32>(au + o, vu);
    store<f32>(bu + o, vb);
    store<f32>(w + o, vw);
  }
}

/**
 * The margin spec folded into the last layer for label y: row j of wOut (classes × cols) is
 * fl32(W_y − W_j), bOut[j] = fl32(b_y − b_j); row y and bOut[y] are 0.
 */
export function foldLast(w: usize, b: usize, classes: i32, cols: i32, y: i32, wOut: usize, bOut: usize): void {
  const rowBytes = <usize>cols * 4;
  const wy = w + <usize>y * rowBytes;
  const c4 = cols & ~3;
  for (let j = 0; j < classes; j++) {
    const src = w + <usize>j * rowBytes;
    const dst = wOut + <usize>j * rowBytes;
    if (j == y) {
      memory.fill(dst, 0, rowBytes);
      store<f32>(bOut + <usize>j * 4, 0);
      continue;
    }
    let k = 0;
    for (; k < c4; k += 4) {
      const o = <usize>k * 4;
      v128.store(dst + o, f32x4.sub(v128.load(wy + o), v128.load(src + o)));
    }
    for (; k < cols; k++) {
      const o = <usize>k * 4;
      store<f32>(dst + o, load<f32>(wy + o) - load<f32>(src + o));
    }
    store<f32>(bOut + <usize>j * 4, load<f32>(b + <usize>y * 4) - load<f32>(b + <usize>j * 4));
  }
}

// The three sums Σ_k w[k]·c[k], Σ |w[k]|·r[k], Σ |w[k]|·m[k] over cols values (one pass over w),
// each in the order of gemm.ts's narrow dot tile (gemmNarrow with transA = 0, which the
// folded layer ran through before): k blocks of equal size ≤ 512 (a multiple of 4 except the
// last), per block 4 lane sums over chunks of 4, summed (l0 + l2) + (l1 + l3), then the last
// cols & 3 terms one by one; blocks added in order. The same float32 operations as that GEMM,
// so the same results. Stores the sums at out, out + ldo, out + 2·ldo.
// @ts-ignore: decorator
@inline
function foldedDots(w: usize, c: usize, r: usize, m: usize, cols: i32, out: usize, ldo: usize): void {
  const nk = (cols + 511) / 512;
  const kstep = (((cols + nk - 1) / nk) + 3) & ~3;
  let tc: f32 = 0;
  let tr: f32 = 0;
  let tm: f32 = 0;
  for (let k0 = 0; k0 < cols; k0 += kstep) {
    const kb = min(kstep, cols - k0);
    let ac = f32x4.splat(0);
    let ar = f32x4.splat(0);
    let am = f32x4.splat(0);
    const end = k0 + (kb & ~3);
    let k = k0;
    for (; k < end; k += 4) {
      const o = <usize>k * 4;
      const wv = v128.load(w + o);
      const wa = f32x4.abs(wv);
      ac = madd(v128.load(c + o), wv, ac);
      ar = madd(v128.load(r + o), wa, ar);
      am = madd(v128.load(m + o), wa, am);
    }
    // [l0 + l2, l1 + l3, ...], then lane 0 + lane 1.
    ac = f32x4.add(ac, f32x4.shuffle(ac, ac, 2, 3, 0, 1));
    ar = f32x4.add(ar, f32x4.shuffle(ar, ar, 2, 3, 0, 1));
    am = f32x4.add(am, f32x4.shuffle(am, am, 2, 3, 0, 1));
    ac = f32x4.add(ac, f32x4.shuffle(ac, ac, 1, 0, 3, 2));
    ar = f32x4.add(ar, f32x4.shuffle(ar, ar, 1, 0, 3, 2));
    am = f32x4.add(am, f32x4.shuffle(am, am, 1, 0, 3, 2));
    for (; k < k0 + kb; k++) {
      const o = <usize>k * 4;
      const wk = f32x4.splat(load<f32>(w + o));
      const wa = f32x4.abs(wk);
      ac = madd(f32x4.splat(load<f32>(c + o)), wk, ac);
      ar = madd(f32x4.splat(load<f32>(r + o)), wa, ar);
      am = madd(f32x4.splat(load<f32>(m + o)), wa, am);
    }
    const vc = f32x4.extract_lane(ac, 0);
    const vr = f32x4.extract_lane(ar, 0);
    const vm = f32x4.extract_lane(am, 0);
    tc = k0 == 0 ? vc : tc + vc;
    tr = k0 == 0 ? vr : tr + vr;
    tm = k0 == 0 ? vm : tm + vm;
  }
  store<f32>(out, tc);
  store<f32>(out + ldo, tr);
  store<f32>(out + 2 * ldo, tm);
}

/**
 * IBP through the folded last layer: for sample s (rows of c, r, m: n × cols) and class
 * j ≠ labels[s], with W̃ the folded table at byte address tabs[s] (classes × cols, from
 * foldLast): out holds three n × classes blocks W̃_j·c, |W̃_j|·r, |W̃_j|·m (0 at j = y).
 */
export function foldedRows(
  n: i32, classes: i32, cols: i32, tabs: usize, labels: usize, c: usize, r: usize, m: usize,
  out: usize,
): void {
  const rowBytes = <usize>cols * 4;
  const block = <usize>n * <usize>classes * 4;
  for (let s = 0; s < n; s++) {
    const tab = <usize>load<i32>(tabs + <usize>s * 4);
    const y = load<i32>(labels + <usize>s * 4);
    const xo = <usize>s * rowBytes;
    for (let j = 0; j < classes; j++) {
      const o = out + (<usize>s * <usize>classes + <usize>j) * 4;
      if (j == y) {
        store<f32>(o, 0);
        store<f32>(o + block, 0);
        store<f32>(o + 2 * block, 0);
        continue;
      }
      foldedDots(tab + <usize>j * rowBytes, c + xo, r + xo, m + xo, cols, o, block);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Row kernels of the conv path of fast.ts. They add their constants in float64: every product
// of two float32 values is exact in float64, so a constant Σ a·b comes out within
// γ^{f64}_cols·Σ|a·b| (≈ 2^-53 per term) instead of γ_cols of float32 — on rows thousands of
// entries wide (a conv layer's 3136 outputs) that is the difference between an error term far
// below the network's own rounding allowance and one ten times above it. The error weights
// Σ|a|·w stay float32 sums of non-negative terms (the caller undoes their shrinkage).

// Σ of the two float64 lanes of two accumulators, in a fixed order.
// @ts-ignore: decorator
@inline
function hsum64(a: v128, b: v128): f64 {
  return (f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1)) + (f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1));
}

/**
 * relaxRows with the constant in float64: each coefficient a becomes a·al (a ≥ 0) or a·au
 * (a < 0) in place (float32, one rounding), cOut[r] (f64) = Σ_{a<0} a·bu, eOut[r] (f32) =
 * Σ |a|·w.
 */
export function relaxRows64(
  a: usize, cols: i32, offs: usize, samples: i32,
  al: usize, au: usize, bu: usize, w: usize, cOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let c0 = f64x2.splat(0);
      let c1 = f64x2.splat(0);
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        const pos = f32x4.ge(av, zero);
        const slope = v128.bitselect(v128.load(al + vb + o), v128.load(au + vb + o), pos);
        v128.store(row + o, f32x4.mul(av, slope));
        const neg = v128.andnot(av, pos); // a where a < 0, else +0
        const bv = v128.load(bu + vb + o);
        c0 = f64x2.add(c0, f64x2.mul(lo64of(neg), lo64of(bv)));
        c1 = f64x2.add(c1, f64x2.mul(hi64of(neg), hi64of(bv)));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(w + vb + o)));
      }
      let cs = hsum64(c0, c1);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        if (av >= 0) {
          store<f32>(row + o, av * load<f32>(al + vb + o));
        } else {
          store<f32>(row + o, av * load<f32>(au + vb + o));
          cs += <f64>av * <f64>load<f32>(bu + vb + o);
        }
        es += abs<f32>(av) * load<f32>(w + vb + o);
      }
      store<f64>(cOut + <usize>r * 8, cs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * rowDots with the constant in float64: cOut[r] (f64) = Σ a·b (b one vector of cols values
 * shared by all rows: a layer's bias, per output), eOut[r] (f32) = Σ |a|·w (w per sample).
 */
export function rowDots64(
  a: usize, cols: i32, offs: usize, samples: i32, b: usize, w: usize, cOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let c0 = f64x2.splat(0);
      let c1 = f64x2.splat(0);
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        const bv = v128.load(b + o);
        c0 = f64x2.add(c0, f64x2.mul(lo64of(av), lo64of(bv)));
        c1 = f64x2.add(c1, f64x2.mul(hi64of(av), hi64of(bv)));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(w + vb + o)));
      }
      let cs = hsum64(c0, c1);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        cs += <f64>av * <f64>load<f32>(b + o);
        es += abs<f32>(av) * load<f32>(w + vb + o);
      }
      store<f64>(cOut + <usize>r * 8, cs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * concretizeRows with the value in float64: vOut[r] (f64) = Σ a·(a ≥ 0 ? lo : hi),
 * eOut[r] (f32) = Σ |a|·m.
 */
export function concretizeRows64(
  a: usize, cols: i32, offs: usize, samples: i32, lo: usize, hi: usize, m: usize, vOut: usize, eOut: usize,
): void {
  const zero = f32x4.splat(0);
  const c4 = cols & ~3;
  const rowBytes = <usize>cols * 4;
  for (let s = 0; s < samples; s++) {
    const r0 = load<i32>(offs + <usize>s * 4);
    const r1 = load<i32>(offs + <usize>(s + 1) * 4);
    const vb = <usize>s * rowBytes;
    for (let r = r0; r < r1; r++) {
      const row = a + <usize>r * rowBytes;
      let v0 = f64x2.splat(0);
      let v1 = f64x2.splat(0);
      let eacc = zero;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k * 4;
        const av = v128.load(row + o);
        const at = v128.bitselect(v128.load(lo + vb + o), v128.load(hi + vb + o), f32x4.ge(av, zero));
        v0 = f64x2.add(v0, f64x2.mul(lo64of(av), lo64of(at)));
        v1 = f64x2.add(v1, f64x2.mul(hi64of(av), hi64of(at)));
        eacc = f32x4.add(eacc, f32x4.mul(f32x4.abs(av), v128.load(m + vb + o)));
      }
      let vs = hsum64(v0, v1);
      let es = hsum(eacc);
      for (; k < cols; k++) {
        const o = <usize>k * 4;
        const av = load<f32>(row + o);
        vs += <f64>av * <f64>(av >= 0 ? load<f32>(lo + vb + o) : load<f32>(hi + vb + o));
        es += abs<f32>(av) * load<f32>(m + vb + o);
      }
      store<f64>(vOut + <usize>r * 8, vs);
      store<f32>(eOut + <usize>r * 4, es);
    }
  }
}

/**
 * The starting rows of a conv layer's intermediate bounds, pushed through the layer exactly:
 * row r is +(row j of the layer's matrix) when idx[r] = j ≥ 0, −(row j) when idx[r] = −j − 1,
 * with output neuron j = (co, oy, ox) of the NCHW output [cout, oh, ow]: zero except the
 * weights W[co, ci, ky, kx] (w: [cout, cin, k, k]) at input (ci, oy·stride − pad + ky,
 * ox·stride − pad + kx) where that lies inside the cin × h × wd input (padding taps dropped).
 */
export function convUnitRows(
  w: usize, cin: i32, h: i32, wd: i32, k: i32, stride: i32, pad: i32, oh: i32, ow: i32,
  idx: usize, rows: i32, dst: usize,
): void {
  const rowBytes = <usize>cin * <usize>h * <usize>wd * 4;
  const plane = oh * ow;
  const kk = k * k;
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(idx + <usize>r * 4);
    const j = t >= 0 ? t : -t - 1;
    const co = j / plane;
    const p = j - co * plane;
    const oy = p / ow;
    const ox = p - oy * ow;
    const to = dst + <usize>r * rowBytes;
    memory.fill(to, 0, rowBytes);
    const iy0 = oy * stride - pad;
    const ix0 = ox * stride - pad;
    for (let ci = 0; ci < cin; ci++) {
      const wb = w + <usize>((co * cin + ci) * kk) * 4;
      for (let ky = 0; ky < k; ky++) {
        const iy = iy0 + ky;
        if (iy < 0 || iy >= h) continue;
        const rb = to + <usize>((ci * h + iy) * wd) * 4;
        for (let kx = 0; kx < k; kx++) {
          const ix = ix0 + kx;
          if (ix < 0 || ix >= wd) continue;
          const v = load<f32>(wb + <usize>(ky * k + kx) * 4);
          store<f32>(rb + <usize>ix * 4, t >= 0 ? v : -v);
        }
      }
    }
  }
}

/**
 * Windows of per-sample vectors (C × H × W planes, sampleStride floats apart): for window q
 * (seg[3q] = sample, seg[3q+1] = y0, seg[3q+2] = x0), dst block q (C × wh × ww, blocks packed)
 * holds src[sample][c, y0 + dy, x0 + dx], or 0 where (y0 + dy, x0 + dx) lies outside the
 * H × W plane (the padding around a layer's input, which holds no neuron).
 */
export function gatherWindows(
  src: usize, sampleStride: i32, C: i32, H: i32, W: i32, wh: i32, ww: i32, seg: usize, nseg: i32, dst: usize,
): void {
  const block = <usize>C * <usize>wh * <usize>ww * 4;
  for (let q = 0; q < nseg; q++) {
    const s = load<i32>(seg + <usize>q * 12);
    const y0 = load<i32>(seg + <usize>q * 12 + 4);
    const x0 = load<i32>(seg + <usize>q * 12 + 8);
    const to = dst + <usize>q * block;
    memory.fill(to, 0, block);
    const xa = max(0, x0);
    const xb = min(W, x0 + ww);
    if (xb <= xa) continue;
    const len = <usize>(xb - xa) * 4;
    const from = src + <usize>s * <usize>sampleStride * 4;
    for (let c = 0; c < C; c++) {
      for (let dy = 0; dy < wh; dy++) {
        const y = y0 + dy;
        if (y < 0 || y >= H) continue;
        memory.copy(
          to + <usize>((c * wh + dy) * ww + (xa - x0)) * 4,
          from + <usize>((c * H + y) * W + xa) * 4,
          len,
        );
      }
    }
  }
}
