"""The LDAP / Active Directory directory: people, titles, departments, managers, groups and
account status synced into colleagues, and LDAP login (README, "Directory (LDAP)").

Nothing here imports python-ldap at module level except `client.py`, `parsing.py` and
`auth.py`, which only run when LDAP_SERVER_URI is set: python-ldap is the optional `ldap` extra.
"""
