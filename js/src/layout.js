// The synced traits read as plain data: `layers` and `frozen` normalised, the
// LoRA targets and adapters, and the block groups the rows are laid out in.
// Pure: nothing here touches the DOM or the model.

const EMPTY_LAYERS = Object.freeze({
  names: [],
  types: [],
  type_names: [],
  params: [],
  blocks: [],
  block_names: [],
});

export function arr(value) {
  return Array.isArray(value) ? value : [];
}

/** Normalise a (possibly partial or malformed) `layers` value. */
export function normalizeLayers(layers) {
  if (!layers || typeof layers !== "object") return EMPTY_LAYERS;
  return {
    names: arr(layers.names).map(String),
    types: arr(layers.types),
    type_names: arr(layers.type_names).map(String),
    params: arr(layers.params),
    blocks: arr(layers.blocks),
    block_names: arr(layers.block_names).map(String),
    lora_targets: layers.lora_targets, // read through normalizeTargets
  };
}

/** A boolean array of exactly length n (missing entries are "trainable"). */
export function normalizeFrozen(frozen, n) {
  const src = arr(frozen);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = Boolean(src[i]);
  return out;
}

/** The name of type index `t` (a layer's or a target's), "?" when out of range. */
export function typeName(layers, t) {
  return Number.isInteger(t) && t >= 0 && t < layers.type_names.length ? layers.type_names[t] : "?";
}

/** The layers LoRA can adapt (columns; empty when the model has none). */
export function normalizeTargets(layers) {
  const t = layers && typeof layers === "object" ? layers.lora_targets : null;
  const src = t && typeof t === "object" ? t : {};
  return {
    owners: arr(src.owners),
    paths: arr(src.paths).map(String),
    types: arr(src.types),
    params: arr(src.params),
    preferred: arr(src.preferred).map(Boolean),
  };
}

/** Full path of target j: its owner's name, then its path inside the owner. */
export function targetPath(layers, targets, j) {
  const owner = String(arr(layers.names)[targets.owners[j]] ?? "");
  return targets.paths[j] ? `${owner}/${targets.paths[j]}` : owner;
}

/** `lora` entries as objects: [{ path, rank, alpha, params }]. */
export function normalizeLora(lora) {
  return arr(lora)
    .filter((entry) => Array.isArray(entry) && entry.length >= 1)
    .map(([path, rank, alpha, params]) => ({
      path: String(path),
      rank: Number(rank) || 0,
      alpha: alpha == null ? null : Number(alpha),
      params: Number(params) || 0,
    }));
}

/**
 * Group layer indices by block, groups in order of first appearance, layers
 * in model order inside a group. Returns [{ block, name, indices }].
 */
export function groupByBlock(layers) {
  const L = normalizeLayers(layers);
  const groups = [];
  const byBlock = new Map();
  for (let i = 0; i < L.names.length; i++) {
    const raw = L.blocks[i];
    const block = Number.isInteger(raw) ? raw : -1;
    let g = byBlock.get(block);
    if (!g) {
      const name =
        block >= 0 && block < L.block_names.length
          ? L.block_names[block]
          : block >= 0
            ? `block ${block}`
            : "(ungrouped)";
      g = { block, name, indices: [] };
      byBlock.set(block, g);
      groups.push(g);
    }
    g.indices.push(i);
  }
  return groups;
}

/** Does `name` match `filter` (case-insensitive substring; empty filter matches all)? */
export function matchesFilter(name, filter) {
  const f = String(filter || "").trim().toLowerCase();
  return f === "" || String(name).toLowerCase().includes(f);
}
