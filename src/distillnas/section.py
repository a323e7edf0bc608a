"""The base of every config section and the one place pydantic's errors become one line.

Components define their own sections beside their code (strategies/ppo.py holds PPOConfig);
`config.py` only assembles the top-level run config from them.
"""
from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .errors import DistillnasError, suggest

M = TypeVar("M", bound=BaseModel)


# Bounds shared by every section that has the setting: each count and size a config holds is
# bounded, so a typo (an extra zero, 1e308) is refused before any work instead of starting a
# run that cannot finish or an allocation that cannot succeed.
MAX_EPOCHS = 10_000
MAX_VIEWS = 64  # teacher_views: K cached views per example (the cache grows with K)
MAX_SEEDS = 1000


def _numeric(annotation: Any) -> bool:
    """int or float (alone or optional), not bool: a setting that counts or measures."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_numeric(a) for a in args)
    return annotation in (int, float)


def _switch(annotation: Any) -> bool:
    """An `auto | on | off` setting (a Literal holding "on" and "off", and no booleans)."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
    return {"on", "off"} <= set(args)


class Section(BaseModel):
    """Base of every config section: unknown keys, inf and NaN are refused (a non-finite lr,
    target or epoch count can only produce garbage or a crash later), and so is true/false
    where a number is expected (pydantic would read `trials: true` as 1 trial)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if isinstance(value, bool) and field is not None and _numeric(field.annotation):
                    raise PydanticCustomError("not_a_number", "expected a number, not {value}",
                                              {"key": key, "value": str(value).lower()})
            switches = {k: ("on" if v else "off") for k, v in data.items() if isinstance(v, bool)
                        and isinstance(k, str) and k in cls.model_fields and _switch(cls.model_fields[k].annotation)}
            if switches:  # YAML 1.1 reads a bare on / off as true / false
                data = {**data, **switches}
        return data


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
    if err["type"] == "not_a_number":
        key = ".".join([*path, err["ctx"]["key"]])
        return f"bad config value {where}{key}={err['ctx']['value']}: expected a number, not {err['ctx']['value']}"
    shown = repr(err.get("input"))
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    return f"bad config value {where}{loc}={shown}: {err['msg']}"


def validate(cls: Any, data: dict | None, where: str = "") -> Any:
    """Build a config section (or a union of sections), turning pydantic's report into one clear line."""
    try:
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls.model_validate(data or {})
        return TypeAdapter(cls).validate_python(data or {})
    except ValidationError as e:
        raise DistillnasError(_explain(e, cls, where)) from None


_ABSENT = object()


def setting_differences(recorded: Any, current: Any, defaults: Any = _ABSENT, prefix: str = "") -> list[str]:
    """The dotted keys at which a run recorded with the settings `recorded` (plain data) is not
    the run the settings `current` ask for. A setting the record lacks is no difference when
    `current` holds its default (`defaults`, the same shape, `_ABSENT` where none is declared):
    it was added to distillnas after the record was written, and the code that wrote it behaved
    as the default does - so upgrading never retrains a finished teacher, discards a resumable
    state or strands a search. A setting the record has that `current` lacks (since removed)
    is a difference: the runs are not provably the same."""
    if not (isinstance(recorded, dict) and isinstance(current, dict)):
        return [] if recorded == current else [prefix.rstrip(".")]
    known = defaults if isinstance(defaults, dict) else {}
    out = [f"{prefix}{k}" for k in recorded if k not in current]
    for k, v in current.items():
        d = known.get(k, _ABSENT)
        if k not in recorded and isinstance(v, dict) and isinstance(d, dict):
            out += setting_differences({}, v, d, f"{prefix}{k}.")  # a whole section added: leaf by leaf
        elif k not in recorded:
            if d is _ABSENT or v != d:
                out.append(f"{prefix}{k}")
        else:
            out += setting_differences(recorded[k], v, d, f"{prefix}{k}.")
    return sorted(out)


def settings_match(recorded: Any, current: Any, defaults: Any = _ABSENT) -> bool:
    """Whether `recorded` and `current` are the same run (`setting_differences` is empty)."""
    return not setting_differences(recorded, current, defaults)


def with_defaults(recorded: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """`recorded` (a section's plain data) with every setting it lacks at its declared default
    (`declared_defaults`'s shape; one without a default stays absent): how a record written
    before a setting existed compares with one written after, when that setting is at its
    default (`setting_differences` reads a record the same way)."""
    out = dict(recorded)
    for k, d in defaults.items():
        if k not in out:
            if d is not _ABSENT:
                out[k] = d
        elif isinstance(out[k], dict) and isinstance(d, dict):
            out[k] = with_defaults(out[k], d)
    return out


def declared_defaults(model: BaseModel) -> dict[str, Any]:
    """The declared default of every field of a config instance, the same shape as its
    `model_dump()`: nested sections recurse into the section actually chosen (a union's
    member), a required field has none (`_ABSENT`)."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = declared_defaults(value)
        elif field.is_required():
            out[name] = _ABSENT
        else:
            default = field.get_default(call_default_factory=True)
            out[name] = default.model_dump() if isinstance(default, BaseModel) else default
    return out


def _legacy(field: Any) -> Any:
    """The value a field's `legacy` marker declares (`_ABSENT` where it has none). A setting added
    with a default other than the behaviour it replaced declares that behaviour,
    `Field(new, json_schema_extra={"legacy": old})`: a record written before the setting existed
    ran as `old` (`runconfig.read_recorded`)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get("legacy", _ABSENT)


def unset_legacy_settings(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """{dotted key: legacy value} of every field of a config instance that declares one (`_legacy`)
    and was not given (pydantic's `model_fields_set`): in a record, the settings it predates; in
    a config to run, those left to their default."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.update(unset_legacy_settings(value, f"{prefix}{name}."))
        elif _legacy(field) is not _ABSENT and name not in model.model_fields_set:
            out[f"{prefix}{name}"] = _legacy(field)
    return out
