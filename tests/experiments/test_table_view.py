"""The experiments table's view model against the rules the lab panel's table.ts is held to as well.

``table_rules.json`` holds rows as ``GET experiments`` sends them and, per sort/filter/collapse case,
the order every front end must draw; ``labextension/test/table.test.ts`` reads the same file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from jupyter_exp.experiments.table import ExpRow, ExpTable, TableView, format_value

RULES = json.loads((Path(__file__).with_name("table_rules.json")).read_text(encoding="utf-8"))
GLYPH = re.compile(r"^[\s│├└─╓╟╨]+")


def exp_row(data: dict[str, Any]) -> ExpRow:
    """A row back from its ``to_json()`` shape (the Experiment column split into tree glyph and label)."""
    label = GLYPH.sub("", data["experiment"])
    return ExpRow(
        rev=data["rev"], name=data["name"], kind=data["kind"], baseline=data["baseline"], parent=data["parent"],
        created=datetime.fromisoformat(data["created"]) if data["created"] else None, params=data["params"],
        metrics=data["metrics"], glyph=data["experiment"][: len(data["experiment"]) - len(label)], label=label,
        checkpoint_tip=data["checkpoint_tip"], error=data["error"], best_of=data["best_of"],
        running=data["running"],
    )


@pytest.fixture(scope="module")
def view() -> TableView:
    table = ExpTable([exp_row(data) for data in RULES["rows"]])
    assert json.loads(table.to_json()) == RULES["rows"]  # the fixture is what the server sends
    return table.view()


def test_columns_best_values_and_cell_text(view: TableView) -> None:
    assert [{"id": c["id"], "label": c["label"]} for c in view.columns] == RULES["columns"]
    assert view.best() == RULES["best"]
    texts = [{"rev": rec["rev"], "texts": {c["id"]: format_value(rec["values"].get(c["id"]))
                                           for c in view.columns if c["kind"] != "info"}} for rec in view.rows]
    assert texts == RULES["cells"]


@pytest.mark.parametrize("case", RULES["cases"], ids=[case["why"] for case in RULES["cases"]])
def test_rows_in_the_order_every_front_end_draws(view: TableView, case: dict[str, Any]) -> None:
    sort = case["sort"] or {"column": "", "descending": False}
    shown = view.visible_rows(sort_by=sort["column"], sort_desc=sort["descending"], filter_text=case["filter"],
                              collapsed=case["collapsed"])
    assert [rec["rev"] for rec in shown] == case["order"]


def test_objectives_override_which_way_is_best(view: TableView) -> None:
    best = view.best({"loss": "max", "metrics:metrics.json:acc": "min"})
    assert best["metrics:metrics.json:loss"] == 0.95 and best["metrics:metrics.json:acc"] == 0.31
    assert best["metrics:eval/metrics.json:loss"] == 0.55  # "loss" names the key in every file


def test_only_changed_hides_params_equal_everywhere() -> None:
    rows = [exp_row(data) for data in RULES["rows"]]
    for row in rows:
        row.params["params.yaml"]["fixed"] = 1
    view = ExpTable(rows).view()
    ids = [c["id"] for c in view.columns]
    assert "params:params.yaml:fixed" in [c["id"] for c in view.shown_columns(ids)]
    assert "params:params.yaml:fixed" not in [c["id"] for c in view.shown_columns(ids, only_changed=True)]
    assert "params:params.yaml:lr" in [c["id"] for c in view.shown_columns(ids, only_changed=True)]
