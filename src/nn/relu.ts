// ReLU. Backward needs only the forward output: dx = dy · [y > 0].
import { sizeOf, type Ctx, type Layer, type ParamShape, type Shape } from "./layer.js";

export class ReLU implements Layer {
  readonly spec = { type: "relu" as const };
  readonly outShape: Shape;
  readonly paramCount = 0;
  readonly aliasesInput = false;
  private readonly size: number;

  constructor(readonly inShape: Shape) {
    this.outShape = [...inShape];
    this.size = sizeOf(inShape);
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

  forward(ctx: Ctx, x: number, y: number, batch: number): void {
    ctx.k.reluForward(x, y, batch * this.size);
  }

  backward(ctx: Ctx, _x: number, y: number, dy: number, dx: number, batch: number): void {
    if (dx !== 0) ctx.k.reluBackward(y, dy, dx, batch * this.size);
  }
}
