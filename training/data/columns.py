"""Column names and event types of the input contract, in one place."""

from __future__ import annotations

USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT = "event"
TIMESTAMP = "timestamp"
QUANTITY = "quantity"
PRICE = "price"
ORDER_ID = "order_id"  # optional: the basket (order, invoice) a purchase belongs to

TITLE = "title"
CATEGORY = "category"
BRAND = "brand"
DESCRIPTION = "description"
TAGS = "tags"
AVAILABLE = "available"
MARGIN = "margin"  # optional: the shop's margin per unit sold, in its currency

VIEW = "view"
CART = "cart"
PURCHASE = "purchase"
CLICK = "click"  # a click on a recommendation (experiments); learned from like a view
IMPRESSION = "impression"  # a recommendation shown (experiments); weight 0: kept, not learned from
EVENT_TYPES: tuple[str, ...] = (VIEW, CART, PURCHASE, CLICK, IMPRESSION)
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {VIEW: 1.0, CART: 3.0, PURCHASE: 5.0, CLICK: 1.0, IMPRESSION: 0.0}

EVENT_REQUIRED: tuple[str, ...] = (USER_ID, ITEM_ID, EVENT, TIMESTAMP)
EVENT_OPTIONAL: tuple[str, ...] = (QUANTITY, PRICE, ORDER_ID)
ITEM_REQUIRED: tuple[str, ...] = (ITEM_ID, TITLE, CATEGORY)
ITEM_OPTIONAL: tuple[str, ...] = (BRAND, PRICE, DESCRIPTION, TAGS, AVAILABLE, MARGIN)
USER_REQUIRED: tuple[str, ...] = (USER_ID,)

TAG_SEPARATOR = "|"
