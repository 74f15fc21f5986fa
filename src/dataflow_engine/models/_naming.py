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


_F_TO_VES = {
    "knife",
    "wife",
    "life",
    "leaf",
    "half",
    "wolf",
    "shelf",
    "calf",
    "loaf",
    "thief",
    "self",
    "elf",
    "scarf",
    "wharf",
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
        if word.endswith("is"):
            return word[:-2] + "es"  # analysis -> analyses
        if word.endswith(("ss", "us", "as", "x", "z", "ch", "sh")):
            return word + "es"  # address -> addresses, status -> statuses, alias -> aliases
        return word  # a consonant before the 's' already reads plural ("settings")
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word in _F_TO_VES:
        return word.removesuffix("fe").removesuffix("f") + "ves"
    return word + "s"


def table_name_for(class_name: str) -> str:
    """The default table name of a model class: ``OrderItem`` -> ``order_items``."""
    parts = snake_case(class_name).split("_")
    parts[-1] = pluralize(parts[-1])
    return "_".join(parts)
