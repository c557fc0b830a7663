// `bulwark main` (what `npm start` runs): the product's main job on the bundled default —
// PGD adversarial training of cnn-small on MNIST (ε = 0.3, 10 steps, ε warm-up over the
// first 30 % of the epoch) on all cores, then clean and robust test accuracy.
import type { Command } from "commander";
import { addTrainOptions, describeRobust, runTrain, type TrainOptions } from "./train.js";
import { emit } from "./run.js";

export function registerMain(program: Command): void {
  addTrainOptions(program.command("main").description("the main job: PGD adversarial training of cnn-small on MNIST on all cores; clean and robust accuracy"),
    { objective: "pgd", eps: 0.3 })
    .action(async (opts: TrainOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as TrainOptions;
      process.stderr.write(`bulwark main: ${o.objective} training of ${o.model} on ${o.data}, ${o.epochs} epoch(s), ε ${o.eps} (${o.norm}), ${o.workers} workers, seed ${o.seed}\n`);
      const s = await runTrain(o);
      emit(o, s, () => [
        `${s.model} on ${s.data}, ${s.objective}: ${s.epochs} epoch(s) in ${s.trainSeconds.toFixed(1)} s (${s.samplesPerSecond.toFixed(0)} samples/s, ${s.workers} worker(s), ${s.simd} SIMD)`,
        `clean test accuracy:  ${(100 * s.testAccuracy).toFixed(2)} %`,
        ...(s.robustAccuracy !== null ? [`robust test accuracy: ${(100 * (s.robustAccuracy as number)).toFixed(2)} % (${describeRobust(s.robustMethod as never)})`] : []),
      ]);
    });
}
