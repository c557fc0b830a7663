// Tasks: named functions that run on a thread's own WASM instance over the shared memory.
// src/pool only runs them; the code of each task lives beside its subject (src/train,
// src/attack, src/certify) and the worker entry (src/worker) collects them.
import type { Runtime } from "../core/runtime.js";

export interface TaskEnv {
  /** This thread's instance over the shared memory. */
  rt: Runtime;
  /** Per-thread state a task keeps between calls (model views, plans), by key. */
  cache: Map<string, unknown>;
}

export type TaskFn = (payload: any, env: TaskEnv) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

export type TaskTable = Record<string, TaskFn>;

export function runTask(table: TaskTable, name: string, payload: unknown, env: TaskEnv): unknown {
  const fn = table[name];
  if (!fn) throw new Error(`unknown task '${name}' (known: ${Object.keys(table).join(", ")})`);
  return fn(payload, env);
}
