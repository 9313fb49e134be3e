#!/usr/bin/env python3
"""Manual interop check: stepscope's safetensors files against Python's safetensors + PyTorch.

Not part of `make test` (the test suite needs no Python). Run from the repository root:

    python3 tests/interop/check_safetensors.py

Needs a C compiler, torch and safetensors (Debian: python3-torch; `pip install safetensors`,
in a `python3 -m venv --system-site-packages` venv if pip refuses the system Python).
It builds tests/interop/st_vector.c with engine/{common,json,safetensors}.c, then
  1. C -> Python: st_save writes a vector; safetensors.torch.load_file must read it with
     the same names, shapes, metadata and float32 bit patterns (NaN payloads included);
  2. Python -> C: safetensors.torch.save_file writes F32, F16 and BF16 tensors; st_load
     must read them (F16/BF16 widened to float32 exactly as torch's .float() does).
"""
import json, os, struct, subprocess, sys, tempfile

import torch
import safetensors
from safetensors import safe_open
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bits(t):
    return [b & 0xFFFFFFFF for b in t.float().contiguous().view(torch.int32).flatten().tolist()]


def main():
    tmp = tempfile.mkdtemp(prefix="stepscope-interop-")
    tool = os.path.join(tmp, "st_vector")
    srcs = ["tests/interop/st_vector.c", "engine/common.c", "engine/json.c", "engine/safetensors.c"]
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-I.", *srcs, "-lm", "-o", tool], cwd=ROOT, check=True)
    print(f"torch {torch.__version__}, safetensors {safetensors.__version__}")

    # 1. C -> Python
    path = os.path.join(tmp, "from_c.safetensors")
    subprocess.run([tool, "write", path], check=True)
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, n  # header padded: the data starts 8-byte aligned
    header = json.loads(raw[8:8 + n])
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    assert meta == {"config": '{"ch": [64, 128], "attn": true}', "step": "1200",
                    "unicode": 'café → 😀 "q" \\ \t'}, meta
    w = tensors["down.0.res.1.conv1.weight"]
    assert w.dtype == torch.float32 and w.shape == (2, 3, 3, 3)
    assert torch.equal(w.flatten(), torch.tensor([(i * 37 % 101) / 16.0 - 3.0 for i in range(54)]))
    assert bits(tensors["special"]) == [0x7FC01234, 0xFFA00001, 0x7F800000, 0xFF800000, 0x80000000,
                                        0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x3DCCCCCD]
    assert tensors["special"].shape == (3, 3)
    assert tensors["mid.attn.qkv.bias"].tolist() == torch.tensor([-1.5, 0, 1.5, 3, 1e-3]).tolist()
    assert tensors["step_scalar"].shape == () and tensors["step_scalar"].item() == 42.5
    assert tensors["empty"].shape == (0, 3)
    conv = torch.nn.functional.conv2d(torch.ones(1, 3, 5, 5), w)  # usable as a conv weight
    print(f"C -> Python: {len(tensors)} tensors, header {n} bytes, metadata {sorted(meta)}, "
          f"bit-exact; conv2d with the weight sums to {conv.sum().item():.4f}")
    print("  header:", json.dumps(header)[:120] + "...")

    # 2. Python -> C
    path2 = os.path.join(tmp, "from_py.safetensors")
    ref = {
        "up.1.attn.proj.weight": torch.linspace(-2, 2, 12).reshape(3, 4),
        "half": torch.tensor([1.0, -2.0, 0.1, 65504.0, 6e-8, float("inf")], dtype=torch.float16),
        "brain": torch.tensor([1.0, -3.0, 0.1, 1e30], dtype=torch.bfloat16),
        "scalar": torch.tensor(3.5),
    }
    save_file(ref, path2, metadata={"format": "pt", "note": "é"})
    out = subprocess.run([tool, "dump", path2], check=True, capture_output=True, text=True).stdout
    dumped = json.loads(out)
    assert dumped["metadata"] == {"format": "pt", "note": "é"}, dumped["metadata"]
    for name, t in ref.items():
        got = dumped["tensors"][name]
        assert got["shape"] == list(t.shape), (name, got["shape"])
        assert got["bits"] == bits(t), name
    print(f"Python -> C: {len(ref)} tensors (F32, F16, BF16, scalar) read bit-exact, metadata {dumped['metadata']}")
    print("interop OK")


if __name__ == "__main__":
    sys.exit(main())
