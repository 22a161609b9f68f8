"""``@tools.tool``: every call of the function is a managed tool call.

A call binds its arguments to the function's parameters; that dict is the tool call's args
(what guardrails, intercepts and events see), and the args that come out of the request
intercepts are passed back to the function as keyword arguments. The call itself goes
through ``tools.execute`` / ``tools.execute_sync``: one pipeline, nothing run twice.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any, ParamSpec, TypeAlias, TypeVar, cast, overload

from . import tools
from ._decorating import check_function, check_name, is_decoratee, is_method, kind_of, signature_of
from ._native import ToolAttributes
from .typed import Codec

ArgsCodec: TypeAlias = Codec[Any] | Mapping[str, Codec[Any]]

P = ParamSpec("P")
R = TypeVar("R")

_API = "tools.tool"


@overload
def tool(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def tool(
    name: str | None = None,
    *,
    args_codec: ArgsCodec | None = None,
    result_codec: Codec[Any] | None = None,
    attributes: ToolAttributes | int | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def tool(
    name: Any = None,
    *,
    args_codec: ArgsCodec | None = None,
    result_codec: Codec[Any] | None = None,
    attributes: ToolAttributes | int | None = None,
) -> Any:
    """Decorator: each call of the function (sync or async, plain or a method) is a managed
    tool call named ``name`` (default: the function's ``__name__``), through the same pipeline
    as :func:`nemo_flow.tools.execute`.

    The args are the bound arguments as a dict (defaults applied, ``self``/``cls`` left out);
    a request intercept's edits reach the function as keyword arguments. The values must be
    JSON unless converted by ``args_codec``: one :class:`nemo_flow.typed.Codec` for every
    argument, or a mapping from parameter name to codec (the others stay JSON).
    ``result_codec`` converts the return value to JSON for the pipeline and back for the
    caller. The wrapper keeps the function's name, docstring and signature; the function's
    own exceptions reach the caller unchanged.
    """
    if is_decoratee(name):
        return _decorate(name, None, None, None, None)
    check_name(name, _API)
    _check_args_codec(args_codec)
    if result_codec is not None:
        _check_codec(result_codec, "result_codec")
    if attributes is not None:
        ToolAttributes(attributes)  # refuses a bad value now, not on the first call

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, name, args_codec, result_codec, attributes)

    return decorator


def _check_codec(codec: Any, arg: str) -> None:
    if not (callable(getattr(codec, "to_json", None)) and callable(getattr(codec, "from_json", None))):
        raise TypeError(f"{_API}: {arg}: expected a codec with to_json() and from_json(), got {type(codec).__name__}")


def _check_args_codec(codec: Any) -> None:
    if codec is None or not isinstance(codec, Mapping):
        if codec is not None:
            _check_codec(codec, "args_codec")
        return
    for key, c in codec.items():
        if not isinstance(key, str):
            raise TypeError(f"{_API}: args_codec: keys must be parameter names (str), got {key!r}")
        _check_codec(c, f"args_codec[{key!r}]")


def _decorate(
    func: Callable[P, R],
    name: str | None,
    args_codec: ArgsCodec | None,
    result_codec: Codec[Any] | None,
    attributes: Any,
) -> Callable[P, R]:
    check_function(func, _API)
    kind = kind_of(func)
    if kind in ("generator", "async_generator"):
        raise TypeError(f"{_API}: {func.__qualname__} is a generator function; a tool call returns one result")
    sig = signature_of(func, _API)
    method = is_method(sig)
    params = list(sig.parameters.values())[1 if method else 0 :]
    tool_sig = sig.replace(parameters=params)
    codecs = _codecs_by_param(args_codec, [p.name for p in params], func)
    n, by_position, bind = _binder(tool_sig, codecs)
    call = _invoker(func, params, codecs, result_codec, kind == "coroutine")
    if codecs is None and result_codec is None and _simple(params):
        invoke: Callable[[Any], Any] = _direct_invoker(func, params)
    else:
        invoke = functools.partial(call, ())
    tool_name = name or getattr(func, "__name__", None) or type(func).__name__
    code = getattr(func, "__code__", None)
    decode = result_codec.from_json if result_codec is not None else None

    def explain(exc: BaseException) -> None:
        if codecs is None and str(exc).startswith("args[") and not _raised_in(exc, code):
            exc.add_note(
                f"{_API} '{tool_name}': every argument must be JSON; give the decorator an args_codec "
                "(e.g. nemo_flow.typed.BestEffortAnyCodec()) to convert other values"
            )

    if kind == "coroutine" and not method and decode is None and attributes is None:
        execute = tools.execute

        async def hot_tool_call(*args: Any, **kwargs: Any) -> Any:
            # The common case, written out: what it adds to tools.execute is on the hot path.
            d = by_position(args) if len(args) == n and not kwargs else bind(args, kwargs)
            try:
                return await execute(tool_name, d, invoke)
            except (TypeError, ValueError) as exc:
                explain(exc)
                raise

        return cast("Callable[P, R]", functools.wraps(func)(hot_tool_call))

    if kind == "coroutine":
        execute = tools.execute

        async def tool_call(*args: Any, **kwargs: Any) -> Any:
            run, args = (functools.partial(call, args[:1]), args[1:]) if method else (invoke, args)
            try:
                raw = await execute(tool_name, bind(args, kwargs), run, attributes=attributes)
            except (TypeError, ValueError) as exc:
                explain(exc)
                raise
            return raw if decode is None else decode(raw)

        return cast("Callable[P, R]", functools.wraps(func)(tool_call))

    execute_sync = tools.execute_sync

    def tool_call_sync(*args: Any, **kwargs: Any) -> Any:
        run, args = (functools.partial(call, args[:1]), args[1:]) if method else (invoke, args)
        try:
            raw = execute_sync(tool_name, bind(args, kwargs), run, attributes=attributes)
        except (TypeError, ValueError) as exc:
            explain(exc)
            raise
        return raw if decode is None else decode(raw)

    return cast("Callable[P, R]", functools.wraps(func)(tool_call_sync))


def _codecs_by_param(
    codec: ArgsCodec | None, names: list[str], func: Callable[..., Any]
) -> dict[str, Codec[Any]] | None:
    if codec is None:
        return None
    if not isinstance(codec, Mapping):
        return dict.fromkeys(names, codec)
    unknown = sorted(set(codec) - set(names))
    if unknown:
        raise ValueError(
            f"{_API}: args_codec names {unknown}, which {func.__qualname__} has no parameter for "
            f"(its parameters: {names})"
        )
    return dict(codec)


def _direct_invoker(func: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[[Any], Any]:
    """``invoke(args)`` = ``func(**args)``, but when ``args`` holds exactly the parameters it
    passes them positionally (keyword-only ones by keyword), which CPython does several times
    faster than unpacking a dict. Anything else (an intercept added or dropped a key) goes
    through ``func(**args)`` and fails, or not, exactly as that would."""
    lookups = "; ".join(f"a{i} = d[{p.name!r}]" for i, p in enumerate(params))
    call = ", ".join(
        f"a{i}" if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else f"{p.name}=a{i}" for i, p in enumerate(params)
    )
    source = (
        "def invoke(d):\n"
        f"    if len(d) != {len(params)}:\n"
        "        return f(**d)\n"
        "    try:\n"
        f"        {lookups or 'pass'}\n"
        "    except (LookupError, TypeError):\n"
        "        return f(**d)\n"
        f"    return f({call})\n"
    )
    invoke: Callable[[Any], Any] = _compile(source, "invoke", func)
    return invoke


def _compile(source: str, name: str, f: Any) -> Any:
    """Builds a small function from generated source (as ``collections.namedtuple`` does).
    The source only ever holds parameter names that are Python identifiers (keyword-only names
    in a call) or repr() string literals, generated variable names and integers."""
    namespace: dict[str, Any] = {"f": f}
    exec(source, namespace)
    return namespace[name]


def _binder(sig: inspect.Signature, codecs: dict[str, Codec[Any]] | None) -> tuple[int, ByPosition, Bind]:
    """Positional and keyword arguments -> the args dict, as ``(n, by_position, bind)``:
    ``by_position(args)`` is the fast path for exactly ``n`` positional arguments and no
    keywords (``n`` is -1 when there is none); ``bind(args, kwargs)`` handles every call.
    The common shapes skip ``Signature.bind``."""
    names = tuple(sig.parameters)
    plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())
    n = len(names) if plain else -1
    keys = frozenset(names) if all(p.kind in _BY_KEYWORD for p in sig.parameters.values()) else None
    # A dict display is several times faster than dict(zip(...)) for a few arguments; the keys
    # are written as repr() string literals, so no name can inject code (as in namedtuple).
    by_position: ByPosition = eval("lambda a: {" + ", ".join(f"{k!r}: a[{i}]" for i, k in enumerate(names)) + "}")

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) == n and not kwargs:
            return by_position(args)
        if not args and kwargs.keys() == keys:
            return kwargs
        bound = sig.bind(*args, **kwargs)  # a wrong call raises TypeError here, before any event
        bound.apply_defaults()
        return dict(bound.arguments)

    if codecs is None:
        return n, by_position, bind

    def bind_encoded(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        d = bind(args, kwargs)
        return {k: (codecs[k].to_json(v) if k in codecs else v) for k, v in d.items()}

    return -1, by_position, bind_encoded


ByPosition = Callable[[tuple[Any, ...]], dict[str, Any]]
Bind = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]


_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _invoker(
    func: Callable[..., Any],
    params: list[inspect.Parameter],
    codecs: dict[str, Codec[Any]] | None,
    result_codec: Codec[Any] | None,
    is_async: bool,
) -> Callable[[tuple[Any, ...], Any], Any]:
    """``call(lead, args)``: calls ``func(*lead, ...)`` with the (possibly intercepted) args,
    decoded by the codecs; its result encoded by ``result_codec``. ``lead`` is ``(self,)``
    for methods."""
    call = _caller(func, params)
    if codecs is not None:
        by_keyword = call

        def call(lead: tuple[Any, ...], d: Any) -> Any:
            return by_keyword(lead, {k: (codecs[k].from_json(v) if k in codecs else v) for k, v in d.items()})

    if result_codec is None:
        return call
    encode, typed_call = result_codec.to_json, call
    if is_async:

        async def encoded_async(lead: tuple[Any, ...], d: Any) -> Any:
            return encode(await typed_call(lead, d))

        return encoded_async

    def encoded(lead: tuple[Any, ...], d: Any) -> Any:
        return encode(typed_call(lead, d))

    return encoded


def _simple(params: list[inspect.Parameter]) -> bool:
    return all(p.kind in _BY_KEYWORD for p in params)


def _caller(func: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[[tuple[Any, ...], Any], Any]:
    """Calls ``func(*lead, ...)`` from an args dict: positional-only parameters (and, when
    there is a ``*args``, every parameter before it) and ``*args`` positionally, ``**kwargs``
    spread, every other parameter by keyword."""
    if _simple(params):
        return lambda lead, d: func(*lead, **d)
    kinds = [p.kind for p in params]
    var_pos = kinds.index(_VAR_POSITIONAL) if _VAR_POSITIONAL in kinds else -1
    positional = [p.name for i, p in enumerate(params) if i < var_pos or p.kind is _POSITIONAL_ONLY]
    star = params[var_pos].name if var_pos >= 0 else None
    star_star = next((p.name for p in params if p.kind is _VAR_KEYWORD), None)

    def call(lead: tuple[Any, ...], d: Any) -> Any:
        d = dict(d)
        args = [*lead, *(d.pop(n) for n in positional if n in d)]
        if star is not None:
            args.extend(d.pop(star, ()))
        if star_star is not None:
            d.update(d.pop(star_star, {}))
        return func(*args, **d)

    return call


_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


def _raised_in(exc: BaseException, code: CodeType | None) -> bool:
    """Whether ``exc`` passed through a frame of ``code`` (the function ran and raised)."""
    if code is None:
        return True
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return True
        tb = tb.tb_next
    return False
