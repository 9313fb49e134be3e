#!/usr/bin/env python3
"""The stepscope UNet in PyTorch, layer for layer and name for name (engine/unet_build.c),
for the benchmark's reference figures. Not part of the build or the tests.

  python3 tests/bench/torch_unet.py --mode train --config default --batch 64 --threads 2
  python3 tests/bench/torch_unet.py --check model.safetensors   # load our file, print its eps
  python3 tests/bench/torch_unet.py --device cuda --batch 256 --profile   # its kernels, by time
prints "ms_per_step X" (train: forward, loss, backward, AdamW, EMA; sample: one forward).
"""
import argparse, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

# Must match unet_preset() in engine/unet_build.c; `--check FILE` loads one of our
# checkpoints into this model and fails loudly on any difference in names or shapes.
PRESETS = {
    "tiny":    dict(ch=8,  mult=(1, 2),    nres=1, attn=(16,), groups=4),
    "small":   dict(ch=16, mult=(1, 2, 2), nres=1, attn=(16,), groups=8),
    "default": dict(ch=24, mult=(1, 2, 3), nres=1, attn=(8,),  groups=8),
}

def norm(c, g):
    g = min(g, c)
    while c % g: g -= 1
    return nn.GroupNorm(g, c, eps=1e-5)

class Res(nn.Module):
    def __init__(self, cin, cout, tdim, g):
        super().__init__()
        self.norm1, self.conv1 = norm(cin, g), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = norm(cout, g), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
    def forward(self, x, semb):
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(semb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)

class Attn(nn.Module):
    def __init__(self, c, g):
        super().__init__()
        self.norm, self.qkv, self.proj = norm(c, g), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)
    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)
        p = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(C), dim=-1)  # (B,N,N)
        return x + self.proj((v @ p.transpose(1, 2)).reshape(B, C, H, W))

class UNet(nn.Module):
    def __init__(self, ch, mult, nres, attn, groups, in_ch=1, img=32):
        super().__init__()
        g, tdim = groups, 4 * ch
        self.ch = ch
        self.time_embed = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.down, skips, side, stream = nn.ModuleList(), [ch], img, ch
        for l, m in enumerate(mult):
            lvl = nn.Module(); lvl.res, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for i in range(nres):
                lvl.res.append(Res(stream, ch * m, tdim, g)); stream = ch * m
                if side in attn: lvl.attn.append(Attn(stream, g))
                skips.append(stream)
            if l != len(mult) - 1:
                lvl.downsample = nn.Conv2d(stream, stream, 3, stride=2, padding=1)
                skips.append(stream); side //= 2
            self.down.append(lvl)
        self.mid = nn.Module()
        self.mid.res = nn.ModuleList([Res(stream, stream, tdim, g), Res(stream, stream, tdim, g)])
        self.mid.attn = nn.ModuleList([Attn(stream, g)])
        self.up = nn.ModuleList([None] * len(mult))
        for l in reversed(range(len(mult))):
            lvl = nn.Module(); lvl.res, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for i in range(nres + 1):
                lvl.res.append(Res(stream + skips.pop(), ch * mult[l], tdim, g)); stream = ch * mult[l]
                if side in attn: lvl.attn.append(Attn(stream, g))
            if l != 0:
                lvl.upsample = nn.Conv2d(stream, stream, 3, padding=1); side *= 2
            self.up[l] = lvl
        self.out = nn.Module()
        self.out.norm, self.out.conv = norm(stream, g), nn.Conv2d(stream, in_ch, 3, padding=1)

    def forward(self, x, t):
        half = self.ch // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
        a = t.double()[:, None] * f[None]
        semb = F.silu(self.time_embed(torch.cat([a.sin(), a.cos()], 1).float().to(x.device)))
        h = self.conv_in(x); hs = [h]
        for l, lvl in enumerate(self.down):
            for i, r in enumerate(lvl.res):
                h = r(h, semb)
                if len(lvl.attn): h = lvl.attn[i](h)
                hs.append(h)
            if hasattr(lvl, "downsample"): h = lvl.downsample(h); hs.append(h)
        h = self.mid.attn[0](self.mid.res[0](h, semb)); h = self.mid.res[1](h, semb)
        for l in reversed(range(len(self.up))):
            lvl = self.up[l]
            for i, r in enumerate(lvl.res):
                h = r(torch.cat([h, hs.pop()], 1), semb)
                if len(lvl.attn): h = lvl.attn[i](h)
            if hasattr(lvl, "upsample"): h = lvl.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out.conv(F.silu(self.out.norm(h)))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="train", choices=["train", "sample"])
    ap.add_argument("--config", default="default")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--check")
    ap.add_argument("--turns", action="store_true",
                    help="after warming up print 'ready', then time --steps steps for each line read on stdin")
    ap.add_argument("--profile", action="store_true", help="after timing, the kernels of a few steps by device time")
    ap.add_argument("--deterministic", action="store_true",
                    help="CUDA: cudnn.deterministic, so that benchmark mode picks among deterministic algorithms only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = a.deterministic
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model = UNet(**PRESETS[a.config]).to(dev)
    print("params %d" % sum(p.numel() for p in model.parameters()))
    print("torch_version %s" % torch.__version__)
    x = torch.randn(a.batch, 1, 32, 32, device=dev)
    t = torch.randint(0, 1000, (a.batch,))
    if a.check:
        from safetensors.torch import load_file
        sd = {k: v for k, v in load_file(a.check).items() if not k.startswith(("ema.", "optim."))}
        model.load_state_dict(sd)
        # the same probe input as tests/interop: x[i] = sin(0.01 i), t = 500, batch 2
        x = torch.sin(0.01 * torch.arange(2 * 1024, dtype=torch.float32)).reshape(2, 1, 32, 32)
        with torch.no_grad():
            eps = model(x, torch.tensor([500, 500])).flatten()
        print("loaded", len(sd), "tensors")
        print("torch: mean %.6f rms %.6f eps[0..3] %s eps[1500] %.6f" % (eps.mean(), eps.square().mean().sqrt(),
              " ".join("%.6f" % v for v in eps[:4]), eps[1500]))
        return
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
    def step():
        if a.mode == "sample":
            with torch.no_grad(): model(x, t)
            return
        loss = F.mse_loss(model(x, t), x)
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.999); torch._foreach_add_(ema, list(model.parameters()), alpha=0.001)
    def timed():
        if dev.type == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.steps): step()
        if dev.type == "cuda": torch.cuda.synchronize()
        print("ms_per_step %.3f" % ((time.perf_counter() - t0) * 1e3 / a.steps), flush=True)
    for _ in range(3): step()
    if a.turns:  # stepscope bench takes turns with us (tui/cli/torch_ref.c)
        print("ready", flush=True)
        while sys.stdin.readline():
            timed()
        return
    timed()
    if a.profile:  # what PyTorch runs, to set beside `stepscope bench train --profile`
        acts = [torch.profiler.ProfilerActivity.CPU]
        if dev.type == "cuda": acts.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(5): step()
            if dev.type == "cuda": torch.cuda.synchronize()
        key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        print("profile over 5 steps (divide by 5 for one step):")
        print(prof.key_averages().table(sort_by=key, row_limit=30, max_name_column_width=70))

if __name__ == "__main__":
    main()
