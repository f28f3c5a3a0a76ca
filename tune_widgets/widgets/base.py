"""What every panel shares: a title, an inline error line, a guarded way to call the session,
and the binding of a field to the session value it shows."""

import html
import math
import numbers

import ipywidgets as widgets

from ..errors import TuneWidgetsError


class Panel(widgets.VBox):
    """A titled box over a session. `attempt` runs a session call and shows its error inline.

    A shown error lasts only while it is true: the next successful `attempt` clears it, and so
    does a change of the session traits it was about (`clear_error_when`). `bindings`: every
    field bound to a session value (`bind`).
    """

    title = "Panel"
    css_class = "tw-panel"

    def __init__(self, session, children, **kwargs):
        self.session, self.bindings = session, []
        self.error = widgets.HTML("", layout=widgets.Layout(min_height="0"))
        self.error.add_class("tw-error")
        heading = widgets.HTML(f"<b>{html.escape(self.title)}</b>")
        super().__init__([heading, *children, self.error], **kwargs)
        self.add_class("tw-panel")
        self.add_class(self.css_class)

    def attempt(self, action, *args, **kwargs):
        """Call `action`; on a TuneWidgetsError show its message and return None."""
        try:
            result = action(*args, **kwargs)
        except TuneWidgetsError as error:
            self.show_error(str(error))
            return None
        self.show_error("")
        return result

    def bind(self, widget, names, read, write=None):
        """Bind `widget` to the session value `read()` returns, both ways (see `Binding`): it
        follows the session's traits `names`, and its changes go to `write(value)`."""
        binding = Binding(self, widget, read, write)
        self.bindings.append(binding)
        self.session.observe(binding.show, names=list(names))
        if write is not None:
            widget.observe(binding.send, names="value")
        binding.show()
        return binding

    def clear_error_when(self, *names):
        """Clear the error when one of the session's traits `names` changes: the message was
        about the state before (a fit that has ended is no longer "running")."""
        self.session.observe(lambda change: self.show_error(""), names=list(names))

    def show_error(self, message):
        self.error.value = (
            f'<div style="color:#b00020;white-space:pre-wrap" role="alert">⚠ {html.escape(message)}</div>'
            if message else ""
        )

    @property
    def error_text(self):
        """The message shown, as plain text ('' when none)."""
        return html.unescape(self.error.value.split("⚠ ", 1)[1].rsplit("</div>", 1)[0]) if self.error.value else ""


class Binding:
    """A field and the session value it shows: the session is the one source of truth.

    `show` puts the session's value in the field, whoever changed it (a cell, another panel,
    a refusal); the field's bounds widen to hold it, since ipywidgets would clamp it and send
    the clamped value back. `send` calls `write` with the field's new value; accepted or
    refused (the message then shows), the field shows the session's value after. Without
    `write` the field is an argument of the panel's action (Use this data), which sends it.
    """

    def __init__(self, panel, widget, read, write):
        self.panel, self.widget, self.read, self.write, self.showing = panel, widget, read, write, False

    def show(self, change=None):
        self.showing = True  # the field changes here only to follow the session: nothing to send
        try:
            value = self.read()
            _widen(self.widget, value)
            self.widget.value = value
        finally:
            self.showing = False

    def send(self, change):
        if self.showing:
            return
        try:
            self.write(change["new"])
        except TuneWidgetsError as error:
            self.panel.show_error(str(error))
        else:
            self.panel.show_error("")
        self.show()


def _widen(widget, value):
    """Let a bounded widget hold `value` (a log slider's bounds are whole exponents)."""
    if not hasattr(widget, "max") or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return
    if isinstance(widget, widgets.FloatLogSlider):
        exponent = math.log(value, widget.base)
        widget.max, widget.min = max(widget.max, math.ceil(exponent)), min(widget.min, math.floor(exponent))
    else:
        widget.max, widget.min = max(widget.max, value), min(widget.min, value)


def labelled(description, widget, width="110px"):
    """`widget` after its label, `width` wide so that stacked rows line up; a label that needs more
    (a narrow column, a large font) takes it rather than being cut."""
    label = widgets.Label(description, layout=widgets.Layout(width="auto", min_width=width, flex="0 0 auto"))
    return widgets.HBox([label, widget])
