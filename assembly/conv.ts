import { madd, transpose4 } from "./gemm";

// Convolution by im2col + GEMM, NCHW activations.
//
// im2colRows lays the patches out one output pixel per row: col[(b·P + p), (c·KH + i)·KW + j],
// P = OH·OW, so a whole batch is a single GEMM with the [Cout, C·KH·KW] weight matrix:
//   forward        Yrows[B·P, Cout] = col · Wᵀ
//   weight grad    dW[Cout, CKK]    = dYrowsᵀ · col
//   input grad     dcol[B·P, CKK]   = dYrows · W, then col2imRows scatters it back.
// transposeBatch moves between Yrows ([B, P, Cout]) and NCHW ([B, Cout, P]).

export function im2colRows(
  x: usize, col: usize, batch: i32, channels: i32, height: i32, width: i32,
  kh: i32, kw: i32, stride: i32, pad: i32, oh: i32, ow: i32,
): void {
  let dst = col;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>b * <usize>(channels * height * width) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const iy0 = oy * stride - pad;
        const ix0 = ox * stride - pad;
        // Interior patches copy whole kernel rows; only border patches test each pixel.
        const inside = ix0 >= 0 && ix0 + kw <= width;
        for (let c = 0; c < channels; c++) {
          const xc = xb + <usize>(c * height * width) * 4;
          for (let i = 0; i < kh; i++) {
            const iy = iy0 + i;
            if (iy < 0 || iy >= height) {
              memory.fill(dst, 0, <usize>kw * 4);
              dst += <usize>kw * 4;
              continue;
            }
            const src = xc + <usize>(iy * width + ix0) * 4;
            if (inside && kw == 4) {
              v128.store(dst, v128.load(src));
            } else if (inside) {
              for (let j = 0; j < kw; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>j * 4));
            } else {
              for (let j = 0; j < kw; j++) {
                const ix = ix0 + j;
                store<f32>(dst + <usize>j * 4, ix >= 0 && ix < width ? load<f32>(src + <usize>j * 4) : 0);
              }
            }
            dst += <usize>kw * 4;
          }
        }
      }
    }
  }
}

// dx (+)= scatter of dcol (the adjoint of im2colRows). accumulate = 0 zeroes dx first.
export function col2imRows(
  dcol: usize, dx: usize, batch: i32, channels: i32, height: i32, width: i32,
  kh: i32, kw: i32, stride: i32, pad: i32, oh: i32, ow: i32, accumulate: i32,
): void {
  if (accumulate == 0) memory.fill(dx, 0, <usize>batch * <usize>(channels * height * width) * 4);
  let src = dcol;
  for (let b = 0; b < batch; b++) {
    const xb = dx + <usize>b * <usize>(channels * height * width) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const iy0 = oy * stride - pad;
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + kw <= width;
        for (let c = 0; c < channels; c++) {
          const xc = xb + <usize>(c * height * width) * 4;
          for (let i = 0; i < kh; i++) {
            const iy = iy0 + i;
            if (iy < 0 || iy >= height) { src += <usize>kw * 4; continue; }
            const p = xc + <usize>(iy * width + ix0) * 4;
            if (inside && kw == 4) {
              v128.store(p, f32x4.add(v128.load(p), v128.load(src)));
            } else {
              for (let j = 0; j < kw; j++) {
                const ix = ix0 + j;
                if (ix >= 0 && ix < width) {
                  const q = p + <usize>j * 4;
                  store<f32>(q, load<f32>(q) + load<f32>(src + <usize>j * 4));
                }
              }
            }
            src += <usize>kw * 4;
          }
        }
      }
    }
  }
}

// For each of `batch` matrices: dst_b[c, r] = src_b[r, c] (src_b is rows × cols).
// 4×4 SIMD blocks, scalar edges.
export function transposeBatch(src: usize, dst: usize, batch: i32, rows: i32, cols: i32): void {
  const size = <usize>(rows * cols) * 4;
  const r4 = rows & ~3;
  const c4 = cols & ~3;
  const ss = <usize>cols * 4;
  const ds = <usize>rows * 4;
  for (let b = 0; b < batch; b++) {
    const s = src + <usize>b * size;
    const d = dst + <usize>b * size;
    for (let r = 0; r < r4; r += 4) {
      for (let c = 0; c < c4; c += 4) {
        transpose4(s + <usize>(r * cols + c) * 4, ss, d + <usize>(c * rows + r) * 4, ds);
      }
      for (let c = c4; c < cols; c++) {
        for (let i = 0; i < 4; i++) {
          store<f32>(d + <usize>(c * rows + r + i) * 4, load<f32>(s + <usize>((r + i) * cols + c) * 4));
        }
      }
    }
    for (let r = r4; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        store<f32>(d + <usize>(c * rows + r) * 4, load<f32>(s + <usize>(r * cols + c) * 4));
      }
    }
  }
}

// Average pooling, NCHW, square window k, stride s, no padding.
export function avgPoolForward(x: usize, y: usize, planes: i32, height: i32, width: i32, k: i32, s: i32, oh: i32, ow: i32): void {
  const inv: f32 = 1 / <f32>(k * k);
  for (let p = 0; p < planes; p++) {
    const xp = x + <usize>(p * height * width) * 4;
    const yp = y + <usize>(p * oh * ow) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc: f32 = 0;
        for (let i = 0; i < k; i++) {
          const row = xp + <usize>((oy * s + i) * width + ox * s) * 4;
          for (let j = 0; j < k; j++) acc += load<f32>(row + <usize>j * 4);
        }
        store<f32>(yp + <usize>(oy * ow + ox) * 4, acc * inv);
      }
    }
  }
}

export function avgPoolBackward(dy: usize, dx: usize, planes: i32, height: i32, width: i32, k: i32, s: i32, oh: i32, ow: i32): void {
  memory.fill(dx, 0, <usize>planes * <usize>(height * width) * 4);
  const inv: f32 = 1 / <f32>(k * k);
  for (let p = 0; p < planes; p++) {
    const dxp = dx + <usize>(p * height * width) * 4;
    const dyp = dy + <usize>(p * oh * ow) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const g = load<f32>(dyp + <usize>(oy * ow + ox) * 4) * inv;
        for (let i = 0; i < k; i++) {
          const row = dxp + <usize>((oy * s + i) * width + ox * s) * 4;
          for (let j = 0; j < k; j++) {
            const q = row + <usize>j * 4;
            store<f32>(q, load<f32>(q) + g);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Implicit-GEMM convolution for 4-wide kernels (the stride-2 4×4 layers of cnn-small and
// cnn-large). The im2col matrix is never written: a patch entry A[m, k] is read straight from
// a zero-padded copy of the input at base[m] + off[k] (two small tables, in bytes), so the
// forward pass skips a 4×-expanded copy and the input gradient scatters its tiles into the
// padded gradient instead of materialising dcol. Tiles are 4 pixels × 8 (channels or
// patch entries), 8 v128 accumulators, as in gemm's micro-kernel.

// xp[p, y + pad, x + pad] = x[p, y, x] over `planes` planes; the border is zero.
export function padPlanes(x: usize, xp: usize, planes: i32, height: i32, width: i32, pad: i32): void {
  const wp = width + 2 * pad;
  const hp = height + 2 * pad;
  memory.fill(xp, 0, <usize>planes * <usize>(hp * wp) * 4);
  for (let p = 0; p < planes; p++) {
    const src = x + <usize>(p * height * width) * 4;
    const dst = xp + (<usize>(p * hp * wp) + <usize>(pad * wp + pad)) * 4;
    for (let y = 0; y < height; y++) {
      memory.copy(dst + <usize>(y * wp) * 4, src + <usize>(y * width) * 4, <usize>width * 4);
    }
  }
}

// x[p, y, x] = xp[p, y + pad, x + pad]: the interior of a padded gradient.
export function unpadPlanes(xp: usize, x: usize, planes: i32, height: i32, width: i32, pad: i32): void {
  const wp = width + 2 * pad;
  const hp = height + 2 * pad;
  for (let p = 0; p < planes; p++) {
    const dst = x + <usize>(p * height * width) * 4;
    const src = xp + (<usize>(p * hp * wp) + <usize>(pad * wp + pad)) * 4;
    for (let y = 0; y < height; y++) {
      memory.copy(dst + <usize>(y * width) * 4, src + <usize>(y * wp) * 4, <usize>width * 4);
    }
  }
}

// off[k] for patch entry k = (c, i, j) and base[m] for output pixel m = (b, oy, ox), both
// byte offsets into the padded input [B, C, Hp, Wp].
export function convTables(
  off: usize, base: usize, batch: i32, channels: i32, hp: i32, wp: i32,
  kh: i32, kw: i32, stride: i32, oh: i32, ow: i32,
): void {
  let k = 0;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        store<i32>(off + <usize>k * 4, ((c * hp + i) * wp + j) * 4);
        k++;
      }
    }
  }
  let m = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        store<i32>(base + <usize>m * 4, ((b * channels * hp + oy * stride) * wp + ox * stride) * 4);
        m++;
      }
    }
  }
}

// W [Cout, CKK] → panels of 8 output channels, k-major: wt[p][k][0..8]. Cout % 8 == 0.
export function packConvWeights(w: usize, wt: usize, cout: i32, ckk: i32): void {
  for (let p = 0; p < cout; p += 8) {
    const panel = wt + <usize>(p * ckk) * 4;
    for (let k = 0; k < ckk; k++) {
      for (let r = 0; r < 8; r++) {
        store<f32>(panel + <usize>(k * 8 + r) * 4, load<f32>(w + <usize>((p + r) * ckk + k) * 4));
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function pixelBase(xp: usize, base: usize, m: i32, last: i32): usize {
  return xp + <usize>load<i32>(base + <usize>min(m, last) * 4);
}

// y[m, co] = bias[co] + Σ_k A[m, k] · W[co, k] for the M pixels, y row-major [M, Cout].
export function convForwardDirect(
  xp: usize, wt: usize, bias: usize, y: usize, M: i32, cout: i32, ckk: i32, off: usize, base: usize,
): void {
  const last = M - 1;
  for (let m0 = 0; m0 < M; m0 += 4) {
    const h = min(4, M - m0);
    const p0 = pixelBase(xp, base, m0, last);
    const p1 = pixelBase(xp, base, m0 + 1, last);
    const p2 = pixelBase(xp, base, m0 + 2, last);
    const p3 = pixelBase(xp, base, m0 + 3, last);
    for (let co = 0; co < cout; co += 8) {
      let pw = wt + <usize>(co * ckk) * 4;
      let c0l = f32x4.splat(0), c0h = f32x4.splat(0);
      let c1l = f32x4.splat(0), c1h = f32x4.splat(0);
      let c2l = f32x4.splat(0), c2h = f32x4.splat(0);
      let c3l = f32x4.splat(0), c3h = f32x4.splat(0);
      let po = off;
      for (let k = 0; k < ckk; k++) {
        const o = <usize>load<i32>(po);
        const bl = v128.load(pw);
        const bh = v128.load(pw, 16);
        let a = v128.load32_splat(p0 + o);
        c0l = madd(a, bl, c0l); c0h = madd(a, bh, c0h);
        a = v128.load32_splat(p1 + o);
        c1l = madd(a, bl, c1l); c1h = madd(a, bh, c1h);
        a = v128.load32_splat(p2 + o);
        c2l = madd(a, bl, c2l); c2h = madd(a, bh, c2h);
        a = v128.load32_splat(p3 + o);
        c3l = madd(a, bl, c3l); c3h = madd(a, bh, c3h);
        pw += 32;
        po += 4;
      }
      const bl = v128.load(bias + <usize>co * 4);
      const bh = v128.load(bias + <usize>co * 4, 16);
      const rs = <usize>cout * 4;
      let dst = y + (<usize>m0 * <usize>cout + <usize>co) * 4;
      v128.store(dst, f32x4.add(c0l, bl)); v128.store(dst, f32x4.add(c0h, bh), 16);
      if (h > 1) { dst += rs; v128.store(dst, f32x4.add(c1l, bl)); v128.store(dst, f32x4.add(c1h, bh), 16); }
      if (h > 2) { dst += rs; v128.store(dst, f32x4.add(c2l, bl)); v128.store(dst, f32x4.add(c2h, bh), 16); }
      if (h > 3) { dst += rs; v128.store(dst, f32x4.add(c3l, bl)); v128.store(dst, f32x4.add(c3h, bh), 16); }
    }
  }
}

// dW[co, k] (+)= Σ_m dy[m, co] · A[m, k]; dy row-major [M, Cout]. Needs kw == 4 with kh even
// (an 8-entry patch panel is two 4-float rows of the padded input) and Cout % 4 == 0.
export function convWeightGradDirect(
  xp: usize, dy: usize, dw: usize, M: i32, cout: i32, ckk: i32, off: usize, base: usize, accumulate: i32,
): void {
  if (accumulate == 0) memory.fill(dw, 0, <usize>(cout * ckk) * 4);
  const MB = 512; // pixels per chunk: their input windows and dy rows stay in L2
  const rs = <usize>cout * 4;
  for (let m0 = 0; m0 < M; m0 += MB) {
    const m1 = min(M, m0 + MB);
    for (let co = 0; co < cout; co += 4) {
      for (let k0 = 0; k0 < ckk; k0 += 8) {
        const o0 = <usize>load<i32>(off + <usize>k0 * 4);
        const o1 = <usize>load<i32>(off + <usize>(k0 + 4) * 4);
        let c0l = f32x4.splat(0), c0h = f32x4.splat(0);
        let c1l = f32x4.splat(0), c1h = f32x4.splat(0);
        let c2l = f32x4.splat(0), c2h = f32x4.splat(0);
        let c3l = f32x4.splat(0), c3h = f32x4.splat(0);
        let pd = dy + (<usize>m0 * <usize>cout + <usize>co) * 4;
        let pb = base + <usize>m0 * 4;
        for (let m = m0; m < m1; m++) {
          const px = xp + <usize>load<i32>(pb);
          const bl = v128.load(px + o0);
          const bh = v128.load(px + o1);
          let a = v128.load32_splat(pd);
          c0l = madd(a, bl, c0l); c0h = madd(a, bh, c0h);
          a = v128.load32_splat(pd, 4);
          c1l = madd(a, bl, c1l); c1h = madd(a, bh, c1h);
          a = v128.load32_splat(pd, 8);
          c2l = madd(a, bl, c2l); c2h = madd(a, bh, c2h);
          a = v128.load32_splat(pd, 12);
          c3l = madd(a, bl, c3l); c3h = madd(a, bh, c3h);
          pd += rs;
          pb += 4;
        }
        const ks = <usize>ckk * 4;
        let d = dw + (<usize>co * <usize>ckk + <usize>k0) * 4;
        v128.store(d, f32x4.add(v128.load(d), c0l)); v128.store(d, f32x4.add(v128.load(d, 16), c0h), 16);
        d += ks;
        v128.store(d, f32x4.add(v128.load(d), c1l)); v128.store(d, f32x4.add(v128.load(d, 16), c1h), 16);
        d += ks;
        v128.store(d, f32x4.add(v128.load(d), c2l)); v128.store(d, f32x4.add(v128.load(d, 16), c2h), 16);
        d += ks;
        v128.store(d, f32x4.add(v128.load(d), c3l)); v128.store(d, f32x4.add(v128.load(d, 16), c3h), 16);
      }
    }
  }
}

// dxp[base[m] + off[k]] += Σ_co dy[m, co] · W[co, k]: the input gradient scattered straight
// into the padded gradient dxp (zeroed by the caller). W is [Cout, CKK]; kw == 4, kh even.
// A tile's 4 pixels are a quarter of the batch apart: neighbouring pixels' windows overlap,
// and a load that half-overlaps a store just made stalls store forwarding.
export function convInputGradDirect(
  dy: usize, w: usize, dxp: usize, M: i32, cout: i32, ckk: i32, off: usize, base: usize,
): void {
  const Q = (M + 3) >> 2;
  const rs = <usize>cout * 4;
  const ks = <usize>ckk * 4;
  for (let m = 0; m < Q; m++) {
    const m1 = m + Q, m2 = m + 2 * Q, m3 = m + 3 * Q;
    const d0 = dy + <usize>m * rs;
    const d1 = dy + <usize>(m1 < M ? m1 : m) * rs;
    const d2 = dy + <usize>(m2 < M ? m2 : m) * rs;
    const d3 = dy + <usize>(m3 < M ? m3 : m) * rs;
    const p0 = dxp + <usize>load<i32>(base + <usize>m * 4);
    const p1 = dxp + <usize>load<i32>(base + <usize>(m1 < M ? m1 : m) * 4);
    const p2 = dxp + <usize>load<i32>(base + <usize>(m2 < M ? m2 : m) * 4);
    const p3 = dxp + <usize>load<i32>(base + <usize>(m3 < M ? m3 : m) * 4);
    for (let k0 = 0; k0 < ckk; k0 += 8) {
      let c0l = f32x4.splat(0), c0h = f32x4.splat(0);
      let c1l = f32x4.splat(0), c1h = f32x4.splat(0);
      let c2l = f32x4.splat(0), c2h = f32x4.splat(0);
      let c3l = f32x4.splat(0), c3h = f32x4.splat(0);
      let pw = w + <usize>k0 * 4;
      for (let co = 0; co < cout; co++) {
        const bl = v128.load(pw);
        const bh = v128.load(pw, 16);
        const oc = <usize>co * 4;
        let a = v128.load32_splat(d0 + oc);
        c0l = madd(a, bl, c0l); c0h = madd(a, bh, c0h);
        a = v128.load32_splat(d1 + oc);
        c1l = madd(a, bl, c1l); c1h = madd(a, bh, c1h);
        a = v128.load32_splat(d2 + oc);
        c2l = madd(a, bl, c2l); c2h = madd(a, bh, c2h);
        a = v128.load32_splat(d3 + oc);
        c3l = madd(a, bl, c3l); c3h = madd(a, bh, c3h);
        pw += ks;
      }
      const o0 = <usize>load<i32>(off + <usize>k0 * 4);
      const o1 = <usize>load<i32>(off + <usize>(k0 + 4) * 4);
      v128.store(p0 + o0, f32x4.add(v128.load(p0 + o0), c0l));
      v128.store(p0 + o1, f32x4.add(v128.load(p0 + o1), c0h));
      if (m1 < M) {
        v128.store(p1 + o0, f32x4.add(v128.load(p1 + o0), c1l));
        v128.store(p1 + o1, f32x4.add(v128.load(p1 + o1), c1h));
      }
      if (m2 < M) {
        v128.store(p2 + o0, f32x4.add(v128.load(p2 + o0), c2l));
        v128.store(p2 + o1, f32x4.add(v128.load(p2 + o1), c2h));
      }
      if (m3 < M) {
        v128.store(p3 + o0, f32x4.add(v128.load(p3 + o0), c3l));
        v128.store(p3 + o1, f32x4.add(v128.load(p3 + o1), c3h));
      }
    }
  }
}
