import { describe, expect, it } from "vitest";
import * as entry from "../src/layer_map.js";
import { typeName } from "../src/layout.js";

describe("modules", () => {
  it("the entry keeps its exports: render, and the pure helpers the bundle exposes", () => {
    expect(Object.keys(entry).sort()).toEqual([
      "blockValues",
      "default",
      "formatNumber",
      "formatRate",
      "freezeUpTo",
      "groupByBlock",
      "layerRates",
      "matchesFilter",
      "normalizeFrozen",
      "normalizeLayers",
      "normalizeLora",
      "normalizeTargets",
      "partValues",
      "signalShades",
      "signalText",
      "signalValues",
      "summarize",
      "summaryText",
      "targetPath",
      "toggleAdapters",
      "toggleBlock",
      "toggleRange",
    ]);
    expect(Object.keys(entry.default)).toEqual(["render"]);
  });

  it("typeName names a layer's or target's type, '?' for an index it cannot resolve", () => {
    const layers = { type_names: ["Dense", "Conv2D"] };
    expect(typeName(layers, 1)).toBe("Conv2D");
    expect(typeName(layers, 2)).toBe("?");
    expect(typeName(layers, -1)).toBe("?");
    expect(typeName(layers, "0")).toBe("?");
    expect(typeName(layers, undefined)).toBe("?");
  });
});
