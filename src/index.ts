// The library: what a program that embeds bulwark (a serverless function, a sweep worker)
// imports. Everything here runs in-process unless given a PoolExecutor.
export { runtime, Runtime } from "./core/runtime.js";
export { architecture, ARCHITECTURES, type Architecture } from "./nn/architectures.js";
export { Model, type Plan } from "./nn/model.js";
export { loadData, type Dataset, type DataSplit } from "./data/index.js";
export { loadModel, saveModel, instantiate, weightsHash } from "./io/bwk.js";
export { decodeOnnx, importOnnx, loadOnnx, ONNX_LIMITS, type OnnxLimits } from "./io/onnx.js";
export { exportOnnx, saveOnnx } from "./io/onnx-export.js";
export { parseVnnlib, loadVnnlib, type VnnSpec, type VnnDisjunct } from "./io/vnnlib.js";
export { verifyVnnlib, type VnnVerdict, type VnnVerifyOptions } from "./certify/vnnlib-verdict.js";
export { train, type TrainConfig, type TrainResult } from "./train/loop.js";
export { evaluate, robustEvaluate } from "./train/evaluate.js";
export { createOptimizer } from "./train/optimizer.js";
export { ShardedEngine, inlineEngine } from "./train/engine.js";
export { STANDARD, type ObjectiveConfig } from "./train/objective.js";
export { InlineExecutor, type Executor } from "./pool/executor.js";
export { PoolExecutor } from "./pool/pool.js";
export { TASKS } from "./worker/entry.js";
export { attack, type AttackCallOptions, type AttackCallResult } from "./attack/api.js";
export { ATTACKS } from "./attack/registry.js";
