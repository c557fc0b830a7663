// One instance of the WASM core over a (shareable) memory, plus the arena that lays out
// buffers in it. Later, workers instantiate the same module over the same memory and
// carve their own regions; nothing in this file assumes it is alone.
import { compileModule, resolveVariant, type SimdVariant } from "./module.js";
import type { Kernels } from "./kernels.js";

const PAGE = 65536;
export const MAX_PAGES = 65536;

export interface RuntimeOptions {
  simd?: string;
  memory?: WebAssembly.Memory;
  module?: WebAssembly.Module;
}

export class Runtime {
  readonly k: Kernels;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly variant: SimdVariant;

  constructor(opts: RuntimeOptions = {}) {
    this.variant = resolveVariant(opts.simd);
    this.module = opts.module ?? compileModule(this.variant);
    this.memory = opts.memory ?? new WebAssembly.Memory({ initial: 32, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.k = instance.exports as unknown as Kernels;
  }

  /** Grow the memory so that at least `bytes` bytes are addressable. Never call mid-step. */
  ensureBytes(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new Error(`out of WASM memory: need ${(bytes / 2 ** 20).toFixed(0)} MiB, the limit is 4096 MiB`);
    }
    this.memory.grow(pages);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
}

let shared: Runtime | undefined;

/** The process-wide runtime of this thread (created on first use). */
export function runtime(opts?: RuntimeOptions): Runtime {
  if (!shared) shared = new Runtime(opts);
  return shared;
}
