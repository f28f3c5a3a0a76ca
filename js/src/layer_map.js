// Layer map: an anywidget front-end module (AFM) for freezing / unfreezing
// the layers of a Keras model.
//
// Synced state (see js/README.md for the full contract):
//   layers  (object, Python -> JS)  columnar description of the model, with the
//                                   layers LoRA can adapt (layers.lora_targets)
//   frozen  (bool[], both ways)     one flag per layer; Python is the source of truth
//   lora    (array, both ways)      [path, rank, alpha, weights] per LoRA adapter
//   error   (string, Python -> JS)  shown in an alert box when non-empty
//   busy    (bool, Python -> JS)    training in progress: state changes disabled
//   rates   (number[], Python -> JS) peak learning rate per block (index into
//                                    layers.block_names); shown on trainable rows
//   signal  (string, both ways)     the signal that colours the rows: "none",
//                                   "rates", "update_ratio" or "drift"
//   signals (object, Python -> JS)  {step, update_ratio, drift}: a value (or
//                                   null) per layer, from the latest run; with
//                                   parts (the blocks' sublayers, by path) and
//                                   blocks (one per block_names entry)
//   suggested (bool[], Python -> JS) the rows the freeze suggestion would
//                                   freeze ([] for none); marked, noted in the header
//
// The view never keeps its own copy of `frozen` or `lora`: every render/update
// reads model.get(...). User actions compute a complete new value and call
// model.set(name, next); model.save_changes().

//
// This entry wires the model to the view; the work is in the modules it
// imports (layout, numbers, view, rows, badges, interactions). It re-exports
// the pure helpers for the tests and the bundle.

import { applyLora, applyRates } from "./badges.js";
import { applyBusy, onClick, onMouseDown } from "./interactions.js";
import { applyCollapsed, applyFilter, applyFrozen, buildRows } from "./rows.js";
import { applySignals, applySuggestion } from "./signals.js";
import { applyError, createView, layersState } from "./view.js";

export {
  groupByBlock,
  matchesFilter,
  normalizeFrozen,
  normalizeLayers,
  normalizeLora,
  normalizeTargets,
  targetPath,
} from "./layout.js";
export { formatNumber, formatRate, layerRates, summarize, summaryText } from "./numbers.js";
export { freezeUpTo, toggleAdapters, toggleBlock, toggleRange } from "./interactions.js";
export { blockValues, partValues, signalShades, signalText, signalValues } from "./signals.js";

/** A `layers` change: start the per-layers state over and rebuild the list. */
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

  // Python -> view: each synced trait and what follows its change.
  const modelListeners = [
    ["change:layers", () => build(view)],
    ["change:frozen", () => applyFrozen(view)],
    ["change:lora", () => { applyLora(view); applySignals(view); }],
    ["change:error", () => applyError(view)],
    ["change:busy", () => applyBusy(view)],
    ["change:rates", () => { applyRates(view); applySignals(view); }],
    ["change:signal", () => applySignals(view)],
    ["change:signals", () => applySignals(view)],
    ["change:suggested", () => applySuggestion(view)],
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

export default { render };
