"""Small helpers shared by the published renderings (JSON-LD, feeds, discovery).

They read *view dicts* (``visibility.view``), never models, for the reason given in
``_visibility``: a renderer that only ever sees a view cannot leak a field the view
dropped. The one model they touch, ``Storefront.settings``, is turned into a public
view here (``public_settings``) before anything reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..money import _EXPONENT, Money
from ._storefront import Storefront
from ._visibility import view

__all__ = ["clip", "decimal_string", "image_urls", "public_settings", "variant_title"]


def decimal_string(money: Money | Mapping[str, Any]) -> str:
    """The amount in major units as a plain decimal string: ``"79.99"`` (USD), ``"1500"``
    (JPY), ``"1.250"`` (KWD).

    Feeds and schema.org want major units, and a float would turn 0.1 + 0.2 into
    0.30000000000000004; this is integer arithmetic on the minor units with the ISO 4217
    exponent ``Money`` uses, so it prints exactly as many fractional digits as the
    currency has (no ``"1500.00 JPY"``, no rounded fils). Takes a ``Money`` or its view
    form ``{"amount_minor": ..., "currency": ...}``.
    """
    if isinstance(money, Money):
        amount, currency = money.amount_minor, money.currency
    else:
        amount, currency = money["amount_minor"], money["currency"]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValueError("amount_minor must be a non-negative integer")
    exponent = _EXPONENT.get(currency, 2)
    if exponent == 0:
        return str(amount)
    major, minor = divmod(amount, 10**exponent)
    return f"{major}.{minor:0{exponent}d}"


def public_settings(front: Storefront) -> dict[str, Any]:
    """The seller's terms as the public sees them. Publications are for anyone, so they
    are rendered at the public floor even when every settings field is public today:
    a partner-only term added later stays out of them without touching a renderer."""
    return view(front.settings, "public")


def variant_title(product: Mapping[str, Any], variant: Mapping[str, Any]) -> str:
    """A title that names the variant on its own ("Kettle - Red"): feeds list variants
    one per row, where the product's title alone would make red and blue look alike."""
    name, label = product["title"], variant["title"]
    if label == name or label.startswith(name):
        return str(label)
    if len(product["variants"]) == 1:
        return str(name)
    return f"{name} - {label}"


def image_urls(media: Iterable[Mapping[str, Any]]) -> list[str]:
    return [m["url"] for m in media if m.get("kind", "image") == "image"]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for fields with a maximum
    length (a feed row over the limit is rejected whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
