"""The web shell: sign-in, roles on every route, the page layout, security middleware, the users API.

Other packages guard their routes with ``require_role`` (or the ``AgentUser``/``SupervisorUser``/
``AdminUser`` parameter types) and render pages with ``WebShell.render``.
"""

from switchboard.users.model import Role
from switchboard.web.auth import (
    AdminUser,
    AgentUser,
    CurrentUser,
    Forbidden,
    MaybeUser,
    RoleGuard,
    SupervisorUser,
    require_role,
    role_router,
)

__all__ = [
    "AdminUser",
    "AgentUser",
    "CurrentUser",
    "Forbidden",
    "MaybeUser",
    "Role",
    "RoleGuard",
    "SupervisorUser",
    "require_role",
    "role_router",
]
