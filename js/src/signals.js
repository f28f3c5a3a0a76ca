// The signal column: each row coloured by the chosen signal (the learning
// rates, the update ratio of the latest sampled step, or the drift from the
// loaded weights), with the figure on hover; an opened block's sublayers and
// each block's header (its layers taken together) get theirs too, on the same
// scale. Values come from Python in the `signals` trait; the choice is the
// `signal` trait (both ways).

import { arr, normalizeLayers, normalizeLora } from "./layout.js";
import { formatRate } from "./numbers.js";
import { currentFrozen, h } from "./view.js";

export const SIGNALS = [
  ["none", "no signal"],
  ["rates", "learning rate"],
  ["update_ratio", "update ratio \u2016\u0394w\u2016/\u2016w\u2016"],
  ["drift", "drift from the loaded weights"],
];

/**
 * One value per layer for `choice`, or null where there is none to show:
 * rates for trainable rows with parameters; update ratios and drift as sent
 * (null for rows the run did not measure).
 */
export function signalValues(layers, frozen, rates, signals, choice) {
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
  const sent = signals ? signals[choice] : undefined;
  return L.names.map((_, i) => figure(sent, i));
}

/** One sent figure, or null where there is none. */
function figure(values, i) {
  const v = Array.isArray(values) ? values[i] : undefined;
  return v === null || v === undefined || !Number.isFinite(Number(v)) ? null : Number(v);
}

/**
 * One value per sublayer `{ path, owner }` for `choice`: its layer's rate
 * while that layer trains or the sublayer is adapted (`adapted`, a Set of
 * paths); else its figure in `signals.parts` by path (null when not sent).
 */
export function partValues(layers, frozen, rates, signals, choice, subs, adapted = new Set()) {
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
  const parts = (signals && signals.parts) || {};
  const index = new Map(arr(parts.paths).map((path, k) => [path, k]));
  return subs.map(({ path }) => (index.has(path) ? figure(parts[choice], index.get(path)) : null));
}

/**
 * One value per block (in `block_names` order) for `choice`: the block's rate
 * while any of its layers with weights trains; else the block's figure as
 * sent in `signals.blocks` (its layers taken together).
 */
export function blockValues(layers, frozen, rates, signals, choice) {
  const L = normalizeLayers(layers);
  if (choice === "rates") {
    const own = signalValues(layers, frozen, rates, signals, "rates");
    return L.block_names.map((_, b) => {
      const i = L.blocks.findIndex((block, k) => block === b && own[k] !== null);
      return i < 0 ? null : own[i];
    });
  }
  const sent = (signals && signals.blocks) || {};
  return L.block_names.map((_, b) => figure(sent[choice], b));
}

/**
 * Each value's shade in [0, 1] on a log scale from the smallest positive value
 * to the largest (0 for zero, as a frozen layer's exact zero; null stays null).
 */
export function signalShades(values) {
  const positive = values.filter((v) => v !== null && v > 0);
  if (positive.length === 0) return values.map((v) => (v === null ? null : 0));
  const lo = Math.log(Math.min(...positive));
  const hi = Math.log(Math.max(...positive));
  return values.map((v) => {
    if (v === null) return null;
    if (!(v > 0)) return 0;
    return hi > lo ? 0.15 + (0.85 * (Math.log(v) - lo)) / (hi - lo) : 1;
  });
}

/** A value as hover text: "update ratio 3.2e-4 (step 40)", and what it covers when `scope` is given. */
export function signalText(choice, value, step, scope = "") {
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

/** The header's choice of signal. */
export function signalChooser(doc) {
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

/** Every row's, sublayer's and block header's signal cell from the model's
 * `signal`, `signals`, `rates`, `lora` and `frozen`, on one scale. */
export function applySignals(view, frozen = currentFrozen(view)) {
  const choice = String(view.model.get("signal") || "none");
  if (view.signalChoice.value !== choice) view.signalChoice.value = choice;
  view.root.classList.toggle("tw-lm-has-signal", choice !== "none");
  const signals = view.model.get("signals") || {};
  const rates = view.model.get("rates");
  const none = (list) => list.map(() => null);
  const { layers, signalCells, subSignals, groups } = view;
  const adapted = new Set(normalizeLora(view.model.get("lora")).map((a) => a.path));
  const rows = choice === "none" ? none(layers.names) : signalValues(layers, frozen, rates, signals, choice);
  const parts = choice === "none" ? none(subSignals)
    : partValues(layers, frozen, rates, signals, choice, subSignals, adapted);
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

/** The rows the freeze suggestion would freeze (`suggested`), marked, and the header's note. */
export function applySuggestion(view) {
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
