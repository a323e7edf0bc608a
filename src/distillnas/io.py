"""File I/O done once: strict YAML (safe_load, no duplicate keys), atomic writes, safe torch.load.

Every file a run writes goes through `atomic_write_*`, so a crash never leaves half a file;
every YAML file is read with `read_yaml_text`, so a duplicated key, binary garbage or an
empty file is a one-line error naming the file instead of a silent surprise.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from .errors import DistillnasError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (YAML 1.2 forbids it; PyYAML
    silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, where: str) -> Any:
    """yaml.safe_load with duplicate keys refused; errors name `where` in one line."""
    loader = _StrictLoader(text)  # a SafeLoader: plain data only, no tags that build objects
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())
        raise DistillnasError(f"{where} is not valid YAML: {first[:200]}") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML mapping from a file: not a directory, UTF-8 text, not empty, no duplicate keys."""
    path = Path(path)
    where = f"{what} {str(path)!r}"
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DistillnasError(f"{where} is a directory, not a YAML file") from None
    except OSError as e:
        raise DistillnasError(f"{where} cannot be read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DistillnasError(f"{where} is not a UTF-8 text file (binary data at byte {_first_bad(raw)})") from None
    data = load_yaml(text, where)
    if data is None:
        raise DistillnasError(f"{where} is empty; give the sections to set (e.g. 'search: {{trials: 20}}'), "
                              "or leave --config out for the embedded default")
    if not isinstance(data, dict):
        raise DistillnasError(f"{where} must be a mapping of sections, not a {type(data).__name__}")
    return data


def _first_bad(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start
    return -1


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp) then rename over `path`, so readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")  # writers in parallel (Ray)
    try:                                                                           # never share a temp file
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, lambda p: torch.save(obj, p))


def safe_torch_load(path: str | Path, what: str, hint: str = "") -> Any:
    """torch.load(weights_only=True); a truncated or foreign file is one line naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        detail = str(e).splitlines()[0][:120] if str(e) else ""
        raise DistillnasError(f"{what} {str(path)!r} is truncated or unreadable ({type(e).__name__}"
                              f"{': ' + detail if detail else ''}){'; ' + hint if hint else ''}") from None


def ensure_dir(path: str | Path, what: str) -> Path:
    """Create a directory we will write into, or say in one line why it cannot be one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DistillnasError(f"{what} {str(path)!r} is a file, not a directory; give a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DistillnasError(f"{what} {str(path)!r} cannot be created: {e.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DistillnasError(f"{what} {str(path)!r} is not writable")
    return path
