# DataFlow's REST API (the default command) or its MCP server, over one database.
#
#   docker build -t dataflow .
#   docker run --rm -p 8000:8000 -e DATAFLOW_DATABASE_URL=postgresql://user:pw@db/app \
#       -e DATAFLOW_API_TOKEN=change-me-please dataflow
#   docker run --rm -p 8765:8765 -e DATAFLOW_DATABASE_URL=... -e DATAFLOW_MCP_TOKEN=... \
#       dataflow mcp --transport http --host 0.0.0.0
#
# Read-only unless --allow-writes (DATAFLOW_API_ALLOW_WRITES=1); never DDL. Listening
# beyond loopback needs a bearer token, so the API refuses to start without one.
# SQLite files go in a mounted volume: -v "$PWD:/data" -e DATAFLOW_DATABASE_URL=sqlite:////data/app.db

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[api,mcp,postgres,mysql]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATAFLOW_API_HOST=0.0.0.0 \
    DATAFLOW_API_PORT=8000
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels \
        "dataflow-engine[api,mcp,postgres,mysql]" \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin dataflow \
    && mkdir /data && chown dataflow:dataflow /data
USER dataflow
WORKDIR /data
EXPOSE 8000 8765
ENTRYPOINT ["dataflow"]
CMD ["api"]
