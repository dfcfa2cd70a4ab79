"""An example plugin for redundancy: a model (``nets``) and a study kind (``coherence``)."""
