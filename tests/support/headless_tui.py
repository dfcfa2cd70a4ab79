"""The TUI run headless in a subprocess: it selects every study of the store named on its command line
and prints, as JSON, each kind's title, table columns and panels (``tests/test_kinds.py`` and
``tests/test_study_plugins.py`` write it to a file and run it)."""

TUI = """\
import asyncio, json, sys
from redundancy.tui import RedundancyApp
from redundancy.tui import details
from redundancy.tui.source import list_store

root = sys.argv[1]

async def main():
    listing = list_store(root)
    app = RedundancyApp([root], poll=0)
    seen = {}
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        for entry in listing.entries():
            if entry.stage_kind == "train":
                continue
            key = details.stage_key(root, entry.id)
            app._reveal(key)
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
            app.query_one("StoreTree").move_cursor(app.nodes[key])
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
            d = app.detail
            seen[entry.study_kind] = {
                "title": d.title if d else None,
                "columns": [str(c) for c in (d.table.columns if d and d.table else [])],
                "panels": [[p.title, [getattr(s, "label", "") for s in getattr(p, "series", [])]] for p in (d.panels if d else [])],
            }
    print(json.dumps(seen))

asyncio.run(main())
"""
