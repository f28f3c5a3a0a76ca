"""The layer map: every layer of the session's model, clickable to freeze or unfreeze, with
each trainable layer's learning rate (discriminative rates make them differ by block).

The whole map is one compact synced structure (columns, not a widget per layer), so it stays
smooth at 800+ layers. The browser sends the full `frozen` list; the session decides, and the
map always shows the session's answer.
"""

from pathlib import Path

import anywidget
import traitlets

from ..errors import TuneWidgetsError

STATIC = Path(__file__).resolve().parents[1] / "static"


def block_rates(payload, spec):
    """Each block's peak learning rate, in the payload's block order (the `rates` trait)."""
    factors = dict(spec.layer_rates)
    return [spec.learning_rate * factors.get(name, 1.0) for name in payload["block_names"]]


def layers_payload(rows):
    """The columnar `layers` structure the front end reads (see js/README.md)."""
    type_names, block_names = [], []
    types, blocks = [], []
    for row in rows:
        if row.type not in type_names:
            type_names.append(row.type)
        if row.block not in block_names:
            block_names.append(row.block)
        types.append(type_names.index(row.type))
        blocks.append(block_names.index(row.block))
    return {"names": [row.name for row in rows], "types": types, "type_names": type_names,
            "params": [row.params for row in rows], "blocks": blocks, "block_names": block_names}


class LayerMap(anywidget.AnyWidget):
    """A view of `session.layers`; clicks call `session.set_frozen`."""

    _esm = STATIC / "layer_map.js"
    _css = STATIC / "layer_map.css"
    layers = traitlets.Dict().tag(sync=True)
    frozen = traitlets.List(traitlets.Bool()).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    rates = traitlets.List(traitlets.Float()).tag(sync=True)

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self._following = False
        session.observe(self._session_changed, names=["layers"])
        session.observe(self._show_busy, names=["training"])
        session.observe(self._show_rates, names=["optimizer"])
        self.observe(self._frozen_from_browser, names=["frozen"])
        self._show_session()
        self.add_class("tw-layer-map")

    def _show_session(self, change=None):
        rows = self.session.layers
        self._following = True
        try:
            with self.hold_sync():
                self.layers = layers_payload(rows)  # traitlets sends it only if it differs
                self.frozen = [row.frozen for row in rows]
                self._show_rates()
        finally:
            self._following = False

    def _show_rates(self, change=None):
        self.rates = block_rates(self.layers, self.session.optimizer)

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
