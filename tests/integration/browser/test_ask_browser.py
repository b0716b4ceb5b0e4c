"""The question page of ``kgbuild serve`` in Debian's headless chromium (tests/browser.py).

The graph and the server are tests/unit/qa's (conftest.py, test_ask.py): the example built by the real
pipeline with the tiny keyword models.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from kgbuild.config import ServeConfig, Settings
from kgbuild.qa import GraphQA
from tests.browser import dump_dom
from tests.http_server import running
from tests.unit.qa import conftest as qa_fixtures
from tests.unit.qa import test_ask

# The unit tests' fixtures, for this module too.
example, qa, server = qa_fixtures.example, test_ask.qa, test_ask.server


def test_the_page_shows_an_answer_in_a_real_headless_browser(server: str, tmp_path: Path) -> None:
    """Debian's chromium opens the page with ?q=..., which asks on load; the DOM shows the answer."""
    url = f"{server}/?q={quote('in which city does omar haddad work ?')}"
    dom = dump_dom(url, tmp_path / "profile")
    assert 'data-state="done"' in dom
    assert '<div id="answer">Toronto</div>' in dom
    assert "<mark>Toronto</mark>" in dom  # the evidence sentence, answer highlighted
    assert '<form id="auth" hidden="">' in dom  # no token asked for


def test_the_page_sends_the_token_it_was_given_once(qa: GraphQA, tmp_path: Path) -> None:
    """With a token, the page takes it from the URL fragment and sends it with each request."""
    from kgbuild.qa.api import create_app

    token = secrets.token_urlsafe(24)
    question = quote("in which city does omar haddad work ?")
    with running(create_app(qa, ServeConfig(token=SecretStr(token)))) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.post("/ask", json={"question": "q"}).status_code == 401
        dom = dump_dom(f"{url}/?q={question}#token={token}", tmp_path / "given")
        assert '<div id="answer">Toronto</div>' in dom
        assert "<mark>Toronto</mark>" in dom
        assert 'data-state="done"' in dom  # the neighbourhood request carried the token too
        locked = dump_dom(f"{url}/?q={question}", tmp_path / "none")
    assert '<form id="auth">' in locked and "needs its access token" in locked
    assert '<div id="answer"></div>' in locked


def test_the_page_says_which_relation_a_question_asked_for_when_the_graph_lacks_it(
    example: Settings, keyword_qa_model: Path, keyword_ner_model: Path, tmp_path: Path
) -> None:
    """Matched to BORN_IN, which Maria Gonzalez has no fact of: read from the text, and said."""
    from kgbuild.qa import open_store
    from kgbuild.qa.api import create_app
    from kgbuild.schema import load_schema

    with (
        GraphQA(
            open_store(example),
            qa_model=str(keyword_qa_model),
            ner_model=str(keyword_ner_model),
            encoder=test_ask.ENCODER,
            threshold=0.0,
            schema=load_schema(example.schema_path),
        ) as graph_qa,
        running(create_app(graph_qa)) as url,
    ):
        question = quote("Where was Maria Gonzalez born?")
        dom = dump_dom(f"{url}/?q={question}", tmp_path / "profile")
    assert 'data-state="done"' in dom
    assert "asks for BORN_IN of Maria Gonzalez, which the graph has no fact of" in dom
