// Loading what a command works on: a saved model and a dataset whose samples fit it.
import { loadData, type DataSplit, type LoadOptions } from "../data/index.js";
import { instantiate, loadModel, type ModelFile } from "../io/bwk.js";
import { loadOnnx } from "../io/onnx.js";
import type { Model } from "../nn/model.js";

export interface ModelAndData {
  file: ModelFile & { weightsHash: string };
  model: Model;
  data: DataSplit;
}

/** A model file by its extension: .onnx is imported (src/io/onnx.ts), anything else is .bwk. */
export function loadModelFile(path: string): ModelFile & { weightsHash: string } {
  return /\.onnx$/i.test(path) ? loadOnnx(path) : loadModel(path);
}

/** Loads both and checks the model's input shape against the data's, in one line of error. */
export function loadModelAndData(modelPath: string, dataSpec: string, opts: LoadOptions = { limit: 1 }): ModelAndData {
  const file = loadModelFile(modelPath);
  const data = loadData(dataSpec, opts);
  const want = file.architecture.inputShape.join("×");
  if (want !== data.test.shape.join("×")) {
    throw new Error(`${modelPath} expects inputs of shape ${want}, but ${dataSpec} has ${data.test.shape.join("×")}`);
  }
  return { file, model: instantiate(file), data };
}
