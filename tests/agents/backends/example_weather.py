"""A small outside tool backend (the complete example shown in docs/tools.md)."""

from typing import Literal

from pydantic import BaseModel

from looptool.agents.backends import ToolBackend, ToolError


class Reading(BaseModel):
    city: str
    temperature: float
    unit: Literal["celsius", "fahrenheit"]


class WeatherStation(ToolBackend):
    """Current temperatures of a few cities."""

    def __init__(self) -> None:
        self.temperatures: dict[str, float] = {"Paris": 18.0, "Oslo": 4.5}

    def get_temperature(
        self, city: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
    ) -> Reading:
        """Return the current temperature of a city.

        Args:
            city: The city's name, e.g. "Paris".
            unit: The temperature unit of the answer.
        """
        if city not in self.temperatures:
            raise ToolError(f"unknown city {city!r}; known: {', '.join(self.temperatures)}")
        celsius = self.temperatures[city]
        value = celsius if unit == "celsius" else celsius * 9 / 5 + 32
        return Reading(city=city, temperature=value, unit=unit)

    def set_temperature(self, city: str, celsius: float) -> Reading:
        """Record a new temperature measurement for a city.

        Args:
            city: The city's name.
            celsius: The measured temperature in degrees Celsius.
        """
        if not -90 <= celsius <= 60:
            raise ToolError("celsius must be between -90 and 60")
        self.temperatures[city] = celsius
        return Reading(city=city, temperature=celsius, unit="celsius")
