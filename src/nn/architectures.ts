// The built-in networks, by name.
import type { LayerSpec, Shape } from "./layer.js";

export interface Architecture {
  name: string;
  inputShape: Shape;
  layers: LayerSpec[];
}

const relu = { type: "relu" } as const;
const flatten = { type: "flatten" } as const;
const dense = (i: number, o: number): LayerSpec => ({ type: "dense", in: i, out: o });
const conv = (ci: number, co: number, k: number, s: number, p: number): LayerSpec =>
  ({ type: "conv2d", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p });

const BUILTIN: Record<string, (input: Shape, classes: number) => LayerSpec[]> = {
  // 784-256-256-10
  mlp: (input, classes) => [flatten, dense(size(input), 256), relu, dense(256, 256), relu, dense(256, classes)],
  // Wong & Kolter's "small" network.
  "cnn-small": ([c, h, w], classes) => [
    conv(c, 16, 4, 2, 1), relu, conv(16, 32, 4, 2, 1), relu, flatten,
    dense(32 * Math.floor(h / 4) * Math.floor(w / 4), 100), relu, dense(100, classes),
  ],
  // Wong & Kolter's "large" network.
  "cnn-large": ([c, h, w], classes) => [
    conv(c, 32, 3, 1, 1), relu, conv(32, 32, 4, 2, 1), relu,
    conv(32, 64, 3, 1, 1), relu, conv(64, 64, 4, 2, 1), relu, flatten,
    dense(64 * Math.floor(h / 4) * Math.floor(w / 4), 512), relu, dense(512, 512), relu, dense(512, classes),
  ],
};

export const ARCHITECTURES = Object.keys(BUILTIN);

function size(s: Shape): number {
  return s.reduce((a, b) => a * b, 1);
}

export function architecture(name: string, inputShape: Shape = [1, 28, 28], classes = 10): Architecture {
  const make = BUILTIN[name];
  if (!make) throw new Error(`unknown model '${name}' (built-in: ${ARCHITECTURES.join(", ")})`);
  return { name, inputShape: [...inputShape], layers: make(inputShape, classes) };
}
