// tfjs-core with the WASM backend (XNNPACK), set up for Node: the backend looks for its
// .wasm files next to the page by default, so point it at the package's dist/ folder.
// Used by test/kernels-tfjs.test.ts and scripts/bench-kernels.ts as the reference
// implementation to compare against.
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

export type Tf = typeof tf;

let ready: Promise<Tf> | undefined;

/** The tfjs namespace with the 'wasm' backend active (initialised once per process). */
export function tfjsWasm(): Promise<Tf> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("@tensorflow/tfjs-backend-wasm/package.json");
    // A plain directory path (with the trailing separator) works in Node: the emscripten
    // loader reads it with fs, not fetch.
    setWasmPaths(path.join(path.dirname(pkg), "dist") + path.sep);
    const ok = await tf.setBackend("wasm");
    if (!ok) throw new Error("tfjs: the wasm backend failed to initialise");
    await tf.ready();
    return tf;
  })();
  return ready;
}

/** Which SIMD / thread features the tfjs WASM binary uses (for printing beside timings). */
export function tfjsWasmFeatures(t: Tf): { simd: boolean; threads: boolean } {
  return {
    simd: t.env().getBool("WASM_HAS_SIMD_SUPPORT") as boolean,
    threads: t.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") as boolean,
  };
}
