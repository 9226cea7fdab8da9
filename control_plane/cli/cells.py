"""`tenantctl cells`: the AWS accounts tenants are placed in, their quotas and their use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from control_plane.cells.accounts import AccountVendingError
from control_plane.cells.quotas import QuotaReadError
from control_plane.cells.service import CellError, CellService, CellView
from control_plane.cli.context import JsonOption, out, print_json, registry
from control_plane.cli.environment import fail

cells_app = typer.Typer(
    name="cells",
    help="AWS accounts (cells) tenants are placed in by their measured service quotas.",
    no_args_is_help=True,
)

CellArgument = Annotated[str, typer.Argument(help="Cell name.")]
_CELL_ERRORS = (CellError, QuotaReadError, AccountVendingError)


def register(app: typer.Typer) -> None:
    app.add_typer(cells_app)


@contextmanager
def _cells() -> Iterator[CellService]:
    with registry() as (settings, database):
        try:
            yield CellService(database, settings)
        except _CELL_ERRORS as error:
            raise fail(str(error)) from None


@cells_app.command("add")
def add(
    name: CellArgument,
    *,
    account_id: Annotated[str, typer.Option(help="The cell's 12-digit AWS account id.")],
    role_arn: Annotated[str, typer.Option(help="Role the control plane assumes in the account.")],
    region: Annotated[list[str], typer.Option(help="A region the cell serves; repeatable.")],
    external_id: Annotated[
        str | None, typer.Option(help="sts:ExternalId the role's trust asks for.")
    ] = None,
    headroom: Annotated[
        int | None,
        typer.Option(
            help="Percent of each quota kept free [default: TENANTS_CELL_HEADROOM_PERCENT]."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a pooled cell: its quotas are read from the account through the role."""
    with _cells() as cells:
        view = cells.add(
            name,
            account_id=account_id,
            role_arn=role_arn,
            regions=region,
            external_id=external_id,
            headroom_percent=headroom,
        )
    _print_one(view, as_json, f"cell {view.name} added")


@cells_app.command("vend")
def vend(
    tenant: Annotated[str, typer.Argument(help="The enterprise tenant the account is for.")],
    *,
    email: Annotated[str, typer.Option(help="Root e-mail address of the new account.")],
    region: Annotated[str, typer.Option(help="The tenant's region.")],
    as_json: JsonOption = False,
) -> None:
    """Create a silo account through AWS Organizations and register it as a cell of one."""
    with _cells() as cells:
        view = cells.vend(tenant, email=email, region=region)
    _print_one(view, as_json, f"silo account {view.account_id} vended for {tenant}")


@cells_app.command("refresh")
def refresh(name: CellArgument, as_json: JsonOption = False) -> None:
    """Read the cell's quotas again (after AWS raised one)."""
    with _cells() as cells:
        view = cells.refresh(name)
    _print_one(view, as_json, f"quotas of {view.name} read again")


@cells_app.command("drain")
def drain(
    name: CellArgument,
    *,
    undo: Annotated[bool, typer.Option("--undo", help="Take new tenants again.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Place no new tenants in the cell; its tenants stay where they are."""
    with _cells() as cells:
        view = cells.drain(name, undo=undo)
    message = f"cell {view.name} takes new tenants again" if undo else f"cell {view.name} drained"
    _print_one(view, as_json, message)


@cells_app.command("show")
def show(name: CellArgument, as_json: JsonOption = False) -> None:
    """One cell: account, role, regions, tenants and use against each quota."""
    with _cells() as cells:
        view = cells.show(name)
    _print_one(view, as_json, None)


@cells_app.command("list")
def list_cells(as_json: JsonOption = False) -> None:
    """Every cell with its use against each quota."""
    with _cells() as cells:
        views = cells.cells()
    if as_json:
        print_json([_plain(v) for v in views])
        return
    if not views:
        out.print("no cells yet: tenants deploy with the ambient account; `tenantctl cells add`")
        return
    table = Table(title="cells")
    for column in ("cell", "kind", "account", "regions", "tenants", "status", "fullest quota"):
        table.add_column(column)
    for view in views:
        fullest = max(view.use, key=lambda u: u.ratio, default=None)
        table.add_row(
            view.name,
            view.kind,
            view.account_id,
            ", ".join(view.regions),
            str(len(view.tenants)),
            _status(view),
            f"{fullest.quota} {fullest.used}/{fullest.limit}" if fullest else "-",
        )
    out.print(table)
    out.print(_use_table(views))


def _status(view: CellView) -> str:
    if view.retained:
        return f"[yellow]retained[/] (silo of retired {escape(view.silo_tenant or '')})"
    if view.drained:
        return "[yellow]drained[/]"
    if view.full:
        return "[red]full[/]: " + ", ".join(sorted({u.quota for u in view.full}))
    return "[green]open[/]"


def _use_table(views: list[CellView]) -> Table:
    table = Table(title="use against quotas (limit = quota less headroom)")
    for column in ("cell", "scope", "quota", "used", "limit", "quota value"):
        table.add_column(column, justify="right" if column in ("used", "limit") else "left")
    for view in views:
        for use in view.use:
            colour = "red" if use.free <= 0 else "yellow" if use.ratio >= 0.8 else "green"
            table.add_row(
                view.name,
                use.scope,
                use.quota,
                f"[{colour}]{use.used}[/]",
                str(use.limit),
                f"{use.value:g} - {view.headroom_percent}%",
            )
    return table


def _print_one(view: CellView, as_json: bool, headline: str | None) -> None:
    if as_json:
        print_json(_plain(view))
        return
    if headline:
        out.print(f"[green]{escape(headline)}[/]")
    out.print(
        f"cell [bold]{view.name}[/] ({view.kind}), account {view.account_id}, "
        f"role {escape(view.role_arn)}" + (" with an external id" if view.external_id_set else "")
    )
    out.print(
        f"regions {', '.join(view.regions)}; headroom {view.headroom_percent}%; "
        f"status {_status(view)}; quotas read {view.quotas_read_at:%Y-%m-%d %H:%M} UTC"
    )
    out.print(f"tenants: {', '.join(view.tenants) or 'none'}")
    out.print(_use_table([view]))


def _plain(view: CellView) -> dict[str, Any]:
    return {
        "name": view.name,
        "kind": view.kind,
        "account_id": view.account_id,
        "role_arn": view.role_arn,
        "external_id_set": view.external_id_set,
        "regions": view.regions,
        "headroom_percent": view.headroom_percent,
        "drained": view.drained,
        "silo_tenant": view.silo_tenant,
        "retained": view.retained,
        "tenants": view.tenants,
        "quotas_read_at": view.quotas_read_at.isoformat(),
        "use": [
            {
                "quota": u.quota,
                "title": u.title,
                "scope": u.scope,
                "used": u.used,
                "limit": u.limit,
                "value": u.value,
            }
            for u in view.use
        ],
    }
