"""The live logger's files, as a training script and DVC 2.0's `live:` stage see them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jupyter_exp.live as live_api
from jupyter_exp.errors import LiveError
from jupyter_exp.live import Live, read_tsv


def lines(path: str | Path) -> list[list[str]]:
    return [line.split("\t") for line in Path(path).read_text().splitlines()]


def test_release_layout_headers_and_summary() -> None:
    before = int(time.time() * 1000)
    with Live("logs") as live:
        for i in range(3):
            live.log_metric("loss", 1.0 / (i + 1))
            live.log_metric("train/acc", i * 10)
            live.next_step()
    after = int(time.time() * 1000)

    rows = lines("logs/loss.tsv")
    assert rows[0] == ["timestamp", "step", "loss"]
    assert [r[1:] for r in rows[1:]] == [["0", "1.0"], ["1", "0.5"], ["2", "0.3333333333333333"]]
    assert all(before <= int(r[0]) <= after for r in rows[1:])
    assert lines("logs/train/acc.tsv")[0] == ["timestamp", "step", "acc"]
    assert [r[2] for r in lines("logs/train/acc.tsv")[1:]] == ["0", "10", "20"]
    assert json.loads(Path("logs.json").read_text()) == {"step": 2, "loss": 1.0 / 3, "train": {"acc": 20}}
    assert Path("logs.html").is_file()
    assert live.summary == {"step": 2, "loss": 1.0 / 3, "train": {"acc": 20}}


def test_summary_keeps_last_value_of_metrics_not_logged_every_step() -> None:
    with Live("logs", html=False) as live:
        live.log_metric("val/loss", 0.9)
        live.log_metric("train/loss", 1.0)
        live.next_step()
        live.log_metric("train/loss", 0.5)
        live.next_step()
    assert json.loads(Path("logs.json").read_text()) == {"step": 1, "val": {"loss": 0.9}, "train": {"loss": 0.5}}


def test_non_finite_values_round_trip() -> None:
    with Live("logs", html=False) as live:
        for value in (float("nan"), float("inf"), float("-inf"), 2.5):
            live.log_metric("m", value)
            live.next_step()
    assert [r[2] for r in lines("logs/m.tsv")[1:]] == ["nan", "inf", "-inf", "2.5"]
    values = [row.value for row in read_tsv("logs/m.tsv")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 2.5]
    assert [row.step for row in read_tsv("logs/m.tsv")] == [0, 1, 2, 3]


def test_numpy_scalars_and_zero_d_arrays_are_accepted() -> None:
    import numpy as np
    with Live("logs", html=False) as live:
        live.log_metric("f32", np.float32(0.5))
        live.log_metric("i64", np.int64(7))
        live.log_metric("arr", np.array(1.25))
        live.log_metric("f64", np.float64(0.1))
    assert lines("logs/f32.tsv")[1][2] == "0.5"
    assert lines("logs/i64.tsv")[1][2] == "7"
    assert lines("logs/arr.tsv")[1][2] == "1.25"
    assert lines("logs/f64.tsv")[1][2] == "0.1"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0.5", "str"), (None, "NoneType"), (1 + 2j, "complex"), ([1.0], "list"), (True, "bool")],
)
def test_non_numbers_are_refused_naming_metric_and_type(value: object, fragment: str) -> None:
    with Live("logs", html=False) as live, pytest.raises(LiveError) as err:
        live.log_metric("train/loss", value)
    assert "'train/loss'" in str(err.value) and fragment in str(err.value)


def test_multi_element_array_is_refused() -> None:
    import numpy as np
    with Live("logs", html=False) as live, pytest.raises(LiveError, match=r"'acc'.*ndarray.*not a scalar"):
        live.log_metric("acc", np.array([0.1, 0.2]))


@pytest.mark.parametrize(
    ("first", "second"), [("train", "train/loss"), ("train/loss", "train"), ("a/b", "a/b/c")]
)
def test_a_name_cannot_be_both_metric_and_group(first: str, second: str) -> None:
    with Live("logs", html=False) as live:
        live.log_metric(first, 1.0)
        with pytest.raises(LiveError, match="conflicts"):
            live.log_metric(second, 1.0)


@pytest.mark.parametrize("name", ["", "a//b", "../x", "/abs", "step", "a\tb"])
def test_bad_metric_names(name: str) -> None:
    with Live("logs", html=False) as live, pytest.raises(LiveError):
        live.log_metric(name, 1.0)


def test_new_run_removes_its_old_outputs_but_keeps_other_files() -> None:
    with Live("logs") as live:
        live.log_metric("train/loss", 1.0)
        live.log_metric("old", 1.0)
        live.log_param("lr", 0.1)
        live.next_step()
    Path("logs/model.pt").write_bytes(b"weights")
    Path("logs/notes").mkdir()
    Path("logs/notes/readme.txt").write_text("keep")

    with Live("logs") as live:
        live.log_metric("new", 2.0)
        live.next_step()
    assert not Path("logs/old.tsv").exists() and not Path("logs/train").exists()
    assert not Path("logs/params.yaml").exists()
    assert Path("logs/model.pt").read_bytes() == b"weights"
    assert Path("logs/notes/readme.txt").read_text() == "keep"
    assert json.loads(Path("logs.json").read_text()) == {"step": 0, "new": 2.0}


def test_resume_continues_after_the_summary_step() -> None:
    with Live("logs") as live:
        live.log_params({"lr": 0.1})
        for i in range(3):
            live.log_metric("loss", float(i))
            live.log_metric("val/acc", 0.5)
            live.next_step()
    with Live("logs", resume=True) as live:
        assert live.step == 3
        live.log_metric("loss", 3.0)
        live.log_param("epochs", 4)
        live.next_step()
    assert [row.step for row in read_tsv("logs/loss.tsv")] == [0, 1, 2, 3]
    assert lines("logs/loss.tsv")[0] == ["timestamp", "step", "loss"]
    assert json.loads(Path("logs.json").read_text()) == {"step": 3, "loss": 3.0, "val": {"acc": 0.5}}
    assert Path("logs/params.yaml").read_text() == "lr: 0.1\nepochs: 4\n"
    assert "loss" in Path("logs.html").read_text()


def test_resume_without_summary_uses_last_tsv_step_and_drops_a_torn_row() -> None:
    with Live("logs", summary=False, html=False) as live:
        for i in range(5):
            live.log_metric("loss", float(i))
            live.next_step()
    assert not Path("logs.json").exists()
    with open("logs/loss.tsv", "a") as fobj:
        fobj.write("17000000\t5\t0.12")  # killed mid-row
    with Live("logs", summary=False, html=False, resume=True) as live:
        assert live.step == 5
        live.log_metric("loss", 5.0)
    assert [(r.step, r.value) for r in read_tsv("logs/loss.tsv")][-2:] == [(4, 4.0), (5, 5.0)]


def test_resume_of_a_missing_run_starts_at_zero() -> None:
    with Live("fresh", resume=True) as live:
        assert live.step == 0


def test_explicit_step_and_step_setter() -> None:
    with Live("logs", html=False) as live:
        live.log_metric("m", 1.0, step=10)
        live.next_step()
        assert live.step == 11
        live.step = 62
        live.log_metric("m", 2.0)
        with pytest.raises(LiveError):
            live.step = -1
        with pytest.raises(LiveError):
            live.step = 1.5  # type: ignore[assignment]
    assert [row.step for row in read_tsv("logs/m.tsv")] == [10, 62]
    assert json.loads(Path("logs.json").read_text())["step"] == 62


def test_params_yaml() -> None:
    import yaml
    with Live("logs", html=False) as live:
        live.log_param("lr", 0.01)
        live.log_params({"layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}, "flag": True})
        with pytest.raises(LiveError, match="'bad'.*object"):
            live.log_param("bad", object())
    assert yaml.safe_load(Path("logs/params.yaml").read_text()) == {
        "lr": 0.01,
        "layers": [64, 32],
        "opt": {"name": "adam", "beta": 0.9},
        "flag": True,
    }


def test_environment_configures_and_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVCLIVE_PATH", "envlogs")
    monkeypatch.setenv("DVCLIVE_SUMMARY", "false")
    monkeypatch.setenv("DVCLIVE_REPORT", "0")
    with Live() as live:
        live.log_metric("m", 1.0)
        live.next_step()
    assert Path("envlogs/m.tsv").is_file()
    assert not Path("envlogs.json").exists() and not Path("envlogs.html").exists()

    monkeypatch.setenv("DVCLIVE_HTML", "1")  # DVCLIVE_HTML is the DVC 2.0 name and takes precedence
    monkeypatch.setenv("DVCLIVE_RESUME", "true")
    with Live("explicit", summary=True) as live:
        live.log_metric("m", 1.0)
    assert Path("explicit.json").is_file() and Path("explicit.html").is_file()
    with Live(resume=False, html=False) as live:
        assert live.dir == "envlogs" and live.step == 0


def test_invalid_environment_boolean_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVCLIVE_RESUME", "maybe")
    with pytest.raises(LiveError, match="DVCLIVE_RESUME"):
        Live("logs")


def test_report_and_html_keywords() -> None:
    with Live("a", report=None) as live:
        live.log_metric("m", 1.0)
    assert not Path("a.html").exists()
    with pytest.raises(LiveError, match="disagree"):
        Live("b", html=True, report=False)
    with pytest.raises(LiveError, match="not supported"):
        Live("c", report="md")


def test_logging_after_end_is_an_error() -> None:
    live = Live("logs", html=False)
    live.end()
    live.end()  # idempotent
    with pytest.raises(LiveError, match="ended"):
        live.log_metric("m", 1.0)


def test_rows_and_summary_are_current_when_the_calls_return() -> None:
    live = Live("logs", html=False)
    live.log_metric("m", 0.123456789)
    assert [r.value for r in read_tsv("logs/m.tsv")] == [0.123456789]  # log returned: the row is there
    live.next_step()
    assert json.loads(Path("logs.json").read_text()) == {"step": 0, "m": 0.123456789}
    live.log_metric("m", 0.5)  # a shorter summary than the last one, rewritten in place
    live.next_step()
    assert [r.value for r in read_tsv("logs/m.tsv")] == [0.123456789, 0.5]
    assert json.loads(Path("logs.json").read_text()) == {"step": 1, "m": 0.5}
    live.end()
    assert Path("logs.json").read_text() == json.dumps({"step": 1, "m": 0.5}, indent=4)  # exact at the end


def test_a_chdir_during_training_does_not_move_the_files(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    with Live("logs") as live:
        live.log_metric("loss", 1.0)
        os.chdir(tmp_path / "elsewhere")
        live.log_metric("train/acc", 0.5)
        live.log_param("lr", 0.1)
        live.next_step()
        live.flush()
    assert json.loads((tmp_path / "logs.json").read_text()) == {"step": 0, "loss": 1.0, "train": {"acc": 0.5}}
    assert [r.value for r in read_tsv(tmp_path / "logs/train/acc.tsv")] == [0.5]
    assert (tmp_path / "logs/params.yaml").is_file() and (tmp_path / "logs.html").is_file()
    assert os.listdir(tmp_path / "elsewhere") == []
    assert live.dir == "logs" and live.summary_path == str(tmp_path / "logs.json")


KILLED_TRAINING = """
import sys
from jupyter_exp.live import Live
live = Live("logs", html=False)
for step in range(int(sys.argv[1])):
    for name in ("loss", "train/acc", "val/loss"):
        live.log_metric(name, step + 1 / (step + 3))
    live.next_step()
    print(step, flush=True)
live.log_metric("loss", -1.0)  # a row of the step not yet closed
print("logged", flush=True)
sys.stdin.read()  # blocked until killed
"""


@pytest.mark.parametrize("steps", [1, 7, 60])
def test_sigkill_right_after_next_step_loses_no_row(tmp_path: Path, steps: int) -> None:
    training = subprocess.Popen([sys.executable, "-c", KILLED_TRAINING, str(steps)], cwd=tmp_path,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert training.stdout is not None
    seen = [training.stdout.readline().strip() for _ in range(steps + 1)]
    training.kill()
    training.wait()
    assert seen == [*map(str, range(steps)), "logged"]
    expected = [step + 1 / (step + 3) for step in range(steps)]
    for name in ("loss", "train/acc", "val/loss"):
        rows = read_tsv(tmp_path / "logs" / f"{name}.tsv")
        tail = [(-1, -1.0)] if name == "loss" else []
        assert [(r.step, r.value) for r in rows] == [*enumerate(expected), *[(steps, -1.0)][: len(tail)]]
    last = expected[-1]
    summary = json.loads((tmp_path / "logs.json").read_text())
    assert summary == {"step": steps - 1, "loss": last, "train": {"acc": last}, "val": {"loss": last}}


def test_a_failed_summary_write_is_a_live_error_naming_the_file() -> None:
    Path("logs.json").mkdir()  # the summary cannot replace a directory
    live = Live("logs", html=False)
    live.log_metric("m", 1.0)
    with pytest.raises(LiveError, match=r"could not write .*logs\.json"):
        live.next_step()
    Path("logs.json").rmdir()
    live.end()


def test_a_failed_background_report_surfaces_as_live_error() -> None:
    Path("logs.html").mkdir()
    live = Live("logs")
    live.log_metric("m", 1.0)
    live.next_step()
    with pytest.raises(LiveError, match="could not write"):
        live.flush()
    Path("logs.html").rmdir()
    live.end()


def test_module_functions_match_dvclive_0x() -> None:
    live_api.init("logs", html=False)
    live_api.log("loss", 0.5)
    live_api.log("acc", 0.1)
    live_api.log("loss", 0.4)  # same metric again in this step: the next step starts first
    assert live_api.get_step() == 1
    live_api.next_step()
    assert live_api.get_step() == 2
    live_api.init("other", html=False)  # ends the previous default logger
    assert [(r.step, r.value) for r in read_tsv("logs/loss.tsv")] == [(0, 0.5), (1, 0.4)]
    assert json.loads(Path("logs.json").read_text()) == {"step": 1, "loss": 0.4, "acc": 0.1}
    live_api.init("third", html=False).end()


def test_open_runs_are_finished_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "import jupyter_exp.live as dvclive\n"
        "from jupyter_exp.live import Live\n"
        "dvclive.log('loss', 0.25)\n"
        "live = Live('other')\n"
        "live.log_metric('acc', 0.75)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, env={**os.environ, "DVCLIVE_PATH": "logs"})
    assert json.loads((tmp_path / "logs.json").read_text()) == {"step": 0, "loss": 0.25}
    assert json.loads((tmp_path / "other.json").read_text()) == {"step": 0, "acc": 0.75}
    report = (tmp_path / "logs.html").read_text()
    assert "http-equiv" not in report and "finished" in report


def test_import_is_light() -> None:
    code = (
        "import sys, jupyter_exp.live, jupyter_exp.live.callbacks\n"
        "heavy = ['numpy', 'pandas', 'plotly', 'yaml', 'torch', 'xgboost', 'lightgbm', 'keras', "
        "'transformers', 'lightning', 'IPython', 'jupyter_exp.live.report']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
