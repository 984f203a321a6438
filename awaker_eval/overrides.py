"""The command line of a run (and of ``prompts`` / ``prepare``), checked and cleaned before Hydra sees it.

Why before Hydra: Hydra reports a bad override in several lines with exit 1 (suggesting ``+key=value``, which the
schema then refuses) and an unknown option with an argparse usage dump; and it writes and logs the overrides as
given (``multirun.yaml``, its ``Launching`` lines, ``hydra.overrides.task``, the sweep folder names), so a secret in
a value would reach disk and the terminal. Here every override is parsed and composed with Hydra's compose API
(each value of a sweep on its own), so a problem is one line naming the key (for a misspelt key, the closest valid
one); then each secret in the values becomes ``***`` in what Hydra receives, and the task puts the real values back
(``unmask``) into the typed config that runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, QuotedString, ValueType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from awaker_eval.config.paths import CONF_DIR
from awaker_eval.cli_help import unknown_group_option
from awaker_eval.config.schema import RunConfig, register_configs, schema_keys, unknown_keys
from awaker_eval.preflight import ConfigError, check_secret_patterns
from awaker_eval.redact import redact_text, set_secret_patterns

# Hydra 1.3's own options (hydra/_internal/utils.py, get_args_parser) and how many values each takes ("?": maybe one).
HYDRA_FLAGS: dict[str, int | str] = {
    "-m": 0, "--multirun": 0, "-r": 0, "--run": 0, "-c": 1, "--cfg": 1, "--resolve": 0, "-p": 1, "--package": 1,
    "-i": "?", "--info": "?", "--hydra-help": 0, "--version": 0, "-sc": 0, "--shell-completion": 0,
    "-cd": 1, "--config-dir": 1, "-cn": 1, "--config-name": 1,
}
INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")
CFG_CHOICES = ("job", "hydra", "all")
# Options that would make Hydra compose something other than what is checked here.
UNSUPPORTED_FLAGS = {
    "-cp": "it replaces conf/; add your own config folder with --config-dir DIR instead",
    "--config-path": "it replaces conf/; add your own config folder with --config-dir DIR instead",
    "--experimental-rerun": "rerun the same command line instead (it resumes)",
}
# Hydra takes one of these per command line (and raises a traceback on two).
MODE_FLAGS = {"-r": "--run", "--run": "--run", "-m": "--multirun", "--multirun": "--multirun", "-c": "--cfg",
              "--cfg": "--cfg", "-i": "--info", "--info": "--info", "-sc": "--shell-completion",
              "--shell-completion": "--shell-completion"}
SYNTAX_HELP = "https://hydra.cc/docs/advanced/override_grammar/basic/"
MIN_LITERAL_SECRET = 6  # shorter secret fragments are masked only where they sit (a URL), not everywhere in text


class OverrideError(ConfigError):
    """A command line Hydra would refuse or misread; the message names the key or option and the fix."""


@dataclass
class CommandLine:
    """A run's arguments: Hydra's options (kept as given) and the overrides, by position."""

    argv: list[str]
    override_at: list[int] = field(default_factory=list)  # positions of the overrides in argv
    multirun: bool = False
    config_name: str = "config"
    config_dirs: list[str] = field(default_factory=list)

    @property
    def overrides(self) -> list[str]:
        return [self.argv[i] for i in self.override_at]


@dataclass
class HydraArgs:
    """What Hydra receives (secrets as ``***``) and the ``{masked value: real value}`` map the task restores."""

    argv: list[str]
    secrets: dict[str, str]


# -- options ------------------------------------------------------------------------------------------------
def _schema_default(key: str) -> Any:
    """The schema's default at a dotted key (a dataclass instance for a section)."""
    node: Any = RunConfig()
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _value_placeholder(key: str) -> str:
    """``N`` for an integer setting, ``VALUE`` otherwise (the hint that replaces an unknown option)."""
    section, _, name = key.rpartition(".")
    owner = _schema_default(section) if section else RunConfig()
    annotation = {f.name: str(f.type) for f in dataclasses.fields(owner)}[name]
    return "N" if re.search(r"\bint\b", annotation) else "VALUE"


def unknown_option_message(flag: str, value: str | None) -> str:
    """``--limit`` -> the override meant (``benchmark.limit=N``): settings are ``key=value``, never ``--key``."""
    leaf = flag.lstrip("-").replace("-", "_")
    keys = [k for k in schema_keys() if not dataclasses.is_dataclass(_schema_default(k))]
    leaves = sorted({k.rsplit(".", 1)[-1] for k in keys})
    names = [leaf] if leaf in leaves else difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.75)
    meant = [k for k in keys if names and k.rsplit(".", 1)[-1] == names[0]]
    hint = " or ".join(f"{k}={value if value is not None else _value_placeholder(k)}" for k in meant)
    return (f"unknown option {flag}: settings are key=value overrides{', e.g. ' + hint if hint else ''} "
            "(awaker-eval run --help lists the common ones)")


def _flag_value(name: str, takes: int | str, inline: str | None, argv: list[str], i: int) -> tuple[str | None, int]:
    """The option's value (inline ``--cfg=job`` or the next argument) and the index after it."""
    if takes == 0:
        if inline is not None:
            raise OverrideError(f"option {name} takes no value (got {name}={inline})")
        return None, i
    if inline is not None:
        return inline, i
    if takes == "?":
        return (argv[i], i + 1) if i < len(argv) and argv[i] in INFO_CHOICES else (None, i)
    if i >= len(argv) or argv[i].startswith("-"):
        raise OverrideError(f"option {name} needs a value")
    return argv[i], i + 1


def _check_option(name: str, value: str | None, modes: list[str]) -> None:
    """Values Hydra would answer with an argparse usage dump or a traceback."""
    if name in ("-c", "--cfg") and value not in CFG_CHOICES:
        raise OverrideError(f"option {name} takes one of {', '.join(CFG_CHOICES)} (got {value!r})")
    if name in ("-i", "--info") and value is not None and value not in INFO_CHOICES:
        raise OverrideError(f"option {name} takes one of {', '.join(INFO_CHOICES)} (got {value!r})")
    if name in MODE_FLAGS and MODE_FLAGS[name] not in modes:
        modes.append(MODE_FLAGS[name])
    if len(modes) > 1:
        raise OverrideError(f"options {modes[0]} and {modes[1]} cannot be combined: Hydra takes one of --run, "
                            "--multirun, --cfg, --info and --shell-completion")


def split_command_line(argv: list[str], options: bool = True) -> CommandLine:
    """Hydra's options apart from the overrides; an unknown or unsupported option is one line (``--limit`` names
    ``benchmark.limit=N``). ``options=False``: a subcommand that takes overrides only."""
    line = CommandLine(list(argv))
    modes: list[str] = []
    i = 0
    while i < len(argv):
        arg, i = argv[i], i + 1
        if not arg.startswith("-"):
            line.override_at.append(i - 1)
            continue
        name, eq, inline = arg.partition("=")
        if options and name in UNSUPPORTED_FLAGS:
            raise OverrideError(f"option {name} is not supported: {UNSUPPORTED_FLAGS[name]}")
        if not options or name not in HYDRA_FLAGS:
            raise OverrideError(unknown_option_message(name, inline if eq else None))
        value, i = _flag_value(name, HYDRA_FLAGS[name], inline if eq else None, argv, i)
        _check_option(name, value, modes)
        line.multirun = line.multirun or name in ("-m", "--multirun")
        if name in ("-cn", "--config-name"):
            line.config_name = value
        if name in ("-cd", "--config-dir"):
            line.config_dirs.append(str(Path(value).expanduser().resolve()))
    return line


# -- overrides ----------------------------------------------------------------------------------------------
def parse_overrides(texts: list[str], sweeps: bool, command: str = "run") -> list[Override]:
    """Hydra's parse of each override; a grammar error or (outside ``-m``) a sweep is one line naming it."""
    parser = OverridesParser.create()
    parsed = []
    for text in texts:
        try:
            override = parser.parse_override(text)
        except HydraException as exc:
            raise OverrideError(f"cannot parse override {text!r}: {_first_line(exc)} (quote a value with special "
                                f"characters: key='value'; syntax: {SYNTAX_HELP})") from None
        if override.is_sweep_override() and not sweeps:
            key = override.get_key_element()
            how = "add -m to run one job per value" if command == "run" else f"{command} takes one value per key"
            raise OverrideError(f"{text} is a sweep: {how} (a list is {key}=[a,b], a string with commas "
                                f"{key}='a,b')")
        parsed.append(override)
    return parsed


def _first_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())


def _sweep_values(override: Override, text: str) -> list[str]:
    """The values Hydra's basic sweeper makes jobs of (``[]`` for a glob over group options: all exist)."""
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        return []
    try:
        values = list(override.sweep_string_iterator())
    except HydraException as exc:
        raise OverrideError(f"{text}: {_first_line(exc)} (the basic sweeper takes a,b / choice() / range() / "
                            "glob())") from None
    if not values:
        raise OverrideError(f"{text}: the sweep has no values")
    return values


def compose_variants(texts: list[str], parsed: list[Override]) -> list[list[str]]:
    """The override lists to compose: each sweep at its first value, then every other value of each sweep on its
    own (a bad value fails on its own; Hydra's full product of the values is not needed for that)."""
    base: list[str] = []
    others: list[tuple[int, str]] = []
    for text, override in zip(texts, parsed):
        if not override.is_sweep_override():
            base.append(text)
            continue
        values = _sweep_values(override, text)
        if not values:
            continue
        key = override.get_key_element()
        others += [(len(base), f"{key}={value}") for value in values[1:]]
        base.append(f"{key}={values[0]}")
    return [base] + [base[:i] + [other] + base[i + 1:] for i, other in others]


def unknown_keys_message(keys: list[str]) -> str:
    """Unknown dotted keys, each with the closest key the schema declares."""
    known = schema_keys()
    named = []
    for key in keys:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        named.append(f"{key} (did you mean {close[0]}?)" if close else key)
    plural = "s" if len(keys) > 1 else ""
    if all(k.startswith("hydra.") for k in keys):
        return f"unknown Hydra setting{plural} {', '.join(named)}: `python -m awaker_eval --cfg hydra` lists them"
    return (f"unknown config key{plural} {', '.join(named)}: not in the schema (awaker_eval/config/schema.py); "
            "`python -m awaker_eval --cfg job` lists every key")


def compose_error_message(exc: BaseException) -> str:
    """One line for Hydra's composition error: the key and what is wrong with its value."""
    cause = exc.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and key:
        return unknown_keys_message([key])
    if isinstance(cause, ValidationError) and key:
        return f"bad value for {key}: {_first_line(cause)}"
    text = str(exc).split("Config search path:")[0]
    return " ".join(text.split()) or type(exc).__name__


def _compose_one(config_name: str, overrides: list[str]) -> DictConfig:
    try:
        cfg = compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise OverrideError(compose_error_message(exc)) from None
    unknown = unknown_keys(cfg)  # `+key=...` adds keys Hydra accepts and the typed config would drop
    if unknown:
        raise OverrideError(unknown_keys_message(unknown))
    return cfg


def compose_checked(line: CommandLine, variants: list[list[str]]) -> list[DictConfig]:
    """Every variant composed as the run would compose it (conf/ plus any ``--config-dir``)."""
    register_configs()
    search = [f"hydra.searchpath=[{','.join(repr('file://' + d) for d in line.config_dirs)}]"] \
        if line.config_dirs else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return [_compose_one(line.config_name, search + overrides) for overrides in variants]


def check_overrides(line: CommandLine, command: str = "run") -> tuple[list[DictConfig], list[str]]:
    """Parse, group options, composition: the first problem is one ``OverrideError`` line. Returns the composed
    variants and the user's secret patterns (checked, and masked from now on)."""
    parsed = parse_overrides(line.overrides, sweeps=line.multirun, command=command)
    install_secret_patterns(_patterns_from_overrides(parsed))  # before any message can show a value
    problem = unknown_group_option(line.overrides, [Path(d) for d in line.config_dirs])
    if problem:
        raise OverrideError(problem)
    configs = compose_checked(line, compose_variants(line.overrides, parsed))
    patterns = [p for cfg in configs for p in OmegaConf.select(cfg, "model.secret_patterns") or []]
    install_secret_patterns(patterns)
    return configs, patterns


# -- secrets ------------------------------------------------------------------------------------------------
def _patterns_from_overrides(parsed: list[Override]) -> list[str]:
    """``model.secret_patterns=[...]`` as given, so errors from composing the rest already mask their matches."""
    found = []
    for override in parsed:
        if override.key_or_group == "model.secret_patterns" and not override.is_sweep_override():
            value = override.value()
            found += [v for v in (value if isinstance(value, list) else []) if isinstance(v, str)]
    return found


def install_secret_patterns(patterns: list[str]) -> None:
    """Check the user's patterns (``model.secret_patterns``) and mask their matches from now on."""
    check_secret_patterns(patterns)
    set_secret_patterns(patterns)


def _strings(value: Any) -> list[str]:
    """Every string inside a parsed override value, in order (sweep choices, lists, dict values)."""
    if isinstance(value, ChoiceSweep):
        value = value.list
    if isinstance(value, QuotedString):
        return [value.text]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def secret_fragments(real: str, shown: str) -> list[str]:
    """The parts of ``real`` that masking replaced (``SECRET`` of ``...?key=SECRET``)."""
    ops = difflib.SequenceMatcher(None, real, shown, autojunk=False).get_opcodes()
    return [real[i1:i2] for tag, i1, i2, _j1, _j2 in ops if tag in ("replace", "delete") and i2 > i1]


def _masked_pairs(parser: OverridesParser, text: str, clean: str) -> list[tuple[str, str]]:
    """(real, masked) string values of one override; refused where masking changed anything but string values
    (a key, a number: Hydra would then compose something else than what was checked)."""
    try:
        real, shown = parser.parse_override(text), parser.parse_override(clean)
        if real.get_key_element() != shown.get_key_element():
            raise ValueError("the key changed")
        return list(zip(_strings(real.value()), _strings(shown.value()), strict=True))
    except (HydraException, ValueError):
        raise OverrideError(f"cannot hide the secret in override {clean!r} from Hydra's logs: quote the whole "
                            "value (key='value') and make model.secret_patterns match inside strings only") from None


def mask_secrets(line: CommandLine, patterns: list[str]) -> HydraArgs:
    """Hydra's arguments with each secret as ``***`` (URL credentials, key-like path segments, the user's
    patterns), the map back to the real values, and the literal secrets added to what is masked everywhere."""
    parser = OverridesParser.create()
    argv, secrets = list(line.argv), {}
    literal: list[str] = []
    for i in line.override_at:
        text = argv[i]
        clean = redact_text(text)
        if clean == text:
            continue
        for real, shown in _masked_pairs(parser, text, clean):
            if real == shown:
                continue
            if secrets.setdefault(shown, real) != real:
                raise OverrideError(f"two values differ only in their secrets, both {shown} once masked: run them as "
                                    "separate commands, so their folders and logs stay apart")
            literal += [f for f in secret_fragments(real, shown) if len(f) >= MIN_LITERAL_SECRET]
        argv[i] = clean
    set_secret_patterns(patterns + [re.escape(f) for f in dict.fromkeys(literal)])
    return HydraArgs(argv, secrets)


def unmask(value: Any, secrets: dict[str, str]) -> Any:
    """A copy of ``value`` (dataclass, dict, list, string, nested) with each masked string back to its real one."""
    if not secrets:
        return value
    if isinstance(value, str):
        return secrets.get(value, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: unmask(getattr(value, f.name), secrets)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, dict):
        return {k: unmask(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(unmask(v, secrets) for v in value)
    return value


# -- entry points -------------------------------------------------------------------------------------------
def hydra_args(argv: list[str]) -> HydraArgs:
    """A run's command line checked (one ``OverrideError`` line for any problem) and its secrets masked."""
    line = split_command_line(argv)
    _configs, patterns = check_overrides(line)
    return mask_secrets(line, patterns)


def compose_run_config(argv: list[str], command: str) -> RunConfig:
    """The typed config a run with these overrides gets, checked like a run's (for ``prompts`` / ``prepare``,
    which compose without Hydra's app: no sweeps, no Hydra options)."""
    line = split_command_line(argv, options=False)
    (cfg,), _patterns = check_overrides(line, command=command)
    return OmegaConf.to_object(cfg)
