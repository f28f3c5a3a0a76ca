// Every number the view writes: parameter counts, each row's learning rate and
// the header's totals. Pure.

import { arr, normalizeLayers, normalizeLora, normalizeTargets, targetPath } from "./layout.js";

/** 1234567 -> "1,234,567" (locale independent). */
export function formatNumber(value) {
  const n = Math.round(Number(value) || 0);
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A learning rate as short text: 0.001 -> "1e-3", 0.00025 -> "2.5e-4".
 * Non-numbers and non-positive values give "" (nothing to show).
 */
export function formatRate(rate) {
  const r = Number(rate);
  if (!Number.isFinite(r) || r <= 0) return "";
  const [mantissa, exponent] = r.toExponential(1).split("e");
  return `${mantissa.replace(/\.0$/, "")}e${Number(exponent)}`;
}

/**
 * The rate text of each layer: its block's rate for a trainable layer with
 * parameters, "" for a frozen or weightless layer (or when no rates are sent).
 */
export function layerRates(layers, frozen, rates) {
  const L = normalizeLayers(layers);
  const f = arr(frozen);
  const r = arr(rates);
  return L.names.map((_, i) => {
    const b = L.blocks[i];
    if (f[i] || !(Number(L.params[i]) > 0) || !Number.isInteger(b)) return "";
    return formatRate(r[b]);
  });
}

/**
 * Counts for the header: layers, frozen layers, trainable params, total params,
 * LoRA adapters. Adapters always train; the weights they adapt never do (they
 * are not in `params` while adapted, so they are added back to the total).
 */
export function summarize(layers, frozen, lora) {
  const L = normalizeLayers(layers);
  const n = L.names.length;
  const f = arr(frozen);
  let total = 0;
  let trainable = 0;
  let frozenCount = 0;
  for (let i = 0; i < n; i++) {
    const p = Number(L.params[i]) || 0;
    total += p;
    if (f[i]) frozenCount++;
    else trainable += p;
  }
  const adapters = normalizeLora(lora);
  const T = normalizeTargets(layers);
  const adapted = new Set(adapters.map((a) => a.path));
  for (const a of adapters) {
    trainable += a.params;
    total += a.params;
  }
  for (let j = 0; j < T.owners.length; j++) {
    if (adapted.has(targetPath(L, T, j))) total += Number(T.params[j]) || 0;
  }
  return { layers: n, frozen: frozenCount, trainable, total, adapters: adapters.length };
}

/** Header text: "N layers · T trainable / P total params[ · A LoRA adapters]". */
export function summaryText(layers, frozen, lora) {
  const s = summarize(layers, frozen, lora);
  return (
    `${formatNumber(s.layers)} ${s.layers === 1 ? "layer" : "layers"} · ` +
    `${formatNumber(s.trainable)} trainable / ${formatNumber(s.total)} total params` +
    (s.adapters ? ` · ${s.adapters} LoRA ${s.adapters === 1 ? "adapter" : "adapters"}` : "")
  );
}
