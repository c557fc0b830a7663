// `bulwark saliency`: input-gradient maps of a few test images, as a PNG grid (top row the
// images, bottom row |∂loss/∂x| scaled per image).
import type { Command } from "commander";
import { saliency } from "../attack/saliency.js";
import { writeGridPng, type Tile } from "../report/png.js";
import { checkWritable, int } from "./options.js";
import { loadModelAndData } from "./inputs.js";
import { emit, type GlobalOptions } from "./run.js";

interface SaliencyOptions extends GlobalOptions {
  model: string;
  data: string;
  out: string;
  count: number;
  start: number;
}

export function registerSaliency(program: Command): void {
  program.command("saliency")
    .description("write input-gradient maps of a few test images as a PNG grid")
    .requiredOption("--model <file.bwk>", "model file")
    .option("--data <spec>", "mnist, fashion-mnist, or a directory of IDX files", "mnist")
    .requiredOption("--out <file.png>", "PNG to write")
    .option("--count <n>", "images", int("--count", 1), 8)
    .option("--start <n>", "first test image", int("--start", 0), 0)
    .action(async (opts: SaliencyOptions, cmd: Command) => {
      const o = { ...cmd.optsWithGlobals(), ...opts } as SaliencyOptions;
      checkWritable(o.out);
      const { model, data } = loadModelAndData(o.model, o.data);
      const [c, h, w] = data.test.shape;
      if (o.start + o.count > data.test.n) throw new Error(`--start ${o.start} + --count ${o.count} exceeds the ${data.test.n} test images`);
      const idx = Array.from({ length: o.count }, (_, i) => o.start + i);
      const s = saliency(model, data.test, idx);
      const size = c * h * w;
      const images: Tile[] = [];
      const maps: Tile[] = [];
      for (let i = 0; i < o.count; i++) {
        images.push({ data: s.inputs.subarray(i * size, i * size + h * w), lo: 0, hi: 1 });
        const g = s.gradients.subarray(i * size, i * size + h * w).map(Math.abs);
        maps.push({ data: g, lo: 0, hi: Math.max(...g) || 1 });
      }
      writeGridPng(o.out, [images, maps], h, w);
      emit(o, { command: "saliency", model: o.model, out: o.out, images: idx, labels: Array.from(s.labels), predictions: Array.from(s.predictions) },
        () => [`wrote ${o.out}: ${o.count} test images (top) and their input-gradient maps (bottom)`]);
    });
}
