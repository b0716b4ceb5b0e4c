"""The HTTP API (FastAPI): ``/ask``, ``/entities/{id}``, ``/health`` and one HTML page."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kgbuild.errors import KGBuildError
from kgbuild.graph.export import vis_assets
from kgbuild.qa.engine import MAX_QUESTION_CHARS, GraphQA
from kgbuild.qa.models import AskResult, EntityCard

__all__ = ["AskRequest", "create_app", "page_html"]


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


def create_app(qa: GraphQA) -> FastAPI:
    """The API over one :class:`GraphQA` (its models stay loaded between requests)."""
    app = FastAPI(title="kgbuild", description="Question answering over the knowledge graph.")

    @app.exception_handler(KGBuildError)
    async def _bad_input(_: Any, exc: KGBuildError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

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
        return HTMLResponse(page_html())

    return app


@lru_cache(maxsize=1)
def page_html() -> str:
    """The self-contained question page (vis-network inlined, no network access needed)."""
    js, css = vis_assets()
    config = json.dumps({"maxChars": MAX_QUESTION_CHARS})
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
  const response = await fetch(`/entities/${encodeURIComponent(id)}`);
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
  const response = await fetch("/ask", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify({ question, top_k: 3 }) });
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
