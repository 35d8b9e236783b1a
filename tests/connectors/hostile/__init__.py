"""Hostile inputs (docs/SECURITY.md rows 4-7), generated at test time.

- `corpus`: every hostile file, with the outcome each must reach; `zips`: archives written
  byte by byte; `harness`: deadlines, snapshots, a loopback canary.
- `test_connectors`: each file next to a good one, through the real connector.
- `test_run_sync`: the whole corpus through `run_sync` on the database, quarantine included.
- `test_real_corpora`: real damaged PDFs and DOCX from ../shared/corpora.
- `test_sandbox`, `test_limits`: where the limits are enforced.
- `test_fuzz`: hypothesis mutations of valid inputs for every parser
  (HOSTILE_FUZZ_EXAMPLES=10000 for the full run SECURITY.md asks for).
"""
