"""Hub datasets that moved, and the ids a preset falls back to when its current id cannot be opened.

lmms-eval moved its copies of the study's datasets from the `lmms-lab` org to `lmms-lab-encoder`
(EvolvingLMMs-Lab/lmms-eval commit 4be7ee0 "chore: migrate dataset paths to new orgs",
2026-07-30; read at main 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3). The presets read the new ids,
as lmms-eval does now. So that a machine that can reach (or has cached) only the former copy still
runs, a preset tries its current id first and then the former one when the current one cannot be
opened (not found, unreachable, offline without a cache); the id actually read is recorded with
every figure (`Provenance.path`, beside `requested_path`).

A dataset id written in a config is used as given, never swapped: a user who names
`lmms-lab/textvqa` gets exactly that repo. When it cannot be opened, the error names the other id.
"""

from __future__ import annotations

MOVED_DATASETS: dict[str, str] = {
    "lmms-lab/COCO-Caption2017": "lmms-lab-encoder/COCO-Caption2017",
    "lmms-lab/textvqa": "lmms-lab-encoder/textvqa",
    "lmms-lab/ScienceQA": "lmms-lab-encoder/ScienceQA",
}
"""Former hub id -> current hub id."""


def former_ids(path: str) -> tuple[str, ...]:
    """The former ids of a current hub id (what a preset falls back to), oldest last."""
    return tuple(old for old, new in MOVED_DATASETS.items() if new == path)


def other_id_hint(path: str) -> str:
    """A sentence naming the moved copy of `path`, for an error about opening it; empty when none."""
    if path in MOVED_DATASETS:
        return f"; lmms-eval now reads this dataset from {MOVED_DATASETS[path]!r}: set workload.dataset.path to it"
    former = former_ids(path)
    if former:
        return f"; its former id {former[0]!r} may still open: set workload.dataset.path to it"
    return ""
