"""The documentation names only commands, options and settings that exist.

README.md and docs/*.md show ``kgbuild ...`` command lines (as does the CLI's own help),
dotted config keys (``relations.min_precision``) and ``KGBUILD_X__Y`` variables; a renamed
option or a removed field would otherwise leave them lying. Each is read from the Markdown and looked
up in the Typer app and the pydantic :class:`~kgbuild.config.Settings` model.
"""

from __future__ import annotations

import re
import shlex
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import typer.main
import yaml
from pydantic import BaseModel, ValidationError

from kgbuild.cli import app
from kgbuild.config import OTHER_ENV, Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
"""Code blocks read as command lines (```python``, ```yaml``, ```cypher``... are not)."""

SEPARATORS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "<"}
"""Shell tokens that end one command (``kgbuild export | head -1``)."""

FILE_SUFFIXES = {"json", "jsonl", "html", "graphml", "csv", "yaml", "txt"}
"""``graph.json``, ``ner.json``: file names that start with a section name, not keys."""

NOT_SETTINGS_ENV = {
    "KGBUILD_REPO": "prefect.yaml",
    "KGBUILD_INBOX": "prefect.yaml",
    "KGBUILD_SHARED_DATA": "tests/conftest.py",
}
"""``KGBUILD_*`` variables the docs name that no setting reads, and the file that does."""

MISSPELLED_ENV = {"KGBUILD_NER_MODEL", "KGBUILD_OUTDIR"}
"""Shown in configuration.md as the misspellings kgbuild warns of (tests/unit/cli)."""


@dataclass(frozen=True)
class Invocation:
    """One ``kgbuild`` command line of the docs: where, the command path, its options.

    Each option is kept with the depth of the command it is given to: 0 for ``kgbuild``
    itself (``kgbuild -q build``), 1 for ``build``.
    """

    where: str
    path: tuple[str, ...]
    options: tuple[tuple[int, str], ...]

    def __str__(self) -> str:
        words = ["kgbuild"]
        for depth in range(len(self.path) + 1):
            words += [option for level, option in self.options if level == depth]
            words += self.path[depth : depth + 1]
        return f"{self.where}: {' '.join(words)}"


def _code(text: str) -> tuple[list[str], list[str]]:
    """The shell lines of the fenced blocks of ``text`` and the spans of its inline code."""
    lines, prose, fence = [], [], None
    for line in text.splitlines():
        opening = re.match(r"\s*(```+|~~~+)\s*([\w+-]*)", line)
        if fence is None and opening:
            fence = (opening.group(1), opening.group(2).lower())
        elif fence is not None and line.strip().startswith(fence[0]):
            fence = None
        elif fence is None:
            prose.append(line)
        elif fence[1] in SHELL_FENCES:
            lines.append(line)
    shell = re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()  # line continuations
    # an inline span may wrap onto the next line of its paragraph
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", "\n".join(prose))]
    return shell, spans


def _tokens(line: str) -> list[str]:
    """Shell words of ``line``, comments dropped; split at spaces where quotes do not pair.

    A command substitution is one word (``KGBUILD_SERVE__TOKEN=$(cat f) kgbuild serve``).
    """
    line = re.sub(r"\$\([^()]*\)", "$SUBSTITUTION", line)
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.partition(" #")[0].split()


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A group's commands by name (as tests/unit/cli walks them); ``None`` for a command."""
    commands = getattr(command, "commands", None)
    return commands if isinstance(commands, dict) else None


def _options(command: Any) -> set[str]:
    """The options ``command`` takes: each name, ``--no-x`` forms and ``--help`` included."""
    names = set(command.context_settings.get("help_option_names", ["--help"]))
    for param in command.params:
        names.update(param.opts)
        names.update(getattr(param, "secondary_opts", ()))
    return names


ROOT = typer.main.get_command(app)


def _parse(where: str, tokens: list[str]) -> list[Invocation]:
    """The invocations ``tokens`` (the words after ``kgbuild``) make.

    Options before a subcommand belong to the group (``kgbuild -q build``). A command name
    written as alternatives (``kgbuild train ner|re|qa``) gives one invocation each. A
    placeholder where a subcommand goes (``...``, ``<command>``) ends the path there.
    """
    path: list[str] = []
    options: list[tuple[int, str]] = []
    command: Any = ROOT
    for i, token in enumerate(tokens):
        token = token.strip("()[]")
        if token in SEPARATORS:
            if token == "|" and tokens[i + 1 : i + 2] and tokens[i + 1].startswith("-"):
                continue  # "(--cron X | --interval S)": alternatives, not a pipe
            break
        if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", token):
            options.append((len(path), token.partition("=")[0]))
        elif (subcommands := _subcommands(command)) is not None:
            if not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", token):
                break  # a placeholder: the path is as far as the docs name it
            if "|" in token:
                rest = tokens[i + 1 :]
                return [
                    found
                    for name in token.split("|")
                    for found in _parse(where, [*path, name, *rest])
                ]
            path.append(token)
            command = subcommands.get(token)
            if command is None:
                break  # _problems names it
        if token.endswith(";"):
            break
    return [Invocation(where, tuple(path), tuple(options))]


def _command_words(words: list[str]) -> list[int]:
    """Where ``words`` run ``kgbuild``: first, after ``X=value`` assignments or a separator.

    Not ``kgbuild`` as an argument (``prefect work-pool create kgbuild``).
    """
    starts, command_word = [], True
    for i, word in enumerate(words):
        if word in SEPARATORS or word.endswith(";"):
            command_word = True
        elif command_word and word == "kgbuild":
            starts.append(i)
            command_word = False
        elif not (command_word and re.fullmatch(r"[A-Za-z_]\w*=.*", word)):
            command_word = False
    return starts


def _help_texts(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The help of ``command`` and of each command below it, with its options' help."""
    where = " ".join(["kgbuild", *path, "--help"])
    texts = [(where, command.help or ""), *((where, p.help or "") for p in command.params)]
    for name, sub in (_subcommands(command) or {}).items():
        texts += _help_texts(sub, (*path, name))
    return [(where, text) for where, text in texts if text]


def _texts() -> list[tuple[str, str]]:
    """The docs (README.md, docs/*.md) and the CLI's help, each with where it is."""
    return [(doc.name, doc.read_text(encoding="utf-8")) for doc in DOCS] + _help_texts(ROOT)


def _sources() -> list[tuple[str, list[str]]]:
    """Where command lines are written, each with its lines to read.

    The docs' shell code blocks and inline code, and the CLI's own help: the inline code of
    its text and the lines of its ``Examples:``.
    """
    sources = []
    for doc in DOCS:
        shell, spans = _code(doc.read_text(encoding="utf-8"))
        sources += [(f"{doc.name} (code block)", shell), (f"{doc.name} (inline)", spans)]
    for where, text in _help_texts(ROOT):
        prose, _, examples = text.partition("Examples:")
        sources.append((where, [*_code(prose)[1], *examples.splitlines()]))
    return sources


def _invocations() -> list[Invocation]:
    found = []
    for where, lines in _sources():
        for line in lines:
            words = _tokens(line)
            for start in _command_words(words):
                found.extend(_parse(where, words[start + 1 :]))
    return [inv for inv in found if inv.path or inv.options]


def _problems(invocation: Invocation) -> list[str]:
    """What ``invocation`` names that the CLI does not have (empty: nothing)."""
    commands: list[Any] = [ROOT]
    for depth, name in enumerate(invocation.path):
        sub = (_subcommands(commands[-1]) or {}).get(name)
        if sub is None:
            group = " ".join(["kgbuild", *invocation.path[:depth]])
            return [f"no command {name!r} in {group!r}"]
        commands.append(sub)
    return [
        f"{option} is no option of {' '.join(['kgbuild', *invocation.path[:depth]])!r}"
        for depth, option in invocation.options
        if option not in _options(commands[depth])
    ]


def test_every_documented_command_line_is_one_the_cli_accepts() -> None:
    invocations = _invocations()
    checked = "\n".join(str(inv) for inv in invocations)
    commands = {inv.path for inv in invocations}
    options = {(inv.path, option) for inv in invocations for option in inv.options}
    assert len(invocations) >= 100 and len(commands) >= 20 and len(options) >= 60, (
        f"the extractor found too little ({len(invocations)} command lines, "
        f"{len(commands)} commands, {len(options)} options):\n{checked}"
    )
    wrong = [f"{inv}: {'; '.join(p)}" for inv in invocations if (p := _problems(inv))]
    assert not wrong, "\n".join(["the docs name what the CLI lacks:", *wrong, "checked:", checked])


def _sections() -> list[str]:
    return [name for name, field in Settings.model_fields.items() if _model(field.annotation)]


def _model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model ``annotation`` is (``X | None`` too), else ``None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for a in get_args(annotation) if (m := _model(a))]
        return models[0] if models else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unknown(keys: list[str]) -> str | None:
    """Why ``keys`` (``["ner", "batch_size"]``) names no setting; ``None`` when it does.

    Below a dict-valued field (``ner.label_map``) any key is a setting; ``*`` stands for
    every field of the section it follows.
    """
    model: type[BaseModel] | None = Settings
    for depth, key in enumerate(keys):
        if key == "*" and depth:
            return None
        if model is None:
            return f"{'.'.join(keys[:depth])} is a value, not a section"
        field = model.model_fields.get(key)
        if field is None:
            return f"{'.'.join(keys[: depth + 1])} is no field of {model.__name__}"
        if get_origin(field.annotation) is dict:
            return None
        model = _model(field.annotation)
    return None


def _config_keys() -> list[tuple[str, str, str | None]]:
    """Each ``section.key`` or ``section.key: value`` written: where, key, value.

    In the docs, the inline code that is one; in the CLI's help, which marks no code,
    each written anywhere in its text.
    """
    sections = "|".join(_sections())
    pattern = re.compile(rf"({sections})((?:\.\w+)+)(?::\s(.*))?")
    found = []
    for where, text in _texts():
        if where.endswith("--help"):
            spans = re.findall(rf"(?<![\w./])(?:{sections})(?:\.\w+)+", text)
        else:
            spans = _code(text)[1]
        for span in spans:
            match = pattern.fullmatch(span)
            if match is None:
                continue
            key = match.group(1) + match.group(2)
            if key.count(".") == 1 and key.rpartition(".")[2] in FILE_SUFFIXES:
                continue
            found.append((where, key, match.group(3)))
    return found


def _invalid(keys: list[str], value: str) -> str | None:
    """Why the section of ``keys`` refuses ``value`` (YAML) for its field; ``None``: it takes it."""
    model: type[BaseModel] | None = Settings
    for key in keys[:-1]:
        annotation = model.model_fields[key].annotation if model is not None else None
        model = _model(annotation)
    if model is None:
        return None  # a key below a dict-valued field: any value
    try:
        model.model_validate({keys[-1]: yaml.safe_load(value)})
    except ValidationError as error:
        return f"{value!r} is refused: {error.errors()[0]['msg']}"
    return None


def test_every_documented_config_key_is_a_setting() -> None:
    keys = _config_keys()
    checked = "\n".join(f"{where}: {key}{f': {v}' if v else ''}" for where, key, v in keys)
    sections = {key.partition(".")[0] for _, key, _ in keys}
    values = [value for _, _, value in keys if value]
    assert len(keys) >= 60 and len(sections) >= 8 and len(values) >= 5, (
        f"the extractor found too little:\n{checked}"
    )
    wrong = [
        f"{where}: {key}: {why}"
        for where, key, value in keys
        if (why := _unknown(key.split(".")) or (value and _invalid(key.split("."), value)))
    ]
    assert not wrong, "\n".join(["the docs name unknown settings:", *wrong, "checked:", checked])


def _env_variables() -> list[tuple[str, str]]:
    return [
        (where, name)
        for where, text in _texts()
        for name in re.findall(r"\bKGBUILD_\w*\w(?:\*)?", text)
    ]


def _unknown_env(name: str) -> str | None:
    if name in OTHER_ENV or name in MISSPELLED_ENV:
        return None
    if name in NOT_SETTINGS_ENV:
        reader = NOT_SETTINGS_ENV[name]
        in_reader = name in (REPO / reader).read_text(encoding="utf-8")
        return None if in_reader else f"{reader}, said to read it, does not name it"
    return _unknown(name.removeprefix("KGBUILD_").lower().split("__"))


def test_every_documented_kgbuild_variable_is_read() -> None:
    names = _env_variables()
    checked = "\n".join(f"{where}: {name}" for where, name in names)
    nested = {name for _, name in names if "__" in name}
    assert len(names) >= 30 and len(nested) >= 8, f"the extractor found too little:\n{checked}"
    wrong = [f"{where}: {name}: {why}" for where, name in names if (why := _unknown_env(name))]
    assert not wrong, "\n".join(["the docs name unread variables:", *wrong, "checked:", checked])


def test_the_checks_catch_what_they_are_for() -> None:
    """A wrong command, option, key or variable is found (the checks are not vacuous)."""
    (build,) = _parse("t", ["build", "docs/", "--outt", "x"])
    assert _problems(build) == ["--outt is no option of 'kgbuild build'"]
    (late,) = _parse("t", ["build", "-q", "docs/"])
    assert _problems(late) == ["-q is no option of 'kgbuild build'"]
    (early,) = _parse("t", ["-q", "build", "docs/"])
    assert not _problems(early) and str(early) == "t: kgbuild -q build"
    assert _command_words(shlex.split("prefect work-pool create kgbuild --type x")) == []
    assert _command_words(_tokens("A=1 B=$(cat f) kgbuild build ; kgbuild ask")) == [2, 5]
    (train,) = _parse("t", ["-q", "trian", "ner"])
    assert _problems(train) == ["no command 'trian' in 'kgbuild'"]
    alternatives = _parse("t", ["evaluate", "ner|re", "--json-out", "x", "|", "head"])
    assert [inv.path for inv in alternatives] == [("evaluate", "ner"), ("evaluate", "re")]
    assert not any(_problems(inv) for inv in alternatives)
    assert _unknown(["relations", "min_precison"]) is not None
    assert _unknown(["ner", "label_map", "Peop"]) is None
    assert _unknown(["ner", "model", "x"]) is not None
    assert _invalid(["orchestration", "task_runner"], "dask") is None
    assert _invalid(["orchestration", "task_runner"], "ray") is not None
    assert _invalid(["ner", "label_map", "Peop"], "PER") is None
    assert _unknown_env("KGBUILD_SERVE__TOKENS") is not None
    assert _unknown_env("KGBUILD_NEO4J__*") is None
