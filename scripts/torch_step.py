"""PyTorch peer for scripts/bench-train.ts and scripts/bench-adversarial.ts: times the same
training step (Adam, softmax cross-entropy; clean, FGSM with random start, or PGD-k
adversarial training, L-inf, data range [0, 1]) on the same architectures.

It reads one request per line on stdin, {"model": "mlp", "batch": 128, "seconds": 0.5,
"objective": "pgd", "eps": 0.3, "steps": 10}, and answers each with one JSON line
{"samplesPerSecond": ...} ("attackOnly": true times the attack alone, as in an
evaluation), so that a benchmark can interleave short PyTorch slices with its
own and compare them under the same machine load. Threads: --threads N sets
torch.set_num_threads; OMP_NUM_THREADS / OPENBLAS_NUM_THREADS come from the environment.
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


def adversarial(m, x, y, objective, eps, steps):
    """The adversarial inputs of the training step (input gradients only)."""
    if objective == "standard":
        return x
    alpha = 1.25 * eps if objective == "fgsm-rs" else 2.5 * eps / steps
    n = 1 if objective == "fgsm-rs" else steps
    xa = x + torch.empty_like(x).uniform_(-eps, eps)
    for _ in range(n):
        xa.requires_grad_(True)
        g, = torch.autograd.grad(nn.functional.cross_entropy(m(xa), y), [xa])
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa


def main():
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    steps = {}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        objective, eps, k = req.get("objective", "standard"), req.get("eps", 0.3), req.get("steps", 10)
        key = (req["model"], req["batch"], objective, eps, k, req.get("attackOnly", False))
        if key not in steps:
            m = build(req["model"])
            opt = torch.optim.Adam(m.parameters(), 1e-3)
            x = torch.rand(req["batch"], 1, 28, 28)
            y = torch.randint(0, 10, (req["batch"],))

            def step(m=m, opt=opt, x=x, y=y, objective=objective, eps=eps, k=k, attack_only=req.get("attackOnly", False)):
                xa = adversarial(m, x, y, objective, eps, k)
                if attack_only:  # an evaluation: the attack and a final prediction, no update
                    with torch.no_grad():
                        m(xa).argmax(1)
                    return
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(m(xa), y).backward()
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
