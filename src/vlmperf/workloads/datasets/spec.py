"""What a dataset source is told: where the rows live, which subset to take, and which columns mean what.

Two specs, kept apart on purpose. `DatasetSource` is what a user changes between runs (the split,
the revision, how many samples, the seed); `ColumnMap` is a property of the dataset's layout, so
a task or a preset declares it once. Both are frozen pydantic models that reject unknown keys, so
they can sit inside the run config and a typo fails validation instead of silently loading
something else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

SourceKind = Literal["hub", "parquet", "jsonl", "imagefolder"]

# Keys every sample's meta carries already; a mapped meta column may not shadow them.
RESERVED_META_KEYS = frozenset({"source", "dataset", "config", "split", "row_index"})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSource(_Frozen):
    """Where samples come from and which reproducible subset of them to take.

    kinds:
    - `hub`: a Hugging Face Hub dataset id (`lmms-lab/textvqa`), or a local folder laid out like
      a hub dataset repo (`data/validation-00000-of-00001.parquet`, optional README.md with
      `configs:`), read through `datasets` exactly as the hub copy would be.
    - `parquet`: a parquet file, a folder of them, or a glob.
    - `jsonl`: a .jsonl file; image columns hold paths relative to `image_dir`.
    - `imagefolder`: a folder of images with a `metadata.jsonl` (`file_name` names the image),
      the Hugging Face imagefolder convention.
    """

    kind: SourceKind = "hub"
    path: str = Field(..., min_length=1, description="hub id or local folder / file / glob, depending on kind")
    name: str | None = Field(None, description="dataset config name (hub only), e.g. ScienceQA-IMG")
    split: str | None = Field(None, description="split to read (hub, imagefolder); None: the only split there is")
    revision: str | None = Field(None, description="hub branch, tag or commit; the resolved commit is recorded")
    streaming: bool = Field(False, description="read rows as a stream instead of downloading the whole split")
    limit: PositiveInt | None = Field(None, description="use at most this many rows; None: all")
    seed: int = Field(0, description="seed of the subset selection")
    selection: Literal["random", "first"] = Field(
        "random", description="random: a seeded sample of row indices; first: the first `limit` rows"
    )
    image_dir: str | None = Field(
        None, description="folder that relative image paths are read from (jsonl, parquet); default: the file's folder"
    )
    allow_paths_outside: bool = Field(
        False,
        description="read image paths that are absolute or lead out of the image folder (off: a dataset "
        "file could otherwise name any file on this machine)",
    )

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> DatasetSource:
        if self.kind != "hub":
            for field in ("name", "revision"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{field} applies to hub datasets only, not to kind {self.kind!r}")
        if self.kind in ("parquet", "jsonl") and self.split is not None:
            raise ValueError(
                f"split applies to hub and imagefolder datasets; for kind {self.kind!r} point path at the file"
            )
        if self.kind == "jsonl" and self.streaming:
            raise ValueError("streaming applies to hub, parquet and imagefolder datasets, not to jsonl")
        if self.image_dir is not None and self.kind not in ("jsonl", "parquet"):
            raise ValueError(f"image_dir applies to jsonl and parquet datasets, not to kind {self.kind!r}")
        return self


class ColumnMap(_Frozen):
    """Which dataset column fills which part of a Sample; a field left None is not read.

    `id` None numbers samples by their row index. A text column may hold one string or a list of
    strings; `answer_index` may hold an int or a letter (A, B, ...). `meta` copies extra columns
    into `Sample.meta` under the given keys (TextVQA's OCR tokens, ScienceQA's hint), for prompts.
    """

    id: str | None = None
    image: str | None = "image"
    captions: str | None = None
    question: str | None = None
    answers: str | None = None
    choices: str | None = None
    answer_index: str | None = None
    meta: dict[str, str] = Field(default_factory=dict, description="Sample.meta key -> column")

    @field_validator("meta")
    @classmethod
    def _meta_keys_are_free(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(RESERVED_META_KEYS & set(value))
        if clash:
            raise ValueError(f"meta keys {clash} are reserved (every sample has them); pick other names")
        return value

    def used(self) -> dict[str, str]:
        """Every column this map reads, keyed by what it fills (`meta.<key>` for meta columns)."""
        fields = {
            name: getattr(self, name)
            for name in ("id", "image", "captions", "question", "answers", "choices", "answer_index")
        }
        used = {name: column for name, column in fields.items() if column is not None}
        used.update({f"meta.{key}": column for key, column in self.meta.items()})
        return used
