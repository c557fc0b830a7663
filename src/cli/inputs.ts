// Loading what a command works on: a saved model and a dataset whose samples fit it.
import { loadData, type DataSplit, type LoadOptions } from "../data/index.js";
import { instantiate, loadModel, type ModelFile } from "../io/bwk.js";
import type { Model } from "../nn/model.js";

export interface ModelAndData {
  file: ModelFile & { weightsHash: string };
  model: Model;
  data: DataSplit;
}

/** Loads both and checks the model's input shape against the data's, in one line of error. */
export function loadModelAndData(modelPath: string, dataSpec: string, opts: LoadOptions = { limit: 1 }): ModelAndData {
  const file = loadModel(modelPath);
  const data = loadData(dataSpec, opts);
  const want = file.architecture.inputShape.join("×");
  if (want !== data.test.shape.join("×")) {
    throw new Error(`${modelPath} expects inputs of shape ${want}, but ${dataSpec} has ${data.test.shape.join("×")}`);
  }
  return { file, model: instantiate(file), data };
}
