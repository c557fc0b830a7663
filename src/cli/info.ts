// `bulwark info`: what a model file holds.
import type { Command } from "commander";
import { statSync } from "node:fs";
import { VERSION } from "../io/bwk.js";
import { loadModelFile } from "./inputs.js";
import { buildLayers } from "../nn/build.js";
import { emit, type GlobalOptions } from "./run.js";

export function registerInfo(program: Command): void {
  program.command("info")
    .description("describe a model file: architecture, parameter count, weights hash")
    .argument("<file.bwk>", "model file")
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      const file = loadModelFile(path);
      const layers = buildLayers(file.architecture.inputShape, file.architecture.layers);
      const info = {
        file: path,
        bytes: statSync(path).size,
        formatVersion: VERSION,
        architecture: {
          name: file.architecture.name,
          inputShape: file.architecture.inputShape,
          layers: layers.map((l) => ({ ...l.spec, outShape: l.outShape, parameters: l.paramCount })),
        },
        parameterCount: file.params.length,
        weightsHash: file.weightsHash,
        tensors: Object.keys(file.tensors ?? {}),
        meta: file.meta,
      };
      emit(o, info, () => [
        `${path}: ${info.architecture.name}, ${info.parameterCount} parameters, input ${info.architecture.inputShape.join("×")}`,
        ...layers.map((l, i) => `  ${String(i).padStart(2)} ${l.spec.type.padEnd(10)} → [${l.outShape.join(",")}]${l.paramCount ? `  ${l.paramCount} params` : ""}`),
        `weights sha256 ${info.weightsHash}`,
      ]);
    });
}
