"""The add-ons page: each add-on the tenant's plan allows enabled, changed or removed with
all of its fields, through the same preview-then-confirm flow as the settings."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.web.portal import addons_form
from control_plane.web.portal.spec_forms import SpecForm, add_spec_form

router = APIRouter(include_in_schema=False)

add_spec_form(
    router,
    SpecForm(
        section="addons",
        title="the add-ons",
        template="addons.html",
        reason="add-ons changed in the portal",
        fields=addons_form.FIELDS,
        form_values=addons_form.form_values,
        to_patch=addons_form.to_patch,
        page_values=addons_form.page_values,
    ),
)
