"""The HTTP API (FastAPI): ``/ask``, ``/entities/{id}``, ``/health``, the explorer, two pages.

The explorer's JSON routes (``/explorer/search`` for type-ahead, ``/explorer/entity``,
``/explorer/neighbourhood``, ``/explorer/overview``) serve :class:`kgbuild.explorer.service.
Explorer` over the question answering store; the pages are ``/`` (ask a question) and
``/explore`` (the explorer).

Guards (:mod:`kgbuild.qa.http_guards`), outermost first: the ``Host`` allow-list, the body
limit, then the bearer token when one is set (the pages ``/`` and ``/explore`` are open: they
hold no data, and ask for the token). Errors name the field and the problem, never the input.
Swagger UI (``/docs``, which loads its script from a CDN) and ``/openapi.json`` exist only
when asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, cast

from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from kgbuild.config import ServeConfig
from kgbuild.errors import KGBuildError
from kgbuild.explorer.models import DocumentRef, EntityPage, Neighbourhood, SearchResult
from kgbuild.explorer.pages import ask_html, explorer_html
from kgbuild.explorer.search import MAX_QUERY_CHARS
from kgbuild.explorer.service import NEIGHBOURS, OVERVIEW_ENTITIES, Explorer
from kgbuild.explorer.store import ExplorerStore
from kgbuild.qa.engine import MAX_QUESTION_CHARS, GraphQA
from kgbuild.qa.http_guards import BodyLimit, TokenAuth, allowed_hosts, validation_errors
from kgbuild.qa.models import AskResult, EntityCard
from kgbuild.store.neo4j.errors import Neo4jUnavailableError

__all__ = ["AskRequest", "AskResponse", "create_app", "page_html"]

DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")
PAGE_PATHS = ("/", "/explore")
"""The pages: open without the token (they hold no data; they ask for it)."""
MAX_ID_CHARS = 1000


class AskRequest(BaseModel):
    """Body of ``POST /ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION_CHARS * 20)
    top_k: int = Field(default=1, ge=1, le=20)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class AskResponse(AskResult):
    """What ``/ask`` returns: the result, and the title of each document its evidence cites."""

    documents: dict[str, DocumentRef] = Field(default_factory=dict)


class EntityResponse(BaseModel):
    """Body of ``GET /entities/{id}``: the entity card and its neighbourhood."""

    entity: EntityCard
    neighbourhood: dict[str, list[dict[str, Any]]]


def _cited(result: AskResult) -> Iterator[str]:
    """The documents the answers of a result cite as evidence."""
    answers = [*([result.answer] if result.answer else []), *result.alternatives]
    for answer in [*answers, *result.candidates]:
        if answer.evidence is not None:
            yield answer.evidence.doc_id
        yield from (e.doc_id for e in answer.support)


def create_app(
    qa: GraphQA,
    config: ServeConfig | None = None,
    *,
    bound_host: str = "127.0.0.1",
    server_id: str | None = None,
) -> FastAPI:
    """The API over one :class:`GraphQA` (its models stay loaded between requests).

    Args:
        qa: The question answering engine.
        config: Body limit, extra allowed ``Host`` names, token, docs (default: none).
        bound_host: The interface the server listens on; a ``Host`` it accepts too.
        server_id: Named by ``/health`` (:attr:`kgbuild.qa.remote.ServerRecord.server_id`).
    """
    config = config or ServeConfig()
    token = config.token.get_secret_value() if config.token is not None else None
    app = FastAPI(
        title="kgbuild",
        description="Question answering over the knowledge graph, and an explorer.",
        docs_url=DOCS_PATHS[0] if config.docs else None,
        redoc_url=None,
        openapi_url=DOCS_PATHS[2] if config.docs else None,
    )
    if token is not None:
        app.add_middleware(TokenAuth, token=token, open_paths=(*PAGE_PATHS, *DOCS_PATHS))
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(
        TrustedHostMiddleware,
        allowed_hosts=allowed_hosts(bound_host, config.allowed_hosts),
        www_redirect=False,
    )
    explorer = Explorer(cast(ExplorerStore, qa.store))

    @app.exception_handler(KGBuildError)
    async def _bad_input(_: Any, exc: KGBuildError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(Neo4jUnavailableError)
    async def _store_down(_: Any, exc: Neo4jUnavailableError) -> JSONResponse:
        detail = (
            f"the graph store is unavailable: Neo4j at {exc.uri} (database {exc.database!r}) "
            "does not answer; try again once it runs"
        )
        return JSONResponse(status_code=503, content={"detail": detail})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(exc.errors())})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {**qa.health(), **({"server_id": server_id} if server_id else {})}

    @app.head("/health", include_in_schema=False)  # what uptime monitors send
    def health_head() -> Response:
        qa.health()
        return Response()

    def answered(result: AskResult) -> AskResponse:
        return AskResponse(**dict(result), documents=explorer.documents(_cited(result)))

    @app.post("/ask", response_model=AskResponse)
    def ask_post(request: AskRequest) -> AskResponse:
        return answered(qa.ask(request.question, top_k=request.top_k, threshold=request.threshold))

    @app.get("/ask", response_model=AskResponse)
    def ask_get(
        q: str = Query(max_length=MAX_QUESTION_CHARS * 20),
        top_k: int = Query(default=1, ge=1, le=20),
        threshold: float | None = Query(default=None, ge=0.0, le=1.0),
    ) -> AskResponse:
        return answered(qa.ask(q, top_k=top_k, threshold=threshold))

    @app.get("/entities/{entity_id}", response_model=EntityResponse)
    def entity(entity_id: str) -> EntityResponse:
        card = qa.entity(entity_id)
        if card is None:
            raise HTTPException(status_code=404, detail="no entity with this id")
        return EntityResponse(entity=card, neighbourhood=qa.neighbourhood(entity_id))

    _explorer_routes(app, explorer)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html(auth=token is not None))

    @app.get("/explore", response_class=HTMLResponse)
    def explore_page() -> HTMLResponse:
        return HTMLResponse(_explorer_page(auth=token is not None))

    return app


def _explorer_routes(app: FastAPI, explorer: Explorer) -> None:
    """The explorer's JSON routes (defaults left out, as in the static ``graph.html``)."""

    @app.get("/explorer/search", response_model=SearchResult, response_model_exclude_defaults=True)
    def search(
        q: str = Query(max_length=MAX_QUERY_CHARS), limit: int = Query(default=10, ge=1, le=50)
    ) -> SearchResult:
        return explorer.suggest(q, limit)

    @app.get("/explorer/entity", response_model=EntityPage, response_model_exclude_defaults=True)
    def entity_page(id: str = Query(max_length=MAX_ID_CHARS)) -> EntityPage:
        page = explorer.entity_page(id)
        if page is None:
            raise HTTPException(status_code=404, detail="no entity with this id")
        return page

    @app.get(
        "/explorer/neighbourhood",
        response_model=Neighbourhood,
        response_model_exclude_defaults=True,
    )
    def neighbourhood(
        id: str = Query(max_length=MAX_ID_CHARS),
        limit: int = Query(default=NEIGHBOURS, ge=1, le=200),
    ) -> Neighbourhood:
        view = explorer.neighbourhood(id, limit)
        if view is None:
            raise HTTPException(status_code=404, detail="no entity with this id")
        return view

    @app.get(
        "/explorer/overview", response_model=Neighbourhood, response_model_exclude_defaults=True
    )
    def overview(limit: int = Query(default=OVERVIEW_ENTITIES, ge=1, le=500)) -> Neighbourhood:
        return explorer.overview(limit)


@lru_cache(maxsize=2)
def _explorer_page(*, auth: bool) -> str:
    return explorer_html(auth=auth)


def page_html(*, auth: bool = False) -> str:
    """The self-contained question page (vis-network inlined, no network access needed).

    With ``auth``, the page sends the access token with every request: it takes it from a
    ``#token=...`` fragment of its URL (fragments never reach the server or its logs; the
    page removes it from the address bar) or from its token field, and keeps it in the
    tab's ``sessionStorage`` only.
    """
    return ask_html(auth=auth, max_chars=MAX_QUESTION_CHARS)
