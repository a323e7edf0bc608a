"""Search configs: YAML files (safe_load) or packaged names, `--section.key=value` overrides,
and the check that a run directory is resumed only with the config that made it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .config import SearchConfig, validate
from .catalog import packaged_configs
from .errors import DistillnasError
from .io import read_yaml_file
from .section import declared_defaults, setting_differences, unset_legacy_settings

# Keys that may change between the start of a run and its resumption: how it executes,
# and how far it goes - not what it computes.
RESUMABLE = ("run_dir", "execution", "search.trials", "search.top_k", "search.report_every_s", "final",
             "reward.reference_cost")


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping (safe_load), with one clear line when it is not one."""
    return read_yaml_file(path, "config")


def parse_override(text: str) -> tuple[list[str], Any]:
    """'--search.trials=20' -> (['search', 'trials'], 20); the value is read as YAML."""
    body = text[2:] if text.startswith("--") else text
    key, eq, value = body.partition("=")
    if not eq or not key:
        raise DistillnasError(f"bad override {text!r}; write --section.key=value (e.g. --search.trials=20)")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return key.replace("-", "_").split("."), parsed


def set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set a dotted key (`evaluator.proxy.lr`) in a nested dict, creating sections as needed."""
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise DistillnasError(f"override {'.'.join(path)!r}: {part!r} is a value, not a section")
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """`--section.key=value` arguments set into a (nested) config dict (anything else: a one-line error)."""
    for text in args:
        path, value = parse_override(text)
        set_path(data, path, value)
    return data


DEFAULT_CONFIG = "akd_fmnist12k"  # the README's main job: a search on the embedded Fashion-MNIST subset


def load_search_config(config: str | None, overrides: list[str] = ()) -> SearchConfig:  # type: ignore[assignment]
    """A validated search config.

    Args:
        config: a YAML file, a packaged config name (`distillnas list configs`), or None for
            the default (`akd_fmnist12k`, the README's main job).
        overrides: `--section.key=value` strings applied on top (values read as YAML), e.g.
            ["--search.trials=20", "--strategy.name=evolution"].

    Raises:
        DistillnasError: an unknown config, a bad override or a value out of range, naming it.
    """
    named = packaged_configs()
    if config is None:
        data = read_yaml(named[DEFAULT_CONFIG])
    elif Path(config).exists():
        data = read_yaml(Path(config))
    elif config in named:
        data = read_yaml(named[config])
    else:
        raise DistillnasError(f"config {config!r} is neither a file nor a packaged config "
                              f"({', '.join(sorted(named))})")
    return validate(SearchConfig, apply_overrides(data, list(overrides)))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as dotted keys (how configs are compared and printed)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def with_settings(dump: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """`dump` (a config's plain data) with each dotted key of `settings` set, in place."""
    for key, value in settings.items():
        parent, _, leaf = key.rpartition(".")
        (_setting(dump, parent) if parent else dump)[leaf] = value
    return dump


def _setting(dump: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        dump = dump[part]
    return dump


def read_recorded(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A saved search config as the current version reads it, and the settings it lacks that
    read as their legacy value, not today's default (`section.unset_legacy_settings`): the record
    was written before they existed, by code that behaved as that value."""
    recorded = validate(SearchConfig, raw)
    legacy = unset_legacy_settings(recorded)
    return with_settings(recorded.model_dump(), legacy), legacy


def adopt_legacy(legacy: dict[str, Any], cfg: SearchConfig) -> tuple[SearchConfig, list[str]]:
    """`cfg` as a run recorded before some settings existed ran (`legacy`, from `read_recorded`):
    each of them not given in `cfg` takes its legacy value, so the run resumes as it started, not
    under a newer default. Returns the config and the 'key=value' settings adopted."""
    dump = cfg.model_dump()
    adopted = {k: legacy[k] for k in sorted(unset_legacy_settings(cfg).keys() & legacy.keys())
               if _setting(dump, k) != legacy[k]}
    if not adopted:
        return cfg, []
    return validate(SearchConfig, with_settings(dump, adopted)), [f"{k}={v}" for k, v in sorted(adopted.items())]


def config_differences(saved: dict[str, Any], cfg: SearchConfig) -> list[str]:
    """Dotted keys at which a saved search config is not the run `cfg` asks for, ignoring those
    that may change on resume; a setting the saved config lacks is read as its default
    (`section.setting_differences`: an upgrade must not strand a run half-way)."""
    diff = setting_differences(saved, cfg.model_dump(), declared_defaults(cfg))
    return [k for k in diff if not any(k == r or k.startswith(r + ".") for r in RESUMABLE)]
