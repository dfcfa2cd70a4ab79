"""What every study kind shares, written once.

- :mod:`.refs`: how a spec names a layer and a checkpoint (:data:`LayerRef`,
  :data:`CheckpointRef`), fields that take one value or a list (:func:`listed`,
  :func:`loc`);
- :mod:`.checks`: the layer and checkpoint checks, one message each;
- :mod:`.weights`: a layer's weight as a matrix of unit rows, and its normalization;
- :mod:`.seeds`: seeds derived for one purpose from a run's seed.

``refs`` and ``checks`` are plain Python (they run when a spec is validated);
``weights`` and ``seeds`` are compute.
"""
