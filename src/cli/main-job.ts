// `bulwark main` (what `npm start` runs): the product's main job on the bundled default.
// Today: train cnn-small on MNIST for one epoch and report clean test accuracy. Later
// issues extend this one command (adversarial training, robust accuracy).
import type { Command } from "commander";
import { addTrainOptions, runTrain, type TrainOptions } from "./train.js";
import { emit } from "./run.js";

export function registerMain(program: Command): void {
  addTrainOptions(program.command("main").description("the main job: train cnn-small on MNIST for one epoch, report accuracy"))
    .action(async (opts: TrainOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as TrainOptions;
      process.stderr.write(`bulwark main: training ${o.model} on ${o.data}, ${o.epochs} epoch(s), ${o.optimizer}, seed ${o.seed}\n`);
      const s = await runTrain(o);
      emit(o, s, () => [
        `${s.model} on ${s.data}: ${s.epochs} epoch(s) in ${s.trainSeconds.toFixed(1)} s (${s.samplesPerSecond.toFixed(0)} samples/s, ${s.simd} SIMD)`,
        `clean test accuracy: ${(100 * s.testAccuracy).toFixed(2)} %`,
      ]);
    });
}
