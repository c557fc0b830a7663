// `bulwark eval`: clean accuracy of a saved model on a dataset's test split.
import type { Command } from "commander";
import { evaluate } from "../train/evaluate.js";
import { int } from "./options.js";
import { loadModelAndData } from "./inputs.js";
import { emit, type GlobalOptions } from "./run.js";

interface EvalOptions extends GlobalOptions {
  model: string;
  data: string;
  limit?: number;
  batchSize: number;
}

export function registerEval(program: Command): void {
  program.command("eval")
    .description("clean test accuracy of a saved model")
    .requiredOption("--model <file.bwk>", "model file")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .option("--limit <n>", "use only the first n test samples", int("--limit", 1))
    .option("--batch-size <n>", "samples per forward pass", int("--batch-size", 1), 500)
    .action(async (opts: EvalOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as EvalOptions;
      const { file, model, data } = loadModelAndData(o.model, o.data, { limit: 1, testLimit: o.limit });
      const t0 = performance.now();
      const r = evaluate(model, data.test, o.batchSize);
      const seconds = (performance.now() - t0) / 1000;
      const result = {
        command: "eval", model: o.model, data: o.data, architecture: file.architecture.name,
        testAccuracy: r.accuracy, testLoss: r.loss, correct: r.correct, testSamples: r.n,
        seconds, weightsHash: file.weightsHash,
      };
      emit(o, result, () => [`clean test accuracy ${(100 * r.accuracy).toFixed(2)} % (${r.correct}/${r.n}) on ${o.data}`]);
    });
}
