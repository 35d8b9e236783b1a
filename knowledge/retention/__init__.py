"""Retention policies, legal holds and the purge (issue 8; SECURITY.md row 11).

Precedence, as Microsoft Purview and Google Vault define it:

1. A legal hold beats every deletion: retention purge, redaction, erasure, source deletion and
   prune skip what an active hold covers, and record each skip as a `blocked_by_hold` audit
   event naming the holds and how many items each kept (`holds.record_blocked`).
2. Among retention policies the longest retention wins: an item expires when the last of the
   policies applying to it says so; an item no active policy applies to is kept
   (`policies.expiry_of` explains which policy decides).
3. Derived data follows its sources: the purge deletes chunks and index entries
   (`knowledge.actions.delete_items`), deletes the package versions citing a purged item after
   rebuilding their packages, and blanks the conversation turns citing it (`purge`).
4. Deletion is verified, not assumed: `purge.verify_retention` scans the database and the
   index backend in use.

Modules: `holds` (what a hold covers; place, change, release), `policies` (what an item
inherits; create, change), `purge` (the batched purge and its verification).
"""
