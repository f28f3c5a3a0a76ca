// DOM for the block groups and their layer rows, and the in-place updates that
// a `frozen` change, the name filter and collapsing make to them.

import { applyRates, loraCell } from "./badges.js";
import { applySignals } from "./signals.js";
import { groupByBlock, matchesFilter, typeName } from "./layout.js";
import { formatNumber } from "./numbers.js";
import { applySummary, currentFrozen, h } from "./view.js";

const UPTO_TITLE =
  "Freeze every layer up to and including this one; unfreeze the rest";
const MARK_FROZEN = "\u2744"; // snowflake
const MARK_TRAINABLE = "\u25CF"; // filled circle

/**
 * The groups and rows of view.layers as a fragment for the body. Fills the
 * view's per-layer element lists, which must be fresh (see layersState).
 */
export function buildRows(view) {
  const { doc, layers } = view;
  const hasLora = view.targets.owners.length > 0;
  const frag = doc.createDocumentFragment();
  if (layers.names.length === 0) {
    frag.appendChild(h(doc, "div", "tw-lm-empty",
      "No model loaded: load one in the Model panel, or with session.load_model(...) in a cell."));
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

/** Rows, block counts and checkboxes, header and rates from the model's `frozen`. */
export function applyFrozen(view) {
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

export function applyFilter(view) {
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

export function applyCollapsed(view) {
  for (const g of view.groups) {
    const c = view.collapsed.has(g.name);
    g.el.classList.toggle("tw-lm-collapsed", c);
    g.rowsEl.hidden = c;
    g.caret.textContent = c ? "\u25B8" : "\u25BE"; // ▸ / ▾
    g.caret.setAttribute("aria-expanded", c ? "false" : "true");
  }
}
