"""The shape of an eval task, as written in `evals/datasets/*.yaml`.

A dataset file holds one domain's tasks:

```yaml
domain: orders            # a module in evals/domains/
tasks:
  - id: orders-top-spender
    prompt: Which customer spent the most in 2024? Answer with the name only.
    functions: [list_customers, get_orders]   # the domain functions the task may use
    catalog: task                             # or `domain`: offer every function of the domain
    expected: Ada Lovelace
    grader: {kind: exact}                     # see Grader
    tags: [multi-step, aggregation]
    reference_program: |                      # a run_code program that computes the answer
      ...
    reference_plan:                           # what a tool-calling agent needs, turn by turn
      - [{tool: list_customers, args: {}}]
      - [{tool: get_orders, args: {customer_id: 1}}, {tool: get_orders, args: {customer_id: 2}}]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["TAGS", "Dataset", "Grader", "PlanCall", "Task", "load_datasets"]

DATASET_DIR = Path(__file__).parent / "datasets"

TAGS = frozenset(
    {"multi-step", "fan-out", "aggregation", "large-results", "error-recovery", "conditional", "single-call"}
)
"""The tags a task may carry (the issue's list, plus single-call for the easy ones)."""

GraderKind = Literal["exact", "numeric", "set", "list", "json_subset", "contains"]


class Grader(BaseModel):
    """How an answer is compared with `expected`.

    - exact: equal after parsing the answer as JSON when it is JSON, else as a stripped string
    - numeric: the first number in the answer is within `tolerance` (absolute) of expected
    - set / list: the answer parsed as a JSON list equals expected, ignoring / keeping order
    - json_subset: the answer parsed as JSON contains every key and value of expected (recursively)
    - contains: the answer text contains each of expected's strings (case-insensitive)
    """

    model_config = ConfigDict(extra="forbid")
    kind: GraderKind
    tolerance: float = 1e-6


class PlanCall(BaseModel):
    """One tool call of the reference plan. `expect_error` marks a call the plan
    knows will fail (a flaky API), which the agent must recover from."""

    model_config = ConfigDict(extra="forbid")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect_error: bool = False


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    domain: str = ""
    prompt: str
    functions: list[str]
    """The functions the reference solution uses (and, with `catalog: task`, all the agent is offered)."""
    catalog: Literal["task", "domain"] = "task"
    """What the agent is offered: `task`, the task's `functions` only; `domain`, every function of
    its domain (a large catalog, where finding the right functions is part of the task)."""
    expected: Any
    grader: Grader
    tags: list[str]
    reference_program: str
    reference_plan: list[list[PlanCall]]

    @model_validator(mode="after")
    def _check(self) -> Task:
        unknown = set(self.tags) - TAGS
        if unknown:
            raise ValueError(f"task {self.id}: unknown tags {sorted(unknown)}")
        for turn in self.reference_plan:
            for call in turn:
                if call.tool not in self.functions:
                    raise ValueError(f"task {self.id}: plan calls {call.tool}, not in its functions")
        return self

    @property
    def plan_calls(self) -> int:
        return sum(len(turn) for turn in self.reference_plan)


class Dataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str
    tasks: list[Task]


def load_datasets(directory: Path = DATASET_DIR) -> list[Task]:
    """Every task of every `*.yaml` file, with its domain filled in; ids must be unique."""
    tasks: list[Task] = []
    for path in sorted(directory.glob("*.yaml")):
        dataset = Dataset.model_validate(yaml.safe_load(path.read_text()))
        for task in dataset.tasks:
            task.domain = dataset.domain
            tasks.append(task)
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate task ids: {duplicates}")
    return tasks
