// A bump allocator over the runtime's memory. Buffers are 64-byte aligned (cache lines,
// and v128 loads never straddle them). `mark`/`release` free everything allocated since
// the mark, so a step or a plan can take scratch space and hand it back in one call.
import type { Runtime } from "./runtime.js";

const ALIGN = 64;

export interface Buf {
  ptr: number;
  length: number;
  /** A view of the buffer (memory is shared, so a view stays valid after growth). */
  f32: Float32Array;
}

export class Arena {
  private top: number;

  /**
   * A new arena starts at `start` (default: the heap base). Two arenas over one memory must
   * not overlap: use defaultArena(rt) unless you lay out regions yourself. With zero: false
   * it hands out buffers as they are, to re-derive the layout of a region another thread
   * has already filled.
   */
  constructor(readonly rt: Runtime, start?: number, private readonly opts: { zero?: boolean } = {}) {
    this.top = align(start ?? rt.k.heapBase());
  }

  get used(): number {
    return this.top;
  }

  bytes(n: number): number {
    const ptr = this.top;
    this.top = align(ptr + Math.max(n, 0));
    this.rt.ensureBytes(this.top);
    return ptr;
  }

  f32(length: number): Buf {
    const ptr = this.bytes(length * 4);
    const view = this.rt.f32(ptr, length);
    if (this.opts.zero !== false) view.fill(0);
    return { ptr, length, f32: view };
  }

  i32(length: number): { ptr: number; length: number; i32: Int32Array } {
    const ptr = this.bytes(length * 4);
    const view = this.rt.i32(ptr, length);
    if (this.opts.zero !== false) view.fill(0);
    return { ptr, length, i32: view };
  }

  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }
}

function align(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

const defaults = new WeakMap<Runtime, Arena>();

/** The arena everything on this runtime shares unless given another (one heap per thread). */
export function defaultArena(rt: Runtime): Arena {
  let a = defaults.get(rt);
  if (!a) {
    a = new Arena(rt);
    defaults.set(rt, a);
  }
  return a;
}
