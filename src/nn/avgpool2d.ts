// Average pooling over k×k windows with stride s, no padding, NCHW.
import type { Ctx, Layer, ParamShape, Shape } from "./layer.js";
import { ParamFreeLayer } from "./param-free.js";

export class AvgPool2d extends ParamFreeLayer implements Layer {
  readonly spec;
  readonly inShape: Shape;
  readonly outShape: Shape;
  private readonly oh: number;
  private readonly ow: number;

  constructor(inShape: Shape, readonly kernel: number, readonly stride = kernel) {
    super();
    if (inShape.length !== 3) throw new Error(`avgpool2d needs a [C,H,W] input, got [${inShape.join(",")}]`);
    const [c, h, w] = inShape;
    this.oh = Math.floor((h - kernel) / stride) + 1;
    this.ow = Math.floor((w - kernel) / stride) + 1;
    if (this.oh < 1 || this.ow < 1) throw new Error(`avgpool2d window ${kernel} does not fit a ${h}×${w} input`);
    this.inShape = [c, h, w];
    this.outShape = [c, this.oh, this.ow];
    this.spec = { type: "avgpool2d" as const, kernel, stride };
  }

  forward(ctx: Ctx, x: number, y: number, batch: number): void {
    const [c, h, w] = this.inShape;
    ctx.k.avgPoolForward(x, y, batch * c, h, w, this.kernel, this.stride, this.oh, this.ow);
  }

  backward(ctx: Ctx, _x: number, _y: number, dy: number, dx: number, batch: number): void {
    if (dx === 0) return;
    const [c, h, w] = this.inShape;
    ctx.k.avgPoolBackward(dy, dx, batch * c, h, w, this.kernel, this.stride, this.oh, this.ow);
  }
}
