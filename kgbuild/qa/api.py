"""The HTTP API (FastAPI): ``/ask``, ``/entities/{id}``, ``/health`` and one HTML page.

Guards (:mod:`kgbuild.qa.http_guards`), outermost first: the ``Host`` allow-list, the body
limit, then the bearer token when one is set (the page ``/`` itself is open: it holds no
data, and asks for the token). Errors name the field and the problem, never the input.
Swagger UI (``/docs``, which loads its script from a CDN) and ``/openapi.json`` exist only
when asked for.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from kgbuild.config import ServeConfig
from kgbuild.errors import KGBuildError
from kgbuild.graph.export import script_json, vis_assets
from kgbuild.qa.engine import MAX_QUESTION_CHARS, GraphQA
from kgbuild.qa.http_guards import BodyLimit, TokenAuth, allowed_hosts, validation_errors
from kgbuild.qa.models import AskResult, EntityCard

__all__ = ["AskRequest", "create_app", "page_html"]

DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")


class AskRequest(BaseModel):
    """Body of ``POST /ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION_CHARS * 20)
    top_k: int = Field(default=1, ge=1, le=20)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class EntityResponse(BaseModel):
    """Body of ``GET /entities/{id}``: the entity card and its neighbourhood."""

    entity: EntityCard
    neighbourhood: dict[str, list[dict[str, Any]]]


def create_app(
    qa: GraphQA, config: ServeConfig | None = None, *, bound_host: str = "127.0.0.1"
) -> FastAPI:
    """The API over one :class:`GraphQA` (its models stay loaded between requests).

    Args:
        qa: The question answering engine.
        config: Body limit, extra allowed ``Host`` names, token, docs (default: none).
        bound_host: The interface the server listens on; a ``Host`` it accepts too.
    """
    config = config or ServeConfig()
    token = config.token.get_secret_value() if config.token is not None else None
    app = FastAPI(
        title="kgbuild",
        description="Question answering over the knowledge graph.",
        docs_url=DOCS_PATHS[0] if config.docs else None,
        redoc_url=None,
        openapi_url=DOCS_PATHS[2] if config.docs else None,
    )
    if token is not None:
        app.add_middleware(TokenAuth, token=token, open_paths=("/", *DOCS_PATHS))
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(
        TrustedHostMiddleware,
        allowed_hosts=allowed_hosts(bound_host, config.allowed_hosts),
        www_redirect=False,
    )

    @app.exception_handler(KGBuildError)
    async def _bad_input(_: Any, exc: KGBuildError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(exc.errors())})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return qa.health()

    @app.post("/ask", response_model=AskResult)
    def ask_post(request: AskRequest) -> AskResult:
        return qa.ask(request.question, top_k=request.top_k, threshold=request.threshold)

    @app.get("/ask", response_model=AskResult)
    def ask_get(
        q: str = Query(max_length=MAX_QUESTION_CHARS * 20),
        top_k: int = Query(default=1, ge=1, le=20),
        threshold: float | None = Query(default=None, ge=0.0, le=1.0),
    ) -> AskResult:
        return qa.ask(q, top_k=top_k, threshold=threshold)

    @app.get("/entities/{entity_id}", response_model=EntityResponse)
    def entity(entity_id: str) -> EntityResponse:
        card = qa.entity(entity_id)
        if card is None:
            raise HTTPException(status_code=404, detail="no entity with this id")
        return EntityResponse(entity=card, neighbourhood=qa.neighbourhood(entity_id))

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html(auth=token is not None))

    return app


@lru_cache(maxsize=2)
def page_html(*, auth: bool = False) -> str:
    """The self-contained question page (vis-network inlined, no network access needed).

    With ``auth``, the page sends the access token with every request: it takes it from a
    ``#token=...`` fragment of its URL (fragments never reach the server or its logs; the
    page removes it from the address bar) or from its token field, and keeps it in the
    tab's ``sessionStorage`` only.
    """
    js, css = vis_assets()
    config = script_json({"maxChars": MAX_QUESTION_CHARS, "auth": auth})
    return (
        _PAGE.replace("/*VIS_CSS*/", css)
        .replace("/*VIS_JS*/", js.replace("</script", "<\\/script"))
        .replace("/*CONFIG*/", config)
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kgbuild: ask the graph</title>
<style>/*VIS_CSS*/</style>
<style>
body { font-family: sans-serif; margin: 0 auto; max-width: 960px; padding: 16px; }
form { display: flex; gap: 8px; }
#question { flex: 1; font-size: 16px; padding: 6px; }
#answer { font-size: 22px; margin: 16px 0 4px; }
.meta { color: #555; font-size: 13px; }
blockquote { background: #f6f6f6; border-left: 4px solid #f28e2b; margin: 8px 0; padding: 8px; }
mark { background: #ffd54f; }
#graph { height: 380px; border: 1px solid #ddd; margin-top: 12px; }
#error { color: #b00020; }
</style>
<script>/*VIS_JS*/</script>
</head>
<body>
<h1>Ask the graph</h1>
<form id="auth" hidden>
  <input id="token" type="password" autocomplete="off" placeholder="Access token of this server">
  <button type="submit">Use token</button>
</form>
<form id="ask">
  <input id="question" name="question" autocomplete="off" placeholder="Where is Acme Robotics based?">
  <button type="submit">Ask</button>
</form>
<p id="error"></p>
<div id="answer"></div>
<div id="details" class="meta"></div>
<blockquote id="evidence" hidden></blockquote>
<ol id="alternatives" class="meta"></ol>
<div id="graph"></div>
<script>
const CONFIG = /*CONFIG*/;
const $ = (id) => document.getElementById(id);
// With auth on, the token comes from a #token=... fragment (never sent to the server) or
// the token field, and lives in this tab's sessionStorage only.
const TOKEN_KEY = "kgbuildToken";
function takeTokenFromFragment() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", window.location.pathname + window.location.search);
}
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}
function askForToken(message) {
  $("auth").hidden = false;
  $("error").textContent = message;
}
$("auth").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  $("auth").hidden = true;
  $("error").textContent = "";
});
if (CONFIG.auth) {
  takeTokenFromFragment();
  if (!sessionStorage.getItem(TOKEN_KEY)) askForToken("This server needs its access token.");
}
function clear() {
  for (const id of ["answer", "details", "error", "alternatives"]) $(id).textContent = "";
  $("evidence").hidden = true;
  $("evidence").replaceChildren();
}
function showEvidence(ev) {
  const box = $("evidence");
  if (!ev) return;
  const text = ev.text;
  const a = ev.answer_start == null ? -1 : ev.answer_start - ev.start;
  const b = ev.answer_end == null ? -1 : ev.answer_end - ev.start;
  if (a >= 0 && b <= text.length && a < b) {
    const mark = document.createElement("mark");
    mark.textContent = text.slice(a, b);
    box.replaceChildren(document.createTextNode(text.slice(0, a)), mark,
                        document.createTextNode(text.slice(b)));
  } else {
    box.replaceChildren(document.createTextNode(text));
  }
  const where = document.createElement("div");
  where.className = "meta";
  const span = ev.answer_start == null ? `${ev.start}-${ev.end}` : `${ev.answer_start}-${ev.answer_end}`;
  where.textContent = `${ev.doc_id}, characters ${span}`;
  box.appendChild(where);
  box.hidden = false;
}
async function drawEntity(id) {
  const response = await fetch(`/entities/${encodeURIComponent(id)}`, { headers: authHeaders() });
  if (!response.ok) return;
  const data = await response.json();
  const hood = data.neighbourhood;
  const nodes = hood.nodes.map((n) => ({ id: n.id, label: n.label, group: n.group,
                                         borderWidth: n.main ? 4 : 1 }));
  window.kgbuildNetwork = new vis.Network($("graph"),
    { nodes: new vis.DataSet(nodes), edges: new vis.DataSet(hood.edges.map((e) => ({ ...e, arrows: "to" }))) },
    { physics: { stabilization: { iterations: 100 } } });
  window.kgbuildNeighbourhood = { nodes: nodes.length, edges: hood.edges.length };
}
$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  clear();
  const question = $("question").value;
  if (!question.trim()) { $("error").textContent = "Type a question first."; return; }
  if (question.length > CONFIG.maxChars) {
    $("error").textContent = `The question is too long (at most ${CONFIG.maxChars} characters).`;
    return;
  }
  const response = await fetch("/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ question, top_k: 3 }),
  });
  if (response.status === 401) {
    askForToken(sessionStorage.getItem(TOKEN_KEY)
      ? "The server refused the access token: paste the right one above."
      : "This server needs its access token: paste it above.");
    return;
  }
  const result = await response.json();
  if (!response.ok) {
    $("error").textContent = typeof result.detail === "string" ? result.detail : "The question was refused.";
    return;
  }
  window.kgbuildResult = result;
  if (!result.answered) {
    $("answer").textContent = "I don't know.";
    const guesses = result.candidates.map((c) => `${c.text} (${c.score.toFixed(2)})`).join(", ");
    $("details").textContent = result.message + (guesses ? ` Best candidates: ${guesses}` : "");
  } else {
    const a = result.answer;
    $("answer").textContent = a.text;
    let on = a.entity_name ? `entity ${a.entity_name}` : "";
    if (a.relation) on = `${a.relation.head_name} ${a.relation.type} ${a.relation.tail_name}`;
    if (a.attribute) on = `${a.entity_name}: ${a.attribute.key} = ${a.attribute.value}`;
    $("details").textContent = `score ${a.score.toFixed(3)} · ${a.path} · rests on ${on}`;
    showEvidence(a.evidence);
    for (const alt of result.alternatives) {
      const li = document.createElement("li");
      li.textContent = `${alt.text} (${alt.score.toFixed(3)})`;
      $("alternatives").appendChild(li);
    }
  }
  const entity = (result.answer && result.answer.entity_id) || (result.linked[0] && result.linked[0].id);
  if (entity) await drawEntity(entity);
  document.body.dataset.state = "done";
});
// A link can carry the question: /?q=Where+is+Acme+based%3F asks it on load.
const initial = new URLSearchParams(window.location.search).get("q");
if (initial) { $("question").value = initial; $("ask").requestSubmit(); }
</script>
</body>
</html>
"""
