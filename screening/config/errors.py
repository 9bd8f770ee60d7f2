"""Turn pydantic validation errors into one-line messages a scientist can act on."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A run config that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, source: str | Path, problems: list[str]):
        self.source = str(source)
        self.problems = problems
        super().__init__("\n".join(f"{self.source}: {p}" for p in problems))


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """Follow ``loc`` through nested pydantic models; None where it leaves them."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _nested_model(field.annotation)
    return current


def _nested_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def describe_validation_error(model: type[BaseModel], error: ValidationError) -> list[str]:
    """One line per problem: dotted key path, what is wrong, and a suggestion."""
    lines = []
    for err in error.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            known = list(parent.model_fields) if parent is not None else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            lines.append(f"{dotted}: unknown key; {hint}")
        elif err["type"] == "missing":
            lines.append(f"{dotted}: required key is missing")
        else:
            value = err.get("input")
            shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
            lines.append(f"{dotted or '<top level>'}: {err['msg']}{shown}")
    return lines
