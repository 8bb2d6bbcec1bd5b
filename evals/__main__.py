"""`python -m evals`: the eval harness's entry point.

The harness needs the `evals` extra (pydantic-evals, PyYAML, matplotlib); a plain
`pip install -e .` does not install it. Without it, say which extra to install, not a traceback.
"""

import sys

EXTRA_MODULES = {
    "pydantic_evals": "pydantic-evals",
    "yaml": "PyYAML",
    "matplotlib": "matplotlib",
}
"""The modules the `evals` extra installs (and the package each comes from)."""


def missing_extra_message(module: str) -> str:
    package = EXTRA_MODULES.get(module, module)
    return (
        f"python -m evals needs the 'evals' extra: the module {module!r} (package {package}) is not "
        "installed.\n"
        "Install the extra, from a checkout of agent-tools:\n"
        "    pip install -e '.[evals]'\n"
        "or from PyPI:\n"
        "    pip install 'agent-tools[evals]'\n"
    )


def main() -> None:
    try:
        from .cli import app
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if top not in EXTRA_MODULES:
            raise
        sys.stderr.write(missing_extra_message(top))
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
