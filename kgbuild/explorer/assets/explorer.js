/* kgbuild explorer: type-ahead search, entity pages and a neighbourhood graph (vis-network).
 *
 * One script for the served pages (data from the JSON endpoints) and the static graph.html
 * (data embedded in the file). Nothing read from the graph is ever parsed as HTML: every
 * text goes into the page through textContent or text nodes.
 */
(function () {
  "use strict";

  const KG = {};

  // -- DOM -----------------------------------------------------------------------------------

  /** An element with properties and children (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "style") Object.assign(node.style, value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  KG.el = el;

  const plural = (n, one, many) => `${n.toLocaleString("en")} ${n === 1 ? one : many || one + "s"}`;
  KG.plural = plural;

  // -- entity types: colour and shape --------------------------------------------------------

  const COLOURS = { PER: "#4e79a7", ORG: "#f28e2b", LOC: "#59a14f", MISC: "#b07aa1" };
  const EXTRA_COLOURS = ["#e15759", "#76b7b2", "#b6992d", "#ff9da7", "#9c755f", "#79706e"];
  const SHAPES = { PER: "dot", ORG: "square", LOC: "triangle", MISC: "diamond" };
  const SYMBOLS = { dot: "\u25cf", square: "\u25a0", triangle: "\u25b2", diamond: "\u25c6", hexagon: "\u2b22" };

  function colour(label) {
    if (COLOURS[label]) return COLOURS[label];
    let hash = 0;
    for (const ch of String(label)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return EXTRA_COLOURS[hash % EXTRA_COLOURS.length];
  }
  const shape = (label) => SHAPES[label] || "hexagon";
  // relation types get colours in the order they first appear (stable while the page is open)
  const EDGE_COLOURS = ["#2f6db5", "#c4561d", "#2e8b3a", "#8c4fa0", "#b8333b", "#1f8f8a", "#8a6a10",
                        "#b0487e", "#4d4d4d", "#6b7fd7"];
  const edgeColours = new Map();
  function edgeColour(type) {
    if (!edgeColours.has(type)) edgeColours.set(type, EDGE_COLOURS[edgeColours.size % EDGE_COLOURS.length]);
    return edgeColours.get(type);
  }
  KG.colour = colour;

  /** A coloured symbol and the type name: the same mark as the graph's nodes. */
  function typeBadge(label) {
    const name = label || "entity";
    return el("span", { class: "type", title: `entity type ${name}` },
      el("span", { class: "symbol", style: { color: colour(label) } }, SYMBOLS[shape(label)]), name);
  }
  KG.typeBadge = typeBadge;

  // -- access token (served pages only) ------------------------------------------------------

  const TOKEN_KEY = "kgbuildToken";
  /** Read `#...&token=...` once into this tab's sessionStorage and drop it from the address. */
  KG.takeTokenFromFragment = function () {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const token = params.get("token");
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
  };
  KG.authHeaders = function () {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: `Bearer ${token}` } : {};
  };
  KG.setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
  KG.hasToken = () => Boolean(sessionStorage.getItem(TOKEN_KEY));

  class AuthError extends Error {}
  KG.AuthError = AuthError;

  // -- where the data comes from -------------------------------------------------------------

  /** The served endpoints (`kgbuild serve`). */
  KG.serverBackend = function () {
    async function get(path, params) {
      const response = await fetch(`${path}?${new URLSearchParams(params)}`, { headers: KG.authHeaders() });
      if (response.status === 401) throw new AuthError("the server needs its access token");
      if (response.status === 404) return null;
      if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
      return response.json();
    }
    return {
      suggest: (q) => get("/explorer/search", { q, limit: 10 }),
      entity: (id) => get("/explorer/entity", { id }),
      neighbourhood: (id) => get("/explorer/neighbourhood", { id }),
      overview: () => get("/explorer/overview", {}),
    };
  };

  const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
  /** Python's casefold, then accents stripped (kgbuild.qa.text.fold): "Straße" -> "strasse".
   *  Upper then lower case expands what casefold expands ("ß" -> "SS", "ᾈ" -> "ἈΙ"); the
   *  capital sharp s and the final sigma are folded as casefold folds them. */
  const fold = (text) => text.toUpperCase().toLowerCase().replace(/ß/g, "ss").replace(/ς/g, "σ")
    .normalize("NFKD").replace(/\p{M}/gu, "");

  /** Folded words, as kgbuild.qa.text.tokens makes them (CJK characters one by one). */
  function tokens(text) {
    const out = [];
    text = text.replace(/[\u00ad\u200c\u200d\u2060\ufeff]/g, "").normalize("NFC");
    for (const match of text.matchAll(/[\p{L}\p{N}]+/gu)) {
      const word = match[0];
      const at = match.index;
      if (word.toLowerCase() === "s" && at > 0 && "'\u2019".includes(text[at - 1])) continue;
      if (!CJK.test(word)) { out.push(fold(word)); continue; }
      let run = "";
      for (const ch of word) {
        if (CJK.test(ch)) {
          if (run) out.push(fold(run));
          run = "";
          out.push(ch);
        } else run += ch;
      }
      if (run) out.push(fold(run));
    }
    return out;
  }
  KG.tokens = tokens;

  /** The data embedded in graph.html: the same JSON the endpoints serve, computed at export. */
  KG.staticBackend = function (bundle) {
    // an id from the address ("#entity=constructor") must not find what every object inherits
    const own = (table, id) => (Object.hasOwn(table, id) ? table[id] : null);
    const entities = new Map();
    // a capped file: the first `held` rows are the entities with pages, which search finds;
    // the rest are only drawn beside them
    const searched = bundle.paged ? bundle.paged[0] : bundle.entities.length;
    bundle.entities.forEach(([id, name, label, aliases, mentionCount, degree], row) => {
      const forms = row < searched ? [name, ...aliases].map((form) => [form, tokens(form)]) : [];
      entities.set(id, { id, name, label, aliases, mention_count: mentionCount, degree, forms });
    });
    const note = bundle.paged
      ? `This file searches the ${bundle.paged[0].toLocaleString("en")} entities whose pages it holds, `
        + `of ${bundle.paged[1].toLocaleString("en")} (setting graph.html_pages): \`kgbuild serve\` searches every one.`
      : "";
    const node = (id) => {
      const { forms, ...entity } = entities.get(id);
      return entity;
    };
    // the rule of kgbuild.explorer.search.rank_suggestions
    function suggest(q) {
      const words = tokens(q.slice(0, 200)).slice(0, 8);
      if (!words.length) return note ? { query: q, results: [], note } : { query: q, results: [] };
      const typed = words.join(" ");
      const found = [];
      for (const entity of entities.values()) {
        let best = null;
        for (const [form, nameWords] of entity.forms) {
          if (!words.every((w) => nameWords.some((n) => n.startsWith(w)))) continue;
          const rank = nameWords.join(" ").startsWith(typed) ? 0 : 1;
          if (!best || rank < best[0]) best = [rank, form];
        }
        if (best) found.push([[best[0], -entity.degree, -entity.mention_count, entity.name.toLowerCase(), entity.id], entity, best[1]]);
      }
      found.sort((a, b) => {
        for (let i = 0; i < a[0].length; i++) if (a[0][i] !== b[0][i]) return a[0][i] < b[0][i] ? -1 : 1;
        return 0;
      });
      const results = found.slice(0, 10).map(([, e, form]) => ({ ...node(e.id), matched: form }));
      return note ? { query: q, results, note } : { query: q, results };
    }
    function neighbourhood(id) {
      const hood = own(bundle.neighbourhoods, id);
      if (!hood) return null;
      const ids = [id];
      for (const e of hood.edges || []) {
        const other = e.source === id ? e.target : e.source;
        if (!ids.includes(other)) ids.push(other);
      }
      return { ...hood, center: id, nodes: ids.filter((i) => entities.has(i)).map(node) };
    }
    return {
      suggest: async (q) => suggest(q),
      entity: async (id) => {
        const page = own(bundle.pages, id);
        if (page || !bundle.paged || !entities.has(id)) return page;
        const [held, total] = bundle.paged.map((n) => n.toLocaleString("en"));
        throw new Error(`The page of ${entities.get(id).name} is not in this file: it holds those of ${held} `
          + `of the ${total} entities, the ones with most relations (setting graph.html_pages). `
          + "`kgbuild serve` shows every page at /explore.");
      },
      neighbourhood: async (id) => neighbourhood(id),
      overview: async () => bundle.overview,
    };
  };

  // -- the graph -----------------------------------------------------------------------------

  const CO_MENTION = "co-mention";
  const LABEL_CHARS = 26;
  const MAX_EDGE_LABELS = 24;
  /** A node label: at most LABEL_CHARS characters (code points: an emoji is never cut in two). */
  function short(text) {
    const chars = Array.from(text);
    return chars.length > LABEL_CHARS ? chars.slice(0, LABEL_CHARS - 1).join("") + "\u2026" : text;
  }

  const NETWORK_OPTIONS = {
    nodes: {
      scaling: { min: 10, max: 34, label: { enabled: false } },
      font: { size: 15, face: "sans-serif", color: "#1a1a1a", strokeWidth: 4, strokeColor: "#ffffff" },
      borderWidth: 1,
    },
    edges: {
      smooth: false,
      font: { size: 11, color: "#555555", strokeWidth: 3, strokeColor: "#ffffff", align: "middle" },
      color: { color: "#8a8a8a", highlight: "#333333", hover: "#333333" },
      selectionWidth: 2,
    },
    physics: {
      solver: "forceAtlas2Based",
      forceAtlas2Based: { gravitationalConstant: -90, springLength: 130, avoidOverlap: 0.6 },
      stabilization: { enabled: true, iterations: 300, fit: true },
    },
    interaction: { hover: true, tooltipDelay: 120, navigationButtons: false, keyboard: false },
  };

  /** The drawn graph: overview or neighbourhoods, expanded on click, with legend and filters. */
  class GraphView {
    constructor(container, legend, backend, options = {}) {
      this.container = container;
      this.legendBox = legend;
      this.backend = backend;
      this.onSelect = options.onSelect || (() => {});
      this.onStatus = options.onStatus || (() => {});
      this.nodes = new vis.DataSet();
      this.edges = new vis.DataSet();
      this.hiddenLabels = new Set();
      this.hiddenTypes = new Set();
      this.expanded = new Set();
      this.more = new Map();
      this.edgeData = new Map();
      this.nodeView = new vis.DataView(this.nodes, { filter: (n) => !this.hiddenLabels.has(n.group) });
      this.edgeView = new vis.DataView(this.edges, { filter: (e) => !this.hiddenTypes.has(e.relType) });
      this.network = new vis.Network(container, { nodes: this.nodeView, edges: this.edgeView }, NETWORK_OPTIONS);
      this.settled = false;
      // lay out, then hold still: nodes stay where a reader found them until the next change
      this.network.on("stabilizationIterationsDone", () => this.settle());
      this.network.on("stabilized", () => this.settle());
      this.network.on("click", (params) => {
        if (params.nodes.length) this.select(params.nodes[0]);
      });
    }

    settle() {
      this.network.setOptions({ physics: { enabled: false } });
      this.settled = true;
      this.container.dataset.settled = "true";
    }

    unsettle() {
      this.settled = false;
      this.container.dataset.settled = "false";
    }

    visNode(n, center) {
      const aliases = (n.aliases || []).filter((a) => a !== n.name);
      const lines = [
        `${n.name} [${n.label || "entity"}]`,
        `${plural(n.mention_count || 0, "mention")}, ${plural(n.degree || 0, "relation")}`,
      ];
      if (aliases.length) lines.push(`also: ${aliases.slice(0, 5).join(", ")}${aliases.length > 5 ? ", \u2026" : ""}`);
      lines.push("click: open it and draw its neighbours");
      return {
        id: n.id,
        label: short(n.name),
        title: lines.join("\n"),
        group: n.label || "",
        shape: shape(n.label || ""),
        color: { background: colour(n.label || ""), border: center ? "#111111" : "#ffffff",
                 highlight: { background: colour(n.label || ""), border: "#111111" } },
        borderWidth: center ? 4 : 1.5,
        value: 1 + (n.degree || 0),
        // the overview is drawn zoomed out: larger letters keep its names readable
        font: { size: this.mode === "overview" ? 22 : 15 },
        name: n.name,
      };
    }

    visEdge(e) {
      const co = (e.kind || "relation") === "co-mention";
      return {
        id: e.id,
        from: e.source,
        to: e.target,
        relType: co ? CO_MENTION : e.type,
        label: co || !this.edgeLabels ? undefined : e.type,
        font: co ? undefined : { color: edgeColour(e.type) },
        title: co
          ? `mentioned together in ${plural(e.sentences || 0, "sentence")}`
          : `${e.type} (score ${(e.score || 0).toFixed(2)})`,
        arrows: co ? undefined : { to: { enabled: true, scaleFactor: 0.6 } },
        dashes: co ? [4, 4] : false,
        color: co ? { color: "#c4c4c4", highlight: "#777777" }
          : { color: edgeColour(e.type), highlight: edgeColour(e.type), opacity: 0.85 },
        width: co ? 1 : 1.5,
      };
    }

    /** Add a view's nodes and edges (new nodes start next to `near`). */
    add(view, near) {
      const at = near && this.nodes.get(near) ? this.network.getPositions([near])[near] : null;
      const fresh = (view.nodes || []).filter((n) => !this.nodes.get(n.id));
      this.nodes.update((view.nodes || []).map((n) => {
        const node = this.visNode(n, n.id === view.center);
        if (at && fresh.includes(n)) {
          node.x = at.x + (Math.random() - 0.5) * 120;
          node.y = at.y + (Math.random() - 0.5) * 120;
        }
        if (!fresh.includes(n) && n.id !== view.center) delete node.borderWidth;
        return node;
      }));
      for (const e of view.edges || []) this.edgeData.set(e.id, e);
      // relation names on the edges while they stay readable; colours and the legend always
      const relations = [...this.edgeData.values()].filter((e) => (e.kind || "relation") === "relation");
      this.edgeLabels = this.mode !== "overview" && relations.length <= MAX_EDGE_LABELS;
      this.edges.clear();
      this.edges.add([...this.edgeData.values()].map((e) => this.visEdge(e)));
      if (view.center) this.more.set(view.center, view.more || 0);
      this.renderLegend();
      this.relayout();
    }

    relayout() {
      this.unsettle();
      this.network.setOptions({ physics: { enabled: true } });
      this.network.stabilize(this.nodes.length > 60 ? 400 : 200);
    }

    clear() {
      this.nodes.clear();
      this.edges.clear();
      this.edgeData.clear();
      this.expanded.clear();
      this.more.clear();
    }

    async showOverview() {
      const view = await this.backend.overview();
      this.clear();
      this.mode = "overview";
      this.add(view);
      const total = view.total_entities || 0;
      this.onStatus(total > (view.nodes || []).length
        ? `Overview: the ${plural((view.nodes || []).length, "entity", "entities")} with most relations, of ${total.toLocaleString("en")}. Search to find any other; click a node to open it.`
        : `Overview: all ${plural(total, "entity", "entities")}. Click a node to open it.`);
      return view;
    }

    /** Draw the entity and its neighbours only. */
    async focus(id) {
      const view = await this.backend.neighbourhood(id);
      if (!view) return null;
      this.clear();
      this.mode = "neighbourhood";
      this.expanded.add(id);
      this.add(view);
      this.network.selectNodes([id]);
      this.status(id);
      return view;
    }

    /** Add the entity's neighbours to what is drawn. */
    async expand(id) {
      if (this.expanded.has(id)) return null;
      const view = await this.backend.neighbourhood(id);
      if (!view) return null;
      this.expanded.add(id);
      this.add(view, id);
      this.status(id);
      return view;
    }

    status(id) {
      const node = this.nodes.get(id);
      const more = this.more.get(id) || 0;
      this.onStatus(`${node ? node.name : id}: ${plural(this.nodes.length, "entity", "entities")} drawn` +
        (more ? `; ${plural(more, "more neighbour")} of it not drawn (see its page)` : "") +
        ". Click a node to open it and draw its neighbours.");
    }

    async select(id) {
      this.network.selectNodes([id]);
      await this.expand(id);
      this.onSelect(id);
    }

    visibleNodes() {
      return this.nodeView.get();
    }

    renderLegend() {
      if (!this.legendBox) return;
      const labels = new Map();
      for (const n of this.nodes.get()) labels.set(n.group, (labels.get(n.group) || 0) + 1);
      const types = new Map();
      for (const e of this.edges.get()) types.set(e.relType, (types.get(e.relType) || 0) + 1);
      const toggle = (set, key) => (event) => {
        if (event.target.checked) set.delete(key);
        else set.add(key);
        this.nodeView.refresh();
        this.edgeView.refresh();
        this.container.dataset.visible = String(this.nodeView.length);
      };
      const labelItems = [...labels.keys()].sort().map((label) =>
        el("label", { class: "filter", dataset: { kind: "entity-type", value: label } },
          el("input", { type: "checkbox", checked: !this.hiddenLabels.has(label), onchange: toggle(this.hiddenLabels, label) }),
          typeBadge(label), el("span", { class: "count" }, ` ${labels.get(label)}`)));
      const typeItems = [...types.keys()].sort((a, b) => (a === CO_MENTION) - (b === CO_MENTION) || (a < b ? -1 : 1)).map((type) =>
        el("label", { class: "filter", dataset: { kind: "relation-type", value: type } },
          el("input", { type: "checkbox", checked: !this.hiddenTypes.has(type), onchange: toggle(this.hiddenTypes, type) }),
          el("span", { class: type === CO_MENTION ? "line dashed" : "line",
                       style: type === CO_MENTION ? {} : { borderTopColor: edgeColour(type) } }),
          type === CO_MENTION ? "mentioned together" : type,
          el("span", { class: "count" }, ` ${types.get(type)}`)));
      this.legendBox.replaceChildren(
        el("div", { class: "legend-group" }, el("strong", {}, "Entity types"), ...labelItems),
        el("div", { class: "legend-group" }, el("strong", {}, "Edges"),
          ...(typeItems.length ? typeItems : [el("span", { class: "meta" }, "none drawn")])),
        el("div", { class: "legend-note meta" }, "Size: number of relations. Untick a box to hide that type."),
      );
      this.container.dataset.visible = String(this.nodeView.length);
    }
  }
  KG.GraphView = GraphView;

  // -- the entity page -----------------------------------------------------------------------

  /** `text` as code points: kgbuild's offsets count them (JavaScript strings count UTF-16 units,
   *  two for an emoji), so text is cut at offsets with `cut(start, end)`. */
  function codePoints(text) {
    const chars = Array.from(text || "");
    return { length: chars.length, cut: (start, end) => chars.slice(start, end).join("") };
  }
  KG.codePoints = codePoints;

  /** A sentence with its marks highlighted, and where it was read. */
  function evidence(ev) {
    const text = codePoints(ev.text);
    const parts = [];
    let at = 0;
    for (const mark of ev.marks || []) {
      const start = mark.start || 0;
      if (start < at || mark.end > text.length) continue;
      parts.push(text.cut(at, start), el("mark", { class: `mark-${mark.role}` }, text.cut(start, mark.end)));
      at = mark.end;
    }
    parts.push(text.cut(at));
    return el("blockquote", { class: "evidence" }, ...parts,
      el("div", { class: "where meta" }, `${ev.title || ev.doc_id}, characters ${ev.start || 0}\u2013${ev.end || 0}`));
  }
  KG.evidence = evidence;

  function entityLink(ref, open) {
    return el("button", { type: "button", class: "entity-link", dataset: { id: ref.id }, onclick: () => open(ref.id) },
      el("span", { class: "symbol", style: { color: colour(ref.label || "") } }, SYMBOLS[shape(ref.label || "")]), ref.name);
  }

  function section(title, count, ...body) {
    return el("section", { class: "panel-section" }, el("h3", {}, title, count == null ? "" : el("span", { class: "count" }, ` (${count})`)), ...body);
  }

  /** "and N more sentences" (or `one` / `many`) under a list that shows `shown` of `total`. */
  function andMore(shown, total, one = "more sentence", many) {
    return total > shown ? el("div", { class: "meta" }, `and ${plural(total - shown, one, many)}`) : null;
  }

  /** Render an entity page into `box`; entity names call `open(id)`. */
  KG.renderEntity = function (box, page, open) {
    const e = page.entity;
    const aliases = (e.aliases || []).filter((a) => a !== e.name);
    const documents = page.documents || [];
    const relations = page.relations || [];
    const attributes = page.attributes || [];
    const merges = page.merges || [];
    const co = page.co_mentions || [];
    const coTotal = Math.max(page.co_mentions_total || 0, co.length);
    const byType = new Map();
    for (const r of relations) {
      const key = `${r.type}\u0000${r.outgoing}`;
      if (!byType.has(key)) byType.set(key, []);
      byType.get(key).push(r);
    }
    const relationItems = [...byType.values()].map((group) => el("div", { class: "relation-group" },
      el("h4", {}, group[0].outgoing ? `${e.name} \u2192 ${group[0].type} \u2192` : `\u2192 ${group[0].type} \u2192 ${e.name}`),
      el("ul", {}, group.map((r) => el("li", { class: "relation", dataset: { type: r.type } },
        entityLink(r.other, open), el("span", { class: "meta" }, ` score ${(r.score || 0).toFixed(2)}`),
        (r.evidence || []).map(evidence), andMore((r.evidence || []).length, r.evidence_total || 0))))));
    const hidden = (page.relations_total || 0) - relations.length;
    box.replaceChildren(...[
      el("h2", { id: "entity-name" }, e.name),
      el("div", { class: "entity-meta" }, typeBadge(e.label),
        el("span", { class: "meta" }, ` ${plural(e.mention_count || 0, "mention")} in ${plural(documents.length, "document")}, ${plural(e.degree || 0, "relation")}`)),
      aliases.length ? el("p", { class: "aliases" }, el("strong", {}, "Also called: "), aliases.join(" \u00b7 ")) : null,
      section("Relations", page.relations_total || 0,
        relations.length ? relationItems : el("p", { class: "meta" }, "No relation was extracted for this entity."),
        hidden > 0 ? el("p", { class: "meta" }, `${plural(hidden, "weaker relation")} not listed.`) : null),
      section("Attributes", attributes.length,
        attributes.length ? el("ul", {}, attributes.map((a) => el("li", { class: "attribute" },
          el("strong", {}, a.key), ": ", a.value, el("span", { class: "meta" }, ` score ${(a.score || 0).toFixed(2)}`),
          (a.evidence || []).map(evidence), andMore((a.evidence || []).length, a.evidence_total || 0))))
          : el("p", { class: "meta" }, "No attribute value was read for this entity.")),
      section("Documents", documents.length, el("ul", { class: "documents" }, documents.map((d) =>
        el("li", { title: d.id }, d.title, el("span", { class: "meta" }, ` ${plural(d.mentions || 0, "mention")}`))))),
      section("Merged names", merges.length || null,
        merges.length ? el("ul", { class: "merges" }, merges.map((m) => el("li", {},
          el("strong", {}, m.source || "?"), m.source_label ? ` [${m.source_label}]` : "", " joined ",
          el("strong", {}, m.target || "?"), m.target_label ? ` [${m.target_label}]` : "",
          el("span", { class: "meta" }, ` by rule ${m.rule || "?"}${m.score == null ? "" : `, score ${Number(m.score).toFixed(0)}`}`),
          (m.documents || []).length ? el("div", { class: "meta" }, `in ${(m.documents || []).map((d) => d.title).join(", ")}`) : null,
          Object.entries(m.other || {}).map(([k, v]) => el("div", { class: "meta" }, `${k}: ${v}`)))))
          : el("p", { class: "meta" }, aliases.length ? "This graph records no reasons for the merge of these names." : "One name: nothing was merged.")),
      section("Mentioned with", coTotal, co.length
        ? el("ul", { class: "co-mentions" }, co.map((c) => el("li", {}, entityLink(c.entity, open),
            el("span", { class: "meta" }, ` in ${plural(c.sentences, "sentence")}`))))
        : el("p", { class: "meta" }, "No other entity is mentioned in its sentences."),
        andMore(co.length, coTotal, "more entity", "more entities")),
    ].filter(Boolean));
    box.dataset.entity = e.id;
  };

  // -- type-ahead ----------------------------------------------------------------------------

  /** Suggestions under a text field as you type; Enter, a click or a tap picks one. */
  class Search {
    constructor(input, list, backend, onPick, onError) {
      this.input = input;
      this.list = list;
      this.backend = backend;
      this.onPick = onPick;
      this.onError = onError || (() => {});
      this.items = [];
      this.note = "";
      this.active = -1;
      this.sequence = 0;
      this.timer = null;
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-autocomplete", "list");
      input.setAttribute("aria-controls", list.id);
      input.addEventListener("input", () => {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.lookup(), 80);
      });
      input.addEventListener("keydown", (event) => this.key(event));
      input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    }

    async lookup() {
      const q = this.input.value;
      const mine = ++this.sequence;
      if (!q.trim()) { this.close(); return; }
      let result;
      try {
        result = await this.backend.suggest(q);
      } catch (error) {
        this.onError(error);
        return;
      }
      if (mine !== this.sequence) return;
      this.items = (result && result.results) || [];
      this.note = (result && result.note) || "";
      this.active = this.items.length ? 0 : -1;
      this.render(q);
    }

    render(q) {
      const note = this.note ? el("li", { class: "empty meta note" }, this.note) : null;
      this.list.replaceChildren(...(this.items.length ? this.items.map((s, i) => el("li", {
        role: "option", class: i === this.active ? "active" : "", dataset: { id: s.id },
        onmousedown: (event) => { event.preventDefault(); this.pick(i); },
      }, typeBadge(s.label), " ", el("span", { class: "name" }, s.name),
        s.matched && s.matched !== s.name ? el("span", { class: "meta" }, ` (${s.matched})`) : null,
        el("span", { class: "meta" }, ` \u00b7 ${plural(s.mention_count || 0, "mention")}, ${plural(s.degree || 0, "relation")}`)))
        : [el("li", { class: "empty meta" }, `No entity named like \u201c${q}\u201d.`)]), ...(note ? [note] : []));
      this.list.hidden = false;
    }

    key(event) {
      if (this.list.hidden || !this.items.length) {
        if (event.key === "Enter") { event.preventDefault(); this.lookup(); }
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.active = (this.active + step + this.items.length) % this.items.length;
        this.render(this.input.value);
      } else if (event.key === "Enter") {
        event.preventDefault();
        if (this.active >= 0) this.pick(this.active);
      } else if (event.key === "Escape") {
        this.close();
      }
    }

    pick(i) {
      const item = this.items[i];
      this.close();
      if (item) this.onPick(item.id);
    }

    close() {
      this.list.hidden = true;
    }
  }
  KG.Search = Search;

  // -- the explorer page ----------------------------------------------------------------------

  /** Wire the explorer page: `config.mode` is "served" or "static" (data in #kg-data). */
  KG.startExplorer = async function (config) {
    const $ = (id) => document.getElementById(id);
    const showError = (message) => { $("error").textContent = message; };
    let backend;
    if (config.mode === "static") {
      backend = KG.staticBackend(JSON.parse($("kg-data").textContent));
    } else {
      backend = KG.serverBackend();
      KG.takeTokenFromFragment();
      $("auth").addEventListener("submit", (event) => {
        event.preventDefault();
        KG.setToken($("token").value.trim());
        $("token").value = "";
        $("auth").hidden = true;
        showError("");
        start();
      });
    }
    const failed = (error) => {
      if (error instanceof AuthError) {
        $("auth").hidden = false;
        showError(KG.hasToken() ? "The server refused the access token: paste the right one above."
          : "This server needs its access token: paste it above.");
      } else showError(String(error.message || error));
    };
    const graph = new GraphView($("graph"), $("legend"), backend, {
      onSelect: (id) => openEntity(id, false),
      onStatus: (text) => { $("status").textContent = text; },
    });
    async function openEntity(id, focus) {
      try {
        const page = await backend.entity(id);
        if (!page) { showError("No entity with this id in the graph."); return; }
        showError("");
        KG.renderEntity($("entity"), page, (other) => openEntity(other, false).then(() => graph.expand(other)));
        const params = new URLSearchParams(window.location.hash.slice(1));
        params.set("entity", id);
        history.replaceState(null, "", "#" + params);
        if (focus) await graph.focus(id);
        else graph.network.selectNodes(graph.nodes.get(id) ? [id] : []);
      } catch (error) { failed(error); }
    }
    const search = new Search($("search"), $("suggestions"), backend, (id) => openEntity(id, true), failed);
    $("overview-button").addEventListener("click", () => graph.showOverview().catch(failed));
    async function start() {
      try {
        const wanted = new URLSearchParams(window.location.hash.slice(1)).get("entity");
        if (wanted) await openEntity(wanted, true);
        else await graph.showOverview();
        document.body.dataset.ready = "true";
      } catch (error) { failed(error); }
    }
    window.kgExplorer = { graph, search, openEntity, backend };
    if (config.mode !== "static" && config.auth && !KG.hasToken()) {
      $("auth").hidden = false;
      showError("This server needs its access token.");
      return;
    }
    await start();
  };

  window.KG = KG;
})();
