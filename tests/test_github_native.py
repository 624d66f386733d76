"""`fused._native.github_fetch` / `github_create_gist` / `parse_github_url` against a fake GitHub
on 127.0.0.1 (tests/fake_github.py). No test touches the internet.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from fake_github import FakeGitHub

from fused import _native as native

ROOT = Path(__file__).resolve().parent.parent

SHA = "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
GIST_ID = "aa11bb22cc33dd44ee55ff6677889900"


def meta_json(name: str, source: str, headers=()) -> str:
    udf = {
        "type": "geopandas_v2",
        "name": name,
        "entrypoint": "udf",
        "source": source,
        "headers": [{"module_name": h[:-3], "source_file": h} for h in headers],
    }
    return json.dumps({"version": "0.0.3", "job_config": {"steps": [{"type": "udf", "udf": udf}]}})


UDF_A = {
    "public/A/meta.json": meta_json("A", "A_code.py", headers=["utils.py"]),
    "public/A/A_code.py": "@fused.udf\ndef udf(x: int = 1):\n    return x\n",
    "public/A/utils.py": "HELPER = 42\n",
    "public/A/README.md": "# A\n",
    "public/A/notes.png": b"\x89PNG not fetched",
}
# A folder without meta.json: listed through the contents API.
UDF_B = {
    "public/B/B.py": "def udf():\n    return 'b'\n",
    "public/B/config.json": '{"k": 1}\n',
    "public/B/img.png": b"\x89PNG skipped",
    "public/B/sub/deep.py": "skipped = True\n",
}


@pytest.fixture
def gh():
    fake = FakeGitHub()
    fake.add_tree("fusedio", "udfs", "main", {**UDF_A, **UDF_B})
    fake.add_tree("fusedio", "udfs", SHA, UDF_A)
    fake.add_tree(
        "fusedio",
        "udfs",
        "feature/x",
        {**UDF_B, "public/C/meta.json": meta_json("C", "c.py"), "public/C/c.py": "C = 1\n"},
    )
    fake.add_tree(
        "fusedio", "udfs", "rootpkg", {"meta.json": meta_json("R", "r.py"), "r.py": "R = 1\n"}
    )
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def fetch(gh: FakeGitHub, cache_dir: Path, url: str, **kw):
    kw.setdefault("revalidate_s", 60)
    return native.github_fetch(
        url, cache_dir=str(cache_dir), api_url=gh.api_url, raw_url=gh.raw_url, **kw
    )


def files_in(path: str) -> dict[str, str]:
    return {
        p.name: p.read_text()
        for p in sorted(Path(path).iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


# ------------------------------------------------------------------------------ URL parsing
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://github.com/fusedio/udfs/tree/main/public/A",
            ("tree", "fusedio", "udfs", "main", "public/A", None),
        ),
        (
            "https://github.com/fusedio/udfs/tree/main/public/A/",
            ("tree", "fusedio", "udfs", "main", "public/A", None),
        ),
        (
            "https://github.com/fusedio/udfs/tree/main",
            ("tree", "fusedio", "udfs", "main", "", None),
        ),
        (
            f"https://github.com/fusedio/udfs/tree/{SHA}/public/A/",
            ("tree", "fusedio", "udfs", SHA, "public/A", None),
        ),
        (
            "https://github.com/fusedio/udfs/blob/main/public/A/A_code.py",
            ("blob", "fusedio", "udfs", "main", "public/A/A_code.py", None),
        ),
        (
            "https://github.com/fusedio/udfs/blob/main/public/A/meta.json",
            ("blob", "fusedio", "udfs", "main", "public/A", None),
        ),
        (
            "https://raw.githubusercontent.com/fusedio/udfs/main/public/A/A_code.py",
            ("raw", "fusedio", "udfs", "main", "public/A/A_code.py", None),
        ),
        (
            f"https://gist.github.com/someone/{GIST_ID}",
            ("gist", "someone", None, None, None, GIST_ID),
        ),
        (f"https://gist.github.com/{GIST_ID}.git", ("gist", None, None, None, None, GIST_ID)),
    ],
)
def test_parse_github_url(url, expected):
    d = native.parse_github_url(url)
    assert (d["kind"], d["owner"], d["repo"], d["ref"], d["subpath"], d["gist_id"]) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/fusedio/udfs",
        "https://github.com/fusedio/udfs/blob/main/README.md",
        "https://gitlab.com/fusedio/udfs/tree/main/x",
        "https://gist.github.com/someone/not-a-hex-id",
        "https://github.com/fusedio/udfs/tree/main/../x",
        "github.com/fusedio/udfs/tree/main/x",
    ],
)
def test_malformed_urls_are_value_errors_naming_the_url(url, gh, cache_dir):
    with pytest.raises(ValueError, match=re.escape(url)):
        native.parse_github_url(url)
    with pytest.raises(ValueError, match=re.escape(url)):
        fetch(gh, cache_dir, url)
    assert gh.total_requests == 0


# ------------------------------------------------------------------------------ accepted forms
def test_tree_url_fetches_meta_json_and_the_files_it_names(gh, cache_dir):
    r = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/A")
    assert files_in(r["path"]) == {
        "A_code.py": UDF_A["public/A/A_code.py"],
        "README.md": "# A\n",
        "meta.json": UDF_A["public/A/meta.json"],
        "utils.py": "HELPER = 42\n",
    }
    assert r["path"] == str(cache_dir / "github" / "fusedio" / "udfs" / "folder" / "main~public~A")
    assert {k: r[k] for k in ("kind", "owner", "repo", "ref", "subpath", "gist_id")} == {
        "kind": "tree",
        "owner": "fusedio",
        "repo": "udfs",
        "ref": "main",
        "subpath": "public/A",
        "gist_id": None,
    }
    assert (r["from_cache"], r["warnings"]) == (False, [])
    assert dict(gh.requests) == {
        "/raw/fusedio/udfs/main/public/A/meta.json": 1,
        "/raw/fusedio/udfs/main/public/A/A_code.py": 1,
        "/raw/fusedio/udfs/main/public/A/utils.py": 1,
        "/raw/fusedio/udfs/main/public/A/README.md": 1,
    }
    state = json.loads((Path(r["path"]) / ".fused-fetch.json").read_text())
    assert state["source_url"] == "https://github.com/fusedio/udfs/tree/main/public/A"
    assert state["resolved_ref"] == "main" and abs(state["fetched_at"] - time.time()) < 60
    assert [v["url"].rsplit("/", 1)[1] for v in state["validators"]] == [
        "meta.json",
        "A_code.py",
        "utils.py",
        "README.md",
    ]
    assert all(v["etag"] for v in state["validators"])


def test_same_folder_through_other_url_forms_shares_the_cached_copy(gh, cache_dir):
    first = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/A/")
    gh.reset_counts()
    for url, kind in [
        ("https://github.com/fusedio/udfs/tree/main/public/A", "tree"),
        ("https://github.com/fusedio/udfs/blob/main/public/A/meta.json", "blob"),
        ("https://raw.githubusercontent.com/fusedio/udfs/main/public/A/meta.json", "raw"),
        ("https://raw.githubusercontent.com/fusedio/udfs/main/public/A", "raw"),
    ]:
        r = fetch(gh, cache_dir, url)
        assert (r["path"], r["kind"], r["from_cache"]) == (first["path"], kind, True)
    assert gh.total_requests == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/fusedio/udfs/blob/main/public/A/A_code.py",
        "https://raw.githubusercontent.com/fusedio/udfs/main/public/A/A_code.py",
    ],
)
def test_a_url_to_one_py_file_gives_that_file(gh, cache_dir, url):
    r = fetch(gh, cache_dir, url)
    path = Path(r["path"])
    assert path.name == "A_code.py" and path.read_text() == UDF_A["public/A/A_code.py"]
    assert (r["ref"], r["subpath"]) == ("main", "public/A/A_code.py")
    assert files_in(path.parent) == {"A_code.py": UDF_A["public/A/A_code.py"]}
    assert dict(gh.requests) == {"/raw/fusedio/udfs/main/public/A/A_code.py": 1}


def test_repo_root_folder(gh, cache_dir):
    r = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/rootpkg")
    assert files_in(r["path"]) == {"meta.json": meta_json("R", "r.py"), "r.py": "R = 1\n"}
    assert (r["ref"], r["subpath"]) == ("rootpkg", "")


def test_folder_without_meta_json_is_listed_through_the_contents_api(gh, cache_dir):
    r = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/B")
    # Files only, text kinds only: no subfolder, no image.
    assert files_in(r["path"]) == {"B.py": UDF_B["public/B/B.py"], "config.json": '{"k": 1}\n'}
    assert (r["ref"], r["subpath"]) == ("main", "public/B")
    assert gh.requests["/raw/fusedio/udfs/main/public/B/meta.json"] == 1  # 404
    assert gh.requests["/api/repos/fusedio/udfs/contents/public/B"] == 1
    assert gh.requests["/raw/fusedio/udfs/main/public/B/B.py"] == 1
    assert gh.total_requests == 4


def test_slashy_ref_resolved_through_the_contents_api(gh, cache_dir):
    r = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/feature/x/public/B/")
    assert files_in(r["path"])["B.py"] == UDF_B["public/B/B.py"]
    assert (r["ref"], r["subpath"]) == ("feature/x", "public/B")
    contents = [
        e["query"] for e in gh.log if e["path"].startswith("/api/repos/fusedio/udfs/contents")
    ]
    assert contents == ["ref=feature", "ref=feature%2Fx"]


def test_slashy_ref_with_meta_json_through_raw(gh, cache_dir):
    r = fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/feature/x/public/C")
    assert files_in(r["path"]) == {"meta.json": meta_json("C", "c.py"), "c.py": "C = 1\n"}


def test_short_sha_is_fetched_once_and_never_revalidated(gh, cache_dir):
    url = f"https://github.com/fusedio/udfs/tree/{SHA[:7]}/public/A"
    r = fetch(gh, cache_dir, url)
    assert files_in(r["path"])["utils.py"] == "HELPER = 42\n"
    assert not r["from_cache"] and gh.total_requests == 4
    gh.reset_counts()
    # A short sha pins a commit, as catalog UDFs use it: no conditional requests, ever.
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    assert r["from_cache"] and gh.total_requests == 0
    gh.stop()  # and it loads with GitHub gone, without a warning
    assert fetch(gh, cache_dir, url, revalidate_s=0)["warnings"] == []


# ------------------------------------------------------------------------------ caching
def test_a_commit_sha_is_fetched_once_and_never_again(gh, cache_dir):
    url = f"https://github.com/fusedio/udfs/tree/{SHA}/public/A"
    first = fetch(gh, cache_dir, url)
    assert not first["from_cache"] and gh.total_requests == 4
    gh.reset_counts()
    second = fetch(gh, cache_dir, url, revalidate_s=0)
    assert second["from_cache"] and second["path"] == first["path"]
    assert files_in(second["path"]) == files_in(first["path"])
    assert gh.total_requests == 0
    gh.stop()
    assert fetch(gh, cache_dir, url, revalidate_s=0)["warnings"] == []


def test_branch_is_revalidated_at_most_once_per_revalidate_s_with_304s(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    first = fetch(gh, cache_dir, url)
    state_file = Path(first["path"]) / ".fused-fetch.json"
    state = json.loads(state_file.read_text())
    state["fetched_at"] -= 30
    state_file.write_text(json.dumps(state))
    gh.reset_counts()
    # Within revalidate_s: no request at all.
    r = fetch(gh, cache_dir, url, revalidate_s=60)
    assert r["from_cache"] and gh.total_requests == 0
    # After: conditional requests only, answered 304; the copy is kept and fetched_at renewed.
    r = fetch(gh, cache_dir, url, revalidate_s=10)
    assert r["from_cache"] and r["warnings"] == []
    assert [
        (e["path"].rsplit("/", 1)[1], e["status"], bool(e["if_none_match"])) for e in gh.log
    ] == [
        ("meta.json", 304, True),
        ("A_code.py", 304, True),
        ("utils.py", 304, True),
        ("README.md", 304, True),
    ]
    assert json.loads(state_file.read_text())["fetched_at"] >= state["fetched_at"] + 30
    gh.reset_counts()
    fetch(gh, cache_dir, url, revalidate_s=10)
    assert gh.total_requests == 0


def test_changed_branch_content_is_downloaded_again(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    fetch(gh, cache_dir, url)
    # Only the code changes (meta.json does not): still noticed.
    gh.add_tree("fusedio", "udfs", "main", {"public/A/A_code.py": "def udf():\n    return 2\n"})
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    assert not r["from_cache"]
    assert files_in(r["path"])["A_code.py"] == "def udf():\n    return 2\n"
    siblings = [p.name for p in Path(r["path"]).parent.iterdir()]
    assert siblings == ["main~public~A"], "no temp or old copy is left behind"


def test_changed_listing_is_downloaded_again(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/B"
    fetch(gh, cache_dir, url)
    gh.reset_counts()
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    # One conditional request on the listing covers the whole folder.
    assert r["from_cache"] and [(e["path"], e["status"]) for e in gh.log] == [
        ("/api/repos/fusedio/udfs/contents/public/B", 304)
    ]
    gh.add_tree("fusedio", "udfs", "main", {"public/B/extra.py": "E = 1\n"})
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    assert not r["from_cache"] and files_in(r["path"])["extra.py"] == "E = 1\n"


def test_offline_uses_the_cached_copy_with_a_warning(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    first = fetch(gh, cache_dir, url)
    gh.stop()
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    assert r["from_cache"] and r["path"] == first["path"]
    assert files_in(r["path"]) == files_in(first["path"])
    (warning,) = r["warnings"]
    assert url in warning and "using the cached copy" in warning
    assert "refused" in warning.lower()


def test_offline_without_a_cached_copy_names_the_url_and_the_cause(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    gh.stop()
    with pytest.raises(ConnectionError) as exc:
        fetch(gh, cache_dir, url)
    msg = str(exc.value)
    assert url in msg and "refused" in msg.lower() and "no cached copy" in msg
    assert f"127.0.0.1:{gh.port}/raw/fusedio/udfs/main/public/A/meta.json" in msg


def test_rate_limited_revalidation_keeps_the_cached_copy(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    fetch(gh, cache_dir, url)
    gh.rate_limit(True)
    r = fetch(gh, cache_dir, url, revalidate_s=0)
    assert r["from_cache"] and "rate limit" in r["warnings"][0]


def test_a_crash_leftover_is_ignored_and_old_ones_cleaned(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    parent = cache_dir / "github" / "fusedio" / "udfs" / "folder"
    # What a crash mid-download leaves: a half temp folder (no rename happened).
    half = parent / ".tmp-main~public~A-999-1"
    half.mkdir(parents=True)
    (half / "meta.json").write_text('{"half')
    old = parent / ".tmp-main~public~A-998-1"
    old.mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    # A package folder without its state file (not written by a rename) is not a copy either.
    target = parent / "main~public~A"
    target.mkdir()
    (target / "meta.json").write_text("{}")
    r = fetch(gh, cache_dir, url)
    assert not r["from_cache"] and r["path"] == str(target)
    assert files_in(r["path"])["meta.json"] == UDF_A["public/A/meta.json"]
    assert half.exists() and not old.exists()
    assert sorted(p.name for p in parent.iterdir()) == [half.name, target.name]


def _load_at_once(gh, cache_dir, url, n):
    """`n` threads fetching `url` at once: their results and errors."""
    results, errors = [], []

    def load():
        try:
            results.append(fetch(gh, cache_dir, url, revalidate_s=0))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_loads_of_one_package(gh, tmp_path):
    # Loads of one package at once take turns on its lock: the first downloads it, the others
    # use that copy (or revalidate it, 304), and nobody sees its folder swapped away under them.
    # The race this guards against showed in about 1 round of 20, so it runs 15 rounds.
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    for round_ in range(15):
        cache_dir = tmp_path / f"cache{round_}"
        gh.reset_counts()
        results, errors = _load_at_once(gh, cache_dir, url, 8)
        assert errors == [] and len(results) == 8, f"round {round_}"
        assert len({r["path"] for r in results}) == 1
        assert sum(not r["from_cache"] for r in results) == 1
        assert files_in(results[0]["path"])["utils.py"] == "HELPER = 42\n"
        assert [p.name for p in Path(results[0]["path"]).parent.iterdir()] == ["main~public~A"]
        downloads = [e["path"] for e in gh.log if e["status"] == 200]
        assert sorted(downloads) == sorted(set(downloads)) and len(downloads) == 4


def _package_lock(cache_dir: Path, package: str) -> Path:
    """The lock file of a package folder: `.locks/<FNV-1a of its path, 16 hex digits>.lock`."""
    h = 0xCBF29CE484222325
    for b in os.fsencode(package):
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return cache_dir / ".locks" / f"{h:016x}.lock"


def test_a_load_waits_for_the_package_lock_and_refetches_a_copy_removed_meanwhile(gh, cache_dir):
    url = "https://github.com/fusedio/udfs/tree/main/public/A"
    first = fetch(gh, cache_dir, url)
    lock = _package_lock(cache_dir, first["path"])
    assert lock.is_file()
    results = []
    with open(lock, "r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process fetching this package
        waiter = threading.Thread(
            target=lambda: results.append(fetch(gh, cache_dir, url, revalidate_s=0))
        )
        waiter.start()
        time.sleep(0.5)
        assert results == [] and waiter.is_alive()  # it waits for the lock
        shutil.rmtree(first["path"])  # the copy it saw goes away before it gets the lock
        gh.reset_counts()
        fcntl.flock(held, fcntl.LOCK_UN)
        waiter.join(timeout=30)
    assert len(results) == 1
    assert not results[0]["from_cache"] and results[0]["path"] == first["path"]
    assert files_in(results[0]["path"])["utils.py"] == "HELPER = 42\n"
    assert gh.requests["/raw/fusedio/udfs/main/public/A/utils.py"] == 1


def test_other_endpoints_do_not_reuse_the_copy(gh, cache_dir):
    url = f"https://github.com/fusedio/udfs/tree/{SHA}/public/A"
    fetch(gh, cache_dir, url)
    with FakeGitHub() as other:
        other.add_tree(
            "fusedio",
            "udfs",
            SHA,
            {"public/A/meta.json": meta_json("A", "o.py"), "public/A/o.py": "O = 1\n"},
        )
        r = native.github_fetch(
            url, cache_dir=str(cache_dir), api_url=other.api_url, raw_url=other.raw_url
        )
        assert not r["from_cache"] and files_in(r["path"])["o.py"] == "O = 1\n"


# ------------------------------------------------------------------------------ errors
def test_missing_folder_is_file_not_found_naming_owner_repo_ref_and_path(gh, cache_dir):
    with pytest.raises(FileNotFoundError) as exc:
        fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/Nope")
    msg = str(exc.value)
    for part in [
        "owner 'fusedio'",
        "repo 'udfs'",
        "ref 'main'",
        "path 'public/Nope'",
        "GITHUB_TOKEN",
    ]:
        assert part in msg, msg
    # The ref exists, so longer ref/path splits are not tried.
    assert gh.requests["/api/repos/fusedio/udfs/contents/public/Nope"] == 1
    assert gh.total_requests == 2


def test_missing_ref_and_missing_file(gh, cache_dir):
    with pytest.raises(FileNotFoundError, match="ref 'nobranch'.*path 'public/A'"):
        fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/nobranch/public/A")
    with pytest.raises(FileNotFoundError, match="ref 'main', path 'public/A/nope.py'"):
        fetch(gh, cache_dir, "https://github.com/fusedio/udfs/blob/main/public/A/nope.py")
    gh.add_tree("o", "r", "main", {"u/meta.json": meta_json("U", "missing.py")})
    with pytest.raises(FileNotFoundError, match="'missing.py' named by meta.json"):
        fetch(gh, cache_dir, "https://github.com/o/r/tree/main/u")


@pytest.mark.parametrize("status", [403, 429])
def test_rate_limit_gives_the_reset_time_and_suggests_github_token(gh, cache_dir, status):
    gh.rate_limit(True, status=status, reset_in=600)
    with pytest.raises(PermissionError) as exc:
        fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/A")
    msg = str(exc.value)
    assert "rate limit" in msg and "GITHUB_TOKEN" in msg
    reset = exc.value.reset_at
    assert abs(reset - (time.time() + 600)) < 30
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(reset)) in msg
    assert re.search(r"resets in (59\d|600) s", msg), msg


def test_token_is_sent_to_raw_and_api(gh, cache_dir):
    fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/B", token="tok123")
    fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/public/A", token="tok123")
    kinds = {e["path"].split("/")[1] for e in gh.log}
    assert kinds == {"raw", "api"}
    assert gh.auth_headers == ["Bearer tok123"] * len(gh.log)
    gh.reset_counts()
    with pytest.raises(FileNotFoundError) as exc:
        fetch(gh, cache_dir, "https://github.com/fusedio/udfs/tree/main/nope", token="tok123")
    assert "GITHUB_TOKEN" not in str(exc.value)  # the private-repo hint is for anonymous calls
    gh.reset_counts()
    fetch(gh, cache_dir, "https://github.com/fusedio/udfs/blob/main/public/B/B.py")
    assert gh.auth_headers == [None]


def test_unsafe_names_and_oversized_files_are_refused(gh, cache_dir):
    gh.add_tree("o", "r", "main", {"u/meta.json": meta_json("U", "../../evil.py")})
    with pytest.raises(ValueError, match="'../../evil.py'"):
        fetch(gh, cache_dir, "https://github.com/o/r/tree/main/u")
    gh.add_tree("o", "r", "main", {"big/big.py": b"#" * (10 * 1024 * 1024 + 1)})
    with pytest.raises(OSError, match="10 MiB"):
        fetch(gh, cache_dir, "https://github.com/o/r/blob/main/big/big.py")
    gh.add_tree("o", "r", "main", {"nocode/data.csv": "a,b\n"})
    with pytest.raises(ValueError, match="no meta.json and no .py file"):
        fetch(gh, cache_dir, "https://github.com/o/r/tree/main/nocode")
    assert not (cache_dir / "github" / "o" / "r" / "folder" / "main~nocode").exists()


# ------------------------------------------------------------------------------ gists
def test_gist_fetch(gh, cache_dir):
    gh.add_gist(
        {"A.py": "A = 1\n", "meta.json": "{}", "README.md": "# gist\n"},
        gist_id=GIST_ID,
        owner="someone",
    )
    r = fetch(gh, cache_dir, f"https://gist.github.com/someone/{GIST_ID}")
    assert files_in(r["path"]) == {"A.py": "A = 1\n", "meta.json": "{}", "README.md": "# gist\n"}
    assert {k: r[k] for k in ("kind", "owner", "repo", "ref", "subpath", "gist_id")} == {
        "kind": "gist",
        "owner": "someone",
        "repo": None,
        "ref": None,
        "subpath": None,
        "gist_id": GIST_ID,
    }
    assert r["path"] == str(cache_dir / "gist" / GIST_ID)
    assert dict(gh.requests) == {f"/api/gists/{GIST_ID}": 1}
    gh.reset_counts()
    # Same gist without the user; revalidated with one conditional request.
    r = fetch(gh, cache_dir, f"https://gist.github.com/{GIST_ID}", revalidate_s=0)
    assert r["from_cache"] and [e["status"] for e in gh.log] == [304]
    gh.add_gist({"A.py": "A = 2\n"}, gist_id=GIST_ID, owner="someone")
    r = fetch(gh, cache_dir, f"https://gist.github.com/{GIST_ID}", revalidate_s=0)
    assert files_in(r["path"]) == {"A.py": "A = 2\n"}


def test_gist_truncated_files_and_pinned_revisions(gh, cache_dir):
    big = "X = '" + "x" * 5000 + "'\n"
    gh.add_gist({"big.py": big, "small.py": "S = 1\n"}, gist_id=GIST_ID)
    gh.gist_truncate_over = 1000
    revision = gh.gist(GIST_ID)["history"][0][0]
    url = f"https://gist.github.com/fake-user/{GIST_ID}/{revision}"
    r = fetch(gh, cache_dir, url)
    assert files_in(r["path"]) == {"big.py": big, "small.py": "S = 1\n"}
    assert r["ref"] == revision
    assert gh.requests[f"/gist-raw/{GIST_ID}/{revision}/big.py"] == 1
    gh.reset_counts()
    assert fetch(gh, cache_dir, url, revalidate_s=0)["from_cache"]
    assert gh.total_requests == 0


def test_missing_gist(gh, cache_dir):
    with pytest.raises(FileNotFoundError, match=f"gist '{GIST_ID}'"):
        fetch(gh, cache_dir, f"https://gist.github.com/{GIST_ID}")


def test_create_gist_and_load_it_back(gh, cache_dir):
    files = {"A.py": "A = 1\n", "meta.json": meta_json("A", "A.py"), "README.md": "# A\n"}
    created = native.github_create_gist(
        files, description="UDF A", public=False, api_url=gh.api_url, token="tok"
    )
    gist_id = created["id"]
    assert created["html_url"] == f"https://gist.github.com/fake-user/{gist_id}"
    stored = gh.gist(gist_id)
    assert (stored["description"], stored["public"]) == ("UDF A", False)
    assert gh.gist_files(gist_id) == files
    assert gh.log[-1]["authorization"] == "Bearer tok"
    r = fetch(gh, cache_dir, created["html_url"])
    assert files_in(r["path"]) == files


def test_create_gist_needs_a_token(gh):
    for token in (None, ""):
        with pytest.raises(PermissionError, match="creating a gist needs GITHUB_TOKEN"):
            native.github_create_gist(
                {"A.py": "A = 1\n"}, description="", public=False, api_url=gh.api_url, token=token
            )
    assert gh.total_requests == 0
    with pytest.raises(ValueError, match="'A.py'"):
        native.github_create_gist(
            {"A.py": ""}, description="", public=False, api_url=gh.api_url, token="tok"
        )
    gh.rate_limit(True)
    with pytest.raises(PermissionError, match="rate limit"):
        native.github_create_gist(
            {"A.py": "A = 1\n"}, description="", public=False, api_url=gh.api_url, token="tok"
        )
