"""Whether a Java runtime is there for the metrics that are Java programs.

pycocoevalcap's PTB tokenizer (Stanford CoreNLP) and its METEOR are Java programs: without a
`java` that runs, those metrics cannot be computed, and vlmperf says so instead of scoring with a
different tokenizer. The check runs `java -version` once per executable path and caches the
answer, so a PATH that changes (a test, a new virtual environment) is checked again.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from vlmperf.errors import InputError, VlmperfError

INSTALL_HINT = (
    "install a Java runtime (8 or newer), for example `apt-get install default-jre-headless` on Debian or "
    "Ubuntu, `brew install openjdk` on macOS or `conda install -c conda-forge openjdk`, and make sure "
    "`java -version` works in the shell that runs vlmperf"
)


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> str | None:
    """The first line `path -version` prints, or None when it does not run."""
    try:
        done = subprocess.run([path, "-version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    text = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "java"


def java_executable() -> str | None:
    """The absolute path of the `java` on PATH if it runs, else None."""
    path = shutil.which("java")
    if path is None or _probe(path) is None:
        return None
    return path


def java_version() -> str | None:
    """What `java -version` says on its first line (for example `openjdk version "17.0.15"`), or None."""
    path = java_executable()
    return _probe(path) if path else None


def require_java(what: str) -> str:
    """The path of a working `java`; raises InputError naming `what` needs it when there is none."""
    path = java_executable()
    if path is None:
        found = shutil.which("java")
        problem = f"`{found} -version` failed" if found else "no `java` on PATH"
        raise InputError(
            f"{what} needs Java ({problem}): pycocoevalcap's PTB tokenizer and METEOR are Java programs, "
            f"and vlmperf does not fall back to a different tokenizer. To fix it, {INSTALL_HINT}."
        )
    return path


class JavaError(VlmperfError):
    """A Java program behind a metric (the PTB tokenizer, METEOR) failed: it would not start, exited,
    was killed, ran out of memory, went silent or answered something that is not a score. The
    message is one line (the CLI prints it as `error: ...` and exits 2); a run that scores cells
    records it as the cell's `info.quality.not_scored` and keeps the cell's speed figures."""


def java_failure(program: str, what: str, code: int | None = None, stderr: str = "") -> JavaError:
    """A one-line JavaError: `program` (e.g. "METEOR (Java)") `what` (e.g. "stopped answering"), with the
    exit code and the last lines of its stderr on one line; running out of memory is said plainly."""
    parts = [f"exit code {code}"] if code is not None else []
    if code is not None and code < 0:
        parts = [f"killed by signal {-code}"]
    lines = [" ".join(line.split()) for line in stderr.splitlines() if line.strip()]
    if any("OutOfMemoryError" in line for line in lines):
        parts.append("out of memory: an input caption is far longer than any caption should be")
    elif lines:
        said = " | ".join(lines[-3:])
        parts.append(f"stderr: {said[-300:]}")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return JavaError(
        f"{program} {what}{detail}; its metrics could not be computed: check that `java -version` runs, "
        "then score again (`vlmperf score --run RUN` re-scores a stored run)"
    )


def clear_cache() -> None:
    """Forget the cached answers (for tests that change what `java` is)."""
    _probe.cache_clear()
