"""Reading a table's records a page at a time through its List node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataflow_engine import DataFlow
    from dataflow_engine.models import ModelDef

__all__ = ["Pages", "parse_filter_option"]


def parse_filter_option(text: str | None) -> dict[str, Any] | None:
    """``--filter``: a JSON object (a MongoDB-style filter document).

    Raises:
        FilterError: ``DF-FILTER-MALFORMED`` for text that is not a JSON object.
    """
    if text is None or not text.strip():
        return None
    from dataflow_engine import FilterError

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FilterError(
            f'--filter is not valid JSON ({exc}); write e.g. \'{{"age": {{"$gte": 18}}}}\'',
            code="DF-FILTER-MALFORMED",
        ) from None
    if not isinstance(value, dict):
        raise FilterError(
            f"--filter must be a JSON object, got {type(value).__name__}; write e.g. "
            '\'{"status": "paid"}\'',
            code="DF-FILTER-MALFORMED",
        )
    return value


class Pages:
    """The records of a model matching a filter, read with keyset pagination (List with
    ``cursor``): stable and memory-bounded however large the table. Tables and views
    without a primary key have no key to page on and are read in one query.

    After iterating, ``more`` says whether records beyond ``limit`` match.
    """

    def __init__(
        self,
        db: DataFlow,
        model: ModelDef,
        *,
        filter: dict[str, Any] | None = None,
        order_by: list[str] | None = None,
        fields: list[str] | None = None,
        limit: int | None = None,
        page: int = 1000,
    ) -> None:
        self.db = db
        self.model = model
        self.params: dict[str, Any] = {}
        if filter is not None:
            self.params["filter"] = filter
        if order_by:
            self.params["order_by"] = order_by
        if fields:
            self.params["fields"] = fields
        self.limit = limit
        self.page = page
        self.more = False

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        from dataflow_engine import LocalRuntime, WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node(self.model.node_names["List"], "list", params)
        results, _ = LocalRuntime(dataflow=self.db).execute(wf.build(self.db))
        out: dict[str, Any] = results["list"]
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.model.primary_key:
            params = dict(self.params)
            if self.limit is not None:
                params["limit"] = self.limit + 1
            records = self._list(params)["records"]
            if self.limit is not None and len(records) > self.limit:
                self.more = True
                records = records[: self.limit]
            yield from records
            return
        remaining = self.limit
        cursor: str | None = None
        while True:
            size = self.page if remaining is None else min(self.page, remaining)
            params = {**self.params, "limit": size}
            if cursor is not None:
                params["cursor"] = cursor
            out = self._list(params)
            yield from out["records"]
            cursor = out["next_cursor"]
            if remaining is not None:
                remaining -= len(out["records"])
                if remaining <= 0:
                    self.more = cursor is not None
                    return
            if cursor is None:
                return
