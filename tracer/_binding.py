"""Reading a decorated function's arguments cheaply, with the work done at decoration time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

MISSING: Final[Any] = object()
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    """``inspect.signature`` or ``None`` for callables it cannot read."""
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def skips_first(sig: inspect.Signature | None) -> bool:
    """Whether the first parameter is ``self``/``cls`` (left out of captured arguments)."""
    if sig is None or not sig.parameters:
        return False
    first = next(iter(sig.parameters.values()))
    return first.kind in _POSITIONAL and first.name in ("self", "cls")


class ArgBinder:
    """Maps a call's ``args``/``kwargs`` to ``{parameter: value}`` for content capture.

    Positional arguments are matched to parameter names by position; extra positionals go
    under the ``*args`` name; keyword arguments are kept as given. Defaults are not applied:
    the record says what the caller passed.
    """

    __slots__ = ("_names", "_skip", "_varargs")

    def __init__(self, sig: inspect.Signature | None) -> None:
        self._skip = 1 if skips_first(sig) else 0
        params = list(sig.parameters.values()) if sig is not None else []
        self._names = tuple(p.name for p in params if p.kind in _POSITIONAL)[self._skip :]
        self._varargs = next(
            (p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None
        )

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name."""
        args = args[self._skip :]
        names = self._names
        bound: dict[str, Any] = dict(zip(names, args, strict=False))
        if len(args) > len(names):
            bound[self._varargs or "args"] = list(args[len(names) :])
        if kwargs:
            bound.update(kwargs)
        return bound


class ParamReader:
    """Reads a few named parameters from calls, by keyword or by position."""

    __slots__ = ("_slots",)

    def __init__(self, sig: inspect.Signature | None, names: Iterable[str]) -> None:
        wanted = set(names)
        self._slots: dict[str, int | None] = {}
        if sig is None:
            return
        index = 0
        for param in sig.parameters.values():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                for name in wanted - self._slots.keys():
                    self._slots[name] = None  # may come through **kwargs
            elif param.name in wanted:
                self._slots[param.name] = index if param.kind in _POSITIONAL else None
            if param.kind in _POSITIONAL:
                index += 1

    def __contains__(self, name: str) -> bool:
        return name in self._slots

    def names(self) -> tuple[str, ...]:
        """The parameters this reader can find."""
        return tuple(self._slots)

    def get(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """The argument passed for ``name``, or ``MISSING``."""
        value = kwargs.get(name, MISSING)
        if value is MISSING:
            index = self._slots.get(name)
            if index is not None and index < len(args):
                return args[index]
        return value


def qualified_name(fn: Callable[..., Any]) -> tuple[str, str]:
    """``(module, qualname)`` of a function, for ``code.*`` and the agent entry point."""
    module = getattr(fn, "__module__", None) or "__main__"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return module, qualname
