"""The stage registry: what is registered, how a stage is declared, what the extractor walks."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kgbuild.config import NerConfig, ReConfig, Settings, TemplateConfig
from kgbuild.data import Document
from kgbuild.errors import ConfigError
from kgbuild.extraction import Extractor
from kgbuild.ids import content_hash
from kgbuild.stages import registry
from kgbuild.stages.factories import DEFAULT_STAGES
from kgbuild.stages.registry import (
    FIELDS,
    Stage,
    StageBatch,
    StageContext,
    get_factory,
    registered,
    stage_factory,
)


def test_the_built_in_stages_are_registered_with_their_config_and_data() -> None:
    factories = {f.name: f for f in registered()}
    assert set(DEFAULT_STAGES) <= set(factories)
    assert factories["ner"].config is NerConfig
    assert factories["relations.sentence"].config is ReConfig
    assert factories["relations.document"].label == "re"
    assert factories["zeroshot"].config is TemplateConfig
    assert "relations" in factories["zeroshot"].reads
    assert factories["zeroshot"].assigns == ("relations", "refused", "not_asked")
    for factory in factories.values():
        assert set(factory.reads) | set(factory.assigns) <= set(FIELDS)


def test_a_stage_is_declared_once_with_a_real_section_and_batch_fields() -> None:
    with pytest.raises(ConfigError, match="registered twice"):
        stage_factory("ner", label="ner", section="ner", reads=(), assigns=())
    with pytest.raises(ConfigError, match="not a settings section"):
        stage_factory("x.v1", label="x", section="out_dir", reads=(), assigns=())
    with pytest.raises(ConfigError, match="holds no"):
        stage_factory("x.v1", label="x", section="ner", reads=("tokens",), assigns=())
    with pytest.raises(ConfigError, match=r"registered: .*relations\.document"):
        get_factory("nope")


def test_the_extractor_walks_the_configured_stages(tmp_path: Path, random_ner_model: Path) -> None:
    settings = Settings(out_dir=tmp_path, ner=NerConfig(model=str(random_ner_model)))
    extractor = Extractor(settings, run_id="r")
    # relations, attributes and zero-shot relations are off: their factories build nothing
    assert [stage.label for stage in extractor.stages] == ["ner"]
    assert all(isinstance(stage, Stage) for stage in extractor.stages)
    assert extractor.relations is None and extractor.attributes is None
    assert extractor.templates is None
    with pytest.raises(ConfigError, match="no stage named 'typo'"):
        Extractor(settings, run_id="r", stages=("ner", "typo"))


@pytest.fixture
def scratch_registration() -> Iterator[str]:
    """A stage name free for a test to register (removed again afterwards)."""
    yield "test.counting"
    registry._REGISTRY.pop("test.counting", None)


def test_a_registered_stage_runs_over_the_batch(
    tmp_path: Path, random_ner_model: Path, scratch_registration: str
) -> None:
    class Counting:
        """Counts the chunks it reads into ``refused`` (a stand-in for a real stage)."""

        label = "counting"
        languages = frozenset({"en"})
        model_key = "counting.v1"

        def __call__(self, batch: StageBatch) -> None:
            for chunk in batch.chunks_for(self.label):
                batch.refused[chunk.doc_id, "chunks"] += 1

    @stage_factory(
        scratch_registration,
        label="counting",
        section="ner",
        reads=("chunks",),
        assigns=("refused",),
    )
    def make(settings: Settings, context: StageContext) -> Counting:
        assert context.stage("ner") is not None  # built before it
        return Counting()

    settings = Settings(out_dir=tmp_path, ner=NerConfig(model=str(random_ner_model)))
    extractor = Extractor(settings, run_id="r", stages=("ner", scratch_registration))
    assert extractor.model_key.endswith("|counting:counting.v1")
    texts = {"en": "Acme opened. Then it grew.", "de": "Acme wuchs. Dann nicht mehr."}
    documents = [
        Document(id=k, text=t, source=k, content_hash=content_hash(t), lang=k)
        for k, t in texts.items()
    ]
    en, de = extractor(documents)
    assert en.refused == {"chunks": len(en.chunks)} and en.skipped_stages == ()
    assert de.refused == {} and de.skipped_stages == ("counting",)
