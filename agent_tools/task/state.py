"""Variables and definitions that persist from one run to the next, on request.

Every run gets a fresh Monty session, so by default nothing carries over. A
`SessionState` keeps the sandbox's globals between runs made through it: after
a successful run its session is dumped (a few hundred microseconds, no worker
held), and the next run starts by loading that dump into its fresh session.
A failed run leaves the state as it was before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_tools.sandbox.session import SessionData

if TYPE_CHECKING:
    from agent_tools.base.record import RunRecord
    from agent_tools.task.template import CodeTaskTemplate

__all__ = ["SessionState"]


@dataclass
class SessionState(SessionData):
    """Sandbox globals carried between the runs made with `run()`/`arun()`."""

    def restart(self) -> None:
        """Forget every variable and definition."""
        self.data = None
        self.names = frozenset()

    def run(self, template: CodeTaskTemplate, /, *args: Any, **inputs: Any) -> RunRecord:
        """`agent_tools.run`, starting from (and then updating) this state."""
        from agent_tools.task.pipeline import run_template

        return run_template(template, args, inputs, None, state=self)

    async def arun(self, template: CodeTaskTemplate, /, *args: Any, **inputs: Any) -> RunRecord:
        """`agent_tools.arun`, starting from (and then updating) this state."""
        from agent_tools.task.pipeline import arun_template

        return await arun_template(template, args, inputs, state=self)
