"""Webhooks: tenants' endpoints get their events pushed, signed per Standard Webhooks."""

from ._deliverer import Deliverer, backoff_s
from ._management import webhook_surface
from ._service import STATUSES, Webhooks
from ._targets import TargetForbidden, check_url, resolve

__all__ = ["STATUSES", "Deliverer", "TargetForbidden", "Webhooks", "backoff_s", "check_url", "resolve", "webhook_surface"]
