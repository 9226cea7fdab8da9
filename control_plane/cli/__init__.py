"""`tenantctl`: the operator's command line.

Each command group lives in its own module and registers itself on the app.
"""

from __future__ import annotations

import typer

from control_plane.cli import (
    billing,
    check,
    demo,
    invoices,
    mail,
    ops,
    plan,
    sandbox,
    serve,
    tenants,
    users,
)

app = typer.Typer(
    name="tenantctl",
    help="Provision, check, scale, bill and retire per-tenant AWS service bundles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Provision, check, scale, bill and retire per-tenant AWS service bundles."""


for module in (demo, plan, check, tenants, ops, billing, invoices, sandbox):
    module.register(app)
for module in (serve, users, mail):
    module.register(app)


def main() -> None:
    app()
