"""The Experiments panel with many experiments, in a real JupyterLab and Chromium: 200 experiments sorted,
filtered, selected from the keyboard and compared, in the light and the dark theme; 10,000 experiments drawn
virtualised (a few dozen rows in the DOM, the whole table's scroll bar), first render time measured.

The experiments are real Git commits on experiment refs (``refs/exps/..``, what ``exp run`` writes), made
with dulwich in one pack so a 10,000-experiment repository takes seconds, not hours of runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo as GitRepo

from jupyter_exp.repo import Repo

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser

PANEL = ".jx-panel"
LOSS = "metrics:metrics.json:loss"
DVC_YAML = """\
stages:
  train:
    cmd: {python} -c "print('trained')"
    params: [lr]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - history.json:
          cache: false
"""


def loss_of(i: int) -> float:
    """A loss per experiment that is not in creation order, so sorting moves rows."""
    return round(((i * 7919) % 1000) / 1000 + 0.0005, 4)


def make_repo(root: Path, count: int) -> Path:
    """A committed baseline and ``count`` experiments of it (exp-00000, ...), each changing lr and logging
    its loss and a three-step history."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    root.mkdir()
    git("init", "-q", "-b", "main")
    Repo.init(root)
    (root / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / "metrics.json").write_text('{"loss": 0.9}')
    (root / "history.json").write_text('[{"step": 0, "loss": 0.9}]')
    git("add", "-A")
    git("commit", "-q", "-m", "baseline")
    repo = GitRepo(str(root))
    baseline = repo.head()
    base_tree = repo[repo[baseline].tree]
    identity = b"Tester <tester@example.com>"
    objects, refs = [], {}
    for i in range(count):
        loss = loss_of(i)
        blobs = {
            b"params.yaml": Blob.from_string(f"lr: {i / 10_000 + 0.0001:.4f}\n".encode()),
            b"metrics.json": Blob.from_string(json.dumps({"loss": loss}).encode()),
            b"history.json": Blob.from_string(
                json.dumps([{"step": s, "loss": round(loss + 0.1 * (2 - s), 4)} for s in range(3)]).encode()
            ),
        }
        tree = Tree()
        for entry in base_tree.items():
            tree.add(entry.path, entry.mode, blobs[entry.path].id if entry.path in blobs else entry.sha)
        commit = Commit()
        commit.tree, commit.parents = tree.id, [baseline]
        commit.author = commit.committer = identity
        commit.author_time = commit.commit_time = 1_700_000_000 + i
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"exp-{i:05d}\n".encode()
        objects += [*blobs.values(), tree, commit]
        refs[f"refs/exps/{baseline[:2].decode()}/{baseline[2:].decode()}/exp-{i:05d}".encode()] = commit.id
    repo.object_store.add_objects([(obj, None) for obj in objects])
    repo.refs.add_packed_refs(refs)
    repo.close()
    return root


def open_panel(page: Any, lab_server: LabServer, repo: Path) -> float:
    """Open the repository's folder and the panel; returns seconds from the palette click to the first rows."""
    # ?reset: a fresh layout (the server's workspace remembers the panel an earlier test left open).
    page.goto(f"{lab_server.url}lab/tree/{repo.name}?token={lab_server.token}&reset", timeout=60_000)
    page.locator(".jp-DirListing-itemText", has_text="dvc.yaml").wait_for(timeout=60_000)
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Experiments: Open panel")
    item = page.locator(".lm-CommandPalette-item", has_text="Experiments: Open panel").first
    started = time.monotonic()
    item.click()
    page.locator(f"{PANEL} tr.jx-row.jx-experiment").first.wait_for(timeout=120_000)
    return time.monotonic() - started


def rows(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        f"{PANEL} tr.jx-row",
        f"""rows => rows.map(r => ({{
            rev: r.dataset.rev, kind: r.dataset.kind, selected: r.classList.contains('jx-selected'),
            cursor: r.classList.contains('jx-cursor'),
            name: r.querySelector('[data-col="Experiment"]').textContent.replace(/^[\\s│├└─╓╟╨]+/, ''),
            loss: r.querySelector('[data-col="{LOSS}"]').textContent,
        }}))""",
    )


def luminance(css_color: str) -> float:
    """Relative luminance (WCAG) of an ``rgb(...)``/``rgba(...)`` computed colour."""
    channels = [float(c) / 255 for c in css_color[css_color.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colours(page: Any, selector: str) -> dict[str, str]:
    """The text colour of ``selector`` and the first opaque background behind it."""
    return page.eval_on_selector(
        selector,
        """el => {
            let bg = 'rgba(0, 0, 0, 0)';
            for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
                const c = getComputedStyle(n).backgroundColor;
                if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') { bg = c; break; }
            }
            return {color: getComputedStyle(el).color, background: bg};
        }""",
    )


def fail_with_context(page: Any, artifacts: Path, console: list[str], err: Exception) -> None:
    page.screenshot(path=str(artifacts / "failure.png"))
    errors = [line for line in console if line.startswith(("error", "pageerror"))]
    pytest.fail(f"{type(err).__name__}: {err}\nconsole errors:\n" + ("\n".join(errors[-30:]) or "(none)"))


def test_200_experiments_sort_filter_keyboard_compare_and_dark_theme(
    chromium: Any, lab_server: LabServer, artifacts: Path, git_identity: None
) -> None:
    repo = make_repo(lab_server.root / "repo-200", 200)
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    try:
        open_panel(page, lab_server, repo)
        panel = page.locator(PANEL)
        assert panel.locator(".jx-count").inner_text() == "202 rows"

        panel.locator(f'th.jx-th[data-col="{LOSS}"]').click()
        panel.locator(f'th.jx-th.jx-asc[data-col="{LOSS}"]').wait_for(timeout=5_000)
        shown = [r for r in rows(page) if r["kind"] == "experiment"]
        losses = [float(r["loss"]) for r in shown]
        assert losses == sorted(losses) and losses[0] == min(loss_of(i) for i in range(200))

        panel.locator(".jx-filter").fill("loss<0.1")
        expected = sorted(f"exp-{i:05d}" for i in range(200) if loss_of(i) < 0.1)
        page.wait_for_function(
            "n => document.querySelectorAll('.jx-panel tr.jx-row.jx-experiment').length === n",
            arg=len(expected), timeout=5_000,
        )
        assert sorted(r["name"] for r in rows(page) if r["kind"] == "experiment") == expected
        assert panel.locator(".jx-count").inner_text() == f"202 rows, {200 - len(expected)} filtered out"
        panel.locator(".jx-filter").fill("exp-0001")  # part of a name: exp-00010 .. exp-00019
        page.wait_for_function(
            "() => document.querySelectorAll('.jx-panel tr.jx-row.jx-experiment').length === 10", timeout=5_000
        )
        panel.locator(".jx-filter").fill("")

        # Keyboard: focus the table, move to the first two experiments (after workspace and baseline), select.
        panel.locator(".jx-scroller").focus()
        for key in ("ArrowDown", "ArrowDown", "ArrowDown", "Space", "ArrowDown", "Space"):
            page.keyboard.press(key)
        now = rows(page)
        assert [r["kind"] for r in now[:2]] == ["workspace", "baseline"]
        assert [r["name"] for r in now if r["selected"]] == [now[2]["name"], now[3]["name"]]
        assert now[3]["cursor"]
        page.keyboard.press("End")
        page.wait_for_function(
            "() => document.querySelector('.jx-panel tr.jx-row.jx-cursor')?.dataset.index === '201'", timeout=5_000
        )
        page.keyboard.press("Home")
        assert rows(page)[0]["cursor"]
        panel.screenshot(path=str(artifacts / "panel-200-selected.png"))

        panel.locator("button[data-action='compare']").click()
        frame = page.frame_locator(".jx-compare iframe")
        for row in now[2:4]:
            frame.locator(f"svg circle[data-tip^='{row['name']}']").first.wait_for(state="attached", timeout=15_000)

        light = colours(page, f"{PANEL} tr.jx-row.jx-selected td")
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=15_000)
        page.wait_for_timeout(500)  # the theme's stylesheet applies after the attribute
        panel_colours = colours(page, PANEL)
        assert luminance(panel_colours["background"]) < 0.1 and luminance(panel_colours["color"]) > 0.4
        for selector in (f"{PANEL} tr.jx-row.jx-selected td", f"{PANEL} tr.jx-row:not(.jx-selected) td",
                         f"{PANEL} th.jx-th[data-kind='metrics']", f"{PANEL} td.jx-best",
                         ".jx-diff-table[data-kind='metrics'] th", ".jx-diff-table[data-kind='params'] td"):
            seen = colours(page, selector)
            assert contrast(seen["color"], seen["background"]) >= 4.5, (selector, seen)
        assert colours(page, f"{PANEL} tr.jx-row.jx-selected td") != light
        panel.screenshot(path=str(artifacts / "panel-200-dark.png"))
    except Exception as err:
        fail_with_context(page, artifacts, console, err)
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()


def test_10000_experiments_render_virtualised(
    chromium: Any, lab_server: LabServer, artifacts: Path, git_identity: None
) -> None:
    count = 10_000
    repo = make_repo(lab_server.root / "repo-10k", count)
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    try:
        first_render = open_panel(page, lab_server, repo)
        panel = page.locator(PANEL)
        assert panel.locator(".jx-count").inner_text() == f"{count + 2} rows"
        drawn = page.locator(f"{PANEL} tr.jx-row").count()
        assert 20 <= drawn <= 150, drawn  # the window and its overscan, not 10,002 rows
        height = page.eval_on_selector(f"{PANEL} .jx-scroller", "s => s.scrollHeight")
        assert height >= (count + 2) * 24  # the scroll bar is the whole table's

        # The last row, reached from the keyboard, is drawn inside the visible window.
        panel.locator(".jx-scroller").focus()
        started = time.monotonic()
        page.keyboard.press("End")
        page.wait_for_function(
            "n => document.querySelector('.jx-panel tr.jx-row.jx-cursor')?.dataset.index === String(n)",
            arg=count + 1, timeout=10_000,
        )
        to_end = time.monotonic() - started
        inside = page.eval_on_selector(
            f"{PANEL} .jx-scroller",
            """s => { const r = s.querySelector('tr.jx-cursor').getBoundingClientRect(), b = s.getBoundingClientRect();
                      return r.top >= b.top && r.bottom <= b.bottom + 1; }""",
        )
        assert inside
        # Scrolling a page at a time keeps the page responsive: each step is drawn by the next frame.
        frames = page.evaluate(
            """async () => { const s = document.querySelector('.jx-panel .jx-scroller'); const times = [];
                for (let i = 0; i < 20; i++) { const t = performance.now(); s.scrollTop = i * 5000;
                  await new Promise(r => requestAnimationFrame(() => r())); times.push(performance.now() - t); }
                return times; }"""
        )
        assert page.locator(f"{PANEL} tr.jx-row").count() <= 150
        (artifacts / "timings.json").write_text(json.dumps(
            {"rows": count + 2, "first_render_s": first_render, "end_key_s": to_end,
             "scroll_frame_ms_max": max(frames), "rows_in_dom": drawn}, indent=2))
        print(f"\npanel, {count + 2} rows: first render {first_render:.2f} s (palette click to rows), "
              f"End key {to_end * 1000:.0f} ms, scroll frames max {max(frames):.0f} ms, {drawn} rows in the DOM")
        panel.screenshot(path=str(artifacts / "panel-10k.png"))
    except Exception as err:
        fail_with_context(page, artifacts, console, err)
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()
