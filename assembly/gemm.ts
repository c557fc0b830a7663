// Single-precision GEMM, row-major: C[M,N] (+)= op(A)[M,K] · op(B)[K,N].
//
// GotoBLAS/BLIS blocking: B is packed into 8-column panels (NC×KC block, fits L2),
// A into 4-row panels (MC×KC block), and a 4×8 register tile (8 v128 accumulators)
// does the work. The transposed forms differ only in how they pack, so A·Bᵀ and Aᵀ·B
// run the same micro-kernel as A·B. The loop body is deliberately not unrolled:
// unrolling made V8 spill accumulators and halved the speed (FACTS.md).
//
// The caller passes `work`, a scratch region of gemmWorkBytes() bytes; nothing here
// allocates, so several threads can share one memory, each with its own `work`.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 256;

export function gemmWorkBytes(): i32 {
  return (KC * NC + MC * KC) * 4;
}

// B block (rows k0..k0+kb, cols j0..j0+nb) → panels of NR columns, k-major, zero-padded.
function packB(trans: i32, b: usize, ldb: i32, k0: i32, kb: i32, j0: i32, nb: i32, dst: usize): void {
  for (let jp = 0; jp < nb; jp += NR) {
    const w = min(NR, nb - jp);
    const panel = dst + <usize>(jp * kb) * 4;
    if (trans == 0) {
      // B is [K,N]: a panel row is 8 contiguous floats.
      let src = b + (<usize>k0 * <usize>ldb + <usize>(j0 + jp)) * 4;
      const stride = <usize>ldb * 4;
      if (w == NR) {
        for (let k = 0; k < kb; k++) {
          const d = panel + <usize>(k * NR) * 4;
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          src += stride;
        }
      } else {
        for (let k = 0; k < kb; k++) {
          const d = panel + <usize>(k * NR) * 4;
          for (let j = 0; j < NR; j++) {
            store<f32>(d + <usize>j * 4, j < w ? load<f32>(src + <usize>j * 4) : 0);
          }
          src += stride;
        }
      }
    } else {
      // B is stored as [N,K] (we multiply by its transpose): column j of op(B) is row j.
      for (let j = 0; j < NR; j++) {
        if (j < w) {
          let src = b + (<usize>(j0 + jp + j) * <usize>ldb + <usize>k0) * 4;
          let d = panel + <usize>j * 4;
          for (let k = 0; k < kb; k++) {
            store<f32>(d, load<f32>(src));
            src += 4;
            d += NR * 4;
          }
        } else {
          let d = panel + <usize>j * 4;
          for (let k = 0; k < kb; k++) {
            store<f32>(d, 0);
            d += NR * 4;
          }
        }
      }
    }
  }
}

// A block (rows i0..i0+mb, cols k0..k0+kb) → panels of MR rows, k-major, zero-padded.
function packA(trans: i32, a: usize, lda: i32, i0: i32, mb: i32, k0: i32, kb: i32, dst: usize): void {
  for (let ip = 0; ip < mb; ip += MR) {
    const h = min(MR, mb - ip);
    const panel = dst + <usize>(ip * kb) * 4;
    if (trans == 0) {
      // A is [M,K]: gather 4 rows.
      for (let i = 0; i < MR; i++) {
        let d = panel + <usize>i * 4;
        if (i < h) {
          let src = a + (<usize>(i0 + ip + i) * <usize>lda + <usize>k0) * 4;
          for (let k = 0; k < kb; k++) {
            store<f32>(d, load<f32>(src));
            src += 4;
            d += MR * 4;
          }
        } else {
          for (let k = 0; k < kb; k++) {
            store<f32>(d, 0);
            d += MR * 4;
          }
        }
      }
    } else {
      // A is stored as [K,M]: the 4 rows at one k are 4 contiguous floats.
      let src = a + (<usize>k0 * <usize>lda + <usize>(i0 + ip)) * 4;
      const stride = <usize>lda * 4;
      if (h == MR) {
        for (let k = 0; k < kb; k++) {
          v128.store(panel + <usize>(k * MR) * 4, v128.load(src));
          src += stride;
        }
      } else {
        for (let k = 0; k < kb; k++) {
          const d = panel + <usize>(k * MR) * 4;
          for (let i = 0; i < MR; i++) {
            store<f32>(d + <usize>i * 4, i < h ? load<f32>(src + <usize>i * 4) : 0);
          }
          src += stride;
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// Writes (or adds) the first w lanes of the 8-wide row (lo, hi) at c.
function storeRowPartial(c: usize, lo: v128, hi: v128, w: i32, add: bool): void {
  for (let j = 0; j < w; j++) {
    let v: f32;
    switch (j) {
      case 0: v = f32x4.extract_lane(lo, 0); break;
      case 1: v = f32x4.extract_lane(lo, 1); break;
      case 2: v = f32x4.extract_lane(lo, 2); break;
      case 3: v = f32x4.extract_lane(lo, 3); break;
      case 4: v = f32x4.extract_lane(hi, 0); break;
      case 5: v = f32x4.extract_lane(hi, 1); break;
      case 6: v = f32x4.extract_lane(hi, 2); break;
      default: v = f32x4.extract_lane(hi, 3); break;
    }
    const p = c + <usize>j * 4;
    store<f32>(p, add ? load<f32>(p) + v : v);
  }
}

// @ts-ignore: decorator
@inline
function storeRow(c: usize, lo: v128, hi: v128, w: i32, add: bool): void {
  if (w == NR) {
    if (add) {
      v128.store(c, f32x4.add(v128.load(c), lo));
      v128.store(c, f32x4.add(v128.load(c, 16), hi), 16);
    } else {
      v128.store(c, lo);
      v128.store(c, hi, 16);
    }
  } else {
    storeRowPartial(c, lo, hi, w, add);
  }
}

// 4×8 tile: C[0..h, 0..w] (+)= Apanel(4×kb) · Bpanel(kb×8).
function kernel(kb: i32, pa: usize, pb: usize, c: usize, ldc: i32, h: i32, w: i32, add: bool): void {
  let c0l = f32x4.splat(0), c0h = f32x4.splat(0);
  let c1l = f32x4.splat(0), c1h = f32x4.splat(0);
  let c2l = f32x4.splat(0), c2h = f32x4.splat(0);
  let c3l = f32x4.splat(0), c3h = f32x4.splat(0);
  for (let k = 0; k < kb; k++) {
    const bl = v128.load(pb);
    const bh = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c0l = madd(a, bl, c0l); c0h = madd(a, bh, c0h);
    a = v128.load32_splat(pa, 4);
    c1l = madd(a, bl, c1l); c1h = madd(a, bh, c1h);
    a = v128.load32_splat(pa, 8);
    c2l = madd(a, bl, c2l); c2h = madd(a, bh, c2h);
    a = v128.load32_splat(pa, 12);
    c3l = madd(a, bl, c3l); c3h = madd(a, bh, c3h);
    pa += 16;
    pb += 32;
  }
  const rs = <usize>ldc * 4;
  storeRow(c, c0l, c0h, w, add);
  if (h > 1) storeRow(c + rs, c1l, c1h, w, add);
  if (h > 2) storeRow(c + 2 * rs, c2l, c2h, w, add);
  if (h > 3) storeRow(c + 3 * rs, c3l, c3h, w, add);
}

/**
 * C = op(A)·op(B) (accumulate = 0) or C += op(A)·op(B) (accumulate = 1).
 * transA = 0: A is [M,K] with row stride lda; 1: A is [K,M] and op(A) = Aᵀ.
 * transB = 0: B is [K,N] with row stride ldb; 1: B is [N,K] and op(B) = Bᵀ.
 */
export function gemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: i32, work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (accumulate == 0) {
      for (let i = 0; i < M; i++) memory.fill(c + <usize>i * <usize>ldc * 4, 0, <usize>N * 4);
    }
    return;
  }
  const pbBuf = work;
  const paBuf = work + <usize>(KC * NC) * 4;
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nb = min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kb = min(KC, K - k0);
      const add = accumulate != 0 || k0 > 0;
      packB(transB, b, ldb, k0, kb, j0, nb, pbBuf);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mb = min(MC, M - i0);
        packA(transA, a, lda, i0, mb, k0, kb, paBuf);
        for (let jp = 0; jp < nb; jp += NR) {
          const w = min(NR, nb - jp);
          const pb = pbBuf + <usize>(jp * kb) * 4;
          for (let ip = 0; ip < mb; ip += MR) {
            const h = min(MR, mb - ip);
            const cp = c + (<usize>(i0 + ip) * <usize>ldc + <usize>(j0 + jp)) * 4;
            kernel(kb, paBuf + <usize>(ip * kb) * 4, pb, cp, ldc, h, w, add);
          }
        }
      }
    }
  }
}
