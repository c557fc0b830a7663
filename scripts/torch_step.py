"""PyTorch peer for scripts/bench-train.ts: times the same clean training step (Adam, softmax
cross-entropy) on the same architectures.

It reads one request per line on stdin, {"model": "mlp", "batch": 128, "seconds": 0.5}, and
answers each with one JSON line {"samplesPerSecond": ...}, so that the benchmark can interleave
short PyTorch slices with its own and compare them under the same machine load.
Run with Debian's python3-torch: /usr/bin/python3 scripts/torch_step.py
"""
import json, sys, time

import torch
import torch.nn as nn


def build(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn-small":
        return nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "cnn-large":
        return nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
                             nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    raise ValueError(f"unknown model {name}")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    steps = {}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        key = (req["model"], req["batch"])
        if key not in steps:
            m = build(req["model"])
            opt = torch.optim.Adam(m.parameters(), 1e-3)
            x = torch.rand(req["batch"], 1, 28, 28)
            y = torch.randint(0, 10, (req["batch"],))

            def step(m=m, opt=opt, x=x, y=y):
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(m(x), y).backward()
                opt.step()

            for _ in range(5):
                step()
            steps[key] = step
        step = steps[key]
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < req["seconds"]:
            step()
            n += 1
        print(json.dumps({"samplesPerSecond": n * req["batch"] / (time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
