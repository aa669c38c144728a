"""BLEU-1..4, METEOR, ROUGE-L and CIDEr as the COCO caption evaluation (pycocoevalcap) computes them.

The figures are pycocoevalcap's own: its PTB tokenizer (Stanford CoreNLP 3.4.1, `-preserveLines
-lowerCase`, then its punctuation list removed), its `Bleu(4)` (corpus BLEU, "closest" reference
length), its METEOR 1.5 jar (`-l en -norm`), its `Rouge` (ROUGE-L, beta 1.2, mean over images)
and its `Cider` (CIDEr-D: sigma 6, clipped counts, length penalty, x10, document frequencies
from the references of the scored set). The tests compare every value with what pycocoevalcap's
`COCOEvalCap.evaluate()` gives on the same inputs.

What differs from `COCOEvalCap`, none of it changing a value:

- The PTB tokenizer runs once, over references and predictions together (COCOEvalCap runs it
  twice), through stdin instead of a temporary file that pycocoevalcap writes into its own
  package folder (which fails where site-packages is read-only), with its exit status and its
  line count checked: pycocoevalcap ignores both, so a failing or misaligned run there gives
  silently wrong scores.
- METEOR: the same jar, command line and `SCORE`/`EVAL` protocol as `pycocoevalcap.meteor.Meteor`,
  but the segments are written in one stream while a reader collects the answers (pycocoevalcap
  waits for each answer before sending the next line), the process starts before tokenization
  so its 61 MB paraphrase table loads meanwhile, and it is always closed. Its stderr goes to a
  temporary file (a pipe nobody reads can fill and block it), a stall with no answer for
  `METEOR_STALL_S` seconds kills it with an error instead of hanging, and an "Error:" answer is
  raised, not parsed as a score.
- Line breaks inside a caption: pycocoevalcap replaces "\\n" with a space, but the tokenizer also
  breaks lines at "\\r", "\\v", "\\f", U+2028 and U+2029, which shifts every later caption onto
  the wrong image there. Here all six become a space, the natural extension of what pycocoevalcap
  does for "\\n"; for text without them the input is byte for byte what pycocoevalcap tokenizes.

Quirks of pycocoevalcap that are kept, since they are the published numbers:

- Its punctuation list has "-LRB-", "-RRB-", "-LCB-", "-RCB-" in upper case, but the tokenizer
  runs with `-lowerCase`, so brackets survive as the tokens "-lrb-", "-rrb-", "-lsb-", "-rsb-".
- METEOR strips "|||" from the prediction but not from references, where it splits a reference
  in two.
- CIDEr's document frequencies come from the scored set itself, so one caption scored alone
  always gets CIDEr 0 (every n-gram's idf is log(1) - log(1)), and a caption's CIDEr depends on
  which other images are scored with it.
- BLEU and METEOR `value`s are corpus-level (from summed statistics), not the mean of
  `per_sample`; ROUGE-L and CIDEr values are the mean of `per_sample`.
- An empty prediction is scored (as the one empty token pycocoevalcap makes of it), not rejected.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO

from vlmperf.errors import InputError
from vlmperf.scoring.java import JavaError, java_failure, require_java
from vlmperf.scoring.result import MetricResult, check_text_references, interval

METRIC_NAMES = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")
# Characters Stanford's PTBTokenizer (with -preserveLines) ends a line at; each becomes a space.
LINE_BREAKS = "\n\r\x0b\x0c\u2028\u2029"
_LINE_BREAK_TABLE = str.maketrans({c: " " for c in LINE_BREAKS})
# Seconds METEOR may go without answering (its start, loading the paraphrase table, takes ~10 s).
METEOR_STALL_S = 300.0


def _pycocoevalcap():
    """Import pycocoevalcap, or say how to install it."""
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor import meteor
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer import ptbtokenizer
    except ImportError as exc:
        raise InputError(
            "caption metrics need pycocoevalcap: pip install 'vlmperf[quality]' (or pip install pycocoevalcap)"
        ) from exc
    return Bleu, Cider, Rouge, meteor, ptbtokenizer


def implementation() -> dict[str, str]:
    """What computed the caption metrics: recorded with every figure."""
    return {
        "name": "pycocoevalcap",
        "version": importlib.metadata.version("pycocoevalcap"),
        "tokenizer": "PTBTokenizer",
    }


def caption_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, MetricResult]:
    """bleu_1..4, meteor, rouge_l and cider of `predictions` against `references`, as pycocoevalcap gives them.

    `value` is pycocoevalcap's figure for the set: corpus BLEU-n (n-gram statistics summed over
    images, brevity penalty from the closest reference lengths), corpus METEOR (the jar's
    aggregate over all segments' statistics), and the mean over images of ROUGE-L and CIDEr-D.
    `per_sample` is pycocoevalcap's per-image score, in the key order of `predictions`, and
    `ci95` is `interval(per_sample, value)` (None below 5 images). References of ids that were
    not predicted are ignored. Needs Java (InputError otherwise) and starts two Java processes;
    to score many sets in a row, keep one `CaptionScorer` open, which loads METEOR once.
    """
    check_text_references(predictions, references)  # bad input is reported before Java is looked for
    with CaptionScorer() as scorer:
        return scorer.score(predictions, references)


class CaptionScorer:
    """Scores sets of captions with one METEOR process kept open between sets.

    METEOR's start (loading its paraphrase table) takes about as long as scoring 5,000 captions,
    so a sweep that scores cell after cell should open one scorer: `with CaptionScorer() as s:
    s.score(...)`. The process is closed on leaving the block, on `close()`, or after an error.
    `start(...)` / `.result()` split a set in two so other work can run while METEOR scores.
    """

    def __init__(self) -> None:
        self._java = require_java("caption metrics (bleu_1..4, meteor, rouge_l, cider)")
        self._modules = _pycocoevalcap()
        self._meteor: _Meteor | None = None
        self._pending: PendingCaptions | None = None

    def __enter__(self) -> CaptionScorer:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the METEOR process, if one is running (at once if a set is still in progress)."""
        if self._meteor is not None:
            if self._pending is not None:
                self._meteor.kill()  # its answers are no longer wanted; do not wait for them
            self._meteor.close()
            self._meteor = None
        self._pending = None

    def score(self, predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, MetricResult]:
        """The seven caption metrics for one set (see `caption_metrics`)."""
        return self.start(predictions, references).result()

    def start(self, predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> PendingCaptions:
        """Tokenize and hand METEOR its work, then return while METEOR scores in its own process.

        METEOR is the slowest part (a cold start loads its paraphrase table first); other work
        done before `.result()`, such as `word_error_rate` and `char_error_rate` on the same
        set, runs in that wait instead of after it. `.result()` computes BLEU, ROUGE-L and CIDEr
        and collects METEOR. One set at a time per scorer.
        """
        if self._pending is not None:
            raise RuntimeError("this CaptionScorer already has a set in progress: call .result() on it first")
        ids = check_text_references(predictions, references)
        meteor_module, ptb_module = self._modules[3], self._modules[4]
        if self._meteor is None or not self._meteor.alive():
            if self._meteor is not None:
                self._meteor.close()
            self._meteor = _Meteor(self._java, meteor_module)  # starts loading while we tokenize
        try:
            gts, res = tokenize(self._java, ptb_module, ids, predictions, references)
            self._pending = PendingCaptions(self, gts, res, self._meteor.submit(gts, res))
        except BaseException:
            self._abort()
            raise
        return self._pending

    def _abort(self) -> None:
        """After an error: stop METEOR at once (it may be mid-answer) and forget the set in progress."""
        if self._meteor is not None:
            self._meteor.kill()
        self.close()


class PendingCaptions:
    """One set being scored (from `CaptionScorer.start`): `.result()` gives the seven metrics."""

    def __init__(
        self, scorer: CaptionScorer, gts: dict[str, list[str]], res: dict[str, list[str]], meteor: _PendingMeteor
    ) -> None:
        self._scorer = scorer
        self._gts = gts
        self._res = res
        self._meteor = meteor
        self._results: dict[str, MetricResult] | None = None

    def result(self) -> dict[str, MetricResult]:
        if self._results is not None:
            return self._results
        bleu_cls, cider_cls, rouge_cls = self._scorer._modules[:3]
        gts, res = self._gts, self._res
        try:
            bleu, bleu_scores = bleu_cls(4).compute_score(gts, res, verbose=0)
            rouge, rouge_scores = rouge_cls().compute_score(gts, res)
            cider, cider_scores = cider_cls().compute_score(gts, res)
            meteor, meteor_scores = self._meteor.result()
        except BaseException:
            self._scorer._abort()
            raise
        self._scorer._pending = None
        figures = {
            **{f"bleu_{n + 1}": (bleu[n], bleu_scores[n]) for n in range(4)},
            "meteor": (meteor, meteor_scores),
            "rouge_l": (rouge, rouge_scores),
            "cider": (cider, cider_scores),
        }
        impl = implementation()
        results = {}
        for name in METRIC_NAMES:
            value, scores = figures[name]
            per_sample = tuple(float(s) for s in scores)
            results[name] = MetricResult(
                value=float(value),
                per_sample=per_sample,
                ci95=interval(per_sample, float(value)),
                implementation=dict(impl),
            )
        self._results = results
        return results


def tokenize(
    java: str,
    ptb_module,
    ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """pycocoevalcap's PTBTokenizer over references and predictions in one Java run: (gts, res)."""
    sentences = [ref for key in ids for ref in references[key]] + [predictions[key] for key in ids]
    lines = ptb_tokenize(java, ptb_module, sentences)
    gts: dict[str, list[str]] = {}
    pos = 0
    for key in ids:
        count = len(references[key])
        gts[key] = lines[pos : pos + count]
        pos += count
    res = {key: [lines[pos + i]] for i, key in enumerate(ids)}
    return gts, res


def ptb_tokenize(java: str, ptb_module, sentences: Sequence[str]) -> list[str]:
    """Each sentence as pycocoevalcap's `PTBTokenizer.tokenize` returns it (line breaks made spaces first)."""
    jar_dir = os.path.dirname(os.path.abspath(ptb_module.__file__))
    cmd = [
        java,
        "-cp",
        os.path.join(jar_dir, ptb_module.STANFORD_CORENLP_3_4_1_JAR),
        "edu.stanford.nlp.process.PTBTokenizer",
        "-preserveLines",
        "-lowerCase",
        "-encoding",
        "utf-8",
    ]
    text = "\n".join(s.translate(_LINE_BREAK_TABLE) for s in sentences)
    try:
        done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False)
    except OSError as exc:
        raise java_failure("the PTB tokenizer (Java)", f"would not start: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise java_failure(
            "the PTB tokenizer (Java)", "failed", done.returncode, done.stderr[-20_000:].decode("utf-8", "replace")
        )
    lines = done.stdout.decode("utf-8", "replace").split("\n")
    if len(lines) < len(sentences) or any(line.strip() for line in lines[len(sentences) :]):
        raise java_failure(
            "the PTB tokenizer (Java)",
            f"returned {len(lines)} lines for {len(sentences)} captions, "
            "refusing to pair captions with the wrong images",
        )
    punctuations = set(ptb_module.PUNCTUATIONS)
    return [" ".join(w for w in line.rstrip().split(" ") if w not in punctuations) for line in lines[: len(sentences)]]


class _Meteor:
    """pycocoevalcap's METEOR 1.5 process (same jar, command line and protocol), streamed and always closed."""

    def __init__(self, java: str, meteor_module) -> None:
        # pycocoevalcap.meteor.Meteor.__init__'s command, with the checked java.
        cmd = [java, "-jar", "-Xmx2G", meteor_module.METEOR_JAR, "-", "-", "-stdio", "-l", "en", "-norm"]
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; close()
        try:
            self._proc = subprocess.Popen(
                cmd,
                cwd=os.path.dirname(os.path.abspath(meteor_module.__file__)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except OSError as exc:
            self._stderr.close()
            raise java_failure("METEOR (Java)", f"would not start: {exc.strerror or exc}") from None

    def alive(self) -> bool:
        return self._proc.poll() is None

    def __del__(self) -> None:  # a scorer that was never closed must not leave Java running
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def submit(self, gts: Mapping[str, list[str]], res: Mapping[str, list[str]]) -> _PendingMeteor:
        """Start scoring in a background thread; `.result()` gives (corpus score, per-image scores)."""
        lines = [_score_line(res[key][0], gts[key]) for key in gts]
        return _PendingMeteor(self, lines)

    def exchange(self, lines: Sequence[str], answers: int, progress: list[float]) -> list[str]:
        """Write `lines` while reading `answers` lines back; raises on EOF or an 'Error:' answer."""
        payload = "".join(line + "\n" for line in lines).encode("utf-8")
        write_error: list[BaseException] = []

        def write() -> None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(payload)
                self._proc.stdin.flush()
            except BaseException as exc:  # noqa: BLE001 - reported by the reader below
                write_error.append(exc)

        writer = threading.Thread(target=write, name="vlmperf-meteor-writer", daemon=True)
        writer.start()
        out = []
        assert self._proc.stdout is not None
        for _ in range(answers):
            raw = self._proc.stdout.readline()
            if not raw:
                writer.join(timeout=5)
                raise self._failure("stopped answering")
            answer = raw.decode("utf-8", "replace").strip()
            if answer.startswith("Error"):
                raise self._failure(f"answered {' '.join(answer.split())[:200]!r}")
            out.append(answer)
            progress[0] = time.monotonic()
        writer.join()
        if write_error:
            raise self._failure(f"could not be written to ({type(write_error[0]).__name__})")
        return out

    def _failure(self, what: str) -> JavaError:
        """A one-line JavaError saying `what` happened, with the exit code and stderr's last lines."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=2)  # it is ending: let its exit code and last words arrive
        self._stderr.seek(0)
        err = self._stderr.read()[-20_000:].decode("utf-8", "replace")
        return java_failure("METEOR (Java)", what, self._proc.poll(), err)

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        """Close stdin so METEOR exits; kill it if it does not within 10 s."""
        try:
            if self._proc.stdin is not None and not self._proc.stdin.closed:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()


class _PendingMeteor:
    """One set's METEOR scoring, running in a thread while the Python metrics are computed."""

    def __init__(self, meteor: _Meteor, lines: list[str]) -> None:
        self._meteor = meteor
        self._lines = lines
        self._progress = [time.monotonic()]
        self._outcome: tuple[float, list[float]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vlmperf-meteor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            n = len(self._lines)
            # pycocoevalcap's Meteor.compute_score: one SCORE line per image gives its statistics,
            # then one EVAL line with all of them gives each image's score and the corpus score.
            stats = self._meteor.exchange(self._lines, n, self._progress)
            eval_line = "EVAL" + "".join(f" ||| {stat}" for stat in stats)
            answers = self._meteor.exchange([eval_line], n + 1, self._progress)
            try:
                self._outcome = (float(answers[-1]), [float(a) for a in answers[:-1]])
            except ValueError:
                said = " ".join(" ".join(answers[-3:]).split())[:200]
                raise java_failure("METEOR (Java)", f"answered something that is not a score: {said!r}") from None
        except BaseException as exc:  # noqa: BLE001 - re-raised in result()
            self._error = exc

    def result(self) -> tuple[float, list[float]]:
        while self._thread.is_alive():
            self._thread.join(timeout=1.0)
            if self._thread.is_alive() and time.monotonic() - self._progress[0] > METEOR_STALL_S:
                self._meteor.kill()
                self._thread.join()
                raise java_failure("METEOR (Java)", f"gave no answer for {METEOR_STALL_S:.0f} s and was stopped")
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome


def _score_line(hypothesis: str, references: Sequence[str]) -> str:
    """pycocoevalcap's `Meteor._stat` line: SCORE ||| ref 1 ||| ... ||| ref n ||| hypothesis."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    return " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))
