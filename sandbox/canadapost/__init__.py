"""Canada Post sandbox: the legacy XML gateway and the Developer Portal (OAuth 2 + JSON).

``CanadaPostService(user=..., password=..., customer_number=..., seed=..., **options)`` plugs into
:class:`sandbox.core.SandboxServer`; see :class:`~sandbox.canadapost.service.CanadaPostService`
for the options, endpoint names and rate groups.
"""

from sandbox.canadapost.service import DEFAULT_LIMITS, DEFAULT_PORTAL_BASE_PATH, CanadaPostService

__all__ = ["DEFAULT_LIMITS", "DEFAULT_PORTAL_BASE_PATH", "CanadaPostService"]
