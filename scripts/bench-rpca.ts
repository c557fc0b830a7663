// Robust PCA timings: PCP (inexact ALM, ρ = 1.5, partial SVD) and AltProj on seeded synthetic
// problems, with a single-threaded numpy reference of the same two algorithms where
// /usr/bin/python3 has numpy (OPENBLAS_NUM_THREADS=1: FACTS.md, threads are slower here).
// Usage: npx tsx scripts/bench-rpca.ts [m,n,rank,fraction ...]   (default 500,500,20,0.05 1000,1000,20,0.05)
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { altproj } from "../src/poison/altproj.js";
import { encodeBinary } from "../src/poison/matrix-io.js";
import { recoveryStats, rpcaStats } from "../src/poison/metrics.js";
import { pcp } from "../src/poison/pcp.js";
import { syntheticRpca } from "../src/poison/synthetic.js";

const PY = String.raw`
import sys, json, time, numpy as np
def load(p):
    b = open(p, 'rb').read(); hl = int.from_bytes(b[4:8], 'little'); h = json.loads(b[8:8+hl])
    return np.frombuffer(b[8+hl:], dtype='<f4').astype(np.float64).reshape(h['rows'], h['cols'])
M, L0, S0 = (load(p) for p in sys.argv[1:4]); rank = int(sys.argv[4])
rng = np.random.default_rng(1)
def rsvd(A, k, q=2, p=10):
    l = min(k + p, min(A.shape))
    Q, _ = np.linalg.qr(A @ rng.standard_normal((A.shape[1], l)))
    for _ in range(q):
        Z, _ = np.linalg.qr(A.T @ Q); Q, _ = np.linalg.qr(A @ Z)
    U, s, Vt = np.linalg.svd(Q.T @ A, full_matrices=False)
    return (Q @ U)[:, :k], s[:k], Vt[:k]
def ialm(M, rho=1.5, tol=1e-7):
    m, n = M.shape; lam = 1/np.sqrt(max(m, n)); n2 = np.linalg.norm(M, 2)
    Y = M / max(n2, np.abs(M).max()/lam); mu = 1.25/n2; mubar = mu*1e7; S = np.zeros_like(M); sv = max(1, round(0.1*min(m, n))); nm = np.linalg.norm(M)
    for it in range(1, 501):
        D = M - S + Y/mu
        while True:
            U, s, Vt = rsvd(D, sv + 1)
            if s[-1] <= 1/mu or sv + 1 >= min(m, n)//2: break
            sv += max(5, round(0.05*min(m, n)))
        r = int((s > 1/mu).sum()); L = (U[:, :r]*(s[:r]-1/mu)) @ Vt[:r]; sv = min(min(m, n), r + 1)
        T = M - L + Y/mu; S = np.sign(T)*np.maximum(np.abs(T)-lam/mu, 0)
        Z = M - L - S; Y += mu*Z; mu = min(mu*rho, mubar)
        if np.linalg.norm(Z)/nm < tol: break
    return L, S, it
def altproj(M, r, tol=1e-10):
    m, n = M.shape; beta = 1/np.sqrt(max(m, n)); nm = np.linalg.norm(M)
    S = M*(np.abs(M) > beta*rsvd(M, 1)[1][0]); L = np.zeros_like(M); its = 0
    for k in range(1, r+1):
        for t in range(300 if k == r else 30):
            its += 1; U, s, Vt = rsvd(M - S, k + 1, q=3)
            zeta = beta*(s[k] + 0.5**t*s[k-1]); Ln = (U[:, :k]*s[:k]) @ Vt[:k]
            R = M - Ln; Sn = R*(np.abs(R) > zeta); moved = np.linalg.norm(Ln - L)/nm; L, S = Ln, Sn
            res = np.linalg.norm(M - L - S)/nm
            if k == r and res < tol and moved < tol: return L, S, its
            if k < r and t >= 2 and moved < 1e-3*s[k-1]/nm: break
    return L, S, its
out = {}
for name, f in (('pcp', lambda: ialm(M)), ('altproj', lambda: altproj(M, rank))):
    t0 = time.perf_counter(); L, S, it = f(); dt = time.perf_counter() - t0
    out[name] = dict(seconds=dt, iterations=it, lowRankError=float(np.linalg.norm(L-L0)/np.linalg.norm(L0)))
print(json.dumps(out))
`;

const specs = process.argv.slice(2).length ? process.argv.slice(2) : ["500,500,20,0.05", "1000,1000,20,0.05"];
const hasNumpy = (() => {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import numpy"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
for (const spec of specs) {
  const [m, n, r, f] = spec.split(",").map(Number);
  const p = syntheticRpca(m, n, r, f, 1);
  const row: Record<string, unknown> = { problem: spec };
  for (const [name, solve] of [["pcp", () => pcp(p.m)], ["altproj", () => altproj(p.m, { rank: r })]] as const) {
    const t0 = performance.now();
    const res = solve();
    const seconds = (performance.now() - t0) / 1000;
    const st = rpcaStats(p.m, res), rec = recoveryStats(p.m, res, p.lowRank, p.sparse);
    row[name] = { seconds: +seconds.toFixed(3), iterations: st.iterations, rank: st.rank, lowRankError: rec.lowRankError, supportF1: rec.supportF1 };
  }
  if (hasNumpy) {
    // float32 files: numpy solves the float32-rounded M; its error is measured against rounded L*, S*.
    const dir = mkdtempSync(join(tmpdir(), "bench-rpca-"));
    try {
      const files = [p.m, p.lowRank, p.sparse].map((a, i) => {
        const file = join(dir, `${i}.f32`);
        writeFileSync(file, encodeBinary(a));
        return file;
      });
      const out = execFileSync("/usr/bin/python3", ["-c", PY, ...files, String(r)], { env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" }, maxBuffer: 1 << 20 });
      row.numpy = JSON.parse(out.toString());
    } finally {
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(JSON.stringify(row));
}
