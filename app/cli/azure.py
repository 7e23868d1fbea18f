"""``ai-trader azure verify|deploy``: check a deployment the way the runbook does; deploy infra/."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import typer
from rich.table import Table

from app.cli.common import console, exit_on_error, settings_or_exit

__all__ = ["azure_app"]

azure_app = typer.Typer(help="Deploy infra/ and verify an Azure deployment.", no_args_is_help=True)

_PARAMETERS_HELP = "Parameter file of the environment (infra/env/<env>.parameters.json)."


@azure_app.command("verify")
def verify_command(
    subscription: str = typer.Option(..., envvar="AZURE_SUBSCRIPTION_ID", help="Subscription id."),
    resource_group: str = typer.Option("ai-trader-rg", help="Resource group."),
    parameters: Path = typer.Option(Path("infra/env/prod.parameters.json"), help=_PARAMETERS_HELP),
    report: Path = typer.Option(Path("artifacts/ops/azure_verify.json"), help="JSON report path."),
    arm_url: str = typer.Option("https://management.azure.com", help="Azure Resource Manager endpoint."),
    public_url: str | None = typer.Option(None, help="Call the smoke routes here instead of the FD host."),
    ca_file: Path | None = typer.Option(None, help="CA bundle for ARM and the smoke routes."),
    credential: str = typer.Option(
        "auto",
        help="auto (Azure CLI when LOCAL_DEV=1, else DefaultAzureCredential), cli, default, or "
        "loopback (a placeholder token, only for an --arm-url on this machine).",
    ),
) -> None:
    """Hubs, Front Door, access restrictions, role assignments and smoke routes; exit 1 on a failure."""
    from app.azure_ops.credentials import make_credential
    from app.azure_ops.verify import AzureNames, verify, write_report
    from app.bus.topology import topology

    settings = settings_or_exit()
    with exit_on_error():
        names = AzureNames.from_parameters(parameters, subscription, resource_group)
        tls: bool | str = str(ca_file) if ca_file is not None else True
        checks = verify(
            names,
            topology(settings),
            make_credential(credential, arm_url=arm_url, local_dev=settings.LOCAL_DEV),
            arm_base_url=arm_url,
            connection_verify=tls,
            public_base_url=public_url,
            http_verify=tls,
        )
    table = Table(title=f"azure verify: {resource_group}")
    for column in ("step", "target", "result"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        result = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(check.step, check.target, result, check.detail)
    console.print(table)
    write_report(checks, report)
    failed = sum(not c.ok for c in checks)
    console.print(f"{len(checks) - failed}/{len(checks)} checks passed; report {report}")
    if failed:
        raise typer.Exit(1)


@azure_app.command("deploy")
def deploy_command(
    resource_group: str = typer.Option("ai-trader-rg", help="Resource group (must exist)."),
    parameters: Path = typer.Option(Path("infra/env/prod.parameters.json"), help=_PARAMETERS_HELP),
    image_tag: str = typer.Option(..., help="Tag of the image to build, push and run."),
    secret_expiry_days: int = typer.Option(365, min=30, max=730, help="Key Vault secrets expire after this."),
    execute: bool = typer.Option(False, "--execute", help="Run the commands (default: print them)."),
) -> None:
    """Print (or run with --execute) the deployment sequence: build, push, deploy, restart."""
    from app.azure_ops.deploy import deployment_commands

    with exit_on_error():
        values = json.loads(parameters.read_text())["parameters"]
        registry = values["registryName"]["value"]
        commands = deployment_commands(
            resource_group=resource_group,
            parameters=parameters,
            registry=registry,
            image_tag=image_tag,
            api_app=values["apiAppName"]["value"],
            ui_app=values["uiAppName"]["value"],
            secret_expiry_days=secret_expiry_days,
        )
    for step in commands:
        console.print(f"[bold]# {step.why}[/bold]")
        typer.echo(step.shell)
        if execute:
            done = subprocess.run(["bash", "-c", step.shell], check=False)
            if done.returncode != 0:
                console.print(f"[red]step failed ({done.returncode}):[/red] {shlex.quote(step.why)}")
                raise typer.Exit(1)
