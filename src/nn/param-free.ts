// What layers without parameters or scratch (ReLU, Flatten, AvgPool2d) have in common.
import type { Ctx, ParamShape, Shape, WGrad } from "./layer.js";

export abstract class ParamFreeLayer {
  readonly paramCount = 0;
  readonly aliasesInput: boolean = false;
  abstract readonly inShape: Shape;
  abstract readonly outShape: Shape;

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

  abstract forward(ctx: Ctx, x: number, y: number, batch: number, cache: number): void;
  abstract backward(ctx: Ctx, x: number, y: number, dy: number, dx: number, batch: number, wgrad: WGrad, cache: number): void;
}
