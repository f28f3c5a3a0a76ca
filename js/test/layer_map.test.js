// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget, {
  formatNumber,
  formatRate,
  freezeUpTo,
  groupByBlock,
  layerRates,
  matchesFilter,
  normalizeFrozen,
  normalizeTargets,
  blockValues,
  partValues,
  signalShades,
  signalText,
  signalValues,
  summarize,
  summaryText,
  toggleAdapters,
  toggleBlock,
  toggleRange,
} from "../src/layer_map.js";

// ---------------------------------------------------------------------------
// A fake anywidget model. Like the real (Backbone) one, `set` fires
// `change:NAME` synchronously when the value actually changes.
// ---------------------------------------------------------------------------

class FakeModel {
  constructor(state) {
    this.state = { layers: emptyLayers(), frozen: [], lora: [], error: "", busy: false, ...state };
    this.listeners = new Map();
    this.saves = []; // snapshot of `frozen` at every save_changes()
    this.sets = [];
  }
  get(name) {
    return this.state[name];
  }
  set(name, value) {
    this.sets.push([name, value]);
    this._assign(name, value);
  }
  /** Python pushing a new value (not a JS-side set). */
  fromPython(name, value) {
    this._assign(name, value);
  }
  _assign(name, value) {
    const changed = JSON.stringify(this.state[name]) !== JSON.stringify(value);
    this.state[name] = value;
    if (changed) {
      for (const cb of [...(this.listeners.get(`change:${name}`) || [])]) cb();
    }
  }
  on(event, cb) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(cb);
  }
  off(event, cb) {
    const list = this.listeners.get(event) || [];
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  }
  save_changes() {
    this.saves.push([...this.state.frozen]);
  }
  listenerCount() {
    let n = 0;
    for (const list of this.listeners.values()) n += list.length;
    return n;
  }
}

function emptyLayers() {
  return { names: [], types: [], type_names: [], params: [], blocks: [], block_names: [] };
}

// stem: 0 input_layer, 1 stem_conv, 2 stem_bn
// block1a: 3 block1a_dwconv, 4 block1a_se, 5 block1a_project_conv
// head: 6 avg_pool, 7 predictions
function sampleLayers() {
  return {
    names: [
      "input_layer",
      "stem_conv",
      "stem_bn",
      "block1a_dwconv",
      "block1a_se",
      "block1a_project_conv",
      "avg_pool",
      "predictions",
    ],
    types: [0, 1, 2, 3, 4, 1, 5, 6],
    type_names: [
      "InputLayer",
      "Conv2D",
      "BatchNormalization",
      "DepthwiseConv2D",
      "SqueezeExcite",
      "GlobalAveragePooling2D",
      "Dense",
    ],
    params: [0, 864, 128, 288, 1000, 512, 0, 1281000],
    blocks: [0, 0, 0, 1, 1, 1, 2, 2],
    block_names: ["stem", "block1a", "head"],
  };
}

function bigLayers(n) {
  const L = { names: [], types: [], type_names: ["Conv2D", "BatchNormalization", "Activation"], params: [], blocks: [], block_names: [] };
  const perBlock = 12;
  for (let i = 0; i < n; i++) {
    L.names.push(`layer_${i}`);
    L.types.push(i % 3);
    L.params.push(i % 3 === 0 ? 1000 + i : i % 3 === 1 ? 64 : 0);
    const b = Math.floor(i / perBlock);
    if (b === L.block_names.length) L.block_names.push(`block${b}`);
    L.blocks.push(b);
  }
  return L;
}

let el;
let cleanups = [];

function mount(state) {
  const model = new FakeModel(state);
  const cleanup = widget.render({ model, el });
  cleanups.push(cleanup);
  return { model, cleanup };
}

const $ = (sel) => el.querySelector(sel);
const $$ = (sel) => [...el.querySelectorAll(sel)];
const row = (i) => el.querySelector(`.tw-lm-row[data-index="${i}"]`);
const rowIsFrozen = (i) => row(i).classList.contains("tw-lm-frozen");
const domFrozen = () =>
  $$(".tw-lm-row")
    .sort((a, b) => a.dataset.index - b.dataset.index)
    .map((r) => r.classList.contains("tw-lm-frozen"));
const blockHeader = (name) =>
  $$(".tw-lm-block").find((b) => b.querySelector(".tw-lm-block-name").textContent === name);
const blockToggle = (name) => blockHeader(name).querySelector(".tw-lm-block-toggle");
const blockCount = (name) => blockHeader(name).querySelector(".tw-lm-block-count").textContent;
const groupOf = (name) => blockHeader(name).closest(".tw-lm-group");

function click(target, opts = {}) {
  target.dispatchEvent(
    new MouseEvent("click", { bubbles: true, cancelable: true, shiftKey: false, ...opts }),
  );
}

function typeFilter(text) {
  const input = $(".tw-lm-filter");
  input.value = text;
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

beforeEach(() => {
  el = document.createElement("div");
  document.body.appendChild(el);
});

afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
  el.remove();
});

const F = true;
const T = false;
const allTrainable = () => new Array(8).fill(false);

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

describe("pure helpers", () => {
  it("formatNumber uses thousands separators", () => {
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(999)).toBe("999");
    expect(formatNumber(1000)).toBe("1,000");
    expect(formatNumber(1234567)).toBe("1,234,567");
    expect(formatNumber(66658687)).toBe("66,658,687");
    expect(formatNumber(-1234)).toBe("-1,234");
  });

  it("toggleRange sets an inclusive range in either direction without mutating", () => {
    const f = [T, F, T, F, T];
    expect(toggleRange(f, 1, 3, true)).toEqual([T, F, F, F, T]);
    expect(toggleRange(f, 3, 1, false)).toEqual([T, T, T, T, T]);
    expect(toggleRange(f, 2, 2, true)).toEqual([T, F, F, F, T]);
    expect(toggleRange(f, 0, 99, true)).toEqual([F, F, F, F, F]);
    expect(f).toEqual([T, F, T, F, T]);
  });

  it("freezeUpTo freezes 0..i and unfreezes the rest", () => {
    expect(freezeUpTo([T, F, T, F, T], 2)).toEqual([F, F, F, T, T]);
    expect(freezeUpTo([F, F, F], 0)).toEqual([F, T, T]);
    expect(freezeUpTo([T, T, T], 2)).toEqual([F, F, F]);
  });

  it("toggleBlock freezes a block with any trainable layer, else unfreezes it", () => {
    const blocks = [0, 0, 1, 1, 1, 2];
    expect(toggleBlock([T, T, F, T, F, T], blocks, 1)).toEqual([T, T, F, F, F, T]);
    expect(toggleBlock([T, T, F, F, F, T], blocks, 1)).toEqual([T, T, T, T, T, T]);
    expect(toggleBlock([F, T, F, F, F, F], blocks, 0)).toEqual([F, F, F, F, F, F]);
    const input = [T, T, T, T, T, T];
    toggleBlock(input, blocks, 2);
    expect(input).toEqual([T, T, T, T, T, T]);
  });

  it("summarize counts trainable and total params", () => {
    const L = sampleLayers();
    const s = summarize(L, [F, F, F, T, T, T, T, T]);
    expect(s).toEqual({ layers: 8, frozen: 3, trainable: 288 + 1000 + 512 + 1281000, total: 1283792, adapters: 0 });
    expect(summaryText(L, allTrainable())).toBe("8 layers · 1,283,792 trainable / 1,283,792 total params");
    expect(summaryText(emptyLayers(), [])).toBe("0 layers · 0 trainable / 0 total params");
  });

  it("groupByBlock keeps order of first appearance", () => {
    const g = groupByBlock({ names: ["a", "b", "c", "d"], blocks: [1, 0, 1, 0], block_names: ["x", "y"] });
    expect(g.map((x) => [x.name, x.indices])).toEqual([
      ["y", [0, 2]],
      ["x", [1, 3]],
    ]);
  });

  it("matchesFilter is a case-insensitive substring test", () => {
    expect(matchesFilter("block1a_DWConv", "dwconv")).toBe(true);
    expect(matchesFilter("stem_conv", "CONV")).toBe(true);
    expect(matchesFilter("stem_bn", "conv")).toBe(false);
    expect(matchesFilter("anything", "")).toBe(true);
  });

  it("normalizeFrozen pads/truncates to the layer count", () => {
    expect(normalizeFrozen([true], 3)).toEqual([F, T, T]);
    expect(normalizeFrozen(null, 2)).toEqual([T, T]);
    expect(normalizeFrozen([1, 0, 1, 1], 2)).toEqual([F, T]);
  });
});

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

describe("render", () => {
  it("shows every layer with name, type and params", () => {
    const L = sampleLayers();
    mount({ layers: L, frozen: allTrainable() });
    const rows = $$(".tw-lm-row");
    expect(rows).toHaveLength(8);
    L.names.forEach((name, i) => {
      const r = row(i);
      expect(r.querySelector(".tw-lm-name").textContent).toBe(name);
      expect(r.querySelector(".tw-lm-type").textContent).toBe(L.type_names[L.types[i]]);
      expect(r.querySelector(".tw-lm-params").textContent).toBe(formatNumber(L.params[i]));
      expect(r.querySelector(".tw-lm-upto").title).toBe(
        "Freeze every layer up to and including this one; unfreeze the rest",
      );
    });
    expect(row(7).querySelector(".tw-lm-params").textContent).toBe("1,281,000");
  });

  it("shows a header summary, filter and collapse/expand buttons", () => {
    mount({ layers: sampleLayers(), frozen: [F, F, F, T, T, T, T, T] });
    expect($(".tw-lm-summary").textContent).toBe("8 layers · 1,282,800 trainable / 1,283,792 total params");
    expect($(".tw-lm-filter").placeholder).toBe("filter layers by name");
    const buttons = $$("button").map((b) => b.textContent);
    expect(buttons).toContain("Collapse all");
    expect(buttons).toContain("Expand all");
  });

  it("groups rows by block with name, k/n frozen and a tri-state checkbox", () => {
    mount({ layers: sampleLayers(), frozen: [F, F, F, F, T, T, T, T] });
    expect($$(".tw-lm-block .tw-lm-block-name").map((b) => b.textContent)).toEqual([
      "stem",
      "block1a",
      "head",
    ]);
    expect(blockCount("stem")).toBe("3/3 frozen");
    expect(blockCount("block1a")).toBe("1/3 frozen");
    expect(blockCount("head")).toBe("0/2 frozen");
    expect(blockToggle("stem").checked).toBe(true);
    expect(blockToggle("stem").indeterminate).toBe(false);
    expect(blockToggle("block1a").checked).toBe(false);
    expect(blockToggle("block1a").indeterminate).toBe(true);
    expect(blockToggle("head").checked).toBe(false);
    expect(blockToggle("head").indeterminate).toBe(false);
    // rows live inside their group
    expect(groupOf("block1a").querySelectorAll(".tw-lm-row")).toHaveLength(3);
  });

  it("marks frozen and trainable rows with distinct classes", () => {
    mount({ layers: sampleLayers(), frozen: [F, T, F, T, T, T, T, F] });
    expect(domFrozen()).toEqual([F, T, F, T, T, T, T, F]);
    for (const r of $$(".tw-lm-row")) {
      expect(r.classList.contains("tw-lm-frozen")).not.toBe(r.classList.contains("tw-lm-trainable"));
    }
    expect(row(0).querySelector(".tw-lm-marker").textContent).not.toBe(
      row(1).querySelector(".tw-lm-marker").textContent,
    );
  });

  it("shows 'No model loaded' for an empty model", () => {
    mount({ layers: emptyLayers(), frozen: [] });
    expect($$(".tw-lm-row")).toHaveLength(0);
    expect(el.textContent).toContain("No model loaded");
  });

  it("treats a missing/short frozen array as trainable", () => {
    mount({ layers: sampleLayers(), frozen: [true] });
    expect(domFrozen()).toEqual([F, T, T, T, T, T, T, T]);
  });

  it("uses event delegation (no listener per row)", () => {
    const spy = vi.spyOn(window.EventTarget.prototype, "addEventListener");
    mount({ layers: bigLayers(300), frozen: new Array(300).fill(false) });
    const calls = spy.mock.calls.length;
    spy.mockRestore();
    expect(calls).toBeLessThan(10);
  });
});

// ---------------------------------------------------------------------------
// User actions
// ---------------------------------------------------------------------------

describe("user actions", () => {
  it("click toggles one layer and saves the full new frozen array", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    click(row(2).querySelector(".tw-lm-name"));
    expect(model.saves).toEqual([[T, T, F, T, T, T, T, T]]);
    expect(model.get("frozen")).toEqual([T, T, F, T, T, T, T, T]);
    expect(rowIsFrozen(2)).toBe(true);
    click(row(2));
    expect(model.saves[1]).toEqual(allTrainable());
    expect(rowIsFrozen(2)).toBe(false);
  });

  it("sets a new array object (no in-place mutation of the model value)", () => {
    const initial = allTrainable();
    const { model } = mount({ layers: sampleLayers(), frozen: initial });
    click(row(0));
    expect(model.sets[0][0]).toBe("frozen");
    expect(model.sets[0][1]).not.toBe(initial);
    expect(initial).toEqual(allTrainable());
  });

  it("shift-click sets the range from the last clicked row to the new state of the shift-clicked row", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    click(row(1)); // freeze 1, anchor = 1
    click(row(5), { shiftKey: true }); // 5 was trainable -> freeze 1..5
    expect(model.saves.at(-1)).toEqual([T, F, F, F, F, F, T, T]);
    expect(domFrozen()).toEqual([T, F, F, F, F, F, T, T]);
    expect(model.saves).toHaveLength(2);
  });

  it("shift-click works upwards and can unfreeze a range", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: [F, F, F, F, F, F, F, F] });
    click(row(6)); // unfreeze 6, anchor = 6
    click(row(2), { shiftKey: true }); // 2 was frozen -> unfreeze 2..6
    expect(model.saves.at(-1)).toEqual([F, F, T, T, T, T, T, F]);
  });

  it("shift-click uses the shift-clicked row's new state even if the anchor differs", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: [T, T, T, F, T, T, T, T] });
    click(row(0)); // freeze 0, anchor 0
    click(row(3), { shiftKey: true }); // 3 frozen -> new state trainable -> 0..3 trainable
    expect(model.saves.at(-1)).toEqual([T, T, T, T, T, T, T, T]);
  });

  it("shift-click skips rows hidden by the filter but includes collapsed blocks", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    typeFilter("conv"); // visible: 1 stem_conv, 3 block1a_dwconv, 5 block1a_project_conv
    click(row(1));
    click(row(5), { shiftKey: true });
    expect(model.saves.at(-1)).toEqual([T, F, T, F, T, F, T, T]);

    typeFilter("");
    click(blockHeader("block1a").querySelector(".tw-lm-caret")); // collapse block1a
    click(row(2)); // freeze 2, anchor 2
    click(row(6), { shiftKey: true }); // 6 trainable -> freeze 2..6, incl. collapsed 3..5
    expect(model.saves.at(-1)).toEqual([T, F, F, F, F, F, F, T]);
  });

  it("toggleRange can restrict the range with a predicate", () => {
    expect(toggleRange([T, T, T, T, T], 0, 4, true, (i) => i % 2 === 0)).toEqual([F, T, F, T, F]);
  });

  it("shift-click without a previous click toggles just that row", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    click(row(4), { shiftKey: true });
    expect(model.saves).toEqual([[T, T, T, T, F, T, T, T]]);
  });

  it("block toggle freezes all layers of a block when any is trainable", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: [T, T, T, F, T, F, T, T] });
    click(blockToggle("block1a"));
    expect(model.saves).toEqual([[T, T, T, F, F, F, T, T]]);
    expect(blockToggle("block1a").checked).toBe(true);
    expect(blockToggle("block1a").indeterminate).toBe(false);
    expect(blockCount("block1a")).toBe("3/3 frozen");
  });

  it("block toggle unfreezes all layers of a fully frozen block", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: [F, F, F, F, F, F, T, T] });
    click(blockToggle("stem"));
    expect(model.saves).toEqual([[T, T, T, F, F, F, T, T]]);
    expect(blockToggle("stem").checked).toBe(false);
    expect(domFrozen()).toEqual([T, T, T, F, F, F, T, T]);
  });

  it("block checkbox only ever shows the model state (Python may refuse)", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    // Python rejects every change: answers by putting the old value back.
    model.on("change:frozen", () => {
      if (model.get("frozen").some(Boolean)) model.fromPython("frozen", allTrainable());
    });
    click(blockToggle("head"));
    expect(model.saves).toHaveLength(1);
    expect(blockToggle("head").checked).toBe(false);
    expect(domFrozen()).toEqual(allTrainable());
  });

  it("clicking a block header collapses it; the checkbox does not", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable() });
    click(blockToggle("stem"));
    expect(groupOf("stem").querySelector(".tw-lm-rows").hidden).toBe(false);
    click(blockHeader("stem").querySelector(".tw-lm-block-name"));
    expect(groupOf("stem").querySelector(".tw-lm-rows").hidden).toBe(true);
  });

  it("'up to here' freezes rows 0..i, unfreezes the rest, and does not also toggle the row", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: [T, F, T, T, T, T, F, F] });
    click(row(3).querySelector(".tw-lm-upto"));
    expect(model.saves).toEqual([[F, F, F, F, T, T, T, T]]);
    expect(domFrozen()).toEqual([F, F, F, F, T, T, T, T]);
    expect(rowIsFrozen(3)).toBe(true);
  });

  it("filter hides non-matching rows (case-insensitive) and empty blocks", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable() });
    typeFilter("CONV");
    const visible = $$(".tw-lm-row").filter((r) => !r.hidden).map((r) => Number(r.dataset.index));
    expect(visible).toEqual([1, 3, 5]);
    expect(groupOf("stem").hidden).toBe(false);
    expect(groupOf("block1a").hidden).toBe(false);
    expect(groupOf("head").hidden).toBe(true);

    typeFilter("predict");
    expect($$(".tw-lm-row").filter((r) => !r.hidden).map((r) => r.dataset.index)).toEqual(["7"]);
    expect(groupOf("stem").hidden).toBe(true);
    expect(groupOf("head").hidden).toBe(false);

    typeFilter("");
    expect($$(".tw-lm-row").filter((r) => r.hidden)).toHaveLength(0);
    expect($$(".tw-lm-group").filter((g) => g.hidden)).toHaveLength(0);
  });

  it("filter does not change the frozen state", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    typeFilter("bn");
    expect(model.saves).toHaveLength(0);
  });

  it("collapsing a group hides its rows; caret expands again", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable() });
    const caret = blockHeader("block1a").querySelector(".tw-lm-caret");
    click(caret);
    const rowsEl = groupOf("block1a").querySelector(".tw-lm-rows");
    expect(rowsEl.hidden).toBe(true);
    expect(groupOf("block1a").classList.contains("tw-lm-collapsed")).toBe(true);
    expect(caret.getAttribute("aria-expanded")).toBe("false");
    // other groups untouched
    expect(groupOf("stem").querySelector(".tw-lm-rows").hidden).toBe(false);
    click(caret);
    expect(rowsEl.hidden).toBe(false);
  });

  it("Collapse all / Expand all", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable() });
    click($(".tw-lm-collapse-all"));
    expect($$(".tw-lm-rows").every((r) => r.hidden)).toBe(true);
    click($(".tw-lm-expand-all"));
    expect($$(".tw-lm-rows").every((r) => !r.hidden)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// State coming from Python
// ---------------------------------------------------------------------------

describe("updates from Python", () => {
  it("change:frozen updates rows, counts and summary without rebuilding the DOM", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    const before = $$(".tw-lm-row");
    const headersBefore = $$(".tw-lm-block");
    model.fromPython("frozen", [F, F, F, F, F, F, T, T]);
    const after = $$(".tw-lm-row");
    expect(after).toHaveLength(before.length);
    after.forEach((r, k) => expect(r).toBe(before[k]));
    $$(".tw-lm-block").forEach((b, k) => expect(b).toBe(headersBefore[k]));
    expect(domFrozen()).toEqual([F, F, F, F, F, F, T, T]);
    expect($(".tw-lm-summary").textContent).toBe("8 layers · 1,281,000 trainable / 1,283,792 total params");
    expect(blockCount("block1a")).toBe("3/3 frozen");
    expect(blockToggle("head").checked).toBe(false);
    expect(model.saves).toHaveLength(0);
  });

  it("Python is the source of truth: the view follows its answer to a user action", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    click(row(0));
    expect(rowIsFrozen(0)).toBe(true);
    // Python refuses (e.g. while reconciling) and sends a different state back.
    model.fromPython("frozen", [T, T, T, T, T, T, T, F]);
    expect(domFrozen()).toEqual([T, T, T, T, T, T, T, F]);
    // The next action starts from Python's state, not a private copy.
    click(row(1));
    expect(model.saves.at(-1)).toEqual([T, F, T, T, T, T, T, F]);
  });

  it("change:layers rebuilds the DOM", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    const before = row(0);
    model.fromPython("layers", {
      names: ["a", "b", "c"],
      types: [0, 0, 1],
      type_names: ["Dense", "Dropout"],
      params: [10, 20, 0],
      blocks: [0, 0, 0],
      block_names: ["top"],
    });
    model.fromPython("frozen", [true, false, false]);
    expect($$(".tw-lm-row")).toHaveLength(3);
    expect(row(0)).not.toBe(before);
    expect(row(0).querySelector(".tw-lm-name").textContent).toBe("a");
    expect(row(2).querySelector(".tw-lm-type").textContent).toBe("Dropout");
    expect(domFrozen()).toEqual([F, T, T]);
    expect($(".tw-lm-summary").textContent).toBe("3 layers · 20 trainable / 30 total params");
    expect($$(".tw-lm-block-name").map((b) => b.textContent)).toEqual(["top"]);
  });

  it("change:layers to an empty model shows 'No model loaded'", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    model.fromPython("layers", emptyLayers());
    model.fromPython("frozen", []);
    expect($$(".tw-lm-row")).toHaveLength(0);
    expect(el.textContent).toContain("No model loaded");
  });

  it("a rebuild keeps the current filter applied", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    typeFilter("conv");
    model.fromPython("layers", { ...sampleLayers(), names: ["x_conv", "y", "z", "w", "v", "u", "t", "s"] });
    expect($$(".tw-lm-row").filter((r) => !r.hidden).map((r) => r.dataset.index)).toEqual(["0"]);
  });

  it("error text is shown in an alert box when non-empty and hidden when empty", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    const box = $(".tw-lm-error");
    expect(box.getAttribute("role")).toBe("alert");
    expect(box.hidden).toBe(true);
    model.fromPython("error", "Layer 'stem_bn' cannot be frozen");
    expect(box.hidden).toBe(false);
    expect(box.textContent).toBe("Layer 'stem_bn' cannot be frozen");
    model.fromPython("error", "");
    expect(box.hidden).toBe(true);
  });

  it("an error present at first render is shown", () => {
    mount({ layers: emptyLayers(), frozen: [], error: "boom" });
    expect($(".tw-lm-error").hidden).toBe(false);
    expect($(".tw-lm-error").textContent).toBe("boom");
  });

  it("busy disables interactions and shows a training note", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable() });
    const note = $(".tw-lm-busy");
    expect(note.hidden).toBe(true);
    model.fromPython("busy", true);
    expect(note.hidden).toBe(false);
    expect(note.textContent).toMatch(/training/);
    expect($$(".tw-lm-upto").every((b) => b.disabled)).toBe(true);
    expect($$(".tw-lm-block-toggle").every((b) => b.disabled)).toBe(true);

    click(row(0));
    click(row(3), { shiftKey: true });
    row(2).querySelector(".tw-lm-upto").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    blockToggle("stem").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.saves).toHaveLength(0);
    expect(model.sets).toHaveLength(0);
    expect(domFrozen()).toEqual(allTrainable());
    expect(blockToggle("stem").checked).toBe(false);

    model.fromPython("busy", false);
    expect(note.hidden).toBe(true);
    expect($$(".tw-lm-upto").some((b) => b.disabled)).toBe(false);
    click(row(0));
    expect(model.saves).toEqual([[F, T, T, T, T, T, T, T]]);
  });

  it("busy state survives a layers rebuild", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable(), busy: true });
    model.fromPython("layers", bigLayers(20));
    expect($$(".tw-lm-upto").every((b) => b.disabled)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Scale and lifecycle
// ---------------------------------------------------------------------------

describe("scale and lifecycle", () => {
  it("renders 1000 layers", () => {
    const n = 1000;
    const frozen = Array.from({ length: n }, (_, i) => i < 500);
    const t0 = performance.now();
    const { model } = mount({ layers: bigLayers(n), frozen });
    const t1 = performance.now();
    model.fromPython("frozen", Array.from({ length: n }, (_, i) => i % 2 === 0));
    const t2 = performance.now();
    console.log(
      `[layer_map] render of ${n} layers: ${(t1 - t0).toFixed(1)} ms; ` +
        `frozen update: ${(t2 - t1).toFixed(1)} ms`,
    );
    expect($$(".tw-lm-row")).toHaveLength(n);
    expect(rowIsFrozen(998)).toBe(true);
    expect(rowIsFrozen(999)).toBe(false);
    expect(t1 - t0).toBeLessThan(30000); // sanity only, not a perf bound
  });

  it("cleanup removes model and DOM listeners", () => {
    const model = new FakeModel({ layers: sampleLayers(), frozen: allTrainable() });
    const cleanup = widget.render({ model, el });
    expect(model.listenerCount()).toBeGreaterThan(0);
    const r0 = row(0);
    const root = el.firstElementChild;
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children).toHaveLength(0);
    // Nothing reacts any more, even if someone still holds the old nodes.
    click(r0);
    expect(model.saves).toHaveLength(0);
    model.fromPython("frozen", [F, F, F, F, F, F, F, F]);
    expect(r0.classList.contains("tw-lm-frozen")).toBe(false);
    expect(root.isConnected).toBe(false);
  });

  it("two views of the same model stay in sync", () => {
    const model = new FakeModel({ layers: sampleLayers(), frozen: allTrainable() });
    const el2 = document.createElement("div");
    document.body.appendChild(el2);
    const c1 = widget.render({ model, el });
    const c2 = widget.render({ model, el: el2 });
    cleanups.push(c1, c2);
    click(row(4));
    expect(el2.querySelector('.tw-lm-row[data-index="4"]').classList.contains("tw-lm-frozen")).toBe(true);
    c2();
    el2.remove();
  });
});

describe("learning rates per layer", () => {
  const rateText = (i) => row(i).querySelector(".tw-lm-rate").textContent;

  it("formatRate writes short exponents and nothing for non-rates", () => {
    expect(formatRate(0.001)).toBe("1e-3");
    expect(formatRate(0.00025)).toBe("2.5e-4");
    expect(formatRate(3)).toBe("3e0");
    expect(formatRate(0)).toBe("");
    expect(formatRate(undefined)).toBe("");
    expect(formatRate("x")).toBe("");
  });

  it("layerRates gives a trainable layer its block's rate, and frozen or weightless layers none", () => {
    const rates = [1e-5, 1e-4, 1e-3];
    expect(layerRates(sampleLayers(), [F, F, T, T, T, T, T, T], rates)).toEqual(
      ["", "", "1e-5", "1e-4", "1e-4", "1e-4", "", "1e-3"]);
    expect(layerRates(sampleLayers(), allTrainable(), [])).toEqual(new Array(8).fill(""));
  });

  it("each trainable row shows its block's rate, and follows rate and freeze changes in place", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable(), rates: [1e-5, 1e-4, 1e-3] });
    const before = $$(".tw-lm-row");
    expect(rateText(1)).toBe("1e-5");
    expect(rateText(3)).toBe("1e-4");
    expect(rateText(7)).toBe("1e-3");
    expect(rateText(0)).toBe(""); // no parameters
    expect(row(7).querySelector(".tw-lm-rate").title).toBe("learning rate 1e-3 (peak)");
    model.fromPython("rates", [2e-5, 2e-4, 2e-3]);
    expect(rateText(3)).toBe("2e-4");
    model.fromPython("frozen", [F, F, F, F, F, F, T, T]);
    expect(rateText(3)).toBe("");
    expect(rateText(7)).toBe("2e-3");
    $$(".tw-lm-row").forEach((r, k) => expect(r).toBe(before[k]));
    expect(model.saves).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------
// LoRA: targets, toggles, sublayers
// ---------------------------------------------------------------------------

// 0 token_ids, 1 token_embedding (itself a target), 2 transformer_layer_0 (a
// block: query and value preferred, plus a feedforward Dense), 3 head_dense
function textLayers() {
  return {
    names: ["token_ids", "token_embedding", "transformer_layer_0", "head_dense"],
    types: [0, 1, 2, 3],
    type_names: ["InputLayer", "ReversibleEmbedding", "TransformerEncoder", "Dense", "EinsumDense"],
    params: [0, 11720448, 1774464, 1155],
    blocks: [0, 1, 2, 3],
    block_names: ["inputs", "embeddings", "transformer_layer_0", "head"],
    lora_targets: {
      owners: [1, 2, 2, 2, 3],
      paths: ["", "self_attention_layer/query", "self_attention_layer/value", "feedforward_output_dense", ""],
      types: [1, 4, 4, 3, 3],
      params: [11720448, 147456, 147456, 589824, 1152],
      preferred: [0, 1, 1, 0, 0],
    },
  };
}

const QUERY = "transformer_layer_0/self_attention_layer/query";
const VALUE = "transformer_layer_0/self_attention_layer/value";
const FFN = "transformer_layer_0/feedforward_output_dense";
const loraSets = (model) => model.sets.filter(([name]) => name === "lora").map(([, value]) => value);
const chipOf = (i) => row(i).querySelector(".tw-lm-lora");
const subrow = (path) => el.querySelector(`.tw-lm-subrow[data-path="${path}"]`);

describe("LoRA", () => {
  it("toggleAdapters adds the missing paths, or drops them all when all are held", () => {
    const held = [[QUERY, 8, 16, 37120]];
    expect(toggleAdapters(held, [QUERY, VALUE], 4, null)).toEqual([[QUERY, 8, 16, 37120], [VALUE, 4, null]]);
    expect(toggleAdapters([...held, [VALUE, 8, 16, 37120]], [QUERY, VALUE], 4, null)).toEqual([]);
    expect(toggleAdapters(held, [FFN], 2, 4)).toEqual([[QUERY, 8, 16, 37120], [FFN, 2, 4]]);
    expect(held).toEqual([[QUERY, 8, 16, 37120]]);
  });

  it("summarize counts adapters as trainable and keeps the adapted weights in the total", () => {
    const L = textLayers();
    const before = summarize(L, [F, F, F, T]);
    // Python moves the adapted query kernel out of the block's params, and sends the adapter
    L.params[2] -= 147456;
    const after = summarize(L, [F, F, F, T], [[QUERY, 8, 8, 37120]]);
    expect(after.trainable).toBe(before.trainable + 37120);
    expect(after.total).toBe(before.total + 37120);
    expect(after.adapters).toBe(1);
    expect(summaryText(L, [F, F, F, T], [[QUERY, 8, 8, 37120]])).toMatch(/ · 1 LoRA adapter$/);
    expect(normalizeTargets(sampleLayers()).owners).toEqual([]);
  });

  it("shows a toggle on adaptable layers and a sublayer list on blocks", () => {
    const { model } = mount({ layers: textLayers(), frozen: [F, F, F, T] });
    expect(el.querySelector(".tw-lm").classList.contains("tw-lm-has-lora")).toBe(true);
    expect($(".tw-lm-lora-settings").hidden).toBe(false);
    expect(row(0).querySelector(".tw-lm-lora")).toBe(null);
    expect(chipOf(1).textContent).toBe("LoRA");
    expect(chipOf(2).title).toContain("query + value");
    const more = row(2).querySelector(".tw-lm-subs");
    expect(more.textContent).toBe("\u25B8 3");
    expect(more.title).toBe("Show the 3 sublayers LoRA can adapt");
    expect(subrow(QUERY).closest(".tw-lm-subrows").hidden).toBe(true);
    click(more);
    expect(subrow(QUERY).closest(".tw-lm-subrows").hidden).toBe(false);
    expect($$(".tw-lm-subrow").map((r) => r.querySelector(".tw-lm-sub-name").textContent)).toEqual([
      "self_attention_layer/query", "self_attention_layer/value", "feedforward_output_dense",
    ]);
    expect(subrow(FFN).querySelector(".tw-lm-type").textContent).toBe("Dense");
    click(subrow(FFN)); // a sublayer row is not a freeze toggle
    expect(rowIsFrozen(2)).toBe(true);
    expect(loraSets(model)).toEqual([]);
    expect(model.saves).toEqual([]);
  });

  it("a block's toggle asks for its query and value, with the rank and alpha typed", () => {
    const { model } = mount({ layers: textLayers(), frozen: [F, F, F, T] });
    click(chipOf(2));
    expect(loraSets(model)).toEqual([[[QUERY, 8, null], [VALUE, 8, null]]]);
    expect(model.saves).toHaveLength(1);
    expect(domFrozen()).toEqual([F, F, F, T]); // the click did not freeze anything
    model.fromPython("lora", [[QUERY, 8, 8, 37120], [VALUE, 8, 8, 37120]]);
    expect(chipOf(2).classList.contains("tw-lm-lora-on")).toBe(true);
    expect(chipOf(2).textContent).toBe("LoRA r8");
    expect(row(2).querySelector(".tw-lm-subs").textContent).toBe("\u25B8 2/3");
    expect(row(2).querySelector(".tw-lm-subs").title).toContain("(2 adapted)");
    // the view's header: adapters train, and the adapted kernels stay in the total
    model.fromPython("layers", { ...textLayers(), params: [0, 11720448, 1774464 - 2 * 147456, 1155] });
    expect($(".tw-lm-summary").textContent).toBe(
      "4 layers · 75,395 trainable / 13,570,307 total params · 2 LoRA adapters");

    const rank = $(".tw-lm-lora-rank");
    rank.value = "4";
    $(".tw-lm-lora-alpha").value = "16";
    click(row(2).querySelector(".tw-lm-subs"));
    click(subrow(FFN).querySelector(".tw-lm-lora"));
    expect(loraSets(model).at(-1)).toEqual([[QUERY, 8, 8, 37120], [VALUE, 8, 8, 37120], [FFN, 4, 16]]);
    model.fromPython("lora", [[QUERY, 8, 8, 37120], [VALUE, 8, 8, 37120], [FFN, 4, 16, 3072]]);
    click(chipOf(2)); // all of the block's choice held: drop them, keep the rest
    expect(loraSets(model).at(-1)).toEqual([[FFN, 4, 16, 3072]]);
  });

  it("toggles are disabled while training, and the open sublayers survive a rebuild", () => {
    const { model } = mount({ layers: textLayers(), frozen: [F, F, F, T], busy: true });
    expect($$(".tw-lm-lora").every((chip) => chip.disabled)).toBe(true);
    click(chipOf(1));
    expect(loraSets(model)).toEqual([]);
    click(row(2).querySelector(".tw-lm-subs"));
    model.fromPython("layers", { ...textLayers(), params: [0, 11720448, 1626912, 1155] });
    expect(subrow(QUERY).closest(".tw-lm-subrows").hidden).toBe(false);
    expect(row(2).querySelector(".tw-lm-params").textContent).toBe("1,626,912");
    model.fromPython("busy", false);
    expect($$(".tw-lm-lora").some((chip) => chip.disabled)).toBe(false);
  });

  it("a model without adaptable layers shows no LoRA controls", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable() });
    expect(el.querySelector(".tw-lm").classList.contains("tw-lm-has-lora")).toBe(false);
    expect($(".tw-lm-lora-settings").hidden).toBe(true);
    expect($$(".tw-lm-lora-cell")).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------
// The signal column
// ---------------------------------------------------------------------------

describe("signal column", () => {
  const ratios = [null, 1e-2, 0, null, 1e-4, 1e-3, null, 1e-1];
  const shadeOf = (i) => Number(row(i).querySelector(".tw-lm-signal").style.getPropertyValue("--tw-lm-shade"));
  const titleOf = (i) => row(i).querySelector(".tw-lm-signal").title;

  it("signalValues reads rates for trainable rows with weights, and sent values otherwise", () => {
    const frozen = [F, F, T, T, T, T, T, T];
    const rates = [1e-5, 1e-4, 1e-3];
    expect(signalValues(sampleLayers(), frozen, rates, {}, "rates")).toEqual([null, null, 1e-5, 1e-4, 1e-4, 1e-4, null, 1e-3]);
    expect(signalValues(sampleLayers(), frozen, rates, { update_ratio: ratios }, "update_ratio")).toEqual(ratios);
    expect(signalValues(sampleLayers(), frozen, rates, {}, "drift")).toEqual(new Array(8).fill(null));
  });

  it("signalShades spreads positive values on a log scale; zero stays 0, null stays null", () => {
    const shades = signalShades([null, 1e-4, 1e-2, 0, 1e-3]);
    expect(shades[0]).toBeNull();
    expect(shades[1]).toBeCloseTo(0.15);
    expect(shades[2]).toBeCloseTo(1);
    expect(shades[3]).toBe(0);
    expect(shades[4]).toBeCloseTo(0.575);
    expect(signalShades([null, 0])).toEqual([null, 0]);
  });

  it("signalText gives the figure and, for update ratios, the step", () => {
    expect(signalText("update_ratio", 0.00032, 40)).toBe("update ratio \u2016\u0394w\u2016/\u2016w\u2016 3.2e-4 (step 40)");
    expect(signalText("drift", 0, 40)).toBe("drift from the loaded weights 0");
    expect(signalText("drift", null, 40)).toBe("");
  });

  it("colours the rows by the chosen signal, follows new values live, and sends the choice", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable(), rates: [1e-3, 1e-3, 1e-3],
      signal: "none", signals: { step: 10, update_ratio: ratios } });
    expect($(".tw-lm").classList.contains("tw-lm-has-signal")).toBe(false);
    expect(titleOf(1)).toBe("");

    const choice = $(".tw-lm-signal-choice");
    choice.value = "update_ratio";
    choice.dispatchEvent(new Event("change", { bubbles: true }));
    expect(model.sets).toContainEqual(["signal", "update_ratio"]);
    expect($(".tw-lm").classList.contains("tw-lm-has-signal")).toBe(true);
    expect(shadeOf(7)).toBeCloseTo(1);
    expect(shadeOf(2)).toBe(0); // a frozen layer's exact zero
    expect(row(0).querySelector(".tw-lm-signal").classList.contains("tw-lm-signal-none")).toBe(true);
    expect(titleOf(5)).toContain("1e-3 (step 10)");

    model.fromPython("signals", { step: 20, update_ratio: [null, 1e-1, 0, null, 1e-4, 1e-3, null, 1e-2] });
    expect(shadeOf(1)).toBeCloseTo(1);
    expect(shadeOf(7)).toBeLessThan(1);
    expect(titleOf(5)).toContain("(step 20)");

    model.fromPython("signal", "rates");
    expect(choice.value).toBe("rates");
    expect(titleOf(1)).toBe("learning rate 1e-3");
    model.fromPython("frozen", [F, F, F, F, F, F, F, T]);
    expect(titleOf(1)).toBe(""); // frozen: no rate
  });
});

describe("signals of sublayers and blocks", () => {
  const KEY = "transformer_layer_0/self_attention_layer/key";
  const subs = [{ path: QUERY, owner: 2 }, { path: VALUE, owner: 2 }, { path: FFN, owner: 2 }];
  const signals = {
    step: 12,
    update_ratio: [null, 0, 1e-3, 1e-2],
    parts: { paths: [QUERY, KEY, VALUE], update_ratio: [1e-1, 0, 1e-4], drift: null },
    blocks: { update_ratio: [null, 0, 1e-3, 1e-2], drift: [null, null, null, null] },
  };
  const subCell = (path) => subrow(path).querySelector(".tw-lm-signal");
  const blockCell = (b) => el.querySelector(`.tw-lm-block[data-block="${b}"] .tw-lm-signal`);

  it("partValues finds each sublayer's figure by path, and its layer's rate while it trains or is adapted", () => {
    expect(partValues(textLayers(), [F, F, F, F], [], signals, "update_ratio", subs)).toEqual([1e-1, 1e-4, null]);
    expect(partValues(textLayers(), [F, F, F, F], [], signals, "drift", subs)).toEqual([null, null, null]);
    const rates = [1e-3, 1e-3, 1e-4, 1e-2];
    expect(partValues(textLayers(), [T, T, T, T], rates, {}, "rates", subs)).toEqual([1e-4, 1e-4, 1e-4]);
    expect(partValues(textLayers(), [T, T, F, T], rates, {}, "rates", subs, new Set([QUERY]))).toEqual([1e-4, null, null]);
  });

  it("blockValues gives each block its sent figure, or its rate while a layer of it trains", () => {
    expect(blockValues(textLayers(), [F, F, F, F], [], signals, "update_ratio")).toEqual([null, 0, 1e-3, 1e-2]);
    expect(blockValues(sampleLayers(), [F, F, F, T, F, F, F, F], [1e-5, 1e-4, 1e-3], {}, "rates")).toEqual([null, 1e-4, null]);
  });

  it("an opened block's sublayers and every block header are coloured on the rows' scale", () => {
    const { model } = mount({ layers: textLayers(), frozen: [F, F, F, F], signal: "update_ratio", signals });
    click(row(2).querySelector(".tw-lm-subs"));
    expect(Number(subCell(QUERY).style.getPropertyValue("--tw-lm-shade"))).toBeCloseTo(1); // the largest of all
    expect(subCell(QUERY).title).toBe("update ratio \u2016\u0394w\u2016/\u2016w\u2016 1e-1 (step 12)");
    expect(subCell(VALUE).dataset.value).toBe("0.0001");
    expect(subCell(FFN).classList.contains("tw-lm-signal-none")).toBe(true); // not sent: no figure
    expect(blockCell(1).dataset.value).toBe("0"); // a frozen block's exact zero
    expect(blockCell(0).classList.contains("tw-lm-signal-none")).toBe(true);
    expect(Number(blockCell(3).style.getPropertyValue("--tw-lm-shade"))).toBeLessThan(1);

    model.fromPython("signals", { ...signals, parts: { ...signals.parts, update_ratio: [1e-5, 0, 1e-4] } });
    expect(subCell(QUERY).dataset.value).toBe("0.00001"); // live, like the rows
    expect(Number(blockCell(3).style.getPropertyValue("--tw-lm-shade"))).toBeCloseTo(1);

    model.fromPython("rates", [1e-3, 1e-3, 1e-4, 1e-2]);
    model.fromPython("signal", "rates");
    model.fromPython("frozen", [T, T, F, T]);
    expect(subCell(QUERY).dataset.value).toBe(""); // its block is frozen
    model.fromPython("lora", [[QUERY, 8, 16, 1000]]);
    expect(subCell(QUERY).title).toBe("learning rate 1e-4"); // adapted: it trains in a frozen block
    model.fromPython("signal", "none");
    expect(subCell(QUERY).title).toBe("");
  });

  it("a block of several layers says its figure covers them all", () => {
    mount({ layers: sampleLayers(), frozen: allTrainable(), signal: "update_ratio",
      signals: { step: 3, update_ratio: new Array(8).fill(1e-3), blocks: { update_ratio: [1e-3, 2e-3, 3e-3] } } });
    expect(blockCell(1).title).toBe("update ratio \u2016\u0394w\u2016/\u2016w\u2016 2e-3 (step 3), its 3 layers taken together");
  });
});

describe("freeze suggestion", () => {
  it("marks the rows the suggestion would freeze and notes its cut, until Python clears it", () => {
    const { model } = mount({ layers: sampleLayers(), frozen: allTrainable(), suggested: [] });
    expect($(".tw-lm-suggest-note").hidden).toBe(true);
    model.fromPython("suggested", [F, F, F, T, T, T, T, T]);
    expect($$(".tw-lm-suggested").map((r) => Number(r.dataset.index))).toEqual([0, 1, 2]);
    expect($(".tw-lm-suggest-note").textContent).toBe("suggested: freeze up to stem_bn");
    expect(domFrozen()).toEqual(allTrainable()); // a suggestion changes no freeze state
    model.fromPython("suggested", []);
    expect($$(".tw-lm-suggested")).toEqual([]);
    expect($(".tw-lm-suggest-note").hidden).toBe(true);
  });
});
