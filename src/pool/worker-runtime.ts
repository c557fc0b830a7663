// The worker side of the pool: instantiate the shared module over the shared memory once per
// thread, then run named tasks. A worker entry file (src/worker/entry.ts) calls serve() with
// its task table and exports the result as Piscina's handler.
import { workerData } from "node:worker_threads";
import { Runtime } from "../core/runtime.js";
import { runTask, type TaskEnv, type TaskTable } from "./task.js";

export interface PoolWorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  simd: string;
}

export interface TaskMessage {
  task: string;
  payload: unknown;
  /** Test hook: make this attempt throw or kill its thread (fault-tolerance tests). */
  fault?: "throw" | "exit";
}

export function serve(table: TaskTable): (msg: TaskMessage) => unknown {
  let env: TaskEnv | undefined;
  return (msg: TaskMessage) => {
    if (!env) {
      const d = workerData as PoolWorkerData;
      env = { rt: new Runtime({ simd: d.simd, module: d.module, memory: d.memory }), cache: new Map() };
    }
    if (msg.fault === "throw") throw new Error("injected fault");
    if (msg.fault === "exit") process.exit(3);
    return runTask(table, msg.task, msg.payload, env);
  };
}
