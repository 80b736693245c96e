"""``orderbell`` as it would run after an upgrade renamed one private name it uses.

``python tests/e2e/renamed.py MODULE:CLASS.NAME ARGS...`` runs the
``orderbell`` command with ARGS, after ``CLASS`` lost ``NAME``: looking it up
on the class fails, as orderbell's startup checks do, while the library's
own code still reaches it on its objects, as under the new name it would
have after a real rename. So the library keeps working, and only orderbell's
reach into it is broken.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def rename(target: str) -> None:
    """Take ``NAME`` off ``MODULE:CLASS.NAME``, keeping it reachable from instances."""
    module_name, _, dotted = target.partition(":")
    class_name, _, name = dotted.partition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    new_name = f"_renamed{name}"
    setattr(cls, new_name, cls.__dict__[name])
    delattr(cls, name)

    def __getattr__(self: Any, attribute: str) -> Any:
        if attribute == name:
            return getattr(self, new_name)
        raise AttributeError(attribute)

    cls.__getattr__ = __getattr__


if __name__ == "__main__":
    rename(sys.argv.pop(1))
    from orderbell.cli import main

    main()
