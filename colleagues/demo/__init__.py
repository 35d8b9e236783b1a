"""A deterministic synthetic company, Northwind Robotics, written as plain files.

Products ingest its Slack export, mbox, documents and directory like real data; tests
check their results against ``truth.json``. See `colleagues.demo.generate`.
"""
