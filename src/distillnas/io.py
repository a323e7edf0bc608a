"""File I/O done once: strict YAML (safe_load, no duplicate keys), atomic writes, safe torch.load.

Every file a run writes goes through `atomic_write_*`, so a crash never leaves half a file;
every YAML file is read with `read_yaml_text`, so a duplicated key, binary garbage or an
empty file is a one-line error naming the file instead of a silent surprise.
"""
from __future__ import annotations

import errno
import os
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

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
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise DistillnasError(f"{where} expands to over {MAX_YAML_NODES:,} values through its aliases (*name); "
                                  "a config holds a few hundred")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())
        raise DistillnasError(f"{where} is not valid YAML: {first[:200]}") from None
    finally:
        loader.dispose()


MAX_YAML_NODES = 1_000_000  # values of a YAML document once its aliases are expanded ("billion laughs")


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the document holds with every alias expanded, counted without expanding
    (an alias is the same node object again, so sizes are memoised by identity); stops counting
    once past the bound."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node met again while counting itself counts once
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo)
        if total > MAX_YAML_NODES:
            break
    memo[id(node)] = total
    return total


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
    """Call write(tmp) then rename over `path`, so readers see the old file or the new one (never
    a partial one, not even on a full disk: that is one line naming the file)."""
    path = Path(path)
    if path.is_dir():
        raise DistillnasError(f"{str(path)!r} is a directory; give a file path to write")
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")  # writers in parallel (Ray)
    try:                                                                           # never share a temp file
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC or disk_full(path.parent):
            raise DistillnasError(f"no space left on device writing {str(path)!r}; free space there and run the "
                                  "same command again (finished work is kept)") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def disk_full(folder: str | Path, margin: int = 1 << 20) -> bool:
    """Less than `margin` bytes free where `folder` lies (torch.save's write errors do not say why)."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text to `path` atomically (a reader sees the old file or the new one, never half)."""
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """`torch.save` to `path` atomically (a kill leaves the old file or the new one, never half)."""
    import torch  # here, not at the top: the CLI's light paths (--help, list) read no tensors

    return atomic_write(path, lambda p: torch.save(obj, p))


def safe_torch_load(path: str | Path, what: str, hint: str = "") -> Any:
    """torch.load(weights_only=True); a truncated or foreign file is one line naming it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # not torch's zip format, or objects beyond plain tensors (refused: they run code)
        raise DistillnasError(f"{what} {str(path)!r} is not a PyTorch file of plain tensors and settings (torch.load "
                              f"with weights_only=True refused it){'; ' + hint if hint else ''}") from None
    except Exception as e:  # torch raises several types for truncated or foreign files
        detail = str(e).splitlines()[0][:120] if str(e) else ""
        raise DistillnasError(f"{what} {str(path)!r} is truncated or unreadable ({type(e).__name__}"
                              f"{': ' + detail if detail else ''}){'; ' + hint if hint else ''}") from None


def check_dir(path: str | Path, what: str) -> Path:
    """Say in one line why `path` cannot become a directory we write into, without creating
    anything: commands check their output before any work and create it only to write."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise DistillnasError(f"{what} {str(path)!r} is a file, not a directory; give a directory path")
        if not os.access(path, os.W_OK | os.X_OK):
            raise DistillnasError(f"{what} {str(path)!r} is not writable")
        return path
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise DistillnasError(f"{what} {str(path)!r} cannot be created: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DistillnasError(f"{what} {str(path)!r} cannot be created: {str(parent)!r} is not writable")
    return path


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
