"""A fake GitHub served on 127.0.0.1 for tests: raw files, the contents API and gists.

No test touches the internet: point `FUSED_GITHUB_API_URL` / `FUSED_GITHUB_RAW_URL` (or the
`api_url` / `raw_url` arguments of `fused._native.github_fetch`) at `fake.api_url` and
`fake.raw_url` (`fake.env()` gives both as a dict).

Routes (the shapes GitHub answers with):

* `GET /raw/<owner>/<repo>/<ref>/<path>`: a file. Like raw.githubusercontent.com, a ref with
  slashes (`feature/x`) is found by trying every split; a short sha (>= 4 hex) resolves to the
  one full-sha ref it starts. `ETag` is the content hash; `If-None-Match` gives 304.
* `GET /api/repos/<owner>/<repo>/contents/<path>?ref=<ref>`: a folder listing (a JSON list of
  `{"name", "path", "type": "file"|"dir", "download_url", "sha", "size", ...}`) or, for a file,
  one object with base64 `content`; 404 `{"message": "Not Found"}`; `ETag` and 304 as above.
* `GET /api/gists/<id>[/<revision>]`: a gist with its `files` (`content`, `truncated`,
  `raw_url`); files over `gist_truncate_over` bytes come truncated, their full text at
  `GET /gist-raw/<id>/<revision>/<name>`.
* `POST /api/gists`: needs an `Authorization` header (else 401); files need non-empty content
  (else 422); answers 201 with `id` and `html_url` = `https://gist.github.com/<user>/<id>`.

Every request is counted by path (`fake.requests`, a Counter of `"/raw/..."` / `"/api/..."`
paths without the query) and logged (`fake.log`: method, path, query, status, if_none_match,
authorization). `fake.rate_limit(True)` makes every route answer 403 with
`x-ratelimit-remaining: 0` and `x-ratelimit-reset`; `fake.stop()` closes the port (the network
is "down"), `fake.start()` opens the same port again.

Use the `fake_github` fixture (register it with `pytest_plugins = ["fake_github"]` in a conftest,
or import it) or the class directly.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Optional, Union
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

__all__ = ["FakeGitHub", "fake_github"]

Content = Union[str, bytes]
_DOCS = "https://docs.github.com/rest"


def _bytes(content: Content) -> bytes:
    return content.encode() if isinstance(content, str) else bytes(content)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest() + '"'


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_hex(s: str) -> bool:
    return bool(s) and all(c in "0123456789abcdefABCDEF" for c in s)


class FakeGitHub:
    """An HTTP server on 127.0.0.1 imitating raw.githubusercontent.com and api.github.com."""

    def __init__(self, user: str = "fake-user", port: int = 0) -> None:
        self.user = user
        self._trees: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self._gists: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.log: list[dict[str, Any]] = []
        self._rate_limited = False
        self._rate_limit_status = 403
        self._rate_limit_reset_in = 1234
        #: Gist files longer than this come back truncated (content cut, `raw_url` to the rest).
        self.gist_truncate_over: Optional[int] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.port = port
        self.start()

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def raw_url(self) -> str:
        return f"{self.base_url}/raw"

    def env(self) -> dict[str, str]:
        """The environment variables that point the SDK at this server."""
        return {"FUSED_GITHUB_API_URL": self.api_url, "FUSED_GITHUB_RAW_URL": self.raw_url}

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen (again) on `self.port` (a free port the first time)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the port: connections are refused until `start()`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- content
    def add_tree(self, owner: str, repo: str, ref: str, files: Mapping[str, Content]) -> None:
        """Add (or overwrite) files `{path: content}` in `owner/repo` at `ref` (a branch, a tag,
        a ref with slashes or a 40-hex sha). Later calls merge into the same ref."""
        with self._lock:
            tree = self._trees.setdefault((owner, repo, ref), {})
            for path, content in files.items():
                tree[path.strip("/")] = _bytes(content)

    def remove_file(self, owner: str, repo: str, ref: str, path: str) -> None:
        with self._lock:
            del self._trees[(owner, repo, ref)][path.strip("/")]

    def add_gist(
        self,
        files: Mapping[str, Content],
        *,
        gist_id: Optional[str] = None,
        description: str = "",
        public: bool = True,
        owner: Optional[str] = None,
    ) -> str:
        """Add a gist (or a new revision of `gist_id`); returns its id."""
        with self._lock:
            return self._store_gist(
                {name: _bytes(c).decode() for name, c in files.items()},
                gist_id=gist_id,
                description=description,
                public=public,
                owner=owner or self.user,
            )

    def gist_files(self, gist_id: str) -> dict[str, str]:
        """The current files of a gist (for example one created through `POST /api/gists`)."""
        with self._lock:
            return dict(self._gists[gist_id]["history"][0][1])

    def gist(self, gist_id: str) -> dict[str, Any]:
        """Everything stored about a gist: description, public, owner, history."""
        with self._lock:
            return dict(self._gists[gist_id])

    # ---------------------------------------------------------------- behaviour
    def rate_limit(self, on: bool = True, *, status: int = 403, reset_in: int = 1234) -> None:
        """Answer every request with a rate-limit error (`status` 403 or 429) until turned off."""
        self._rate_limited = on
        self._rate_limit_status = status
        self._rate_limit_reset_in = reset_in

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def auth_headers(self) -> list[Optional[str]]:
        """The `Authorization` header of every request seen (None when absent)."""
        return [entry["authorization"] for entry in self.log]

    # ---------------------------------------------------------------- internals
    def _store_gist(self, files: dict[str, str], *, gist_id, description, public, owner) -> str:
        gist_id = gist_id or secrets.token_hex(16)
        revision = hashlib.sha1(
            json.dumps(
                [gist_id, files, len(self._gists.get(gist_id, {}).get("history", []))]
            ).encode()
        ).hexdigest()
        gist = self._gists.setdefault(
            gist_id, {"owner": owner, "description": description, "public": public, "history": []}
        )
        gist["description"] = description
        gist["history"].insert(0, (revision, dict(files)))
        return gist_id

    def _find_ref(self, owner: str, repo: str, ref: str) -> Optional[str]:
        if (owner, repo, ref) in self._trees:
            return ref
        if len(ref) >= 4 and _is_hex(ref):
            matches = [
                r
                for (o, p, r) in self._trees
                if o == owner and p == repo and len(r) == 40 and r.lower().startswith(ref.lower())
            ]
            if len(matches) == 1:
                return matches[0]
        return None

    def _split_ref(self, owner: str, repo: str, segs: list[str]) -> Optional[tuple[str, str]]:
        for i in range(1, len(segs) + 1):
            ref = self._find_ref(owner, repo, "/".join(segs[:i]))
            if ref is not None:
                return ref, "/".join(segs[i:])
        return None

    def _gist_json(self, gist_id: str, revision: Optional[str]) -> Optional[dict[str, Any]]:
        gist = self._gists.get(gist_id)
        if gist is None:
            return None
        history = gist["history"]
        if revision is None:
            rev, files = history[0]
        else:
            found = [h for h in history if h[0] == revision]
            if not found:
                return None
            rev, files = found[0]
        out_files = {}
        limit = self.gist_truncate_over
        for name, text in files.items():
            truncated = limit is not None and len(text) > limit
            out_files[name] = {
                "filename": name,
                "type": "text/plain",
                "language": "Python" if name.endswith(".py") else None,
                "raw_url": f"{self.base_url}/gist-raw/{gist_id}/{rev}/{quote(name)}",
                "size": len(text.encode()),
                "truncated": truncated,
                "content": text[:limit] if truncated else text,
            }
        return {
            "url": f"{self.api_url}/gists/{gist_id}",
            "id": gist_id,
            "html_url": f"https://gist.github.com/{gist['owner']}/{gist_id}",
            "description": gist["description"],
            "public": gist["public"],
            "owner": {"login": gist["owner"]},
            "files": out_files,
            "truncated": False,
            "history": [{"version": h[0]} for h in history],
        }


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeGitHub/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        # ------------------------------------------------------------ plumbing
        def _record(self, status: int) -> None:
            split = urlsplit(self.path)
            with fake._lock:
                fake.requests[unquote(split.path)] += 1
                fake.log.append(
                    {
                        "method": self.command,
                        "path": unquote(split.path),
                        "query": split.query,
                        "status": status,
                        "if_none_match": self.headers.get("If-None-Match"),
                        "authorization": self.headers.get("Authorization"),
                    }
                )

        def _send(
            self,
            status: int,
            body: bytes = b"",
            content_type: str = "application/json; charset=utf-8",
            headers: Optional[Mapping[str, str]] = None,
        ) -> None:
            self._record(status)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304 and self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: Any, etag: bool = False) -> None:
            body = json.dumps(value).encode()
            headers = {}
            if etag:
                tag = _etag(body)
                headers["ETag"] = tag
                if self.headers.get("If-None-Match") == tag:
                    return self._send(304, headers=headers)
            self._send(status, body, headers=headers)

        def _not_found(self) -> None:
            self._json(
                404,
                {"message": "Not Found", "documentation_url": _DOCS},
            )

        def _rate_limited(self) -> bool:
            if not fake._rate_limited:
                return False
            reset = int(time.time()) + fake._rate_limit_reset_in
            body = json.dumps(
                {
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                    "Authenticated requests get a higher rate limit.)"
                }
            ).encode()
            self._send(
                fake._rate_limit_status,
                body,
                headers={
                    "x-ratelimit-limit": "60",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(reset),
                },
            )
            return True

        # ------------------------------------------------------------ routes
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self._rate_limited():
                return
            split = urlsplit(self.path)
            segs = [unquote(s) for s in split.path.split("/") if s]
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            with fake._lock:
                if segs[:1] == ["raw"] and len(segs) >= 5:
                    return self._raw(segs[1], segs[2], segs[3:])
                if segs[:2] == ["api", "repos"] and len(segs) >= 5 and segs[4] == "contents":
                    return self._contents(segs[2], segs[3], "/".join(segs[5:]), query)
                if segs[:2] == ["api", "gists"] and len(segs) in (3, 4):
                    gist = fake._gist_json(segs[2], segs[3] if len(segs) == 4 else None)
                    return self._not_found() if gist is None else self._json(200, gist, etag=True)
                if segs[:1] == ["gist-raw"] and len(segs) == 4:
                    return self._gist_raw(*segs[1:])
            self._not_found()

        def _raw(self, owner: str, repo: str, segs: list[str]) -> None:
            found = fake._split_ref(owner, repo, segs)
            data = None
            if found is not None:
                ref, path = found
                data = fake._trees[(owner, repo, ref)].get(path)
            if data is None:
                return self._send(404, b"404: Not Found", "text/plain; charset=utf-8")
            tag = _etag(data)
            if self.headers.get("If-None-Match") == tag:
                return self._send(304, headers={"ETag": tag})
            self._send(200, data, "text/plain; charset=utf-8", headers={"ETag": tag})

        def _contents(self, owner: str, repo: str, path: str, query: dict[str, str]) -> None:
            ref = fake._find_ref(owner, repo, query.get("ref", "main"))
            if ref is None:
                # What GitHub answers for a ref that does not exist.
                msg = f"No commit found for the ref {query.get('ref', 'main')}"
                return self._json(404, {"message": msg, "documentation_url": _DOCS})
            tree = fake._trees[(owner, repo, ref)]
            path = path.strip("/")

            api = f"{fake.api_url}/repos/{owner}/{repo}/contents"

            def entry(p: str, kind: str) -> dict[str, Any]:
                data = tree.get(p, b"")
                url = f"{fake.raw_url}/{quote(owner)}/{quote(repo)}/{quote(ref)}/{quote(p)}"
                return {
                    "name": p.rsplit("/", 1)[-1],
                    "path": p,
                    "sha": _git_blob_sha(data)
                    if kind == "file"
                    else hashlib.sha1(p.encode()).hexdigest(),
                    "size": len(data) if kind == "file" else 0,
                    "type": kind,
                    "url": f"{api}/{quote(p)}?ref={quote(ref, safe='')}",
                    "download_url": url if kind == "file" else None,
                }

            if path in tree:
                item = entry(path, "file")
                item["content"] = base64.b64encode(tree[path]).decode()
                item["encoding"] = "base64"
                return self._json(200, item, etag=True)
            prefix = path + "/" if path else ""
            children: dict[str, str] = {}
            for p in tree:
                if p.startswith(prefix):
                    head, _, rest = p[len(prefix) :].partition("/")
                    children[prefix + head] = "dir" if rest else "file"
            if not children:
                return self._not_found()
            listing = [entry(p, kind) for p, kind in sorted(children.items())]
            self._json(200, listing, etag=True)

        def _gist_raw(self, gist_id: str, revision: str, name: str) -> None:
            gist = fake._gists.get(gist_id)
            files = dict(gist["history"]).get(revision) if gist else None
            if not files or name not in files:
                return self._send(404, b"404: Not Found", "text/plain; charset=utf-8")
            self._send(200, files[name].encode(), "text/plain; charset=utf-8")

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self._rate_limited():
                return
            if urlsplit(self.path).path.rstrip("/") != "/api/gists":
                return self._not_found()
            auth = self.headers.get("Authorization") or ""
            if not (auth.startswith("Bearer ") or auth.startswith("token ")) or len(auth) < 8:
                return self._json(401, {"message": "Requires authentication"})
            try:
                body = json.loads(raw)
                files = body["files"]
                assert isinstance(files, dict) and files
                contents = {name: f["content"] for name, f in files.items()}
                assert all(isinstance(c, str) and c.strip() for c in contents.values())
            except (ValueError, KeyError, TypeError, AssertionError):
                return self._json(422, {"message": "Validation Failed"})
            with fake._lock:
                gist_id = fake._store_gist(
                    contents,
                    gist_id=None,
                    description=str(body.get("description") or ""),
                    public=bool(body.get("public", False)),
                    owner=fake.user,
                )
                gist = fake._gist_json(gist_id, None)
            self._json(201, gist)

    return Handler


@pytest.fixture
def fake_github():
    """A running `FakeGitHub`, stopped after the test."""
    fake = FakeGitHub()
    try:
        yield fake
    finally:
        fake.stop()
