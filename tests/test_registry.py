"""The registry helper every name -> entry table uses: datasets, models, executors."""

from __future__ import annotations

import sys

import pytest

from redundancy.errors import RedundancyError
from redundancy.registry import Registry, did_you_mean, load_target


def test_a_lazy_builtin_loads_when_first_asked_for_and_listing_imports_nothing() -> None:
    sys.modules.pop("colorsys", None)
    table: Registry[object] = Registry("thing", {"hsv": "colorsys:rgb_to_hsv"}, load=load_target)
    assert list(table) == ["hsv"] and "colorsys" not in sys.modules
    import colorsys

    assert table["hsv"] is colorsys.rgb_to_hsv


def test_additions_come_after_builtins_and_may_not_replace_one() -> None:
    table: Registry[int] = Registry("thing", {"one": 1})
    table["two"] = 2
    assert list(table) == ["one", "two"] and len(table) == 2 and table.lookup("two") == 2
    with pytest.raises(ValueError, match="thing 'one' is built in; a plugin needs another name"):
        table["one"] = 3
    del table["two"]
    assert "two" not in table


def test_plugins_are_looked_up_only_for_names_the_table_lacks() -> None:
    asked: list[str] = []

    def plugin(name: str) -> int:
        asked.append(name)
        if name == "broken:thing":
            raise RedundancyError("thing 'broken:thing': cannot import module 'broken'")
        if name == "extra":
            return 7
        raise KeyError(name)

    table: Registry[int] = Registry("thing", {"alpha": 1}, plugin=plugin, installed=lambda: ["extra", "alpha"])
    assert table.lookup("alpha") == 1 and asked == []
    assert table.names() == ["alpha", "extra"]
    lookups = table.lookups()
    assert "extra" in lookups and lookups["extra"] == 7
    assert lookups.problem("broken:thing") == "thing 'broken:thing': cannot import module 'broken'"
    assert lookups.problem("alpah") == "unknown thing 'alpah'; did you mean 'alpha'? (expected one of: alpha, extra, or an import path 'package.module:function')"
    assert lookups.problem("alpah") is lookups.problem("alpah") and asked.count("alpah") == 1  # answered once per pass
    assert table.suggest("pkg:alpah") == ""  # an import path is never a misspelt name


def test_did_you_mean_names_the_closest_option_or_nothing() -> None:
    assert did_you_mean("lenet_300", ["lenet_300_100", "mlp"]) == "; did you mean 'lenet_300_100'?"
    assert did_you_mean("zzz", ["lenet_300_100", "mlp"]) == ""
