// Flatten [C,H,W] → [C·H·W]. NCHW memory is already in PyTorch's flatten order, so the
// output aliases the input and both passes do nothing.
import { sizeOf, type Layer, type ParamShape, type Shape } from "./layer.js";

export class Flatten implements Layer {
  readonly spec = { type: "flatten" as const };
  readonly outShape: Shape;
  readonly paramCount = 0;
  readonly aliasesInput = true;

  constructor(readonly inShape: Shape) {
    this.outShape = [sizeOf(inShape)];
  }

  paramShapes(): ParamShape[] {
    return [];
  }

  bind(): void {}

  init(): void {}

  scratchFloats(): number {
    return 0;
  }

  cacheFloats(): number {
    return 0;
  }

  forward(): void {}

  backward(): void {}
}
