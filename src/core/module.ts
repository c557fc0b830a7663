// Compiles the WASM core once per process. Two builds exist: plain SIMD (the default,
// always valid) and relaxed SIMD (fused multiply-add), chosen with BULWARK_SIMD=relaxed
// or `auto` where this runtime validates it.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { isMainThread } from "node:worker_threads";

export type SimdVariant = "plain" | "relaxed";

const FILES: Record<SimdVariant, URL> = {
  plain: new URL("../../build/bulwark.wasm", import.meta.url),
  relaxed: new URL("../../build/bulwark-relaxed.wasm", import.meta.url),
};

const compiled = new Map<SimdVariant, WebAssembly.Module>();
let relaxedFlagSet = false;

function readBuild(variant: SimdVariant): Uint8Array<ArrayBuffer> {
  try {
    return new Uint8Array(readFileSync(FILES[variant]));
  } catch {
    throw new Error(`WASM core not built (${FILES[variant].pathname} missing): run \`npm run build\``);
  }
}

/** True when this runtime accepts the relaxed-SIMD build. */
export function relaxedSimdAvailable(): boolean {
  if (!relaxedFlagSet && isMainThread) {
    // V8 refuses this flag in NODE_OPTIONS but takes it here; workers inherit it.
    setFlagsFromString("--experimental-wasm-relaxed-simd");
    relaxedFlagSet = true;
  }
  return WebAssembly.validate(readBuild("relaxed"));
}

/** Which build to use: an explicit choice, else BULWARK_SIMD, else plain. */
export function resolveVariant(choice?: string): SimdVariant {
  const want = choice ?? process.env.BULWARK_SIMD ?? "plain";
  if (want === "plain") return "plain";
  if (want === "relaxed") {
    if (!relaxedSimdAvailable()) throw new Error("relaxed-SIMD build does not validate on this runtime (use --simd plain)");
    return "relaxed";
  }
  if (want === "auto") return relaxedSimdAvailable() ? "relaxed" : "plain";
  throw new Error(`unknown SIMD variant '${want}' (expected plain, relaxed or auto)`);
}

export function compileModule(variant: SimdVariant = "plain"): WebAssembly.Module {
  let m = compiled.get(variant);
  if (!m) {
    if (variant === "relaxed" && !relaxedSimdAvailable()) {
      throw new Error("relaxed-SIMD build does not validate on this runtime");
    }
    m = new WebAssembly.Module(readBuild(variant));
    compiled.set(variant, m);
  }
  return m;
}
