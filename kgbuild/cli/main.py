"""The ``kgbuild`` command line: build, export, train, evaluate."""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kgbuild.cli.ask import ask, serve
from kgbuild.cli.errors import fail, interrupted
from kgbuild.cli.evaluate import evaluate_app
from kgbuild.cli.neo4j import cypher, local_uri_if_running, neo4j_app
from kgbuild.cli.pipes import Commands
from kgbuild.cli.schedule import schedule
from kgbuild.cli.train import train_app
from kgbuild.errors import KGBuildError
from kgbuild.interrupts import sigterm_raises

if TYPE_CHECKING:
    from kgbuild.config import Settings
    from kgbuild.pipeline import BuildReport

app = typer.Typer(
    name="kgbuild",
    help="Build a knowledge graph from documents: NER, entity resolution, graph export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=Commands,
)
app.add_typer(train_app, name="train")
app.add_typer(neo4j_app, name="neo4j")
app.command()(cypher)
app.command()(schedule)
app.add_typer(evaluate_app, name="evaluate")
app.command()(ask)
app.command()(serve)

log = logging.getLogger("kgbuild")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file (env: KGBUILD_CONFIG). "
        "KGBUILD_* environment variables override it, e.g. KGBUILD_NER__BATCH_SIZE=64.",
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output folder (graph files and run ledger).")
]


class Engine(StrEnum):
    """How ``kgbuild build`` runs the pipeline."""

    local = "local"
    prefect = "prefect"


def _setup_logging(level: int) -> None:
    """Log on stderr from ``level`` up (every command's format)."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger().setLevel(level)
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging, for any command.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Warnings and errors only (and no progress bars), for any command.",
        ),
    ] = False,
) -> None:
    """Options of every command, given before it: ``kgbuild -q build docs/``."""
    if verbose and quiet:
        raise typer.BadParameter("give --verbose or --quiet, not both")
    if quiet:  # Prefect's loggers (build --engine prefect, schedule) have their own level
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    _setup_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def _settings(
    config: Path | None, out: Path | None, model: str | None = None, neo4j: str | None = None
) -> Settings:
    from kgbuild.config import load_settings

    overrides: dict[str, object] = {}
    if out is not None:
        overrides["out_dir"] = out
    settings = load_settings(config or _env_config(), **overrides)
    if model is not None:
        ner = settings.ner.model_copy(update={"model": model})
        settings = settings.model_copy(update={"ner": ner})
    if neo4j == "auto":
        neo4j = settings.neo4j.uri or local_uri_if_running()
        if neo4j is None:
            log.info(
                "no Neo4j configured or running: writing files only "
                "(start one with `kgbuild neo4j start`)"
            )
    if neo4j:
        settings = settings.model_copy(update={"neo4j": settings.neo4j.with_uri(neo4j)})
    return settings


def _env_config() -> Path | None:
    value = os.environ.get("KGBUILD_CONFIG")
    return Path(value) if value else None


@app.command()
def build(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Folders, files or globs of documents: .txt .md .jsonl .pdf .html .htm .docx."
        ),
    ],
    config: ConfigOption = None,
    out: OutOption = None,
    model: Annotated[str | None, typer.Option(help="NER model: local folder or hub id.")] = None,
    neo4j: Annotated[
        str | None,
        typer.Option(
            help="Persist to this Bolt URI ('auto': the configured one or the running "
            "`kgbuild neo4j` server, else files only). Default: config / NEO4J_URI."
        ),
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="local: in this process; prefect: as a Prefect flow.")
    ] = Engine.local,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging (as `kgbuild -v build`).")
    ] = False,
) -> None:
    """Build the graph from documents (unchanged documents are skipped), then export it.

    Exit status: 0 every document built; 1 some documents failed (the summary lists
    them); 2 nothing usable (no input, or every input failed) or an error stopped the
    run (configuration, input path, another build holding --out, Neo4j down);
    130/143 interrupted by SIGINT/SIGTERM (the run is recorded as interrupted).

    Examples:
    kgbuild build examples/corpus --out out/demo
    kgbuild build 'notes/**/*.md' docs.jsonl --out out/x --neo4j auto
    kgbuild build examples/corpus --out out/demo --engine prefect
    """
    if verbose:
        _setup_logging(logging.DEBUG)
    progress = progress and logging.getLogger().isEnabledFor(logging.INFO)  # not with -q
    try:
        settings = _settings(config, out, model, neo4j)
        if engine is Engine.prefect:
            from kgbuild_flows import configure_environment

            configure_environment()  # before the flow module imports prefect
            from kgbuild_flows.build_kg import run_build_flow

            report = run_build_flow([str(path) for path in paths], settings, progress=progress)
        else:
            from kgbuild.pipeline import build as run_build

            report = run_build(paths, settings, progress=progress)
    except KGBuildError as exc:
        raise fail(exc) from exc
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (kgbuild.interrupts.Terminated)
        raise interrupted(
            exc, "the run is recorded as interrupted; build again to complete it"
        ) from exc
    typer.echo(report.summary())
    code, reason = build_exit_code(report)
    if code:
        typer.secho(f"exit {code}: {reason}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=code)


def build_exit_code(report: BuildReport) -> tuple[int, str]:
    """The exit status of a finished build and why: 0 all good, 1 some failed, 2 nothing usable."""
    usable = report.processed + report.skipped
    failed = len(report.failures)
    if usable == 0 and failed == 0:
        return 2, "no input documents: nothing was built"
    if usable == 0:
        return 2, f"nothing usable: every input failed ({failed} of {failed})"
    if failed:
        return 1, f"{failed} of {usable + failed} inputs failed (listed above)"
    return 0, ""


@app.command()
def export(
    config: ConfigOption = None,
    out: OutOption = None,
) -> None:
    """Re-export the last built graph (GraphML, node-link JSON, HTML, sentences) from the ledger.

    Runs no model: it resolves the stored mentions of every current document and writes
    every file, even where ``kgbuild build`` would keep one as unchanged. Exit
    status: 0 written; 2 no ledger, a ledger with no built document, or --out in use by
    a build; 130/143 interrupted by SIGINT/SIGTERM (each file is then the new one or
    the last one, whole).

    Examples:
    kgbuild export --out out/demo
    """
    try:
        with sigterm_raises():
            written = _export(config, out)
    except KGBuildError as exc:
        raise fail(exc) from exc
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (kgbuild.interrupts.Terminated)
        raise interrupted(
            exc, "each graph file is the new one or the last one, whole; export again"
        ) from exc
    for name, path in written.items():
        typer.echo(f"{name}: {path}")


def _export(config: Path | None, out: Path | None) -> dict[str, Path]:
    """Assemble the graph from the ledger of ``out`` and write every file (see ``export``)."""
    from kgbuild.config import url_without_password
    from kgbuild.pipeline import assemble
    from kgbuild.pipeline import export as write_outputs
    from kgbuild.runlock import output_lock
    from kgbuild.schema import read_schema_text
    from kgbuild.store.sql.orm import make_engine

    settings = _settings(config, out)
    ledger_url = settings.resolved_ledger_url()
    if (
        ledger_url.startswith("sqlite:///")
        and not Path(ledger_url.removeprefix("sqlite:///")).exists()
    ):
        raise KGBuildError(f"no run ledger at {ledger_url}: run `kgbuild build` first")
    with output_lock(settings.out_dir, purpose="export"):
        engine = make_engine(ledger_url)
        try:
            assembled = assemble(settings, engine)
            if not assembled.results:
                shown = url_without_password(ledger_url) or "(URL not shown)"
                raise KGBuildError(
                    f"the ledger {shown} holds no successfully built document: nothing to export"
                )
            written = write_outputs(
                assembled.graph,
                settings.out_dir,
                force=True,
                html_pages=settings.graph.html_pages,
                results=assembled.results,
                schema=read_schema_text(settings.schema_path),
            )
        finally:
            engine.dispose()
    return written


if __name__ == "__main__":  # pragma: no cover
    app()
