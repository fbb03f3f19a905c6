/* notecheck reviewer console: the review queue tab and the queue stats tab.
 *
 * Uses the console's helpers (console.js publishes them as window.notecheckConsole: the API
 * client, the element builder and the verdict view with its evidence highlighting). Same rules:
 * text only through text nodes, never innerHTML.
 *
 * Flow: "Next item" (key N) claims the oldest free item (POST /v1/queue/next) and shows the note
 * with its highlighted evidence; keys 1, 2, 3 decide sharing / undisclosed_ad / declared
 * (POST /v1/queue/{id}/decision); U undoes one's own last decision (POST /v1/queue/undo; the item
 * comes back, claimed by the reviewer); the note's history (GET /v1/notes/{note_id}) is under the
 * item; the stats tab reads GET /v1/queue/stats.
 */
(function () {
  "use strict";

  const nc = window.notecheckConsole;
  if (!nc) throw new Error("queue.js needs console.js loaded first");
  const { $, el, api, explainFailure, showError, LABELS, LABEL_NAMES } = nc;
  const KEYS = { "1": "sharing", "2": "undisclosed_ad", "3": "declared" };

  const q = {
    item: null,       // the item on screen (claimed by this reviewer)
    busy: false,
    lastDecision: null,
  };

  const reviewer = () => $("reviewer").value.trim();

  function needReviewer() {
    if (reviewer()) { $("reviewer").removeAttribute("aria-invalid"); return false; }
    status("Enter your name in “Reviewer” at the top first: every decision records who made it.", "error");
    $("reviewer").setAttribute("aria-invalid", "true");
    $("reviewer").focus();
    return true;
  }

  function status(message, kind) {
    const box = $("q-status");
    box.className = "q-status" + (kind ? " " + kind : "");
    box.textContent = message || "";
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

  // ------------------------------------------------------------------------- the item

  async function next() {
    if (q.busy || needReviewer()) return;
    q.busy = true;
    status("Claiming the next item…");
    try {
      const filters = {};
      if ($("q-label").value) filters.label = $("q-label").value;
      if ($("q-decision").value) filters.decision = $("q-decision").value;
      const { item } = await api("/v1/queue/next", { reviewer: reviewer(), ...filters });
      if (!item) {
        q.item = null;
        renderEmpty("The queue is empty 队列已清空: no free item matches.");
        status("");
      } else {
        show(item);
        status("Claimed item " + item.id + " until " + when(item.lease_until) + ". Decide with 1, 2 or 3.");
      }
    } catch (err) {
      status(explainFailure(err), "error");
    } finally {
      q.busy = false;
      refreshDepth();
    }
  }

  function renderEmpty(text) {
    $("q-item").replaceChildren(el("p", { class: "empty", text }));
    $("q-history").replaceChildren();
    setDecideEnabled(false);
  }

  function setDecideEnabled(on) {
    for (const b of document.querySelectorAll("#q-decide button[data-label]")) b.disabled = !on;
  }

  /** The item: head, scores, the note with its evidence highlighted (the reasons' spans), reasons. */
  function show(item) {
    q.item = item;
    const verdict = Object.assign({ id: item.note_id }, item.verdict);
    const view = { note: item.note, verdict, signals: [] };
    const spans = nc.collectSpans(view);
    const box = $("q-item");
    box.replaceChildren(
      el("div", { class: "verdict-head" }, nc.labelBadge(verdict.label, true), nc.decisionBadge(verdict.decision),
        el("span", { class: "verdict-id", "data-item": item.id },
          "item " + item.id + " · note " + item.note_id + " v" + item.note_version)),
      el("div", { class: "versions" }, "model " + verdict.model_version + " · policy " + verdict.policy_version +
        " · queued " + when(item.created_at) + " · claimed by " + (item.claimed_by || "–") +
        (item.reviews_required > 1 ? " · reviews " + item.reviews_done + "/" + item.reviews_required : "")),
      nc.scoreBars(verdict),
      el("h3", { text: "Evidence 证据" }),
      spans.length ? nc.legend(spans) : el("div", { class: "muted", text: "No evidence span in the title or text." }),
      nc.noteFields(item.note, spans),
      el("h3", { text: "Reasons 理由 (rule ids)" }));
    box.append(nc.reasonList(verdict, box));
    setDecideEnabled(true);
    $("q-comment").value = "";
    loadHistory(item.note_id);
  }

  async function decide(label) {
    if (q.busy || !q.item || needReviewer()) return;
    q.busy = true;
    const item = q.item;
    const body = { label, reviewer: reviewer() };
    const comment = $("q-comment").value.trim();
    if (comment) body.comment = comment;
    try {
      const saved = await api("/v1/queue/" + item.id + "/decision", body);
      q.lastDecision = saved;
      status("✓ Item " + item.id + " decided: " + label + " · " + LABEL_NAMES[label] + " (by " + saved.reviewer +
        "). U undoes it.", "ok");
      q.item = null;
      $("q-undo").disabled = false;
    } catch (err) {
      status(explainFailure(err), "error");
      q.busy = false;
      return;
    }
    q.busy = false;
    await next();
    const done = $("q-status");
    if (q.lastDecision && !done.classList.contains("error")) {
      done.textContent = "✓ Item " + item.id + " decided: " + label + ". " + done.textContent;
    }
  }

  async function undo() {
    if (q.busy || needReviewer()) return;
    q.busy = true;
    try {
      const undone = await api("/v1/queue/undo", { reviewer: reviewer() });
      const item = await api("/v1/queue/" + undone.item_id);
      show(item);
      status("↶ Undid your decision " + undone.label + " on item " + undone.item_id + ": it is yours to decide again.", "ok");
    } catch (err) {
      status(explainFailure(err), "error");
    } finally {
      q.busy = false;
      refreshDepth();
    }
  }

  // ------------------------------------------------------------------------- history

  async function loadHistory(noteId) {
    const box = $("q-history");
    box.replaceChildren(el("h3", { text: "History of note " + noteId + " 历史" }), el("p", { class: "muted", text: "loading…" }));
    try {
      const history = await api("/v1/notes/" + encodeURIComponent(noteId));
      box.replaceChildren(el("h3", { text: "History of note " + noteId + " 历史" }), historyTable(history));
      const served = q.item && q.item.note_id === noteId ? q.item.verdict : null;
      const others = served ? otherModels(history, served) : [];
      if (others.length) {  // e.g. a shadow candidate that disagreed (serve --shadow)
        box.prepend(el("div", { class: "q-other", "data-other": others.map((v) => v.label).join(" ") },
          "Another model labelled this note: ",
          ...others.map((v) => el("span", {}, el("span", { class: "badge lab-" + v.label, text: v.label }),
            " " + v.model_version + " "))));
      }
    } catch (err) {
      box.replaceChildren(el("h3", { text: "History 历史" }), el("p", { class: "error", text: explainFailure(err) }));
    }
  }

  /** Verdicts on the item's note version by models other than the one that queued it. */
  function otherModels(history, served) {
    const out = [];
    for (const version of history.versions || []) {
      if (q.item && version.version !== q.item.note_version) continue;
      for (const v of version.verdicts || []) {
        const verdict = v.verdict || v;
        if (verdict.model_version !== served.model_version && verdict.label !== served.label) out.push(verdict);
      }
    }
    return out;
  }

  function historyTable(history) {
    const rows = [];
    for (const version of history.versions || []) {
      for (const v of version.verdicts || []) {
        const verdict = v.verdict || v;
        rows.push({ at: v.updated_at || v.created_at, version: version.version, what: "verdict",
          label: verdict.label, detail: verdict.decision + " · " + verdict.model_version + " · " + (v.source || "") +
            (v.times_seen > 1 ? " · seen " + v.times_seen + "×" : "") });
      }
      for (const d of version.decisions || []) {
        rows.push({ at: d.decided_at || d.at, version: version.version, what: d.undone ? "decision (undone)" : "decision",
          label: d.label, detail: "by " + d.reviewer + (d.comment ? " · " + d.comment : "") +
            (d.predicted_label ? " · model said " + d.predicted_label : ""), undone: d.undone });
      }
    }
    rows.sort((a, b) => String(a.at).localeCompare(String(b.at)));
    const table = el("table", { class: "results history" },
      el("thead", {}, el("tr", {}, ...["When", "Version", "What", "Label", "Detail"].map((h) => el("th", { scope: "col", text: h })))));
    const body = el("tbody");
    for (const r of rows) {
      body.append(el("tr", { class: r.undone ? "undone" : "", "data-what": r.what },
        el("td", { class: "mono", text: when(r.at) }), el("td", { class: "num", text: "v" + r.version }),
        el("td", { text: r.what }), el("td", {}, el("span", { class: "badge lab-" + r.label, text: r.label })),
        el("td", { text: r.detail })));
    }
    table.append(body);
    return table;
  }

  // ------------------------------------------------------------------------- stats

  async function refreshDepth() {
    try {
      const stats = await api("/v1/queue/stats");
      $("q-depth").textContent = "open " + stats.depth + " · claimed " + stats.claimed;
    } catch (_) {
      $("q-depth").textContent = "";
    }
  }

  const pct = (x) => (typeof x === "number" ? (100 * x).toFixed(1) + "%" : "–");
  const secs = (x) => (typeof x === "number" ? (x < 120 ? x.toFixed(0) + " s" : x < 7200 ? (x / 60).toFixed(1) + " min" : (x / 3600).toFixed(1) + " h") : "–");

  function rateTable(title, rates) {
    const table = el("table", { class: "results rates" },
      el("thead", {}, el("tr", {}, ...[title, "decisions", "overridden", "override rate"].map((h) => el("th", { scope: "col", text: h })))));
    const body = el("tbody");
    for (const [name, r] of Object.entries(rates || {})) {
      body.append(el("tr", { "data-key": name }, el("td", { class: "mono", text: name }), el("td", { class: "num", text: r.n }),
        el("td", { class: "num", text: r.overridden }), el("td", { class: "num", text: pct(r.rate) })));
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "no decision yet" })));
    table.append(body);
    return table;
  }

  async function loadStats() {
    const box = $("s-body");
    box.replaceChildren(el("p", { class: "muted", text: "loading…" }));
    try {
      const s = await api("/v1/queue/stats");
      const age = s.age_s || {};
      const stat = (value, text, id) => el("div", { class: "stat-card", "data-stat": id }, el("b", { text: String(value) }), el("span", { text }));
      box.replaceChildren(
        el("div", { class: "stat-cards" },
          stat(s.depth, "open items 待审", "depth"), stat(s.claimed, "claimed now", "claimed"),
          stat(secs(age.p50), "age p50", "age_p50"), stat(secs(age.p90), "age p90", "age_p90"),
          stat(secs(age.p99), "age p99", "age_p99"), stat(s.decisions_last_hour, "decisions, last hour", "decisions_last_hour"),
          stat(typeof s.decisions_per_hour_24h === "number" ? s.decisions_per_hour_24h.toFixed(1) : "–", "decisions/hour (24 h)", "per_hour"),
          stat(s.items_reviewed_twice, "items reviewed twice", "twice"), stat(pct(s.agreement), "agreement on those", "agreement")),
        el("h3", { text: "Override rate by label (model's label → reviewer's)" }), rateTable("label", s.override_by_label),
        el("h3", { text: "Override rate by rule" }), rateTable("rule", s.override_by_rule));
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: explainFailure(err) }));
    }
  }

  // ------------------------------------------------------------------------- keys and start

  function onKey(e) {
    if ($("panel-queue").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    if (KEYS[e.key]) { e.preventDefault(); decide(KEYS[e.key]); }
    else if (e.key === "n" || e.key === "N") { e.preventDefault(); next(); }
    else if (e.key === "u" || e.key === "U") { e.preventDefault(); undo(); }
  }

  function start() {
    for (const [key, label] of Object.entries(KEYS)) {
      const b = $("q-decide").querySelector('button[data-label="' + label + '"]');
      b.addEventListener("click", () => decide(label));
      b.title = "key " + key;
    }
    const fill = (select, values) => select.append(...values.map((v) => el("option", { value: v }, v)));
    fill($("q-label"), LABELS);
    fill($("q-decision"), ["review", "block"]);
    $("q-next").addEventListener("click", next);
    $("q-undo").addEventListener("click", undo);
    $("s-refresh").addEventListener("click", loadStats);
    $("tab-queue").addEventListener("click", () => { nc.selectTab("queue"); refreshDepth(); });
    $("tab-stats").addEventListener("click", () => { nc.selectTab("stats"); loadStats(); });
    document.addEventListener("keydown", onKey);
    setDecideEnabled(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
