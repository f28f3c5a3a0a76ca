// src/layout.js
var EMPTY_LAYERS = Object.freeze({
  names: [],
  types: [],
  type_names: [],
  params: [],
  blocks: [],
  block_names: []
});
function arr(value) {
  return Array.isArray(value) ? value : [];
}
function normalizeLayers(layers) {
  if (!layers || typeof layers !== "object") return EMPTY_LAYERS;
  return {
    names: arr(layers.names).map(String),
    types: arr(layers.types),
    type_names: arr(layers.type_names).map(String),
    params: arr(layers.params),
    blocks: arr(layers.blocks),
    block_names: arr(layers.block_names).map(String),
    lora_targets: layers.lora_targets
    // read through normalizeTargets
  };
}
function normalizeFrozen(frozen, n) {
  const src = arr(frozen);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = Boolean(src[i]);
  return out;
}
function typeName(layers, t) {
  return Number.isInteger(t) && t >= 0 && t < layers.type_names.length ? layers.type_names[t] : "?";
}
function normalizeTargets(layers) {
  const t = layers && typeof layers === "object" ? layers.lora_targets : null;
  const src = t && typeof t === "object" ? t : {};
  return {
    owners: arr(src.owners),
    paths: arr(src.paths).map(String),
    types: arr(src.types),
    params: arr(src.params),
    preferred: arr(src.preferred).map(Boolean)
  };
}
function targetPath(layers, targets, j) {
  const owner = String(arr(layers.names)[targets.owners[j]] ?? "");
  return targets.paths[j] ? `${owner}/${targets.paths[j]}` : owner;
}
function normalizeLora(lora) {
  return arr(lora).filter((entry) => Array.isArray(entry) && entry.length >= 1).map(([path, rank, alpha, params]) => ({
    path: String(path),
    rank: Number(rank) || 0,
    alpha: alpha == null ? null : Number(alpha),
    params: Number(params) || 0
  }));
}
function groupByBlock(layers) {
  const L = normalizeLayers(layers);
  const groups = [];
  const byBlock = /* @__PURE__ */ new Map();
  for (let i = 0; i < L.names.length; i++) {
    const raw = L.blocks[i];
    const block = Number.isInteger(raw) ? raw : -1;
    let g = byBlock.get(block);
    if (!g) {
      const name = block >= 0 && block < L.block_names.length ? L.block_names[block] : block >= 0 ? `block ${block}` : "(ungrouped)";
      g = { block, name, indices: [] };
      byBlock.set(block, g);
      groups.push(g);
    }
    g.indices.push(i);
  }
  return groups;
}
function matchesFilter(name, filter) {
  const f = String(filter || "").trim().toLowerCase();
  return f === "" || String(name).toLowerCase().includes(f);
}

// src/numbers.js
function formatNumber(value) {
  const n = Math.round(Number(value) || 0);
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
function formatRate(rate) {
  const r = Number(rate);
  if (!Number.isFinite(r) || r <= 0) return "";
  const [mantissa, exponent] = r.toExponential(1).split("e");
  return `${mantissa.replace(/\.0$/, "")}e${Number(exponent)}`;
}
function layerRates(layers, frozen, rates) {
  const L = normalizeLayers(layers);
  const f = arr(frozen);
  const r = arr(rates);
  return L.names.map((_, i) => {
    const b = L.blocks[i];
    if (f[i] || !(Number(L.params[i]) > 0) || !Number.isInteger(b)) return "";
    return formatRate(r[b]);
  });
}
function summarize(layers, frozen, lora) {
  const L = normalizeLayers(layers);
  const n = L.names.length;
  const f = arr(frozen);
  let total = 0;
  let trainable = 0;
  let frozenCount = 0;
  for (let i = 0; i < n; i++) {
    const p = Number(L.params[i]) || 0;
    total += p;
    if (f[i]) frozenCount++;
    else trainable += p;
  }
  const adapters = normalizeLora(lora);
  const T = normalizeTargets(layers);
  const adapted = new Set(adapters.map((a) => a.path));
  for (const a of adapters) {
    trainable += a.params;
    total += a.params;
  }
  for (let j = 0; j < T.owners.length; j++) {
    if (adapted.has(targetPath(L, T, j))) total += Number(T.params[j]) || 0;
  }
  return { layers: n, frozen: frozenCount, trainable, total, adapters: adapters.length };
}
function summaryText(layers, frozen, lora) {
  const s = summarize(layers, frozen, lora);
  return `${formatNumber(s.layers)} ${s.layers === 1 ? "layer" : "layers"} \xB7 ${formatNumber(s.trainable)} trainable / ${formatNumber(s.total)} total params` + (s.adapters ? ` \xB7 ${s.adapters} LoRA ${s.adapters === 1 ? "adapter" : "adapters"}` : "");
}

// src/signals.js
var SIGNALS = [
  ["none", "no signal"],
  ["rates", "learning rate"],
  ["update_ratio", "update ratio \u2016\u0394w\u2016/\u2016w\u2016"],
  ["drift", "drift from the loaded weights"]
];
function signalValues(layers, frozen, rates, signals, choice) {
  const L = normalizeLayers(layers);
  if (choice === "rates") {
    const f = arr(frozen);
    const r = arr(rates);
    return L.names.map((_, i) => {
      if (f[i] || !(Number(L.params[i]) > 0)) return null;
      const v = Number(r[L.blocks[i]]);
      return Number.isFinite(v) ? v : null;
    });
  }
  const sent = signals ? signals[choice] : void 0;
  return L.names.map((_, i) => figure(sent, i));
}
function figure(values, i) {
  const v = Array.isArray(values) ? values[i] : void 0;
  return v === null || v === void 0 || !Number.isFinite(Number(v)) ? null : Number(v);
}
function partValues(layers, frozen, rates, signals, choice, subs, adapted = /* @__PURE__ */ new Set()) {
  if (choice === "rates") {
    const own = signalValues(layers, frozen, rates, signals, "rates");
    const L = normalizeLayers(layers);
    const r = arr(rates);
    return subs.map(({ path, owner }) => {
      if (own[owner] !== null) return own[owner];
      const v = Number(r[L.blocks[owner]]);
      return adapted.has(path) && Number.isFinite(v) ? v : null;
    });
  }
  const parts = signals && signals.parts || {};
  const index = new Map(arr(parts.paths).map((path, k) => [path, k]));
  return subs.map(({ path }) => index.has(path) ? figure(parts[choice], index.get(path)) : null);
}
function blockValues(layers, frozen, rates, signals, choice) {
  const L = normalizeLayers(layers);
  if (choice === "rates") {
    const own = signalValues(layers, frozen, rates, signals, "rates");
    return L.block_names.map((_, b) => {
      const i = L.blocks.findIndex((block, k) => block === b && own[k] !== null);
      return i < 0 ? null : own[i];
    });
  }
  const sent = signals && signals.blocks || {};
  return L.block_names.map((_, b) => figure(sent[choice], b));
}
function signalShades(values) {
  const positive = values.filter((v) => v !== null && v > 0);
  if (positive.length === 0) return values.map((v) => v === null ? null : 0);
  const lo = Math.log(Math.min(...positive));
  const hi = Math.log(Math.max(...positive));
  return values.map((v) => {
    if (v === null) return null;
    if (!(v > 0)) return 0;
    return hi > lo ? 0.15 + 0.85 * (Math.log(v) - lo) / (hi - lo) : 1;
  });
}
function signalText(choice, value, step, scope = "") {
  if (value === null) return "";
  const label = (SIGNALS.find(([key]) => key === choice) || ["", choice])[1];
  const shown = value === 0 ? "0" : formatRate(value);
  return `${label} ${shown}${choice === "update_ratio" && step ? ` (step ${step})` : ""}${scope ? `, ${scope}` : ""}`;
}
function paint(cell, shade, title, value) {
  cell.classList.toggle("tw-lm-signal-none", shade === null);
  cell.style.setProperty("--tw-lm-shade", shade === null ? "0" : shade.toFixed(3));
  cell.title = title;
  cell.dataset.value = value === null ? "" : String(value);
}
function signalChooser(doc) {
  const select = h(doc, "select", "tw-lm-signal-choice");
  select.setAttribute("aria-label", "colour the layers by");
  select.title = "Colour each layer by a training signal";
  for (const [key, label] of SIGNALS) {
    const option = h(doc, "option", "", label);
    option.value = key;
    select.appendChild(option);
  }
  return select;
}
function applySignals(view, frozen = currentFrozen(view)) {
  const choice = String(view.model.get("signal") || "none");
  if (view.signalChoice.value !== choice) view.signalChoice.value = choice;
  view.root.classList.toggle("tw-lm-has-signal", choice !== "none");
  const signals = view.model.get("signals") || {};
  const rates = view.model.get("rates");
  const none = (list) => list.map(() => null);
  const { layers, signalCells, subSignals, groups } = view;
  const adapted = new Set(normalizeLora(view.model.get("lora")).map((a) => a.path));
  const rows = choice === "none" ? none(layers.names) : signalValues(layers, frozen, rates, signals, choice);
  const parts = choice === "none" ? none(subSignals) : partValues(layers, frozen, rates, signals, choice, subSignals, adapted);
  const blocks = choice === "none" ? none(layers.block_names) : blockValues(layers, frozen, rates, signals, choice);
  const shades = signalShades([...rows, ...parts, ...groups.map((g) => blocks[g.block] ?? null)]);
  for (let i = 0; i < signalCells.length; i++) {
    paint(signalCells[i], shades[i], signalText(choice, rows[i], signals.step), rows[i]);
  }
  subSignals.forEach(({ cell }, k) => {
    paint(cell, shades[rows.length + k], signalText(choice, parts[k], signals.step), parts[k]);
  });
  groups.forEach((g, k) => {
    const value = blocks[g.block] ?? null;
    const scope = g.indices.length > 1 ? `its ${g.indices.length} layers taken together` : "";
    paint(g.signal, shades[rows.length + parts.length + k], signalText(choice, value, signals.step, scope), value);
  });
}
function applySuggestion(view) {
  const suggested = Array.isArray(view.model.get("suggested")) ? view.model.get("suggested") : [];
  let last = -1;
  for (let i = 0; i < view.rows.length; i++) {
    const on = suggested[i] === true;
    view.rows[i].classList.toggle("tw-lm-suggested", on);
    if (on) last = i;
  }
  view.suggestNote.hidden = last < 0;
  view.suggestNote.textContent = last < 0 ? "" : `suggested: freeze up to ${view.layers.names[last]}`;
}

// src/view.js
var LORA_TITLE = "LoRA: low-rank adapters that train while the weights they adapt stay frozen";
function h(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== void 0) node.textContent = text;
  return node;
}
function layersState(rawLayers) {
  const layers = normalizeLayers(rawLayers);
  const n = layers.names.length;
  return {
    layers,
    targets: normalizeTargets(rawLayers),
    rows: new Array(n),
    // row element per layer index
    markers: new Array(n),
    // marker element per layer index
    uptos: new Array(n),
    // "up to here" button per layer index
    rateCells: new Array(n),
    // learning-rate cell per layer index
    signalCells: new Array(n),
    // signal colour cell per layer index
    shown: new Array(n).fill(null),
    // last frozen state written to each row's DOM (diff cache)
    groups: [],
    // [{ block, name, indices, el, rowsEl, toggle, count, caret, signal }]
    chips: [],
    // LoRA toggle buttons, each with .paths (the targets it toggles)
    subs: [],
    // [{ name, button, list, paths, row }] per layer with sublayers to show
    subSignals: [],
    // [{ path, owner, cell }]: each sublayer's signal cell, owner = its layer's index
    anchor: null
    // last clicked row index, for shift-click ranges
  };
}
function createView(model, doc) {
  const root = h(doc, "div", "tw-lm");
  const header = h(doc, "div", "tw-lm-header");
  const summary = h(doc, "div", "tw-lm-summary");
  summary.setAttribute("aria-live", "polite");
  const busyNote = h(doc, "span", "tw-lm-busy", "training\u2026");
  busyNote.hidden = true;
  const suggestNote = h(doc, "span", "tw-lm-suggest-note");
  suggestNote.title = "The freeze suggestion: apply or dismiss it in the Tuning panel";
  suggestNote.hidden = true;
  const controls = h(doc, "div", "tw-lm-controls");
  const filter = h(doc, "input", "tw-lm-filter");
  filter.type = "search";
  filter.placeholder = "filter layers by name";
  filter.setAttribute("aria-label", "filter layers by name");
  filter.spellcheck = false;
  const collapseAll = h(doc, "button", "tw-lm-btn tw-lm-collapse-all", "Collapse all");
  collapseAll.type = "button";
  const expandAll = h(doc, "button", "tw-lm-btn tw-lm-expand-all", "Expand all");
  expandAll.type = "button";
  const signalChoice = signalChooser(doc);
  controls.append(signalChoice, filter, collapseAll, expandAll);
  const loraSettings = h(doc, "span", "tw-lm-lora-settings");
  loraSettings.title = LORA_TITLE;
  const rankInput = h(doc, "input", "tw-lm-lora-rank");
  rankInput.type = "number";
  rankInput.min = "1";
  rankInput.step = "1";
  rankInput.value = "8";
  rankInput.setAttribute("aria-label", "LoRA rank for new adapters");
  const alphaInput = h(doc, "input", "tw-lm-lora-alpha");
  alphaInput.type = "number";
  alphaInput.min = "0";
  alphaInput.placeholder = "= rank";
  alphaInput.setAttribute("aria-label", "LoRA alpha for new adapters (empty: alpha = rank)");
  loraSettings.append(h(doc, "span", "", "LoRA rank"), rankInput, h(doc, "span", "", "\u03B1"), alphaInput);
  header.append(summary, busyNote, suggestNote, loraSettings, controls);
  const errorBox = h(doc, "div", "tw-lm-error");
  errorBox.setAttribute("role", "alert");
  errorBox.hidden = true;
  const body = h(doc, "div", "tw-lm-body");
  body.title = "Click a layer to freeze / unfreeze it; shift-click to apply to a range";
  root.append(header, errorBox, body);
  return {
    model,
    doc,
    root,
    summary,
    busyNote,
    suggestNote,
    filter,
    signalChoice,
    loraSettings,
    rankInput,
    alphaInput,
    errorBox,
    body,
    collapsed: /* @__PURE__ */ new Set(),
    // collapsed block names, survives rebuilds
    expanded: /* @__PURE__ */ new Set(),
    // layer names whose sublayers are shown, survives rebuilds
    ...layersState(void 0)
  };
}
function currentFrozen(view) {
  return normalizeFrozen(view.model.get("frozen"), view.layers.names.length);
}
function applySummary(view, frozen = currentFrozen(view)) {
  view.summary.textContent = summaryText(view.layers, frozen, view.model.get("lora"));
}
function applyError(view) {
  const msg = view.model.get("error");
  const text = msg == null ? "" : String(msg);
  view.errorBox.textContent = text;
  view.errorBox.hidden = text.trim() === "";
}

// src/badges.js
function applyRates(view, frozen = currentFrozen(view)) {
  const texts = layerRates(view.layers, frozen, view.model.get("rates"));
  const { rateCells } = view;
  for (let i = 0; i < rateCells.length; i++) {
    const cell = rateCells[i];
    if (cell.textContent === texts[i]) continue;
    cell.textContent = texts[i];
    cell.title = texts[i] ? `learning rate ${texts[i]} (peak)` : "";
  }
}
function newRank(view) {
  const rank = Math.round(Number(view.rankInput.value));
  return Number.isFinite(rank) && rank >= 1 ? rank : 8;
}
function newAlpha(view) {
  const text = String(view.alphaInput.value).trim();
  return text === "" ? null : Number(text);
}
function loraChip(view, paths, label, title) {
  const chip = h(view.doc, "button", "tw-lm-lora", label);
  chip.type = "button";
  chip.title = title;
  chip.dataset.label = label;
  chip.paths = paths;
  view.chips.push(chip);
  return chip;
}
function loraCell(view, i, row, rowsEl) {
  const { doc, layers, targets } = view;
  const cell = h(doc, "span", "tw-lm-lora-cell");
  const mine = [];
  for (let j = 0; j < targets.owners.length; j++) if (targets.owners[j] === i) mine.push(j);
  if (mine.length === 0) return cell;
  const name = layers.names[i];
  if (mine.some((j) => targets.paths[j] === "")) {
    cell.append(loraChip(view, [name], "LoRA", `${LORA_TITLE}: adapt ${name}`));
    return cell;
  }
  const preferred = mine.filter((j) => targets.preferred[j]).map((j) => targetPath(layers, targets, j));
  if (preferred.length > 0) {
    const parts = preferred.map((p) => p.split("/").pop()).join(" + ");
    cell.append(loraChip(view, preferred, "LoRA", `${LORA_TITLE}: adapt ${parts} (KerasHub's choice)`));
  }
  const button = h(doc, "button", "tw-lm-subs");
  button.type = "button";
  button.dataset.name = name;
  cell.append(button);
  const list = h(doc, "div", "tw-lm-subrows");
  const paths = [];
  for (const j of mine) {
    const path = targetPath(layers, targets, j);
    paths.push(path);
    const sub = h(doc, "div", "tw-lm-subrow");
    sub.dataset.path = path;
    const signal = h(doc, "span", "tw-lm-signal tw-lm-sub-signal");
    view.subSignals.push({ path, owner: i, cell: signal });
    const subName = h(doc, "span", "tw-lm-sub-name", targets.paths[j]);
    subName.title = path;
    const params = h(doc, "span", "tw-lm-params", formatNumber(targets.params[j]));
    params.title = "weights LoRA would adapt (they stay frozen while adapted)";
    sub.append(
      signal,
      subName,
      h(doc, "span", "tw-lm-type", typeName(layers, targets.types[j])),
      params,
      loraChip(view, [path], "LoRA", `${LORA_TITLE}: adapt ${path}`)
    );
    list.appendChild(sub);
  }
  view.subs.push({ name, button, list, paths, row });
  rowsEl.appendChild(list);
  return cell;
}
function applyLora(view) {
  const adapters = new Map(normalizeLora(view.model.get("lora")).map((a) => [a.path, a]));
  for (const chip of view.chips) {
    const on = chip.paths.length > 0 && chip.paths.every((p) => adapters.has(p));
    const first = adapters.get(chip.paths[0]);
    chip.classList.toggle("tw-lm-lora-on", on);
    chip.setAttribute("aria-pressed", on ? "true" : "false");
    chip.textContent = on ? `${chip.dataset.label} r${first.rank}` : chip.dataset.label;
  }
  for (const s of view.subs) {
    const open = view.expanded.has(s.name);
    const k = s.paths.filter((p) => adapters.has(p)).length;
    const n = s.paths.length;
    s.button.textContent = `${open ? "\u25BE" : "\u25B8"} ${k ? `${k}/${n}` : n}`;
    s.button.title = `${open ? "Hide" : "Show"} the ${n} sublayers LoRA can adapt` + (k ? ` (${k} adapted)` : "");
    s.button.setAttribute("aria-expanded", open ? "true" : "false");
    s.list.hidden = !open || s.row.hidden;
  }
  applySummary(view);
}

// src/rows.js
var UPTO_TITLE = "Freeze every layer up to and including this one; unfreeze the rest";
var MARK_FROZEN = "\u2744";
var MARK_TRAINABLE = "\u25CF";
function buildRows(view) {
  const { doc, layers } = view;
  const hasLora = view.targets.owners.length > 0;
  const frag = doc.createDocumentFragment();
  if (layers.names.length === 0) {
    frag.appendChild(h(
      doc,
      "div",
      "tw-lm-empty",
      "No model loaded: load one in the Model panel, or with session.load_model(...) in a cell."
    ));
  }
  for (const g of groupByBlock(layers)) {
    const group = h(doc, "div", "tw-lm-group");
    group.dataset.block = String(g.block);
    const head = h(doc, "div", "tw-lm-block");
    head.dataset.block = String(g.block);
    const caret = h(doc, "button", "tw-lm-caret");
    caret.type = "button";
    caret.setAttribute("aria-label", `collapse or expand ${g.name}`);
    const signal = h(doc, "span", "tw-lm-signal tw-lm-block-signal");
    const name = h(doc, "span", "tw-lm-block-name", g.name);
    name.title = g.name;
    const count = h(doc, "span", "tw-lm-block-count");
    const toggle = h(doc, "input", "tw-lm-block-toggle");
    toggle.type = "checkbox";
    toggle.title = "Freeze / unfreeze every layer of this block";
    toggle.setAttribute("aria-label", `freeze block ${g.name}`);
    head.append(caret, signal, name, count, toggle);
    const rowsEl = h(doc, "div", "tw-lm-rows");
    for (const i of g.indices) {
      const row = h(doc, "div", "tw-lm-row");
      row.dataset.index = String(i);
      const marker = h(doc, "span", "tw-lm-marker");
      const lname = layers.names[i];
      const nameEl = h(doc, "span", "tw-lm-name", lname);
      nameEl.title = lname;
      const type = typeName(layers, layers.types[i]);
      const typeEl = h(doc, "span", "tw-lm-type", type);
      typeEl.title = type;
      const paramsEl = h(doc, "span", "tw-lm-params", formatNumber(layers.params[i]));
      const rateEl = h(doc, "span", "tw-lm-rate");
      const signalEl = h(doc, "span", "tw-lm-signal");
      const upto = h(doc, "button", "tw-lm-upto", "up to here");
      upto.type = "button";
      upto.title = UPTO_TITLE;
      row.append(marker, signalEl, nameEl, typeEl, paramsEl, rateEl);
      rowsEl.appendChild(row);
      if (hasLora) row.append(loraCell(view, i, row, rowsEl));
      row.append(upto);
      view.rows[i] = row;
      view.rateCells[i] = rateEl;
      view.signalCells[i] = signalEl;
      view.markers[i] = marker;
      view.uptos[i] = upto;
    }
    group.append(head, rowsEl);
    frag.appendChild(group);
    view.groups.push({ ...g, el: group, rowsEl, toggle, count, caret, signal });
  }
  return frag;
}
function applyFrozen(view) {
  const frozen = currentFrozen(view);
  const { rows, markers, shown } = view;
  for (let i = 0; i < rows.length; i++) {
    const f = frozen[i];
    if (shown[i] === f) continue;
    shown[i] = f;
    const row = rows[i];
    row.classList.toggle("tw-lm-frozen", f);
    row.classList.toggle("tw-lm-trainable", !f);
    markers[i].textContent = f ? MARK_FROZEN : MARK_TRAINABLE;
    markers[i].title = f ? "frozen" : "trainable";
  }
  for (const g of view.groups) {
    let k = 0;
    for (const i of g.indices) if (frozen[i]) k++;
    const n = g.indices.length;
    g.count.textContent = `${k}/${n} frozen`;
    g.toggle.checked = k === n;
    g.toggle.indeterminate = k > 0 && k < n;
  }
  applySummary(view, frozen);
  applyRates(view, frozen);
  applySignals(view, frozen);
}
function applyFilter(view) {
  const q = view.filter.value;
  const { layers, rows } = view;
  for (const g of view.groups) {
    let visible = 0;
    for (const i of g.indices) {
      const match = matchesFilter(layers.names[i], q);
      if (rows[i].hidden === match) rows[i].hidden = !match;
      if (match) visible++;
    }
    g.el.hidden = visible === 0;
  }
  for (const s of view.subs) s.list.hidden = !view.expanded.has(s.name) || s.row.hidden;
}
function applyCollapsed(view) {
  for (const g of view.groups) {
    const c = view.collapsed.has(g.name);
    g.el.classList.toggle("tw-lm-collapsed", c);
    g.rowsEl.hidden = c;
    g.caret.textContent = c ? "\u25B8" : "\u25BE";
    g.caret.setAttribute("aria-expanded", c ? "false" : "true");
  }
}

// src/interactions.js
function toggleRange(frozen, from, to, value, include) {
  const next = arr(frozen).map(Boolean);
  const lo = Math.max(0, Math.min(from, to));
  const hi = Math.min(next.length - 1, Math.max(from, to));
  for (let i = lo; i <= hi; i++) {
    if (!include || include(i)) next[i] = Boolean(value);
  }
  return next;
}
function freezeUpTo(frozen, i) {
  return arr(frozen).map((_, j) => j <= i);
}
function toggleBlock(frozen, blocks, blockIndex) {
  const next = arr(frozen).map(Boolean);
  const b = arr(blocks);
  let anyTrainable = false;
  for (let i = 0; i < next.length; i++) {
    if (b[i] === blockIndex && !next[i]) {
      anyTrainable = true;
      break;
    }
  }
  for (let i = 0; i < next.length; i++) {
    if (b[i] === blockIndex) next[i] = anyTrainable;
  }
  return next;
}
function toggleAdapters(lora, paths, rank, alpha) {
  const current = arr(lora).filter((entry) => Array.isArray(entry));
  const held = new Set(current.map((entry) => String(entry[0])));
  if (paths.length > 0 && paths.every((p) => held.has(p))) {
    const drop = new Set(paths);
    return current.filter((entry) => !drop.has(String(entry[0])));
  }
  return [...current, ...paths.filter((p) => !held.has(p)).map((p) => [p, rank, alpha])];
}
function isBusy(view) {
  return Boolean(view.model.get("busy"));
}
function commitFrozen(view, next) {
  view.model.set("frozen", next);
  view.model.save_changes();
  applyFrozen(view);
}
function commitLora(view, next) {
  view.model.set("lora", next);
  view.model.save_changes();
  applyLora(view);
}
function applyBusy(view) {
  const busy = isBusy(view);
  view.root.classList.toggle("tw-lm-is-busy", busy);
  view.busyNote.hidden = !busy;
  for (const g of view.groups) g.toggle.disabled = busy;
  for (const upto of view.uptos) {
    if (upto.disabled !== busy) upto.disabled = busy;
  }
  for (const chip of view.chips) chip.disabled = busy;
}
function onClick(view, event) {
  const target = event.target;
  if (!target || typeof target.closest !== "function") return;
  const { collapsed, expanded, groups, rows } = view;
  if (target.closest(".tw-lm-collapse-all")) {
    for (const g of groups) collapsed.add(g.name);
    applyCollapsed(view);
    return;
  }
  if (target.closest(".tw-lm-expand-all")) {
    collapsed.clear();
    applyCollapsed(view);
    return;
  }
  const chip = target.closest(".tw-lm-lora");
  if (chip) {
    if (!isBusy(view) && chip.paths) {
      commitLora(view, toggleAdapters(arr(view.model.get("lora")), chip.paths, newRank(view), newAlpha(view)));
    }
    return;
  }
  const more = target.closest(".tw-lm-subs");
  if (more) {
    const name = more.dataset.name;
    if (expanded.has(name)) expanded.delete(name);
    else expanded.add(name);
    applyLora(view);
    return;
  }
  if (target.closest(".tw-lm-subrow")) return;
  const toggle = target.closest(".tw-lm-block-toggle");
  if (toggle) {
    const block = Number(toggle.closest(".tw-lm-block").dataset.block);
    if (isBusy(view)) applyFrozen(view);
    else commitFrozen(view, toggleBlock(currentFrozen(view), view.layers.blocks, block));
    return;
  }
  const head = target.closest(".tw-lm-block");
  if (head) {
    const g = groups.find((x) => String(x.block) === head.dataset.block);
    if (g) {
      if (collapsed.has(g.name)) collapsed.delete(g.name);
      else collapsed.add(g.name);
      applyCollapsed(view);
    }
    return;
  }
  const row = target.closest(".tw-lm-row");
  if (!row || !view.body.contains(row)) return;
  const i = Number(row.dataset.index);
  if (!Number.isInteger(i) || i < 0 || i >= rows.length) return;
  if (isBusy(view)) return;
  if (target.closest(".tw-lm-upto")) {
    view.anchor = i;
    commitFrozen(view, freezeUpTo(currentFrozen(view), i));
    return;
  }
  const frozen = currentFrozen(view);
  const value = !frozen[i];
  const anchor = view.anchor;
  if (event.shiftKey && anchor !== null && anchor < rows.length) {
    const q = view.filter.value;
    const include = (j) => j === i || j === anchor || matchesFilter(view.layers.names[j], q);
    commitFrozen(view, toggleRange(frozen, anchor, i, value, include));
  } else {
    commitFrozen(view, toggleRange(frozen, i, i, value));
  }
  view.anchor = i;
}
function onMouseDown(event) {
  const t = event.target;
  if (event.shiftKey && t && typeof t.closest === "function" && t.closest(".tw-lm-row")) {
    event.preventDefault();
  }
}

// src/layer_map.js
function build(view) {
  Object.assign(view, layersState(view.model.get("layers")));
  const hasLora = view.targets.owners.length > 0;
  view.root.classList.toggle("tw-lm-has-lora", hasLora);
  view.loraSettings.hidden = !hasLora;
  view.body.replaceChildren(buildRows(view));
  applyCollapsed(view);
  applyFilter(view);
  applyFrozen(view);
  applyLora(view);
  applyBusy(view);
  applySuggestion(view);
}
function render({ model, el }) {
  const view = createView(model, el.ownerDocument || document);
  el.appendChild(view.root);
  const onRootClick = (event) => onClick(view, event);
  const onFilterInput = () => applyFilter(view);
  const modelListeners = [
    ["change:layers", () => build(view)],
    ["change:frozen", () => applyFrozen(view)],
    ["change:lora", () => {
      applyLora(view);
      applySignals(view);
    }],
    ["change:error", () => applyError(view)],
    ["change:busy", () => applyBusy(view)],
    ["change:rates", () => {
      applyRates(view);
      applySignals(view);
    }],
    ["change:signal", () => applySignals(view)],
    ["change:signals", () => applySignals(view)],
    ["change:suggested", () => applySuggestion(view)]
  ];
  const onSignalChoice = () => {
    model.set("signal", view.signalChoice.value);
    model.save_changes();
  };
  view.root.addEventListener("click", onRootClick);
  view.root.addEventListener("mousedown", onMouseDown);
  view.filter.addEventListener("input", onFilterInput);
  view.signalChoice.addEventListener("change", onSignalChoice);
  for (const [event, handler] of modelListeners) model.on(event, handler);
  build(view);
  applyError(view);
  return function cleanup() {
    for (const [event, handler] of modelListeners) model.off(event, handler);
    view.root.removeEventListener("click", onRootClick);
    view.root.removeEventListener("mousedown", onMouseDown);
    view.filter.removeEventListener("input", onFilterInput);
    view.signalChoice.removeEventListener("change", onSignalChoice);
    view.root.remove();
  };
}
var layer_map_default = { render };
export {
  blockValues,
  layer_map_default as default,
  formatNumber,
  formatRate,
  freezeUpTo,
  groupByBlock,
  layerRates,
  matchesFilter,
  normalizeFrozen,
  normalizeLayers,
  normalizeLora,
  normalizeTargets,
  partValues,
  signalShades,
  signalText,
  signalValues,
  summarize,
  summaryText,
  targetPath,
  toggleAdapters,
  toggleBlock,
  toggleRange
};
