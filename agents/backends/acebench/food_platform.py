"""ACEBench ``FoodPlatform``: a food-delivery platform with accounts, merchants and orders."""

from __future__ import annotations

from typing import Any

from looptool.agents.backends.acebench.base_api import BaseApi
from looptool.agents.backends.base import ToolError
from looptool.agents.backends.registry import register_backend


@register_backend("acebench_food_platform")
class FoodPlatform(BaseApi):
    """Food delivery: log in, browse menus, order within the balance (ACEBench ``FoodPlatform``)."""

    SNAPSHOT_FIELDS = ("users", "logged_in_users", "orders")

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, dict[str, Any]] = {}
        self.merchant_list: dict[str, dict[str, Any]] = {}
        self.logged_in_users: list[str] = []
        self.orders: list[dict[str, Any]] = []

    def _merchant(self, name: str) -> dict[str, Any]:
        merchant = self.merchant_list.get(name)
        if merchant is None:
            raise ToolError(self._text("no_merchant", name=name))
        return merchant

    def login_food_platform(self, username: str, password: str) -> dict[str, Any]:
        """Log a user in to the food platform (needs Wi-Fi).

        Args:
            username: The account name.
            password: The account password.
        """
        self._require_wifi()
        user = self.users.get(username)
        if user is None:
            raise ToolError(self._text("unknown_user", name=username))
        if user["password"] != password:
            raise ToolError(self._text("bad_password", name=username))
        if username not in self.logged_in_users:
            self.logged_in_users.append(username)
        return {"status": True, "message": self._text("food_logged_in", name=username)}

    def view_logged_in_users(self) -> dict[str, Any]:
        """The users logged in to the platform."""
        return {"logged_in_users": list(self.logged_in_users)}

    def check_balance(self, user_name: str) -> dict[str, Any]:
        """A user's balance.

        Args:
            user_name: The account name.
        """
        user = self.users.get(user_name)
        if user is None:
            raise ToolError(self._text("unknown_user", name=user_name))
        return {"balance": user["balance"]}

    def get_products(self, merchant_name: str) -> dict[str, Any]:
        """The menu of a merchant.

        Args:
            merchant_name: Name of the merchant.
        """
        return {"merchant_name": merchant_name, "menu": [dict(item) for item in self._merchant(merchant_name)["menu"]]}

    def add_food_delivery_order(self, username: str, merchant_name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Order food for delivery; the total is paid from the user's balance.

        Args:
            username: The ordering account (must be logged in to the platform).
            merchant_name: Name of the merchant.
            items: The products, each {"product": exact menu name, "quantity": positive integer}.
        """
        if username not in self.logged_in_users:
            raise ToolError(self._text("food_not_logged_in", name=username))
        user = self.users.get(username)
        if user is None:
            raise ToolError(self._text("unknown_user", name=username))
        menu = {item["product"]: float(item["price"]) for item in self._merchant(merchant_name)["menu"]}
        lines: list[dict[str, Any]] = []
        total = 0.0
        for item in items:
            if not isinstance(item, dict):
                raise ToolError(self._text("no_product", name=item, merchant=merchant_name))
            product, quantity = item.get("product"), item.get("quantity")
            if product not in menu:
                raise ToolError(self._text("no_product", name=product, merchant=merchant_name))
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                raise ToolError(self._text("bad_quantity", name=product))
            lines.append({"product": product, "quantity": quantity, "price_per_unit": menu[str(product)]})
            total += menu[str(product)] * quantity
        if user["balance"] < total:
            raise ToolError(self._text("insufficient_balance"))
        user["balance"] -= total
        self.orders.append(
            {"user_name": username, "merchant_name": merchant_name, "items": lines, "total_price": total}
        )
        return {"status": True, "message": self._text("order_placed", total=total)}

    def view_orders(self, user_name: str) -> dict[str, Any]:
        """A user's orders.

        Args:
            user_name: The account name.
        """
        return {"orders": [dict(order) for order in self.orders if order["user_name"] == user_name]}

    def search_orders(self, keyword: str) -> dict[str, Any]:
        """Orders whose merchant or products contain a keyword.

        Args:
            keyword: Text to look for (case-insensitive).
        """
        needle = keyword.lower()
        found = [
            dict(order)
            for order in self.orders
            if needle in order["merchant_name"].lower()
            or any(needle in str(line["product"]).lower() for line in order["items"])
        ]
        return {"orders": found}
