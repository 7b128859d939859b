"""``pocket-mirror emulate``: serve the bundled emulator of the Pocket API."""

from __future__ import annotations

import click

from mirror.emulator import Behaviour, serve


@click.command("emulate")
@click.option(
    "--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1."
)
@click.option(
    "--recordings",
    type=int,
    default=500,
    show_default=True,
    help="Recordings to generate.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Seed of the data."
)
@click.option(
    "--org-id", default="org_demo", show_default=True, help="Organization id."
)
@click.option(
    "--token", default="pk_emulator_token", show_default=True, help="Token it accepts."
)
@click.option("--latency-ms", type=float, default=0.0, help="Delay before each answer.")
def command(
    port: int, recordings: int, seed: int, org_id: str, token: str, latency_ms: float
) -> None:
    """Serve an emulator of the Pocket API on 127.0.0.1 until interrupted.

    Point api.base_url at it (plain http is accepted for loopback hosts) and
    put its token in the environment variable named by api.token_env.
    """
    click.echo(f"serving org {org_id} with {recordings} recordings on 127.0.0.1:{port}")
    click.echo("stop with Ctrl-C")
    serve(
        port=port,
        recordings=recordings,
        seed=seed,
        behaviour=Behaviour(latency_ms=latency_ms),
        token=token,
        org_id=org_id,
    )
