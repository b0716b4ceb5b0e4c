import json
import random
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


def test_a_leading_tilde_in_an_input_path_is_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("Acme Robotics is in Toronto.", encoding="utf-8")
    for given in ("~/notes", "~/notes/a.txt", "~/notes/*.txt"):  # a glob the shell left quoted
        result = read_documents([given])
        assert [doc.id for doc in result.documents] == ["a.txt"], given


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


def test_a_declared_encoding_reads_a_legacy_file(tmp_path: Path) -> None:
    text = "Zoë Müller founded Café Crème in Zürich. " * 20
    write(tmp_path / "latin.txt", text.encode("latin-1"))
    declared = read_documents([tmp_path], IngestConfig(encoding="latin-1"))
    assert declared.documents[0].text == text
    assert declared.documents[0].metadata["encoding"] == "latin-1"
    assert declared.failures == [] and declared.warnings == []


SPANISH = "José García founded Acme in Madrid."


@pytest.mark.parametrize(
    ("codec", "read_as", "warned"),
    [
        ("utf-8", "utf-8", False),
        ("utf-8-sig", "utf-8", False),
        ("utf-16", "utf-16", False),
        ("cp1252", "cp1252", True),
        ("latin-1", "cp1252", True),
    ],
)
def test_a_short_western_file_is_read_in_any_common_encoding(
    tmp_path: Path, codec: str, read_as: str, warned: bool
) -> None:
    """cp1250 and cp1252 read these bytes alike; cp1257's "Garcķa" mixes Latvian with é."""
    write(tmp_path / "es.txt", SPANISH.encode(codec))
    result = read_documents([tmp_path])
    assert result.failures == []  # was: "no encoding was detected with confidence"
    (doc,) = result.documents
    assert doc.text == SPANISH
    assert doc.metadata.get("encoding", "utf-8") == read_as
    assert [w.message for w in result.warnings] == (
        [
            "not UTF-8: decoded as cp1252 (detected from its letters, es; set ingest.encoding to choose)"
        ]
        if warned
        else []
    )


def test_a_western_legacy_file_is_read_as_cp1252_where_cp1250_reads_other_words(
    tmp_path: Path,
) -> None:
    """cp1250 and cp1257 read these bytes without a fault too ("Crčme"): French holds
    ë, ü, é and è, while cp1250's ë, ü, é and č take Czech, Hungarian and Albanian."""
    text = "Zoë Müller founded Café Crème in Zürich. " * 20
    write(tmp_path / "latin.txt", text.encode("latin-1"))
    result = read_documents([tmp_path])
    assert result.failures == []  # was: "the encoding is ambiguous"
    (doc,) = result.documents
    assert doc.text == text and doc.metadata["encoding"] == "cp1252"
    (warning,) = result.warnings
    assert (
        "decoded as cp1252 (detected from its letters, fr: 'Crème' where cp1250 reads 'Crčme'"
        in (warning.message)
    )


def test_central_and_baltic_files_are_read_in_their_code_page_or_refused_naming_them(
    tmp_path: Path,
) -> None:
    polish = "Łukasz Wróbel założył Acme w Łodzi."  # cp1252 reads "za³o¿y³": not words
    czech = "Jiří Novák je ředitel firmy, která se jmenuje Acme a je v Brně."  # Czech words
    write(tmp_path / "pl.txt", polish.encode("cp1250"))
    write(tmp_path / "cs.txt", czech.encode("cp1250"))
    result = read_documents([tmp_path])
    assert result.failures == []
    assert {(d.id, d.text, d.metadata["encoding"]) for d in result.documents} == {
        ("pl.txt", polish, "cp1250"),
        ("cs.txt", czech, "cp1250"),
    }
    # Too short to show its language: cp1252's "Jiøí" is Faroese letters, cp1257's
    # "Jiųķ" Lithuanian and Latvian ones; never read as cp1252 (as Western text would be)
    short = [
        ("cs.txt", "Jiří Novák founded Acme.", "cp1250", "Jiří"),
        ("lt.txt", "Jonas Žemaitis įkūrė Acme Vilniuje.", "cp1257", "Žemaitis"),
    ]
    for name, text, codec, word in short:
        write(tmp_path / name, text.encode(codec))
        (failure,) = read_documents([tmp_path / name]).failures
        assert "the encoding is ambiguous (cp1252 reads " in failure.error
        assert f"{codec} reads {word!r}" in failure.error
        assert "set ingest.encoding (KGBUILD_INGEST__ENCODING) to the file's encoding" in (
            failure.error
        )
        declared = read_documents([tmp_path / name], IngestConfig(encoding=codec))
        assert [d.text for d in declared.documents] == [text]


def test_western_names_whose_bytes_are_czech_letters_are_refused_not_guessed(
    tmp_path: Path,
) -> None:
    """cp1250 reads "Crčme, Sřren, Peňa": Czech letters all, but not the words written."""
    write(tmp_path / "names.txt", "Crème, Søren and Peña met in Oslo.".encode("cp1252"))
    (failure,) = read_documents([tmp_path]).failures
    assert "ambiguous (cp1252 reads 'Crème,', cp1250 reads 'Crčme,')" in failure.error


def test_a_detected_encoding_is_used_when_unambiguous_and_recorded(tmp_path: Path) -> None:
    text = "Компания Акме Роботикс основана в Берлине. Мария работает там, говорят все. " * 5
    write(tmp_path / "ru.txt", text.encode("cp1251"))
    result = read_documents([tmp_path])
    assert result.failures == []
    (doc,) = result.documents
    assert doc.text == text and doc.metadata["encoding"] == "cp1251"
    (warning,) = result.warnings
    assert warning.source.endswith("ru.txt") and "decoded as cp1251 (detected" in warning.message


@pytest.mark.parametrize("seed", range(4))
def test_text_with_random_bytes_is_never_read_as_a_guessed_encoding(
    tmp_path: Path, seed: int
) -> None:
    """charset-normalizer guesses ptcp154, mac_cyrillic, cp1251 or cp949 for such bytes."""
    rng = random.Random(seed)
    noise = bytes(rng.randrange(128, 256) for _ in range(20))
    write(tmp_path / "noise.txt", b"Acme Robotics opened an office. " * 5 + noise)
    result = read_documents([tmp_path])
    assert result.documents == []
    assert "invalid UTF-8" in result.failures[0].error
    replaced = read_documents([tmp_path], IngestConfig(undecodable="replace"))
    (doc,) = replaced.documents
    assert doc.text.startswith("Acme Robotics opened an office. ") and "\ufffd" in doc.text
    assert "U+FFFD" in replaced.warnings[0].message


def test_damaged_utf8_is_not_read_as_a_legacy_encoding(tmp_path: Path) -> None:
    data = "Maria González works for Acme in Zürich. ".encode() * 20 + b"\xe9 end."
    write(tmp_path / "damaged.txt", data)
    result = read_documents([tmp_path])
    assert result.documents == []
    assert "damaged UTF-8" in result.failures[0].error
    replaced = read_documents([tmp_path], IngestConfig(undecodable="replace"))
    (doc,) = replaced.documents
    assert "Zürich" in doc.text and doc.text.endswith("\ufffd end.")
    assert "for 1 bad byte" in replaced.warnings[0].message


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    write(tmp_path / "bom.txt", "\ufeffAcme Robotics".encode())
    assert read_documents([tmp_path]).documents[0].text == "Acme Robotics"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(tmp_path: Path, codec: str) -> None:
    """What Windows saves as "Unicode": NUL bytes everywhere, but text, not binary."""
    text = "Zoë Müller founded 阿里巴巴 in Zürich.\nAcme is a company."
    bom = {"utf-16-be": "\ufeff", "utf-32-be": "\ufeff"}.get(codec, "")
    write(tmp_path / "wide.txt", (bom + text).encode(codec))
    write(tmp_path / "page.html", f"<p>{text}</p>".encode("utf-16"))
    result = read_documents([tmp_path])
    assert result.failures == [] and result.warnings == []
    by_id = {doc.id: doc for doc in result.documents}
    assert by_id["wide.txt"].text == text
    assert by_id["wide.txt"].metadata["encoding"] == codec[:6]
    assert "Zürich" in by_id["page.html"].text


def test_a_damaged_utf16_file_is_a_clear_failure_or_replaced(tmp_path: Path) -> None:
    data = "Acme Robotics is based in Berlin.".encode("utf-16") + b"\x00\xd8A\x00"  # lone surrogate
    write(tmp_path / "wide.txt", data)
    (failure,) = read_documents([tmp_path]).failures
    assert "invalid UTF-16 after its byte-order mark" in failure.error
    assert failure.error.endswith("; repair the file, or set ingest.undecodable: replace")
    replaced = read_documents([tmp_path], IngestConfig(undecodable="replace"))
    (doc,) = replaced.documents
    assert doc.text.startswith("Acme Robotics is based in Berlin.") and "\ufffd" in doc.text
    assert "U+FFFD" in replaced.warnings[0].message


def test_a_declared_utf16_file_without_a_mark_is_read(tmp_path: Path) -> None:
    text = "Acme Robotics is based in Berlin."
    write(tmp_path / "wide.txt", text.encode("utf-16-le"))
    assert "binary" in read_documents([tmp_path]).failures[0].error
    declared = read_documents([tmp_path], IngestConfig(encoding="utf-16-le"))
    assert declared.documents[0].text == text
    write(tmp_path / "wide.txt", text.encode("utf-16-le") + b"\x00")  # an odd byte
    assert (
        "not utf-16-le as declared"
        in read_documents([tmp_path], IngestConfig(encoding="utf-16-le")).failures[0].error
    )
    nul = read_documents([tmp_path], IngestConfig(encoding="latin-1"))
    assert "binary" in nul.failures[0].error  # a declared 8-bit encoding does not read NULs


def test_json_lines_records_may_hold_unicode_line_separators(tmp_path: Path) -> None:
    records = [
        {
            "id": "s1",
            "text": "Acme hired Ana.\u2028She moved to Berlin.",
            "metadata": {"n": "a\u2029b"},
        },
        {"id": "s2", "text": "Helix Labs\u0085opened in Toronto."},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]  # U+2028 etc. written raw
    write(tmp_path / "d.jsonl", "\r\n".join([*lines, "not json", ""]))
    result = read_documents([tmp_path])
    assert [(d.id, d.text) for d in result.documents] == [(r["id"], r["text"]) for r in records]
    assert result.documents[0].metadata == {"n": "a\u2029b"}
    assert [(f.source.rsplit("/", 1)[-1], f.error) for f in result.failures] == [
        ("d.jsonl:3", "invalid JSON: Expecting value")
    ]


def test_a_json_lines_record_nested_too_deeply_is_a_recorded_failure(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    write(
        tmp_path / "d.jsonl",
        f'{{"id": "d1", "text": "Acme", "metadata": {{"a": {deep}}}}}\n{{"id": "d2", "text": "Acme"}}\n',
    )
    result = read_documents([tmp_path])
    assert [d.id for d in result.documents] == ["d2"]
    assert [(f.source.rsplit("/", 1)[-1], f.error) for f in result.failures] == [
        ("d.jsonl:1", "invalid JSON: arrays or objects nested too deeply to read")
    ]


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
    # a JSON Lines record says its size and the remedy too, as a file does
    write(tmp_path / "records.jsonl", json.dumps({"id": "r1", "text": "word " * 1000}))
    (failure,) = read_documents(
        [tmp_path / "records.jsonl"], IngestConfig(max_document_bytes=1000)
    ).failures
    assert failure.error == (
        "record text is 5,000 bytes, over ingest.max_document_bytes (1,000); raise the limit "
        "to process it"
    )


def test_chinese_document_is_detected(tmp_path: Path) -> None:
    write(tmp_path / "zh.txt", "阿克米机器人公司总部位于柏林。玛丽亚是首席执行官。")
    assert read_documents([tmp_path]).documents[0].lang == "zh"


def test_files_of_other_types_in_a_folder_are_counted_not_left_out_silently(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.txt", "Acme Robotics was founded in Berlin.")
    write(docs / "notes.rtf", "{\\rtf1 Acme}")
    write(docs / "sub" / "slides.odp", "binary-ish")
    write(docs / "sub" / "report.RTF", "{\\rtf1 Acme}")
    write(docs / "README", "no extension")
    write(docs / ".DS_Store", "hidden")  # hidden files and folders are nobody's documents
    write(docs / ".git" / "config", "[core]")
    out = docs / "out"  # the build's own output folder inside the input is not counted
    write(out / "graph.json", "{}")
    write(out / "ledger.sqlite", "")
    result = read_documents([docs], outputs=[out / "graph.html"])
    assert [d.id for d in result.documents] == ["a.txt"]
    (warning,) = result.warnings
    assert warning.source == docs.as_posix()
    assert warning.message.startswith(
        "4 file(s) not read, not of the types read (.odp 1, .rtf 2, no extension 1; "
    )
    assert ".txt .md .jsonl" in warning.message
    # a glob chose its files: what it leaves out is not worth a word
    assert read_documents([str(docs / "*.txt")]).warnings == []
    # nor is a folder holding only what is read
    write(tmp_path / "clean" / "b.md", "Northwind is based in Toronto.")
    assert read_documents([tmp_path / "clean"]).warnings == []


def test_glob_and_missing_path(tmp_path: Path) -> None:
    write(tmp_path / "x" / "a.txt", "Acme one.")
    write(tmp_path / "x" / "b.md", "Acme two.")
    result = read_documents([str(tmp_path / "x" / "*.txt")])
    assert [d.id for d in result.documents] == ["a.txt"]
    with pytest.raises(InputError, match="does not exist"):
        read_documents([tmp_path / "nope"])


def test_symlink_loops_and_broken_links_in_a_folder_are_recorded(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.txt", "Acme one.")
    write(docs / "sub" / "b.txt", "Acme two.")
    (docs / "sub" / "up").symlink_to("..")  # a folder loop
    (docs / "again").symlink_to("sub")  # a second way into sub
    (docs / "ping.txt").symlink_to("pong.txt")  # links that lead to each other
    (docs / "pong.txt").symlink_to("ping.txt")
    (docs / "gone.txt").symlink_to("missing.txt")
    for pattern in (docs, docs / "**" / "*.txt"):
        result = read_documents([str(pattern)])
        assert sorted(d.id for d in result.documents) == ["a.txt", "sub/b.txt"]
        errors = {f.source.removeprefix(docs.as_posix() + "/"): f.error for f in result.failures}
        assert set(errors) == {"sub/up", "again", "ping.txt", "pong.txt", "gone.txt"}
        assert errors["sub/up"].startswith("symlink loop") and "contains it" in errors["sub/up"]
        assert "read already" in errors["again"]
        assert errors["ping.txt"].startswith("symlink loop")
        assert "broken symlink" in errors["gone.txt"]


def test_pipes_and_devices_are_named_never_opened_nor_skipped_silently(tmp_path: Path) -> None:
    import os

    docs = tmp_path / "docs"
    write(docs / "a.txt", "Acme one.")
    os.mkfifo(docs / "pipe.txt")  # opening it would wait for a writer forever
    (docs / "zero.txt").symlink_to("/dev/zero")  # never ends
    os.mkfifo(docs / "other.bin")  # not an input extension: not reported
    for pattern in (docs, docs / "*.txt"):
        result = read_documents([str(pattern)])
        assert [d.id for d in result.documents] == ["a.txt"]
        errors = {Path(f.source).name: f.error for f in result.failures}
        assert errors == {
            "pipe.txt": "not a regular file but a named pipe (FIFO): not read",
            "zero.txt": "not a regular file but a device: not read",
        }
    with pytest.raises(InputError, match=r"pipe\.txt is not a regular file but a named pipe"):
        read_documents([docs / "pipe.txt"])
    with pytest.raises(InputError, match=r"zero\.txt is not a regular file but a device"):
        read_documents([docs / "zero.txt"])


def test_a_symlinked_folder_is_read_through_its_link(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "c.txt", "Acme three.")
    write(tmp_path / "docs" / "a.txt", "Acme one.")
    (tmp_path / "docs" / "linked").symlink_to(tmp_path / "elsewhere")
    config = IngestConfig(follow_outside_symlinks=True)
    result = read_documents([tmp_path / "docs"], config)
    assert [d.id for d in result.documents] == ["a.txt", "linked/c.txt"]
    assert result.failures == []


def test_symlinks_leading_out_of_the_input_folder_are_not_followed(tmp_path: Path) -> None:
    secret = write(tmp_path / "home" / ".ssh" / "id.txt", "PRIVATE KEY")
    write(tmp_path / "home" / "notes" / "n.md", "Private notes.")
    docs = tmp_path / "shared" / "docs"
    write(docs / "a.txt", "Acme one.")
    (docs / "key.txt").symlink_to(secret)
    (docs / "up").symlink_to("../../home/notes")
    for pattern in (docs, docs / "**" / "*.*"):
        result = read_documents([str(pattern)])
        # was: "PRIVATE KEY" and the notes read into the graph of whoever builds the folder
        assert [d.id for d in result.documents] == ["a.txt"]
        errors = {Path(f.source).name: f.error for f in result.failures}
        assert set(errors) == {"key.txt", "up"}
        assert errors["key.txt"].startswith("symlink leads out of the input folder")
        assert str(secret) in errors["key.txt"] and "follow_outside_symlinks" in errors["up"]
    # Named itself, a link is read wherever it leads.
    assert [d.text for d in read_documents([docs / "key.txt"]).documents] == ["PRIVATE KEY"]


def test_document_ids_with_control_characters_are_refused(tmp_path: Path) -> None:
    records = [
        {"id": "ctl\u0001id", "text": "Acme Robotics is in Berlin."},
        {"id": "fine", "text": "Acme Robotics is in Toronto."},
        {"id": "bad-text", "text": "Acme \ud800 Robotics."},
    ]
    write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in records))
    write(tmp_path / "tab\tname.txt", "Acme four.")
    result = read_documents([tmp_path])
    assert [d.id for d in result.documents] == ["fine"]
    errors = {f.source.rsplit("/", 1)[-1]: f.error for f in result.failures}
    assert "'ctl\\x01id' contains the control character U+0001" in errors["r.jsonl:1"]
    assert "not valid Unicode" in errors["r.jsonl:3"]
    assert "U+0009" in errors["tab\tname.txt"] and "the file name" in errors["tab\tname.txt"]


def test_metadata_is_json_for_non_strings_and_over_size_values_are_left_out(
    tmp_path: Path,
) -> None:
    record = {
        "id": "r1",
        "text": "Acme Robotics is in Berlin.",
        "metadata": {
            "author": "Ana",
            "tags": ["b", "a"],
            "extra": {"z": 1, "a": None},
            "flag": True,
            "big": "x" * 2_000_000,
            "ctl\u0007key": "v",
        },
    }
    write(tmp_path / "r.jsonl", json.dumps(record))
    result = read_documents([tmp_path], IngestConfig(max_metadata_chars=10_000))
    (doc,) = result.documents
    assert doc.metadata == {
        "author": "Ana",
        "tags": '["b", "a"]',
        "extra": '{"a": null, "z": 1}',
        "flag": "true",
    }
    messages = sorted(w.message for w in result.warnings)
    assert len(messages) == 2 and all(w.doc_id == "r1" for w in result.warnings)
    assert (
        "'big' has a value of 2,000,000 characters, over ingest.max_metadata_chars" in messages[0]
    )
    assert "U+0007" in messages[1]


def test_a_declared_language_is_a_code_the_ledger_holds(tmp_path: Path) -> None:
    records = [
        {"id": "a", "text": "李明出生于北京。", "metadata": {"lang": "zh-Hans-CN-x-private"}},
        {"id": "b", "text": "Acme Robotics is based in Berlin.", "metadata": {"lang": " en_US "}},
        {"id": "c", "text": "Helix moved to Lisbon.", "metadata": {"lang": "English!"}},
    ]
    write(tmp_path / "docs.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    result = read_documents([tmp_path])
    # was: "zh-Hans-CN-x-private" (20 characters), which PostgreSQL's documents.lang
    # (16) refuses, failing the whole batch's write to the ledger
    assert {doc.id: doc.lang for doc in result.documents} == {"a": "zh-Hans-CN", "b": "en_US"}
    (failure,) = result.failures
    assert failure.source.endswith("docs.jsonl:3")
    assert "lang 'English!' is not a language code" in failure.error
