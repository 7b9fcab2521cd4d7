#!/usr/bin/env python3
"""Loads what the shipped cross-architecture mappings write with transformers'
own loader and compares its outputs with the source model's reference outputs
(tests/fixtures/models/*/reference.safetensors, made by transformers from the
source model). An independent check of wmap's output; not part of the test
suite, which must not need Python. Run from the repository root, after a
release build, in the environment of scripts/fixtures/requirements.txt:

    python scripts/verify_mappings.py [--wmap target/release/wmap]

Each case: `wmap run MAPPING FIXTURE OUT`, then `AutoModelForCausalLM
.from_pretrained(OUT)` with the config.json wmap wrote (strict: no missing or
unexpected keys), logits on the reference inputs in f32, max |diff| <= 1e-5.
"""
import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM, ViTModel  # noqa: E402

M = "tests/fixtures/models"
# (mapping, source, folder of reference.safetensors, model_type, extra args)
CASES = [
    ("mappings/phi3/to-llama.wmap", f"{M}/phi3", f"{M}/phi3", "llama", []),
    ("mappings/qwen2/to-llama.wmap", f"{M}/qwen2", f"{M}/qwen2", "llama", []),
    # 8 new tokens: the logits of the first 1000 must be the source's.
    ("mappings/llama/extend-vocab.wmap", f"{M}/llama_gqa", f"{M}/llama_gqa", "llama",
     ["--set", "add_tokens=8"]),
    ("mappings/llama/extend-vocab.wmap", f"{M}/llama_tied", f"{M}/llama_tied", "llama",
     ["--set", "add_tokens=8", "--set", "zero_init=1"]),
    # Meta's layout (written by the fixture script from the HF model) with its
    # params.json, back to a transformers folder and the config.json wmap writes.
    ("mappings/llama/meta-to-hf.wmap", f"{M}/llama_gqa/meta", f"{M}/llama_gqa", "llama", []),
]
TOLERANCE = 1e-5


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wmap", default="target/release/wmap")
    args = ap.parse_args()
    torch.set_num_threads(1)
    failed = 0
    for mapping, fixture, ref_dir, model_type, extra in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out")
            subprocess.run([args.wmap, "run", "--quiet", mapping, fixture, out, *extra], check=True)
            model, info = AutoModelForCausalLM.from_pretrained(
                out, attn_implementation="eager", dtype=torch.float32, output_loading_info=True
            )
            problems = {k: v for k, v in info.items() if v}
            assert model.config.model_type == model_type, model.config.model_type
            assert not os.path.exists(os.path.join(out, "params.json")) or "meta" not in fixture
            ref = load_file(os.path.join(ref_dir, "reference.safetensors"))
            with torch.no_grad():
                logits = model.eval()(
                    input_ids=ref["input_ids"], attention_mask=ref["attention_mask"], use_cache=False
                ).logits
            vocab = ref["logits"].shape[-1]
            diff = (logits[..., :vocab] - ref["logits"]).abs().max().item()
            ok = diff <= TOLERANCE and not problems
            failed += not ok
            print(f"{mapping} {' '.join(extra)} on {fixture}: {type(model).__name__}, "
                  f"vocab {logits.shape[-1]}, loading problems {problems or 'none'}, "
                  f"max |diff| {diff:.3e} -> {'ok' if ok else 'FAILED'}")
    # timm ViT -> ViTModel: the last hidden state against timm's forward_features.
    mapping, fixture = "mappings/vit/timm-to-hf.wmap", "tests/fixtures/models/vit_timm"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        subprocess.run([args.wmap, "run", "--quiet", mapping, fixture, out], check=True)
        model, info = ViTModel.from_pretrained(
            out, add_pooling_layer=False, attn_implementation="eager", dtype=torch.float32,
            output_loading_info=True,
        )
        problems = {k: v for k, v in info.items() if v}
        ref = load_file(os.path.join(fixture, "reference.safetensors"))
        with torch.no_grad():
            hidden = model.eval()(pixel_values=ref["pixel_values"]).last_hidden_state
        diff = (hidden - ref["last_hidden_state"]).abs().max().item()
        ok = diff <= TOLERANCE and not problems
        failed += not ok
        print(f"{mapping} on {fixture}: {type(model).__name__}, loading problems "
              f"{problems or 'none'}, last_hidden_state max |diff| {diff:.3e} -> "
              f"{'ok' if ok else 'FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
