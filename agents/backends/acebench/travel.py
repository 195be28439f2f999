"""ACEBench ``Travel``: flights, reservations, baggage and refunds (clock fixed at
2024-07-14 06:00, as upstream)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from looptool.agents.backends.acebench.texts import text
from looptool.agents.backends.base import ToolBackend, ToolError, not_a_tool
from looptool.agents.backends.registry import register_backend

NOW = datetime(2024, 7, 14, 6, 0)
BAGGAGE_FEE = 50.0
#: free bags per membership level: (economy, business)
ALLOWANCE: dict[str, tuple[int, int]] = {"regular": (1, 2), "silver": (2, 3), "gold": (3, 3)}
ECONOMY = ("Economy Class", "经济舱", "economy", "Economy")
BUSINESS = ("Business Class", "商务舱", "business", "Business")
FULL_REFUND_REASONS = ("The airline has canceled the flight.", "航空公司取消航班")


@register_backend("acebench_travel")
class Travel(ToolBackend):
    """Flight booking for three users (ACEBench ``Travel``)."""

    SNAPSHOT_FIELDS: tuple[str, ...] = ("users", "reservations")

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.flights: list[dict[str, Any]] = []
        self.reservations: list[dict[str, Any]] = []
        self._language: str = "en"

    @not_a_tool
    def set_language(self, language: str) -> None:
        """Choose the language of returned messages (``en`` or ``zh``)."""
        self._language = language

    def snapshot(self) -> dict[str, Any]:
        """The attributes ACEBench compares at the end of an episode."""
        full = super().snapshot()
        return {key: full[key] for key in self.SNAPSHOT_FIELDS}

    def _text(self, key: str, **values: object) -> str:
        return text(self._language, key, **values)

    def _auth(self, user_id: str, password: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None or user["password"] != password:
            raise ToolError(self._text("auth_failed"))
        return user

    def _flight(self, flight_no: str) -> dict[str, Any]:
        flight = next((item for item in self.flights if item["flight_no"] == flight_no), None)
        if flight is None:
            raise ToolError(self._text("no_flight", flight=flight_no))
        return flight

    def _is_business(self, cabin: str) -> bool:
        if cabin in BUSINESS:
            return True
        if cabin in ECONOMY:
            return False
        raise ToolError(self._text("bad_cabin", cabin=cabin))

    def _price(self, flight: dict[str, Any], cabin: str) -> float:
        return float(flight["business_price"] if self._is_business(cabin) else flight["economy_price"])

    def _baggage_fee(self, user: dict[str, Any], cabin: str, bags: int) -> float:
        economy, business = ALLOWANCE.get(str(user.get("membership_level")), (1, 2))
        free = business if self._is_business(cabin) else economy
        return BAGGAGE_FEE * max(0, bags - free)

    def _balance_key(self, method: str) -> str:
        if method not in ("cash", "bank"):
            raise ToolError(self._text("bad_payment", method=method))
        return f"{method}_balance"

    def _reservation(self, user_id: str, reservation_id: str) -> dict[str, Any]:
        found = next((item for item in self.reservations if item["reservation_id"] == reservation_id), None)
        if found is None:
            raise ToolError(self._text("no_reservation", id=reservation_id))
        if found["user_id"] != user_id:
            raise ToolError(self._text("not_owner", id=reservation_id, user=user_id))
        return found

    def get_user_details(self, user_id: str, password: str) -> dict[str, Any]:
        """A user's details (balances, membership level).

        Args:
            user_id: The user's ID.
            password: The user's password.
        """
        user = self._auth(user_id, password)
        return {key: value for key, value in user.items() if key != "password"}

    def get_flight_details(self, origin: str | None = None, destination: str | None = None) -> list[dict[str, Any]]:
        """Flights from an origin to a destination (either may be left out).

        Args:
            origin: Departure city.
            destination: Arrival city.
        """
        return [
            dict(flight)
            for flight in self.flights
            if (origin is None or flight["origin"] == origin)
            and (destination is None or flight["destination"] == destination)
        ]

    def get_reservation_details(self, reservation_id: str | None = None, user_id: str | None = None) -> list[dict[str, Any]]:
        """Reservations by reservation ID or by user ID.

        Args:
            reservation_id: The reservation's ID.
            user_id: The user's ID.
        """
        return [
            dict(item)
            for item in self.reservations
            if (reservation_id is None or item["reservation_id"] == reservation_id)
            and (user_id is None or item["user_id"] == user_id)
        ]

    def find_transfer_flights(self, origin_city: str, transfer_city: str, destination_city: str) -> list[dict[str, Any]]:
        """Pairs of connecting flights through a transfer city.

        Args:
            origin_city: Departure city.
            transfer_city: Where to change planes.
            destination_city: Arrival city.
        """
        pairs = []
        for first in self.flights:
            if first["origin"] != origin_city or first["destination"] != transfer_city:
                continue
            for second in self.flights:
                if (
                    second["origin"] == transfer_city
                    and second["destination"] == destination_city
                    and second["depart_time"] > first["arrival_time"]
                ):
                    pairs.append({"first_flight": dict(first), "second_flight": dict(second)})
        if not pairs:
            raise ToolError(self._text("no_transfer"))
        return pairs

    def reserve_flight(
        self, user_id: str, password: str, flight_no: str, cabin: str, payment_method: str, baggage_count: int
    ) -> dict[str, Any]:
        """Book a flight; the fare plus fees for bags over the free allowance is paid now.

        Args:
            user_id: The user's ID.
            password: The user's password.
            flight_no: The flight number.
            cabin: Economy Class or Business Class.
            payment_method: cash or bank.
            baggage_count: Number of checked bags.
        """
        user = self._auth(user_id, password)
        flight = self._flight(flight_no)
        if int(flight.get("seats_available", 1)) <= 0:
            raise ToolError(self._text("no_seats", flight=flight_no))
        total = self._price(flight, cabin) + self._baggage_fee(user, cabin, baggage_count)
        key = self._balance_key(payment_method)
        if user[key] < total:
            raise ToolError(self._text("insufficient_balance"))
        user[key] -= total
        flight["seats_available"] = int(flight.get("seats_available", 1)) - 1
        reservation_id = f"res_{len(self.reservations) + 1}"
        self.reservations.append(
            {
                "reservation_id": reservation_id,
                "user_id": user_id,
                "flight_no": flight_no,
                "payment_method": payment_method,
                "cabin": cabin,
                "baggage": baggage_count,
            }
        )
        return {"status": True, "message": self._text("booked", id=reservation_id, total=total)}

    def modify_flight(
        self,
        user_id: str,
        reservation_id: str,
        new_flight_no: str | None = None,
        new_cabin: str | None = None,
        add_baggage: int | None = None,
        new_payment_method: str | None = None,
    ) -> dict[str, Any]:
        """Change a reservation's flight, cabin, bags or payment method; price differences
        are charged to (or refunded into) the payment method.

        Args:
            user_id: The user's ID.
            reservation_id: The reservation to change.
            new_flight_no: New flight number (same route).
            new_cabin: New cabin class.
            add_baggage: Bags to add.
            new_payment_method: cash or bank.
        """
        reservation = self._reservation(user_id, reservation_id)
        user = self.users[user_id]
        old_flight = self._flight(reservation["flight_no"])
        method = new_payment_method or reservation["payment_method"]
        key = self._balance_key(method)
        delta = 0.0
        if new_cabin and new_cabin != reservation["cabin"]:
            # upstream prices the cabin change on the reservation's original flight
            delta -= self._price(old_flight, new_cabin) - self._price(old_flight, reservation["cabin"])
        cabin = new_cabin or reservation["cabin"]
        bags = int(reservation.get("baggage", 0))
        if add_baggage:
            delta -= self._baggage_fee(user, cabin, bags + add_baggage) - self._baggage_fee(user, cabin, bags)
        if new_flight_no:
            self._flight(new_flight_no)
        if user[key] + delta < 0:
            raise ToolError(self._text("insufficient_balance"))
        user[key] += delta
        if new_flight_no:
            reservation["flight_no"] = new_flight_no
        reservation["cabin"] = cabin
        if add_baggage:
            reservation["baggage"] = bags + add_baggage
        if new_payment_method:
            reservation["payment_method"] = new_payment_method
        return {"status": True, "message": self._text("modified", id=reservation_id, delta=delta)}

    def cancel_reservation(self, user_id: str, reservation_id: str, reason: str) -> dict[str, Any]:
        """Cancel a reservation; the fare is refunded in cash (10 % fee within 24 h of
        departure unless the airline cancelled the flight).

        Args:
            user_id: The user's ID.
            reservation_id: The reservation to cancel.
            reason: Why it is cancelled.
        """
        reservation = self._reservation(user_id, reservation_id)
        flight = self._flight(reservation["flight_no"])
        price = self._price(flight, reservation["cabin"])
        departure = datetime.strptime(flight["depart_time"], "%Y-%m-%d %H:%M:%S")
        hours_left = (departure - NOW).total_seconds() / 3600
        refund = price if reason in FULL_REFUND_REASONS or hours_left > 24 else price * 0.9
        self.users[user_id]["cash_balance"] += refund
        return {"status": True, "message": self._text("cancelled", id=reservation_id, refund=refund)}
