"""NER models per language (``ner.language_models``): which model reads which chunk.

The build's NER model (``ner.model``) reads every chunk except those in a language that a
language model is routed for. A chunk's language is its document's, unless its script
names another (a Chinese paragraph in an English report: :func:`kgbuild.lang.script_lang`),
as the extractor's language gate reads it. A chunk goes to the model of the most specific
routed code its language starts with (:meth:`LanguageModels.route`): a ``zh-TW`` document
to the ``zh-tw`` model, a ``zh-HK`` one or one detected as ``zh`` to the ``zh`` model. A
script names a language only, never a region, so a Chinese paragraph of an English report
goes to the ``zh`` model. Each language model is checked and keyed from its files when the
stage is built, and loaded the first time a batch holds text in its language, so a build
without such text never loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Mention
from kgbuild.errors import ConfigError
from kgbuild.lang import (
    base_language,
    covers,
    language_code,
    language_lookup,
    model_languages,
    script_lang,
    script_languages,
)
from kgbuild.nlp.hf import ModelFacts, describe_token_classifier
from kgbuild.stages.ner import NerStage, mention_labels

__all__ = ["LanguageModels"]

log = logging.getLogger(__name__)


class LanguageModels:
    """The NER models of ``routes`` (language code -> model reference), loaded lazily.

    Codes are compared as :func:`~kgbuild.lang.language_code` writes them (``zh-tw``).

    Raises:
        ConfigError: a model declares languages (its manifest's ``languages``) and not
            the one it is routed for (one declaring ``zh`` serves ``zh-tw``, one declaring
            only ``zh-tw`` does not serve ``zh``, which also reads the other regions).
        ModelLoadError: a model's files cannot be read.
    """

    def __init__(
        self,
        config: NerConfig,
        routes: Mapping[str, str],
        *,
        run_id: str,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.progress = progress
        self.refs = {language_code(lang): ref for lang, ref in routes.items()}
        self.facts: dict[str, ModelFacts] = {}
        for lang, ref in sorted(self.refs.items()):
            facts = describe_token_classifier(ref)
            declared = model_languages(facts.manifest, facts.name)
            if not covers(declared, lang):
                raise ConfigError(
                    f"ner.language_models routes language {lang!r} to model {facts.name}, "
                    f"which declares only {', '.join(sorted(declared or ()))} (its "
                    "kgbuild_model.json 'languages'); name a model trained for it"
                )
            self.facts[lang] = facts
        self.loaded: dict[str, NerStage] = {}
        """The language models loaded so far, by language."""

    @property
    def languages(self) -> frozenset[str]:
        """The languages routed to a model of their own."""
        return frozenset(self.refs)

    def route(self, lang: str) -> str | None:
        """The routed code whose model reads text in ``lang``; ``None``: the build's model.

        The most specific code that names ``lang`` (:func:`~kgbuild.lang.language_lookup`):
        "zh-TW" goes to ``zh-tw`` where it is routed, else to ``zh``.
        """
        return next((code for code in language_lookup(lang) if code in self.refs), None)

    def routes_of(self, lang: str, text: str) -> frozenset[str]:
        """The routed codes whose models can read some of a document in ``lang`` of ``text``.

        Its language's, and those of the scripts in its text of other languages
        (:func:`~kgbuild.lang.script_languages`, a superset of what :meth:`read` finds).
        """
        base = base_language(lang)
        found = [self.route(lang)]
        found += [self.route(other) for other in script_languages(text) if other != base]
        return frozenset(code for code in found if code is not None)

    def labels(self) -> dict[str, list[str]]:
        """Per language, the mention labels its model predicts (after ``label_map``)."""
        return {
            lang: mention_labels(facts.labels, self.config.label_map)
            for lang, facts in self.facts.items()
        }

    @property
    def key(self) -> dict[str, str]:
        """Per language, the model and its revision (read from its files)."""
        return {lang: f"{facts.name}@{facts.revision}" for lang, facts in self.facts.items()}

    def stage(self, lang: str) -> NerStage:
        """The NER stage of ``lang``'s model, loaded on first use."""
        stage = self.loaded.get(lang)
        if stage is None:
            log.info("loading NER model %s for language %r", self.refs[lang], lang)
            stage = NerStage(
                self.config, run_id=self.run_id, progress=self.progress, model=self.refs[lang]
            )
            self.loaded[lang] = stage
        return stage

    def read(
        self, main: NerStage, chunks: Sequence[Chunk], langs: Mapping[str, str]
    ) -> list[Mention]:
        """Mentions of ``chunks``: each read by its language's model or by ``main``.

        The mentions come in the order of ``chunks`` (document order), whichever model
        found them.
        """
        routed: dict[str, list[Chunk]] = {}
        rest: list[Chunk] = []
        chunk_langs: dict[str, dict[str, str]] = {}
        for chunk in chunks:
            lang = _chunk_lang(chunk, langs.get(chunk.doc_id, "en"))
            route = self.route(lang)
            if route is not None:
                routed.setdefault(route, []).append(chunk)
                chunk_langs.setdefault(route, {})[chunk.doc_id] = lang
            else:
                rest.append(chunk)
        if not routed:
            return main(chunks, langs)
        found = main(rest, langs) if rest else []
        for route, group in routed.items():
            found += self.stage(route)(group, chunk_langs[route])
        order = {chunk.id: index for index, chunk in enumerate(chunks)}
        return sorted(found, key=lambda mention: order[mention.provenance.chunk_id])


def _chunk_lang(chunk: Chunk, doc_lang: str) -> str:
    """The language a chunk is read in: its document's, unless its script names another.

    >>> from kgbuild.data import Span
    >>> chunk = Chunk(id="c", doc_id="d", index=0, text="公司总部位于柏林。", span=Span(start=0, end=9))
    >>> _chunk_lang(chunk, "en"), _chunk_lang(chunk, "zh-CN")
    ('zh', 'zh-CN')
    """
    lang = script_lang(chunk.text)
    if lang is None or base_language(lang) == base_language(doc_lang):
        return doc_lang
    return lang
