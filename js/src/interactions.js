// What each user action does. The pure functions compute the complete next
// `frozen` or `lora`; the delegated click handler picks the action, sends the
// value to the model, and refreshes the view. `busy` disables them all.

import { arr, matchesFilter } from "./layout.js";
import { applyLora, newAlpha, newRank } from "./badges.js";
import { applyCollapsed, applyFrozen } from "./rows.js";
import { currentFrozen } from "./view.js";

/**
 * Copy of `frozen` with every index between `from` and `to` (inclusive, either
 * order) set to `value`. If `include(i)` is given, only indices for which it
 * returns true are changed (the view uses this to skip filtered-out rows).
 */
export function toggleRange(frozen, from, to, value, include) {
  const next = arr(frozen).map(Boolean);
  const lo = Math.max(0, Math.min(from, to));
  const hi = Math.min(next.length - 1, Math.max(from, to));
  for (let i = lo; i <= hi; i++) {
    if (!include || include(i)) next[i] = Boolean(value);
  }
  return next;
}

/** Copy of `frozen` with rows 0..i frozen and every row after i trainable. */
export function freezeUpTo(frozen, i) {
  return arr(frozen).map((_, j) => j <= i);
}

/**
 * Copy of `frozen` with block `blockIndex` toggled as a whole: if any layer of
 * the block is trainable, freeze all of them; otherwise unfreeze all of them.
 */
export function toggleBlock(frozen, blocks, blockIndex) {
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

/**
 * The next `lora` value after a toggle of `paths`: if every one has an adapter,
 * drop them all; otherwise add the missing ones with `rank` and `alpha` (null:
 * alpha = rank). Other adapters are kept as they are.
 */
export function toggleAdapters(lora, paths, rank, alpha) {
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
  // Backbone fires change:frozen on set; refreshing here too keeps the view
  // right for models that do not, and is a cheap no-op otherwise.
  applyFrozen(view);
}

function commitLora(view, next) {
  view.model.set("lora", next);
  view.model.save_changes();
  applyLora(view);
}

/** Training: the block checkboxes, "up to here" buttons and LoRA toggles are disabled. */
export function applyBusy(view) {
  const busy = isBusy(view);
  view.root.classList.toggle("tw-lm-is-busy", busy);
  view.busyNote.hidden = !busy;
  for (const g of view.groups) g.toggle.disabled = busy;
  for (const upto of view.uptos) {
    if (upto.disabled !== busy) upto.disabled = busy;
  }
  for (const chip of view.chips) chip.disabled = busy;
}

/** The one click listener of the widget root (delegated: none per row). */
export function onClick(view, event) {
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
  if (target.closest(".tw-lm-subrow")) return; // sublayers are not frozen one by one

  const toggle = target.closest(".tw-lm-block-toggle");
  if (toggle) {
    // No preventDefault: cancelling a checkbox click makes the browser put
    // the old `checked` back after dispatch. Instead we let the native
    // toggle happen and immediately overwrite it with the model's state.
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
    // Range in model order; rows hidden by the name filter are left alone
    // (rows inside collapsed blocks are included).
    const q = view.filter.value;
    const include = (j) => j === i || j === anchor || matchesFilter(view.layers.names[j], q);
    commitFrozen(view, toggleRange(frozen, anchor, i, value, include));
  } else {
    commitFrozen(view, toggleRange(frozen, i, i, value));
  }
  view.anchor = i;
}

export function onMouseDown(event) {
  // Keep shift-click from selecting text across rows.
  const t = event.target;
  if (event.shiftKey && t && typeof t.closest === "function" && t.closest(".tw-lm-row")) {
    event.preventDefault();
  }
}
