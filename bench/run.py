#!/usr/bin/env python3
"""End-to-end throughput and memory benchmark for `wmap run`.

Generates a synthetic Llama-shaped bf16 checkpoint (default about 2.2 GB) in a temporary folder
and times, in one run, on the same warm source file:

  cp         cp SRC/model.safetensors DST
  rename     wmap run with a rename-only mapping
  transpose  wmap run with a mapping that transposes every 2-D weight
  python     bench/transpose_torch.py (safetensors + torch) doing the same transpose mapping

Each is run --runs times (median wall time, output fsync included), with RssAnon and VmHWM sampled
from /proc/PID/status every ~2 ms. It prints a table and the goal ratios; the exit status is 0
whatever the figures (it is a measurement), non-zero only on errors. See bench/README.md.

Standard library only; the interpreter given with --python needs torch and safetensors.
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20
GiB = 1 << 30

# Llama-shaped, roughly TinyLlama-1.1B: hidden 2048, intermediate 5632, 32 heads / 8 kv heads.
HIDDEN = 2048
INTERMEDIATE = 5632
HEADS = 32
KV_HEADS = 8
VOCAB = 32000
HEAD_DIM = HIDDEN // HEADS
KV_DIM = KV_HEADS * HEAD_DIM  # 512

RENAME_WMAP = """\
wmap 1
# bench/run.py: rename-only. Every tensor is copied unchanged under a new name.
"model.{rest:**}" -> "m.{rest}"
"lm_head.weight" -> "head.weight"
"""

TRANSPOSE_WMAP = """\
wmap 1
# bench/run.py: transpose every 2-D weight, plain rename for the 1-D norms.
"model.embed_tokens.weight" | transpose -> "m.embed_tokens.weight"
"model.layers.{i}.self_attn.{p:q_proj|k_proj|v_proj|o_proj}.weight" | transpose
    -> "m.layers.{i}.self_attn.{p}.weight"
"model.layers.{i}.mlp.{p:gate_proj|up_proj|down_proj}.weight" | transpose
    -> "m.layers.{i}.mlp.{p}.weight"
"model.layers.{i}.{n:input_layernorm|post_attention_layernorm}.weight"
    -> "m.layers.{i}.{n}.weight"
"model.norm.weight" -> "m.norm.weight"
"lm_head.weight" | transpose -> "head.weight"
"""


def die(msg, code=1):
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(code)


def rename(name):
    """The renaming both mappings and transpose_torch.py apply."""
    if name == "lm_head.weight":
        return "head.weight"
    assert name.startswith("model."), name
    return "m." + name[len("model."):]


# ---------------------------------------------------------------------------------------------
# Checkpoint generation


def llama_tensors(layers):
    """[(name, shape)] of a Llama checkpoint with Hugging Face names."""
    t = [("model.embed_tokens.weight", [VOCAB, HIDDEN]),
         ("model.norm.weight", [HIDDEN]),
         ("lm_head.weight", [VOCAB, HIDDEN])]
    for i in range(layers):
        p = f"model.layers.{i}."
        t += [(p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
              (p + "self_attn.k_proj.weight", [KV_DIM, HIDDEN]),
              (p + "self_attn.v_proj.weight", [KV_DIM, HIDDEN]),
              (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
              (p + "mlp.gate_proj.weight", [INTERMEDIATE, HIDDEN]),
              (p + "mlp.up_proj.weight", [INTERMEDIATE, HIDDEN]),
              (p + "mlp.down_proj.weight", [HIDDEN, INTERMEDIATE]),
              (p + "input_layernorm.weight", [HIDDEN]),
              (p + "post_attention_layernorm.weight", [HIDDEN])]
    return t


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def layers_for(target_bytes):
    fixed = 2 * sum(numel(s) for _, s in llama_tensors(0))
    per_layer = 2 * sum(numel(s) for _, s in llama_tensors(1)) - fixed
    return max(1, -(-(target_bytes - fixed) // per_layer))


def pattern_block(size, seed):
    """`size` bytes of pseudo-random, finite bf16 values (magnitudes 2^-15 .. 2)."""
    b = bytearray(random.Random(seed).randbytes(size))
    # The high byte of a little-endian bf16 holds the sign and the top 7 exponent bits: keep the
    # sign and force the exponent into 112..127, so that there are no NaNs, infinities or zeros.
    table = bytes((v & 0x80) | 0x38 | (v & 0x07) for v in range(256))
    b[1::2] = bytes(b[1::2]).translate(table)
    return bytes(b)


def write_safetensors(path, tensors, seed):
    """Write `tensors` ([(name, shape)], bf16) with streamed pseudo-random data. Returns the
    header dict and the data section's size."""
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape in sorted(tensors):
        n = 2 * numel(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    block = pattern_block(64 * MiB, seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        pos = 0
        while pos < off:
            start = pos % len(block)
            n = min(len(block) - start, off - pos)
            f.write(memoryview(block)[start:start + n])
            pos += n
        f.flush()
        os.fsync(f.fileno())
    return header, off


def llama_config(layers):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "num_hidden_layers": layers,
        "vocab_size": VOCAB,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }


# ---------------------------------------------------------------------------------------------
# Reading safetensors without torch


def read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def tensor_chunks(f, base, info, chunk=16 * MiB):
    a, b = info["data_offsets"]
    f.seek(base + a)
    left = b - a
    while left:
        data = f.read(min(chunk, left))
        if not data:
            raise RuntimeError("file truncated")
        left -= len(data)
        yield data


def read_tensor(f, base, info):
    return b"".join(tensor_chunks(f, base, info))


def compare_files(path_a, path_b, name_map, expect_shape):
    """Byte-compare every tensor of path_a with tensor name_map(name) of path_b, in chunks.
    expect_shape(shape_a) gives the shape path_b must have. Returns the number of tensors."""
    ha, base_a = read_header(path_a)
    hb, base_b = read_header(path_b)
    want = {name_map(k) for k in ha}
    if want != set(hb):
        extra, missing = sorted(set(hb) - want)[:5], sorted(want - set(hb))[:5]
        raise RuntimeError(f"{path_b}: tensor names differ: extra {extra}, missing {missing}")
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        for name, ia in ha.items():
            ib = hb[name_map(name)]
            if ib["dtype"] != ia["dtype"] or ib["shape"] != expect_shape(ia["shape"]):
                raise RuntimeError(f"{name}: {ia['dtype']} {ia['shape']} vs "
                                   f"{ib['dtype']} {ib['shape']} in {path_b}")
            fb.seek(base_b + ib["data_offsets"][0])
            for chunk in tensor_chunks(fa, base_a, ia):
                if fb.read(len(chunk)) != chunk:
                    raise RuntimeError(f"{name}: data differs between {path_a} and {path_b}")
    return len(ha)


def transpose_u16(data, rows, cols):
    a = array("H")
    a.frombytes(data)
    out = array("H")
    for j in range(cols):
        out.extend(a[j::cols])
    assert len(out) == rows * cols
    return out.tobytes()


# ---------------------------------------------------------------------------------------------
# Running and measuring


class Sampler(threading.Thread):
    """Polls /proc/PID/status; keeps the peak RssAnon and the last VmHWM (both in bytes)."""

    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.path = f"/proc/{pid}/status"
        self.interval = interval
        self.stop = threading.Event()
        self.peak_anon = 0
        self.hwm = 0
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            try:
                with open(self.path, "rb") as f:
                    status = f.read()
            except OSError:
                return
            for line in status.split(b"\n"):
                if line.startswith(b"RssAnon:"):
                    self.peak_anon = max(self.peak_anon, int(line.split()[1]) * 1024)
                elif line.startswith(b"VmHWM:"):
                    self.hwm = max(self.hwm, int(line.split()[1]) * 1024)
            self.samples += 1
            time.sleep(self.interval)


def fsync_tree(path):
    paths = [path] if path.is_file() else [Path(d) / f for d, _, fs in os.walk(path) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    parent = path.parent if path.is_file() else path
    fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def timed(cmd, out, log, interval):
    """Run cmd, sample its memory, then fsync `out`. Returns a dict: seconds (wall, fsync
    included), exit_seconds (wall until the process exited), cpu_seconds (user + sys of the
    process), rss_anon (peak sampled RssAnon), vm_hwm (VmHWM), in seconds and bytes."""
    with open(log, "wb") as logf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        sampler = Sampler(proc.pid, interval)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        t_exit = time.perf_counter()
        rc = proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        if rc == 0:
            fsync_tree(out)
        t1 = time.perf_counter()
    sampler.join()
    if rc != 0:
        text = Path(log).read_text(errors="replace")[-4000:]
        raise RuntimeError(f"command failed with exit status {rc}: {' '.join(map(str, cmd))}\n{text}")
    return {"seconds": t1 - t0, "exit_seconds": t_exit - t0,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_anon": sampler.peak_anon, "vm_hwm": sampler.hwm}


def fmt_mib(n):
    return f"{n / MiB:.0f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wmap", default=str(REPO / "target" / "release" / "wmap"),
                    help="the wmap binary (default: target/release/wmap)")
    ap.add_argument("--baseline-wmap", metavar="PATH", default=None,
                    help="another wmap binary (an earlier build) timed in the same rounds; "
                         "its figures and the ratios of --wmap to it are reported")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with torch and safetensors for the baseline "
                         "(default: this one)")
    ap.add_argument("--gib", type=float, default=2.05,
                    help="checkpoint size in GiB, rounded up to whole layers (default 2.05, "
                         "about 2.2 GB)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each command (default 3)")
    ap.add_argument("--tmpdir", default=None,
                    help="where to make the temporary folder (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data pattern")
    ap.add_argument("--sample-ms", type=float, default=2.0,
                    help="/proc sampling interval in milliseconds (default 2)")
    args = ap.parse_args()
    if args.runs < 1 or args.gib <= 0:
        die("--runs must be >= 1 and --gib > 0", 2)

    wmap = Path(args.wmap)
    if not (wmap.is_file() and os.access(wmap, os.X_OK)):
        die(f"no wmap binary at {wmap}: run `cargo build --release` first, or pass --wmap PATH", 2)
    wmap = wmap.resolve()
    base = None
    if args.baseline_wmap:
        base = Path(args.baseline_wmap)
        if not (base.is_file() and os.access(base, os.X_OK)):
            die(f"no wmap binary at {base} (--baseline-wmap)", 2)
        base = base.resolve()
    args.base = base
    probe = subprocess.run([args.python, "-c", "import torch, safetensors, safetensors.torch; "
                            "print(torch.__version__, safetensors.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        die(f"`import torch, safetensors` fails in {args.python}: "
            f"pip install -r scripts/fixtures/requirements.txt (or pass --python PATH)\n"
            + probe.stderr.strip()[-1500:], 2)
    torch_ver, st_ver = probe.stdout.split()
    wmap_ver = subprocess.run([str(wmap), "--version"], capture_output=True,
                              text=True).stdout.strip()

    layers = layers_for(int(args.gib * GiB))
    tensors = llama_tensors(layers)
    est = 2 * sum(numel(s) for _, s in tensors)
    tmp_parent = args.tmpdir or tempfile.gettempdir()
    free = shutil.disk_usage(tmp_parent).free
    if free < 4 * est + GiB:  # source + three outputs kept for verification
        die(f"{tmp_parent} has {free / GiB:.1f} GiB free; this needs about "
            f"{(4 * est + GiB) / GiB:.1f} GiB (pass --tmpdir or a smaller --gib)")
    tmp = Path(tempfile.mkdtemp(prefix="wmap-bench-", dir=tmp_parent))
    try:
        return bench(args, wmap, wmap_ver, torch_ver, st_ver, layers, tensors, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args, wmap, wmap_ver, torch_ver, st_ver, layers, tensors, tmp):
    interval = args.sample_ms / 1000
    src = tmp / "src"
    out = tmp / "out"
    logs = tmp / "logs"
    for d in (src, out, logs):
        d.mkdir()
    src_file = src / "model.safetensors"

    print(f"wmap:   {wmap} ({wmap_ver})")
    print(f"python: {args.python} (torch {torch_ver}, safetensors {st_ver})")
    print(f"host:   {platform.platform()}, {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GiB:.1f} GiB RAM")
    print(f"temp:   {tmp}")

    t0 = time.perf_counter()
    header, data_bytes = write_safetensors(src_file, tensors, args.seed)
    (src / "config.json").write_text(json.dumps(llama_config(layers), indent=2) + "\n")
    size = src_file.stat().st_size
    largest_name, largest = max(((n, 2 * numel(s)) for n, s in tensors), key=lambda x: x[1])
    bound = largest + 64 * MiB
    print(f"source: {len(tensors)} bf16 tensors, {layers} layers, {size / 1e9:.2f} GB "
          f"({size / GiB:.2f} GiB), largest tensor {largest_name} {fmt_mib(largest)}; "
          f"written in {time.perf_counter() - t0:.1f} s")

    maps = {"rename": tmp / "rename.wmap", "transpose": tmp / "transpose.wmap"}
    maps["rename"].write_text(RENAME_WMAP)
    maps["transpose"].write_text(TRANSPOSE_WMAP)
    for kind, m in maps.items():
        r = subprocess.run([str(wmap), "--color", "never", "check", str(m), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"wmap check {kind} mapping: exit {r.returncode}\n"
                               f"{r.stdout}{r.stderr}")
        print(f"check {kind}: {r.stdout.strip()}")

    # Warm the page cache with the source.
    with open(src_file, "rb") as f:
        while f.read(64 * MiB):
            pass

    # Interpreter start-up and `import torch`: part of the python figure, shown for information.
    imports = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run([args.python, "-c", "import torch, safetensors.torch"], check=True)
        imports.append(time.perf_counter() - t)
    import_s = statistics.median(imports)

    script = Path(__file__).resolve().parent / "transpose_torch.py"
    wmap_run = [str(wmap), "--color", "never", "run", "--quiet"]
    methods = {
        "cp": lambda o: (["cp", str(src_file), str(o / "model.safetensors")], o, True),
        "rename": lambda o: (wmap_run + [str(maps["rename"]), str(src), str(o)], o, False),
        "transpose": lambda o: (wmap_run + [str(maps["transpose"]), str(src), str(o)], o, False),
        "python": lambda o: ([args.python, str(script), str(src_file),
                              str(o / "model.safetensors")], o, True),
    }
    if args.base:
        # Each baseline run right after its counterpart, so both meet the same state of the
        # page cache and of memory (a run after the torch script finds gigabytes just freed).
        base_run = [str(args.base), "--color", "never", "run", "--quiet"]
        order = ["cp", "rename", "rename@base", "transpose", "transpose@base", "python"]
        extra = {
            "rename@base": lambda o: (base_run + [str(maps["rename"]), str(src), str(o)],
                                      o, False),
            "transpose@base": lambda o: (base_run + [str(maps["transpose"]), str(src), str(o)],
                                         o, False),
        }
        methods = {k: methods.get(k) or extra[k] for k in order}
    fields = ("seconds", "exit_seconds", "cpu_seconds", "rss_anon", "vm_hwm")
    results = {k: {f: [] for f in fields} for k in methods}
    keep_for_check = {"rename", "transpose", "python"}
    for r in range(args.runs):
        kinds = list(methods)
        if args.base and r % 2 == 1:
            # Every other round the baseline goes first in each pair: no side gains from
            # its place in the round.
            for k in ("rename", "transpose"):
                i = kinds.index(k)
                kinds[i], kinds[i + 1] = kinds[i + 1], kinds[i]
        for kind in kinds:
            make = methods[kind]
            dst = out / kind
            remove(dst)
            cmd, target, mkdir = make(dst)
            if mkdir:
                dst.mkdir()
            os.sync()
            m = timed(cmd, target, logs / f"{kind}.{r}.log", interval)
            for f in fields:
                results[kind][f].append(m[f])
            print(f"  run {r + 1}/{args.runs} {kind:<9} {m['seconds']:7.2f} s "
                  f"(exit {m['exit_seconds']:6.2f} s, CPU {m['cpu_seconds']:6.2f} s)  "
                  f"RssAnon {fmt_mib(m['rss_anon']):>9}  VmHWM {fmt_mib(m['vm_hwm']):>9}",
                  flush=True)
            if not (r == args.runs - 1 and kind in keep_for_check):
                remove(dst)

    # Verify the outputs: rename = source bytes; transpose = python byte for byte; and an
    # independent transpose of two tensors.
    n = compare_files(src_file, out / "rename" / "model.safetensors", rename, lambda s: s)
    print(f"verify: rename output has the source's {n} tensors, byte-identical")
    wt, pt = out / "transpose" / "model.safetensors", out / "python" / "model.safetensors"
    n = compare_files(wt, pt, lambda x: x, lambda s: s)
    print(f"verify: wmap transpose and python outputs: {n} tensors, byte-identical")
    hs, bs = read_header(src_file)
    hw, bw = read_header(wt)
    with open(src_file, "rb") as fs, open(wt, "rb") as fw:
        for name in ("model.layers.0.self_attn.k_proj.weight", f"model.layers.{layers - 1}.mlp.down_proj.weight"):
            rows, cols = hs[name]["shape"]
            want = transpose_u16(read_tensor(fs, bs, hs[name]), rows, cols)
            if hw[rename(name)]["shape"] != [cols, rows] or read_tensor(fw, bw, hw[rename(name)]) != want:
                raise RuntimeError(f"{rename(name)} is not the transpose of {name}")
    print("verify: two tensors checked against an independent transpose")
    for kind in keep_for_check:
        remove(out / kind)

    # Report.
    med = {k: statistics.median(v["seconds"]) for k, v in results.items()}
    peak = {k: max(v["rss_anon"]) for k, v in results.items()}
    hwm = {k: max(v["vm_hwm"]) for k, v in results.items()}
    cpu = {k: statistics.median(v["cpu_seconds"]) for k, v in results.items()}
    labels = {"cp": "cp", "rename": "wmap rename-only", "transpose": "wmap transpose-all",
              "python": "python transpose-all", "rename@base": "baseline rename-only",
              "transpose@base": "baseline transpose-all"}
    print()
    print(f"{size / 1e9:.2f} GB checkpoint, median of {args.runs} runs, output fsync included, "
          f"page cache warm")
    print(f"{'':<22}{'median s':>10}{'min s':>8}{'max s':>8}{'GB/s':>7}{'vs cp':>7}"
          f"{'CPU s':>7}{'peak RssAnon':>14}{'peak VmHWM':>12}")
    for k in methods:
        s = results[k]["seconds"]
        print(f"{labels[k]:<22}{med[k]:>10.2f}{min(s):>8.2f}{max(s):>8.2f}"
              f"{size / 1e9 / med[k]:>7.2f}{med[k] / med['cp']:>6.2f}x{cpu[k]:>7.2f}"
              f"{fmt_mib(peak[k]):>14}{fmt_mib(hwm[k]):>12}")
    print("(GB/s: checkpoint bytes / median wall time; CPU s: median user + sys time of the "
          "process)")
    print(f"(python includes interpreter start-up and `import torch`: median {import_s:.2f} s)")
    print()

    def goal(text, value, ok):
        print(f"{text} ({value}): {'met' if ok else 'NOT met'}")
        return ok

    r_rename = med["rename"] / med["cp"]
    r_transpose = med["transpose"] / med["cp"]
    r_python = med["python"] / med["transpose"]
    goals = {
        "rename_vs_cp": goal(f"rename-only / cp = {r_rename:.2f}x", "goal <= 1.3x", r_rename <= 1.3),
        "transpose_vs_cp": goal(f"transpose-all / cp = {r_transpose:.2f}x", "goal <= 2x",
                                r_transpose <= 2.0),
        "python_vs_transpose": goal(f"python / transpose-all = {r_python:.2f}x", "goal >= 3x",
                                    r_python >= 3.0),
        "rss_rename": goal(f"peak RssAnon rename-only = {fmt_mib(peak['rename'])}",
                           f"bound {fmt_mib(bound)}", peak["rename"] < bound),
        "rss_transpose": goal(f"peak RssAnon transpose-all = {fmt_mib(peak['transpose'])}",
                              f"bound {fmt_mib(bound)}", peak["transpose"] < bound),
    }
    print(f"(bound = largest output tensor {fmt_mib(largest)} + 64 MiB; "
          f"python peak RssAnon {fmt_mib(peak['python'])})")
    vs_base = {}
    if args.base:
        for k in ("rename", "transpose"):
            vs_base[k] = med[k] / med[f"{k}@base"]
            print(f"{labels[k]} / baseline = {vs_base[k]:.3f}x wall time "
                  f"(peak RssAnon {fmt_mib(peak[k])} vs {fmt_mib(peak[k + '@base'])})")

    if args.json:
        doc = {
            "wmap": str(wmap), "wmap_version": wmap_ver, "python": args.python,
            "torch": torch_ver, "safetensors": st_ver,
            "cpus": os.cpu_count(), "runs": args.runs,
            "checkpoint": {"bytes": size, "data_bytes": data_bytes, "tensors": len(tensors),
                           "layers": layers, "largest_tensor": largest_name,
                           "largest_tensor_bytes": largest},
            "rss_bound_bytes": bound,
            "python_import_seconds": import_s,
            "results": {k: {**results[k], "median_seconds": med[k],
                            "median_cpu_seconds": cpu[k],
                            "gb_per_s": size / 1e9 / med[k], "peak_rss_anon": peak[k],
                            "peak_vm_hwm": hwm[k]} for k in methods},
            "baseline_wmap": str(args.base) if args.base else None,
            "ratios": {"rename_vs_cp": r_rename, "transpose_vs_cp": r_transpose,
                       "python_vs_transpose": r_python,
                       **{f"{k}_vs_baseline": v for k, v in vs_base.items()}},
            "goals_met": goals,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        die(str(e))
    except KeyboardInterrupt:
        die("interrupted", 130)
