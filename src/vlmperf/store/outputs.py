"""Each sample's output in a cell, read from its stored records (what scoring and agreement compare)."""

from __future__ import annotations

from typing import Any

from vlmperf.errors import InputError


def first_outputs(records: list[dict[str, Any]], where: str) -> dict[str, str]:
    """Per sample id, the output of the first record holding it (record seq order, then batch position).

    With greedy decoding a sample repeated in later batches gives the same text; the first one is
    the one every consumer uses, so agreement and quality are computed on the same outputs.
    """
    outputs: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.get("seq", 0)):
        ids, texts = record.get("sample_ids"), record.get("outputs")
        if ids is None or texts is None:
            raise InputError(
                f"{where}: record {record.get('seq')} holds no sample_ids or outputs "
                "(a run stored before outputs were recorded); measure it again to score it"
            )
        if len(ids) != len(texts):
            raise InputError(
                f"{where}: record {record.get('seq')} has {len(ids)} sample ids but {len(texts)} outputs; "
                "the store is damaged, measure the cell again"
            )
        for sample_id, text in zip(ids, texts, strict=True):
            if text is not None and str(sample_id) not in outputs:
                outputs[str(sample_id)] = text
    return outputs
