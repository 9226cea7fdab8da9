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
