"""The ``lrat`` command line: one subcommand per pipeline stage, each a thin shell over a plain function.

Heavy libraries (torch, mlflow, bentoml) are imported inside the commands that need them, so ``lrat --help``
starts fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

import lrat  # (applies the telemetry switches before anything else is imported)
from lrat.cli_errors import usage_errors


class _Commands(TyperGroup):
    """The root command group: a usage error that escapes a command (a bad params file read outside the command's
    own block, say) still ends as one ``Error:`` line and exit 2, never a traceback. Here rather than in
    ``main()`` so the ``lrat`` script (``lrat.cli:app``) and test runners get it too."""

    def invoke(self, ctx: click.Context) -> Any:
        with usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="LRAT: learn a better retriever from the trajectories your search agents already write.\n\n"
    "Each subcommand is one stage of the DVC pipeline (dvc.yaml); `dvc repro` runs them in order.",
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(lrat.__version__)
        raise typer.Exit()


from lrat.agent.command import agent_command  # noqa: E402  (light: heavy imports live inside)
from lrat.analyze.command import analyze_command  # noqa: E402
from lrat.evaluation.command import evaluate_command  # noqa: E402
from lrat.experiments.command import experiment_app  # noqa: E402
from lrat.flywheel.command import flywheel_command  # noqa: E402
from lrat.ingest.command import ingest_command  # noqa: E402
from lrat.mining.command import expand_labels_command, mine_command  # noqa: E402
from lrat.registry.command import promote_command, register_command  # noqa: E402
from lrat.registry.comment import pr_comment_command  # noqa: E402
from lrat.serving.command import bento_command, index_command, serve_command  # noqa: E402
from lrat.simulate.command import simulate_app  # noqa: E402
from lrat.split.command import split_command  # noqa: E402
from lrat.training.command import ablation_command, train_command  # noqa: E402
from lrat.validation.command import validate_command  # noqa: E402

app.command("ingest")(ingest_command)
app.add_typer(simulate_app, name="simulate")
app.command("analyze")(analyze_command)
app.command("split")(split_command)
app.command("mine")(mine_command)
app.command("expand-labels")(expand_labels_command)
app.command("validate")(validate_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("ablation")(ablation_command)
app.command("register")(register_command)
app.command("promote")(promote_command)
app.command("pr-comment")(pr_comment_command)
app.command("index")(index_command)
app.command("bento")(bento_command)
app.command("serve")(serve_command)
app.command("agent")(agent_command)
app.command("flywheel")(flywheel_command)
app.add_typer(experiment_app, name="experiment")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
