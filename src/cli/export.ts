// `bulwark export`: a model file in another format — ONNX (for other tools) or .bwk (so an
// imported ONNX model can be trained, attacked and certified on the pool like any other).
import type { Command } from "commander";
import { saveModel } from "../io/bwk.js";
import { saveOnnx } from "../io/onnx-export.js";
import { loadModelFile } from "./inputs.js";
import { emit, type GlobalOptions } from "./run.js";

interface ExportOptions extends GlobalOptions {
  model: string;
  out: string;
}

export function registerExport(program: Command): void {
  program.command("export")
    .description("convert a model between .bwk and ONNX (the output's extension picks the format)")
    .requiredOption("--model <file>", "model file (.bwk or .onnx)")
    .requiredOption("--out <file>", "output file: .onnx or .bwk")
    .action(async (opts: ExportOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as ExportOptions;
      const format = /\.onnx$/i.test(o.out) ? "onnx" : /\.bwk$/i.test(o.out) ? "bwk" : null;
      if (!format) throw new Error(`--out must end in .onnx or .bwk, got '${o.out}'`);
      const file = loadModelFile(o.model);
      if (format === "onnx") saveOnnx(o.out, file);
      else saveModel(o.out, { architecture: file.architecture, params: file.params, meta: { ...(file.meta ?? {}), exportedFrom: o.model } });
      emit(o, { command: "export", model: o.model, out: o.out, format, parameterCount: file.params.length, weightsHash: file.weightsHash }, () => [
        `wrote ${o.out} (${format}, ${file.params.length} parameters)`,
      ]);
    });
}
