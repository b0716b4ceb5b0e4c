"""``kgbuild evaluate ner|re|qa|pipeline``: standard scores, printed and written as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kgbuild.cli.encoding import EncodingOption
from kgbuild.cli.errors import fail
from kgbuild.cli.label_map import LabelMapOption, parse_label_map
from kgbuild.cli.pipes import Commands
from kgbuild.errors import InputError, KGBuildError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kgbuild.training.metrics import PRF

__all__ = ["evaluate_app"]

evaluate_app = typer.Typer(
    help="Score models on annotated data (NER, relations, QA, NER+RE end to end).",
    no_args_is_help=True,
    cls=Commands,
)

ModelOption = Annotated[
    str,
    typer.Option(help="Model: a folder, 'pypi:...', a Hub id, or 'default' for the shipped one."),
]
DeviceOption = Annotated[
    str | None, typer.Option(help="'cpu', 'cuda'... (default: CUDA when available).")
]
JsonOption = Annotated[
    Path | None,
    typer.Option(
        "--json-out", help="Write the scores here as JSON (default: out/eval/<task>-<data>.json)."
    ),
]


def _target(task: str, data: Path, json_out: Path | None) -> Path:
    """Where the scores go, checked before any model runs.

    Raises:
        InputError: the target is a folder, or lies under a file.
    """
    target = json_out or Path("out") / "eval" / f"{task}-{data.stem}.json"
    if target.is_dir():
        raise InputError(
            f"--json-out {target} is a folder: name a file, e.g. {target / f'{task}.json'}"
        )
    folder = next((p for p in target.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise InputError(f"cannot write the scores to {target}: {folder} is not a folder")
    return target


def _write(target: Path, payload: Mapping[str, Any]) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail(InputError(f"cannot write the scores to {target}: {exc}")) from exc
    return target


def _prf_lines(title: str, micro: PRF, per_type: Mapping[str, PRF]) -> None:
    typer.echo(
        f"{title}: P/R/F1 {100 * micro.precision:.2f}/{100 * micro.recall:.2f}/"
        f"{100 * micro.f1:.2f} ({micro.support} gold, {micro.predicted} predicted)"
    )
    for name, prf in per_type.items():
        typer.echo(
            f"  {name}: P {100 * prf.precision:.2f} R {100 * prf.recall:.2f} "
            f"F1 {100 * prf.f1:.2f} ({prf.support} gold)"
        )


def _model(task: str, ref: str) -> str:
    from kgbuild.models import resolve_task_model

    return resolve_task_model(task, ref)


@evaluate_app.command("ner")
def ner(
    model: ModelOption,
    data: Annotated[
        str,
        typer.Option(
            help="Tagged data to score: a file in --format, or FORMAT:PATH[@FIRST:END] "
            "(e.g. docred:dev_revised.json@0:100)."
        ),
    ],
    data_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="conll, wnut17, docred (typed mention F1 over all gold mentions), bmes, "
            "weibo, spans or conll04.",
        ),
    ] = "conll",
    docs: Annotated[
        str | None,
        typer.Option(help="Score only these documents, FIRST:END (end exclusive), e.g. 0:100."),
    ] = None,
    types: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated entity types to score (default: those the data annotates; "
            "predictions of other types are left out)."
        ),
    ] = None,
    context_margin: Annotated[
        int | None,
        typer.Option(
            help="For a model trained with context: sub-tokens of context read at least on "
            "each side of the sentences a window labels, as ner.context_margin (default: "
            "the config default); half the window or more reads one sentence per window."
        ),
    ] = None,
    label_map: LabelMapOption = None,
    device: DeviceOption = None,
    json_out: JsonOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Entity-level micro and per-type P/R/F1 (exact typed spans, conlleval) of a NER model.

    Sentences of one document are read together when the model was trained with context.

    Examples:
    kgbuild evaluate ner --model default --data valid.txt --json-out s.json
    """
    from kgbuild.readers.ner_sources import parse_source
    from kgbuild.training.ner import evaluate_ner

    if docs is not None and not re.fullmatch(r"\d*:\d*", docs.strip()):
        raise typer.BadParameter(f"--docs {docs!r} is not FIRST:END (e.g. 0:100)")
    try:
        source = parse_source(data + (f"@{docs.strip()}" if docs else ""), data_format, encoding)
        target = _target("ner", source.path, json_out)
        scores = evaluate_ner(
            _model("ner", model),
            source,
            device=device,
            types=[t.strip() for t in types.split(",") if t.strip()] if types else None,
            context_margin=context_margin,
            label_map=parse_label_map(label_map),
        )
    except KGBuildError as exc:
        raise fail(exc) from exc
    _prf_lines("entities", scores.micro, scores.per_type)
    payload = {
        "task": "ner",
        "model": model,
        "data": str(source),
        "types": types,
        "context_margin": context_margin,
        "label_map": parse_label_map(label_map),
        **scores.model_dump(),
    }
    typer.echo(f"scores: {_write(target, payload)}")


@evaluate_app.command("re")
def re_command(
    model: ModelOption,
    data: Annotated[Path, typer.Option(help="CoNLL04 JSON file with gold entities and relations.")],
    device: DeviceOption = None,
    batch_size: Annotated[int, typer.Option(help="Candidate pairs per forward pass.")] = 32,
    json_out: JsonOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Strict relation P/R/F1 (micro and per type) of a relation model on gold entities.

    For the score from predicted entities (NER then RE), use `kgbuild evaluate pipeline`.

    Examples:
    kgbuild evaluate re --model default --data valid.CoNLL04.json
    """
    from kgbuild.training.re import evaluate_re

    try:
        target = _target("re", data, json_out)
        scores = evaluate_re(
            _model("re", model), data, device=device, batch_size=batch_size, encoding=encoding
        )
    except KGBuildError as exc:
        raise fail(exc) from exc
    _prf_lines("strict relations, gold entities", scores.micro, scores.per_type)
    payload = {"task": "re", "model": model, "data": str(data), **scores.model_dump()}
    typer.echo(f"scores: {_write(target, payload)}")


@evaluate_app.command("qa")
def qa(
    model: ModelOption,
    data: Annotated[Path, typer.Option(help="SQuAD v1.1 JSON (also CMRC 2018, DRCD).")],
    held_out_articles: Annotated[
        int,
        typer.Option(
            help="Score only the N articles that `kgbuild train qa --dev-articles N` held "
            "back from this file (same --seed); 0 scores every question."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the article split.")] = 42,
    sentence_prior: Annotated[
        bool,
        typer.Option(
            help="Read with the sentence prior the model declares (if any); "
            "--no-sentence-prior scores the reader alone."
        ),
    ] = True,
    abstain: Annotated[
        bool,
        typer.Option(
            help="Abstain as the model's no-answer calibration says (a model trained with "
            "--negatives); --no-abstain always answers with the best span."
        ),
    ] = True,
    min_confidence: Annotated[
        float | None,
        typer.Option(help="Operating point of the no-answer calibration (default: the model's)."),
    ] = None,
    unanswerable: Annotated[
        bool,
        typer.Option(
            help="Also score unanswerable questions generated from the scored articles (each "
            "question over another paragraph of its article without the answer): the "
            "percent answered 'no answer'."
        ),
    ] = True,
    device: DeviceOption = None,
    json_out: JsonOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """SQuAD exact match and F1 (official normalisation) of an extractive QA model.

    Unanswerable questions of the file (empty answers) are scored apart from answerable ones.
    Questions whose answers are not where answer_start says are left out, and counted by
    reason in the output and the JSON; an answer whose text occurs once in the context is
    moved there instead.

    Examples:
    kgbuild evaluate qa --model default --data dev.json --held-out-articles 4
    """
    from kgbuild.nlp.reader import ExtractiveReader
    from kgbuild.readers.squad import load_squad
    from kgbuild.training.qa import evaluate_qa, split_by_article
    from kgbuild.training.qa_negatives import held_out_unanswerable_reported, no_answer_rate

    try:
        target = _target("qa", data, json_out)
        read = load_squad(data, strict=False, encoding=encoding)
        examples = list(read.examples)
        read.report.require_some(len(examples), f"questions to score in {data}")
        if held_out_articles:
            _, examples = split_by_article(examples, held_out_articles, seed)
        if not examples:
            raise InputError(f"no questions to score in {data}")
        answerable = [e for e in examples if e.answers]
        if read.report.skipped:
            read.report.require_some(len(answerable), "answerable questions to score")
        impossible = [e for e in examples if not e.answers]
        reports = [read.report]
        if unanswerable:
            made, shortfall = held_out_unanswerable_reported(answerable, seed)
            impossible += made
            reports.append(shortfall)
        reference = _model("qa", model)
        scores, _ = evaluate_qa(
            reference,
            answerable,
            device=device,
            sentence_prior=sentence_prior,
            abstain=abstain,
            min_confidence=min_confidence,
        )
        reader = ExtractiveReader(
            reference,
            device=device,
            sentence_prior=sentence_prior,
            abstain=abstain,
            min_confidence=min_confidence,
        )
        rate = no_answer_rate(reader, impossible) if impossible else None
    except KGBuildError as exc:
        raise fail(exc) from exc
    for line in (line for report in reports for line in report.lines()):
        typer.echo(line)
    typer.echo(
        f"answerable: exact match {scores.exact_match:.2f}, F1 {scores.f1:.2f} "
        f"({scores.questions} questions, {scores.answered} answered)"
    )
    if rate is not None:
        typer.echo(f"unanswerable: {rate:.2f}% answered 'no answer' ({len(impossible)} questions)")
    if not reader.abstains:
        typer.echo("(the model has no no-answer calibration, or --no-abstain: it never abstains)")
    payload = {
        "task": "qa",
        "model": model,
        "data": str(data),
        "held_out_articles": held_out_articles,
        "sentence_prior": sentence_prior,
        "abstains": reader.abstains,
        "min_confidence": min_confidence,
        **scores.model_dump(),
        "unanswerable": {"questions": len(impossible), "no_answer_percent": rate},
        "skipped": [report.to_json() for report in reports],
    }
    typer.echo(f"scores: {_write(target, payload)}")


@evaluate_app.command("pipeline")
def pipeline(
    data: Annotated[Path, typer.Option(help="CoNLL04 JSON file with gold entities and relations.")],
    ner_model: Annotated[str, typer.Option(help="NER model ('default': the shipped one).")] = (
        "default"
    ),
    re_model: Annotated[
        str, typer.Option(help="Relation model ('default': the shipped one).")
    ] = "default",
    device: DeviceOption = None,
    batch_size: Annotated[int, typer.Option(help="Items per forward pass.")] = 32,
    json_out: JsonOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """NER then relation extraction over predicted entities: strict relation F1 end to end.

    Examples:
    kgbuild evaluate pipeline --data valid.CoNLL04.json
    """
    from kgbuild.training.pipeline_eval import evaluate_pipeline

    try:
        target = _target("pipeline", data, json_out)
        scores = evaluate_pipeline(
            _model("ner", ner_model),
            _model("re", re_model),
            data,
            device=device,
            batch_size=batch_size,
            encoding=encoding,
        )
    except KGBuildError as exc:
        raise fail(exc) from exc
    _prf_lines("entities (NER)", scores.entities.micro, scores.entities.per_type)
    _prf_lines(
        "strict relations, end to end",
        scores.relations_end_to_end.micro,
        scores.relations_end_to_end.per_type,
    )
    _prf_lines("strict relations, gold entities", scores.relations_gold_entities.micro, {})
    payload = {
        "task": "pipeline",
        "ner_model": ner_model,
        "re_model": re_model,
        "data": str(data),
        **scores.model_dump(),
    }
    typer.echo(f"scores: {_write(target, payload)}")


def _zero_shot_lines(scores: Any) -> None:
    """Print the zero-shot and attribute scores of a graph evaluation, if any."""
    if scores.zero_shot:
        average = scores.zero_shot_average
        typer.echo(
            f"zero-shot types ({average['types']}): average P {average['precision']:.2f} "
            f"(over the {average['types_predicting']} that predicted) R {average['recall']:.2f}; "
            f"micro P/R/F1 {average['micro_precision']:.2f}/{average['micro_recall']:.2f}/"
            f"{average['micro_f1']:.2f}"
        )
        for label, prf in scores.zero_shot.items():
            typer.echo(
                f"  {label}: P {prf.precision:.2f} R {prf.recall:.2f} ({prf.correct} right of "
                f"{prf.predicted} predicted, {prf.gold} gold)"
            )
    if scores.attributes:
        data = scores.as_dict()["attributes"]
        typer.echo(
            f"attributes: {data['stored']} stored, {data['correct_percent']:.2f}% right, "
            f"{data['wrong_type']} of the wrong type"
        )
        for name, counts in scores.attributes.items():
            typer.echo(
                f"  {name}: {counts.correct} right of {counts.stored} stored "
                f"({counts.precision:.2f}%), {counts.wrong_type} wrong type, {counts.gold} gold"
            )


def document_range(text: str) -> slice:
    """``--documents START:END`` as a slice (either end may be left out)."""
    start, _, end = text.partition(":")
    try:
        return slice(int(start) if start else None, int(end) if end else None)
    except ValueError as exc:
        raise typer.BadParameter(f"--documents {text!r} is not START:END") from exc


@evaluate_app.command("graph")
def graph(
    data: Annotated[Path, typer.Option(help="DocRED-format JSON (sents, vertexSet, labels).")],
    documents: Annotated[
        str,
        typer.Option(help="Which documents of the file, START:END (e.g. 0:100; default: all)."),
    ] = ":",
    gold_entities: Annotated[
        bool,
        typer.Option(
            help="Give the relation model the gold mentions and entities (it alone is scored)."
        ),
    ] = False,
    ner_model: Annotated[str | None, typer.Option(help="NER model (default: config).")] = None,
    relations: Annotated[
        bool,
        typer.Option(
            help="Run the relation stages (--no-relations: score mentions and clusters only)."
        ),
    ] = True,
    re_model: Annotated[str | None, typer.Option(help="Relation model (default: config).")] = None,
    min_precision: Annotated[
        float | None, typer.Option(help="Operating point of a calibrated relation model.")
    ] = None,
    zero_shot_types: Annotated[
        str,
        typer.Option(
            help="Comma-separated relation types (schema names, e.g. DIRECTOR,AUTHOR) read "
            "by their question template only, the relation model's predictions of them "
            "dropped; reported apart (per type and averaged).",
        ),
    ] = "",
    attributes: Annotated[
        bool,
        typer.Option(
            help="Run the attribute stage and score stored values against the gold facts "
            "of each attribute's Wikidata property (right, wrong type)."
        ),
    ] = False,
    qa_model: Annotated[
        str | None, typer.Option(help="QA model of templates and attributes (default: config).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="kgbuild YAML config.")] = None,
    json_out: JsonOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Run the pipeline from raw text over DocRED-format documents; score mentions, clusters, triples.

    Mentions: span and type exact. Clusters: B-cubed within documents over the mentions
    found with the right span, and merge precision. Triples: each resolved entity stands
    for the gold entity most of its mentions belong to; P/R/F1, Ign F1 (facts of the
    relation model's own training documents, read from its model card) and per type.

    Examples:
    kgbuild evaluate graph --data dev.json
    """
    from kgbuild.config import load_settings
    from kgbuild.readers.docred import read_docred
    from kgbuild.training.doc_re import docred_examples
    from kgbuild.training.graph_eval import evaluate_graph, seen_facts_of

    try:
        target = _target("graph", data, json_out)
        examples = docred_examples(read_docred(data, encoding=encoding))[document_range(documents)]
        if not examples:
            chosen = f" (documents {documents})" if documents.strip(":") else ""
            raise InputError(f"no documents to score in {data}{chosen}")
        overrides: dict[str, Any] = {}
        if gold_entities and not relations:
            raise typer.BadParameter("--gold-entities scores relations: drop --no-relations")
        settings = load_settings(config)
        overrides["relations"] = settings.relations.model_copy(
            update={
                "enabled": relations,
                **({"model": re_model} if re_model else {}),
                **({"min_precision": min_precision} if min_precision is not None else {}),
            }
        )
        if ner_model:
            overrides["ner"] = settings.ner.model_copy(update={"model": ner_model})
        qa = {"model": qa_model} if qa_model else {}
        forced = tuple(t.strip() for t in zero_shot_types.split(",") if t.strip())
        if forced:
            overrides["templates"] = settings.templates.model_copy(
                update={"enabled": True, "types": forced, **qa}
            )
        elif qa:
            overrides["templates"] = settings.templates.model_copy(update=qa)
        if attributes:
            overrides["attributes"] = settings.attributes.model_copy(update={"enabled": True, **qa})
        settings = settings.model_copy(update=overrides)
        seen = seen_facts_of(_model("re", settings.relations.model))
        scores = evaluate_graph(examples, settings, gold_entities=gold_entities, seen=seen)
    except KGBuildError as exc:
        raise fail(exc) from exc
    m, c, t = scores.mentions, scores.clusters, scores.triples
    if not gold_entities:
        typer.echo(
            f"mentions: P/R/F1 {m.precision:.2f}/{m.recall:.2f}/{m.f1:.2f} "
            f"({m.gold} gold, {m.predicted} predicted)"
        )
        for kind, counts in scores.mentions_per_type.items():
            typer.echo(f"  {kind}: F1 {counts.f1:.2f} ({counts.gold} gold)")
        typer.echo(
            f"entity clusters (within documents): B-cubed P/R/F1 {c['precision']:.2f}/"
            f"{c['recall']:.2f}/{c['f1']:.2f}; merge precision {c['merge_precision']:.2f}"
        )
    typer.echo(
        f"triples{' (gold entities)' if gold_entities else ''}: P/R/F1 "
        f"{t.micro.precision:.2f}/{t.micro.recall:.2f}/{t.micro.f1:.2f}, Ign F1 {t.ign_f1:.2f} "
        f"({t.micro.gold} gold, {t.micro.predicted} predicted)"
    )
    _zero_shot_lines(scores)
    payload = {
        "task": "graph",
        "data": str(data),
        "documents": documents,
        "gold_entities": gold_entities,
        "relations": relations,
        "ner_model": settings.ner.model,
        "re_model": settings.relations.model,
        "min_precision": settings.relations.min_precision,
        **scores.as_dict(),
    }
    typer.echo(f"scores: {_write(target, payload)}")
