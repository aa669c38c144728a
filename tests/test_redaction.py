"""No key is stored: a server that echoes the key everywhere it can leaves no trace of it in the
store, in `export --what records` or on the CLI's output; and the Redactor's rules one by one."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.backends.endpoint.client import Attempt, Endpoint, redact
from vlmperf.backends.endpoint.redact import MAX_DEPTH, REDACTED, Redactor
from vlmperf.store.sqlite import Store

from fixtures import scripted_server as ss

KEY = f"{secrets.token_hex(12)}-vlmperf-test-key"
"""Shaped like no provider's token: only the key's own value can find it."""
AUTH = f"Bearer {KEY}"
VARIABLE = "VLMPERF_REDACTION_TEST_KEY"


def _needles() -> list[bytes]:
    """The key and its encodings, and its first 8 characters (a cut-off key is a leak too)."""
    forms = {KEY, urllib.parse.quote(KEY, safe=""), json.dumps(KEY)[1:-1], KEY[:8]}
    return [form.encode() for form in forms]


def _hits(data: bytes) -> list[bytes]:
    return [needle for needle in _needles() if needle in data]


def _cut_error_body() -> dict:
    """An error body whose first 500 bytes (what is kept of it) end inside the key."""
    prefix = len(json.dumps({"error": {"message": ""}})) - 3  # '{"error": {"message": "'
    return {"error": {"message": "x" * (500 - prefix - 10) + KEY + " is not a valid key"}}


def echoing_reply(index: int, body: dict) -> ss.Reply:
    """Each request meets the key in another place a server can echo it."""
    provider = {"x-inference-provider": f"provider-for-{KEY}"}
    stream = body.get("stream", False)
    kind = index % 6
    if kind == 0:  # 4xx error body, with the header that vlmperf records
        return ss.error_reply(401, f"invalid credentials in Authorization: {AUTH}", headers=provider)
    if kind == 1:  # 5xx error body, cut at 500 bytes in the middle of the key
        return ss.Reply(status=503, json_body=_cut_error_body())
    if kind == 2:  # 429, the key URL-encoded in a link
        return ss.error_reply(429, f"see https://example.invalid/usage?key={urllib.parse.quote(KEY, safe='')}")
    if kind == 3 and stream:  # an SSE error event mid-stream
        return ss.Reply(
            events=[
                ss.Event(0, ss.role_chunk()),
                ss.Event(0.001, ss.content_chunk("Half an ans")),
                ss.Event(0.002, {"error": {"message": f"upstream refused {AUTH}", "code": 401}}),
            ]
        )
    answer = ["Your key is ", KEY[:9], KEY[9:], "."]  # split over chunks
    if stream:  # response id, provider header and the content
        events = [ss.Event(0, {**ss.role_chunk(), "id": f"chatcmpl-{KEY}"})]
        events += [
            ss.Event(0.001 * (k + 1), {**ss.content_chunk(t), "id": f"chatcmpl-{KEY}"}) for k, t in enumerate(answer)
        ]
        events += [ss.Event(0.005, ss.finish_chunk()), ss.Event(0.005, ss.DONE)]
        return ss.Reply(events=events, headers=provider)
    reply = ss.json_reply("".join(answer), headers=provider)
    reply.json_body["id"] = f"chatcmpl-{KEY}"
    return reply


def _config(tmp_path: Path, server: ss.ScriptedServer, stream: bool) -> Path:
    path = tmp_path / f"echo-{stream}.yaml"
    path.write_text(
        f"target: {{kind: endpoint, preset: hf-router, base_url: '{server.base_url}', model: org/m, provider: p, "
        f"api_key_env: {VARIABLE}, stream: {str(stream).lower()}}}\n"
        "workload: {task: vqa, limit: 3}\nscenario: {kind: single-stream}\n"
        "measure: {min_runs: 12, max_runs: 12, warmup_runs: 2, max_error_rate: 1.0}\n"
    )
    return path


@pytest.mark.slow
def test_a_server_echoing_the_key_everywhere_leaves_none_of_it_stored_exported_or_printed(
    tmp_path, monkeypatch, vlmperf_env
):
    monkeypatch.setenv(VARIABLE, KEY)
    out = tmp_path / "results"
    env = {**vlmperf_env, VARIABLE: KEY}
    with ss.ScriptedServer(echoing_reply) as json_server:  # non-streaming, in process
        json_run = vp.run(_config(tmp_path, json_server, stream=False), out=out).run_id
    with ss.ScriptedServer(echoing_reply) as sse_server:  # streaming, through the CLI
        command = [
            sys.executable,
            "-m",
            "vlmperf",
            "run",
            str(_config(tmp_path, sse_server, stream=True)),
            "--out",
            str(out),
        ]
        ran = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
    assert ran.returncode == 0, ran.stderr.decode()
    served = json_server.requests + sse_server.requests
    assert len(served) == 28 and {r.headers["Authorization"] for r in served} == {AUTH}, "the key did go out"

    with Store.open(out, create=False) as store:
        (sse_run,) = {run.id for run in store.runs()} - {json_run}
    records = vp.records_frame(sse_run, out=out)
    json_records = vp.records_frame(json_run, out=out)
    assert len(records) == len(json_records) == 12
    by_error = records["error"].map(lambda e: (e or {}).get("class"))
    assert {"http_4xx", "http_5xx", "rate_limited", "stream_error"} <= set(by_error), "every echo was recorded"
    ok = records[by_error.isna()]
    assert (ok["response_id"] == f"chatcmpl-{REDACTED}").all() and (ok["served_by"] == f"provider-for-{REDACTED}").all()
    assert (ok["outputs"].map(lambda o: o[0]) == f"Your key is {REDACTED}.").all()

    export = tmp_path / "records.csv"
    exported = subprocess.run(
        [sys.executable, "-m", "vlmperf", "export", sse_run, "--what", "records", "-o", str(export), "--out", str(out)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr.decode()
    stored = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    json_rows = repr(json_records.to_dict("records")).encode()
    assert (json_records["response_id"].dropna() == f"chatcmpl-{REDACTED}").all()
    assert b"[redacted]" in stored and b"[redacted]" in export.read_bytes()
    for name, data in [
        ("store", stored),
        ("export", export.read_bytes()),
        ("records of the JSON run", json_rows),
        ("run stdout", ran.stdout),
        ("run stderr", ran.stderr),
        ("export stdout", exported.stdout),
        ("export stderr", exported.stderr),
    ]:
        assert _hits(data) == [], f"the key is in the {name}"


# --- the Redactor's rules ------------------------------------------------------------------------


def test_the_key_and_its_encodings_are_redacted():
    key = "s3cr3t/key+with=odd&chars"
    redactor = Redactor([key])
    for form in (key, urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key), json.dumps(key)[1:-1]):
        assert redactor.text(f"before {form} after") == f"before {REDACTED} after"
    assert key not in repr(redactor)


def test_credential_shaped_tokens_are_redacted_whatever_the_key():
    redactor = Redactor()
    assert redactor.text("Authorization: Bearer abc123DEF456ghi") == f"Authorization: {REDACTED}"
    assert redactor.text('{"authorization": "Basic dXNlcjpwYXNzd29yZA=="}') == f'{{"authorization": "{REDACTED}"}}'
    assert redactor.text("got bearer eyJhbGciOi.J9x1.sig-_ here") == f"got bearer {REDACTED} here"
    assert redactor.text("x-api-key=abcdef0123456789") == f"x-api-key={REDACTED}"
    for token in (
        "hf_" + "aB3" * 10,
        "ghp_" + "Zz9" * 12,
        "github_pat_11ABCDEFG_" + "x1" * 20,
        "sk-proj-" + "Ab1-" * 10,
    ):
        assert redactor.text(f"token {token} rejected") == f"token {REDACTED} rejected"
    # words are not tokens
    for text in ("the bearer instruments", "token generation is slow", "use sk-learn", "hf_hub is a library"):
        assert redactor.text(text) == text


def test_a_key_cut_off_by_a_length_limit_loses_its_start_too():
    key = "vlmperf-abcdef-0123456789"
    redactor = Redactor([key])
    assert redactor.text(f"bad key {key[:10]}") == f"bad key {REDACTED}"
    assert redactor.text("ends with vlm") == "ends with vlm", "under 4 characters of a key are no leak"


def test_short_secrets_are_not_redacted_as_substrings():
    redactor = Redactor(["abc", "", None])
    assert redactor.secrets == ()
    assert redactor.text("abcdef abc") == "abcdef abc"


def test_nested_structures_are_redacted_keys_and_all():
    key = "nested-secret-0123"
    redactor = Redactor([key])
    value = {"error": {"message": f"no {key}", "details": [key, ("x", key), 3, None], key: 1.5}}
    assert redactor.value(value) == {
        "error": {"message": f"no {REDACTED}", "details": [REDACTED, ("x", REDACTED), 3, None], REDACTED: 1.5}
    }
    deep: object = key
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    assert key not in json.dumps(redactor.value(deep))


def test_an_attempt_is_redacted_whole_and_the_endpoint_never_shows_its_key():
    key = "attempt-secret-0123"
    redactor = Redactor([key])
    attempt = Attempt(
        texts={0: ["say ", key[:7], key[7:]], 1: ["clean", " text"]},
        headers={"x-inference-provider": key},
        response_id=key,
        error={"class": "http_4xx", "message": key},
        finish_reasons={0: key},
    )
    redact(attempt, redactor)
    assert attempt.texts == {0: [f"say {REDACTED}"], 1: ["clean", " text"]}
    assert attempt.headers == {"x-inference-provider": REDACTED} and attempt.response_id == REDACTED
    assert attempt.error == {"class": "http_4xx", "message": REDACTED} and attempt.finish_reasons == {0: REDACTED}
    endpoint = Endpoint(
        "http://127.0.0.1:1/v1", {"Authorization": f"Bearer {key}"}, True, 1, 1, 1, 1, redactor=redactor
    )
    assert key not in repr(endpoint)
