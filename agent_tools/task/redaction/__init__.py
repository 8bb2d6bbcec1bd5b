"""Keeping secret values out of everything a run leaves behind (see `redactor`)."""

from agent_tools.task.redaction.objects import RedactedError, RedactedFatalToolError
from agent_tools.task.redaction.redactor import Redactor

__all__ = ["RedactedError", "RedactedFatalToolError", "Redactor"]
