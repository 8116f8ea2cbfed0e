"""A Hugging Face Hub on 127.0.0.1: the part of its HTTP protocol ``huggingface_hub`` and ``datasets`` use.

Repositories live in memory, one commit per :meth:`LocalHub.publish`; ``main`` names the newest commit.
Every request is logged (``LocalHub.requests``); :meth:`LocalHub.publish_on` publishes a commit while a
given request is answered (a hub that changes during a run). Endpoints, as the real hub answers them:

- ``GET /api/{models|datasets}/{repo}[/revision/{rev}]``: repository info (``sha``, ``siblings``);
- ``GET /api/{models|datasets}/{repo}/tree/{rev}[/{dir}]``: a folder's entries (``?recursive=true``: all);
- ``HEAD|GET /[datasets/]{repo}/resolve/{rev}/{file}``: the file, with ``X-Repo-Commit``, ``ETag``
  (``X-Linked-Etag`` / ``X-Linked-Size`` for LFS files) and ``Content-Length``.

Unknown repositories, revisions and files get 404 with the hub's ``X-Error-Code``. No auth, no xet.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".parquet")
API = re.compile(r"^/api/(models|datasets)/(.+?)(?:/(revision|tree)/([^/]+)(?:/(.*))?)?$")
RESOLVE = re.compile(r"^/(datasets/)?(.+?)/resolve/([^/]+)/(.+)$")
ERROR_CODES = {"repo": "RepoNotFound", "revision": "RevisionNotFound", "file": "EntryNotFound"}


@dataclass(frozen=True)
class Commit:
    sha: str
    files: dict[str, bytes]


def directory_files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (e.g. what ``save_pretrained`` wrote) by its relative path."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _entry(path: str, data: bytes) -> dict:
    """A file as ``/tree`` lists it; LFS files carry their sha256."""
    entry = {"type": "file", "oid": _git_blob_sha1(data), "size": len(data), "path": path}
    if path.endswith(LFS_SUFFIXES):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry


def _folder(path: str) -> dict:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


class NotOnHub(LookupError):
    """What a request names does not exist: ``args[0]`` is ``repo``, ``revision`` or ``file``."""


class LocalHub:
    """Serve published repositories on ``http://127.0.0.1:<random port>`` from a thread."""

    def __init__(self):
        self.repos: dict[tuple[str, str], list[Commit]] = {}
        self.requests: list[str] = []
        self._pending: dict[str, tuple[str, str, dict[str, bytes]]] = {}
        self._server: ThreadingHTTPServer | None = None

    def publish(self, kind: str, repo_id: str, files: dict[str, bytes]) -> str:
        """Add a commit holding exactly ``files`` to the ``models``/``datasets`` repository; its sha."""
        history = self.repos.setdefault((kind, repo_id), [])
        digest = hashlib.sha1(repo_id.encode() + str(len(history)).encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\x00" + files[path])
        history.append(Commit(digest.hexdigest(), dict(files)))
        return history[-1].sha

    def publish_on(self, request: str, kind: str, repo_id: str, files: dict[str, bytes]) -> None:
        """Publish ``files`` once ``request`` (``"GET /path"``) comes, after its answer's commit is chosen."""
        self._pending[request] = (kind, repo_id, files)

    def answering(self, request: str) -> None:
        """Called as a request's answer goes out: publish what waits for that request."""
        if pending := self._pending.pop(request, None):
            self.publish(*pending)

    def commit(self, kind: str, repo_id: str, revision: str) -> Commit:
        history = self.repos.get((kind, repo_id))
        if not history:
            raise NotOnHub("repo")
        if revision == "main":
            return history[-1]
        for commit in history:
            if commit.sha == revision:
                return commit
        raise NotOnHub("revision")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            local_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving: later connections are refused, as from a machine without a network."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    local_hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # the hub's log is LocalHub.requests, not stderr
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        url = urlsplit(self.path)
        self.request_line = f"{self.command} {url.path}{'?' + url.query if url.query else ''}"
        self.local_hub.requests.append(self.request_line)
        try:
            if api := API.match(url.path):
                kind, repo_id, endpoint, revision, rest = api.groups()
                commit = self.local_hub.commit(kind, repo_id, unquote(revision or "main"))
                query = parse_qs(url.query)
                self._api(repo_id, endpoint, commit, unquote(rest or ""), query, body)
            elif resolve := RESOLVE.match(url.path):
                dataset, repo_id, revision, path = resolve.groups()
                kind = "datasets" if dataset else "models"
                commit = self.local_hub.commit(kind, repo_id, unquote(revision))
                self._file(commit, unquote(path), body)
            else:
                raise NotOnHub("repo")
        except NotOnHub as missing:
            commit_header = {}
            if missing.args[0] == "file":
                commit_header["X-Repo-Commit"] = missing.args[1]
            self._send(404, b"", {"X-Error-Code": ERROR_CODES[missing.args[0]], **commit_header}, body)

    def _api(self, repo_id, endpoint, commit, rest, query, body) -> None:
        if endpoint in (None, "revision"):
            info = {
                "id": repo_id,
                "sha": commit.sha,
                "private": False,
                "gated": False,
                "disabled": False,
                "tags": [],
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
            self._json(info, body)
        else:  # tree
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            self._json(_tree(commit, rest.strip("/"), recursive), body)

    def _file(self, commit: Commit, path: str, body: bool) -> None:
        if path not in commit.files:
            raise NotOnHub("file", commit.sha)
        data = commit.files[path]
        entry = _entry(path, data)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{entry["oid"]}"'}
        if "lfs" in entry:
            headers |= {"X-Linked-Etag": f'"{entry["lfs"]["oid"]}"', "X-Linked-Size": str(len(data))}
        self._send(200, data, headers, body)

    def _json(self, value, body: bool) -> None:
        self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json"}, body)

    def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        self.local_hub.answering(self.request_line)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def _tree(commit: Commit, folder: str, recursive: bool) -> list[dict]:
    """Entries under ``folder`` ('' is the root): direct children, or every descendant when recursive."""
    prefix = f"{folder}/" if folder else ""
    if folder and not any(p.startswith(prefix) for p in commit.files):
        raise NotOnHub("file", commit.sha)
    entries, folders = [], set()
    for path, data in sorted(commit.files.items()):
        if not path.startswith(prefix):
            continue
        inner = path[len(prefix) :].split("/")
        if recursive or len(inner) == 1:
            entries.append(_entry(path, data))
        folders.update(
            prefix + "/".join(inner[: i + 1]) for i in range(len(inner) - 1) if recursive or i == 0
        )
    return [_folder(f) for f in sorted(folders)] + entries
