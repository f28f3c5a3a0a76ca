// The cells a row shows beside its freeze state: its block's learning rate, and
// the LoRA column (a toggle per adaptable layer or block, and the list of a
// block's adaptable sublayers), with their in-place updates.

import { normalizeLora, targetPath, typeName } from "./layout.js";
import { formatNumber, layerRates } from "./numbers.js";
import { LORA_TITLE, applySummary, currentFrozen, h } from "./view.js";

export function applyRates(view, frozen = currentFrozen(view)) {
  const texts = layerRates(view.layers, frozen, view.model.get("rates"));
  const { rateCells } = view;
  for (let i = 0; i < rateCells.length; i++) {
    const cell = rateCells[i];
    if (cell.textContent === texts[i]) continue;
    cell.textContent = texts[i];
    cell.title = texts[i] ? `learning rate ${texts[i]} (peak)` : "";
  }
}

/** The rank typed for new adapters (8 unless a whole number >= 1 is typed). */
export function newRank(view) {
  const rank = Math.round(Number(view.rankInput.value));
  return Number.isFinite(rank) && rank >= 1 ? rank : 8;
}

/** The alpha typed for new adapters; null (empty box) means alpha = rank. */
export function newAlpha(view) {
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

/** LoRA controls of row i: a toggle for the layer itself or for its block's
 * preferred sublayers, and a button that shows every sublayer LoRA can adapt
 * (its list goes into `rowsEl`, right after the row). */
export function loraCell(view, i, row, rowsEl) {
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
      loraChip(view, [path], "LoRA", `${LORA_TITLE}: adapt ${path}`),
    );
    list.appendChild(sub);
  }
  view.subs.push({ name, button, list, paths, row });
  rowsEl.appendChild(list);
  return cell;
}

export function applyLora(view) {
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
