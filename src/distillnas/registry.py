"""One generic registry for everything chosen by name (datasets, models, losses, ...)."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import DistillnasError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; an unknown name is an error that lists the choices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str | None = None) -> Callable[[T], T]:
        """Register under `name`; `doc` is the one line `distillnas list` prints (default: the
        first line of the object's docstring)."""
        def add(obj: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            self._docs[name] = doc if doc is not None else _first_line(getattr(obj, "__doc__", None))
            return obj

        return add

    def describe(self) -> list[tuple[str, str]]:
        """(name, one-line description) of every entry, sorted by name."""
        return [(n, self._docs[n]) for n in self.names()]

    def get(self, name: str) -> T:
        if name not in self._items:
            raise DistillnasError(
                f"unknown {self.kind} {name!r}{suggest(name, self._items)}; "
                f"choose one of: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    def build(self, name: str, **kwargs):  # noqa: ANN201 - returns whatever the factory makes
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else ""
