"""Image plots (png, jpg, gif, svg): one image per revision side by side in the offline page, embedded;
``--json`` in DVC 3's shape, equal to the real DVC's (an image inside a cached output directory included,
as example-get-started's ``eval/plots/images/importance.png``)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from conftest import CliRunner, commit_files, ok, run_dvc, write_bytes

PNG = b"\x89PNG\r\n\x1a\n"  # image plots are shown as they are: the bytes need not decode
FILES = {
    "params.yaml": "shade: 1\n",
    "draw.py": (
        "import os, yaml\n"
        "shade = yaml.safe_load(open('params.yaml'))['shade']\n"
        "os.makedirs('eval/plots/images', exist_ok=True)\n"
        "open('eval/plots/images/importance.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + bytes([shade]))\n"
    ),
    "dvc.yaml": (
        "stages:\n"
        "  draw:\n"
        "    cmd: python draw.py\n"
        "    deps: [draw.py]\n"
        "    params: [shade]\n"
        "    outs: [eval]\n"
        "plots:\n"
        "  - eval/plots/images\n"
        "  - pics/roc.svg\n"
        "  - pics/photo.jpg\n"
        "  - pics/anim.gif\n"
    ),
    "pics/roc.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"/>',
    "pics/photo.jpg": "JFIF-v1",
    "pics/anim.gif": "GIF89a-v1",
}
IDS = ["eval/plots/images/importance.png", "pics/roc.svg", "pics/photo.jpg", "pics/anim.gif"]


@pytest.fixture
def project(git_repo: Path, run_cli: CliRunner) -> Path:
    commit_files(git_repo, FILES, "plots")
    ok(run_cli("repro"))
    commit_files(git_repo, {"dvc.lock": (git_repo / "dvc.lock").read_text(), ".gitignore": "/eval\n"}, "v1")
    (git_repo / "params.yaml").write_text("shade: 2\n")
    ok(run_cli("repro"))
    (git_repo / "pics/roc.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="3" height="3"/>')
    write_bytes(git_repo / "pics/photo.jpg", b"JFIF-v2")
    return git_repo


def _revision_bytes(root: Path) -> dict[str, dict[str, bytes]]:
    return {
        "HEAD": {
            IDS[0]: PNG + b"\x01",
            IDS[1]: FILES["pics/roc.svg"].encode(),
            IDS[2]: b"JFIF-v1",
            IDS[3]: b"GIF89a-v1",
        },
        "workspace": {
            IDS[0]: PNG + b"\x02",
            IDS[1]: (root / "pics/roc.svg").read_bytes(),
            IDS[2]: b"JFIF-v2",
            IDS[3]: b"GIF89a-v1",
        },
    }


@pytest.mark.dvc
def test_plots_diff_json_for_images_equals_dvc(project: Path, run_cli: CliRunner) -> None:
    theirs = json.loads(run_dvc(project, "plots", "diff", "HEAD", "--json"))
    dvc_files = {p.name: p.read_bytes() for p in (project / "dvc_plots").iterdir()}
    for path in (project / "dvc_plots").iterdir():
        path.unlink()
    ours = json.loads(ok(run_cli("plots", "diff", "HEAD", "--json")))
    assert ours == theirs
    assert list(ours["data"]) == IDS
    assert {p.name: p.read_bytes() for p in (project / "dvc_plots").iterdir()} == dvc_files
    expected = _revision_bytes(project)
    for plot_id, entries in ours["data"].items():
        assert [e["revisions"] for e in entries] == [["workspace"], ["HEAD"]]
        for entry in entries:
            assert entry["type"] == "image"
            assert Path(entry["url"]).read_bytes() == expected[entry["revisions"][0]][plot_id]


def test_page_embeds_each_revisions_image_side_by_side(project: Path, run_cli: CliRunner) -> None:
    page = Path(
        ok(run_cli("plots", "diff", "HEAD", "workspace", "-o", "page")).strip().removeprefix("file://")
    )
    html = page.read_text()
    expected = _revision_bytes(project)
    mimes = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".gif": "image/gif"}
    for plot_id in IDS:
        match = re.search(rf'<figure data-plot="{re.escape(plot_id)}">(.*?)</div>', html, re.S)
        assert match, plot_id
        shown = re.findall(
            r'<figure data-rev="([^"]+)"><img alt="[^"]+" src="data:([^;]+);base64,([^"]+)">', match[1]
        )
        assert [rev for rev, _, _ in shown] == ["workspace", "HEAD"], plot_id
        for rev, mime, data in shown:
            assert mime == mimes[Path(plot_id).suffix]
            assert base64.b64decode(data) == expected[rev][plot_id]
    assert "not valid utf-8" not in html
    assert not list(page.parent.glob("*.png"))  # the page is one file: nothing beside it

    shown_ws = Path(ok(run_cli("plots", "show", "-o", "ws")).strip().removeprefix("file://")).read_text()
    assert shown_ws.count("<img ") == len(IDS)
