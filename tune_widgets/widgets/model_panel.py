"""Model choice: source, and only the fields that apply to it; the head; parameter counts.

The sources are the shipped models, a typed path or Hugging Face id, and the catalogue
(`models.catalogue`: KerasHub presets, cached Hugging Face models, keras.applications), which
the filter and the modality toggle narrow in memory: the catalogue is read once per panel
(it checks the caches, about a second) and again after a load, which may have filled one.
A keras.applications name takes an input shape and weights, a text model or checkpoint folder
a sequence length, a model file its image preprocessing; the shipped models need nothing more.
Those are Load model's arguments; the head's fields are the session's head, bound both ways (a
change is a `set_head`), and Replace head gives it fresh starting weights.
"""

import html

import ipywidgets as widgets

from ..data.datasets import minilm_folder, mobilenetv2_file
from ..errors import ConfigError
from ..models import catalogue
from ..validation import image_shape
from .base import Panel, labelled

SHIPPED_MINILM = "MiniLM-L6 (shipped checkpoint)"
SHIPPED_MOBILENET = "MobileNetV2, dog breeds (shipped .h5)"
FROM_PATH = "path or Hugging Face id…"
KEEP = "(model in the session)"
FIXED = (KEEP, SHIPPED_MINILM, SHIPPED_MOBILENET, FROM_PATH)  # offered whatever the filter says
MODALITIES = (("all", None), ("text", "text"), ("image", "image"))
MODEL_FILES = (".keras", ".h5", ".hdf5")
PREPROCESSING = (("auto: recognised or recorded", "auto"), ("none: raw 0–255 pixels", None),
                 ("[-1, 1]: MobileNet, Inception, Xception", "mobilenet_v2"),
                 ("ImageNet mean (caffe): ResNet, VGG", "resnet"), ("ImageNet mean and std: DenseNet", "densenet"))


class ModelPanel(Panel):
    title = "Model"
    css_class = "tw-model-panel"

    def __init__(self, session, paths=True):
        """paths=False offers no typed path or id (the workshop page: nothing outside the shipped
        models and the catalogue)."""
        self.fixed = FIXED if paths else tuple(choice for choice in FIXED if choice != FROM_PATH)
        self.search = widgets.Text(placeholder="filter: bert tiny, vit, resnet…", continuous_update=True)
        self.modality = widgets.ToggleButtons(options=MODALITIES, value=None, style={"button_width": "70px"})
        self.source = widgets.Select(options=self.fixed, value=KEEP, rows=8,  # as wide as the column, up to 520 px
                                     layout=widgets.Layout(width="auto", max_width="520px", flex="1 1 auto", min_width="0"))
        self.path = widgets.Text(placeholder="/path/to/checkpoint, model.keras or org/name", continuous_update=False)
        self.download = widgets.FloatProgress(0.0, min=0.0, max=1.0, description="Download",
                                              layout=widgets.Layout(display="none"))
        self.input_shape = widgets.Text("224, 224, 3", continuous_update=False)
        self.weights = widgets.Dropdown(options=[("ImageNet (download)", "imagenet"), ("none (random)", None)], value=None)
        self.sequence_length = widgets.BoundedIntText(64, min=8, max=512)
        self.preprocessing = widgets.Dropdown(options=PREPROCESSING, value="auto")
        self.load = widgets.Button(description="Load model", button_style="primary")
        self.classes = widgets.IntText(0)  # the session checks it (a HeadSpec refuses 1 class)
        self.dropout = widgets.FloatSlider(0.0, min=0, max=0.95, step=0.05, continuous_update=False)
        self.apply_head = widgets.Button(description="Replace head")
        self.counts = widgets.HTML()
        self.counts.add_class("tw-param-counts")
        self.load.add_class("tw-load-model")
        self.search.add_class("tw-model-search")
        self.modality.add_class("tw-model-modality")
        self.source.add_class("tw-model-source")
        self.download.add_class("tw-model-download")
        self.rows = {"path": labelled("Path or HF id", self.path), "input_shape": labelled("Input shape", self.input_shape),
                     "weights": labelled("Weights", self.weights), "sequence_length": labelled("Seq. length", self.sequence_length),
                     "preprocessing": labelled("Preprocessing", self.preprocessing)}
        for name, row in self.rows.items():
            row.add_class(f"tw-field-{name.replace('_', '-')}")
        super().__init__(session, [
            labelled("Find", self.search), labelled("Modality", self.modality), labelled("Source", self.source),
            *self.rows.values(), self.load, self.download,
            labelled("Classes (0 = data)", self.classes, "130px"), labelled("Head dropout", self.dropout),
            self.apply_head, self.counts,
        ])
        self.load.on_click(lambda _: self.attempt(self._load))
        self._read_catalogue()
        self.search.observe(lambda _: self._filter(), names="value")
        self.modality.observe(lambda _: self._filter(), names="value")
        self.source.observe(lambda _: self._show_fields(), names="value")
        self.path.observe(lambda _: self._show_fields(), names="value")
        self._show_fields()
        self.apply_head.on_click(lambda _: self.attempt(self._replace_head))
        self.bind(self.classes, ["head"], lambda: session.head.num_classes or 0,
                  lambda value: session.set_head(num_classes=value or None, dropout=session.head.dropout))
        self.bind(self.dropout, ["head"], lambda: session.head.dropout,
                  lambda value: session.set_head(num_classes=session.head.num_classes, dropout=value))
        session.observe(self._show_counts, names=["layers", "model", "train_data", "lora"])
        self.clear_error_when("layers", "training")
        self._show_counts()

    def _load(self):
        choice = self.source.value
        if choice == KEEP:
            raise ConfigError("Choose a source to load: a shipped model, a model from the list (type in Find to "
                              "narrow it), or a path or Hugging Face id.")
        if choice == SHIPPED_MINILM:
            source = minilm_folder()
        elif choice == SHIPPED_MOBILENET:
            source = mobilenetv2_file()
        elif choice == FROM_PATH:
            if not self.path.value.strip():
                raise ConfigError("Type the path of a checkpoint folder or a .keras/.h5 file, or a Hugging Face id "
                                  "(org/name), first.")
            source = self.path.value.strip()
        else:
            source = choice
        fields = self.fields()
        options = {"input_shape": parse_shape(self.input_shape.value, source) if "input_shape" in fields else None,
                   "weights": self.weights.value, "sequence_length": self.sequence_length.value,
                   "preprocessing": self.preprocessing.value if "preprocessing" in fields else "auto"}
        try:
            self.session.load_model(source, **options, progress=self._show_download)
        finally:
            self.download.layout.display = "none"
        self._read_catalogue()  # a download has filled a cache: its entry is now "cached"

    def _read_catalogue(self):
        self.entries = {entry.name: entry for entry in catalogue.entries()}
        self._filter()

    def _filter(self):
        """Offer the fixed choices and the catalogue entries that match Find and Modality,
        keeping the choice when it still matches (a Select would jump to its first option)."""
        choice = self.source.value
        found = [entry for entry in self.entries.values()
                 if entry.matches(self.search.value) and self.modality.value in (None, entry.modality)]
        self.source.options = [*((fixed, fixed) for fixed in self.fixed), *((entry.label(), entry.name) for entry in found)]
        if choice in self.fixed or choice in {entry.name for entry in found}:
            self.source.value = choice

    def _show_download(self, done, total):
        """Follow a hub download (the load's progress callback)."""
        self.download.layout.display = ""
        self.download.value = done / total if total else 0.0
        self.download.description = f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB" if total else "Download"

    def fields(self):
        """The names of the fields that apply to the chosen source (the others are hidden)."""
        choice = self.source.value
        if choice == SHIPPED_MINILM:
            return {"sequence_length"}
        if choice == FROM_PATH:
            is_file = self.path.value.strip().lower().endswith(MODEL_FILES)
            return {"path", "preprocessing" if is_file else "sequence_length"}
        entry = self.entries.get(choice)
        if entry is not None and entry.kind == "application":
            return {"input_shape", "weights"}
        if entry is not None and entry.modality == "text":
            return {"sequence_length"}
        return set()  # the session's model, the shipped MobileNetV2, an image preset: nothing to choose

    def _show_fields(self):
        shown = self.fields()
        for name, row in self.rows.items():
            row.layout.display = "" if name in shown else "none"

    def _replace_head(self):
        self.session.set_head(num_classes=self.classes.value or None, dropout=self.dropout.value)

    def _show_counts(self, change=None):
        session = self.session
        if not session.layers:
            self.counts.value = ("<i>No model loaded: choose a source above (the shipped MiniLM for text, the "
                                 "shipped MobileNetV2 for images) and click Load model.</i>")
            return
        counts = session.parameter_counts
        head = "" if session.model is not None else " · <i>head added once data is set</i>"
        source = session.backbone.source if session.backbone else ""
        mismatch = session.head_mismatch
        warning = f'<div class="tw-head-mismatch" style="color:#b00020">⚠ {html.escape(mismatch)}</div>' if mismatch else ""
        adapters = (f" · <b>{counts['adapters']:,}</b> in {len(session.lora.adapters)} LoRA adapters"
                    if session.lora else "")
        self.counts.value = (
            f"<b>{len(session.layers)}</b> layers · <b>{counts['trainable']:,}</b> trainable of "
            f"<b>{counts['total']:,}</b> parameters{adapters}{head}<br><small>{html.escape(str(source))}</small>{warning}"
        )


def parse_shape(text, model):
    """'224, 224, 3' → (224, 224, 3), checked as load_model checks it (for the network `model`);
    raises ConfigError saying the expected form."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"Input shape {text!r} is not a list of whole numbers: type it like 224, 224, 3.") from None
    return image_shape(shape, model)
