"""What every study kind shares, written once; a kind imports from here, never from another kind.

- :mod:`.refs`: how a spec names a layer and a checkpoint (:data:`LayerRef`,
  :data:`CheckpointRef`), fields that take one value or a list (:func:`listed`,
  :func:`loc`);
- :mod:`.checks`: the layer and checkpoint checks, one message each;
- :mod:`.weights`: a layer's weight as a matrix of unit rows, its normalization, the one ``EPS``;
- :mod:`.seeds`: seeds derived for one purpose from a run's seed;
- :mod:`.measures`: the frame potential and each unit's contribution to it;
- :mod:`.orders`: removal orders (by score, greedy frame potential) and unit scores (mean |activation|);
- :mod:`.removal`: accuracy with units of one layer removed, the fast sweep over removal levels;
- :mod:`.structural`: networks built smaller (units removed from the weights), their parameters and FLOPs;
- :mod:`.imp`: iterative magnitude pruning, the masks of each round and the ticket of one round;
- :mod:`.masks`: counts read from 0/1 masks (NumPy only).

``refs`` and ``checks`` are plain Python (they run when a spec is validated),
``masks`` needs only NumPy; the rest are compute.
"""
