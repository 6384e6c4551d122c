/* AgentGym report page. Every string in DATA may come from an agent: it is only ever rendered as text
   (textContent / createTextNode), never parsed as HTML; hrefs are built from encodeURIComponent'd ids. */
"use strict";
(function () {
  const CFG = JSON.parse(document.getElementById("config").textContent);
  let DATA = JSON.parse(document.getElementById("data").textContent);
  const state = { filter: "", status: "all", repo: "", sort: null, desc: false, version: null };
  const charts = [];
  const MARKER = /(\[… [^\]\n]{0,200}elided[^\]\n]{0,200}\])/;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    return put(e, ...kids);
  }
  function put(e, ...kids) {  // append nodes and text (as text nodes); arrays flattened, null skipped
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "n/a" : Number(x).toFixed(d));
  const pct = (x) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(2) + "%");
  const ci = (e, unit = "") => (e.low === null ? "no interval" : `[${fmt(e.low)}${unit}, ${fmt(e.high)}${unit}]`);
  const show = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

  function marked(text) {  // the text, with elision markers highlighted (still text nodes only)
    return String(text).split(MARKER).map((part, i) => (i % 2 ? el("span", { class: "elided" }, part) : part));
  }
  const pre = (v, cls) => el("pre", { class: cls }, marked(show(v)));
  const trialHref = (id) => "#t=" + encodeURIComponent(id);
  function trialLink(id, text) {
    return el("a", { class: "link", href: trialHref(id), "data-trial": id }, text);
  }
  function table(header, rows, attrs) {
    return el("table", attrs || {}, el("thead", {}, el("tr", {}, header.map((h) => (h instanceof Node ? h : el("th", {}, h))))),
      el("tbody", {}, rows));
  }
  const td = (text, attrs) => el("td", attrs || {}, text);
  const num = (text, attrs) => el("td", Object.assign({ class: "num" }, attrs || {}), text);

  function header() {
    const out = [el("h1", {}, DATA.title), el("div", { class: "meta" }, `Generated ${DATA.generated_at} · `,
      `${DATA.models.length} model(s) · ${Object.keys(DATA.trials).length} trial(s)`)];
    if (CFG.mode === "live") out.push(el("div", { class: "meta" }, el("a", { class: "link", href: "./" }, "← all runs"),
      " · live: new trials appear as they finish", el("span", { id: "live-status" }, "")));
    if (!CFG.charts) out.push(el("div", { class: "warn", id: "no-charts" }, "Charts are unavailable: Chart.js is not installed (run scripts/setup.sh). The tables below hold every number."));
    if (DATA.skipped) out.push(el("div", { class: "warn" }, `${DATA.skipped} file(s) in the run folders were not readable records and are left out.`));
    if (DATA.transcripts_omitted) out.push(el("div", { class: "warn" }, `${DATA.transcripts_omitted} transcript(s) left out to keep the file under its size cap.`));
    return out;
  }

  function leaderboard() {
    const rows = DATA.models.map((m, i) => el("tr", { "data-model": m.label },
      num(String(i + 1)), td(el("code", {}, m.label)), num(`${m.tasks} × ${m.epochs[1]}`),
      num(fmt(m.mean_score.value), { "data-k": "mean-score" }), num(ci(m.mean_score)), num(fmt(m.mean_score.mde)),
      num(pct(m.success_rate.value), { "data-k": "success-rate" }), num(ci(m.success_rate, "%")), num(fmt(m.success_rate.mde) + " pts"),
      num(String(m.infra_errors)), num(fmt(m.tokens_per_trial, 0)), num(m.cost_usd === null ? "n/a" : "$" + fmt(m.cost_usd, 4)),
      td(m.not_separable_from.length ? el("span", { class: "badge bad" }, "not separable from " + m.not_separable_from.join(", ")) : el("span", { class: "badge ok" }, "separable"))));
    return [el("h2", {}, "Leaderboard"),
      el("p", { class: "muted" }, "95% intervals: task-clustered t (scores, multi-epoch), Wilson (single-epoch success). MDE: the smallest gap to another model of this many tasks a 5% test finds with 80% power. \"Not separable\": the score intervals overlap."),
      table(["#", "Model", "Tasks × epochs", "Mean score", "95% CI", "MDE", "Success rate", "95% CI", "MDE", "Infra errors", "Tokens / trial", "Cost", "Separable?"], rows, { id: "leaderboard" })];
  }

  function runSummaries() {
    const rows = DATA.models.filter((m) => m.summary).map((m) => el("tr", { "data-model": m.label },
      td(el("code", {}, m.label)), td(m.folder), td(m.summary.status), num(`${m.summary.tasks_finished} / ${m.summary.tasks_planned}`),
      num(fmt(m.summary.avg_score), { "data-k": "summary-avg-score" }), num(pct(m.summary.success_rate * 100), { "data-k": "summary-success-rate" }),
      num(String(m.summary.infra_errors)), num(`${m.summary.prompt_tokens} / ${m.summary.completion_tokens}`), td(m.summary.sandbox)));
    return [el("h2", {}, "Runs (summary.json)"),
      table(["Model", "Folder", "Status", "Trials finished / planned", "Avg score", "Success rate", "Infra errors", "Tokens prompt / completion", "Sandbox"], rows, { id: "runs" })];
  }

  function heatmap() {
    const colour = (s) => `hsl(${Math.round(1.2 * s)}, 70%, ${90 - s / 5}%)`;
    const rows = DATA.models.map((m) => el("tr", {}, td(el("code", {}, m.label)), DATA.repos.map((r) => {
      const g = m.per_repo[r];
      if (!g) return num("n/a");
      const c = num(`${fmt(g.mean_score.value)} (${pct(g.success_rate.value)})`, { title: `${g.tasks} task(s)` });
      c.style.background = colour(g.mean_score.value || 0);
      return c;
    })));
    return [el("h2", {}, "Per repo (mean score, success rate)"), table(["Model", ...DATA.repos], rows, { id: "heatmap" })];
  }

  function chartSection() {
    const out = [el("h2", {}, "Charts")];
    if (!CFG.charts) return out.concat(el("p", { class: "muted" }, "Charts are unavailable (Chart.js not installed)."));
    const box = el("div", { class: "charts" });
    const specs = [scoreChart(), failureChart(), costChart()];
    for (const spec of specs) {
      const canvas = el("canvas", {});
      put(box, el("div", { class: "chart" }, canvas));
      charts.push([canvas, spec]);
    }
    return out.concat(box);
  }
  const labels = () => DATA.models.map((m) => m.label);
  function scoreChart() {
    return { type: "bar", data: { labels: labels(), datasets: [
      { label: "95% interval", data: DATA.models.map((m) => [m.mean_score.low ?? m.mean_score.value, m.mean_score.high ?? m.mean_score.value]), backgroundColor: "rgba(9,105,218,0.25)" },
      { type: "scatter", label: "mean score", data: DATA.models.map((m, i) => ({ x: m.label, y: m.mean_score.value })), backgroundColor: "#0969da", pointRadius: 5 }] },
      options: { maintainAspectRatio: false, animation: false, plugins: { title: { display: true, text: "Mean score with 95% interval" } }, scales: { y: { min: 0, max: 100 } } } };
  }
  function failureChart() {
    const reasons = [...new Set(DATA.models.flatMap((m) => Object.keys(m.failure_reasons)))].sort();
    const palette = ["#cf222e", "#9a6700", "#8250df", "#0969da", "#1a7f37", "#57606a", "#bf3989", "#fb8500"];
    return { type: "bar", data: { labels: labels(), datasets: reasons.map((r, i) => ({ label: r, data: DATA.models.map((m) => m.failure_reasons[r] || 0), backgroundColor: palette[i % palette.length] })) },
      options: { maintainAspectRatio: false, animation: false, plugins: { title: { display: true, text: "Failure reasons (trials)" } }, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } };
  }
  function costChart() {
    const useCost = DATA.models.every((m) => m.cost_usd !== null);
    return { type: "scatter", data: { datasets: DATA.models.map((m, i) => ({ label: m.label, data: [{ x: useCost ? m.cost_usd : m.tokens_per_trial, y: m.mean_score.value }], pointRadius: 6 })) },
      options: { maintainAspectRatio: false, animation: false, plugins: { title: { display: true, text: useCost ? "Mean score vs cost (US$)" : "Mean score vs tokens per trial" } },
        scales: { y: { min: 0, max: 100, title: { display: true, text: "mean score" } }, x: { title: { display: true, text: useCost ? "cost (US$)" : "tokens per trial" } } } } };
  }
  function drawCharts() {
    while (charts.length) {
      const [canvas, spec] = charts.shift();
      try { new window.Chart(canvas, spec); } catch (err) { canvas.replaceWith(el("p", { class: "muted" }, "chart failed: " + err)); }
    }
  }

  const epochLinks = (ids) => ids.map((t, i) => [i ? " " : "", trialLink(t, "epoch " + ((DATA.trials[t] || {}).epoch ?? i))]);
  const pval = (p) => (p === null ? "n/a" : p < 0.001 ? p.toExponential(2) : p.toPrecision(3));
  function comparisonSection() {
    if (!DATA.comparisons.length) return [];
    const out = [el("h2", {}, "Comparisons (paired by task)")];
    for (const c of DATA.comparisons) {
      const flips = (list, title) => [el("h4", {}, `${title} (${list.length})`), list.length ? el("ul", {}, list.map((f) => el("li", { class: "flip", "data-task": f.task }, f.task, " — base: ",
        epochLinks(f.base), " · candidate: ", epochLinks(f.candidate)))) : el("p", { class: "muted" }, "none")];
      const part = (p, unit) => [num(fmt(p.difference) + unit), num(p.low === null ? "n/a" : `[${fmt(p.low)}, ${fmt(p.high)}]`), num(pval(p.p_value)), num(fmt(p.mde)), td(el("b", {}, p.verdict)), td(p.method)];
      out.push(el("div", { class: "comparison" }, el("h3", {}, `${c.candidate} vs ${c.base.endsWith(" (base)") ? c.base : c.base + " (base)"} — ${c.shared_tasks} shared task(s)`),
        table(["Quantity", "Difference", "95% CI", "p", "MDE", "Verdict", "Method"], [
          el("tr", {}, td("score"), part(c.score, "")), el("tr", {}, td("success (points)"), part(c.success, ""))]),
        el("p", { class: "muted" }, `Correlation of per-task scores: ${c.correlation === null ? "n/a" : fmt(c.correlation)}. ${c.score.reason}.`),
        flips(c.solved_to_failed, "Solved → failed"), flips(c.failed_to_solved, "Failed → solved")));
    }
    return out;
  }

  function cellStatus(cell) { return cell.success === 1 ? "ok" : cell.success === 0 ? "bad" : "mixed"; }
  function rowMatches(row) {
    const f = state.filter.toLowerCase();
    if (f && !row.key.toLowerCase().includes(f) && !(row.difficulty || "").toLowerCase().includes(f)) return false;
    if (state.repo && row.repo !== state.repo) return false;
    const cells = Object.values(row.cells);
    if (state.status === "failed") return cells.some((c) => c.success < 1);
    if (state.status === "solved") return cells.every((c) => c.success === 1);
    if (state.status === "differ") return new Set(cells.map(cellStatus)).size > 1 || cells.length < DATA.columns.length;
    return true;
  }
  function sortKey(row) {
    if (state.sort === null || state.sort === "task") return row.key;
    if (state.sort === "difficulty") return row.difficulty || "";
    const c = row.cells[state.sort];
    return c ? c.score : -1;
  }
  function gridRows() {
    const rows = DATA.grid.filter(rowMatches).sort((a, b) => {
      const x = sortKey(a), y = sortKey(b);
      const r = x < y ? -1 : x > y ? 1 : 0;
      return state.desc ? -r : r;
    });
    return rows.map((row) => el("tr", { "data-task": row.key, class: "grid-row" }, td(row.key), td(row.difficulty || ""),
      DATA.columns.map((label) => {
        const c = row.cells[label];
        if (!c) return td("—", { class: "cell-none", "data-model": label });
        const links = c.trials.length === 1 ? [trialLink(c.trials[0], fmt(c.score))]
          : [fmt(c.score), " ", c.trials.map((t, i) => [trialLink(t, "e" + i), " "])];
        return td([links, c.reasons.length ? el("div", { class: "muted" }, [...new Set(c.reasons)].join(", ")) : null], { class: "cell-" + cellStatus(c), "data-model": label });
      })));
  }
  function gridSection() {
    const body = el("tbody", {}, gridRows());
    const refresh = () => { body.replaceChildren(...gridRows()); count.textContent = `${body.children.length} of ${DATA.grid.length} task(s)`; };
    const count = el("span", { class: "muted", id: "grid-count" });
    const head = (key, text) => el("th", { class: "sortable", "data-sort": key, onclick: () => {
      state.desc = state.sort === key ? !state.desc : key !== "task" && key !== "difficulty"; state.sort = key; refresh(); } }, text);
    const search = el("input", { type: "search", id: "grid-filter", placeholder: "filter tasks (id, repo, difficulty)", value: state.filter,
      oninput: (ev) => { state.filter = ev.target.value; refresh(); } });
    const status = el("select", { id: "grid-status", onchange: (ev) => { state.status = ev.target.value; refresh(); } },
      [["all", "all tasks"], ["failed", "any model failed"], ["solved", "every model solved"], ["differ", "models differ"]].map(([v, t]) => el("option", { value: v }, t)));
    status.value = state.status;
    const repo = el("select", { id: "grid-repo", onchange: (ev) => { state.repo = ev.target.value; refresh(); } }, el("option", { value: "" }, "all repos"), DATA.repos.map((r) => el("option", { value: r }, r)));
    repo.value = state.repo;
    const out = [el("h2", {}, "Tasks × models"), el("div", { class: "controls" }, search, status, repo, count),
      el("table", { id: "grid" }, el("thead", {}, el("tr", {}, head("task", "Task"), head("difficulty", "Difficulty"), DATA.columns.map((l) => head(l, l)))), body)];
    refresh();
    return out;
  }

  function transcriptView(t, id) {
    const box = el("div", {});
    const trial = DATA.trials[id] || {};
    put(box, el("h2", {}, `Transcript: ${trial.label} · ${t.repo}/${t.task} · epoch ${t.epoch}`),
      el("p", {}, el("span", { class: t.success ? "ok" : "bad", id: "t-outcome" }, t.success ? "success" : "failed"), ` · score ${fmt(t.score)}`,
        t.failure_reason ? ` · failure: ${t.failure_reason}` : "", t.first_failing_check ? ` · first failing check: ${t.first_failing_check}` : "",
        ` · attempt ${t.attempt} · source: ${t.source === "events" ? "event file" : "per-task record"}`),
      t.error ? pre(t.error, "bad") : null, el("h3", {}, "Instruction"), pre(t.instruction));
    put(box, el("p", { class: "muted" }, Object.entries(t.metrics).map(([k, v]) => `${k}: ${v}`).join(" · ")));
    if (t.prompt.length) put(box, el("details", {}, el("summary", {}, `Prompt (${t.prompt.length} message(s))`), t.prompt.map((m) => [el("div", { class: "role" }, m.role), pre(m.content)])));
    put(box, el("h3", {}, `Turns (${t.turns.length})`));
    for (const turn of t.turns) put(box, turnView(turn));
    for (const n of t.notes) put(box, el("p", { class: "safety" }, `${n.kind}: `, marked(n.text)));
    put(box, el("h3", {}, "Final message"), t.final_message === null ? el("p", { class: "muted" }, "none") : pre(t.final_message, "final-message"));
    put(box, el("h3", {}, "Checks"), table(["Key", "OK", "Expected", "Actual", "Weight", "Error"], t.checks.map((c) =>
      el("tr", {}, td(c.key), td(c.ok ? "yes" : "no", { class: c.ok ? "ok" : "bad" }), td(pre(c.expected)), td(pre(c.actual)), num(String(c.weight)), td(c.error || "")))));
    if (t.safety.length) put(box, el("h3", {}, "Safety events"), el("ul", {}, t.safety.map((s) => el("li", { class: "safety" }, `${s.event}${s.penalized ? "" : " (not penalized)"}: `, marked(s.detail)))));
    put(box, el("h3", {}, "Files the agent wrote"), t.artifacts.length ? t.artifacts.map((a) => [el("div", { class: "role" }, a.name), pre(a.text, "artifact")]) : el("p", { class: "muted" }, "none"));
    return box;
  }
  function turnView(turn) {
    const out = el("div", { class: "turn" }, el("h4", {}, turn.turn >= 0 ? `Turn ${turn.turn}` : "Before the first turn"));
    for (const m of turn.harness_messages || []) put(out, el("div", { class: "role" }, `harness → model (${m.role})`), pre(m.content));
    const tried = turn.attempts.filter((a) => a.error || a.exception || (a.status !== null && a.status !== 200));
    if (turn.attempts.length > 1) tried.push(...turn.attempts);
    if (tried.length) put(out, el("div", { class: "role" }, `attempts (${turn.attempts.length})`), el("ul", {}, turn.attempts.map((a) =>
      el("li", {}, `#${a.attempt}: status ${a.status ?? "none"}${a.exception ? " " + a.exception : ""}${a.error ? " — " + a.error : ""}${a.wait_s ? `, waited ${fmt(a.wait_s)} s` : ""}`))));
    if (turn.reasoning) put(out, el("details", {}, el("summary", {}, "reasoning"), pre(turn.reasoning)));
    if (turn.content !== null && turn.content !== undefined && turn.content !== "") put(out, el("div", { class: "role" }, "assistant"), pre(turn.content, "assistant"));
    if ((turn.format_errors || []).length) put(out, el("div", { class: "bad" }, "format errors: ", turn.format_errors.join("; ")));
    for (const c of turn.tool_calls) put(out, el("div", { class: "tool" }, el("div", { class: "role" }, `tool call ${c.name}${turn.recovered_from_text ? " (recovered from text)" : ""}`), pre(c.arguments, "tool-args")));
    for (const r of turn.results) put(out, el("div", { class: "tool" }, el("div", { class: "role" }, `tool output ${r.tool_name}: `, el("span", { class: r.ok ? "ok" : "bad" }, r.ok ? "ok" : "error"), r.error ? ` — ${r.error}` : ""),
      turn.tool_calls.length ? null : pre(r.input, "tool-args"), pre(r.output, "tool-output")));
    for (const s of turn.safety) put(out, el("div", { class: "safety" }, `safety: ${s.event}${s.penalized ? "" : " (not penalized)"}: `, marked(s.detail)));
    return out;
  }
  async function openTrial(id, scroll = true) {
    const panel = document.getElementById("transcript");
    if (!panel) return;
    if (!id) { panel.hidden = true; return; }
    let view = DATA.transcripts[id];
    const trial = DATA.trials[id];
    if (!view && DATA.lazy_transcripts && trial) {
      const q = new URLSearchParams({ run: trial.run_id, repo: trial.repo, stem: trial.stem });
      const resp = await fetch("api/trial?" + q.toString());
      view = resp.ok ? await resp.json() : null;
    }
    panel.hidden = false;
    panel.replaceChildren(el("a", { class: "link", href: "#", id: "t-close" }, "close ✕"), view ? transcriptView(view, id) : el("p", {}, "No transcript for this trial."));
    if (scroll) panel.scrollIntoView();
  }
  const hashTrial = () => (location.hash.startsWith("#t=") ? decodeURIComponent(location.hash.slice(3)) : "");

  function render() {
    const app = document.getElementById("app");
    const y = window.scrollY;
    app.replaceChildren(...header(), ...leaderboard(), ...runSummaries(), ...heatmap(), ...chartSection(), ...comparisonSection(), ...gridSection(), el("div", { id: "transcript", hidden: "" }));
    if (CFG.charts) drawCharts();
    if (hashTrial()) openTrial(hashTrial(), false);
    window.scrollTo(0, y);
  }
  window.addEventListener("hashchange", () => openTrial(hashTrial()));

  /* live viewer: the run list, a report fetched from the JSON endpoint, and polling for new trials */
  const params = new URLSearchParams(location.search);
  function reportQuery() {
    return params.get("run") ? new URLSearchParams({ run: params.get("run") }) : new URLSearchParams({ a: params.get("a"), b: params.get("b") });
  }
  async function getJSON(url) { const r = await fetch(url); if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); return r.json(); }
  async function poll() {
    try {
      const v = await getJSON("api/version?" + reportQuery().toString());
      if (v.version !== state.version) { DATA = await getJSON("api/report?" + reportQuery().toString()); state.version = v.version; render(); }
      const s = document.getElementById("live-status"); if (s) s.textContent = ` · checked ${new Date().toLocaleTimeString()}`;
    } catch (err) { const s = document.getElementById("live-status"); if (s) s.textContent = " · " + err.message; }
    setTimeout(poll, 1500);
  }
  async function runList() {
    const runs = await getJSON("api/runs");
    const picked = new Set();
    const button = el("button", { id: "compare", disabled: "", onclick: () => { const [a, b] = [...picked]; location.search = "?" + new URLSearchParams({ a, b }).toString(); } }, "Compare the two selected runs");
    const rows = runs.runs.map((r) => el("tr", { "data-run": r.id },
      td(r.kind === "run" ? el("input", { type: "checkbox", "data-run": r.id, onchange: (ev) => { ev.target.checked ? picked.add(r.id) : picked.delete(r.id); button.disabled = picked.size !== 2; } }) : ""),
      td(r.kind), td(el("a", { class: "link", href: "?" + new URLSearchParams({ run: r.id }).toString() }, r.id)), td(r.models.join(", ")), num(String(r.trials)), td(r.status || "")));
    document.getElementById("app").replaceChildren(el("h1", {}, "AgentGym runs"), el("p", { class: "muted" }, runs.root),
      table(["", "Kind", "Folder", "Models", "Trials", "Status"], rows, { id: "run-list" }), el("p", {}, button));
  }
  if (CFG.mode === "live") {
    if (params.get("run") || (params.get("a") && params.get("b"))) poll();
    else runList().catch((err) => document.getElementById("app").replaceChildren(el("p", { class: "bad" }, String(err))));
  } else {
    render();
  }
})();
