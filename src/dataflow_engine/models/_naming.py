"""Table names: snake_case plurals of class names."""

from __future__ import annotations

import re

__all__ = ["pluralize", "snake_case", "table_name_for"]

_IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "mouse": "mice",
    "goose": "geese",
    "tooth": "teeth",
    "foot": "feet",
    "ox": "oxen",
    "datum": "data",
    "criterion": "criteria",
    "index": "indexes",
    "matrix": "matrices",
    "vertex": "vertices",
    "quiz": "quizzes",
}
_UNCOUNTABLE = {
    "data",
    "news",
    "series",
    "species",
    "metadata",
    "equipment",
    "information",
    "sheep",
    "fish",
    "deer",
    "feedback",
    "staff",
    "software",
    "audio",
    "media",
}


def snake_case(name: str) -> str:
    """``OrderItem`` -> ``order_item``, ``HTTPRequest`` -> ``http_request``."""
    step = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    step = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", step)
    return step.replace("-", "_").lower()


def pluralize(word: str) -> str:
    """English plural of a lower-case word (``category`` -> ``categories``)."""
    if word in _UNCOUNTABLE:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        if word.endswith(("ss", "us", "is", "x", "z", "ch", "sh")):
            if word.endswith("is"):
                return word[:-2] + "es"  # analysis -> analyses
            return word + "es"
        return word  # already plural-looking ("settings")
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith("fe"):
        return word[:-2] + "ves"
    if word.endswith("f") and word not in ("roof", "chief", "belief", "proof", "chef"):
        return word[:-1] + "ves"
    return word + "s"


def table_name_for(class_name: str) -> str:
    """The default table name of a model class: ``OrderItem`` -> ``order_items``."""
    parts = snake_case(class_name).split("_")
    parts[-1] = pluralize(parts[-1])
    return "_".join(parts)
