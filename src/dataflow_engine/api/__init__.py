"""The REST API over a DataFlow's models: an ASGI application (Starlette) with an
OpenAPI 3.1 document. Made by :meth:`DataFlow.api`; needs the ``api`` extra
(``pip install 'dataflow-engine[api]'``). Importing ``dataflow_engine`` does not load it.
"""

from ._app import TenantSource, create_app

__all__ = ["TenantSource", "create_app"]
