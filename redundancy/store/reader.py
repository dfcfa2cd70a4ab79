"""The one reader of stores: ``show``, ``ls``, the TUI, the report and the Python API read through it.

It is tolerant by construction. Every stage of a store is *done*, *pending*
(planned, not written), *failed* (with the error ``index.h5`` records) or
*unreadable* (with a one-line reason); nothing a file holds makes it raise:

- text attributes are decoded as UTF-8 with undecodable bytes replaced (and
  the stage flagged), JSON attributes that do not parse make their stage
  unreadable with the attribute named;
- a garbage ``index.h5`` is one line (:attr:`StoreReading.index_error`) while
  the stages are still listed from ``stages/``;
- one bad stage never hides its store, one bad store never hides its folder;
- nothing is followed out of the store: a stage file must be a regular file
  directly in ``stages/`` (no symlink), and an HDF5 external link is followed
  only when its target resolves inside the store folder.

The reader is five modules, gathered here under one name:

- :mod:`redundancy.store.attrs`: attributes decoded, JSON parsed, h5py's errors in a few words;
- :mod:`redundancy.store.records` and :mod:`redundancy.store.listing`: the stages of a store as
  typed records, listed from their attributes and verified before their data is read;
- :mod:`redundancy.store.tensors`: tensors and typed results, each dataset's declared size checked first;
- :mod:`redundancy.store.browsing`: what a command line names, and the TUI's HDF5 tree;
- :mod:`redundancy.store.document`: the ``show --json`` document, typed.

No torch, Textual, Rich or matplotlib here.
"""

from __future__ import annotations

from redundancy.store.attrs import (
    ReadError,
    decode_value,
    describe_h5_error,
    one_line,
    open_checked,
    parse_json,
    read_attrs,
)
from redundancy.store.browsing import (
    PREVIEW_ELEMENTS,
    DatasetData,
    H5Child,
    Source,
    discover,
    file_attrs,
    find_stores,
    group_attrs,
    is_store,
    iter_readings,
    list_group,
    read_dataset,
)
from redundancy.store.checksum import CHECKSUM_MISMATCH
from redundancy.store.document import (
    RUN_FIELDS,
    Document,
    RunEntry,
    StudyEntry,
    as_document,
    document,
    load_document,
    read_document,
    run_entry,
    strict_json,
    study_entry,
)
from redundancy.store.listing import LABEL_ATTRS, complete, raw_curves, raw_summary, read_store, stage_entries, verify
from redundancy.store.records import (
    BAD,
    CORRUPT,
    DONE,
    FAILED,
    INDEX_JSON_ATTRS,
    JSON_ATTRS,
    PENDING,
    UNREADABLE,
    StageRecord,
    StoreReading,
)
from redundancy.store.tensors import (
    A_RESULTS,
    checkpoint_iterations,
    checkpoint_params,
    dataset_names,
    metric_tensor_names,
    read_metrics,
    read_tensor,
    read_tensors,
    study_results,
)

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

__all__ = [
    "A_RESULTS", "BAD", "CHECKSUM_MISMATCH", "CORRUPT", "DONE", "FAILED", "HDF5_SIGNATURE", "INDEX_JSON_ATTRS",
    "JSON_ATTRS", "LABEL_ATTRS", "PENDING", "PREVIEW_ELEMENTS", "RUN_FIELDS", "UNREADABLE", "DatasetData", "Document",
    "H5Child", "ReadError", "RunEntry", "Source", "StageRecord", "StoreReading", "StudyEntry", "as_document",
    "checkpoint_iterations", "checkpoint_params", "complete", "dataset_names", "decode_value", "describe_h5_error",
    "discover", "document", "file_attrs", "find_stores", "group_attrs", "is_store", "iter_readings", "list_group",
    "load_document", "metric_tensor_names", "one_line", "open_checked", "parse_json", "raw_curves", "raw_summary",
    "read_attrs", "read_dataset", "read_document", "read_metrics", "read_store", "read_tensor", "read_tensors",
    "run_entry", "stage_entries", "strict_json", "study_entry", "study_results", "verify",
]
