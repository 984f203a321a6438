"""Typed config schemas. Core code receives these plain dataclasses, never a DictConfig.

Registered in Hydra's ConfigStore by ``register_configs`` (called from the app entry point, never at import),
so a misspelt key fails at compose time with Hydra's own message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional


SELF_CHECK_POLICIES = ("fallback", "strict", "off")  # runner.self_check (models/self_checks.py)
LOGGER_KINDS = ("none", "wandb")  # logger.kind (awaker_eval/result_logging/)
LOGGER_MODES = ("online", "offline", "disabled")  # logger.mode: W&B's own modes


@dataclass
class JudgeConfig:
    """The optional LLM choice extractor (MMBench passes the rules cannot parse): an OpenAI-compatible endpoint.

    Off while ``base_url`` is unset. The API key is read from the environment variable named ``api_key_env``.
    """

    base_url: Optional[str] = None
    model: Optional[str] = None
    api_key_env: Optional[str] = "OPENAI_API_KEY"
    retries: int = 3  # judge asks per unparsed prediction
    temperature: float = 0.0
    max_tokens: Optional[int] = None
    cache_path: Optional[str] = None  # default: <run_dir>/judge_cache.jsonl
    seed: int = 0  # seeds the random fallback only
    random_fallback: bool = False  # VLMEvalKit's uniform pick after `retries` failures; off = report failure
    timeout_s: float = 60.0
    http_retries: int = 3  # transport retries per ask (429 / 5xx / timeouts), with exponential backoff
    backoff_s: float = 1.0
    max_failures: int = 0  # failed judge calls tolerated before the run exits 1 (after writing every output)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)


@dataclass
class BenchmarkConfig:
    """Which benchmark, where its data lives and how prompts / answers are handled."""

    name: str = "mme_realworld_sample"  # display / results-directory name
    kind: str = "mme_realworld"  # a registered benchmark kind (awaker_eval.tasks.registry)
    language: str = "en"  # en | cn
    version: str = "v10"  # MMBench: v10 | v11; benchmarks without versions keep this default
    split: str = "test"  # MMBench: dev | test; MME-RealWorld: test (the default benchmark's); MCQ: the file's label
    variant: str = "full"  # MME-RealWorld: full | lite (picks the default sources and the full item count)
    layout: str = "synthetic"  # synthetic | official_json | base64_json | tsv | parquet | hf | hf_m4
    source: Optional[str] = None  # hub dataset id, URL or local file / directory; None = the layout's default
    revision: Optional[str] = None  # pinned hub revision; None = the default source's pin (docs: "Pins")
    data_files: Optional[Any] = None  # hub file pattern(s) inside ``source``
    image_root: Optional[str] = None  # image folder for the official JSON layout
    protocol: str = "official"  # official | vlmevalkit | lmms_eval | ...
    extractor: str = "official"  # MME-RealWorld: official | vlmevalkit_2024 | fixed; MMBench: can_infer_2024 | ...
    judge: JudgeConfig = field(default_factory=lambda: JudgeConfig())  # LLM choice extractor; off by default
    min_pixels: Optional[int] = None  # resolution policy, part of every prediction's fingerprint
    max_pixels: Optional[int] = None
    max_new_tokens: int = 16
    limit: Optional[int] = None  # smoke runs: N items (MMBench: N questions with all circular passes)
    subset: str = "first"  # which `limit` units: first | random | stratified (each category's share); data/subsets.py
    subset_seed: int = 0  # the random / stratified draw (same seed, same units)
    sample_size: int = 40  # size of the embedded synthetic sample
    cache_dir: Optional[str] = None  # where generated / downloaded data is cached
    strict: bool = False  # refuse rows that upstream toolkits accept (counted as data_warnings otherwise)
    allow_outside_paths: bool = False  # image paths may leave image_root / the data file's folder


@dataclass
class ModelConfig:
    """Which model and how to load it. One schema for every backend; unused fields stay at defaults."""

    name: Optional[str] = "tiny"  # label in tables and the results folder; null: openai_api's api_model@host
    kind: str = "tiny"  # tiny | qwen2_vl | awaker2_5_vl | openai_api
    path: Optional[str] = None  # local directory or hub id of a Qwen2-VL checkpoint / base repo
    revision: Optional[str] = None
    checkpoint: Optional[str] = None  # Awaker: .bin file, converted directory, or hub id
    checkpoint_revision: Optional[str] = None
    adapter: Optional[str] = None  # Qwen2-VL: a PEFT LoRA adapter (local folder or hub id) applied on top of path
    adapter_revision: Optional[str] = None  # pinned hub revision of ``adapter``
    dtype: str = "bfloat16"  # bfloat16 | float32 | float16
    attn_implementation: str = "sdpa"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    routing_mode: str = "fork"  # Awaker: fork | consistent
    adapter_dtype_mode: str = "parity"  # Awaker q/k/v LoRA held in fp32 (parity) or model dtype (fast)
    choice_padding: str = "right"  # choice-mode prefill: right (no 4D mask, SDPA is_causal) | left (generate's)
    generate_padding: str = "left"  # generate-mode prefill: left (HF generate) | right (greedy loop, no 4D mask)
    trust_remote_code: bool = False
    cache_dir: Optional[str] = None
    seed: int = 0
    # OpenAI-compatible backend
    base_url: Optional[str] = None
    api_model: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key (never stored)
    max_concurrency: int = 8
    max_retries: int = 3
    timeout_s: float = 120.0
    api_client_resize: bool = True  # resize images with qwen_vl_utils (min/max pixels) before sending
    api_forward_pixels: bool = True  # also send min/max pixels as vLLM's per-request mm_processor_kwargs
    # Regexes whose matches are masked (***) wherever settings, logs and errors are written, for secrets whose shape
    # the built-in rules (awaker_eval/redact.py) do not know, e.g. ['tenant-[0-9]+']. Not part of the run id.
    secret_patterns: List[str] = field(default_factory=list)


@dataclass
class RunnerConfig:
    """How inference is executed."""

    mode: str = "generate"  # generate | choice
    batch_size: int = 8  # upper bound on samples per batch
    max_batch_visual_tokens: Optional[int] = None  # batch by visual-token budget when set
    num_workers: int = 0  # DataLoader preprocessing workers
    prefetch_bytes: Optional[int] = None  # bound on prepared batches in flight per rank (None: from free host memory)
    resume: bool = True
    progress: bool = True
    seed: int = 0
    bootstrap_samples: int = 1000
    repetition_penalty: float = 1.0
    reuse_vision: bool = True  # encode each distinct image once per run (rank); outputs identical either way
    threads: Optional[int] = None  # torch intra-op threads for the run (default: chosen by the engine)
    self_check: str = "fallback"  # run-start checks of the fast paths: fallback | strict | off (models/self_checks.py)
    # failed samples tolerated, as a fraction of all; above it the outputs are marked invalid and the run exits 1
    max_failed_fraction: float = 0.0
    # I/N: run only the I-th of N cost-balanced shards of the run (a job array; docs/scaling.md); the last shard to
    # finish, or `awaker-eval merge RUN_DIR`, merges and scores them. None: every sample
    shard: Optional[str] = None


@dataclass
class LoggerConfig:
    """Where a finished run's results are also sent (``logger=wandb``: Weights & Biases); off by default.

    Sent after every output is on disk, from rank 0, redacted like config.yaml. The W&B key is read by the wandb
    library itself (its login or environment), never by this config."""

    kind: str = "none"  # none | wandb
    project: Optional[str] = None
    entity: Optional[str] = None  # W&B team or user; None: the key's default entity
    name: Optional[str] = None  # W&B run name; None: <model.name>/<benchmark.name>/<run directory name>
    mode: Optional[str] = None  # online | offline | disabled; None: W&B's own default (online, or `wandb offline`)
    dir: Optional[str] = None  # where W&B writes its files (<dir>/wandb/); None: the run directory
    tags: List[str] = field(default_factory=list)
    required: bool = True  # a failed upload exits 1 (after every output is written); false: one warning, exit 0


@dataclass
class RunConfig:
    """The top-level config of ``python -m awaker_eval``."""

    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)  # optional results logging (conf/logger/)
    preset: Optional[str] = None  # name of the settings preset applied (conf/preset/), recorded with the run
    results_root: str = "results"
    run_id: Optional[str] = None  # default: a timestamp
    output_dir: Optional[str] = None  # default: <results_root>/<benchmark.name>/<model.name>/<run_id>


def unknown_keys(node: Mapping[str, Any], schema: type = None, prefix: str = "") -> list[str]:
    """Dotted keys of a composed config that its dataclass schema does not declare (``+runner.batchsize=4``).

    Hydra's ``+`` adds keys even to a struct config and ``OmegaConf.to_object`` then drops them silently, so a
    setting the user believes applied would be ignored; this walks the composed mapping against the schema's fields
    (nested dataclass fields recursively; ``Any``-typed fields such as ``data_files`` hold free-form values)."""
    schema = schema or RunConfig
    fields = {f.name: f for f in dataclasses.fields(schema)}
    found = []
    for key in node.keys():
        name = f"{prefix}{key}"
        if key not in fields:
            found.append(name)
            continue
        child_type = _dataclass_type(fields[key])
        if child_type is not None and isinstance(node[key], Mapping):
            found += unknown_keys(node[key], child_type, prefix=f"{name}.")
    return found


def schema_keys(schema: type = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted key the schema declares (sections and leaves), for "did you mean" suggestions."""
    keys = []
    for f in dataclasses.fields(schema):
        keys.append(f"{prefix}{f.name}")
        child_type = _dataclass_type(f)
        if child_type is not None:
            keys += schema_keys(child_type, prefix=f"{prefix}{f.name}.")
    return keys


def _dataclass_type(f: dataclasses.Field) -> type | None:
    """The dataclass a field holds (a nested section), else None."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return type(default) if dataclasses.is_dataclass(default) else None


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (explicit call, no import-time side effects)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)  # group files merge into its typed benchmark/model/runner nodes
