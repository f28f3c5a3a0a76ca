"""The layer map: every layer of the session's model, clickable to freeze or unfreeze, with
each trainable layer's learning rate (discriminative rates make them differ by block), the
layers LoRA can adapt, with a toggle each (a block opens to show its sublayers), and a column
coloured by a training signal the browser chooses (see training/signals.py), live during a fit.

The whole map is one compact synced structure (columns, not a widget per layer), so it stays
smooth at 800+ layers. The browser sends the full `frozen` list, and the full `lora` list of
adapters it wants; the session decides, and the map always shows the session's answer.
"""

import math
from pathlib import Path

import anywidget
import traitlets

from ..errors import TuneWidgetsError

STATIC = Path(__file__).resolve().parents[1] / "static"


def block_rates(payload, spec):
    """Each block's peak learning rate, in the payload's block order (the `rates` trait)."""
    factors = dict(spec.layer_rates)
    return [spec.learning_rate * factors.get(name, 1.0) for name in payload["block_names"]]


def layers_payload(rows, targets=()):
    """The columnar `layers` structure the front end reads (see js/README.md). `targets`, the
    layers LoRA can adapt (`Session.lora_targets`), add a `lora_targets` entry when there are any."""
    type_names, block_names = [], []
    types, blocks = [], []
    for row in rows:
        if row.type not in type_names:
            type_names.append(row.type)
        if row.block not in block_names:
            block_names.append(row.block)
        types.append(type_names.index(row.type))
        blocks.append(block_names.index(row.block))
    payload = {"names": [row.name for row in rows], "types": types, "type_names": type_names,
               "params": [row.params for row in rows], "blocks": blocks, "block_names": block_names}
    if targets:
        index = {row.name: i for i, row in enumerate(rows)}
        for target in targets:
            if target.type not in type_names:
                type_names.append(target.type)
        payload["lora_targets"] = {
            "owners": [index[t.owner] for t in targets],
            "paths": [t.path[len(t.owner) + 1:] for t in targets],  # inside the owner; "" for the owner itself
            "types": [type_names.index(t.type) for t in targets],
            "params": [t.params for t in targets],
            "preferred": [int(t.preferred) for t in targets],
        }
    return payload


def signals_payload(rows, runs):
    """The `signals` trait: {"step", "update_ratio", "drift"} with a value or None per row, from
    the latest run that recorded signals of this model's layers (its last sample; its drift once
    it ended); "parts", the same for the blocks' sublayers by path (what an opened block shows);
    and "blocks", each block's figure over all its layers, in `block_names` order (what a
    collapsed block shows). {} when no run has."""
    names = [row.name for row in rows]
    run = next((run for run in reversed(runs) if (run.layer_signals or {}).get("layers") == names), None)
    if run is None:
        return {}
    signals = run.layer_signals
    last = signals["samples"][-1] if signals["samples"] else {}
    parts = signals.get("parts") or {"paths": []}
    return {"step": last.get("step", 0), "update_ratio": last.get("update_ratio"), "drift": signals.get("drift"),
            "parts": {"paths": parts["paths"], "update_ratio": (last.get("parts") or {}).get("update_ratio"),
                      "drift": parts.get("drift")},
            "blocks": {"update_ratio": _by_block(rows, last.get("update_ratio"), last.get("weight_norm")),
                       "drift": _by_block(rows, signals.get("drift"), signals.get("loaded_norm"))}}


def _by_block(rows, ratios, norms):
    """Each block's ratio over its layers taken together (‖Δw‖ / ‖w‖ of all the weights measured,
    from each layer's ratio and norm), in order of first appearance; None for a block without
    weights, and for every block before there are figures."""
    blocks = {}  # block: [‖Δw‖², ‖w‖², whether it holds weights]
    for row in rows:
        blocks.setdefault(row.block, [0.0, 0.0, False])[2] |= bool(row.params or row.adapter_params)
    if ratios is None or norms is None:
        return [None] * len(blocks)
    for row, ratio, norm in zip(rows, ratios, norms):
        if ratio is not None and norm:
            blocks[row.block][0] += (ratio * norm) ** 2
            blocks[row.block][1] += norm ** 2
    return [(math.sqrt(moved / size) if size else 0.0) if held else None for moved, size, held in blocks.values()]


def adapters_payload(plan):
    """[path, rank, alpha, adapter weights] per adapter: the `lora` trait."""
    return [[a.path, a.rank, a.alpha, a.params] for a in plan.adapters]


class LayerMap(anywidget.AnyWidget):
    """A view of `session.layers` and `session.lora`; clicks call `session.set_frozen`, LoRA
    toggles `session.add_lora` and `session.remove_lora`."""

    _esm = STATIC / "layer_map.js"
    _css = STATIC / "layer_map.css"
    layers = traitlets.Dict().tag(sync=True)
    frozen = traitlets.List(traitlets.Bool()).tag(sync=True)
    lora = traitlets.List().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    rates = traitlets.List(traitlets.Float()).tag(sync=True)
    signal = traitlets.Enum(("none", "rates", "update_ratio", "drift"), "none").tag(sync=True)
    signals = traitlets.Dict().tag(sync=True)
    suggested = traitlets.List(traitlets.Bool()).tag(sync=True)

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self._following = False
        session.observe(self._session_changed, names=["layers", "lora"])
        session.observe(self._show_busy, names=["training"])
        session.observe(self._show_rates, names=["optimizer"])
        session.observe(self._show_signals, names=["progress", "runs"])  # progress: throttled like the charts
        session.observe(self._show_suggestion, names=["freeze_suggestion"])
        self.observe(self._frozen_from_browser, names=["frozen"])
        self.observe(self._lora_from_browser, names=["lora"])
        self._show_session()
        self.add_class("tw-layer-map")

    def _show_session(self, change=None):
        rows = self.session.layers
        self._following = True
        try:
            with self.hold_sync():
                self.layers = layers_payload(rows, self.session.lora_targets)  # sent only if it differs
                self.frozen = [row.frozen for row in rows]
                self._show_rates()
                self._show_signals()
                self._show_suggestion()
                self.lora = adapters_payload(self.session.lora)
        finally:
            self._following = False

    def _show_rates(self, change=None):
        self.rates = block_rates(self.layers, self.session.optimizer)

    def _show_signals(self, change=None):
        self.signals = signals_payload(self.session.layers, self.session.runs)

    def _show_suggestion(self, change=None):
        """The rows `session.freeze_suggestion` would freeze ([] without one, or when it names
        layers this model does not have)."""
        suggestion, rows = self.session.freeze_suggestion, self.session.layers
        names = {row.name for row in rows}
        fits = suggestion is not None and set(suggestion.frozen) <= names
        self.suggested = [row.name in suggestion.frozen for row in rows] if fits else []

    def _session_changed(self, change):
        self.error = ""  # a message about the layers as they were
        self._show_session()

    def _show_busy(self, change):
        self.busy = change["new"]
        self.error = ""  # "A fit is running" is no longer true, or about to be replaced

    def _frozen_from_browser(self, change):
        if self._following:
            return
        names = [name for name, frozen in zip(self.layers.get("names", []), change["new"]) if frozen]
        try:
            self.session.set_frozen(names)
            self.error = ""
        except TuneWidgetsError as error:
            self.error = str(error)
        self._show_session()  # the browser shows the session's state, accepted or not

    def _lora_from_browser(self, change):
        """The browser sends every adapter it wants as [path, rank, alpha, …]; new paths are added
        (grouped by rank and alpha), missing ones removed."""
        if self._following:
            return
        wanted = {entry[0]: entry for entry in change["new"]}
        held = set(self.session.lora.paths)
        try:
            gone = [path for path in self.session.lora.paths if path not in wanted]
            if gone:
                self.session.remove_lora(gone)
            groups = {}
            for path, rank, alpha, *_ in (entry for path, entry in wanted.items() if path not in held):
                groups.setdefault((rank, alpha), []).append(path)
            for (rank, alpha), paths in groups.items():
                self.session.add_lora(paths, rank=rank, alpha=alpha)
            self.error = ""
        except TuneWidgetsError as error:
            self.error = str(error)
        self._show_session()
