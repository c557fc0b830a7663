// Flatten [C,H,W] → [C·H·W]. NCHW memory is already in PyTorch's flatten order, so the
// output aliases the input and both passes do nothing.
import { sizeOf, type Layer, type Shape } from "./layer.js";
import { ParamFreeLayer } from "./param-free.js";

export class Flatten extends ParamFreeLayer implements Layer {
  readonly spec = { type: "flatten" as const };
  readonly outShape: Shape;
  override readonly aliasesInput = true;

  constructor(readonly inShape: Shape) {
    super();
    this.outShape = [sizeOf(inShape)];
  }

  forward(): void {}

  backward(): void {}
}
