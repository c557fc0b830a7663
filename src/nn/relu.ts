// ReLU. Backward needs only the forward output: dx = dy · [y > 0].
import { sizeOf, type Ctx, type Layer, type Shape } from "./layer.js";
import { ParamFreeLayer } from "./param-free.js";

export class ReLU extends ParamFreeLayer implements Layer {
  readonly spec = { type: "relu" as const };
  readonly outShape: Shape;
  private readonly size: number;

  constructor(readonly inShape: Shape) {
    super();
    this.outShape = [...inShape];
    this.size = sizeOf(inShape);
  }

  forward(ctx: Ctx, x: number, y: number, batch: number): void {
    ctx.k.reluForward(x, y, batch * this.size);
  }

  backward(ctx: Ctx, _x: number, y: number, dy: number, dx: number, batch: number): void {
    if (dx !== 0) ctx.k.reluBackward(y, dy, dx, batch * this.size);
  }
}
