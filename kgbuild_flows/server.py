"""The Prefect server of ``PREFECT_API_URL``: checked before a build or a schedule uses it."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings

from kgbuild.errors import KGBuildError

__all__ = ["PrefectUnavailableError", "check_server"]


class PrefectUnavailableError(KGBuildError, ConnectionError):
    """The Prefect server that ``PREFECT_API_URL`` names does not answer."""


def check_server() -> None:
    """Raise :class:`PrefectUnavailableError` unless the configured Prefect server answers.

    Without ``PREFECT_API_URL`` there is nothing to check: a flow run starts Prefect's
    temporary server. Prefect itself fails later, with a traceback ("Failed to reach API").
    """
    url = get_current_settings().api.url
    if not url:
        return
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise PrefectUnavailableError(
            f"no Prefect server answers at PREFECT_API_URL={url} ({problem}): start it "
            "(`prefect server start`), or unset PREFECT_API_URL to run on a temporary server"
        )
