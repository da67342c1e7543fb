"""When the API requires keys: the policy that ``adamlab serve`` applies at start-up and
the API's key checks quote in their messages.

Left unset, ``ADAMLAB_AUTH`` means keys are not required while the store has none and the
API listens on a loopback address (only this machine can connect), and required as soon
as one exists. A non-loopback address refuses to serve without keys.
"""

from __future__ import annotations

import ipaddress

KEY_HINT = "`adamlab keys create --tenant NAME`"
"""The command that creates an API key, as every message about keys names it."""


class AuthRefusedError(Exception):
    """Serving as asked would open the API without keys beyond this machine."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``; any other
    name counts as reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_auth(*, host: str, configured: str | None, active_keys: int) -> tuple[str, str]:
    """The ADAMLAB_AUTH the API runs with, and the sentence the start-up log says about it.

    ``configured`` is ADAMLAB_AUTH as set in the environment (None: unset). Unset, keys
    are required unless the store has none and ``host`` is loopback. Raises
    AuthRefusedError for a non-loopback ``host`` without keys: with keys disabled, or
    with no active key that anyone could use.
    """
    loopback = is_loopback(host)
    if configured == "disabled" or (configured is None and loopback and active_keys == 0):
        if not loopback:
            raise AuthRefusedError(
                f"ADAMLAB_AUTH=disabled serves without API keys, which is allowed on a "
                f"loopback --host only, and --host {host} is not one: unset ADAMLAB_AUTH and "
                f"create a key with {KEY_HINT}, or serve on --host 127.0.0.1"
            )
        reason = "ADAMLAB_AUTH=disabled" if configured else "the store has no API key yet"
        to_require = "unset ADAMLAB_AUTH" if configured else f"create a key with {KEY_HINT}"
        return "disabled", (
            f"API keys are NOT required ({reason}); the API answers on loopback only "
            f"({host}), so only this machine can use it; to require keys, {to_require} "
            "and restart"
        )
    if active_keys == 0:
        if not loopback:
            raise AuthRefusedError(
                f"--host {host} is not a loopback address, so API keys are required, and "
                f"the store has none: nobody could use the API; create one with {KEY_HINT} "
                "first, or serve on --host 127.0.0.1 (without keys)"
            )
        return (
            "required",
            "API keys are required (ADAMLAB_AUTH=required) and the store has none yet: "
            f"create one with {KEY_HINT}",
        )
    return "required", f"API keys are required ({active_keys} active; {KEY_HINT} adds one)"
