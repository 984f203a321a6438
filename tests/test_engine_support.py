"""Support for the engine tests (no tests here): a fake deterministic model, encode/finalize functions, tiny
synthetic samples, and a ``__main__`` runner used by the SIGKILL-resume and gloo data-parallel subprocess tests.

The fake model does real work in ``prepare`` (resizes the image like qwen_vl_utils, tokenises the prompt to bytes,
left-pads a batch tensor) and answers a letter derived from a hash of the unpadded row, so any mix-up of rows,
padding or order changes the predictions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from awaker_eval.models.base import GenerationSettings, Messages, ModelOutput, VisionLanguageModel
from awaker_eval.types import Choice, ImageRef, Prediction, Sample

LETTERS = "ABCD"
PAD = 0


def make_samples(image_dir: Path, n: int, corrupt: tuple[int, ...] = (), benchmark: str = "fake") -> list[Sample]:
    """``n`` samples with small PNG images of varied sizes (written once); positions in ``corrupt`` get garbage."""
    image_dir = Path(image_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        path = image_dir / f"img{i:04d}.png"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            if i in corrupt:
                tmp.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
            else:
                w, h = 20 + (i * 7) % 50, 20 + (i * 13) % 40
                Image.new("RGB", (w, h), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(tmp, format="PNG")
            tmp.replace(path)
        choices = tuple(Choice(letter=l, text=f"option {l}{i}", raw=f"{l}. option {l}{i}") for l in LETTERS)
        samples.append(
            Sample(
                id=f"q{i:04d}", benchmark=benchmark, language="en", question=f"Question number {i}? " + "x" * (i % 9),
                choices=choices, answer=LETTERS[(i * 3) % 4], images=(ImageRef(key=f"img{i}", path=str(path)),),
                group=f"q{i:04d}", cluster=f"img{i}",
            )
        )
    return samples


def encode(sample: Sample) -> Messages:
    """Decode the image and build the chat messages (runs in DataLoader workers)."""
    content = [{"type": "image", "image": ref.load(), "min_pixels": 28 * 28, "max_pixels": 56 * 56} for ref in sample.images]
    options = "\n".join(c.raw for c in sample.choices)
    content.append({"type": "text", "text": f"{sample.question}\n{options}\nAnswer with the letter."})
    return [{"role": "user", "content": content}]


def prompt_text(messages: Messages) -> str:
    return "".join(part["text"] for m in messages for part in m["content"] if part.get("type") == "text")


def finalize(sample: Sample, output: ModelOutput) -> Prediction:
    found = re.findall(r"\b([A-D])\b", output.text or "")
    extracted = found[-1] if found else ""
    return Prediction(
        id=sample.id, benchmark=sample.benchmark, prompt_hash=hashlib.sha256(sample.question.encode()).hexdigest()[:16],
        protocol_fp="", model_fp="", raw_output=output.text, extracted=extracted,
        extract_method="rule" if extracted else "none", answer=sample.answer,
        correct=None if sample.answer is None else extracted == sample.answer, group=sample.group,
        cluster=sample.cluster, choices=[[c.letter, c.text, c.raw] for c in sample.choices],
        question=sample.question, error=output.error, choice_logprobs=output.choice_logprobs,
    )


class FakePreparer:
    """Picklable: messages -> {"ids": left-padded uint8 byte tensor, "lengths": [...]}."""

    def __call__(self, conversations: list[Messages]) -> dict:
        rows = []
        for msgs in conversations:
            text = prompt_text(msgs).encode()
            pixels = b""
            for m in msgs:
                for part in m["content"]:
                    if part.get("type") == "image":
                        img = part["image"].resize((28, 28))
                        pixels += hashlib.sha256(img.tobytes()).digest()[:8]
            rows.append(list(pixels + text))
        longest = max(len(r) for r in rows)
        ids = torch.full((len(rows), longest), PAD, dtype=torch.int64)
        for i, r in enumerate(rows):
            ids[i, longest - len(r):] = torch.tensor(r, dtype=torch.int64)
        return {"ids": ids, "lengths": [len(r) for r in rows]}


class FakeModel(VisionLanguageModel):
    """Deterministic: the answer letter is a hash of the unpadded row. Knobs for fault injection."""

    def __init__(self, oom_above: int | None = None, delay_s: float = 0.0, fail_always: bool = False,
                 oom_ids_len: int | None = None):
        self.oom_above = oom_above  # raise OutOfMemoryError for batches with more rows than this
        self.oom_ids_len = oom_ids_len  # ... and for any batch containing a row of exactly this length
        self.delay_s = delay_s
        self.fail_always = fail_always
        self.batch_sizes: list[int] = []

    def fingerprint(self) -> dict:
        return {"name": "fake", "version": 1}

    def prepare(self, conversations: list[Messages]) -> dict:
        return FakePreparer()(conversations)

    def preparer(self) -> FakePreparer:
        return FakePreparer()

    def visual_tokens(self, width: int, height: int, min_pixels: int | None, max_pixels: int | None) -> int:
        return max(1, width * height // 64)  # cheap stand-in (the default imports qwen_vl_utils: seconds)

    def _rows(self, prepared: dict) -> list[bytes]:
        ids, lengths = prepared["ids"], prepared["lengths"]
        if self.fail_always:
            raise ValueError("broken model")
        if self.oom_above is not None and len(lengths) > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        if self.oom_ids_len is not None and self.oom_ids_len in lengths:
            raise torch.OutOfMemoryError("CUDA out of memory (fake, this row is too big)")
        if self.delay_s:
            time.sleep(self.delay_s)
        self.batch_sizes.append(len(lengths))
        return [bytes(ids[i, ids.shape[1] - n:].tolist()) for i, n in enumerate(lengths)]

    def generate(self, prepared: dict, settings: GenerationSettings) -> list[ModelOutput]:
        outs = []
        for row in self._rows(prepared):
            letter = LETTERS[hashlib.sha256(row).digest()[0] % 4]
            outs.append(ModelOutput(text=f"The answer is {letter}", n_prompt_tokens=len(row)))
        return outs

    def score_choices(self, prepared: dict, letters: list[list[str]]) -> list[ModelOutput]:
        outs = []
        for row, opts in zip(self._rows(prepared), letters):
            digest = hashlib.sha256(row).digest()
            scores = torch.tensor([float(digest[1 + k] % 17) for k in range(len(opts))])
            logp = torch.log_softmax(scores, dim=0).tolist()
            outs.append(ModelOutput(text=None, choice_logprobs=dict(zip(opts, logp))))
        return outs


def run_fake(run_dir: Path, image_dir: Path, n: int, batch_size: int = 4, delay_s: float = 0.0,
             protocol_fp: str = "p1", num_workers: int = 0, mode: str = "generate", fail_fast: int = 32, **model_kw):
    """One engine run of the fake model over ``make_samples(image_dir, n)``."""
    from awaker_eval.engine.runner import EngineSettings, run_inference

    samples = make_samples(image_dir, n)
    model = FakeModel(delay_s=delay_s, **model_kw)
    settings = EngineSettings(mode=mode, batch_size=batch_size, num_workers=num_workers, progress=False,
                              fail_fast=fail_fast)
    result = run_inference(samples, encode, model, finalize, run_dir, protocol_fp, "m1", settings)
    return result, model


def _main(argv: list[str]) -> int:
    """Subprocess entry (single process or one torchrun-style rank): run, then print a JSON summary on rank 0."""
    from awaker_eval.engine.distributed import destroy, init_distributed

    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--image-dir", type=Path, required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--broken-rank", type=int, default=None, help="this rank's model fails every sample")
    ap.add_argument("--fail-fast", type=int, default=32)
    ap.add_argument("--liveness", type=float, default=40.0, help="seconds before a silent peer counts as dead")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    info = init_distributed(liveness_s=args.liveness, heartbeat_s=min(2.0, args.liveness / 4))
    result, _ = run_fake(args.run_dir, args.image_dir, args.n, args.batch_size, args.delay, fail_fast=args.fail_fast,
                         fail_always=info.rank == args.broken_rank)
    if info.is_main:
        print(json.dumps({"world_size": result.world_size, **result.to_dict()["counts"]}), flush=True)
    destroy()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
