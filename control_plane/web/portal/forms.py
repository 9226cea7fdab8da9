"""Form posts checked by the API's own request schemas, so a page accepts exactly what the
API accepts; a refusal is a list of messages naming the field, shown beside the form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Form
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

FormText = Annotated[str, Form(max_length=512)]
"""A form field; the schema that reads it sets the real limit."""
OptionalText = Annotated[str, Form(max_length=512)]


def field_errors(error: ValidationError) -> list[str]:
    """One line per offending field: `field: what is wrong`."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "form"
        lines.append(f"{where}: {item['msg']}")
    return lines


def parse(model: type[M], data: Mapping[str, Any]) -> tuple[M | None, list[str]]:
    """`model` from the form's fields (empty optional fields left out), or the errors."""
    values = {k: v for k, v in data.items() if v not in ("", None)}
    try:
        return model.model_validate(values), []
    except ValidationError as error:
        return None, field_errors(error)


MAX_LINES = 50
"""Most lines a form's list field (one item a line) takes."""


class FormError(ValueError):
    """Every field or line of a form that does not parse, one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def lines(value: str, field: str, problems: list[str]) -> list[tuple[int, str]]:
    """The non-blank lines of a list field with their numbers (a problem past `MAX_LINES`)."""
    found = [(n, line.strip()) for n, line in enumerate(value.splitlines(), 1) if line.strip()]
    if len(found) > MAX_LINES:
        problems.append(f"{field}: at most {MAX_LINES} lines (got {len(found)})")
        return []
    return found


def number(value: str, field: str, problems: list[str], kind: type[int | float] = int) -> Any:
    """The number in a field, `None` when blank (the default), or a problem naming it."""
    text = value.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        problems.append(f"{field}: {text[:20]!r} is not {noun}")
        return None
