"""The input widgets of record forms: a registry keyed by input kind, each kind a template.

A field type names its widget with ``input_kind``; the form draws the template
``widgets/<kind>.html`` with ``fv`` (a ``runtime.web.forms.FieldView``) in scope. An
app overrides a widget by putting its own ``templates/widgets/<kind>.html`` in its
folder: the app's templates are searched before the built-in ones
(``runtime.web.templating.template_loader``). The kinds are listed in
docs/field-types.md#widgets; a test fails when one is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Widget:
    """One input kind and the template that draws it."""

    kind: str
    description: str
    wide: bool = False  # spans every column of a form section

    @property
    def template(self) -> str:
        return f"widgets/{self.kind}.html"


class WidgetRegistry(Mapping[str, Widget]):
    """Widgets by input kind; an unknown kind is drawn by the ``text`` widget."""

    fallback = "text"

    def __init__(self, widgets: Iterable[Widget] = ()):
        self._widgets: dict[str, Widget] = {}
        for widget in widgets:
            self.register(widget)

    def register(self, widget: Widget) -> Widget:
        if widget.kind in self._widgets:
            raise ValueError(f"widget kind {widget.kind!r} is already registered")
        self._widgets[widget.kind] = widget
        return widget

    def template_for(self, kind: str) -> str:
        return (self._widgets.get(kind) or self._widgets[self.fallback]).template

    def __getitem__(self, kind: str) -> Widget:
        return self._widgets[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._widgets)

    def __len__(self) -> int:
        return len(self._widgets)


BUILTIN_WIDGETS: tuple[Widget, ...] = (
    Widget("text", "a one-line text input"),
    Widget("textarea", "a multi-line text input that grows with its content", wide=True),
    Widget("richtext", "a small formatting editor over a sanitised HTML source", wide=True),
    Widget("number", "a number input grouped while typing (whole numbers or decimals)"),
    Widget("percent", "a native number input with a % suffix, 0 to 100 unless bounded"),
    Widget("money", "an amount input with its currency (a picker when several are allowed)"),
    Widget("checkbox", "one checkbox, sent as 0 when unticked"),
    Widget("date", "a native date picker"),
    Widget("datetime-local", "a native date-and-time picker, read in the user's time zone"),
    Widget("select", "a drop-down of the field's options"),
    Widget(
        "multiselect", "option chips, or a multiple select when there are many options", wide=True
    ),
    Widget("link-picker", "a search-as-you-type picker of records of the target entity"),
    Widget("user-picker", "a search-as-you-type picker of users"),
    Widget("email", "an e-mail input"),
    Widget("tel", "a phone number input"),
    Widget("url", "a URL input"),
    Widget("readonly", "the display text of a value users never write"),
    Widget("child-table", "an editable table of rows with add and remove buttons", wide=True),
)

WIDGETS: WidgetRegistry = WidgetRegistry(BUILTIN_WIDGETS)


def widget_template(kind: str) -> str:
    """The template that draws input kind ``kind`` (``widgets/<kind>.html``)."""
    return WIDGETS.template_for(kind)
