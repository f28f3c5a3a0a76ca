// The widget's skeleton (header, error box, body) and the one object per
// rendered view that the other modules read and write: its model, its elements
// and its per-`layers` state. The frozen flags and adapters are never kept
// here; they are always read from the model.

import { normalizeFrozen, normalizeLayers, normalizeTargets } from "./layout.js";
import { summaryText } from "./numbers.js";
import { signalChooser } from "./signals.js";

export const LORA_TITLE =
  "LoRA: low-rank adapters that train while the weights they adapt stay frozen";

export function h(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The per-`layers` state (DOM only, never the frozen flags): a rebuild starts it over. */
export function layersState(rawLayers) {
  const layers = normalizeLayers(rawLayers);
  const n = layers.names.length;
  return {
    layers,
    targets: normalizeTargets(rawLayers),
    rows: new Array(n), // row element per layer index
    markers: new Array(n), // marker element per layer index
    uptos: new Array(n), // "up to here" button per layer index
    rateCells: new Array(n), // learning-rate cell per layer index
    signalCells: new Array(n), // signal colour cell per layer index
    shown: new Array(n).fill(null), // last frozen state written to each row's DOM (diff cache)
    groups: [], // [{ block, name, indices, el, rowsEl, toggle, count, caret, signal }]
    chips: [], // LoRA toggle buttons, each with .paths (the targets it toggles)
    subs: [], // [{ name, button, list, paths, row }] per layer with sublayers to show
    subSignals: [], // [{ path, owner, cell }]: each sublayer's signal cell, owner = its layer's index
    anchor: null, // last clicked row index, for shift-click ranges
  };
}

/** The static skeleton, and the view state with no layers yet. */
export function createView(model, doc) {
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
  // Rank and alpha for adapters added from this view (shown when the model has targets).
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
    collapsed: new Set(), // collapsed block names, survives rebuilds
    expanded: new Set(), // layer names whose sublayers are shown, survives rebuilds
    ...layersState(undefined),
  };
}

export function currentFrozen(view) {
  return normalizeFrozen(view.model.get("frozen"), view.layers.names.length);
}

export function applySummary(view, frozen = currentFrozen(view)) {
  view.summary.textContent = summaryText(view.layers, frozen, view.model.get("lora"));
}

export function applyError(view) {
  const msg = view.model.get("error");
  const text = msg == null ? "" : String(msg);
  view.errorBox.textContent = text;
  view.errorBox.hidden = text.trim() === "";
}
