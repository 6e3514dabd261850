"""Users and roles: accounts (agent, supervisor, admin), argon2 passwords, page sessions, API tokens.

The web layer (switchboard.web) turns these into route guards; the CLI adds the first admin.
"""

from switchboard.users.model import Role, User

__all__ = ["Role", "User"]
