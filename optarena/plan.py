"""Plans: each operation of the client written once, as a generator of steps.

A plan yields what it needs done (send a request, sleep, open an event stream, read its next
event, hand a value to the caller) and is sent the outcome; it decides everything else: the
request, the parsing, when to wait and retry. ``Client`` (httpx.Client, time.sleep) and
``AsyncClient`` (httpx.AsyncClient, asyncio.sleep) only carry steps out, so both offer the
same methods from one definition, and neither can drift from the other.

A method is a plan wrapped in ``operation`` (a plan that returns a value) or ``streaming``
(a plan that hands over values one by one): on a ``Sync`` object it runs to its result, on
an ``Async`` one it answers an awaitable (or an async iterator), and type checkers see both.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """Send a request; the outcome is the ``httpx.Response`` with its body read. With
    ``stream``, open a Server-Sent Events stream instead: a 2xx response comes back unread
    and its events are read one ``NEXT`` at a time; any other is read and closed."""

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)  # httpx's: params, json, headers, ...
    stream: bool = False


@dataclass(frozen=True)
class Pause:
    seconds: float


class Next:
    """The open stream's next event (an ``httpx_sse.ServerSentEvent``), or None once it ended."""


NEXT = Next()


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Hand ``value`` to whoever iterates over a ``streaming`` method."""

    value: T


@dataclass(frozen=True)
class Done(Generic[T]):
    """What a client's runner yields last: the plan's result."""

    value: T


Step = Call | Pause | Next
Plan = Generator[Step, Any, T]  # yields steps, is sent their outcomes, returns T
Stream = Generator[Step | Emit[T], Any, None]  # the same, handing T values over with Emit


def advance(plan: Generator[Any, Any, Any], outcome: Any = None) -> Step | Emit[Any] | Done[Any]:
    """The plan's next step once it has ``outcome``; an exception (a transport error) is
    raised inside the plan, where it may be handled (a stream reconnects)."""
    try:
        return plan.throw(outcome) if isinstance(outcome, BaseException) else plan.send(outcome)
    except StopIteration as done:
        return Done(done.value)


class Sync(ABC):
    """Runs plans as they are called: ``_drive`` to the result, ``_iterate`` value by value."""

    @abstractmethod
    def _drive(self, plan: Plan[T]) -> T:
        raise NotImplementedError

    @abstractmethod
    def _iterate(self, plan: Stream[T]) -> Iterator[T]:
        raise NotImplementedError


class Async(ABC):
    """Runs plans on an event loop: ``_drive`` is awaited, ``_iterate`` iterated with ``async for``."""

    @abstractmethod
    async def _drive(self, plan: Plan[T]) -> T:
        raise NotImplementedError

    @abstractmethod
    def _iterate(self, plan: Stream[T]) -> AsyncIterator[T]:
        raise NotImplementedError


class _Method(Generic[P, T]):
    """A plan-building function (its first argument the object it belongs to) as a method;
    ``plan`` is that function, for other plans to build on."""

    def __init__(self, plan: Callable[..., Any]):
        self.plan = plan
        update_wrapper(self, plan)  # type: ignore[arg-type]  # a name and a docstring for help()
        sig = inspect.signature(plan)
        self.signature = sig.replace(parameters=list(sig.parameters.values())[1:])  # without ``self``
        result = str(sig.return_annotation)  # "Plan[X]" or "Stream[X]": annotations are text here
        self.result = result[result.find("[") + 1:-1] if result.startswith(("Plan[", "Stream[")) else result

    def _bind(self, obj: Any, run: Callable[[Any], Any], answers: str) -> Callable[..., Any]:
        """The method of ``obj``: ``run`` carries out the plan; ``answers`` (a format) names
        its result's type for help() and notebooks' signature pop-ups."""
        def method(*args: Any, **kwargs: Any) -> Any:
            return run(self.plan(obj, *args, **kwargs))

        update_wrapper(method, self.plan)
        result = obj.handle.__name__ if self.result == "H" else self.result  # this client's handle
        method.__signature__ = self.signature.replace(  # type: ignore[attr-defined]
            return_annotation=answers.format(result))
        return method


class operation(_Method[P, T]):  # noqa: N801 - used as a decorator, like property
    def __init__(self, plan: Callable[Concatenate[Any, P], Plan[T]]):
        super().__init__(plan)

    @overload
    def __get__(self, obj: None, owner: type) -> operation[P, T]: ...
    @overload
    def __get__(self, obj: Sync, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Async, owner: type) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self._bind(obj, obj._drive, "{}" if isinstance(obj, Sync) else "Awaitable[{}]")


class streaming(_Method[P, T]):  # noqa: N801
    def __init__(self, plan: Callable[Concatenate[Any, P], Stream[T]]):
        super().__init__(plan)

    @overload
    def __get__(self, obj: None, owner: type) -> streaming[P, T]: ...
    @overload
    def __get__(self, obj: Sync, owner: type) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, obj: Async, owner: type) -> Callable[P, AsyncIterator[T]]: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self._bind(obj, obj._iterate, "Iterator[{}]" if isinstance(obj, Sync) else "AsyncIterator[{}]")
