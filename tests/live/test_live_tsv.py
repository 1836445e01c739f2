"""Reading metric TSVs whole and incrementally (what a live plot in the notebook does)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jupyter_exp.errors import LiveError
from jupyter_exp.live import Live, Row, read_tsv, tail_tsv


def test_read_tsv_accepts_lf_crlf_and_a_missing_final_newline(tmp_path: Path) -> None:
    lf = tmp_path / "lf.tsv"
    lf.write_bytes(b"timestamp\tstep\tloss\n1\t0\t0.5\n2\t1\tnan\n3\t2\t-inf")
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes(b"timestamp\tstep\tloss\r\n1\t0\t0.5\r\n2\t1\tnan\r\n3\t2\t-inf\r\n")
    for path in (lf, crlf):
        rows = read_tsv(path)
        assert [(r.timestamp, r.step) for r in rows] == [(1, 0), (2, 1), (3, 2)]
        assert rows[0].value == 0.5 and math.isnan(rows[1].value) and rows[2].value == -math.inf


def test_read_tsv_names_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("timestamp\tstep\tm\n1\t0\t0.5\n2\tone\t0.5\n")
    with pytest.raises(LiveError, match=r"bad\.tsv: line 3"):
        read_tsv(path)


def test_tail_returns_only_new_complete_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.tsv"
    assert tail_tsv(path, 0) == ([], 0, False)  # not created yet
    path.write_bytes(b"timestamp\tstep\tm\r\n1\t0\t1.0\r\n2\t1\t2.")
    chunk = tail_tsv(path, 0)
    assert chunk.rows == [Row(1, 0, 1.0)] and not chunk.restarted
    with open(path, "ab") as fobj:
        fobj.write(b"5\r\n3\t2\t3.0\r\n")
    chunk = tail_tsv(path, chunk.offset)
    assert chunk.rows == [Row(2, 1, 2.5), Row(3, 2, 3.0)]
    assert tail_tsv(path, chunk.offset).rows == []


def test_tail_notices_a_new_run_replacing_the_file(tmp_path: Path) -> None:
    with Live(tmp_path / "logs", html=False) as live:
        for i in range(3):
            live.log_metric("loss", float(i))
            live.next_step()
    offset = tail_tsv(tmp_path / "logs/loss.tsv").offset
    with Live(tmp_path / "logs", html=False) as live:
        live.log_metric("loss", 9.0)
    chunk = tail_tsv(tmp_path / "logs/loss.tsv", offset)
    assert chunk.restarted and [r.value for r in chunk.rows] == [9.0]


def test_tail_follows_a_running_logger_step_by_step(tmp_path: Path) -> None:
    live = Live(tmp_path / "logs", html=False)
    offset, seen = 0, []
    for i in range(5):
        live.log_metric("train/loss", 1.0 / (i + 1))
        live.next_step()
        chunk = tail_tsv(tmp_path / "logs/train/loss.tsv", offset)
        offset = chunk.offset
        seen.extend(row.step for row in chunk.rows)
        assert seen == list(range(i + 1))
    live.end()
