"""The run summary a Prefect user sees in the UI: a markdown and a table artifact."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from kgbuild.pipeline import BuildReport

__all__ = ["publish_report", "report_markdown"]

SUMMARY_KEY = "kgbuild-run-summary"
FAILURES_KEY = "kgbuild-run-failures"


def report_markdown(report: BuildReport, task_runner: str) -> str:
    """The report as a short markdown page."""
    rows = [
        ("documents", report.documents),
        ("processed (model work)", report.processed),
        ("unchanged, skipped", report.skipped),
        ("failed", report.failed),
        ("deleted", report.deleted),
        ("sentences", report.chunks),
        ("mentions", report.mentions),
        ("entities", report.entities),
        ("relations", report.relations),
        ("attribute values", report.attributes),
        ("surface forms merged", report.merges),
    ]
    lines = [
        f"# kgbuild run `{report.run_id}`",
        "",
        f"{report.seconds:.1f} s, model stages on the `{task_runner}` task runner.",
        "",
        "| | |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    lines += [f"- {name}: `{path}`" for name, path in report.outputs.items()]
    if report.neo4j:
        lines.append(f"- Neo4j: {report.neo4j}")
    return "\n".join(lines) + "\n"


def publish_report(report: BuildReport, task_runner: str) -> None:
    """Attach the summary and the failed documents to the current flow run.

    The failures table is published even when empty: the latest version of its key (what
    Prefect shows for the key) is then always the latest run's, never an earlier run's.
    """
    create_markdown_artifact(
        markdown=report_markdown(report, task_runner),
        key=SUMMARY_KEY,
        description=f"kgbuild run {report.run_id}",
    )
    create_table_artifact(
        table=[{"source": f.source, "stage": f.stage, "error": f.error} for f in report.failures],
        key=FAILURES_KEY,
        description=(
            f"documents that failed in run {report.run_id}"
            if report.failures
            else f"no document failed in run {report.run_id}"
        ),
    )
