"""Data remotes' configuration in ``.dvc/config`` (DVC's keys and syntax), and the fsspec options it means.

A remote is ``['remote "name"']`` with a ``url`` (a local path or any fsspec URL) and options; the default one
is ``[core] remote``. For S3 the options are DVC 3's (``endpointurl``, ``access_key_id``,
``secret_access_key``, ``session_token``, ``region``, ``profile``, ``use_ssl``, ``ssl_verify``,
``allow_anonymous_login``), so one ``.dvc/config`` serves ``dvc push`` and ours; credentials may also come
from the environment (``AWS_ACCESS_KEY_ID`` ...), as for DVC. An option we cannot honour is an error naming
it rather than ignored (an ignored ``sse`` would upload unencrypted).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_exp.config import CONFIG_FILES, load_config, write_config
from jupyter_exp.fsutil import atomic_write_text

from .remote import MAX_JOBS, Remote, RemoteError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Keys of every remote: ``verify`` (checksums of downloads) is accepted as we always verify.
_COMMON = frozenset({"url", "jobs", "verify"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
# DVC 3's S3 keys -> (s3fs argument, where: "" top level, "client"/"config" its client_kwargs/config_kwargs
# (botocore's), whether boolean).
_S3: dict[str, tuple[str, str, bool]] = {
    "endpointurl": ("endpoint_url", "client", False),
    "region": ("region_name", "client", False),
    "ssl_verify": ("verify", "client", False),  # true/false or a CA bundle path
    "access_key_id": ("key", "", False),
    "secret_access_key": ("secret", "", False),
    "session_token": ("token", "", False),
    "profile": ("profile", "", False),
    "use_ssl": ("use_ssl", "", True),
    "allow_anonymous_login": ("anon", "", True),
    "read_timeout": ("read_timeout", "config", False),
    "connect_timeout": ("connect_timeout", "config", False),
}


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if _is_url(url) else "local"


def supported_options(url: str) -> list[str]:
    return sorted(_COMMON | (set(_S3) if _scheme(url) == "s3" else set()))


def _boolean(name: str, key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise RemoteError(f"remote '{name}': '{key}' in '.dvc/config' must be true or false, not '{value}'")


def storage_options(name: str, url: str, options: Mapping[str, str]) -> dict[str, Any]:
    """The fsspec file system's arguments for a remote's config ``options``; unknown keys are an error."""
    unknown = sorted(set(options) - set(supported_options(url)))
    if unknown:
        raise RemoteError(
            f"remote '{name}': option '{unknown[0]}' in '.dvc/config' is not supported for {_scheme(url)} "
            f"remotes (supported: {', '.join(supported_options(url))})"
        )
    if _scheme(url) != "s3":
        return {}
    # One connection per transfer in flight (botocore's default pool of 10 would queue the rest).
    config: dict[str, Any] = {"max_pool_connections": MAX_JOBS}
    client: dict[str, Any] = {}
    result: dict[str, Any] = {"config_kwargs": config}
    for key, value in options.items():
        if key in _COMMON:
            continue
        argument, where, boolean = _S3[key]
        converted: Any = value
        if boolean or (key == "ssl_verify" and value.lower() in _TRUE | _FALSE):
            converted = _boolean(name, key, value)
        elif where == "config":
            converted = _seconds(name, key, value)
        {"client": client, "config": config}.get(where, result)[argument] = converted
    if client:
        result["client_kwargs"] = client
    return result


def _seconds(name: str, key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise RemoteError(f"remote '{name}': '{key}' in '.dvc/config' must be seconds, not '{value}'") from None


def _jobs_option(name: str, options: Mapping[str, str]) -> int | None:
    """The remote's ``jobs`` (DVC's per-remote default for ``-j``)."""
    if "jobs" not in options:
        return None
    value = options["jobs"]
    if not value.isdigit() or int(value) < 1:
        raise RemoteError(f"remote '{name}': 'jobs' in '.dvc/config' must be a positive integer, not '{value}'")
    return int(value)


def list_remotes(root: str | os.PathLike[str]) -> dict[str, str]:
    """Remote name -> URL as written in ``.dvc/config`` (``config.local`` wins)."""
    remotes = load_config(root)["remote"]
    return {name: options["url"] for name, options in remotes.items() if options.get("url")}


def default_remote(root: str | os.PathLike[str]) -> str | None:
    return load_config(root)["core"].get("remote") or None


def _config_url(root: Path, url: str, cwd: Path) -> str:
    """What ``remote add`` writes: URLs as given, a relative local path relative to ``.dvc/`` (as DVC does,
    since DVC resolves it against the config file's folder)."""
    if _is_url(url) or os.path.isabs(url):
        return url
    return Path(os.path.relpath((cwd / url).resolve(), root / ".dvc")).as_posix()


def _is_url(url: str) -> bool:
    return "://" in url


def add_remote(
    root: str | os.PathLike[str],
    name: str,
    url: str,
    *,
    default: bool = False,
    force: bool = False,
    local: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> str:
    """Write ``['remote "name"'] url = ...`` (and ``[core] remote`` with ``default``); returns the URL written."""
    root = Path(root)
    if not _NAME.match(name):
        raise RemoteError(f"'{name}' is not a valid remote name: use letters, digits, '_', '-' and '.'")
    if name in list_remotes(root) and not force:
        raise RemoteError(f"remote '{name}' already exists. Use `-f|--force` to overwrite it.")
    written = _config_url(root, url, Path(cwd) if cwd is not None else Path.cwd())
    write_config(root, f"remote.{name}", "url", written, local=local)
    if default:
        write_config(root, "core", "remote", name, local=local)
    return written


def remove_remote(root: str | os.PathLike[str], name: str) -> None:
    """Drop the remote's section from whichever config files define it, and the default if it was that."""
    root = Path(root)
    if name not in load_config(root)["remote"]:
        raise RemoteError(f"remote '{name}' doesn't exist (known: {_known(root)})")
    for local, relname in enumerate(CONFIG_FILES):
        path = root / relname
        if path.exists():
            _drop_section(path, f'remote "{name}"')
            text = path.read_text(encoding="utf-8")
            if re.search(rf"^\s*remote\s*=\s*['\"]?{re.escape(name)}['\"]?\s*$", text, re.MULTILINE):
                write_config(root, "core", "remote", None, local=bool(local))


def _drop_section(path: Path, section: str) -> None:
    """Remove ``[section]`` and its keys, keeping every other line (and comment) as it was."""
    lines = path.read_text(encoding="utf-8").splitlines()
    wanted = re.sub(r"\s+", " ", section)
    kept: list[str] = []
    dropping = False
    for line in lines:
        header = re.match(r"""^\s*\[\s*(['"]?)(.+?)\1\s*\]\s*$""", line)
        if header:
            dropping = re.sub(r"\s+", " ", header[2].strip()) == wanted
        if not dropping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if kept != lines:
        atomic_write_text(path, "\n".join(kept) + "\n" if kept else "")


def set_default_remote(root: str | os.PathLike[str], name: str | None, *, local: bool = False) -> None:
    """Make ``name`` the default remote (``None``: no default)."""
    if name is not None and name not in list_remotes(root):
        raise RemoteError(f"remote '{name}' doesn't exist (known: {_known(Path(root))})")
    write_config(root, "core", "remote", name, local=local)


def _known(root: Path) -> str:
    return ", ".join(f"'{n}'" for n in sorted(list_remotes(root))) or "none; add one with `remote add`"


def get_remote(root: str | os.PathLike[str], name: str | None = None) -> Remote:
    """The remote called ``name``, or the default one; the error says how to configure one."""
    root = Path(root)
    remotes = list_remotes(root)
    if name is None:
        name = default_remote(root)
        if name is None:
            raise RemoteError(
                "no remote specified and no default remote set: use `-r NAME`, or set one with "
                "`remote add -d NAME URL` (or `remote default NAME`) in '.dvc/config'"
            )
    if name not in remotes:
        raise RemoteError(f"remote '{name}' doesn't exist in '.dvc/config' (known: {_known(root)})")
    options = load_config(root)["remote"][name]
    url = remotes[name]
    if not _is_url(url) and not os.path.isabs(url):
        url = os.path.normpath(root / ".dvc" / url)
    return Remote(name, url, storage_options(name, url, options), jobs=_jobs_option(name, options))


def modify_remote(
    root: str | os.PathLike[str], name: str, option: str, value: str | None, *, local: bool = False
) -> None:
    """Set one option of remote ``name`` as ``dvc remote modify`` does, checked as a transfer would check it;
    ``value=None`` removes it (any option: also one we do not support)."""
    root = Path(root)
    remotes = load_config(root)["remote"]
    if name not in remotes:
        raise RemoteError(f"remote '{name}' doesn't exist (known: {_known(root)})")
    if option == "url" and value is None:
        raise RemoteError(f"remote '{name}': 'url' cannot be unset (remove the remote instead)")
    if value is not None:
        url = value if option == "url" else remotes[name].get("url", "")
        storage_options(name, url, {option: value})
        _jobs_option(name, {option: value})
    write_config(root, f"remote.{name}", option, value, local=local)
