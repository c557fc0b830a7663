// The robust-PCA phase transition at n×n (default 100×100): success rate of PCP and AltProj
// over a grid of rank fraction × corruption fraction, drawn as an SVG heat map, with the
// grid also written as CSV and JSON next to it (same name, .csv / .json).
// Usage: npx tsx scripts/rpca-phase.ts --out phase.svg [--size 100] [--trials 1]
//        [--ranks 0.02,0.05,…] [--sparsities 0.02,0.05,…] [--methods pcp,altproj]
//        [--success 1e-3] [--precision float64|float32] [--seed 1] [--accurate]
// --accurate runs PCP in accurate mode, which reaches the convex program's optimum (the
// default ρ = 1.5 stops at L + S = M earlier and fails sooner than PCP itself; FACTS.md).
import { writeFileAtomic } from "../src/core/files.js";
import { phaseGrid, phaseHeatmap, type PhaseMethod } from "../src/poison/phase.js";
import type { Precision } from "../src/poison/wasm.js";
import { toCsv } from "../src/report/csv.js";
import { writeSvg } from "../src/report/plot.js";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && i + 1 >= args.length) throw new Error(`--${name} needs a value`);
  return i >= 0 ? args[i + 1] : def;
};
const list = (name: string, def: string) => opt(name, def).split(",").map((x) => {
  const v = Number(x);
  if (!Number.isFinite(v)) throw new Error(`--${name}: '${x}' is not a number`);
  return v;
});
const out = opt("out", "");
if (!out.endsWith(".svg")) throw new Error("--out must name an .svg file");
const methods = opt("methods", "pcp,altproj").split(",") as PhaseMethod[];
for (const m of methods) if (m !== "pcp" && m !== "altproj") throw new Error(`--methods: unknown method '${m}'`);
const precision = opt("precision", "float64") as Precision;
if (precision !== "float64" && precision !== "float32") throw new Error("--precision must be float64 or float32");
const size = Number(opt("size", "100"));
const trials = Number(opt("trials", "1"));
const success = Number(opt("success", "1e-3"));
const t0 = performance.now();
const cells = phaseGrid({
  size, trials, success, methods, precision, seed: Number(opt("seed", "1")), accurate: args.includes("--accurate"),
  rankFractions: list("ranks", "0.02,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4"),
  sparsities: list("sparsities", "0.02,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4"),
  onCell: (c) => process.stderr.write(`${c.method} r=${c.rank} ρ=${c.sparsity}: ${c.successRate} (median error ${c.medianError.toExponential(1)}, ${c.seconds.toFixed(2)} s)\n`),
});
const base = out.slice(0, -4);
const accurate = args.includes("--accurate");
writeFileAtomic(`${base}.json`, JSON.stringify({ size, trials, success, precision, accurate, cells }, null, 1) + "\n");
writeFileAtomic(`${base}.csv`, toCsv(cells as unknown as Record<string, unknown>[]));
await writeSvg(out, phaseHeatmap(cells, `robust PCA phase transition, ${size}×${size}${accurate ? " (PCP accurate mode)" : ""}, ${trials} trial(s) per cell, success: ‖L−L*‖/‖L*‖ ≤ ${success}`));
console.log(JSON.stringify({ svg: out, csv: `${base}.csv`, json: `${base}.json`, cells: cells.length, seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
