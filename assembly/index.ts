// The bulwark WASM core: every export is a pure function over pointers into linear memory.
// Nothing here allocates; src/core lays out buffers above heapBase().

export { gemm, gemmWorkBytes } from "./gemm";
export {
  biasAddRows, sumRows, biasAddChannels, sumChannels, reluForward, reluBackward,
  axpy, scale, sumSquares, countNonFinite, sgdStep, adamStep,
} from "./elementwise";
export { softmaxCrossEntropy, argmaxRows } from "./loss";
export { linfBox, relaxRows, rowDots, concretizeRows, gatherSignedRows, gatherCols, negatePairs, absInto, ibpRadius, boxFromBounds, reluRelax, foldLast, foldedRows, relaxRows64, rowDots64, concretizeRows64, convUnitRows, gatherWindows } from "./bounds";
export { dgemm, dgemmWorkBytes, dgemv, householderQr, householderQ, jacobiSweep, dsumSquares, dsubAxpy, dpcpUpdate, daltprojUpdate, ssubAxpy, spcpUpdate, saltprojUpdate, ssumSquares64 } from "./linalg";
export { hash32, uniformRows, linfStep, l2Step } from "./attack";
export {
  im2colRows, col2imRows, transposeBatch, avgPoolForward, avgPoolBackward,
  padPlanes, unpadPlanes, convTables, packConvWeights, convForwardDirect, convWeightGradDirect, convInputGradDirect,
} from "./conv";

// First free byte above the static data: the arena in src/core starts here.
export function heapBase(): usize {
  return __heap_base;
}

// 1 when this build uses relaxed-SIMD fused multiply-add.
export function relaxedSimd(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
