#!/usr/bin/env python3
"""The Python baseline for bench/run.py: the transpose-all conversion written the way people
usually write it, with safetensors and torch.

    python bench/transpose_torch.py SRC.safetensors DST.safetensors

Every 2-D tensor is transposed (`.t().contiguous()`), 1-D tensors are copied, and names are
renamed exactly as bench/run.py's transpose-all mapping renames them:
`model.X` -> `m.X`, `lm_head.weight` -> `head.weight`.

Needs torch and safetensors (pip install -r scripts/fixtures/requirements.txt).
"""

import sys

from safetensors import safe_open
from safetensors.torch import save_file


def rename(name: str) -> str:
    if name == "lm_head.weight":
        return "head.weight"
    if name.startswith("model."):
        return "m." + name[len("model."):]
    raise SystemExit(f"transpose_torch.py: unexpected tensor name {name!r}")


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: transpose_torch.py SRC.safetensors DST.safetensors")
    src, dst = sys.argv[1], sys.argv[2]
    out = {}
    with safe_open(src, framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if t.dim() == 2:
                t = t.t().contiguous()
            out[rename(name)] = t
    save_file(out, dst, metadata={"format": "pt"})


if __name__ == "__main__":
    main()
