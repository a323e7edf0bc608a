"""The base of every config section and the one place pydantic's errors become one line.

Components define their own sections beside their code (strategies/ppo.py holds PPOConfig);
`config.py` only assembles the top-level run config from them.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .errors import DistillnasError, suggest

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys, inf and NaN are refused (a non-finite lr,
    target or epoch count can only produce garbage or a crash later)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# What a discriminated union's tag chooses, in the user's words (the field that holds it).
UNION_KINDS = {"strategy": "strategy", "space": "search space", "evaluator": "evaluator"}


def union_variants(annotation: Any, discriminator: str | None = None) -> dict[str, type[BaseModel]]:
    """{tag: section} of a discriminated union: an `Annotated[Union[...], Field(discriminator=)]`,
    or a model field's bare Union with its `discriminator` ({} for anything else)."""
    if discriminator is None:
        meta = getattr(annotation, "__metadata__", ())
        discriminator = next((m.discriminator for m in meta if getattr(m, "discriminator", None)), None)
        annotation = getattr(annotation, "__args__", (None,))[0] if discriminator else annotation
    if discriminator is None:
        return {}
    return {m.model_fields[discriminator].default: m for m in getattr(annotation, "__args__", ())}


def field_variants(field: Any) -> dict[str, type[BaseModel]]:
    """{tag: section} of a model field that holds a discriminated union ({} otherwise)."""
    disc = field.discriminator if isinstance(field.discriminator, str) else None
    return union_variants(field.annotation, disc) if disc else {}


def _walk(cls: Any, loc: tuple) -> tuple[list[str], Any]:
    """The user's key path (union tags dropped) and the section the last key sits in."""
    model: Any = cls
    path: list[str] = []
    parts = list(loc)
    variants = union_variants(cls)
    if variants and parts and str(parts[0]) in variants:  # a bare union: its tag comes first
        model = variants[str(parts.pop(0))]
    while parts:
        part = str(parts.pop(0))
        path.append(part)
        field = getattr(model, "model_fields", {}).get(part) if parts else None
        if field is None:
            break
        variants = field_variants(field)
        if variants and parts and str(parts[0]) in variants:
            model = variants[str(parts.pop(0))]
        else:
            model = field.annotation
    return path, model


def _explain(exc: ValidationError, cls: Any, where: str) -> str:
    err = exc.errors()[0]
    path, model = _walk(cls, err["loc"])
    loc = ".".join(path)
    if err["type"] == "union_tag_invalid":
        tags = list(err.get("ctx", {}).get("expected_tags", "").replace("'", "").split(", "))
        bad = str(err["ctx"]["tag"])
        kind = UNION_KINDS.get(path[-1], path[-1]) if path else "choice"
        return f"unknown {kind} {bad!r}{suggest(bad, tags)}; choose one of: {', '.join(sorted(tags))}"
    if err["type"] == "extra_forbidden":
        fields = list(getattr(model, "model_fields", {}))
        key = path[-1]
        return f"unknown config key {where + loc!r}{suggest(key, fields)}; allowed: {', '.join(fields)}"
    return f"bad config value {where}{loc}={err.get('input')!r}: {err['msg']}"


def validate(cls: Any, data: dict | None, where: str = "") -> Any:
    """Build a config section (or a union of sections), turning pydantic's report into one clear line."""
    try:
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls.model_validate(data or {})
        return TypeAdapter(cls).validate_python(data or {})
    except ValidationError as e:
        raise DistillnasError(_explain(e, cls, where)) from None
