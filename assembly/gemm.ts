// Single-precision GEMM, row-major: C[M,N] (+)= op(A)[M,K] · op(B)[K,N].
//
// Two paths share this file.
//
// General path (GotoBLAS/BLIS blocking): B is cut into KC×NC blocks of 8-column panels,
// A into MC×KC blocks of 4-row panels, and a 4×8 register tile (8 v128 accumulators)
// does the work. Operands are packed with their transposition folded in (4×4 SIMD
// transposes where the source runs along the wrong axis, plain v128 copies where it
// does not), so A·Bᵀ and Aᵀ·B run the same micro-kernel at the speed of A·B. K is split
// into equal blocks (784 → 2×392, not 512 + 272). Reading Aᵀ panels in place instead
// of packing them was tried and lost (power-of-two strides thrash L1 sets).
//
// Narrow path (N ≤ NARROW_N, e.g. the 10-class output layer; or M ≤ NARROW_N, run as the
// transposed problem Cᵀ = op(B)ᵀ·op(A)ᵀ with transposed stores): packing the big operand
// would cost as much as the multiply, so it is not packed. With op(A) stored [M,K] a 4×2
// dot-product tile runs along k (rows of A are contiguous in k; the few columns of op(B)
// are packed k-contiguous once, in k-chunks of 4); with A stored [K,M] a 16×2
// outer-product tile reads 16 consecutive rows of op(A) at each k straight from memory.
// Two-column panels leave no padding for N = 10.
//
// Register budget: V8 has 15 usable xmm registers; each tile keeps 8 accumulators and
// ≤ 3 operands live. A 10-accumulator 2×5 tile, a 2×16 tile, and hand-unrolling the k loop
// all made TurboFan spill inside the loop (check with node --print-wasm-code) and ran
// 10–35 % slower. On this Intel host the 4×8 loop runs at ~94 % of the 128-bit FMA peak
// (relaxed build) and ~92 % of the mul+add peak (plain build).
//
// The caller passes `work`, a scratch region of gemmWorkBytes() bytes; nothing here
// allocates, so several threads can share one memory, each with its own `work`.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 512;
const MC: i32 = 64;
const NC: i32 = 256;

// Narrow path: used for N ≤ NARROW_N (or M ≤ NARROW_N); 2-column panels, k blocks of at
// most KN.
const NARROW_N: i32 = 16;
const KN: i32 = 512;

// Byte sizes of the scratch regions.
const PB_BYTES: i32 = KC * NC * 4; // packed B block
const PA_BYTES: i32 = MC * KC * 4; // packed A block
const NARROW_B_BYTES: i32 = (((NARROW_N + 1) & ~1) * (KN + 3) * 4 + 63) & ~63; // packed narrow B
const NARROW_A_BYTES: i32 = 16 * KN * 4; // the last, partial strip of Aᵀ

export function gemmWorkBytes(): i32 {
  return max(PB_BYTES + PA_BYTES, NARROW_B_BYTES + NARROW_A_BYTES);
}

// a·b + c, fused in the relaxed-SIMD build (shared with conv.ts).
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// 4×4 transpose helpers: rows r0..r3 → column q of the block.
// @ts-ignore: decorator
@inline
function lo32(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 0, 4, 1, 5);
}
// @ts-ignore: decorator
@inline
function hi32(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 2, 6, 3, 7);
}
// @ts-ignore: decorator
@inline
function lo64(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 0, 1, 4, 5);
}
// @ts-ignore: decorator
@inline
function hi64(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 2, 3, 6, 7);
}

// Loads the 4×4 block at src (rows `stride` bytes apart) and stores its transpose at dst
// (rows `dstride` bytes apart). Shared with conv.ts.
// @ts-ignore: decorator
@inline
export function transpose4(src: usize, stride: usize, dst: usize, dstride: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + stride);
  const r2 = v128.load(src + 2 * stride);
  const r3 = v128.load(src + 3 * stride);
  const t0 = lo32(r0, r1);
  const t1 = hi32(r0, r1);
  const t2 = lo32(r2, r3);
  const t3 = hi32(r2, r3);
  v128.store(dst, lo64(t0, t2));
  v128.store(dst + dstride, hi64(t0, t2));
  v128.store(dst + 2 * dstride, lo64(t1, t3));
  v128.store(dst + 3 * dstride, hi64(t1, t3));
}

// Copies `rows` rows of `cols` floats (src row stride sstride bytes) into a zero-padded
// block of `width` floats per row (dst row stride dstride bytes). Used for panel edges.
function copyPadded(src: usize, sstride: usize, rows: i32, cols: i32, width: i32, dst: usize, dstride: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * sstride;
    const d = dst + <usize>r * dstride;
    for (let j = 0; j < width; j++) store<f32>(d + <usize>j * 4, j < cols ? load<f32>(s + <usize>j * 4) : 0);
  }
}

// Gathers element (r, c) = src[c * sstride + r * 4] into dst[r * dstride + c * 4] for
// r < rows, c < width (zero for c ≥ cols): a scalar transposing copy for panel edges.
function copyTransposed(src: usize, sstride: usize, rows: i32, cols: i32, width: i32, dst: usize, dstride: usize): void {
  for (let c = 0; c < width; c++) {
    const d = dst + <usize>c * 4;
    if (c < cols) {
      const s = src + <usize>c * sstride;
      for (let r = 0; r < rows; r++) store<f32>(d + <usize>r * dstride, load<f32>(s + <usize>r * 4));
    } else {
      for (let r = 0; r < rows; r++) store<f32>(d + <usize>r * dstride, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------
// General path

// B block (rows k0..k0+kb, cols j0..j0+nb of op(B)) → panels of NR columns, k-major,
// zero-padded.
function packB(trans: i32, b: usize, ldb: i32, k0: i32, kb: i32, j0: i32, nb: i32, dst: usize): void {
  const ld = <usize>ldb * 4;
  for (let jp = 0; jp < nb; jp += NR) {
    const w = min(NR, nb - jp);
    const panel = dst + <usize>(jp * kb) * 4;
    if (trans == 0) {
      // B is [K,N]: a panel row is 8 contiguous floats.
      let src = b + <usize>k0 * ld + <usize>(j0 + jp) * 4;
      if (w == NR) {
        let d = panel;
        for (let k = 0; k < kb; k++) {
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          src += ld;
          d += NR * 4;
        }
      } else {
        copyPadded(src, ld, kb, w, NR, panel, NR * 4);
      }
    } else {
      // B is stored [N,K]: column j of op(B) is row j; transpose 4×4 blocks.
      const src = b + <usize>(j0 + jp) * ld + <usize>k0 * 4;
      if (w == NR) {
        const k4 = kb & ~3;
        for (let k = 0; k < k4; k += 4) {
          const s = src + <usize>k * 4;
          const d = panel + <usize>(k * NR) * 4;
          transpose4(s, ld, d, NR * 4);
          transpose4(s + 4 * ld, ld, d + 16, NR * 4);
        }
        if (k4 < kb) {
          copyTransposed(src + <usize>k4 * 4, ld, kb - k4, NR, NR, panel + <usize>(k4 * NR) * 4, NR * 4);
        }
      } else {
        copyTransposed(src, ld, kb, w, NR, panel, NR * 4);
      }
    }
  }
}

// A block (rows i0..i0+mb of op(A), cols k0..k0+kb) → panels of MR rows, k-major,
// zero-padded.
function packA(trans: i32, a: usize, lda: i32, i0: i32, mb: i32, k0: i32, kb: i32, dst: usize): void {
  const ld = <usize>lda * 4;
  for (let ip = 0; ip < mb; ip += MR) {
    const h = min(MR, mb - ip);
    const panel = dst + <usize>(ip * kb) * 4;
    if (trans == 0) {
      // A is [M,K]: 4 rows, transposed 4×4 at a time.
      const src = a + <usize>(i0 + ip) * ld + <usize>k0 * 4;
      if (h == MR) {
        const k4 = kb & ~3;
        for (let k = 0; k < k4; k += 4) {
          transpose4(src + <usize>k * 4, ld, panel + <usize>(k * MR) * 4, MR * 4);
        }
        if (k4 < kb) {
          copyTransposed(src + <usize>k4 * 4, ld, kb - k4, MR, MR, panel + <usize>(k4 * MR) * 4, MR * 4);
        }
      } else {
        copyTransposed(src, ld, kb, h, MR, panel, MR * 4);
      }
    } else {
      // A is stored [K,M]: the 4 rows at one k are 4 contiguous floats.
      const src = a + <usize>k0 * ld + <usize>(i0 + ip) * 4;
      if (h == MR) {
        let s = src;
        let d = panel;
        for (let k = 0; k < kb; k++) {
          v128.store(d, v128.load(s));
          s += ld;
          d += MR * 4;
        }
      } else {
        copyPadded(src, ld, kb, h, MR, panel, MR * 4);
      }
    }
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

// 4×8 tile: C[0..h, 0..w] (+)= Apanel(4×kb) · Bpanel(kb×8). The panels advance by
// sa and sb bytes per k (16 and 32 when packed).
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
    pa += MR * 4;
    pb += NR * 4;
  }
  const rs = <usize>ldc * 4;
  storeRow(c, c0l, c0h, w, add);
  if (h > 1) storeRow(c + rs, c1l, c1h, w, add);
  if (h > 2) storeRow(c + 2 * rs, c2l, c2h, w, add);
  if (h > 3) storeRow(c + 3 * rs, c3l, c3h, w, add);
}

function gemmBlocked(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: i32, work: usize,
): void {
  const pbBuf = work;
  const paBuf = work + <usize>PB_BYTES;
  // Equal k blocks of at most KC (784 → 2×392 rather than 512 + 272).
  const nk = (K + KC - 1) / KC;
  const kstep = min(KC, (((K + nk - 1) / nk) + 3) & ~3);
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nb = min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += kstep) {
      const kb = min(kstep, K - k0);
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

// ---------------------------------------------------------------------------------------
// Narrow path (N ≤ NARROW_N)
//
// Both narrow tiles are 2 columns wide, so N = 10 splits into 5 panels with no padding.

// @ts-ignore: decorator
@inline
function storeVec(c: usize, v: v128, add: bool): void {
  v128.store(c, add ? f32x4.add(v128.load(c), v) : v);
}

// Stores (or adds) the first n ≤ 16 floats of v0..v3 at c.
// @ts-ignore: decorator
@inline
function storeRow16(c: usize, v0: v128, v1: v128, v2: v128, v3: v128, n: i32, add: bool): void {
  if (n == 16) {
    storeVec(c, v0, add);
    storeVec(c + 16, v1, add);
    storeVec(c + 32, v2, add);
    storeVec(c + 48, v3, add);
  } else {
    storeRowPartial(c, v0, v1, min(n, 8), add);
    if (n > 8) storeRowPartial(c + 32, v2, v3, n - 8, add);
  }
}

// Stores (or adds) the pair (x, y) at c, or only x when w == 1.
// @ts-ignore: decorator
@inline
function store2(c: usize, x: f32, y: f32, w: i32, add: bool): void {
  if (add) {
    store<f32>(c, load<f32>(c) + x);
    if (w > 1) store<f32>(c, load<f32>(c, 4) + y, 4);
  } else {
    store<f32>(c, x);
    if (w > 1) store<f32>(c, y, 4);
  }
}

// Horizontal sums of two vectors: lanes 0 and 1 of the result are Σa and Σb.
// @ts-ignore: decorator
@inline
function hsum2(a: v128, b: v128): v128 {
  const ab = f32x4.add(lo32(a, b), hi32(a, b)); // [a0+a2, b0+b2, a1+a3, b1+b3]
  return f32x4.add(ab, f32x4.shuffle(ab, ab, 2, 3, 0, 1));
}

// N rounded up to whole 2-column panels.
// @ts-ignore: decorator
@inline
function NARROW_PAD(n: i32): i32 {
  return (n + 1) & ~1;
}

// op(B) rows k0..k0+kb, all N columns → panels of 2 columns; within a panel, chunks of
// 4 k: [chunk][column][4 lanes] (32 bytes), zero-padded in k and in the columns.
function packBDot(trans: i32, b: usize, ldb: i32, k0: i32, kb: i32, N: i32, dst: usize): void {
  const ld = <usize>ldb * 4;
  const kq = (kb + 3) >> 2;
  const k4 = kb & ~3;
  const panelBytes = <usize>(kq * 32);
  let j0 = 0;
  if (trans == 0) {
    // B is [K,N]: 4 columns at a time, through 4×4 transposes.
    j0 = N & ~3;
    for (let j = 0; j < j0; j += 4) {
      const d0 = dst + <usize>(j >> 1) * panelBytes;
      const d1 = d0 + panelBytes;
      let s = b + <usize>k0 * ld + <usize>j * 4;
      let o: usize = 0;
      for (let k = 0; k < k4; k += 4) {
        const r0 = v128.load(s);
        const r1 = v128.load(s + ld);
        const r2 = v128.load(s + 2 * ld);
        const r3 = v128.load(s + 3 * ld);
        const t0 = lo32(r0, r1);
        const t1 = hi32(r0, r1);
        const t2 = lo32(r2, r3);
        const t3 = hi32(r2, r3);
        v128.store(d0 + o, lo64(t0, t2));
        v128.store(d0 + o, hi64(t0, t2), 16);
        v128.store(d1 + o, lo64(t1, t3));
        v128.store(d1 + o, hi64(t1, t3), 16);
        s += 4 * ld;
        o += 32;
      }
      if (k4 < kb) {
        for (let c = 0; c < 4; c++) {
          const d = (c < 2 ? d0 : d1) + o + <usize>(c & 1) * 16;
          for (let l = 0; l < 4; l++) {
            store<f32>(d + <usize>l * 4, k4 + l < kb ? load<f32>(s + <usize>l * ld + <usize>c * 4) : 0);
          }
        }
      }
    }
  }
  for (let j = j0; j < NARROW_PAD(N); j++) {
    let d = dst + <usize>(j >> 1) * panelBytes + <usize>(j & 1) * 16;
    if (j >= N) {
      for (let q = 0; q < kq; q++) {
        v128.store(d, f32x4.splat(0));
        d += 32;
      }
    } else if (trans != 0) {
      // B stored [N,K]: column j of op(B) is a contiguous row.
      let s = b + <usize>j * ld + <usize>k0 * 4;
      for (let k = 0; k < k4; k += 4) {
        v128.store(d, v128.load(s));
        s += 16;
        d += 32;
      }
      if (k4 < kb) {
        for (let l = 0; l < 4; l++) store<f32>(d + <usize>l * 4, k4 + l < kb ? load<f32>(s + <usize>l * 4) : 0);
      }
    } else {
      // B stored [K,N]: gather column j.
      let s = b + <usize>k0 * ld + <usize>j * 4;
      for (let k = 0; k < k4; k += 4) {
        const v = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(
          f32x4.splat(load<f32>(s)), 1, load<f32>(s + ld)), 2, load<f32>(s + 2 * ld)), 3, load<f32>(s + 3 * ld));
        v128.store(d, v);
        s += 4 * ld;
        d += 32;
      }
      if (k4 < kb) {
        for (let l = 0; l < 4; l++) store<f32>(d + <usize>l * 4, k4 + l < kb ? load<f32>(s + <usize>l * ld) : 0);
      }
    }
  }
}

// 4×2 dot-product tile: rows a, a+sa, a+2sa, a+3sa of A (contiguous in k) times the
// 2 packed columns at pb, over kb values (the last kb & 3 in scalar). Stores h ≤ 4 rows
// and w ≤ 2 columns.
function dotKernel(kb: i32, a: usize, sa: usize, pb: usize, c: usize, ldc: i32, h: i32, w: i32, add: bool, tc: bool): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
  const a1 = a + sa;
  const a2 = a1 + sa;
  const a3 = a2 + sa;
  const end = <usize>(kb & ~3) * 4;
  let o: usize = 0;
  for (; o < end; o += 16) {
    const y0 = v128.load(pb);
    const y1 = v128.load(pb, 16);
    let x = v128.load(a + o);
    s00 = madd(x, y0, s00); s01 = madd(x, y1, s01);
    x = v128.load(a1 + o);
    s10 = madd(x, y0, s10); s11 = madd(x, y1, s11);
    x = v128.load(a2 + o);
    s20 = madd(x, y0, s20); s21 = madd(x, y1, s21);
    x = v128.load(a3 + o);
    s30 = madd(x, y0, s30); s31 = madd(x, y1, s31);
    pb += 32;
  }
  // r_i = [Σs_i0, Σs_i1, ...]
  let r0 = hsum2(s00, s01);
  let r1 = hsum2(s10, s11);
  let r2 = hsum2(s20, s21);
  let r3 = hsum2(s30, s31);
  const rem = kb & 3;
  for (let l = 0; l < rem; l++) {
    // Last partial chunk: pb holds [column][4 lanes], zero past kb.
    const lo = o + <usize>l * 4;
    const y = f32x4.replace_lane(f32x4.splat(load<f32>(pb + <usize>l * 4)), 1, load<f32>(pb + 16 + <usize>l * 4));
    r0 = madd(f32x4.splat(load<f32>(a + lo)), y, r0);
    r1 = madd(f32x4.splat(load<f32>(a1 + lo)), y, r1);
    r2 = madd(f32x4.splat(load<f32>(a2 + lo)), y, r2);
    r3 = madd(f32x4.splat(load<f32>(a3 + lo)), y, r3);
  }
  const rs = <usize>ldc * 4;
  if (tc) {
    // Transposed output: tile entry (r, q) goes to c + q·rs + r·4.
    const t01 = lo32(r0, r1); // [r0.0, r1.0, r0.1, r1.1]
    const t23 = lo32(r2, r3);
    const q0 = lo64(t01, t23);
    const q1 = hi64(t01, t23);
    if (h == 4) {
      storeVec(c, q0, add);
      if (w > 1) storeVec(c + rs, q1, add);
    } else {
      storeRowPartial(c, q0, q0, h, add);
      if (w > 1) storeRowPartial(c + rs, q1, q1, h, add);
    }
    return;
  }
  store2(c, f32x4.extract_lane(r0, 0), f32x4.extract_lane(r0, 1), w, add);
  if (h > 1) store2(c + rs, f32x4.extract_lane(r1, 0), f32x4.extract_lane(r1, 1), w, add);
  if (h > 2) store2(c + 2 * rs, f32x4.extract_lane(r2, 0), f32x4.extract_lane(r2, 1), w, add);
  if (h > 3) store2(c + 3 * rs, f32x4.extract_lane(r3, 0), f32x4.extract_lane(r3, 1), w, add);
}

// Stores (or adds) lanes 0..3 of the column pair (x, y) into 4 consecutive rows of C
// (only the first `rows` of them, and only column 0 when w == 1).
function storeCols4Partial(c: usize, rs: usize, x: v128, y: v128, rows: i32, w: i32, add: bool): void {
  const p01 = lo32(x, y); // [x0, y0, x1, y1]
  const p23 = hi32(x, y); // [x2, y2, x3, y3]
  if (rows > 0) store2(c, f32x4.extract_lane(p01, 0), f32x4.extract_lane(p01, 1), w, add);
  if (rows > 1) store2(c + rs, f32x4.extract_lane(p01, 2), f32x4.extract_lane(p01, 3), w, add);
  if (rows > 2) store2(c + 2 * rs, f32x4.extract_lane(p23, 0), f32x4.extract_lane(p23, 1), w, add);
  if (rows > 3) store2(c + 3 * rs, f32x4.extract_lane(p23, 2), f32x4.extract_lane(p23, 3), w, add);
}

// Full 4-row, 2-column case: one 64-bit store (or load-add-store) per row.
// @ts-ignore: decorator
@inline
function storeCols4(c: usize, rs: usize, x: v128, y: v128, add: bool): void {
  let p01 = lo32(x, y); // [x0, y0, x1, y1]
  let p23 = hi32(x, y); // [x2, y2, x3, y3]
  const c1 = c + rs;
  const c2 = c1 + rs;
  const c3 = c2 + rs;
  if (add) {
    p01 = f32x4.add(p01, v128.load64_lane(c1, v128.load64_zero(c), 1));
    p23 = f32x4.add(p23, v128.load64_lane(c3, v128.load64_zero(c2), 1));
  }
  v128.store64_lane(c, p01, 0);
  v128.store64_lane(c1, p01, 1);
  v128.store64_lane(c2, p23, 0);
  v128.store64_lane(c3, p23, 1);
}

// 16×2 outer-product tile for Aᵀ stored [K,M]: at each k, 16 consecutive floats of the
// packed A strip (rows i..i+16 of op(A)) times 2 packed values of op(B). Accumulators
// hold columns of C. Stores h ≤ 16 rows and w ≤ 2 columns.
function tnKernel(kb: i32, pa: usize, sa: usize, pb: usize, c: usize, ldc: i32, h: i32, w: i32, add: bool, tc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  for (let k = 0; k < kb; k++) {
    const y0 = v128.load32_splat(pb);
    const y1 = v128.load32_splat(pb, 4);
    let x = v128.load(pa);
    c00 = madd(x, y0, c00); c10 = madd(x, y1, c10);
    x = v128.load(pa, 16);
    c01 = madd(x, y0, c01); c11 = madd(x, y1, c11);
    x = v128.load(pa, 32);
    c02 = madd(x, y0, c02); c12 = madd(x, y1, c12);
    x = v128.load(pa, 48);
    c03 = madd(x, y0, c03); c13 = madd(x, y1, c13);
    pa += sa;
    pb += 8;
  }
  const rs = <usize>ldc * 4;
  if (tc) {
    // Transposed output: column q of the tile is 16 consecutive floats at c + q·rs.
    storeRow16(c, c00, c01, c02, c03, h, add);
    if (w > 1) storeRow16(c + rs, c10, c11, c12, c13, h, add);
    return;
  }
  if (h == 16 && w == 2) {
    storeCols4(c, rs, c00, c10, add);
    storeCols4(c + 4 * rs, rs, c01, c11, add);
    storeCols4(c + 8 * rs, rs, c02, c12, add);
    storeCols4(c + 12 * rs, rs, c03, c13, add);
  } else {
    storeCols4Partial(c, rs, c00, c10, h, w, add);
    if (h > 4) storeCols4Partial(c + 4 * rs, rs, c01, c11, h - 4, w, add);
    if (h > 8) storeCols4Partial(c + 8 * rs, rs, c02, c12, h - 8, w, add);
    if (h > 12) storeCols4Partial(c + 12 * rs, rs, c03, c13, h - 12, w, add);
  }
}

// op(B) rows k0..k0+kb → panels of 2 columns, [k][2], zero-padded columns.
function packBPairs(trans: i32, b: usize, ldb: i32, k0: i32, kb: i32, N: i32, dst: usize): void {
  const ld = <usize>ldb * 4;
  const panelBytes = <usize>(kb * 8);
  const n2 = N & ~1;
  if (trans == 0) {
    // B is [K,N]: each row holds all pairs; copy 8 bytes per pair.
    let s = b + <usize>k0 * ld;
    let d = dst;
    for (let k = 0; k < kb; k++) {
      let dp = d;
      for (let j = 0; j < n2; j += 2) {
        store<u64>(dp, load<u64>(s + <usize>j * 4));
        dp += panelBytes;
      }
      if (n2 < N) {
        store<f32>(dp, load<f32>(s + <usize>n2 * 4));
        store<f32>(dp, 0, 4);
      }
      s += ld;
      d += 8;
    }
  } else {
    // B is stored [N,K]: interleave rows j and j+1, 4 k at a time.
    const k4 = kb & ~3;
    for (let j = 0; j < N; j += 2) {
      const panel = dst + <usize>(j >> 1) * panelBytes;
      const s0 = b + <usize>j * ld + <usize>k0 * 4;
      if (j + 1 < N) {
        const s1 = s0 + ld;
        for (let k = 0; k < k4; k += 4) {
          const x = v128.load(s0 + <usize>k * 4);
          const y = v128.load(s1 + <usize>k * 4);
          v128.store(panel + <usize>k * 8, lo32(x, y));
          v128.store(panel + <usize>k * 8, hi32(x, y), 16);
        }
        copyTransposed(s0 + <usize>k4 * 4, ld, kb - k4, 2, 2, panel + <usize>k4 * 8, 8);
      } else {
        copyTransposed(s0, ld, kb, 1, 2, panel, 8);
      }
    }
  }
}

// A stored [K,M], rows k0..k0+kb, columns i..i+h (h < 16) → [k][16], zero-padded.
function packStrip(a: usize, ld: usize, kb: i32, h: i32, dst: usize): void {
  if (h == 16) {
    let s = a;
    let d = dst;
    for (let k = 0; k < kb; k++) {
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
      v128.store(d, v128.load(s, 32), 32);
      v128.store(d, v128.load(s, 48), 48);
      s += ld;
      d += 64;
    }
  } else {
    copyPadded(a, ld, kb, h, 16, dst, 64);
  }
}

// C = op(A)·op(B) for N ≤ NARROW_N, or, with tc set, Cᵀ = op(A)·op(B) (M and N then
// count the rows and columns of Cᵀ: the caller passes the transposed problem of a GEMM
// with few rows).
function gemmNarrow(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: i32, work: usize, tc: bool,
): void {
  const ldA = <usize>lda * 4;
  const rs = <usize>ldc * 4;
  // Byte steps in C for one row and one column of the (possibly transposed) result.
  const rowStep = tc ? <usize>4 : rs;
  const colStep = tc ? rs : <usize>4;
  // Equal k blocks of at most KN (a multiple of 4 except the last).
  const nk = (K + KN - 1) / KN;
  const kstep = (((K + nk - 1) / nk) + 3) & ~3;
  const pbBuf = work;
  const paBuf = work + <usize>NARROW_B_BYTES;
  for (let k0 = 0; k0 < K; k0 += kstep) {
    const kb = min(kstep, K - k0);
    const add = accumulate != 0 || k0 > 0;
    if (transA == 0) {
      packBDot(transB, b, ldb, k0, kb, N, pbBuf);
      const panelBytes = <usize>(((kb + 3) >> 2) * 32);
      for (let i = 0; i < M; i += 4) {
        const h = min(4, M - i);
        // Past the last row, point the spare rows at row i (computed, never stored).
        const sa: usize = h == 4 ? ldA : 0;
        const a0 = a + <usize>i * ldA + <usize>k0 * 4;
        const ci = c + <usize>i * rowStep;
        let pb = pbBuf;
        if (h == 4 || h == 1) {
          for (let jp = 0; jp < N; jp += 2) {
            dotKernel(kb, a0, sa, pb, ci + <usize>jp * colStep, ldc, h, min(2, N - jp), add, tc);
            pb += panelBytes;
          }
        } else {
          // 2 or 3 rows left: one row at a time (stride 0 repeats it).
          for (let r = 0; r < h; r++) {
            pb = pbBuf;
            for (let jp = 0; jp < N; jp += 2) {
              dotKernel(kb, a0 + <usize>r * ldA, 0, pb, ci + <usize>r * rowStep + <usize>jp * colStep, ldc, 1, min(2, N - jp), add, tc);
              pb += panelBytes;
            }
          }
        }
      }
    } else {
      packBPairs(transB, b, ldb, k0, kb, N, pbBuf);
      const panelBytes = <usize>(kb * 8);
      for (let i = 0; i < M; i += 16) {
        const h = min(16, M - i);
        // Full strips are read in place (16 floats per k, lda apart); the last partial
        // one is copied, zero-padded, so that no load runs past the matrix. So is every
        // strip when the row stride is a multiple of 2 KiB and several panels reuse it:
        // its lines would then fall into a few L1 sets and evict each other.
        let pa = a + <usize>k0 * ldA + <usize>i * 4;
        let sa = ldA;
        if (h < 16 || ((ldA & 2047) == 0 && N > 4)) {
          packStrip(pa, ldA, kb, h, paBuf);
          pa = paBuf;
          sa = 64;
        }
        const ci = c + <usize>i * rowStep;
        let pb = pbBuf;
        for (let jp = 0; jp < N; jp += 2) {
          tnKernel(kb, pa, sa, pb, ci + <usize>jp * colStep, ldc, h, min(2, N - jp), add, tc);
          pb += panelBytes;
        }
      }
    }
  }
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
  if (N <= NARROW_N) {
    gemmNarrow(transA, transB, M, N, K, a, lda, b, ldb, c, ldc, accumulate, work, false);
  } else if (M <= NARROW_N) {
    // Few rows (e.g. the weight gradient of a 10-class output layer): Cᵀ = op(B)ᵀ·op(A)ᵀ
    // has few columns. op(B)ᵀ is stored untransposed exactly when B is stored [N,K].
    gemmNarrow(transB ^ 1, transA ^ 1, N, M, K, b, ldb, a, lda, c, ldc, accumulate, work, true);
  } else {
    gemmBlocked(transA, transB, M, N, K, a, lda, b, ldb, c, ldc, accumulate, work);
  }
}
