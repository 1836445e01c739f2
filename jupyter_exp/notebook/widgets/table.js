// Interactive `exp show` table. The kernel computes the view (experiments/table.py's TableView: filter,
// sort inside each baseline, collapsed checkpoint chains, best values) and sends the drawing order as
// `order_json`; this module draws it and sends the user's choices back.
// Rows are virtualised: only the ones in the scroller's viewport (plus a margin) are in the DOM.
const ROW_H = 24;
const OVERSCAN = 12;
const WIDTHS = { Experiment: 240, Created: 160 };
const REMOVABLE = new Set(["experiment", "checkpoint", "queued"]);

const isNumber = (v) => typeof v === "number";
const text = (v) => (typeof v === "boolean" ? (v ? "True" : "False") : String(v));

function cell(row, col) {
  if (col === "Experiment") return row.label;
  if (col === "Created") return row.created;
  const v = row.values[col];
  return v === undefined ? null : v;
}

// Python's f"{v:.5g}", as the kernel's format_value prints a float.
export function formatNumber(v) {
  if (Number.isInteger(v) || !Number.isFinite(v)) return text(v);
  const exponent = Number(v.toExponential(4).split("e")[1]);
  const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exponent < -4 || exponent >= 5) {
    const mantissa = strip(v.toExponential(4).split("e")[0]);
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return strip(v.toFixed(4 - exponent));
}

function display(row, col) {
  if (col === "Experiment") return row.glyph + row.label + (row.best_of ? " ★" : "");
  const v = cell(row, col);
  if (v === null) return "-";
  if (col === "Created") return row.kind === "workspace" ? "-" : v.replace("T", " ").slice(0, 16);
  return isNumber(v) ? formatNumber(v) : text(v);
}

function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function render({ model, el }) {
  el.classList.add("jx-table");
  const filter = h("input", { class: "jx-filter", type: "search", placeholder: "filter: name, or loss<0.5" });
  const changedBox = h("input", { type: "checkbox", class: "jx-only-changed" });
  const buttons = {};
  for (const [action, label] of [["apply", "Apply"], ["branch", "Branch"], ["remove", "Remove"],
    ["compare", "Compare"], ["diff", "Diff"]]) {
    buttons[action] = h("button", { class: "jx-action", "data-action": action, text: label });
  }
  const columnsBtn = h("button", { class: "jx-columns-btn", text: "Columns" });
  const collapseBtn = h("button", { class: "jx-collapse-all", text: "Collapse checkpoints" });
  const count = h("span", { class: "jx-count" });
  const toolbar = h("div", { class: "jx-toolbar" }, [filter, columnsBtn, collapseBtn,
    h("label", {}, [changedBox, " only changed params"]), h("span", { class: "jx-spacer" }),
    ...Object.values(buttons), count]);
  const colPanel = h("div", { class: "jx-colpanel", hidden: "" });
  const branchName = h("input", { class: "jx-branch-name", placeholder: "new branch name" });
  const branchOk = h("button", { class: "jx-branch-ok", text: "Create branch" });
  const branchCancel = h("button", { text: "Cancel" });
  const branchForm = h("div", { class: "jx-branch-form", hidden: "" }, [branchName, branchOk, branchCancel]);
  const header = h("div", { class: "jx-header" });
  const body = h("div", { class: "jx-body" });
  const scroller = h("div", { class: "jx-scroller" }, [header, body]);
  const output = h("div", { class: "jx-output" });
  el.append(toolbar, colPanel, branchForm, scroller, output);

  let view = [], shown = [], template = "", width = 0, pending = false;
  let rowsText = null, rowsCache = [];
  const getRows = () => {
    const current = model.get("rows_json");
    if (current !== rowsText) { rowsText = current; rowsCache = JSON.parse(current); }
    return rowsCache;
  };
  const visibleRows = () => {
    const rows = getRows();
    return JSON.parse(model.get("order_json")).map((i) => rows[i]).filter(Boolean);
  };
  const save = (changes) => {
    for (const [k, v] of Object.entries(changes)) model.set(k, v);
    model.save_changes();
  };
  const unitSizes = () => {
    const sizes = new Map();
    for (const row of getRows()) sizes.set(row.unit, (sizes.get(row.unit) || 0) + 1);
    return sizes;
  };

  function layout() {
    const visible = new Set(model.get("visible_columns"));
    const onlyChanged = model.get("only_changed");
    shown = model.get("columns").filter((c) => visible.has(c.id) && (c.changed || !onlyChanged));
    const widths = shown.map((c) => WIDTHS[c.id] || 110);
    template = widths.map((w) => `${w}px`).join(" ");
    width = widths.reduce((a, b) => a + b, 0);
    view = visibleRows();
    const [sortBy, desc] = JSON.parse(model.get("order_sort"));  // the sort the drawn rows are in
    header.replaceChildren(...shown.map((c) => h("div", {
      class: "jx-th" + (c.id === sortBy ? (desc ? " jx-sorted jx-desc" : " jx-sorted jx-asc") : ""),
      "data-col": c.id, "data-kind": c.kind, title: c.file ? `${c.file}: ${c.key}` : c.label,
      text: c.label + (c.id === sortBy ? (desc ? " ▼" : " ▲") : ""),
    })));
    header.style.gridTemplateColumns = template;
    header.style.width = `${width}px`;
    body.style.height = `${view.length * ROW_H}px`;
    body.style.width = `${width}px`;
    scroller.style.height = `${Math.min(model.get("height"), ROW_H * (view.length + 1) + 18)}px`;
    count.textContent = `${view.length} of ${getRows().length} rows`;
    changedBox.checked = onlyChanged;
    if (document.activeElement !== filter) filter.value = model.get("filter_text");
    colPanel.replaceChildren(...model.get("columns").filter((c) => c.kind !== "info").map((c) => {
      const box = h("input", { type: "checkbox", "data-col": c.id });
      box.checked = visible.has(c.id);
      return h("label", { class: "jx-colchoice" }, [box, ` ${c.label}`]);
    }));
    updateButtons();
    paint();
  }

  function paint() {
    pending = false;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - OVERSCAN);
    // Before the view is attached clientHeight is 0: fall back to the height the scroller will have.
    const height = scroller.clientHeight || model.get("height");
    const last = Math.min(view.length, Math.ceil((scroller.scrollTop + height) / ROW_H) + OVERSCAN);
    const selected = new Set(model.get("selected"));
    const collapsed = new Set(model.get("collapsed"));
    const best = model.get("best");
    const sizes = unitSizes();
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = view[i];
      const node = h("div", {
        class: `jx-row jx-${row.kind}` + (selected.has(row.rev) ? " jx-selected" : "") + (row.error ? " jx-failed" : "")
          + (row.best_of ? " jx-best-trial" : ""),
        "data-rev": row.rev, "data-index": String(i),
        title: row.error || (row.best_of ? `best trial of study ${row.best_of}` : ""),
      });
      node.style.top = `${i * ROW_H}px`;
      node.style.gridTemplateColumns = template;
      node.style.width = `${width}px`;
      for (const c of shown) {
        const td = h("div", { class: "jx-td", "data-col": c.id });
        const v = cell(row, c.id);
        if (c.id in best && v === best[c.id]) td.classList.add("jx-best");
        if (c.id === "Experiment" && row.unit === row.rev && sizes.get(row.unit) > 1) {
          td.append(h("span", { class: "jx-toggle", "data-unit": row.unit, text: collapsed.has(row.unit) ? "▸ " : "▾ " }));
        }
        td.append(display(row, c.id));
        node.append(td);
      }
      rows.push(node);
    }
    body.replaceChildren(...rows);
  }

  function updateButtons() {
    const revs = model.get("selected");
    const byRev = new Map(getRows().map((r) => [r.rev, r]));
    const removable = revs.some((r) => byRev.has(r) && REMOVABLE.has(byRev.get(r).kind));
    buttons.apply.disabled = revs.length !== 1;
    buttons.branch.disabled = revs.length !== 1;
    buttons.diff.disabled = revs.length < 1 || revs.length > 2;
    buttons.compare.disabled = revs.length < 1;
    buttons.remove.disabled = !removable;
  }

  function showOutput() {
    const content = model.get("output");
    if (content.includes("<script")) {
      const frame = h("iframe", { class: "jx-output-frame", sandbox: "allow-scripts" });
      frame.srcdoc = content;
      output.replaceChildren(frame);
    } else {
      output.innerHTML = content;
    }
  }

  const send = (action, extra = {}) => {
    output.replaceChildren(h("div", { class: "jx-busy", text: `${action}…` }));
    model.send({ type: "action", action, revs: model.get("selected"), ...extra });
  };

  header.addEventListener("click", (event) => {
    const th = event.target.closest(".jx-th");
    if (!th) return;
    const col = th.dataset.col;
    const desc = model.get("sort_by") === col ? !model.get("sort_desc") : false;
    scroller.scrollTop = 0;
    save({ sort_by: col, sort_desc: desc });
  });
  body.addEventListener("click", (event) => {
    const toggle = event.target.closest(".jx-toggle");
    if (toggle) {
      const unit = toggle.dataset.unit, now = model.get("collapsed");
      save({ collapsed: now.includes(unit) ? now.filter((u) => u !== unit) : now.concat([unit]) });
      return;
    }
    const row = event.target.closest(".jx-row");
    if (!row) return;
    const rev = row.dataset.rev, now = model.get("selected");
    save({ selected: now.includes(rev) ? now.filter((r) => r !== rev) : now.concat([rev]) });
  });
  filter.addEventListener("input", () => save({ filter_text: filter.value }));
  changedBox.addEventListener("change", () => save({ only_changed: changedBox.checked }));
  columnsBtn.addEventListener("click", () => { colPanel.hidden = !colPanel.hidden; });
  colPanel.addEventListener("change", (event) => {
    const col = event.target.dataset.col;
    const now = model.get("visible_columns");
    save({ visible_columns: event.target.checked ? model.get("columns").map((c) => c.id)
      .filter((id) => id === col || now.includes(id)) : now.filter((id) => id !== col) });
  });
  collapseBtn.addEventListener("click", () => {
    const chains = [...unitSizes()].filter(([, n]) => n > 1).map(([u]) => u);
    const allCollapsed = chains.every((u) => model.get("collapsed").includes(u));
    save({ collapsed: allCollapsed ? [] : chains });
  });
  for (const action of ["apply", "remove", "compare", "diff"]) {
    buttons[action].addEventListener("click", () => send(action));
  }
  buttons.branch.addEventListener("click", () => {
    const rev = model.get("selected")[0];
    const row = getRows().find((r) => r.rev === rev);
    branchName.value = row && row.name ? `${row.name}-branch` : "";
    branchForm.hidden = false;
    branchName.focus();
  });
  const submitBranch = () => {
    const name = branchName.value.trim();
    if (!name) return;
    branchForm.hidden = true;
    send("branch", { name });
  };
  branchOk.addEventListener("click", submitBranch);
  branchName.addEventListener("keydown", (event) => {
    if (event.key === "Enter") submitBranch();
    if (event.key === "Escape") branchForm.hidden = true;
  });
  branchCancel.addEventListener("click", () => { branchForm.hidden = true; });
  scroller.addEventListener("scroll", () => {
    if (!pending) { pending = true; requestAnimationFrame(paint); }
  });

  // One save changes several traits: lay out once, after all their change events.
  let queued = false;
  const relayout = () => {
    if (!queued) { queued = true; queueMicrotask(() => { queued = false; layout(); }); }
  };
  const events = ["rows_json", "order_json", "order_sort", "columns", "sort_by", "sort_desc", "filter_text", "visible_columns", "collapsed",
    "only_changed", "selected", "best", "height"].map((name) => `change:${name}`);
  for (const name of events) model.on(name, relayout);
  model.on("change:output", showOutput);
  layout();
  showOutput();
  return () => {
    for (const name of events) model.off(name, relayout);
    model.off("change:output", showOutput);
  };
}

export default { render };
