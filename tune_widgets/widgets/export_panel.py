"""Export: a format, a folder, a button and its progress; the result shows the artifact's size
and its runtime check. One `session.export_model` call (see `saving/deploy.py`).

With `folder` (the workshop page's sandbox) there is no path field: exports go to
`folder/export-<format>`, and a Download button sends them zipped to the browser over this
kernel's own connection, so nothing outside the folder is ever served.
"""

import html
import shutil
import tempfile
from pathlib import Path

import anywidget
import ipywidgets as widgets
import traitlets

from .base import Panel, labelled

FORMATS = (("SavedModel (TF Serving, raw inputs)", ("savedmodel", None)), ("LiteRT (.tflite)", ("litert", None)),
           ("LiteRT, int8 weights", ("litert", "int8")), ("ONNX", ("onnx", None)), ("Keras (.keras)", ("keras", None)))
CHUNK = 4 << 20  # bytes per message: under the servers' 10 MiB websocket message limit


class ExportPanel(Panel):
    title = "Export"
    css_class = "tw-export-panel"

    def __init__(self, session, folder=None):
        self.folder = Path(folder) if folder is not None else None
        self.format = widgets.Dropdown(options=FORMATS, value=("savedmodel", None))
        self.path = widgets.Text("export", placeholder="a new folder", continuous_update=False)
        self.button = widgets.Button(description="Export", icon="download")
        self.button.add_class("tw-export")
        self.progress = widgets.FloatProgress(0.0, min=0.0, max=1.0, layout=widgets.Layout(display="none"))
        self.result = widgets.HTML()
        self.result.add_class("tw-export-result")
        self.download = Download()
        path_row = labelled("Folder", self.path)
        if self.folder is not None:
            path_row.layout.display = "none"
        super().__init__(session, [labelled("Format", self.format), path_row, self.button, self.progress,
                                   self.result, self.download])
        self.button.on_click(lambda _: self.attempt(self._export))
        session.observe(lambda c: setattr(self.button, "disabled", c["new"]), names=["training"])
        self.clear_error_when("model", "training")

    def _export(self):
        name, quantize = self.format.value
        target = self.folder / f"export-{name}" if self.folder is not None else Path(self.path.value.strip() or "export")
        self.progress.layout.display, self.result.value = "flex", ""
        try:
            result = self.session.export_model(target, format=name, quantize=quantize, progress=self._step)
        finally:
            self.progress.layout.display = "none"
        verdict = "tw-ok" if result.ok else "tw-failed"
        self.result.value = (f'<div class="{verdict}"><b>{html.escape(str(result.artifact))}</b> · '
                             f'{result.size_bytes / 1e6:.1f} MB · {html.escape(str(result.parity or "no runtime check"))}'
                             f'<br><small>{html.escape(result.notes)}</small></div>')
        if self.folder is not None:
            self.download.offer(result.path)
        return result

    def _step(self, fraction, words):
        self.progress.value, self.progress.description = fraction, words[:24]


class Download(anywidget.AnyWidget):
    """A button that saves a folder, zipped, in the browser: the bytes travel in chunks over the
    widget's messages, from this kernel only."""

    _esm = """
    function render({ model, el }) {
      const button = document.createElement("button");
      button.className = "tw-download jupyter-button";
      const chunks = [];
      const show = () => {
        button.textContent = model.get("filename") ? `Download ${model.get("filename")}` : "";
        button.style.display = model.get("filename") ? "" : "none";
      };
      button.onclick = () => { chunks.length = 0; model.send({ ask: true }); };
      model.on("msg:custom", (content, buffers) => {
        chunks.push(...buffers);
        if (!content.last) return;
        const url = URL.createObjectURL(new Blob(chunks, { type: "application/zip" }));
        const link = Object.assign(document.createElement("a"), { href: url, download: model.get("filename") });
        document.body.appendChild(link); link.click(); link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      });
      model.on("change:filename", show);
      show();
      el.appendChild(button);
    }
    export default { render };
    """
    filename = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.source = None
        self.on_msg(self._answer)

    def offer(self, folder):
        self.source, self.filename = Path(folder), f"{Path(folder).name}.zip"

    def _answer(self, widget, content, buffers):
        if not content.get("ask") or self.source is None:
            return
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(shutil.make_archive(str(Path(scratch) / "export"), "zip", self.source)).read_bytes()
        pieces = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        for index, piece in enumerate(pieces):
            self.send({"last": index == len(pieces) - 1}, [piece])
