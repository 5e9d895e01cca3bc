"""A handlers module, as `python -m baton_worker --module sample_handlers` loads it: its functions register
with the module-level decorator."""

import os

from baton_worker import handler


@handler("gate")
def gate(ctx):
    """Says it started, then waits for the file `release` (or the job's parameter `release` names) in the
    folder the run names (bounded)."""
    folder = ctx.params["dir"]
    with open(os.path.join(folder, f"{ctx.job}.started"), "w") as marker:
        marker.write(ctx.worker)
    release = os.path.join(folder, ctx.params.get("release", "release"))
    for _ in range(1200):
        if os.path.exists(release):
            ctx.log("released")
            return f"released {ctx.job}"
        if ctx.wait(0.05):
            return "cancelled"
    raise TimeoutError("never released")


@handler
def echo(ctx):
    """Named after the function: returns what it saw."""
    return {"params": ctx.params, "worker": ctx.worker, "inputs": [item.text for item in ctx.inputs]}
