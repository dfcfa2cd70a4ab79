"""The store: one owner of the on-disk format.

- :mod:`redundancy.store.layout`: every folder, file, HDF5 path and attribute name;
- :mod:`redundancy.store.files`: the :class:`Store`: stage files and ``index.h5`` written and validated,
  on :mod:`redundancy.store.folders` (atomic, journaled writes inside the store) and
  :mod:`redundancy.store.checksum`;
- :mod:`redundancy.store.writer`: one writer per store (:mod:`redundancy.store.lock`), its identity,
  stale stages (:mod:`redundancy.store.gc`);
- :mod:`redundancy.store.keys`: ``<layer>@<checkpoint>`` and the paths of a study's tensors, built and read back;
- :mod:`redundancy.store.reader`: the one tolerant reader (``show``, ``ls``, the TUI, the
  report and :func:`redundancy.open_store` read through it), gathering :mod:`~redundancy.store.attrs`,
  :mod:`~redundancy.store.records`, :mod:`~redundancy.store.listing`, :mod:`~redundancy.store.tensors`,
  :mod:`~redundancy.store.browsing` and :mod:`~redundancy.store.document` (the ``show --json`` document, typed);
- :mod:`redundancy.store.results`: typed study results and their decoding from every stored form.

Importing this package never imports torch, nor h5py until a name of :mod:`.files` is asked for.
"""

from typing import Any

from redundancy.store import layout

_FILES = ("FORMAT_VERSION", "INDEX", "STAGES", "StageInfo", "Store", "now_iso", "open_h5", "read_attrs", "to_json")


def __getattr__(name: str) -> Any:
    # h5py is imported when a store is first opened, so the schema registry and ``import redundancy`` stay light.
    if name in _FILES:
        from redundancy.store import files

        return getattr(files, name)
    raise AttributeError(f"module 'redundancy.store' has no attribute {name!r}")


__all__ = ["FORMAT_VERSION", "INDEX", "STAGES", "StageInfo", "Store", "layout", "now_iso", "open_h5", "read_attrs", "to_json"]
