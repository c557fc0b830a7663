// The Piscina executor. Every worker gets the compiled module and the shared memory once (in
// workerData); a task message carries only numbers (addresses, sizes, indices), never weights.
// Workers block in Atomics.wait between tasks (Piscina's default), never spin. A task whose
// worker throws or dies is run again on a fresh worker (Piscina replaces dead threads); tasks
// are pure functions of shared memory they do not modify, so a rerun gives the same result.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { Piscina } from "piscina";
import type { Runtime } from "../core/runtime.js";
import type { Executor } from "./executor.js";
import type { PoolWorkerData, TaskMessage } from "./worker-runtime.js";

// src/ and dist/ sit at the same depth, so this names dist/worker/entry.js from either.
export const WORKER_ENTRY = fileURLToPath(new URL("../../dist/worker/entry.js", import.meta.url));

export interface PoolOptions {
  workers: number;
  /** Attempts per task before the step fails (a crash or a throw costs one). */
  attempts?: number;
  /** Test hook: faults to inject, by task index of the next run() call. */
  faults?: Map<number, "throw" | "exit">;
}

export function resolveWorkers(spec: string | number | undefined): number {
  if (spec === undefined || spec === "auto") return Math.max(1, availableParallelism());
  const n = typeof spec === "number" ? spec : Number(spec);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--workers must be 'auto' or a non-negative integer, got '${spec}'`);
  return n;
}

export class PoolExecutor implements Executor {
  readonly workers: number;
  private readonly pool: Piscina;
  private readonly attempts: number;
  faults: Map<number, "throw" | "exit"> | undefined;
  /** Tasks that had to be run again (for logs and tests). */
  retries = 0;

  constructor(rt: Runtime, opts: PoolOptions) {
    if (!existsSync(WORKER_ENTRY)) {
      throw new Error(`worker entry ${WORKER_ENTRY} missing: run \`npm run build\` (workers run the compiled dist/)`);
    }
    this.workers = opts.workers;
    this.attempts = opts.attempts ?? 3;
    this.faults = opts.faults;
    const workerData: PoolWorkerData = { module: rt.module, memory: rt.memory, simd: rt.variant };
    this.pool = new Piscina({
      filename: WORKER_ENTRY,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      idleTimeout: 60_000,
      workerData,
    });
  }

  async run<R>(task: string, payloads: unknown[]): Promise<R[]> {
    const faults = this.faults;
    this.faults = undefined;
    return Promise.all(payloads.map(async (payload, i) => {
      let fault = faults?.get(i);
      for (let attempt = 1; ; attempt++) {
        try {
          const msg: TaskMessage = { task, payload, fault };
          return (await this.pool.run(msg)) as R;
        } catch (e) {
          if (attempt >= this.attempts) throw new Error(`task ${task} failed ${attempt} times: ${(e as Error).message}`);
          this.retries++;
          fault = undefined;
        }
      }
    }));
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
