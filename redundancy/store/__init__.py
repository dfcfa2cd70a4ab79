"""The store: one owner of the on-disk format.

- :mod:`redundancy.store.layout`: every folder, file, HDF5 path and attribute name;
- :mod:`redundancy.store.files`: atomic writes of stage files and ``index.h5``, plain reads;
- :mod:`redundancy.store.stages`: how train and study results become stage files and back
  (imports torch; readers of the store do not need it);
- :mod:`redundancy.store.reader`: the one tolerant reader (``show``, ``ls``, the TUI, the
  report and :func:`redundancy.open_store` read through it);
- :mod:`redundancy.store.results`: typed study results and their decoding from every stored form.

Importing this package never imports torch.
"""

from redundancy.store import layout
from redundancy.store.files import FORMAT_VERSION, INDEX, STAGES, StageInfo, Store, now_iso, open_h5, read_attrs, to_json

__all__ = ["FORMAT_VERSION", "INDEX", "STAGES", "StageInfo", "Store", "layout", "now_iso", "open_h5", "read_attrs", "to_json"]
