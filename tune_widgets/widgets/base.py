"""What every panel shares: a title, an inline error line, and a guarded way to call the session."""

import html

import ipywidgets as widgets

from ..errors import TuneWidgetsError


class Panel(widgets.VBox):
    """A titled box over a session. `attempt` runs a session call and shows its error inline.

    A shown error lasts only while it is true: the next successful `attempt` clears it, and so
    does a change of the session traits it was about (`clear_error_when`).
    """

    title = "Panel"
    css_class = "tw-panel"

    def __init__(self, session, children, **kwargs):
        self.session = session
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


def labelled(description, widget, width="110px"):
    return widgets.HBox([widgets.Label(description, layout=widgets.Layout(width=width)), widget])
