"""Data: choose a shipped set, a path or an upload; split it; see the classes and a sample.

Sources: the shipped sets (tweets, faces or not, digits), a path (a CSV file, or a folder with a
subfolder of images per class), an uploaded CSV, or pictures uploaded into named classes
(Teachable Machine style: name a class, drop its pictures, repeat, then use them). "Use this
data" is one `session.set_data(...)` call, shown under the button so it can be copied into a
cell. What is shown below (the split, the class balance, the sample) is read from the session,
so data set from a cell appears here too.

An upload is not the session's yet: the panel holds the uploaded CSV and the pictures added to
each class until "Use this data" hands them to the session.
"""

import html
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from ..data import LABEL_COLUMNS, TEXT_COLUMNS, datasets, read_images, readers
from ..errors import ConfigError, DataError
from .base import Panel, labelled
from .render import bar_chart, example_html

KEEP = "(data in the session)"
TWEETS = "Tweets: negative / neutral / positive (shipped text)"
FACES = "Faces or not (shipped 25×25 photos)"
DIGITS = "Digits 0–9 (shipped 8×8 images)"
FROM_PATH = "A path: CSV file or image folder…"
UPLOAD_CSV = "Upload a CSV…"
UPLOAD_IMAGES = "Upload pictures, class by class…"
SHIPPED = {  # choice: (loader, its name in the code hint, examples to take by default; 0 = all)
    TWEETS: (datasets.load_tweets, "tw.load_tweets", 300),
    FACES: (datasets.load_faces, "tw.load_faces", 0),
    DIGITS: (datasets.load_digits, "tw.load_digits", 500),
}
SAMPLE_PER_CLASS, SAMPLE_CLASSES = 3, 8
IMBALANCE = 3.0  # largest class ÷ smallest above this gets a note


class DataPanel(Panel):
    title = "Data"
    css_class = "tw-data-panel"

    def __init__(self, session, paths=True):
        """paths=False offers no typed path (the workshop page: uploads and the shipped sets only)."""
        self.source = widgets.Dropdown(options=[KEEP, *SHIPPED, *([FROM_PATH] if paths else []), UPLOAD_CSV, UPLOAD_IMAGES],
                                       value=KEEP)
        self.source.add_class("tw-data-source")
        self.count = widgets.BoundedIntText(0, min=0, max=1_000_000, layout=widgets.Layout(width="110px"))
        self.count.add_class("tw-data-count")
        self.path = widgets.Text(placeholder="/path/to/data.csv or /path/to/folder", continuous_update=False)
        self.path.add_class("tw-data-path")
        self.csv_upload = widgets.FileUpload(accept=".csv,text/csv", multiple=False, description="Choose CSV")
        self.csv_upload.add_class("tw-data-csv")
        self.class_name = widgets.Text(placeholder="class name, e.g. cat", layout=widgets.Layout(width="160px"))
        self.class_name.add_class("tw-data-class")
        self.image_upload = widgets.FileUpload(accept="image/*", multiple=True, description="Add pictures")
        self.image_upload.add_class("tw-data-images")
        self.clear_images = widgets.Button(description="Clear pictures", icon="trash", layout=widgets.Layout(width="140px"))
        self.clear_images.add_class("tw-data-clear")
        self.pending = widgets.HTML()
        self.pending.add_class("tw-data-pending")
        self.text_column = widgets.Dropdown(options=[])
        self.text_column.add_class("tw-data-text-column")
        self.label_column = widgets.Dropdown(options=[])
        self.label_column.add_class("tw-data-label-column")
        self.validation = widgets.FloatSlider(0.2, min=0.05, max=0.95, step=0.05, continuous_update=False)
        self.validation.add_class("tw-data-validation")
        self.seed = widgets.IntText(0, layout=widgets.Layout(width="110px"))
        self.seed.add_class("tw-data-seed")
        self.batch_size = widgets.IntText(32, layout=widgets.Layout(width="110px"))  # the session checks it
        self.batch_size.add_class("tw-data-batch-size")
        self.apply = widgets.Button(description="Use this data", button_style="primary", icon="table")
        self.apply.add_class("tw-data-apply")
        self.code = widgets.HTML()
        self.code.add_class("tw-data-code")
        self.summary = widgets.HTML()
        self.summary.add_class("tw-data-summary")
        self.chart = widgets.HTML()
        self.chart.add_class("tw-class-balance")
        self.sample = widgets.HTML()
        self.sample.add_class("tw-data-sample")
        # Folded by default: a page of examples would stand between the model and the training.
        self.sample_box = widgets.Accordion([self.sample], titles=("Examples",), selected_index=None)
        self.sample_box.add_class("tw-data-sample-box")
        self._frame, self._upload_name = None, None  # the uploaded CSV, until it is used
        self._pictures = {}  # class name -> [(file name, bytes)], until they are used
        self._applying = False
        self.rows = {
            "count": labelled("Examples (0 = all)", self.count, "130px"),
            "path": labelled("Path", self.path),
            "csv": self.csv_upload,
            "pictures": widgets.VBox([widgets.HBox([self.class_name, self.image_upload]),
                                      widgets.HBox([self.pending, self.clear_images])]),
            "columns": widgets.VBox([labelled("Text column", self.text_column), labelled("Label column", self.label_column)]),
        }
        super().__init__(session, [
            labelled("Source", self.source), *self.rows.values(),
            labelled("Validation", self.validation), labelled("Seed", self.seed), labelled("Batch size", self.batch_size),
            self.apply, self.code, self.summary, self.chart, self.sample_box,
        ])
        self.source.observe(self._source_changed, names="value")
        self.path.observe(lambda _: self.attempt(self._read_path_columns), names="value")
        self.csv_upload.observe(self._csv_uploaded, names="value")
        self.image_upload.observe(self._pictures_uploaded, names="value")
        self.clear_images.on_click(lambda _: self._clear_pictures())
        self.apply.on_click(lambda _: self.attempt(self.use))
        session.observe(self._data_changed, names=["train_data"])
        self.bind(self.batch_size, ["batch_size"], lambda: session.batch_size, session.set_batch_size)
        # The split the session's data was made with; Use this data sends the next one.
        self.bind(self.validation, ["data_settings"],
                  lambda: session.data_settings.get("validation") or self.validation.value)
        self.bind(self.seed, ["data_settings"], lambda: session.data_settings.get("seed", self.seed.value))
        session.observe(lambda c: setattr(self.apply, "disabled", c["new"]), names=["training"])
        self._show_fields()
        self._show_pending()
        self._show()

    # ---- choosing ------------------------------------------------------------------------------

    def use(self):
        """Hand the chosen data to the session: one `session.set_data(...)` call."""
        data, options, hint = self._chosen()
        self._applying = True
        try:
            self.session.set_data(data, validation=self.validation.value, seed=self.seed.value,
                                  batch_size=self.batch_size.value, **options)
        finally:
            self._applying = False
        arguments = [hint, *(f"{k}={v!r}" for k, v in options.items()),
                     f"validation={self.validation.value:g}", f"seed={self.seed.value}", f"batch_size={self.batch_size.value}"]
        self.code.value = f"<code style='font-size:11px'>session.set_data({html.escape(', '.join(arguments))})</code>"
        if self.source.value == UPLOAD_IMAGES:
            self._pictures = {}
            self._show_pending()
        return self.session

    def _chosen(self):
        """(data, set_data options, the data as code) for the current source; raises what to fix."""
        choice = self.source.value
        if choice == KEEP:
            raise ConfigError("Choose where the data comes from: a shipped set, a path, or an upload.")
        if choice in SHIPPED:
            loader, name, _ = SHIPPED[choice]
            n = self.count.value or None
            return loader(n=n, seed=self.seed.value), {}, f"{name}({f'n={n}, ' if n else ''}seed={self.seed.value})"
        if choice == FROM_PATH:
            path = self.path.value.strip()
            if not path:
                raise ConfigError("Type the path of a CSV file or of an image folder (one subfolder per class) first.")
            is_csv = Path(path).suffix.lower() == ".csv"
            return path, self._columns() if is_csv else {}, repr(path)
        if choice == UPLOAD_CSV:
            if self._frame is None:
                raise ConfigError("Choose a CSV file to upload first (Choose CSV).")
            return self._frame, self._columns(), f"tw.read_csv({self._upload_name!r})"
        if len(self._pictures) < 2:
            have = f"Only class {next(iter(self._pictures))!r} has pictures" if self._pictures else "There are no pictures yet"
            raise ConfigError(f"{have}: name a class and add its pictures, for at least two classes.")
        shown = ", ".join(f"{name!r}: [{len(items)} pictures]" for name, items in self._pictures.items())
        return read_images(self._pictures), {}, f"tw.read_images({{{shown}}})"

    def _columns(self):
        if not self.text_column.options:
            raise DataError("The CSV has no columns to choose from: check the file.")
        if self.text_column.value == self.label_column.value:
            raise ConfigError(f"The text and the label come from one column ({self.text_column.value!r}): choose two.")
        return {"text_column": self.text_column.value, "label_column": self.label_column.value}

    def _source_changed(self, change):
        if change["new"] in SHIPPED:
            self.count.value = SHIPPED[change["new"]][2]
        if change["new"] == FROM_PATH:
            self.attempt(self._read_path_columns)
        self._show_fields()

    def _show_fields(self):
        """Show only what applies to the chosen source."""
        choice = self.source.value
        csv = choice == UPLOAD_CSV or (choice == FROM_PATH and self.path.value.strip().lower().endswith(".csv"))
        visible = {"count": choice in SHIPPED, "path": choice == FROM_PATH, "csv": choice == UPLOAD_CSV,
                   "pictures": choice == UPLOAD_IMAGES, "columns": csv}
        for name, row in self.rows.items():
            row.layout.display = "" if visible[name] else "none"

    # ---- CSV ------------------------------------------------------------------------------------

    def _read_path_columns(self):
        path = self.path.value.strip()
        if path.lower().endswith(".csv"):
            self._offer_columns(readers.read_csv(path))
        self._show_fields()

    def _csv_uploaded(self, change):
        if not change["new"]:
            return
        upload = change["new"][0]
        self._frame, self._upload_name = None, upload["name"]
        self._frame = self.attempt(readers.read_csv, upload["content"], name=upload["name"])
        if self._frame is not None:
            self._offer_columns(self._frame)

    def _offer_columns(self, frame):
        """Offer the CSV's columns; preselect a known text/label name, else the first text-like column."""
        from pandas.api.types import is_numeric_dtype

        columns = [str(c) for c in frame.columns]
        text = next((c for c in TEXT_COLUMNS if c in columns), None) or next(
            (c for c in columns if not is_numeric_dtype(frame[c])), columns[0])
        label = next((c for c in LABEL_COLUMNS if c in columns and c != text), None) or next(c for c in columns if c != text)
        self.text_column.options, self.label_column.options = columns, columns
        self.text_column.value, self.label_column.value = text, label

    # ---- pictures by class ---------------------------------------------------------------------

    def _pictures_uploaded(self, change):
        if not change["new"]:
            return
        uploads = [(item["name"], item["content"].tobytes() if hasattr(item["content"], "tobytes") else bytes(item["content"]))
                   for item in change["new"]]
        self.image_upload.value = ()  # ready for the next class
        self.attempt(self.add_pictures, self.class_name.value, uploads)

    def add_pictures(self, class_name, pictures):
        """Add pictures ((file name, bytes) pairs) to a class, checking each one reads as an image."""
        name = class_name.strip()
        if not name:
            raise ConfigError("Name the class first (e.g. cat), then add its pictures.")
        readers.decode_images({name: pictures})  # an unreadable picture is refused now, by name
        self._pictures[name] = [*self._pictures.get(name, []), *pictures]
        self._show_pending()

    def _clear_pictures(self):
        self._pictures = {}
        self._show_pending()

    def _show_pending(self):
        if not self._pictures:
            self.pending.value = "<i>No pictures yet: name a class, add its pictures, then the next class.</i>"
            return
        self.pending.value = "Waiting to be used: " + " · ".join(
            f"<b>{html.escape(name)}</b> {len(items)}" for name, items in self._pictures.items())

    # ---- following the session -----------------------------------------------------------------

    def _data_changed(self, change):
        if not self._applying:  # set from a cell: the source is the session's data, not a choice here
            self.source.value = KEEP
            self.code.value = ""
        self._show()

    def _show(self):
        train, held = self.session.train_data, self.session.validation_data
        if train is None:
            self.summary.value = ("<i>No data yet: choose a source above (a shipped set, a path or an upload) "
                                  "and click Use this data.</i>")
            self.chart.value = self.sample.value = ""
            return
        if train.class_names is None:  # regression targets
            self._show_targets(train, held)
            return
        held_counts = held.class_counts if held is not None else np.zeros(len(train.class_names), int)
        total = len(train) + (len(held) if held is not None else 0)
        self.summary.value = (f"<b>{total}</b> {train.kind} examples · <b>{len(train.class_names)}</b> classes · "
                              f"{len(train)} train + {total - len(train)} validation")
        counts = train.class_counts + held_counts
        note = ""
        if counts.min() and counts.max() / counts.min() > IMBALANCE:
            note = (f"<div class='tw-imbalance' style='color:#8a5300'>Unbalanced: {counts.max()} against {counts.min()} "
                    "examples. Accuracy can look good while a small class is missed: read its recall in the evaluation.</div>")
        self.chart.value = bar_chart(list(train.class_names), [train.class_counts.tolist(), held_counts.tolist()],
                                     legend=("train", "validation")) + note
        self.sample.value = sample_html(train)

    def _show_targets(self, train, held):
        """Regression data: how the targets spread (a bar per value, or per range) instead of classes."""
        held_values = held.labels if held is not None else np.zeros(0, "float32")
        values = np.concatenate([train.labels, held_values])
        self.summary.value = (f"<b>{len(values)}</b> {train.kind} examples · regression targets from "
                              f"{values.min():g} to {values.max():g} (mean {values.mean():.3g}) · "
                              f"{len(train)} train + {len(held_values)} validation")
        levels = np.unique(values)
        if len(levels) <= SAMPLE_CLASSES:
            names = [f"{level:g}" for level in levels]
            parts = [[int(np.sum(part == level)) for level in levels] for part in (train.labels, held_values)]
        else:
            edges = np.histogram_bin_edges(values, bins=SAMPLE_CLASSES)
            names = [f"{low:.3g} to {high:.3g}" for low, high in zip(edges[:-1], edges[1:])]
            parts = [np.histogram(part, edges)[0].tolist() for part in (train.labels, held_values)]
        self.chart.value = bar_chart(names, parts, legend=("train", "validation"))
        rows = "".join(f"<tr><td><b>{train.labels[i]:g}</b></td><td>{example_html(train.examples[i], size=56, chars=140)}</td></tr>"
                       for i in range(min(len(train), SAMPLE_PER_CLASS * 2)))
        self.sample.value = f"<b>A sample</b><table class='tw-sample-table'>{rows}</table>"


def sample_html(data):
    """A few examples of each class (the first classes only when there are many)."""
    cells = []
    for label, name in enumerate(data.class_names[:SAMPLE_CLASSES]):
        indices = np.flatnonzero(data.labels == label)[:SAMPLE_PER_CLASS]
        if data.kind == "image":
            pictures = "".join(f'<span style="margin-right:3px">{example_html(data.examples[i], size=56)}</span>'
                               for i in indices)
            cells.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{pictures}</td></tr>")
        else:
            shown = [data.examples[i] if data.kind == "text" else np.array2string(data.examples[i], threshold=6)
                     for i in indices]
            cells += [f"<tr><td><b>{html.escape(name)}</b></td><td>{example_html(text, chars=140)}</td></tr>"
                      for text in shown]
    more = len(data.class_names) - SAMPLE_CLASSES
    tail = f"<div style='font-size:11px;opacity:.7'>and {more} more classes</div>" if more > 0 else ""
    return f"<b>A sample</b><table class='tw-sample-table'>{''.join(cells)}</table>{tail}"
