// The `bulwark` command. Errors are one line on stderr with a non-zero exit:
// 2 for bad usage, 1 for anything that went wrong while working, 130 when interrupted.
import { Command, CommanderError } from "commander";
import { registerEval } from "./eval.js";
import { registerInfo } from "./info.js";
import { registerMain } from "./main-job.js";
import { oneOf } from "./options.js";
import { registerTrain } from "./train.js";
import { registerSaliency } from "./saliency.js";
import { registerAttack } from "./attack.js";
import { registerTransfer } from "./transfer.js";
import { registerSteal } from "./steal.js";
import { registerCertify } from "./certify.js";
import { registerRpca } from "./rpca.js";
import { registerPoison } from "./poison.js";
import { registerSanitize } from "./sanitize.js";
import { registerPoisonEval } from "./poison-eval.js";
import { registerExport } from "./export.js";

export function buildProgram(): Command {
  const program = new Command("bulwark")
    .description("robust deep learning on CPUs: attack, harden, certify and clean neural networks")
    .option("--json", "print one JSON object on stdout")
    .option("--quiet", "no progress output")
    .option("--simd <variant>", "WASM build: plain, relaxed (fused multiply-add) or auto", oneOf("--simd", ["plain", "relaxed", "auto"]))
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  program.hook("preAction", (_this, action) => {
    const simd = action.optsWithGlobals().simd;
    if (simd) process.env.BULWARK_SIMD = simd;
  });
  registerMain(program);
  registerTrain(program);
  registerEval(program);
  registerInfo(program);
  registerAttack(program);
  registerTransfer(program);
  registerSteal(program);
  registerCertify(program);
  registerRpca(program);
  registerPoison(program);
  registerSanitize(program);
  registerPoisonEval(program);
  registerExport(program);
  registerSaliency(program);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      process.stderr.write(`bulwark: ${e.message.replace(/^error: /, "error: ")}\n`);
      return 2;
    }
    const msg = (e as Error)?.message ?? String(e);
    process.stderr.write(`bulwark: error: ${msg.split("\n")[0]}\n`);
    if (process.env.BULWARK_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    return /^interrupted/.test(msg) ? 130 : 1;
  }
}
