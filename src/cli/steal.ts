// `bulwark steal`: model stealing. Query a black-box victim (labels only, or probabilities)
// on a query set, train a surrogate of a chosen architecture, then report its agreement with
// the victim on the test set and how well attacks crafted on it transfer to the victim.
import type { Command } from "commander";
import { loadData } from "../data/index.js";
import { instantiate, saveModel } from "../io/bwk.js";
import { loadModelFile } from "./inputs.js";
import { ARCHITECTURES, architecture } from "../nn/architectures.js";
import { Model } from "../nn/model.js";
import { evaluate } from "../train/evaluate.js";
import { agreement, queryVictim, trainSurrogate } from "../train/steal.js";
import { addCraftOptions, craftOptions, transferAttack } from "./transfer.js";
import { checkWritable, int, num, oneOf } from "./options.js";
import { createProgress } from "./progress.js";
import { emit, type GlobalOptions } from "./run.js";

interface StealOptions extends GlobalOptions {
  victim: string;
  data: string;
  queries: number;
  access: "labels" | "probs";
  arch: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  out?: string;
  transferEps: number;
  transferLimit: number;
}

export function registerSteal(program: Command): void {
  addCraftOptions(program.command("steal")
    .description("train a surrogate from a black-box victim's answers; report agreement and transfer-attack success")
    .requiredOption("--victim <file.bwk>", "the model to steal (used only through queries)")
    .option("--data <spec>", "query points come from this set's training split; agreement is measured on its test split", "mnist")
    .option("--queries <n>", "query points (one query each)", int("--queries", 1), 10000)
    .option("--access <kind>", "what a query returns: labels or probs", oneOf("--access", ["labels", "probs"]), "labels")
    .option("--arch <name>", `surrogate architecture: ${ARCHITECTURES.join(", ")}`, oneOf("--arch", ARCHITECTURES), "cnn-small")
    .option("--epochs <n>", "surrogate training epochs", int("--epochs", 1), 5)
    .option("--batch-size <n>", "surrogate batch size", int("--batch-size", 1), 64)
    .option("--lr <x>", "surrogate peak learning rate (Adam, one-cycle)", num("--lr", { positive: true }), 5e-3)
    .option("--out <file.bwk>", "save the surrogate here")
    .option("--transfer-limit <n>", "test samples for the transfer attack (0 = skip)", int("--transfer-limit", 0), 500), "--transfer-eps")
    .action(async (opts: StealOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as StealOptions;
      if (o.out) checkWritable(o.out);
      const victim = instantiate(loadModelFile(o.victim));
      const data = loadData(o.data, { limit: o.queries });
      if (victim.arch.inputShape.join("×") !== data.train.shape.join("×")) throw new Error(`${o.victim} expects inputs of shape ${victim.arch.inputShape.join("×")}, but ${o.data} has ${data.train.shape.join("×")}`);
      const t0 = performance.now();
      const answers = queryVictim(victim, data.train, o.access);
      const surrogate = new Model(architecture(o.arch, data.train.shape, data.train.classes)).init(o.seed);
      const progress = createProgress(`steal ${o.arch}`, o.epochs, { quiet: o.quiet });
      await trainSurrogate(surrogate, data.train, answers, {
        access: o.access, epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed,
        onEpoch: (e, loss) => progress.update(e, `loss ${loss.toFixed(4)}`),
      });
      progress.stop();
      const trainSeconds = (performance.now() - t0) / 1000;
      if (o.out) saveModel(o.out, { architecture: surrogate.arch, params: surrogate.params.f32, meta: { stolenFrom: o.victim, queries: o.queries, access: o.access } });
      const transfer = o.transferLimit > 0
        ? await transferAttack(surrogate, victim, data.test, Math.min(o.transferLimit, data.test.n), craftOptions(o as never, o.transferEps))
        : null;
      const result = {
        command: "steal", victim: o.victim, data: o.data, queries: data.train.n, access: o.access, architecture: o.arch,
        victimTestAccuracy: evaluate(victim, data.test).accuracy,
        surrogateTestAccuracy: evaluate(surrogate, data.test).accuracy,
        agreement: agreement(surrogate, victim, data.test),
        transfer, trainSeconds, out: o.out ?? null,
      };
      emit(o, result, () => [
        `surrogate ${o.arch} from ${result.queries} ${o.access} queries: agrees with the victim on ${(100 * result.agreement).toFixed(2)} % of the test set (test accuracy ${(100 * result.surrogateTestAccuracy).toFixed(2)} % vs the victim's ${(100 * result.victimTestAccuracy).toFixed(2)} %)`,
        ...(transfer ? [`${transfer.attack} ε=${transfer.eps} crafted on the surrogate: victim accuracy ${(100 * transfer.targetTransferAccuracy).toFixed(2)} %, transfer success ${(100 * transfer.transferSuccessRate).toFixed(1)} %`] : []),
      ]);
    });
}
