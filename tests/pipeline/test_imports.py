"""Imports (`import`, `import-url`, `update`): the `.dvc` files equal the real DVC 3's byte for byte, the
real `dvc status` agrees with ours after each, and repro never rewrites a frozen import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import CliRunner, commit_files, git, ok, run_dvc, write_files

from jupyter_exp.repo import Repo


def dvc_repo(root: Path) -> Path:
    """A Git + DVC repository made by the real tools, for DVC's side of a comparison."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    run_dvc(root, "init", "-q")
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A repository to import from: a Git-tracked file, and (with DVC) a DVC-tracked file and folder."""
    root = tmp_path / "src"
    root.mkdir()
    git(root, "init", "-q")
    commit_files(root, {"get-started/data.xml": "<v1/>\n"}, "data")
    return root


def our_status(run_cli: CliRunner) -> dict:
    return json.loads(ok(run_cli("status", "--json")))


def dvc_status(root: Path) -> dict:
    return json.loads(run_dvc(root, "status", "--json"))


IMPORT_DVC = """\
md5: 2d3c1e0b2e5f3e1c1b57f6f3e7a1c2d0
frozen: true
deps:
- path: get-started/data.xml
  repo:
    url: https://github.com/iterative/dataset-registry
    rev_lock: f31f5c4cdae787b4bdeb97a717687d44667d9e62
outs:
- md5: a304feec8f4a1e8a4a4b9c5a6f2e4d1b
  size: 14445097
  hash: md5
  path: data.xml
"""


def test_repro_never_rewrites_a_frozen_import(git_repo: Path, run_cli: CliRunner) -> None:
    """The issue's case: example-get-started's import with its data replaced by a 6-byte stand-in."""
    write_files(
        git_repo,
        {
            "data/data.xml.dvc": IMPORT_DVC,
            "data/data.xml": "stand\n",
            "dvc.yaml": "stages:\n  prep:\n    cmd: wc -c < data/data.xml > size.txt\n"
            "    deps: [data/data.xml]\n    outs: [size.txt]\n",
        },
    )
    result = run_cli("repro")
    out = ok(result)
    assert (git_repo / "data/data.xml.dvc").read_text() == IMPORT_DVC
    assert "Verifying outputs in frozen stage: 'data/data.xml.dvc'" in out
    assert (
        "WARNING: 'data/data.xml' not in cache: the frozen 'data/data.xml.dvc' is left as it is" in result.err
    )
    assert "up to date" not in out
    assert (git_repo / "size.txt").read_text().strip() == "6"
    ok(run_cli("commit"))
    assert (git_repo / "data/data.xml.dvc").read_text() == IMPORT_DVC
    status = our_status(run_cli)
    assert status == {
        "data/data.xml.dvc": [{"changed outs": {"data/data.xml": "not in cache"}}, "changed checksum"]
    }


@pytest.mark.dvc
def test_import_from_git_equals_dvc_and_status_agrees(
    git_repo: Path, run_cli: CliRunner, source: Path, tmp_path: Path
) -> None:
    (git_repo / "data").mkdir()
    ok(run_cli("import", str(source), "get-started/data.xml", "-o", "data/data.xml"))
    theirs = dvc_repo(tmp_path / "theirs")
    (theirs / "data").mkdir()
    run_dvc(theirs, "import", str(source), "get-started/data.xml", "-o", "data/data.xml")
    ours_text = (git_repo / "data/data.xml.dvc").read_text()
    assert ours_text == (theirs / "data/data.xml.dvc").read_text()
    assert "frozen: true" in ours_text and "rev_lock: " + git(source, "rev-parse", "HEAD") in ours_text
    assert (git_repo / "data/data.xml").read_text() == "<v1/>\n"
    assert (git_repo / "data/.gitignore").read_text() == "/data.xml\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}

    commit_files(source, {"get-started/data.xml": "<v2/>\n"}, "v2")
    expected = {
        "data/data.xml.dvc": [{"changed deps": {f"get-started/data.xml ({source})": "update available"}}]
    }
    assert our_status(run_cli) == dvc_status(git_repo) == expected
    assert "update available:   get-started/data.xml" in ok(run_cli("status"))

    ok(run_cli("update", "data/data.xml.dvc"))
    run_dvc(theirs, "update", "data/data.xml.dvc")
    assert (git_repo / "data/data.xml.dvc").read_text() == (theirs / "data/data.xml.dvc").read_text()
    assert (git_repo / "data/data.xml").read_text() == "<v2/>\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}
    assert "Everything is up to date." in ok(run_cli("update", "data/data.xml.dvc"))


@pytest.mark.dvc
def test_import_rev_and_dvc_outputs_from_the_source_cache(
    git_repo: Path, run_cli: CliRunner, source: Path, tmp_path: Path
) -> None:
    """A DVC output of the source (a file and a folder, in its cache only) comes through its cache; --rev
    is recorded as DVC records it."""
    run_dvc(source, "init", "-q")
    write_files(source, {"models/model.bin": "weights\n", "images/a.txt": "a\n", "images/sub/b.txt": "b\n"})
    run_dvc(source, "add", "-q", "models/model.bin", "images")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "dvc data")
    git(source, "tag", "v1")
    theirs = dvc_repo(tmp_path / "theirs")
    for args in (["models/model.bin", "--rev", "v1"], ["images", "-o", "imgs"]):
        ok(run_cli("import", str(source), *args))
        run_dvc(theirs, "import", str(source), *args)
    for name in ("model.bin.dvc", "imgs.dvc"):
        assert (git_repo / name).read_text() == (theirs / name).read_text(), name
    assert (git_repo / "imgs/sub/b.txt").read_text() == "b\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}
    shutil.rmtree(git_repo / ".dvc" / "cache")
    expected = {
        "model.bin.dvc": [{"changed outs": {"model.bin": "not in cache"}}],
        "imgs.dvc": [{"changed outs": {"imgs": "not in cache"}}],
    }
    assert our_status(run_cli) == dvc_status(git_repo) == expected
    assert "not in cache:       model.bin" in ok(run_cli("status"))


@pytest.mark.dvc
def test_import_from_the_source_remote_when_its_cache_lacks_the_data(
    git_repo: Path, run_cli: CliRunner, source: Path, tmp_path: Path
) -> None:
    run_dvc(source, "init", "-q")
    write_files(source, {"model.bin": "weights\n"})
    run_dvc(source, "add", "-q", "model.bin")
    run_dvc(source, "remote", "add", "-d", "store", str(tmp_path / "store"))
    run_dvc(source, "push", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "pushed")
    shutil.rmtree(source / ".dvc" / "cache")
    ok(run_cli("import", str(source), "model.bin"))
    assert (git_repo / "model.bin").read_text() == "weights\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}


@pytest.mark.dvc
def test_import_url_equals_dvc_and_update_follows_the_source(
    git_repo: Path, run_cli: CliRunner, tmp_path: Path
) -> None:
    ext = tmp_path / "ext"
    write_files(ext, {"f.txt": "ext1\n", "d/a": "a\n", "d/b": "b\n"})
    theirs = dvc_repo(tmp_path / "theirs")
    for args in ([str(ext / "f.txt")], [str(ext / "d"), "d2"]):
        ok(run_cli("import-url", *args))
        run_dvc(theirs, "import-url", *args)
    for name in ("f.txt.dvc", "d2.dvc"):
        assert (git_repo / name).read_text() == (theirs / name).read_text(), name
    assert (git_repo / "d2/b").read_text() == "b\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}

    (ext / "f.txt").write_text("ext2\n")
    ok(run_cli("update", "f.txt.dvc"))
    run_dvc(theirs, "update", "f.txt.dvc")
    assert (git_repo / "f.txt.dvc").read_text() == (theirs / "f.txt.dvc").read_text()
    assert (git_repo / "f.txt").read_text() == "ext2\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}


def test_import_url_file_scheme(git_repo: Path, run_cli: CliRunner, tmp_path: Path) -> None:
    """file:// URLs (DVC 3.67.1 itself fails on them: "dependency 'file:/...' does not exist")."""
    write_files(tmp_path / "ext", {"f.txt": "ext1\n"})
    url = (tmp_path / "ext" / "f.txt").as_uri()
    ok(run_cli("import-url", url, "copy.txt"))
    assert (git_repo / "copy.txt").read_text() == "ext1\n"
    assert yaml.safe_load((git_repo / "copy.txt.dvc").read_text())["deps"][0]["path"] == url
    (tmp_path / "ext" / "f.txt").write_text("ext2\n")
    ok(run_cli("update", "copy.txt.dvc"))
    assert (git_repo / "copy.txt").read_text() == "ext2\n"


def test_imports_never_overwrite_the_users_data(git_repo: Path, run_cli: CliRunner, source: Path) -> None:
    (git_repo / "data.xml").write_text("mine\n")
    result = run_cli("import", str(source), "get-started/data.xml")
    assert result.code != 0 and "'data.xml' exists and is not tracked by an import" in result.err + result.out
    assert (git_repo / "data.xml").read_text() == "mine\n" and not (git_repo / "data.xml.dvc").exists()
    ok(run_cli("import", str(source), "get-started/data.xml", "--force"))
    recorded = (git_repo / "data.xml.dvc").read_bytes()

    commit_files(source, {"get-started/data.xml": "<v2/>\n"}, "v2")
    (git_repo / "data.xml").write_text("edited\n")
    result = run_cli("update", "data.xml.dvc")
    assert (
        result.code != 0
        and "'data.xml' exists and was changed since it was imported" in result.err + result.out
    )
    assert (git_repo / "data.xml").read_text() == "edited\n"
    assert (git_repo / "data.xml.dvc").read_bytes() == recorded

    result = run_cli("import", str(source), "missing.txt")
    assert result.code != 0 and f"'missing.txt' does not exist in '{source}'" in result.err + result.out
    result = run_cli("import", "https://example.invalid/repo", "x")
    assert result.code != 0 and "only Git repositories on this machine" in result.err + result.out
    result = run_cli("update", "nothing.dvc")
    assert result.code != 0 and "'nothing.dvc' does not exist" in result.err + result.out


def test_python_api(git_repo: Path, source: Path) -> None:
    repo = Repo(git_repo)
    assert repo.import_from_repo(str(source), "get-started/data.xml", out="x.xml") == "x.xml.dvc"
    assert not repo.update("x.xml.dvc")
    commit_files(source, {"get-started/data.xml": "<v2/>\n"}, "v2")
    assert repo.update("x.xml.dvc")
    assert (git_repo / "x.xml").read_text() == "<v2/>\n"


@pytest.mark.dvc
def test_pull_brings_imports_from_their_source_and_push_leaves_them_out(
    git_repo: Path, run_cli: CliRunner, source: Path, tmp_path: Path
) -> None:
    """A clone has the import's .dvc file but not its data: `data pull` reads it from the source repository
    (our data remote never had it: `data push` leaves imports out, as DVC's push does)."""
    ok(run_cli("remote", "add", "-d", "store", str(tmp_path / "store")))
    (git_repo / "data").mkdir()
    ok(run_cli("import", str(source), "get-started/data.xml", "-o", "data/data.xml"))
    write_files(git_repo, {"own.txt": "mine\n"})
    ok(run_cli("add", "own.txt"))
    ok(run_cli("data", "push"))
    stored = sorted(p.name for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert len(stored) == 1  # own.txt only
    shutil.rmtree(git_repo / ".dvc" / "cache")
    (git_repo / "data/data.xml").unlink()
    (git_repo / "own.txt").unlink()
    assert "not in cache" in json.dumps(dvc_status(git_repo))
    ok(run_cli("data", "pull"))
    assert (git_repo / "data/data.xml").read_text() == "<v1/>\n"
    assert (git_repo / "own.txt").read_text() == "mine\n"
    assert our_status(run_cli) == dvc_status(git_repo) == {}


def test_import_url_from_an_fsspec_store_without_etags(git_repo: Path, run_cli: CliRunner) -> None:
    """memory:// (any fsspec store): with no etag, the copy's md5 records its version."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/table.csv", b"a,b\n1,2\n")
    ok(run_cli("import-url", "memory://bucket/table.csv"))
    assert (git_repo / "table.csv").read_bytes() == b"a,b\n1,2\n"
    text = (git_repo / "table.csv.dvc").read_text()
    assert "path: memory://bucket/table.csv" in text and "frozen: true" in text
    assert our_status(run_cli) == {}
    assert "Everything is up to date." in ok(run_cli("update", "table.csv.dvc"))
    assert (git_repo / "table.csv.dvc").read_text() == text
    fs.pipe("/bucket/table.csv", b"a,b\n3,4\n")
    assert "Updated: table.csv.dvc" in ok(run_cli("update", "table.csv.dvc"))
    assert (git_repo / "table.csv").read_bytes() == b"a,b\n3,4\n"
    assert our_status(run_cli) == {}
    fs.rm("/bucket", recursive=True)
