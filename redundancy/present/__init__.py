"""How results are shown, shared by ``show``/``ls``, the TUI and the report; imports no Rich, Textual or matplotlib.

:mod:`.text` makes store text safe to print (control characters as visible
escapes, HTML and Markdown escaping); :mod:`.format` holds the one cell
formatter, the one palette and the one table of readable labels.
"""
