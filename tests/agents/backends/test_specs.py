"""Tool specs are derived from a backend's code: hints -> JSON Schema, docstring -> text."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from looptool.agents.backends import BackendDefinitionError, ToolBackend, backend_tools, not_a_tool
from looptool.agents.backends.specs import parse_docstring


class Address(BaseModel):
    street: str
    city: str
    zip_code: str | None = None


class Filter(TypedDict):
    field: str
    values: list[int]


class Shop(ToolBackend):
    """A shop used to exercise schema derivation."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []

    def place_order(
        self,
        item: str,
        quantity: Annotated[int, Field(ge=1)],
        size: Literal["S", "M", "L"],
        address: Address,
        tags: list[str] | None = None,
        options: dict[str, float] | None = None,
        gift: bool = False,
        note: str = "none",
    ) -> dict[str, int]:
        """Place an order for an item.

        A longer explanation that is not part of the summary.

        Args:
            item: The item's name.
            quantity: How many to order;
                at least one.
            size (str): The size.
            address: Where to deliver.
            tags: Free labels.
            options: Option name -> value.
            gift: Wrap it as a gift.
            note: A note for the courier.

        Returns:
            The order number.
        """
        self.orders.append({"item": item})
        return {"order": len(self.orders)}

    def search(self, filters: list[Filter], limit: int = 10) -> list[str]:
        """Search the catalogue.

        Args:
            filters: Conditions that must all hold.
            limit: At most this many results.
        """
        return []

    @not_a_tool
    def helper(self) -> int:
        """Not a tool."""
        return 1

    def _private(self) -> None:
        """Not a tool either."""


def test_tools_are_public_methods_only() -> None:
    assert list(backend_tools(Shop)) == ["place_order", "search"]


def test_parameters_schema_from_type_hints() -> None:
    spec = backend_tools(Shop)["place_order"].spec
    params = spec.parameters
    props = params["properties"]
    assert spec.description == "Place an order for an item."
    assert params["required"] == ["item", "quantity", "size", "address"]
    assert params["additionalProperties"] is False
    assert props["item"] == {"description": "The item's name.", "type": "string"}
    assert props["quantity"]["type"] == "integer" and props["quantity"]["minimum"] == 1
    assert props["quantity"]["description"] == "How many to order; at least one."
    assert props["size"]["enum"] == ["S", "M", "L"]
    assert props["size"]["description"] == "The size."
    address = props["address"]
    assert address["type"] == "object"
    assert address["required"] == ["street", "city"]
    assert "$ref" not in str(params) and "title" not in address
    # Optional[...] = None -> the plain type, not required
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert props["options"]["additionalProperties"] == {"type": "number"}
    assert props["gift"] == {"description": "Wrap it as a gift.", "type": "boolean", "default": False}
    assert props["note"]["default"] == "none"
    assert spec.returns == {
        "description": "The order number.",
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    jsonschema.Draft202012Validator.check_schema(params)


def test_typed_dict_and_list_of_objects() -> None:
    spec = backend_tools(Shop)["search"].spec
    filters = spec.parameters["properties"]["filters"]
    assert filters["type"] == "array"
    item = filters["items"]
    assert item["type"] == "object"
    assert set(item["properties"]) == {"field", "values"}
    assert item["properties"]["values"] == {"type": "array", "items": {"type": "integer"}}
    assert spec.parameters["required"] == ["filters"]
    assert spec.returns == {"type": "array", "items": {"type": "string"}}


def test_property_named_title_is_kept() -> None:
    class Notes(ToolBackend):
        """Notes."""

        def add(self, title: str, body: str = "") -> str:
            """Add a note.

            Args:
                title: The note's title.
            """
            return title

    props = backend_tools(Notes)["add"].spec.parameters["properties"]
    assert set(props) == {"title", "body"}


def test_parse_docstring_sections() -> None:
    doc = parse_docstring(
        """Summary line
        continues here.

        Body text.

        Args:
            a (int): First.
            b: Second,
                continued.

        Returns:
            Something.

        Raises:
            ToolError: never.
        """
    )
    assert doc.summary == "Summary line continues here."
    assert doc.params == {"a": "First.", "b": "Second, continued."}
    assert doc.returns == "Something."


def _no_hint(self, x):  # type: ignore[no-untyped-def]
    """Doc."""


def _var_args(self, *xs: int) -> None:
    """Doc."""


def _no_doc(self, x: int) -> None:
    pass


def _positional_only(self, x: int, /) -> None:
    """Doc."""


async def _async(self, x: int) -> None:
    """Doc."""


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_no_hint, "has no type hint"),
        (_var_args, r"\*args/\*\*kwargs"),
        (_no_doc, "needs a docstring"),
        (_positional_only, "positional-only"),
        (_async, "not async"),
    ],
)
def test_broken_backends_fail_by_name(function: Any, message: str) -> None:
    broken = type("Broken", (ToolBackend,), {"__doc__": "Broken.", "tool": function})
    with pytest.raises(BackendDefinitionError, match=message) as error:
        backend_tools(broken)
    assert "Broken.tool" in str(error.value)


def test_backend_without_tools_is_refused() -> None:
    class Empty(ToolBackend):
        """Nothing."""

    with pytest.raises(BackendDefinitionError, match="at least one tool"):
        backend_tools(Empty)
