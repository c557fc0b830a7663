// Kernels of the batched float32 bound computation (src/certify/fast.ts). Coefficient
// matrices hold one row per bound being computed; the rows of sample s are rows
// offs[s] .. offs[s+1]−1 (offs: i32, samples+1 entries), and per-sample vectors (slopes,
// magnitudes) are rows of a samples × cols matrix. Every kernel that rounds also returns
// Σ|a|·w for the caller's error bound (fast.ts explains the rule); those sums are of
// non-negative terms, so their own rounding only shrinks them by a factor ≥ 1 − γ_cols,
// which the caller undoes.

// @ts-ignore: decorator
@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// One f64x2 half of the box: the float64 bounds, then their float32 neighbours on the outside
// (round to nearest, and step one unit outward in the lanes where that landed inside).
// Returns the float32 lanes l0 l1 h0 h1.
// @ts-ignore: decorator
@inline
function boxHalf(xh: v128, eps: v128, clip: i32, clipLo: v128, clipHi: v128): v128 {
  const s = f64x2.mul(f64x2.add(f64x2.abs(xh), eps), f64x2.splat(2.384185791015625e-7)); // 2^-22
  let l = f64x2.sub(f64x2.sub(xh, eps), s);
  let h = f64x2.add(f64x2.add(xh, eps), s);
  if (clip != 0) {
    l = f64x2.pmax(clipLo, l);
    h = f64x2.pmin(clipHi, h);
  }
  const f = f32x4.shuffle(f32x4.demote_f64x2_zero(l), f32x4.demote_f64x2_zero(h), 0, 1, 4, 5);
  // Which lanes rounded inward (64-bit compare masks narrowed to the 32-bit lanes).
  const inL = f64x2.gt(f64x2.promote_low_f32x4(f), l);
  const inH = f64x2.lt(f64x2.promote_low_f32x4(f32x4.shuffle(f, f, 2, 3, 0, 1)), h);
  const inward = i32x4.shuffle(inL, inH, 0, 2, 4, 6);
  // Outward by one unit: toward −∞ for l (bits − 1 if positive, + 1 if negative or −0),
  // toward +∞ for h (bits + 1 if ≥ +0, − 1 if negative).
  const pos = i32x4.shuffle(f32x4.gt(f, f32x4.splat(0)), i32x4.ge_s(f, i32x4.splat(0)), 0, 1, 6, 7);
  const down = i32x4.shuffle(i32x4.splat(-1), i32x4.splat(1), 0, 1, 6, 7);
  const step = v128.bitselect(down, i32x4.neg(down), pos);
  return i32x4.add(f, v128.and(step, inward));
}

/**
 * The L∞ ball around x (n floats) as a float32 box: lo/hi
 * lie just outside bounds.ts inputBox's float64 box [max(clipLo, x − ε − 2^-22(|x| + ε)),
 * min(clipHi, x + ε + 2^-22(|x| + ε))] (computed here in float64), with the centre/radius form
 * c, r ([c − r, c + r] ⊇ [lo, hi]: r is the larger half-width, rounded up by the factor
 * 1 + 2^-22 against the ≤ 2^-24 rounding of each float32 operation) and m = max(|lo|, |hi|).
 * clip = 0 skips clipping.
 */
export function linfBox(
  x: usize, n: i32, eps: f64, clip: i32, clipLo: f64, clipHi: f64,
  lo: usize, hi: usize, c: usize, r: usize, m: usize,
): void {
  const ev = f64x2.splat(eps);
  const cl = f64x2.splat(clipLo);
  const ch = f64x2.splat(clipHi);
  const half = f32x4.splat(0.5);
  const grow = f32x4.splat(<f32>(1 + 2.384185791015625e-7));
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    const xv = v128.load(x + o);
    const a = boxHalf(f64x2.promote_low_f32x4(xv), ev, clip, cl, ch);
    const b = boxHalf(f64x2.promote_low_f32x4(f32x4.shuffle(xv, xv, 2, 3, 0, 1)), ev, clip, cl, ch);
    const l = f32x4.shuffle(a, b, 0, 1, 4, 5);
    const h = f32x4.shuffle(a, b, 2, 3, 6, 7);
    v128.store(lo + o, l);
    v128.store(hi + o, h);
    const ci = f32x4.mul(f32x4.add(l, h), half);
    v128.store(c + o, ci);
    v128.store(r + o, f32x4.mul(f32x4.max(f32x4.sub(h, ci), f32x4.sub(ci, l)), grow));
    v128.store(m + o, f32x4.max(f32x4.abs(l), f32x4.abs(h)));
  }
  for (; i < n; i++) {
    // The same arithmetic, one lane.
    const o = <usize>i * 4;
    const xi = <f64>load<f32>(x + o);
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
