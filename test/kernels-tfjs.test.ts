// Our GEMM (plain and relaxed builds) against tfjs-backend-wasm's matMul (XNNPACK) on
// identical float32 inputs, in all four transpose forms: the two must agree to within
// float32 rounding, and both must match a float64 reference.
import test from "ava";
import { Runtime } from "../src/core/runtime.js";
import { Arena } from "../src/core/arena.js";
import { relaxedSimdAvailable } from "../src/core/module.js";
import { Stream } from "../src/core/random.js";
import { tfjsWasm } from "./helpers/tfjs.js";

const U = 2 ** -24;

// Training shapes (M batch, K fan-in, N fan-out), odd ones, and ones crossing the blocking.
const SHAPES: Array<[number, number, number]> = [
  [128, 784, 256],
  [128, 256, 10],
  [10, 128, 256],
  [128, 10, 256],
  [67, 17, 3],
  [1, 1, 1],
  [65, 513, 257],
  [33, 1030, 16],
];

function transpose(x: Float32Array, r: number, c: number): Float32Array {
  const y = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) y[j * r + i] = x[i * c + j];
  return y;
}

for (const simd of ["plain", "relaxed"] as const) {
  test(`gemm matches tfjs-backend-wasm matMul, all transpose forms [${simd}]`, async (t) => {
    if (simd === "relaxed" && !relaxedSimdAvailable()) {
      t.log("relaxed-SIMD build does not validate on this runtime: skipped");
      t.pass();
      return;
    }
    const tf = await tfjsWasm();
    t.is(tf.getBackend(), "wasm");
    const rt = new Runtime({ simd });
    const arena = new Arena(rt);
    const work = arena.bytes(rt.k.gemmWorkBytes());
    const rand = new Stream(20240611, simd === "plain" ? 1 : 2);
    for (const [M, K, N] of SHAPES) {
      const A = new Float32Array(M * K).map(() => rand.next() * 2 - 1); // op(A)
      const B = new Float32Array(K * N).map(() => rand.next() * 2 - 1); // op(B)
      // float64 reference and the scale of its rounding error bound.
      const ref = new Float64Array(M * N);
      const mag = new Float64Array(M * N);
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < K; k++) {
          const a = A[i * K + k];
          for (let j = 0; j < N; j++) {
            ref[i * N + j] += a * B[k * N + j];
            mag[i * N + j] += Math.abs(a * B[k * N + j]);
          }
        }
      }
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const as = tA ? transpose(A, M, K) : A;
          const bs = tB ? transpose(B, K, N) : B;
          const mark = arena.mark();
          const a = arena.f32(M * K);
          const b = arena.f32(K * N);
          const c = arena.f32(M * N);
          a.f32.set(as);
          b.f32.set(bs);
          rt.k.gemm(+tA, +tB, M, N, K, a.ptr, tA ? M : K, b.ptr, tB ? K : N, c.ptr, N, 0, work);
          const ours = rt.f32(c.ptr, M * N).slice();
          arena.release(mark);

          const ta = tf.tensor2d(as, tA ? [K, M] : [M, K]);
          const tb = tf.tensor2d(bs, tB ? [N, K] : [K, N]);
          const tc = tf.matMul(ta, tb, tA, tB);
          t.deepEqual(tc.shape, [M, N]);
          const theirs = tc.dataSync() as Float32Array;
          tf.dispose([ta, tb, tc]);

          // Both are correct float32 sums: each within (K+1)·u·Σ|ab| of the exact value,
          // so they are within twice that of each other.
          const tol = 2 * (K + 1) * U;
          let worstRef = 0, worstTf = 0, at = 0;
          for (let i = 0; i < M * N; i++) {
            const s = Math.max(mag[i], 1e-30);
            const eRef = Math.abs(ours[i] - ref[i]) / s;
            const eTf = Math.abs(ours[i] - theirs[i]) / s;
            if (!(eRef <= worstRef)) worstRef = eRef;
            if (!(eTf <= worstTf)) {
              worstTf = eTf;
              at = i;
            }
          }
          const what = `${M}x${K}x${N} transA=${+tA} transB=${+tB}`;
          t.true(worstRef <= tol, `${what}: vs float64 ${worstRef.toExponential(2)} > ${tol.toExponential(2)}`);
          t.true(worstTf <= 2 * tol, `${what}: vs tfjs ${worstTf.toExponential(2)} at ${at} (ours ${ours[at]}, tfjs ${theirs[at]})`);
        }
      }
    }
  });
}
