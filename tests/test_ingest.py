import json
from pathlib import Path

import pytest

from kgbuild.config import IngestConfig
from kgbuild.errors import InputError
from kgbuild.ids import content_hash
from kgbuild.stages.ingest import read_documents


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_reads_txt_md_and_jsonl_with_stable_ids(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Acme Robotics was founded in Berlin.")
    write(tmp_path / "sub" / "b.md", "# Title\n\nNorthwind is based in Toronto.")
    records = [
        {"id": "r1", "text": "Maria Gonzalez runs Acme.", "metadata": {"date": "2024-01-01"}}
    ]
    write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in records))
    result = read_documents([tmp_path])
    assert result.failures == []
    by_id = {doc.id: doc for doc in result.documents}
    assert set(by_id) == {"a.txt", "sub/b.md", "r1"}
    assert by_id["r1"].metadata == {"date": "2024-01-01"}
    assert by_id["a.txt"].content_hash == content_hash("Acme Robotics was founded in Berlin.")
    again = read_documents([tmp_path])
    assert [d.id for d in again.documents] == [d.id for d in result.documents]


def test_bad_inputs_are_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "Acme is a company.")
    write(tmp_path / "empty.txt", "   \n\n")
    write(tmp_path / "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    write(
        tmp_path / "bad.jsonl",
        '{"id": "x1", "text": "ok text"}\nnot json\n{"text": "no id"}\n{"id": "x2"}\n',
    )
    result = read_documents([tmp_path])
    assert sorted(d.id for d in result.documents) == ["good.txt", "x1"]
    errors = {f.source.rsplit("/", 1)[-1]: f.error for f in result.failures}
    assert "empty document" in errors["empty.txt"]
    assert "binary" in errors["binary.txt"]
    assert "invalid JSON" in errors["bad.jsonl:2"]
    assert "no 'id'" in errors["bad.jsonl:3"]
    assert "no 'text'" in errors["bad.jsonl:4"]
    assert all(f.stage == "ingest" for f in result.failures)


def test_invalid_utf8_is_decoded_with_declared_or_detected_encoding(tmp_path: Path) -> None:
    text = "Zoë Müller founded Café Crème in Zürich. " * 20
    write(tmp_path / "latin.txt", text.encode("latin-1"))
    declared = read_documents([tmp_path], IngestConfig(encoding="latin-1"))
    assert declared.documents[0].text == text
    assert declared.documents[0].metadata["encoding"] == "latin-1"
    detected = read_documents([tmp_path])
    assert detected.failures == []
    assert "Zürich" in detected.documents[0].text


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    write(tmp_path / "bom.txt", "\ufeffAcme Robotics".encode())
    assert read_documents([tmp_path]).documents[0].text == "Acme Robotics"


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", '{"id": "d1", "text": "first"}\n')
    write(tmp_path / "b.jsonl", '{"id": "d1", "text": "second"}\n')
    result = read_documents([tmp_path])
    assert [d.text for d in result.documents] == ["first"]
    assert len(result.failures) == 1
    assert "duplicate document id 'd1'" in result.failures[0].error
    assert "a.jsonl:1" in result.failures[0].error


def test_five_megabyte_document_is_read_whole(tmp_path: Path) -> None:
    sentence = "Acme Robotics opened an office in Berlin last spring. "
    text = sentence * (5_000_000 // len(sentence) + 1)
    write(tmp_path / "huge.txt", text)
    result = read_documents([tmp_path])
    assert result.failures == []
    assert len(result.documents[0].text) == len(text)


def test_document_over_the_size_limit_gets_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "big.txt", "word " * 1000)
    result = read_documents([tmp_path], IngestConfig(max_document_bytes=1000))
    assert result.documents == []
    assert "over ingest.max_document_bytes" in result.failures[0].error


def test_chinese_document_is_detected(tmp_path: Path) -> None:
    write(tmp_path / "zh.txt", "阿克米机器人公司总部位于柏林。玛丽亚是首席执行官。")
    assert read_documents([tmp_path]).documents[0].lang == "zh"


def test_glob_and_missing_path(tmp_path: Path) -> None:
    write(tmp_path / "x" / "a.txt", "Acme one.")
    write(tmp_path / "x" / "b.md", "Acme two.")
    result = read_documents([str(tmp_path / "x" / "*.txt")])
    assert [d.id for d in result.documents] == ["a.txt"]
    with pytest.raises(InputError, match="does not exist"):
        read_documents([tmp_path / "nope"])
