// The signal column: each row coloured by the chosen signal (the learning
// rates, the update ratio of the latest sampled step, or the drift from the
// loaded weights), with the figure on hover. Values come from Python in the
// `signals` trait; the choice is the `signal` trait (both ways).

import { arr, normalizeLayers } from "./layout.js";
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
  const n = L.names.length;
  if (choice === "rates") {
    const f = arr(frozen);
    const r = arr(rates);
    return L.names.map((_, i) => {
      if (f[i] || !(Number(L.params[i]) > 0)) return null;
      const v = Number(r[L.blocks[i]]);
      return Number.isFinite(v) ? v : null;
    });
  }
  const sent = signals && Array.isArray(signals[choice]) ? signals[choice] : [];
  return Array.from({ length: n }, (_, i) => {
    const v = sent[i];
    return v === null || v === undefined || !Number.isFinite(Number(v)) ? null : Number(v);
  });
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

/** A value as hover text: "update ratio 3.2e-4 (step 40)". */
export function signalText(choice, value, step) {
  if (value === null) return "";
  const label = (SIGNALS.find(([key]) => key === choice) || ["", choice])[1];
  const figure = value === 0 ? "0" : formatRate(value);
  return `${label} ${figure}${choice === "update_ratio" && step ? ` (step ${step})` : ""}`;
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

/** Every row's signal cell from the model's `signal`, `signals`, `rates` and `frozen`. */
export function applySignals(view, frozen = currentFrozen(view)) {
  const choice = String(view.model.get("signal") || "none");
  if (view.signalChoice.value !== choice) view.signalChoice.value = choice;
  view.root.classList.toggle("tw-lm-has-signal", choice !== "none");
  const signals = view.model.get("signals") || {};
  const values = choice === "none" ? view.layers.names.map(() => null)
    : signalValues(view.layers, frozen, view.model.get("rates"), signals, choice);
  const shades = signalShades(values);
  const { signalCells } = view;
  for (let i = 0; i < signalCells.length; i++) {
    const cell = signalCells[i];
    const shade = shades[i];
    cell.classList.toggle("tw-lm-signal-none", shade === null);
    cell.style.setProperty("--tw-lm-shade", shade === null ? "0" : shade.toFixed(3));
    cell.title = signalText(choice, values[i], signals.step);
    cell.dataset.value = values[i] === null ? "" : String(values[i]);
  }
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
