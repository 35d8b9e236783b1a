"""Offline, deterministic analyses a skill package is rendered from.

`work` distils what a colleague knows (expertise, systems, FAQ, procedures, collaborators);
`style` how they write (a stylometric profile, and matching a text against profiles). Every
statement they produce carries the ids of the items it came from.
"""
