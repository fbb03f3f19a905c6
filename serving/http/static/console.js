/* notecheck reviewer console.
 *
 * Plain JavaScript, no build step, no dependencies. Every piece of note text reaches the page
 * through textContent / text nodes on elements made with createElement: never innerHTML (the
 * page's Content-Security-Policy enforces Trusted Types, so an innerHTML assignment would throw).
 *
 * API calls: POST /v1/moderate/explain (one note), POST /v1/moderate/upload (a dump as text),
 * POST /v1/feedback (a correction), GET /v1/model (versions, rule descriptions),
 * GET /v1/console/picture (a note's picture, when the server reads a picture folder; shown as a
 * data: image, the only kind the page's CSP allows). The API key is kept in sessionStorage and
 * sent as X-API-Key.
 * The review queue and stats tabs live in queue.js, which reuses the helpers published here as
 * window.notecheckConsole (the verdict view and its evidence highlighting, the API client).
 */
(function () {
  "use strict";

  const KEY_STORAGE = "notecheck.apiKey";
  const REVIEWER_STORAGE = "notecheck.reviewer";
  const PAGE_SIZE = 100;
  const LABELS = ["sharing", "undisclosed_ad", "declared"];
  const LABEL_NAMES = { sharing: "真实分享", undisclosed_ad: "未声明广告", declared: "已声明" };
  const DECISIONS = ["pass", "review", "block"];
  const DECISION_NAMES = { pass: "通过", review: "复核", block: "拦截" };
  // Evidence kinds (the lexicon's signal kinds), in the order the legend lists them.
  const KINDS = {
    disclosure: "披露 disclosure",
    diversion: "导流 diversion",
    channel: "购买渠道 channel",
    price: "价格 price",
    hard_sell: "硬推销 hard sell",
    absolute: "绝对化用语 absolute terms",
    efficacy: "功效宣称 efficacy",
    vertical: "高风险行业 vertical",
    counter_claim: "无广/自费 counter-claim",
    other: "rule evidence",
  };
  const KIND_ORDER = Object.keys(KINDS);
  const EXAMPLES = {
    undisclosed_ad: {
      id: "example-ad", title: "挖到宝了！这款精华真的绝了",
      text: "姐妹们冲！用了一周皮肤透亮，全网最低价，到手价只要99，链接在主页，加薇❤abc12345领优惠券",
      topics: "护肤, 精华推荐", account_type: "personal", followers: 812,
    },
    declared: {
      id: "example-declared", title: "扫地机器人一个月体验",
      text: "#品牌合作 这次收到了品牌方赠送的扫地机器人，实际用下来吸力不错，边角清洁一般。",
      account_type: "creator", followers: 52000, sponsor: true,
    },
    sharing: {
      id: "example-sharing", title: "楼下新开的面馆",
      text: "周末去了家楼下新开的面馆，牛肉面28块，汤头很鲜，就是排队有点久，下次工作日再来",
      account_type: "personal", followers: 120,
    },
  };

  const state = {
    modelInfo: null,
    ruleText: {},
    upload: null,         // {filename, items, errors}
    reviewed: new Map(),  // item index -> label saved by the reviewer
    sortKey: "row",
    sortDir: 1,
    page: 0,
    view: [],             // indexes of upload items after filter + sort
    selected: -1,
    context: {},          // comments, author.bio and images of a note filled from JSON
  };

  // ------------------------------------------------------------------------- DOM helpers

  const $ = (id) => document.getElementById(id);

  /** el("div", {class: "x", text: "..."}, child, "text", ...): children that are strings
   *  become text nodes; attribute values are set with setAttribute (never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function showError(box, message) {
    box.textContent = message;
    box.hidden = !message;
  }

  const fmt = (x) => (typeof x === "number" ? x.toFixed(2) : "–");
  const kindClass = (kind) => "k-" + (Object.prototype.hasOwnProperty.call(KINDS, kind) ? kind : "other");
  const kindRank = (kind) => { const i = KIND_ORDER.indexOf(kind); return i < 0 ? KIND_ORDER.length : i; };

  // ------------------------------------------------------------------------- API

  class ApiFailure extends Error {
    constructor(status, body) {
      const detail = body && body.detail ? body.detail : "the server answered " + status;
      const field = body && body.field ? " (" + body.field + ")" : "";
      super((body && body.error ? body.error + ": " : "") + detail + field);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, body) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    const init = { method: body === undefined ? "GET" : "POST", headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiFailure(0, { error: "network", detail: "cannot reach the server (" + err.message + ")" });
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      if (response.status === 401) markKeyMissing(true);
      throw new ApiFailure(response.status, data);
    }
    return data;
  }

  function explainFailure(err) {
    if (err.status === 401) return "An API key is needed: enter it at the top right and press “Use key”.\n" + err.message;
    if (err.status === 503) return "The model is not ready yet (loading), or the server is stopping: retry in a moment.\n" + err.message;
    return err.message;
  }

  function markKeyMissing(missing) {
    $("api-key").classList.toggle("required-missing", missing);
  }

  // ------------------------------------------------------------------------- model info

  async function loadModelInfo(attempt) {
    const box = $("model-info");
    try {
      const info = await api("/v1/model");
      state.modelInfo = info;
      state.ruleText = {};
      for (const rule of info.rules || []) state.ruleText[rule.id] = rule.description || "";
      box.classList.remove("warn");
      box.replaceChildren("model ", el("code", { text: info.model_version }),
        " · policy ", el("code", { text: info.policy_version }),
        " · lexicon ", el("code", { text: info.lexicon_version }));
    } catch (err) {
      box.classList.add("warn");
      if (err.status === 401) {
        box.textContent = "API key required: enter it to start.";
      } else if (err.status === 503 && (attempt || 0) < 30) {
        box.textContent = "model loading…";
        setTimeout(() => loadModelInfo((attempt || 0) + 1), 1000);
      } else {
        box.textContent = "model info unavailable: " + err.message;
      }
    }
  }

  // ------------------------------------------------------------------------- verdict view

  /** Merge the signals and the reasons' spans: one span per (field, start, end), with its kinds,
   *  lexicon entries and the rules that cite it. Offsets are code points (Python's). */
  function collectSpans(item) {
    const spans = new Map();
    const get = (field, start, end) => {
      const key = field + ":" + start + ":" + end;
      if (!spans.has(key)) spans.set(key, { key, field, start, end, kinds: [], entries: [], rules: [] });
      return spans.get(key);
    };
    for (const s of item.signals || []) {
      const span = get(s.field, s.start, s.end);
      if (!span.kinds.includes(s.kind)) span.kinds.push(s.kind);
      if (!span.entries.includes(s.entry)) span.entries.push(s.entry);
    }
    for (const r of item.verdict.reasons || []) {
      if (r.field === null || r.field === undefined || r.start === null || r.end === null) continue;
      const span = get(r.field, r.start, r.end);
      if (!span.rules.includes(r.rule)) span.rules.push(r.rule);
    }
    for (const span of spans.values()) {
      if (!span.kinds.length) span.kinds.push("other");
      span.kinds.sort((a, b) => kindRank(a) - kindRank(b));
      span.kind = span.kinds[0];
    }
    return [...spans.values()];
  }

  function spanTitle(covering) {
    return covering.map((s) => {
      const kinds = s.kinds.map((k) => KINDS[k] || k).join(", ");
      const entries = s.entries.length ? " [" + s.entries.join(", ") + "]" : "";
      const rules = s.rules.length ? " ← " + s.rules.join(", ") : " (no rule fired on it)";
      return kinds + entries + rules;
    }).join("\n");
  }

  /** The field's text as text nodes and <mark> elements, one per stretch of evidence. */
  function highlighted(value, field, spans) {
    const chars = Array.from(value);  // code points, as the server's offsets count them
    const mine = spans.filter((s) => s.field === field && s.start >= 0 && s.end <= chars.length && s.start < s.end);
    const cuts = new Set([0, chars.length]);
    for (const s of mine) { cuts.add(s.start); cuts.add(s.end); }
    const points = [...cuts].sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    for (let i = 0; i < points.length - 1; i++) {
      const a = points[i];
      const b = points[i + 1];
      const piece = chars.slice(a, b).join("");
      const covering = mine.filter((s) => s.start <= a && s.end >= b);
      if (!covering.length) { frag.append(document.createTextNode(piece)); continue; }
      covering.sort((x, y) => (x.end - x.start) - (y.end - y.start) || kindRank(x.kind) - kindRank(y.kind));
      const mark = el("mark", {
        class: "hl " + kindClass(covering[0].kind) + (covering.length > 1 ? " multi" : ""),
        title: spanTitle(covering),
        "data-kind": covering[0].kind,
      }, piece);
      mark.dataset.spans = covering.map((s) => s.key).join(" ");
      frag.append(mark);
    }
    return frag;
  }

  function labelBadge(label, big) {
    return el("span", { class: "badge lab-" + label + (big ? " big" : ""), "data-label": label },
      label + " · " + (LABEL_NAMES[label] || ""));
  }

  function decisionBadge(decision) {
    return el("span", { class: "badge dec dec-" + decision, "data-decision": decision },
      decision + " · " + (DECISION_NAMES[decision] || ""));
  }

  function scoreBars(verdict) {
    const grid = el("div", { class: "scores" });
    for (const label of LABELS) {
      const p = Number(verdict.scores[label] || 0);
      const m = verdict.model_scores ? verdict.model_scores[label] : undefined;
      const fill = el("div", { class: "bar-fill lab-" + label });
      fill.style.width = Math.max(0, Math.min(100, p * 100)).toFixed(1) + "%";
      const bar = el("div", { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 1,
        "aria-valuenow": p.toFixed(3), "aria-label": "score " + label }, fill);
      if (typeof m === "number") {
        const tick = el("div", { class: "bar-model", title: "model before rules: " + m.toFixed(2) });
        tick.style.left = "calc(" + Math.max(0, Math.min(100, m * 100)).toFixed(1) + "% - 1px)";
        bar.append(tick);
      }
      grid.append(el("div", { class: "score-name" }, label, el("small", { text: LABEL_NAMES[label] })),
        bar, el("div", { class: "score-val", "data-score": label }, fmt(p)));
    }
    return grid;
  }

  function legend(spans) {
    const counts = new Map();
    for (const s of spans) counts.set(s.kind, (counts.get(s.kind) || 0) + 1);
    const box = el("div", { class: "legend" });
    for (const kind of [...counts.keys()].sort((a, b) => kindRank(a) - kindRank(b))) {
      box.append(el("span", { class: "chip " + kindClass(kind) }, (KINDS[kind] || kind) + " × " + counts.get(kind)));
    }
    return box;
  }

  function noteFields(note, spans) {
    const wrap = el("div", { class: "note-fields" });
    const title = el("div", { class: "note-field" }, el("span", { class: "fname", text: "title 标题" }));
    const titleText = el("div", { class: "note-title", "data-field": "title" });
    if (note.title) titleText.append(highlighted(note.title, "title", spans));
    else titleText.append(el("span", { class: "note-blank", text: "(no title)" }));
    title.append(titleText);
    const body = el("div", { class: "note-field" }, el("span", { class: "fname", text: "text 正文" }));
    const bodyText = el("div", { class: "note-text", "data-field": "text" });
    if (note.text) bodyText.append(highlighted(note.text, "text", spans));
    else bodyText.append(el("span", { class: "note-blank", text: "(no text)" }));
    body.append(bodyText);
    wrap.append(title, body);
    return wrap;
  }

  /** The note beyond its title and text: the author's bio, the comments (the author's marked)
   *  and the pictures (their text as read by OCR then their QR codes, and the picture itself when
   *  the server serves it), each with its evidence highlighted (fields author.bio, comments[i],
   *  images[i]). Nothing when the note has none of them. */
  function contextFields(item, spans) {
    const note = item.note;
    const wrap = el("div", { class: "note-fields note-context" });
    const bio = (note.author || {}).bio;
    if (bio) {
      const text = el("div", { class: "note-text note-bio", "data-field": "author.bio" });
      text.append(highlighted(bio, "author.bio", spans));
      wrap.append(el("div", { class: "note-field" }, el("span", { class: "fname", text: "author.bio 简介" }), text));
    }
    const comments = note.comments || [];
    if (comments.length) {
      const list = el("ol", { class: "comments" });
      comments.forEach((c, i) => {
        const field = "comments[" + i + "]";
        const who = c.is_author ? "作者 the author" : (c.author || "a commenter");
        const text = el("div", { class: "note-text comment-text", "data-field": field });
        text.append(highlighted(c.text || "", field, spans));
        list.append(el("li", { class: "comment" + (c.is_author ? " by-author" : "") },
          el("span", { class: "comment-who", text: field + " · " + who + (c.parent_id ? " · reply to " + c.parent_id : "") }),
          text));
      });
      wrap.append(el("div", { class: "note-field" },
        el("span", { class: "fname", text: "comments 评论 (" + comments.length + ")" }), list));
    }
    const images = note.images || [];
    if (images.length) {
      const grid = el("div", { class: "pictures" });
      images.forEach((p, i) => {
        const field = "images[" + i + "]";
        const read = (item.pictures || [])[i];
        const text = el("div", { class: "note-text picture-text", "data-field": field });
        if (read) text.append(highlighted(read, field, spans));
        else text.append(el("span", { class: "note-blank", text: read === "" ? "(no text found)" : "(not read)" }));
        const figure = el("figure", { class: "picture", "data-picture": field });
        if (p.path) {
          const img = el("img", { alt: field + ": " + p.path, class: "picture-img" });
          figure.append(img);
          loadPicture(img, p.path);
        }
        figure.append(el("figcaption", { class: "fname", text: field + " · " + (p.path || p.url || "") }), text);
        grid.append(figure);
      });
      wrap.append(el("div", { class: "note-field" },
        el("span", { class: "fname", text: "pictures 图片 (" + images.length + ")" }), grid));
    }
    return wrap;  // empty (and hidden by the style sheet) for a note of title and text only
  }

  /** Show the picture at path (under the server's picture folder): fetched with the API key,
   *  set as a data: URL; a picture the server does not serve is said so in its place. */
  async function loadPicture(img, path) {
    const headers = {};
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    let why = "";
    try {
      const response = await fetch("/v1/console/picture?path=" + encodeURIComponent(path), { headers });
      if (response.ok) {
        const blob = await response.blob();
        if (/^image\/(png|jpeg|gif|webp)$/.test(blob.type)) {
          const reader = new FileReader();
          reader.onload = () => { img.src = String(reader.result); };
          reader.readAsDataURL(blob);
          return;
        }
        why = "not an image";
      } else {
        let body = null;
        try { body = await response.json(); } catch (_) { body = null; }
        why = (body && body.detail) || "the server answered " + response.status;
      }
    } catch (err) {
      why = "cannot reach the server (" + err.message + ")";
    }
    img.replaceWith(el("span", { class: "note-blank picture-missing", text: "(picture not shown: " + why + ")" }));
  }

  function reasonList(verdict, container) {
    const list = el("ul", { class: "reasons" });
    for (const r of verdict.reasons || []) {
      const hasSpan = r.field !== null && r.field !== undefined && r.start !== null && r.end !== null;
      const key = hasSpan ? r.field + ":" + r.start + ":" + r.end : "";
      const desc = state.ruleText[r.rule] || (r.rule === "MODEL" ? "The model's own probabilities, before the rules." : "");
      const li = el("li", { class: hasSpan ? "has-span" : "", tabindex: hasSpan ? 0 : null, "data-rule": r.rule },
        el("span", { class: "rule-id" + (r.rule === "MODEL" ? " model" : ""), text: r.rule }),
        el("div", { class: "reason-body" },
          el("span", { class: "reason-ev", text: r.evidence }),
          hasSpan ? el("span", { class: "reason-loc", text: "  " + r.field + " " + r.start + "–" + r.end }) : null,
          desc ? el("div", { class: "reason-desc", text: desc }) : null));
      if (hasSpan) {
        const on = () => {
          for (const m of container.querySelectorAll("mark.hl")) {
            m.classList.toggle("active", (m.dataset.spans || "").split(" ").includes(key));
          }
        };
        const off = () => { for (const m of container.querySelectorAll("mark.hl.active")) m.classList.remove("active"); };
        li.addEventListener("mouseenter", on);
        li.addEventListener("focus", on);
        li.addEventListener("mouseleave", off);
        li.addEventListener("blur", off);
      }
      list.append(li);
    }
    return list;
  }

  function facts(note) {
    const author = note.author || {};
    const rows = [
      ["mentions @", (note.mentions || []).map((m) => "@" + m).join(" ") || "–"],
      ["topics #", (note.topics || []).map((t) => "#" + t).join(" ") || "–"],
      ["product tags", (note.product_tags || []).map((t) => [t.name, t.store, t.price].filter((x) => x !== undefined && x !== null).join(" | ")).join("; ") || "–"],
      ["sponsor flag", note.sponsor_flag ? "yes 赞助/合作" : "no"],
      ["account", (author.account_type || "personal") + (author.has_store ? " · has store" : " · no store") +
        (author.followers !== undefined && author.followers !== null ? " · " + author.followers + " followers" : "")],
    ];
    const dl = el("dl", { class: "facts" });
    for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v }));
    return dl;
  }

  function feedbackBox(item, onSaved) {
    const verdict = item.verdict;
    const select = el("select", { "aria-label": "Correct label", class: "fb-label" });
    for (const label of LABELS) {
      if (label === verdict.label) continue;
      select.append(el("option", { value: label }, label + " · " + LABEL_NAMES[label]));
    }
    const comment = el("input", { type: "text", maxlength: 2000, placeholder: "optional comment", class: "fb-comment" });
    const button = el("button", { type: "button", class: "primary fb-save" }, "Save correction");
    const message = el("div", { class: "saved", "aria-live": "polite" });
    const error = el("div", { class: "error", role: "alert", hidden: true });
    button.addEventListener("click", async () => {
      const reviewer = $("reviewer").value.trim();
      if (!reviewer) {
        showError(error, "Enter your name in “Reviewer” at the top first: every correction records who made it.");
        $("reviewer").setAttribute("aria-invalid", "true");
        $("reviewer").focus();
        return;
      }
      $("reviewer").removeAttribute("aria-invalid");
      showError(error, "");
      button.disabled = true;
      try {
        const body = {
          note: item.note, label: select.value, reviewer,
          predicted_label: verdict.label, predicted_decision: verdict.decision,
          model_version: verdict.model_version, policy_version: verdict.policy_version,
        };
        if (comment.value.trim()) body.comment = comment.value.trim();
        const saved = await api("/v1/feedback", body);
        message.replaceChildren(el("span", { class: "ok-note" },
          "✓ Saved: " + saved.label + " by " + saved.reviewer + " at " + saved.at));
        if (onSaved) onSaved(saved.label);
      } catch (err) {
        showError(error, explainFailure(err));
      } finally {
        button.disabled = false;
      }
    });
    return el("div", { class: "feedback" },
      el("strong", { text: "Verdict wrong? 判错了？" }),
      el("div", { class: "feedback-row" },
        el("label", {}, "Right label 正确标签", select),
        el("label", { class: "wide" }, "Comment", comment),
        button),
      message, error);
  }

  /** Render one review item ({row, note, verdict, signals}) into container. */
  function renderItem(container, item, onSaved) {
    const verdict = item.verdict;
    const spans = collectSpans(item);
    container.replaceChildren();
    container.append(
      el("div", { class: "verdict-head" }, labelBadge(verdict.label, true), decisionBadge(verdict.decision),
        el("span", { class: "verdict-id", text: (item.row ? "row " + item.row + " · " : "") + verdict.id })),
      el("div", { class: "versions" }, "model " + verdict.model_version + " · policy " + verdict.policy_version),
      scoreBars(verdict),
      el("div", { class: "scores-note", text: "Bars: scores after the rules; the dark tick: the model alone." }),
      el("h3", { text: "Evidence 证据" }),
      spans.length ? legend(spans) : el("div", { class: "muted", text: "No lexical evidence in the note." }),
      noteFields(item.note, spans),
      contextFields(item, spans),
      el("h3", { text: "Reasons 理由 (rule ids)" }));
    container.append(reasonList(verdict, container));
    container.append(el("h3", { text: "Note facts" }), facts(item.note), feedbackBox(item, onSaved));
  }

  // ------------------------------------------------------------------------- single note

  const splitList = (value, strip) => value.split(/[,，\s]+/).map((x) => x.trim().replace(strip, "").trim()).filter(Boolean);

  function readNoteForm() {
    const note = {
      id: $("f-id").value.trim() || "console-" + Date.now(),
      title: $("f-title").value,
      text: $("f-text").value,
      sponsor_flag: $("f-sponsor").checked,
      author: { account_type: $("f-account-type").value, has_store: $("f-has-store").checked },
    };
    const mentions = splitList($("f-mentions").value, /^@+/);
    if (mentions.length) note.mentions = mentions;
    const topics = splitList($("f-topics").value, /^#+|#+$/g);
    if (topics.length) note.topics = topics;
    const tags = [];
    for (const line of $("f-products").value.split("\n")) {
      if (!line.trim()) continue;
      const [name, store, price] = line.split("|").map((x) => x.trim());
      const tag = { name };
      if (store) tag.store = store;
      if (price) tag.price = /^\d+(\.\d+)?$/.test(price) ? Number(price) : price;
      tags.push(tag);
    }
    if (tags.length) note.product_tags = tags;
    const followers = $("f-followers").value.trim();
    if (followers) note.author.followers = Number(followers);
    if (state.context.comments) note.comments = state.context.comments;
    if (state.context.images) note.images = state.context.images;
    if (state.context.bio) note.author.bio = state.context.bio;
    if (state.context.authorId) note.author.id = state.context.authorId;  // marks the author's comments
    return note;
  }

  const FIELD_INPUTS = {
    id: "f-id", title: "f-title", text: "f-text", mentions: "f-mentions", topics: "f-topics",
    product_tags: "f-products", sponsor_flag: "f-sponsor", "author.account_type": "f-account-type",
    "author.has_store": "f-has-store", "author.followers": "f-followers",
  };

  function markInvalid(field) {
    for (const id of Object.values(FIELD_INPUTS)) $(id).removeAttribute("aria-invalid");
    if (!field) return;
    const base = Object.keys(FIELD_INPUTS).find((k) => field === k || field.startsWith(k + "[") || field.startsWith(k + "."));
    if (base) $(FIELD_INPUTS[base]).setAttribute("aria-invalid", "true");
  }

  async function scoreNote(event) {
    event.preventDefault();
    const error = $("note-error");
    showError(error, "");
    markInvalid(null);
    const note = readNoteForm();
    if (!note.title.trim() && !note.text.trim()) {
      showError(error, "Write a title or a text first.");
      markInvalid("text");
      $("f-text").focus();
      return;
    }
    if (note.author.followers !== undefined && !(Number.isInteger(note.author.followers) && note.author.followers >= 0)) {
      showError(error, "Followers must be a whole number ≥ 0.");
      markInvalid("author.followers");
      return;
    }
    const button = $("score-btn");
    button.disabled = true;
    const result = $("note-result");
    result.replaceChildren(el("p", { class: "empty" }, el("span", { class: "spinner" }), "Scoring…"));
    try {
      const item = await api("/v1/moderate/explain", note);
      renderItem(result, item);
    } catch (err) {
      showError(error, explainFailure(err));
      markInvalid(err.body && err.body.field);
      result.replaceChildren(el("p", { class: "empty", text: "No verdict." }));
    } finally {
      button.disabled = false;
    }
  }

  function fillForm(values) {
    $("note-form").reset();
    const author = values.author || {};
    $("f-id").value = values.id || values.note_id || "";
    $("f-title").value = values.title || "";
    $("f-text").value = values.text || values.desc || values.description || "";
    const list = (v, prefix) => Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : x.name || x.nickname || "")).filter(Boolean).join(", ") : (v || "");
    $("f-mentions").value = list(values.mentions, "@");
    $("f-topics").value = list(values.topics, "#");
    $("f-products").value = Array.isArray(values.product_tags)
      ? values.product_tags.map((t) => (typeof t === "string" ? t : [t.name, t.store || "", t.price === undefined || t.price === null ? "" : t.price].join(" | "))).join("\n") : "";
    $("f-account-type").value = values.account_type || author.account_type || "personal";
    $("f-has-store").checked = Boolean(values.has_store || author.has_store);
    $("f-sponsor").checked = Boolean(values.sponsor || values.sponsor_flag);
    const followers = values.followers !== undefined ? values.followers : author.followers;
    $("f-followers").value = followers === undefined || followers === null ? "" : String(followers);
    // The form has no inputs for these: kept from the JSON and sent with the note.
    state.context = {};
    if (Array.isArray(values.comments) && values.comments.length) state.context.comments = values.comments;
    const pictures = values.images || values.image_list;
    if (pictures && pictures.length) state.context.images = pictures;
    if (typeof author.bio === "string" && author.bio) state.context.bio = author.bio;
    if (author.id !== undefined && author.id !== null) state.context.authorId = author.id;
    const held = [state.context.comments ? state.context.comments.length + " comments" : "",
      state.context.bio ? "the author's bio" : "",
      state.context.images ? (Array.isArray(pictures) ? pictures.length : 1) + " pictures" : ""].filter(Boolean);
    let box = $("f-context");
    if (!box) {
      box = el("p", { id: "f-context", class: "muted", "aria-live": "polite" });
      $("fill-json").after(box);
    }
    box.textContent = held.length ? "Sent with the note, from the JSON: " + held.join(", ") + "." : "";
  }

  function fillFromJson() {
    const error = $("note-error");
    try {
      const value = JSON.parse($("f-json").value);
      if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("expected one JSON object (a note)");
      fillForm(value);
      showError(error, "");
    } catch (err) {
      showError(error, "Cannot read that JSON: " + err.message);
    }
  }

  // ------------------------------------------------------------------------- upload

  const maxUpload = () => Number((document.querySelector('meta[name="notecheck-max-upload-bytes"]') || {}).content) || 0;

  function humanBytes(n) {
    if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MiB";
    if (n >= 1024) return Math.round(n / 1024) + " KiB";
    return n + " bytes";
  }

  async function uploadDump(event) {
    event.preventDefault();
    const error = $("upload-error");
    showError(error, "");
    const file = $("u-file").files[0];
    if (!file) { showError(error, "Choose a JSONL, JSON or CSV file first."); return; }
    const limit = maxUpload();
    if (limit && file.size > limit) {
      showError(error, file.name + " is " + humanBytes(file.size) + ", over the limit of " + humanBytes(limit) +
        ": split it, or score it with `notecheck score`.");
      return;
    }
    const button = $("upload-btn");
    button.disabled = true;
    $("upload-summary").replaceChildren(el("span", { class: "spinner" }), "Scoring " + file.name + "…");
    try {
      const content = await file.text();
      const body = { filename: file.name, content };
      if ($("u-format").value) body.format = $("u-format").value;
      const result = await api("/v1/moderate/upload", body);
      setUpload(file.name, result);
    } catch (err) {
      $("upload-summary").replaceChildren();
      showError(error, explainFailure(err));
    } finally {
      button.disabled = false;
    }
  }

  function setUpload(filename, result) {
    state.upload = { filename, items: result.items, errors: result.errors };
    state.reviewed = new Map();
    state.selected = -1;
    state.page = 0;
    state.sortKey = "row";
    state.sortDir = 1;
    const items = result.items;
    const count = (key, value) => items.filter((it) => it.verdict[key] === value).length;
    const stat = (n, text, cls) => el("span", { class: "stat " + (cls || "") }, el("b", { text: String(n) }), " " + text);
    const summary = $("upload-summary");
    summary.replaceChildren(
      el("strong", { text: filename }), " (" + result.format + ")",
      stat(result.count, "scored"), stat(result.error_count, "rows with errors", result.error_count ? "dec-block" : ""),
      ...LABELS.map((l) => stat(count("label", l), l, "lab-" + l)),
      ...DECISIONS.map((d) => stat(count("decision", d), d, "dec dec-" + d)));
    fillSelect($("t-label"), "all labels", LABELS);
    fillSelect($("t-decision"), "all decisions", DECISIONS);
    const rules = new Set();
    for (const it of items) for (const r of it.verdict.reasons) if (r.rule !== "MODEL") rules.add(r.rule);
    fillSelect($("t-rule"), "all rules", [...rules].sort());
    $("t-search").value = "";
    renderErrors(result.errors);
    $("upload-body").hidden = false;
    $("upload-detail").replaceChildren(el("p", { class: "empty", text: items.length ? "Click a row to see its verdict and evidence." : "No valid rows." }));
    renderTable();
  }

  function fillSelect(select, all, values) {
    select.replaceChildren(el("option", { value: "" }, all), ...values.map((v) => el("option", { value: v }, v)));
  }

  const COLUMNS = [
    { key: "row", title: "Row", num: true, value: (it) => it.row },
    { key: "id", title: "ID", value: (it) => it.verdict.id },
    { key: "note", title: "Note", value: (it) => (it.note.title || "") + " " + (it.note.text || "") },
    { key: "label", title: "Label", value: (it) => it.verdict.label },
    { key: "decision", title: "Decision", value: (it) => DECISIONS.indexOf(it.verdict.decision) },
    { key: "p_ad", title: "p(ad)", num: true, value: (it) => it.verdict.scores.undisclosed_ad },
    { key: "p_declared", title: "p(declared)", num: true, value: (it) => it.verdict.scores.declared },
    { key: "rules", title: "Rules", value: (it) => ruleIds(it).join(" ") },
    { key: "reviewed", title: "Reviewed", value: (it, i) => state.reviewed.get(i) || "" },
  ];

  /** "R03-DIVERSION-UNDISCLOSED" -> "R03" for the table (the full id is in the tooltip). */
  const shortRule = (id) => (/^R\d+-/.test(id) ? id.split("-")[0] : id);
  const ruleIds = (it) => [...new Set(it.verdict.reasons.map((r) => r.rule).filter((r) => r !== "MODEL"))];

  function applyView() {
    const items = state.upload.items;
    const query = $("t-search").value.trim().toLowerCase();
    const label = $("t-label").value;
    const decision = $("t-decision").value;
    const rule = $("t-rule").value;
    const column = COLUMNS.find((c) => c.key === state.sortKey) || COLUMNS[0];
    const view = [];
    items.forEach((it, i) => {
      const v = it.verdict;
      if (label && v.label !== label) return;
      if (decision && v.decision !== decision) return;
      if (rule && !v.reasons.some((r) => r.rule === rule)) return;
      if (query) {
        const hay = [v.id, it.note.title, it.note.text, ...ruleIds(it)].join("\n").toLowerCase();
        if (!hay.includes(query)) return;
      }
      view.push(i);
    });
    view.sort((a, b) => {
      const x = column.value(items[a], a);
      const y = column.value(items[b], b);
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), "zh-CN");
      return c * state.sortDir || a - b;
    });
    state.view = view;
  }

  function renderHead() {
    const row = document.querySelector("#results thead tr");
    row.replaceChildren(...COLUMNS.map((c) => {
      const th = el("th", { scope: "col", "data-col": c.key,
        "aria-sort": state.sortKey === c.key ? (state.sortDir > 0 ? "ascending" : "descending") : "none" });
      th.append(el("button", { type: "button", onclick: () => sortBy(c.key) }, c.title));
      return th;
    }));
  }

  function sortBy(key) {
    if (state.sortKey === key) state.sortDir = -state.sortDir;
    else { state.sortKey = key; state.sortDir = key === "p_ad" || key === "p_declared" || key === "decision" ? -1 : 1; }
    state.page = 0;
    renderTable();
  }

  function renderTable() {
    applyView();
    renderHead();
    const items = state.upload.items;
    const pages = Math.max(1, Math.ceil(state.view.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const slice = state.view.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const body = document.querySelector("#results tbody");
    body.replaceChildren(...slice.map((i) => tableRow(items[i], i)));
    $("t-count").textContent = "Showing " + state.view.length + " of " + items.length + " notes";
    $("t-page").textContent = "page " + (state.page + 1) + " / " + pages;
    $("t-prev").disabled = state.page === 0;
    $("t-next").disabled = state.page >= pages - 1;
    $("dl-jsonl").textContent = "Download JSONL (" + state.view.length + ")";
    $("dl-csv").textContent = "Download CSV (" + state.view.length + ")";
  }

  function tableRow(it, i) {
    const v = it.verdict;
    const reviewed = state.reviewed.get(i);
    const tr = el("tr", { tabindex: 0, "data-index": i, "data-id": v.id, class: i === state.selected ? "selected" : "" },
      el("td", { class: "num", text: it.row }),
      el("td", { class: "mono", text: v.id }),
      el("td", { class: "excerpt" },
        it.note.title ? el("span", { class: "t", text: it.note.title }) : null,
        el("span", { class: "x", text: it.note.text || "" })),
      el("td", {}, el("span", { class: "badge lab-" + v.label, text: v.label })),
      el("td", {}, el("span", { class: "badge dec dec-" + v.decision, text: v.decision })),
      el("td", { class: "num", text: fmt(v.scores.undisclosed_ad) }),
      el("td", { class: "num", text: fmt(v.scores.declared) }),
      el("td", { class: "rules", title: ruleIds(it).join("\n") || null, text: ruleIds(it).map(shortRule).join(" ") }),
      el("td", {}, reviewed ? el("span", { class: "reviewed", text: "✓ " + reviewed }) : null));
    const open = () => selectRow(i);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
    return tr;
  }

  function selectRow(i) {
    state.selected = i;
    for (const tr of document.querySelectorAll("#results tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.index) === i);
    renderItem($("upload-detail"), state.upload.items[i], (label) => {
      state.reviewed.set(i, label);
      renderTable();
    });
  }

  function renderErrors(errors) {
    const box = $("upload-errors");
    box.hidden = !errors.length;
    box.querySelector("summary").textContent = "Rows with errors (" + errors.length + ")";
    box.querySelector("tbody").replaceChildren(...errors.map((e) => el("tr", {},
      el("td", { class: "num", text: e.row }), el("td", { class: "mono", text: e.field || "–" }),
      el("td", { text: e.reason }), el("td", { text: e.raw.length > 300 ? e.raw.slice(0, 300) + "…" : e.raw }))));
  }

  // ------------------------------------------------------------------------- downloads

  function resultRows() {
    return state.view.map((i) => {
      const it = state.upload.items[i];
      const row = Object.assign({ row: it.row }, it.verdict);
      if (state.reviewed.has(i)) row.reviewed_label = state.reviewed.get(i);
      return { it, row };
    });
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  const baseName = () => state.upload.filename.replace(/\.[^.]+$/, "") || "dump";

  function downloadJsonl() {
    const lines = resultRows().map(({ row }) => JSON.stringify(row));
    download(baseName() + "-verdicts.jsonl", lines.join("\n") + (lines.length ? "\n" : ""), "application/x-ndjson");
  }

  /** A CSV cell: quoted when needed; a leading = + - @ gets a ' so spreadsheets show text. */
  function csvCell(value) {
    let s = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function downloadCsv() {
    const header = ["row", "id", "label", "decision", "score_sharing", "score_undisclosed_ad", "score_declared",
      "rules", "evidence", "title", "text", "model_version", "policy_version", "reviewed_label"];
    const lines = [header.join(",")];
    for (const { it, row } of resultRows()) {
      const evidence = row.reasons.filter((r) => r.rule !== "MODEL" && r.start !== null).map((r) => r.rule + ":" + r.evidence);
      lines.push([row.row, row.id, row.label, row.decision, row.scores.sharing, row.scores.undisclosed_ad,
        row.scores.declared, ruleIds(it).join(" "), evidence.join(" | "), it.note.title, it.note.text,
        row.model_version, row.policy_version, row.reviewed_label || ""].map(csvCell).join(","));
    }
    download(baseName() + "-verdicts.csv", "\ufeff" + lines.join("\r\n") + "\r\n", "text/csv;charset=utf-8");
  }

  // ------------------------------------------------------------------------- tabs and start

  function selectTab(name) {
    for (const tab of document.querySelectorAll('.tabs [role="tab"]')) {
      const on = tab.id === "tab-" + name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
  }

  // The helpers queue.js (the review queue and stats tabs) reuses: one verdict view, one client.
  window.notecheckConsole = Object.freeze({
    $, el, api, explainFailure, showError, selectTab, collectSpans, noteFields, labelBadge,
    decisionBadge, scoreBars, legend, reasonList, LABELS, LABEL_NAMES,
  });

  function start() {
    const auth = (document.querySelector('meta[name="notecheck-auth"]') || {}).content === "true";
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
    $("reviewer").value = localStorage.getItem(REVIEWER_STORAGE) || "";
    markKeyMissing(auth && !$("api-key").value);
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
      markKeyMissing(auth && !key);
      loadModelInfo(0);
    });
    $("reviewer").addEventListener("change", () => {
      const name = $("reviewer").value.trim();
      if (name) localStorage.setItem(REVIEWER_STORAGE, name); else localStorage.removeItem(REVIEWER_STORAGE);
      $("reviewer").removeAttribute("aria-invalid");
    });
    $("tab-note").addEventListener("click", () => selectTab("note"));
    $("tab-upload").addEventListener("click", () => selectTab("upload"));
    $("note-form").addEventListener("submit", scoreNote);
    $("note-form").addEventListener("reset", () => {
      showError($("note-error"), "");
      markInvalid(null);
      state.context = {};  // the comments, bio and pictures kept from a pasted JSON note
      if ($("f-context")) $("f-context").textContent = "";
    });
    $("f-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("note-form").requestSubmit();
    });
    $("fill-json").addEventListener("click", fillFromJson);
    for (const b of document.querySelectorAll("[data-example]")) {
      b.addEventListener("click", () => fillForm(EXAMPLES[b.dataset.example]));
    }
    $("upload-form").addEventListener("submit", uploadDump);
    for (const id of ["t-label", "t-decision", "t-rule"]) $(id).addEventListener("change", () => { state.page = 0; renderTable(); });
    $("t-search").addEventListener("input", () => { state.page = 0; renderTable(); });
    $("t-prev").addEventListener("click", () => { state.page -= 1; renderTable(); });
    $("t-next").addEventListener("click", () => { state.page += 1; renderTable(); });
    $("dl-jsonl").addEventListener("click", downloadJsonl);
    $("dl-csv").addEventListener("click", downloadCsv);
    const limit = maxUpload();
    $("upload-limit").textContent = limit ? "up to " + humanBytes(limit) : "";
    loadModelInfo(0);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
