// The typed face of the WASM exports (assembly/index.ts). Pointers are byte offsets.

export interface Kernels {
  gemm(transA: number, transB: number, M: number, N: number, K: number,
    a: number, lda: number, b: number, ldb: number, c: number, ldc: number,
    accumulate: number, work: number): void;
  gemmWorkBytes(): number;
  biasAddRows(y: number, bias: number, rows: number, cols: number): void;
  sumRows(dy: number, db: number, rows: number, cols: number, accumulate: number): void;
  biasAddChannels(y: number, bias: number, batch: number, channels: number, plane: number): void;
  sumChannels(dy: number, db: number, batch: number, channels: number, plane: number, accumulate: number): void;
  reluForward(x: number, y: number, n: number): void;
  reluBackward(y: number, dy: number, dx: number, n: number): void;
  axpy(n: number, alpha: number, x: number, y: number): void;
  scale(n: number, alpha: number, x: number): void;
  sumSquares(n: number, x: number): number;
  countNonFinite(n: number, x: number): number;
  sgdStep(n: number, p: number, g: number, v: number, lr: number, momentum: number, weightDecay: number, nesterov: number): void;
  adamStep(n: number, p: number, g: number, m: number, v: number, lr: number, beta1: number, beta2: number,
    eps: number, bc1: number, bc2: number, weightDecay: number, adamw: number): void;
  softmaxCrossEntropy(z: number, labels: number, rows: number, cols: number, dz: number, scale: number, lossOut: number): number;
  argmaxRows(x: number, rows: number, cols: number, out: number): void;
  im2colRows(x: number, col: number, batch: number, channels: number, height: number, width: number,
    kh: number, kw: number, stride: number, pad: number, oh: number, ow: number): void;
  col2imRows(dcol: number, dx: number, batch: number, channels: number, height: number, width: number,
    kh: number, kw: number, stride: number, pad: number, oh: number, ow: number, accumulate: number): void;
  transposeBatch(src: number, dst: number, batch: number, rows: number, cols: number): void;
  avgPoolForward(x: number, y: number, planes: number, height: number, width: number, k: number, s: number, oh: number, ow: number): void;
  avgPoolBackward(dy: number, dx: number, planes: number, height: number, width: number, k: number, s: number, oh: number, ow: number): void;
  padPlanes(x: number, xp: number, planes: number, height: number, width: number, pad: number): void;
  unpadPlanes(xp: number, x: number, planes: number, height: number, width: number, pad: number): void;
  convTables(off: number, base: number, batch: number, channels: number, hp: number, wp: number,
    kh: number, kw: number, stride: number, oh: number, ow: number): void;
  packConvWeights(w: number, wt: number, cout: number, ckk: number): void;
  convForwardDirect(xp: number, wt: number, bias: number, y: number, M: number, cout: number, ckk: number, off: number, base: number): void;
  convWeightGradDirect(xp: number, dy: number, dw: number, M: number, cout: number, ckk: number, off: number, base: number, accumulate: number): void;
  convInputGradDirect(dy: number, w: number, dxp: number, M: number, cout: number, ckk: number, off: number, base: number): void;
  hash32(a: number, b: number, c: number, d: number): number;
  uniformRows(dst: number, rows: number, dim: number, sample: number, seed: number, stream: number, lo: number, hi: number): void;
  linfStep(xadv: number, g: number, x: number, n: number, alpha: number, eps: number, lo: number, hi: number): void;
  l2Step(xadv: number, g: number, x: number, rows: number, dim: number, alpha: number, eps: number, lo: number, hi: number, work: number): void;
  // Float64 linear algebra and fused robust-PCA passes (assembly/linalg.ts).
  dgemm(transA: number, transB: number, M: number, N: number, K: number,
    a: number, lda: number, b: number, ldb: number, c: number, ldc: number,
    accumulate: number, work: number): void;
  dgemmWorkBytes(): number;
  dgemv(trans: number, m: number, n: number, a: number, x: number, y: number): void;
  householderQr(w: number, k: number, m: number, r: number, betas: number): void;
  householderQ(w: number, k: number, m: number, betas: number, qt: number): void;
  jacobiSweep(w: number, vt: number, norms: number, n: number, m: number, nv: number, tol: number): number;
  dsumSquares(n: number, x: number): number;
  dsubAxpy(n: number, a: number, b: number, c: number, s: number, out: number): void;
  dpcpUpdate(n: number, d: number, l: number, lold: number, s: number, sold: number, y: number, inv: number, tau: number, mu: number, sums: number): void;
  daltprojUpdate(n: number, d: number, l: number, lold: number, s: number, zeta: number, sums: number): void;
  ssubAxpy(n: number, a: number, b: number, c: number, s: number, out: number): void;
  spcpUpdate(n: number, d: number, l: number, lold: number, s: number, sold: number, y: number, inv: number, tau: number, mu: number, sums: number): void;
  saltprojUpdate(n: number, d: number, l: number, lold: number, s: number, zeta: number, sums: number): void;
  ssumSquares64(n: number, x: number): number;
  /** Returns 1 if some x is not finite, else 0. */
  linfBox(x: number, n: number, eps: number, clip: number, clipLo: number, clipHi: number,
    lo: number, hi: number, c: number, r: number, m: number): number;
  relaxRows(a: number, cols: number, offs: number, samples: number, al: number, au: number, bu: number,
    w: number, cOut: number, eOut: number): void;
  rowDots(a: number, cols: number, offs: number, samples: number, b: number, w: number, cOut: number, eOut: number): void;
  concretizeRows(a: number, cols: number, offs: number, samples: number, lo: number, hi: number, m: number,
    vOut: number, eOut: number): void;
  gatherSignedRows(src: number, cols: number, idx: number, rows: number, dst: number): void;
  absInto(src: number, dst: number, n: number): void;
  gatherCols(a: number, lda: number, rows: number, idx: number, k: number, dst: number): void;
  negatePairs(a: number, cols: number, pairs: number): void;
  ibpRadius(n: number, cols: number, cv: number, av: number, bias: number, hasE: number, withBox: number, allowance: number,
    growNet: number, gNet: number, grow: number, g: number, lo: number, hi: number, w: number, e: number): void;
  boxFromBounds(nn: number, lo: number, hi: number, e: number, relu: number, hasE: number, c: number, r: number, m: number, eo: number): void;
  reluRelax(nn: number, lo: number, hi: number, al: number, au: number, bu: number, w: number): void;
  foldLast(w: number, b: number, classes: number, cols: number, y: number, wOut: number, bOut: number): void;
  foldedRows(n: number, classes: number, cols: number, tabs: number, labels: number, c: number, r: number, m: number, out: number): void;
  /** relaxRows, rowDots and concretizeRows with the constant (cOut, vOut) accumulated and stored in float64. */
  relaxRows64(a: number, cols: number, offs: number, samples: number, al: number, au: number, bu: number, w: number, cOut: number, eOut: number): void;
  rowDots64(a: number, cols: number, offs: number, samples: number, b: number, w: number, cOut: number, eOut: number): void;
  concretizeRows64(a: number, cols: number, offs: number, samples: number, lo: number, hi: number, m: number, vOut: number, eOut: number): void;
  convUnitRows(w: number, cin: number, h: number, wd: number, k: number, stride: number, pad: number, oh: number, ow: number, idx: number, rows: number, dst: number): void;
  gatherWindows(src: number, sampleStride: number, C: number, H: number, W: number, wh: number, ww: number, seg: number, nseg: number, dst: number): void;
  heapBase(): number;
  relaxedSimd(): number;
}
