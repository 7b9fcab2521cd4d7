#!/usr/bin/env python3
"""Time `wmap run --verify` on a GPT-2 of the original 124M-parameter size.

Builds a randomly initialised GPT2LMHeadModel with transformers' default
GPT2Config (12 layers, hidden 768, vocab 50257: 124M parameters; no hub
access), saves it with save_pretrained, runs it on fixed inputs (2 sequences of
16 tokens) and saves the inputs and logits as reference.safetensors, all in a
temporary folder. Then converts and verifies it with the shipped mapping:

    wmap run --quiet mappings/gpt2/hf-to-burn.wmap SRC DST --verify REF

and prints wmap's own report (load and forward times) and the wall time.

Usage (from the repo root, after `cargo build --release`):

    python bench/verify_gpt2_124m.py [--wmap target/release/wmap] [--keep]

Needs torch and transformers: pip install -r scripts/fixtures/requirements.txt
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wmap", default=str(REPO / "target" / "release" / "wmap"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--tolerance", default="1e-4")
    args = ap.parse_args()
    wmap = Path(args.wmap)
    if not wmap.is_file():
        print(f"{wmap} not found: run `cargo build --release` first", file=sys.stderr)
        return 2
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError as e:
        print(f"needs torch and transformers ({e}): pip install -r scripts/fixtures/requirements.txt", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="wmap-verify-124m-"))
    try:
        torch.manual_seed(0)
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        config = GPT2Config()  # the 124M GPT-2
        model = GPT2LMHeadModel(config).eval()
        params = sum(p.numel() for p in model.parameters())
        src = tmp / "hf"
        model.save_pretrained(src, safe_serialization=True)
        g = torch.Generator().manual_seed(1)
        input_ids = torch.randint(0, config.vocab_size, (2, 16), generator=g)
        attention_mask = torch.ones_like(input_ids)
        with torch.no_grad():
            t0 = time.perf_counter()
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            torch_forward = time.perf_counter() - t0
        ref = tmp / "reference.safetensors"
        save_file({"input_ids": input_ids, "attention_mask": attention_mask, "logits": logits.contiguous()}, str(ref))
        print(f"GPT-2 {params / 1e6:.1f}M parameters; transformers forward {torch_forward:.2f} s")

        dst = tmp / "burn"
        cmd = [str(wmap), "run", "--quiet", str(REPO / "mappings/gpt2/hf-to-burn.wmap"), str(src), str(dst),
               "--verify", str(ref), "--tolerance", args.tolerance]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        print(f"wmap run --verify: {wall:.2f} s wall in all (exit {proc.returncode})")
        return proc.returncode
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
