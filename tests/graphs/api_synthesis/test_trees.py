"""Loading and validating the context and constraint trees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from looptool.graphs.api_synthesis.trees import (
    DEFAULT_CONSTRAINT_TREE,
    TreeError,
    load_constraint_tree,
    load_context_tree,
    parse_constraint_tree,
    parse_context_tree,
)


def test_default_context_tree_is_rich() -> None:
    tree = load_context_tree()
    leaves = tree.leaves()
    assert len(tree.domains) >= 15
    assert len(leaves) >= 150
    assert len({leaf.label() for leaf in leaves}) == len(leaves)
    travel = [leaf for leaf in leaves if leaf.path[:2] == ["Travel", "Transportation"]]
    assert any(leaf.intent == "Flight search" and leaf.description for leaf in travel)


def test_default_constraint_tree_has_every_dimension() -> None:
    tree = load_constraint_tree()
    assert set(tree.naming_convention) >= {"snake_case", "camelCase", "kebab-case"}
    assert any("object" in option.must_include for option in tree.parameter_types.values())
    assert any("enum" in option.must_include for option in tree.parameter_types.values())
    assert any("array" in option.must_include for option in tree.parameter_types.values())
    assert len(tree.required_mix) >= 2 and len(tree.return_format) >= 2


def _context() -> dict[str, Any]:
    return {
        "version": 1,
        "domains": {
            "Travel": {
                "description": "Trips",
                "subdomains": {"Lodging": {"intents": {"Hotel search": "Find hotels.", "Hotel cancel": None}}},
            }
        },
    }


@pytest.mark.parametrize(
    ("mutate", "node"),
    [
        (lambda d: d["domains"]["Travel"]["subdomains"]["Lodging"].update(intents={}), "domains.Travel.subdomains.Lodging.intents"),
        (lambda d: d["domains"]["Travel"]["subdomains"]["Lodging"]["intents"].update({"Hotel search": ["a", "b"]}), "domains.Travel.subdomains.Lodging.intents.Hotel search"),
        (lambda d: d["domains"]["Travel"].update(subdomain={}), "domains.Travel.subdomain"),
        (lambda d: d["domains"]["Travel"]["subdomains"].update({"Lodging": "oops"}), "domains.Travel.subdomains.Lodging"),
        (lambda d: d.update(domains={}), "domains"),
        (lambda d: d["domains"].update({" Padded": d["domains"]["Travel"]}), "domains"),
    ],
)
def test_bad_context_node_is_named(mutate: Any, node: str) -> None:
    data = _context()
    mutate(data)
    with pytest.raises(TreeError) as error:
        parse_context_tree(data, "ctx.yaml")
    assert f"node '{node}" in str(error.value)
    assert "ctx.yaml" in str(error.value)


def _constraints() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONSTRAINT_TREE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "node", "words"),
    [
        (lambda d: d["naming_convention"]["snake_case"].update(function_pattern="^[a-z(+$"), "naming_convention.snake_case.function_pattern", "regular expression"),
        (lambda d: d["naming_convention"]["camelCase"].update(example_function="Bad_Name"), "naming_convention.camelCase", "does not match"),
        (lambda d: d["parameter_count"]["few"].update(min=5, max=2), "parameter_count.few", "greater than max"),
        (lambda d: d["parameter_count"]["few"].update(weight=0), "parameter_count.few.weight", "greater than 0"),
        (lambda d: d["parameter_types"]["with_array"].update(must_include=["tuple"]), "parameter_types.with_array.must_include.0", "enum"),
        (lambda d: d["parameter_types"]["with_array"].update(allowed_types=["string"]), "parameter_types.with_array", "allowed_types lacks"),
        (lambda d: d["return_format"]["scalar_value"].update(items_type="object"), "return_format.scalar_value", "items_type"),
        (lambda d: d.update(naming_conventon=d.pop("naming_convention")), "naming_conventon", "Extra inputs"),
        (lambda d: d["required_mix"].update(all_required={"min_required": 9}), "<top level>", "no parameter_count option"),
    ],
)
def test_bad_constraint_node_is_named(mutate: Any, node: str, words: str) -> None:
    data = _constraints()
    if node == "<top level>":
        data["required_mix"] = {"impossible": {"min_required": 9}}
    else:
        mutate(data)
    with pytest.raises(TreeError) as error:
        parse_constraint_tree(data, "c.yaml")
    message = str(error.value)
    assert f"node '{node}" in message
    assert words in message


def test_duplicate_yaml_key_is_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "ctx.yaml"
    path.write_text(
        "domains:\n  Travel:\n    subdomains:\n      Lodging:\n        intents:\n"
        "          Hotel search: a\n          Hotel search: b\n",
        encoding="utf-8",
    )
    with pytest.raises(TreeError, match=r"duplicate key 'Hotel search' at line 7"):
        load_context_tree(path)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match="no such file"):
        load_constraint_tree(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("domains: [unclosed\n", encoding="utf-8")
    with pytest.raises(TreeError, match="not valid YAML"):
        load_context_tree(broken)


def test_edited_tree_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ctx.yaml"
    path.write_text(yaml.safe_dump(_context(), sort_keys=False), encoding="utf-8")
    tree = load_context_tree(path)
    assert [leaf.intent for leaf in tree.leaves()] == ["Hotel search", "Hotel cancel"]
    assert tree.leaves()[1].description == ""
