// `bulwark certify`: per-sample verdicts (certified / falsified / unknown) of a saved model on
// the first test samples under an L∞ ball, with IBP, CROWN or CROWN-IBP bounds. In-process.
import type { Command } from "commander";
import { writeCsv } from "../report/csv.js";
import { BOUND_METHODS, type BoundMethod } from "../certify/bounds.js";
import { certifyOn } from "../certify/verdict.js";
import { Evaluator } from "./attack.js";
import { checkWritable, int, num, oneOf, workersOption } from "./options.js";
import { loadModelAndData } from "./inputs.js";
import { emit, type GlobalOptions } from "./run.js";

interface CertifyCliOptions extends GlobalOptions {
  model: string;
  data: string;
  eps: number;
  method: BoundMethod;
  limit: number;
  perSample?: string;
  clip: boolean;
  steps: number;
  restarts: number;
  seed: number;
  workers: string;
  shardSize: number;
}

export function registerCertify(program: Command): void {
  program.command("certify")
    .description("certify (or falsify with an attack) each test sample under an L∞ ball")
    .requiredOption("--model <file.bwk>", "model file")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .requiredOption("--eps <x>", "L∞ radius", num("--eps", { min: 0 }))
    .option("--method <name>", `bound method: ${BOUND_METHODS.join(", ")}`, oneOf("--method", BOUND_METHODS), "crown")
    .option("--limit <n>", "certify the first n test samples", int("--limit", 1), 1000)
    .option("--per-sample <file.csv>", "write one row per sample")
    .option("--no-clip", "do not intersect the ball with the data range [0, 1]")
    .option("--steps <n>", "PGD steps of the falsifying attack", int("--steps", 1), 40)
    .option("--restarts <n>", "PGD restarts of the falsifying attack", int("--restarts", 1), 1)
    .option("--seed <n>", "seed of the attack's random starts", int("--seed", 0), 0)
    .option("--workers <n>", "worker threads: auto (all cores), or 0 to run in-process", workersOption, "auto")
    .option("--shard-size <n>", "samples per unit of parallel work (verdicts never depend on it or on --workers)", int("--shard-size", 1), 8)
    .action(async (opts: CertifyCliOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as CertifyCliOptions;
      if (o.perSample) checkWritable(o.perSample);
      const { file, model, data } = loadModelAndData(o.model, o.data, { limit: 1, testLimit: o.limit });
      const n = Math.min(o.limit, data.test.n);
      const ev = new Evaluator(o, model);
      const t0 = performance.now();
      let r;
      try {
        const indices = Uint32Array.from({ length: n }, (_, i) => i);
        r = await certifyOn(ev.engine, data.test, indices, { method: o.method, eps: o.eps, clip: o.clip, steps: o.steps, restarts: o.restarts, seed: o.seed });
      } finally {
        await ev.close();
      }
      const seconds = (performance.now() - t0) / 1000;
      if (o.perSample) {
        writeCsv(o.perSample, r.samples.map((s) => ({
          index: s.index, label: s.label, verdict: s.verdict,
          lowestBound: Number.isNaN(s.lowestBound) ? "" : s.lowestBound,
          counterexampleMargin: Number.isNaN(s.counterexampleMargin) ? "" : s.counterexampleMargin,
        })), ["index", "label", "verdict", "lowestBound", "counterexampleMargin"]);
      }
      const result = {
        command: "certify", model: o.model, data: o.data, method: o.method, eps: o.eps, clip: o.clip, samples: n,
        cleanAccuracy: r.cleanAccuracy, certifiedAccuracy: r.certifiedAccuracy, counts: r.counts,
        workers: ev.workers, seconds, samplesPerSecond: seconds > 0 ? n / seconds : null,
        attackSeconds: r.attackSeconds, boundSeconds: r.boundSeconds, boundedSamples: r.counts.certified + r.counts.unknown, perSample: o.perSample ?? null,
        weightsHash: file.weightsHash,
      };
      emit(o, result, () => [
        `${o.method} at ε=${o.eps}: certified ${(100 * r.certifiedAccuracy).toFixed(2)} %, clean ${(100 * r.cleanAccuracy).toFixed(2)} % ` +
          `(certified ${r.counts.certified}, falsified ${r.counts.falsified}, unknown ${r.counts.unknown} of ${n}) in ${seconds.toFixed(1)} s`,
      ]);
    });
}
