// Robust PCA: the WASM kernels under it (f64 GEMM in four transpositions, Householder QR,
// Jacobi sweeps, fused threshold passes, float32 twins) against plain reference loops, the
// linear algebra built on them (QR, Jacobi SVD, randomized SVD, shrinkage), the seeded
// generator, recovery by PCP (inexact ALM) and AltProj in float64 and float32, AltProj's
// divergence error, matrix input errors, the phase-transition grid, and the `rpca` command.
import test from "ava";
import { Command } from "commander";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerRpca, runRpca } from "../src/cli/rpca.js";
import {
  altproj, AltProjDivergence, decodeBinary, encodeBinary, formatCsv, frobenius, gaussian, hardThreshold, jacobiSvd, mat,
  matmul, matmulNT, matmulTN, parseCsv, pcp, qr, rangeSvd, reconstruct, recoveryStats, rpcaStats, rsvd, softThreshold,
  spectralNorm, syntheticRpca, transpose, type Mat,
} from "../src/poison/index.js";
import { phaseGrid, phaseHeatmap } from "../src/poison/phase.js";
import { alloc, altprojUpdate, gemm, kernels, pcpUpdate, ptr, scope, subAxpy, type Precision } from "../src/poison/wasm.js";
import { renderSvg } from "../src/report/plot.js";

const relDiff = (a: Mat, b: Mat) => {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i] - b.data[i]) ** 2;
  return Math.sqrt(s) / frobenius(b.data);
};
/** max |QᵀQ − I| over the columns of q. */
const orthoError = (q: Mat) => {
  const g = matmulTN(q, q);
  let e = 0;
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) e = Math.max(e, Math.abs(g.data[i * g.cols + j] - (i === j ? 1 : 0)));
  return e;
};

// ---------------------------------------------------------------------------------------------
// Kernels against plain loops

/** op(A)·op(B) by the textbook triple loop, in float64. */
function refGemm(tA: boolean, tB: boolean, M: number, N: number, K: number, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) s += (tA ? a[p * M + i] : a[i * K + p]) * (tB ? b[j * K + p] : b[p * N + j]);
      c[i * N + j] = s;
    }
  }
  return c;
}

const maxRel = (x: ArrayLike<number>, ref: ArrayLike<number>) => {
  let e = 0, s = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(x[i] - ref[i]));
    s = Math.max(s, Math.abs(ref[i]));
  }
  return e / s;
};

// Sizes cover the 4×4 tile edges, the k split (KC = 256) and the row and column blocks (MC = 64, NC = 256).
for (const [M, N, K] of [[1, 1, 1], [7, 5, 9], [33, 17, 65], [70, 300, 520]] as const) {
  for (const precision of ["float64", "float32"] as const) {
    test(`GEMM ${precision} ${M}×${N}×${K}: NN, NT, TN, TT and accumulate match the triple loop`, (t) => {
      const a = gaussian(M, K, M + N).data, b = gaussian(K, N, K + 1).data, c0 = gaussian(M, N, 3).data;
      const tolerance = precision === "float64" ? 1e-14 : 3e-6;
      scope(() => {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const A = alloc(M * K, precision), B = alloc(K * N, precision), C = alloc(M * N, precision);
            A.set(a);
            B.set(b);
            const ref = refGemm(tA, tB, M, N, K, A, B);
            gemm(tA, tB, M, N, K, A, B, C);
            t.true(maxRel(C, ref) < tolerance, `${tA ? "T" : "N"}${tB ? "T" : "N"}: ${maxRel(C, ref)}`);
            C.set(c0);
            const cIn = Float64Array.from(C);
            gemm(tA, tB, M, N, K, A, B, C, true);
            const acc = ref.map((x, i) => x + cIn[i]);
            t.true(maxRel(C, acc) < tolerance, "accumulate");
          }
        }
      });
    });
  }
}

test("Householder QR kernel matches modified Gram–Schmidt (up to column signs)", (t) => {
  const m = 53, k = 9;
  const a = gaussian(m, k, 17);
  // Plain MGS reference on columns.
  const cols = Array.from({ length: k }, (_, j) => Float64Array.from({ length: m }, (_, i) => a.data[i * k + j]));
  const rRef = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let d = 0;
      for (let i = 0; i < m; i++) d += cols[p][i] * cols[j][i];
      rRef[p * k + j] = d;
      for (let i = 0; i < m; i++) cols[j][i] -= d * cols[p][i];
    }
    const nrm = frobenius(cols[j]);
    rRef[j * k + j] = nrm;
    for (let i = 0; i < m; i++) cols[j][i] /= nrm;
  }
  const { q, r } = qr(a);
  for (let j = 0; j < k; j++) {
    const sign = Math.sign(r.data[j * k + j]);
    for (let c = j; c < k; c++) t.true(Math.abs(sign * r.data[j * k + c] - rRef[j * k + c]) < 1e-12);
    for (let i = 0; i < m; i++) t.true(Math.abs(sign * q.data[i * k + j] - cols[j][i]) < 1e-12);
  }
});

test("one Jacobi sweep in WASM equals the plain sweep (same blocked pair order)", (t) => {
  const n = 45, m = 70; // m ≥ n: well-conditioned rotations, so rounding differences stay small
  const w = gaussian(n, m, 5).data, vt = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  const norms = Float64Array.from({ length: n }, (_, j) => w.subarray(j * m, (j + 1) * m).reduce((s, x) => s + x * x, 0));
  // Plain reference (the former TypeScript loop).
  const W = w.slice(), V = vt.slice(), nr = norms.slice();
  let rotations = 0;
  // Blocks of 32 rows (assembly/linalg.ts JB), as the kernel visits them.
  const pairs: [number, number][] = [];
  for (let ib = 0; ib < n; ib += 32) {
    for (let jb = ib; jb < n; jb += 32) {
      for (let p = ib; p < Math.min(ib + 32, n); p++) for (let q = Math.max(p + 1, jb); q < Math.min(jb + 32, n); q++) pairs.push([p, q]);
    }
  }
  t.is(pairs.length, (n * (n - 1)) / 2);
  for (const [p, q] of pairs) {
    {
      const alpha = nr[p], beta = nr[q];
      let gamma = 0;
      for (let i = 0; i < m; i++) gamma += W[p * m + i] * W[q * m + i];
      if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
      rotations++;
      const zeta = (beta - alpha) / (2 * gamma);
      const tt = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + tt * tt), s = c * tt;
      for (const [X, len] of [[W, m], [V, n]] as const) {
        for (let i = 0; i < len; i++) {
          const x = X[p * len + i], y = X[q * len + i];
          X[p * len + i] = c * x - s * y;
          X[q * len + i] = s * x + c * y;
        }
      }
      nr[p] = alpha - tt * gamma;
      nr[q] = beta + tt * gamma;
    }
  }
  scope(() => {
    const Wk = alloc(n * m, "float64"), Vk = alloc(n * n, "float64"), Nk = alloc(n, "float64");
    Wk.set(w);
    Vk.set(vt);
    Nk.set(norms);
    t.is(kernels().jacobiSweep(ptr(Wk), ptr(Vk), ptr(Nk), n, m, n, 1e-15), rotations);
    const err = Math.max(maxRel(Wk, W), maxRel(Vk, V), maxRel(Nk, nr));
    t.true(err < 1e-12, String(err));
  });
});

for (const precision of ["float64", "float32"] as Precision[]) {
  test(`fused ${precision} passes (M − S + Y/μ, PCP and AltProj updates) match plain loops, odd lengths`, (t) => {
    const n = 1001;
    const g = (seed: number, scale = 1) => gaussian(n, 1, seed).data.map((x) => x * scale);
    const d = g(1), l = g(2, 0.9), lold = g(3), sold = g(4), y = g(5);
    const tol = precision === "float64" ? 1e-13 : 1e-5;
    scope(() => {
      const R = (x: Float64Array) => {
        const r = alloc(n, precision);
        r.set(x);
        return r;
      };
      const D = R(d), L = R(l), Lold = R(lold), Sold = R(sold), Y = R(y), S = alloc(n, precision), out = alloc(n, precision);
      const [d_, l_, lo_, so_, y_] = [D, L, Lold, Sold, Y].map((v) => Float64Array.from(v)); // the rounded inputs
      subAxpy(D, Sold, out, Y, 0.25);
      t.true(maxRel(out, d_.map((x, i) => x - so_[i] + 0.25 * y_[i])) < tol);
      subAxpy(D, Sold, out);
      t.true(maxRel(out, d_.map((x, i) => x - so_[i])) < tol);
      // PCP: S = shrink(D − L + inv·Y), Z = D − L − S, Y += μZ.
      const inv = 0.5, tau = 0.3, mu = 2;
      const sRef = new Float64Array(n), yRef = new Float64Array(n);
      let res = 0, dl = 0, ds = 0;
      for (let i = 0; i < n; i++) {
        const tv = d_[i] - l_[i] + y_[i] * inv;
        sRef[i] = tv > tau ? tv - tau : tv < -tau ? tv + tau : 0;
        const z = d_[i] - l_[i] - sRef[i];
        yRef[i] = y_[i] + mu * z;
        res += z * z;
        dl += (l_[i] - lo_[i]) ** 2;
        ds += (sRef[i] - so_[i]) ** 2;
      }
      const sums = pcpUpdate(D, L, Lold, S, Sold, Y, inv, tau, mu);
      t.true(maxRel(S, sRef) < tol && maxRel(Y, yRef) < tol);
      t.true(maxRel(sums, [res, dl, ds]) < tol);
      t.is(Array.from(S).filter((x) => x === 0).length, Array.from(sRef).filter((x) => x === 0).length);
      // AltProj: S = H_ζ(D − L).
      const zeta = 0.7;
      let res2 = 0, dl2 = 0;
      const hRef = d_.map((x, i) => {
        const r = x - l_[i];
        if (Math.abs(r) > zeta) return r;
        res2 += r * r;
        return 0;
      });
      for (let i = 0; i < n; i++) dl2 += (l_[i] - lo_[i]) ** 2;
      const sums2 = altprojUpdate(D, L, Lold, S, zeta);
      t.true(maxRel(S, hRef) < tol);
      t.true(maxRel(sums2, [res2, dl2]) < tol);
    });
  });
}

test("spectral norm (WASM matvecs) equals σ₁ of the Jacobi SVD", (t) => {
  const a = gaussian(37, 23, 4);
  t.true(Math.abs(spectralNorm(a, 1000) - jacobiSvd(a).s[0]) < 1e-9 * jacobiSvd(a).s[0]);
});

for (const precision of ["float64", "float32"] as Precision[]) {
  test(`randomized SVD of a resident ${precision} matrix: exact on low rank, and a warm start reproduces it`, (t) => {
    const m = 120, n = 90, r = 6;
    const a = matmulNT(gaussian(m, r, 1), gaussian(n, r, 2));
    const tol = precision === "float64" ? 1e-12 : 3e-6;
    scope(() => {
      const A = alloc(m * n, precision);
      A.set(a.data);
      const cold = rangeSvd(A, m, n, r, r + 8, 2, 3);
      const rec = (x: typeof cold) => {
        const out = new Float64Array(m * n);
        for (let c = 0; c < r; c++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] += x.ut[c * m + i] * x.s[c] * x.vt[c * n + j];
        return mat(m, n, out);
      };
      t.true(relDiff(rec(cold), a) < tol, `cold ${relDiff(rec(cold), a)}`);
      const warm = rangeSvd(A, m, n, r, r + 8, 0, 4, cold.vtAll);
      t.true(relDiff(rec(warm), a) < tol, `warm ${relDiff(rec(warm), a)}`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Linear algebra

test("matrix products agree with each other", (t) => {
  const a = gaussian(7, 5, 1), b = gaussian(5, 6, 2);
  const c = matmul(a, b);
  t.true(relDiff(matmulTN(transpose(a), b), c) < 1e-15);
  t.true(relDiff(matmulNT(a, transpose(b)), c) < 1e-15);
  t.is(c.data[2 * 6 + 3], [0, 1, 2, 3, 4].reduce((s, p) => s + a.data[2 * 5 + p] * b.data[p * 6 + 3], 0));
});

test("Householder QR: Q orthonormal, R upper triangular, QR = A", (t) => {
  const a = gaussian(60, 12, 3);
  const { q, r } = qr(a);
  t.deepEqual([q.rows, q.cols, r.rows, r.cols], [60, 12, 12, 12]);
  t.true(orthoError(q) < 1e-13);
  for (let i = 1; i < 12; i++) for (let j = 0; j < i; j++) t.is(r.data[i * 12 + j], 0);
  t.true(relDiff(matmul(q, r), a) < 1e-14);
});

for (const [m, n] of [[40, 25], [25, 40], [30, 30]] as const) {
  test(`Jacobi SVD ${m}×${n}: reconstruction, orthogonality, descending σ`, (t) => {
    const a = gaussian(m, n, m * 100 + n);
    const svd = jacobiSvd(a);
    const k = Math.min(m, n);
    t.is(svd.s.length, k);
    for (let i = 1; i < k; i++) t.true(svd.s[i - 1] >= svd.s[i]);
    t.true(relDiff(reconstruct(svd), a) < 1e-13);
    t.true(orthoError(svd.u) < 1e-13);
    t.true(orthoError(svd.v) < 1e-13);
  });
}

test("Jacobi SVD warm-started from nearby V converges in fewer sweeps to the same σ", (t) => {
  const a = gaussian(50, 30, 9);
  const cold = jacobiSvd(a);
  const b = mat(50, 30, a.data.map((x, i) => x + 1e-6 * Math.sin(i)));
  const ref = jacobiSvd(b);
  const warm = jacobiSvd(b, { v0: cold.v });
  t.true(warm.sweeps < ref.sweeps);
  for (let i = 0; i < 30; i++) t.true(Math.abs(warm.s[i] - ref.s[i]) < 1e-12 * ref.s[0]);
  t.true(relDiff(reconstruct(warm), b) < 1e-13);
});

test("randomized SVD recovers an exactly low-rank matrix and its singular values", (t) => {
  const a = matmulNT(gaussian(200, 5, 11), gaussian(150, 5, 12));
  const r = rsvd(a, 5, { seed: 3 });
  t.true(relDiff(reconstruct(r), a) < 1e-12);
  t.true(orthoError(r.u) < 1e-12 && orthoError(r.v) < 1e-12);
  const full = jacobiSvd(a);
  for (let i = 0; i < 5; i++) t.true(Math.abs(r.s[i] - full.s[i]) < 1e-11 * full.s[0]);
  t.true(full.s[5] < 1e-12 * full.s[0]);
});

test("soft and hard thresholds", (t) => {
  const x = Float64Array.from([-3, -1, -0.5, 0, 0.5, 1, 3]);
  t.deepEqual(Array.from(softThreshold(x, 1)), [-2, 0, 0, 0, 0, 0, 2]);
  t.deepEqual(Array.from(hardThreshold(x, 0.9)), [-3, -1, 0, 0, 0, 1, 3]);
});

test("the synthetic generator is seeded and has the requested rank and sparsity", (t) => {
  const a = syntheticRpca(60, 50, 4, 0.1, 5), b = syntheticRpca(60, 50, 4, 0.1, 5), c = syntheticRpca(60, 50, 4, 0.1, 6);
  t.deepEqual(a.m.data, b.m.data);
  t.notDeepEqual(a.m.data, c.m.data);
  t.is(a.sparse.data.filter((x) => x !== 0).length, 300);
  t.true(a.sparse.data.every((x) => x === 0 || x === 1 || x === -1));
  const s = jacobiSvd(a.lowRank).s;
  t.true(s[3] > 0.1 && s[4] < 1e-12 * s[0]);
});

const PROBLEMS = [[100, 100, 5, 0.05], [200, 200, 5, 0.05]] as const;
for (const [m, n, r, f] of PROBLEMS) {
  const p = syntheticRpca(m, n, r, f, 1);
  for (const [name, solve] of [
    ["PCP (ρ = 1.5)", () => pcp(p.m)],
    ["PCP accurate", () => pcp(p.m, { accurate: true })],
    ["AltProj", () => altproj(p.m, { rank: r })],
    ["AltProj with rank hint 2r", () => altproj(p.m, { rank: 2 * r })],
  ] as const) {
    if (m === 200 && name === "PCP accurate") continue; // ~2 s; covered at 100²
    test(`${name} recovers ${m}×${n} rank ${r}, ${f * 100} % corrupted: ‖L−L*‖/‖L*‖ ≤ 1e-5, support F1 = 1`, (t) => {
      const res = solve();
      const st = rpcaStats(p.m, res), rec = recoveryStats(p.m, res, p.lowRank, p.sparse);
      t.log(JSON.stringify({ ...st, ...rec }));
      t.true(res.converged);
      t.is(res.rank, r);
      t.true(rec.lowRankError <= 1e-5);
      t.is(rec.supportF1, 1);
      t.true(st.residual < 1e-6);
    });
  }
}

// float32 mode: the m×n iterates and their products in float32, the target is 1e-4.
for (const [m, n, r, f] of [[100, 100, 5, 0.05], [200, 200, 5, 0.05]] as const) {
  const p = syntheticRpca(m, n, r, f, 1);
  for (const [name, solve] of [
    ["PCP", () => pcp(p.m, { precision: "float32" })],
    ["AltProj", () => altproj(p.m, { rank: r, precision: "float32" })],
  ] as const) {
    test(`${name} in float32 recovers ${m}×${n} rank ${r}, ${f * 100} % corrupted: ‖L−L*‖/‖L*‖ ≤ 1e-4, support F1 = 1`, (t) => {
      const res = solve();
      const rec = recoveryStats(p.m, res, p.lowRank, p.sparse);
      t.log(JSON.stringify(rec));
      t.true(res.converged);
      t.is(res.rank, r);
      t.true(rec.lowRankError <= 1e-4);
      t.true(rec.lowRankError > 1e-9); // it really ran in float32
      t.is(rec.supportF1, 1);
    });
  }
}

test("500×500 rank 10, 10 % corrupted: PCP and AltProj reach 1e-5 (float64) and 1e-4 (float32)", (t) => {
  const p = syntheticRpca(500, 500, 10, 0.1, 1);
  for (const precision of ["float64", "float32"] as const) {
    for (const res of [pcp(p.m, { precision }), altproj(p.m, { rank: 10, precision })]) {
      const rec = recoveryStats(p.m, res, p.lowRank, p.sparse);
      t.log(precision, JSON.stringify(rec));
      t.true(rec.lowRankError <= (precision === "float64" ? 1e-5 : 1e-4));
      t.is(rec.supportF1, 1);
    }
  }
});

test("unknown precision is a one-line error", (t) => {
  const p = syntheticRpca(20, 20, 2, 0.05, 1);
  t.throws(() => pcp(p.m, { precision: "float16" as Precision }), { message: "pcp: precision must be float64 or float32, got float16" });
  t.throws(() => altproj(p.m, { rank: 2, precision: "half" as Precision }), { message: "altproj: precision must be float64 or float32, got half" });
});

test("phase grid: the easy corner recovers, the dense high-rank corner fails, and the heat map renders", async (t) => {
  const cells = phaseGrid({ size: 40, rankFractions: [0.05, 0.5], sparsities: [0.02, 0.45], methods: ["pcp", "altproj"], trials: 1 });
  t.is(cells.length, 8);
  for (const method of ["pcp", "altproj"]) {
    const at = (r: number, s: number) => cells.find((c) => c.method === method && c.rankFraction === r && c.sparsity === s)!;
    t.is(at(0.05, 0.02).successRate, 1, method);
    t.is(at(0.5, 0.45).successRate, 0, method);
  }
  const svg = await renderSvg(phaseHeatmap(cells, "test"));
  t.true(svg.startsWith("<svg") && svg.includes("altproj") && svg.includes("pcp"));
  t.throws(() => phaseGrid({ size: 40, rankFractions: [0.001], sparsities: [0.1], methods: ["pcp"], trials: 1 }), { message: /rank fraction 0\.001 gives no rank/ });
});

test("AltProj stops with a clear error when β is too large or corruption too dense", (t) => {
  const p = syntheticRpca(100, 100, 5, 0.05, 1);
  const e1 = t.throws(() => altproj(p.m, { rank: 5, beta: 10 / Math.sqrt(100) }));
  t.true(e1 instanceof AltProjDivergence);
  t.regex(e1!.message, /^altproj (did not converge|diverged).*β = 1\.00/);
  t.false(e1!.message.includes("\n"));
  const dense = syntheticRpca(100, 100, 5, 0.4, 1);
  const e2 = t.throws(() => altproj(dense.m, { rank: 5 }));
  t.true(e2 instanceof AltProjDivergence);
});

test("solvers reject non-finite input", (t) => {
  const a = gaussian(10, 10, 1);
  a.data[13] = NaN;
  t.throws(() => altproj(a, { rank: 2 }), { message: /non-finite value \(NaN\) at row 2, column 4/ });
  t.throws(() => pcp(a), { message: /non-finite/ });
});

test("CSV parsing: numbers in, one-line errors for bad input", (t) => {
  const m = parseCsv("1,2,3\n4.5,-6e-1, 7\n", "m.csv");
  t.deepEqual([m.rows, m.cols, ...m.data], [2, 3, 1, 2, 3, 4.5, -0.6, 7]);
  t.throws(() => parseCsv("1,2\n3,x\n", "m.csv"), { message: "m.csv: line 2, column 2: 'x' is not a finite number" });
  t.throws(() => parseCsv("1,2\n3\n", "m.csv"), { message: /line 2 has 1 values, expected 2 \(ragged rows\)/ });
  t.throws(() => parseCsv("1,NaN\n", "m.csv"), { message: /'NaN' is not a finite number/ });
  t.throws(() => parseCsv("1,Infinity\n", "m.csv"), { message: /not a finite number/ });
  t.throws(() => parseCsv("1,,2\n", "m.csv"), { message: /column 2: '' is not a finite number/ });
  t.throws(() => parseCsv("\n\n", "m.csv"), { message: "m.csv: empty matrix" });
  t.throws(() => parseCsv("1,2\n\n3,4\n", "m.csv"), { message: "m.csv: line 2 is empty" });
  t.deepEqual(parseCsv(formatCsv(m)).data, m.data);
});

test("float32 binary matrices round-trip and reject damage", (t) => {
  const a = mat(3, 2, Float64Array.from([1, 2.5, -3, 4, 5, 6]));
  const bin = encodeBinary(a);
  t.deepEqual(decodeBinary(bin).data, a.data);
  t.throws(() => decodeBinary(bin.subarray(0, bin.length - 4), "m.f32"), { message: /m\.f32: expected 6 float32 values/ });
  t.throws(() => decodeBinary(Buffer.from("nope"), "m.f32"), { message: /not a bulwark float32 matrix/ });
});

test("runRpca on a CSV file writes L, S and rpca.json, and reports the split", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-rpca-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = syntheticRpca(60, 50, 3, 0.05, 2);
  writeFileSync(join(dir, "M.csv"), formatCsv(p.m));
  const out = join(dir, "result");
  const { report } = runRpca({ input: join(dir, "M.csv"), method: "altproj", rankHint: 6, seed: 1, out, format: "csv" });
  t.is(report.rank, 3);
  t.true(report.residual < 1e-8);
  t.is(report.lowRankError, undefined);
  t.deepEqual(readdirSync(out).sort(), ["L.csv", "S.csv", "rpca.json"]);
  const L = parseCsv(readFileSync(join(out, "L.csv"), "utf8"));
  t.true(relDiff(L, p.lowRank) < 1e-6);
  t.is(JSON.parse(readFileSync(join(out, "rpca.json"), "utf8")).rank, 3);
  // A bad file: one-line error, nothing written.
  writeFileSync(join(dir, "bad.csv"), "1,2\n3,oops\n");
  const out2 = join(dir, "result2");
  t.throws(() => runRpca({ input: join(dir, "bad.csv"), method: "pcp", seed: 1, out: out2, format: "csv" }), { message: /bad\.csv: line 2, column 2: 'oops'/ });
  t.false(existsSync(join(out2, "L.csv")));
});

function program(): Command {
  const p = new Command("bulwark").option("--json").exitOverride().configureOutput({ outputError: () => {}, writeOut: () => {}, writeErr: () => {} });
  registerRpca(p);
  for (const c of p.commands) c.exitOverride().configureOutput({ outputError: () => {}, writeOut: () => {}, writeErr: () => {} });
  return p;
}

test.serial("`rpca --synthetic … --json` prints one JSON line with the recovery metrics", async (t) => {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
  try {
    await program().parseAsync(["--json", "rpca", "--synthetic", "80,60,3,0.05", "--method", "pcp", "--format", "f32"], { from: "user" });
  } finally {
    process.stdout.write = write;
  }
  t.is(lines.length, 1);
  const r = JSON.parse(lines[0]);
  t.is(r.method, "pcp");
  t.is(r.precision, "float64");
  t.true(r.lowRankError <= 1e-5);
  t.is(r.supportF1, 1);
  for (const k of ["iterations", "rank", "sparsity", "residual", "seconds", "sparseError"]) t.is(typeof r[k], "number");
});

test.serial("`rpca --precision float32` solves in float32 and says so", async (t) => {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
  try {
    await program().parseAsync(["--json", "rpca", "--synthetic", "80,60,3,0.05", "--method", "altproj", "--precision", "float32"], { from: "user" });
  } finally {
    process.stdout.write = write;
  }
  const r = JSON.parse(lines[0]);
  t.is(r.precision, "float32");
  t.true(r.lowRankError <= 1e-4 && r.lowRankError > 1e-9);
  t.is(r.supportF1, 1);
});

test("`rpca` usage errors are one line", async (t) => {
  await t.throwsAsync(program().parseAsync(["rpca", "--synthetic", "10,10,3,0.1", "--precision", "float16"], { from: "user" }), { message: /--precision must be one of float64, float32/ });
  await t.throwsAsync(program().parseAsync(["rpca", "--synthetic", "10,10,x,0.1"], { from: "user" }), { message: /--synthetic must be m,n,rank,fraction/ });
  await t.throwsAsync(program().parseAsync(["rpca", "--synthetic", "10,10,3,0.1", "--method", "svd"], { from: "user" }), { message: /--method must be one of altproj, pcp/ });
  await t.throwsAsync(program().parseAsync(["rpca"], { from: "user" }), { message: "give exactly one of --input or --synthetic" });
  await t.throwsAsync(program().parseAsync(["rpca", "--input", "/nonexistent/M.csv"], { from: "user" }), { message: /\/nonexistent\/M\.csv: cannot read \(ENOENT\)/ });
});
