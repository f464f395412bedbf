"""The one plugin loader (``trading.plugins``): names, overrides from the caller, dotted paths, and the
checks that refuse what is not a plugin of the kind. It imports nothing of the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trading.plugins import PluginKind, UnknownPlugin

ROOT = Path(__file__).resolve().parent.parent.parent


class Widget:
    """The base class of a made-up plugin kind."""


class Gear(Widget):
    pass


class Sprocket(Widget):
    pass


class NotAWidget:
    pass


class UnknownWidget(UnknownPlugin):
    pass


HERE = __name__
WIDGETS = PluginKind("widget", Widget, {"gear": f"{HERE}.Gear"}, UnknownWidget)


def test_names_are_case_insensitive_and_overrides_add_or_replace():
    assert WIDGETS.load("gear") is Gear and WIDGETS.load(" GEAR ") is Gear
    extra = {"Sprocket": f"{HERE}.Sprocket"}
    assert WIDGETS.load("sprocket", extra) is Sprocket
    assert WIDGETS.names(extra) == ["gear", "sprocket"]
    assert WIDGETS.load("gear", {"gear": f"{HERE}.Sprocket"}) is Sprocket  # the caller's entry wins
    assert WIDGETS.load("gear") is Gear  # and the built-in table is untouched
    assert WIDGETS.names() == ["gear"]


def test_dotted_paths_load_directly():
    assert WIDGETS.load(f"{HERE}.Sprocket") is Sprocket


def test_what_is_not_a_plugin_is_refused_with_the_kinds_error():
    with pytest.raises(UnknownWidget, match="unknown widget 'cog': expected one of gear, sprocket"):
        WIDGETS.load("cog", {"sprocket": f"{HERE}.Sprocket"})
    with pytest.raises(UnknownWidget, match="is not a Widget"):
        WIDGETS.load(f"{HERE}.NotAWidget")
    with pytest.raises(UnknownWidget, match="is not a Widget"):
        WIDGETS.load(f"{HERE}.HERE")  # a module attribute that is not a class
    with pytest.raises(UnknownWidget, match="No module named"):
        WIDGETS.load("no_such_package.Gear")
    with pytest.raises(UnknownWidget, match="has no attribute"):
        WIDGETS.load(f"{HERE}.Cog")
    with pytest.raises(LookupError):  # callers may catch the generic form
        WIDGETS.load("cog")
    with pytest.raises(UnknownWidget, match="is not a Widget"):
        WIDGETS.load("bad", {"bad": f"{HERE}.NotAWidget"})


def test_the_loader_is_a_leaf():
    probe = (
        "import sys\nimport trading.plugins\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith(('trading.', 'django.'))))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['trading.plugins']"
