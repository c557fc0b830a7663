// Robust PCA: the float64 linear algebra under it (QR, Jacobi SVD, randomized SVD, shrinkage),
// the seeded generator, recovery by PCP (inexact ALM) and AltProj, AltProj's divergence error,
// matrix input errors, and the `rpca` command run in-process.
import test from "ava";
import { Command } from "commander";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerRpca, runRpca } from "../src/cli/rpca.js";
import {
  altproj, AltProjDivergence, decodeBinary, encodeBinary, formatCsv, frobenius, gaussian, hardThreshold, jacobiSvd, mat,
  matmul, matmulNT, matmulTN, parseCsv, pcp, qr, reconstruct, recoveryStats, rpcaStats, rsvd, softThreshold,
  syntheticRpca, transpose, type Mat,
} from "../src/poison/index.js";

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
  t.true(r.lowRankError <= 1e-5);
  t.is(r.supportF1, 1);
  for (const k of ["iterations", "rank", "sparsity", "residual", "seconds", "sparseError"]) t.is(typeof r[k], "number");
});

test("`rpca` usage errors are one line", async (t) => {
  await t.throwsAsync(program().parseAsync(["rpca", "--synthetic", "10,10,x,0.1"], { from: "user" }), { message: /--synthetic must be m,n,rank,fraction/ });
  await t.throwsAsync(program().parseAsync(["rpca", "--synthetic", "10,10,3,0.1", "--method", "svd"], { from: "user" }), { message: /--method must be one of altproj, pcp/ });
  await t.throwsAsync(program().parseAsync(["rpca"], { from: "user" }), { message: "give exactly one of --input or --synthetic" });
  await t.throwsAsync(program().parseAsync(["rpca", "--input", "/nonexistent/M.csv"], { from: "user" }), { message: /\/nonexistent\/M\.csv: cannot read \(ENOENT\)/ });
});
