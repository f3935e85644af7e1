"""POST /materialize and /materialize-incremental: Feast's endpoints, run as featurestore's Spark job.

Feast's server materializes in its own process; here materialization is a Spark job, so each
request starts `featurestore materialize` (or `materialize-incremental`) for the server's repo in
a child process, waits for it without blocking the worker's event loop, and answers when it is
done: 200 {"status": "materialized", "feature_views": [...]}, or 422 with the job's one-line
error. One job per worker at a time (409 otherwise); the jobs themselves are safe to run beside
any other writer (featurestore.identity fences their writes). Feast's `?async=true` (202, then
poll) is not served: the request says so.
"""
from __future__ import annotations

import asyncio
import sys

from featurestore.serving.api import RequestError, _field

_RUNNING = asyncio.Lock()


def _views(context, body: dict) -> list[str]:
    names = _field(body, "feature_views", list, required=False)
    if names is not None and not all(isinstance(name, str) for name in names):
        raise RequestError(400, "'feature_views' must be a list of feature view names")
    registry = context.registry
    for name in names or []:
        registry.feature_view(name)  # NotFoundError: Feast's 404
    return list(names) if names else sorted(v.name for v in registry.feature_views.values() if v.online)


async def materialize(context, body: dict, query: dict) -> dict:
    start, end = _field(body, "start_ts", str), _field(body, "end_ts", str)
    return await _run(context, ["materialize", start, end], _views(context, body), query)


async def materialize_incremental(context, body: dict, query: dict) -> dict:
    return await _run(context, ["materialize-incremental", _field(body, "end_ts", str)], _views(context, body), query)


async def _run(context, command: list[str], views: list[str], query: dict) -> dict:
    if query.get("async", "false").lower() in ("true", "1"):
        raise RequestError(422, "this server materializes synchronously (a Spark job per request); send the request "
                                "without ?async=true and wait for its answer")
    if _RUNNING.locked():
        raise RequestError(409, "a materialization this server started is still running; wait for it, then send "
                                "the request again")
    async with _RUNNING:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "featurestore.cli", *command, "--views", ",".join(views),
            "--repo", str(context.repo_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await process.communicate()
    if process.returncode != 0:
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        raise RequestError(422, f"`featurestore {command[0]}` failed: {lines[-1] if lines else 'no message'}")
    return {"status": "materialized", "feature_views": views}
