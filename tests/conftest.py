"""Shared fixtures and the Hypothesis profiles.

Profiles: ``ci`` (the default), ``dev`` (quick) and ``thorough`` (long); pick one with the
``HYPOTHESIS_PROFILE`` environment variable, e.g. ``HYPOTHESIS_PROFILE=dev pytest``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from offline import BOT_TOKEN, OfflineRequest
from telegram.ext import ExtBot

settings.register_profile(
    "ci", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def offline_bot() -> ExtBot[None]:
    """A real, uninitialized ``ExtBot`` whose requests are answered by :class:`OfflineRequest`.

    ``offline_bot.request`` is that request object; its ``calls`` list records every API call.
    ``await offline_bot.initialize()`` calls ``getMe`` and fills in ``offline_bot.bot``.
    """
    request = OfflineRequest()
    return ExtBot(BOT_TOKEN, request=request, get_updates_request=request)
