"""Models: annotated classes turned into table definitions."""

from ._fields import DATABASE_DEFAULT, MISSING, Field, FieldKind
from ._model import NODE_KINDS, ModelDef, build_model
from ._naming import table_name_for

__all__ = [
    "DATABASE_DEFAULT",
    "MISSING",
    "NODE_KINDS",
    "Field",
    "FieldKind",
    "ModelDef",
    "build_model",
    "table_name_for",
]
