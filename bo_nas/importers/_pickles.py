"""Reading the official benchmark pickles without running what they name.

Pickle is a program: loading one with `pickle.load` calls whatever functions the file
names, so a crafted file runs code. The NAS-Bench-201 and NATS-Bench files hold nothing
but dicts, lists, tuples, strings and numbers (and perhaps ``collections.OrderedDict``
and NumPy scalars), so both readers here refuse every other global:

- `RestrictedUnpickler`: the standard C unpickler with `find_class` limited to
  `ALLOWED_GLOBALS`, which stand in for the real ones (no NumPy is imported or called).
  For the small per-architecture NATS-Bench files.
- `StreamingPickleReader`: a pickle interpreter of its own for the multi-gigabyte
  NAS-Bench-201 ``.pth`` files. It hands each item of one dict (``arch2infos``) to a
  callback as soon as it is complete and then forgets it, so memory stays at about one
  batch of 1,000 architectures instead of the whole file (loading all of
  ``NAS-Bench-201-v1_1-096897.pth`` at once takes ~28 GB). It reads the runs of
  ``{epoch: float}`` and ``{"x-valid@12": float}`` entries that make up >95 % of the
  file with one regular-expression match and one `struct` call per dict, and every
  other opcode one at a time.

Why not ``torch.load(..., weights_only=True)``: it does load these files (they are plain
containers), but its restricted unpickler is written in Python and reads one opcode at a
time: 4.5 MB/s here, i.e. ~17 minutes for the 4.7 GB v1_1 file, and it also builds the
whole ~28 GB object. ``weights_only=False`` is fast but would run any code in the file.

Both readers raise `SourceFileError` naming the file and the byte offset for a file
that is cut short, an opcode or global they do not allow, or a malformed stream.
"""

from __future__ import annotations

import collections
import operator
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ._errors import SourceFileError

# --- stand-ins for the globals the files may name -------------------------------------


class NumpyDtype:
    """Stands in for ``numpy.dtype`` while unpickling a NumPy scalar: only its kind,
    size and byte order are kept."""

    #: struct codes by kind and size.
    _KINDS: ClassVar[dict[str, dict[int, str]]] = {
        "f": {2: "e", 4: "f", 8: "d"}, "i": {1: "b", 2: "h", 4: "i", 8: "q"},
        "u": {1: "B", 2: "H", 4: "I", 8: "Q"}, "b": {1: "?"},
    }

    def __init__(self, spec: object, align: object = False, copy: object = True) -> None:
        if not isinstance(spec, str) or not re.fullmatch(r"[<>=|]?[fiub][1248]", spec):
            raise pickle.UnpicklingError(f"NumPy dtype {spec!r} is not a plain number type")
        self.kind, self.size = spec[-2], int(spec[-1])
        if self.size not in self._KINDS[self.kind]:
            raise pickle.UnpicklingError(f"NumPy dtype {spec!r} is not a plain number type")
        self.order = spec[0] if spec[0] in "<>" else "<"

    def __setstate__(self, state: object) -> None:
        # numpy pickles (version, byteorder, ...); only the byte order matters here.
        if not isinstance(state, tuple) or len(state) < 2 or not isinstance(state[1], str):
            raise pickle.UnpicklingError(f"unexpected NumPy dtype state {state!r:.100}")
        if state[1] in "<>":
            self.order = state[1]

    def decode(self, data: object) -> float | int | bool:
        if not isinstance(data, bytes) or len(data) != self.size:
            raise pickle.UnpicklingError(
                f"NumPy scalar of {self.size} bytes expected, got {data!r:.60}"
            )
        value = struct.unpack(self.order + self._KINDS[self.kind][self.size], data)[0]
        return float(value) if self.kind == "f" else value


def _numpy_scalar(dtype: object, data: object = None) -> float | int | bool:
    if not isinstance(dtype, NumpyDtype):
        raise pickle.UnpicklingError("NumPy scalar without a plain number dtype")
    return dtype.decode(data)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    # Protocol 2 writes a NumPy scalar's bytes as `_codecs.encode(str, "latin1")`.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode({text!r:.40}, {encoding!r}) not allowed")
    return text.encode("latin1")


def _bytes(*args: object) -> bytes:
    # Protocol 2 writes bytes as bytes(_codecs.encode(text, "latin1")); bytes(n) of a
    # huge n would allocate it, so only bytes() and bytes(b"...") are allowed.
    if args == ():
        return b""
    if len(args) == 1 and isinstance(args[0], bytes):
        return args[0]
    raise pickle.UnpicklingError("bytes called with unexpected arguments")


def _set(*args: object) -> set[Any]:
    # Protocol 2 writes a set as set([items]).
    if args and not (len(args) == 1 and isinstance(args[0], (list, tuple))):
        raise pickle.UnpicklingError("set called with unexpected arguments")
    return set(*args)  # type: ignore[arg-type]


def _frozenset(*args: object) -> frozenset[Any]:
    return frozenset(_set(*args))


def _ordered_dict(*args: object) -> collections.OrderedDict[Any, Any]:
    if args and not (len(args) == 1 and isinstance(args[0], (list, tuple, dict))):
        raise pickle.UnpicklingError("OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)  # type: ignore[arg-type]


#: (module, name) → what it loads as. Everything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("numpy", "dtype"): NumpyDtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("_codecs", "encode"): _codecs_encode,
    **{(module, name): f for module in ("builtins", "__builtin__")
       for name, f in (("bytes", _bytes), ("set", _set), ("frozenset", _frozenset))},
}


def allowed_global(module: str, name: str) -> Any:
    """The stand-in for ``module.name``; `pickle.UnpicklingError` for any other global."""
    try:
        return ALLOWED_GLOBALS[(module, name)]
    except KeyError:
        raise pickle.UnpicklingError(
            f"global {module}.{name} is not allowed: benchmark files hold only containers, "
            "strings and numbers"
        ) from None


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only `ALLOWED_GLOBALS` and no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        return allowed_global(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(
            "persistent id (a tensor or storage): benchmark result files hold no tensors"
        )


# --- the streaming reader ------------------------------------------------------------


class _Released:
    """Memo slot of a container handed to the callback and forgotten."""

    def __repr__(self) -> str:
        return "<released>"


_RELEASED: Any = _Released()
_NO_MARK = object()

#: Fast paths, tried right after a MARK: a whole batch of dict entries, then SETITEMS.
#: ``{small int: float}`` (training curves) is a run of 11-byte records (BININT1 key,
#: BINFLOAT value), and ``{memoised key: float}`` (the second and later dicts keyed by the
#: same strings) one of 14-byte records (LONG_BINGET, BINFLOAT): both checked by
#: `_fixed_run`. ``{"name@epoch": float}`` with new keys (BINUNICODE under 256 bytes,
#: LONG_BINPUT, BINFLOAT) varies in length: a regular expression, and the keys' declared
#: lengths are checked against the text matched.
_NEW_ENTRY = rb"X.\x00\x00\x00[A-Za-z][\w\-]*@\d+r.{4}G.{8}"
_RUN_NEW_FLOAT = re.compile(rb"(?:" + _NEW_ENTRY + rb")+u", re.S)
_NEW_FIELDS = re.compile(rb"X(.)\x00\x00\x00([A-Za-z][\w\-]*@\d+)r(.{4})G(.{8})", re.S)

_STRUCTS: dict[tuple[str, int], struct.Struct] = {}


def _struct(fmt: str, n: int) -> struct.Struct:
    """``struct.Struct`` of ``fmt`` repeated ``n`` times (byte order first), cached."""
    key = (fmt, n)
    s = _STRUCTS.get(key)
    if s is None:
        s = _STRUCTS[key] = struct.Struct(fmt[0] + fmt[1:] * n)
    return s


_OPNAMES = {op.code.encode("latin1")[0]: op.name for op in __import__("pickletools").opcodes}

_MARK, _STOP, _POP, _POP_MARK, _DUP = b"(", b".", b"0", b"1", b"2"
_NONE, _NEWTRUE, _NEWFALSE = b"N", b"\x88", b"\x89"
_BININT, _BININT1, _BININT2, _LONG1, _LONG4 = b"J", b"K", b"M", b"\x8a", b"\x8b"
_BINFLOAT = b"G"
_BINUNICODE, _SHORT_BINUNICODE, _BINUNICODE8 = b"X", b"\x8c", b"\x8d"
_BINSTRING, _SHORT_BINSTRING = b"T", b"U"
_BINBYTES, _SHORT_BINBYTES, _BINBYTES8 = b"B", b"C", b"\x8e"
_EMPTY_DICT, _EMPTY_LIST, _EMPTY_TUPLE, _EMPTY_SET = b"}", b"]", b")", b"\x8f"
_DICT, _LIST, _TUPLE, _TUPLE1, _TUPLE2, _TUPLE3 = b"d", b"l", b"t", b"\x85", b"\x86", b"\x87"
_APPEND, _APPENDS, _SETITEM, _SETITEMS, _ADDITEMS, _FROZENSET = (
    b"a", b"e", b"s", b"u", b"\x90", b"\x91")
_BINPUT, _LONG_BINPUT, _MEMOIZE, _BINGET, _LONG_BINGET = b"q", b"r", b"\x94", b"h", b"j"
_GLOBAL, _STACK_GLOBAL, _REDUCE, _NEWOBJ, _BUILD = b"c", b"\x93", b"R", b"\x81", b"b"
_PROTO, _FRAME = b"\x80", b"\x95"
_PERSID, _BINPERSID = b"P", b"Q"


def _fixed_run(buf: Any, pos: int, stop: int, size: int, head: bytes, mid_at: int,
               mid: bytes) -> int:
    """Entries in a run of ``size``-byte records starting with opcode ``head``, holding
    opcode ``mid`` at offset ``mid_at``, and ending in SETITEMS; 0 for none."""
    heads = buf[pos:min(stop, pos + size * 1001):size]  # pickle batches <= 1000 entries
    n = len(heads) - len(heads.lstrip(head))
    end = pos + size * n
    if n == 0 or end >= stop or buf[end] != SETITEMS:
        return 0
    if buf[pos + mid_at:end:size] != mid * n:
        return 0
    return n


def _op(c: bytes) -> int:
    return c[0]


#: Opcodes as ints (indexing a bytes-like object gives ints).
(MARK, STOP, POP, POP_MARK, DUP, NONE, NEWTRUE, NEWFALSE, BININT, BININT1, BININT2, LONG1,
 LONG4, BINFLOAT, BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING,
 BINBYTES, SHORT_BINBYTES, BINBYTES8, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET, DICT,
 LIST, TUPLE, TUPLE1, TUPLE2, TUPLE3, APPEND, APPENDS, SETITEM, SETITEMS, ADDITEMS,
 FROZENSET, BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET, GLOBAL, STACK_GLOBAL, REDUCE,
 NEWOBJ, BUILD, PROTO, FRAME, PERSID, BINPERSID) = map(_op, (
    _MARK, _STOP, _POP, _POP_MARK, _DUP, _NONE, _NEWTRUE, _NEWFALSE, _BININT, _BININT1,
    _BININT2, _LONG1, _LONG4, _BINFLOAT, _BINUNICODE, _SHORT_BINUNICODE, _BINUNICODE8,
    _BINSTRING, _SHORT_BINSTRING, _BINBYTES, _SHORT_BINBYTES, _BINBYTES8, _EMPTY_DICT,
    _EMPTY_LIST, _EMPTY_TUPLE, _EMPTY_SET, _DICT, _LIST, _TUPLE, _TUPLE1, _TUPLE2, _TUPLE3,
    _APPEND, _APPENDS, _SETITEM, _SETITEMS, _ADDITEMS, _FROZENSET, _BINPUT, _LONG_BINPUT,
    _MEMOIZE, _BINGET, _LONG_BINGET, _GLOBAL, _STACK_GLOBAL, _REDUCE, _NEWOBJ, _BUILD,
    _PROTO, _FRAME, _PERSID, _BINPERSID))

_SCALARS = (str, int, float, bool, bytes, type(None))
_CALLABLES = frozenset(ALLOWED_GLOBALS.values())


class _Sink(dict):  # type: ignore[type-arg]
    """The dict whose items go to the callback instead of being stored."""

    def __init__(self, reader: StreamingPickleReader) -> None:
        super().__init__()
        self._reader = reader

    def __setitem__(self, key: Any, value: Any) -> None:
        self._reader._deliver(key, value)


class StreamingPickleReader:
    """Reads one pickle from ``buf[start:end]`` with `ALLOWED_GLOBALS` only.

    When ``sink_key`` is given and the pickle is a dict with that key, the items of the
    dict under that key are passed to ``on_item(key, value)`` one by one as the stream
    completes them, and the loaded dict keeps an empty dict there.

    Args:
        buf: The bytes (``bytes``, ``mmap``, ``memoryview``).
        start: Offset of the pickle's first opcode.
        end: Offset just past the data (a stream reaching it before STOP is cut short).
        source: The file, for messages.
        sink_key: Key of the root dict whose value is streamed.
        on_item: Called with each streamed item.
        on_sink: Called once, when the streamed dict starts, with the root dict's items
            read so far (the keys before ``sink_key`` in the file).
        prune: Keys whose dict values the caller never reads: when such a value is a
            run of numbers read in bulk, it is left empty (saves time and memory).
    """

    def __init__(
        self,
        buf: Any,
        start: int,
        end: int,
        source: Path,
        *,
        sink_key: str | None = None,
        on_item: Callable[[Any, Any], None] | None = None,
        on_sink: Callable[[dict[Any, Any]], None] | None = None,
        prune: frozenset[str] = frozenset(),
    ) -> None:
        self.buf = buf
        self.pos = start
        self.end = end
        self.source = source
        self.sink_key = sink_key
        self.on_item = on_item
        self.on_sink = on_sink
        self.prune = prune
        self.sink: _Sink | None = None
        self.memo: list[Any] = []
        # Memo slots of containers built inside streamed items, released after delivery.
        self._containers: list[int] = []
        self._strings: dict[str, str] = {}
        self._op_pos = start

    # --- errors and primitives -------------------------------------------------------

    def _fail(self, what: str) -> SourceFileError:
        return SourceFileError(f"{self.source}: {what} (pickle opcode at byte {self._op_pos:,})")

    def _truncated(self) -> SourceFileError:
        return SourceFileError(
            f"{self.source}: the file is cut short: the data ends at byte {self.end:,} in "
            f"the middle of the pickle (opcode at byte {self._op_pos:,}); download it again"
        )

    def _take(self, n: int) -> bytes:
        pos = self.pos
        if pos + n > self.end:
            raise self._truncated()
        self.pos = pos + n
        return bytes(self.buf[pos:pos + n])

    def _put(self, index: int, obj: Any) -> None:
        memo = self.memo
        if index == len(memo):
            memo.append(obj)
        elif index < len(memo):
            memo[index] = obj
        else:
            # Picklers number memo entries in order; a jump (to 2**32 - 1, say) would
            # only make this list huge.
            raise self._fail(f"memo entry {index} written before entry {len(memo)}")
        if self.sink is not None and not isinstance(obj, _SCALARS) and not (
            type(obj) is tuple and all(isinstance(x, _SCALARS) for x in obj)
        ):
            # Kept: strings, numbers and tuples of them (immutable, small, may be shared
            # between architectures). Released after delivery: every container.
            self._containers.append(index)

    def _get(self, index: int) -> Any:
        try:
            obj = self.memo[index]
        except IndexError:
            raise self._fail(f"memo entry {index} read before it was written") from None
        if obj is _RELEASED:
            raise self._fail(
                f"memo entry {index} refers back to an object inside an earlier "
                "architecture's results, which this reader does not keep"
            )
        return obj

    def _deliver(self, key: Any, value: Any) -> None:
        if self.on_item is not None:
            self.on_item(key, value)

    def _release(self) -> None:
        memo = self.memo
        for i in self._containers:
            memo[i] = _RELEASED
        self._containers.clear()

    def _text(self, n: int) -> str:
        raw = self._take(n)
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("string that is not UTF-8") from None
        return self._strings.setdefault(s, s) if n <= 64 else s

    # --- fast paths ------------------------------------------------------------------

    def _fast_items(self, stack: list[Any], marks: list[int]) -> bool:
        """Read a batch of dict entries after MARK in bulk, when it has a known shape.

        Returns:
            True when the batch was read (through its SETITEMS); False to read it
            opcode by opcode (always correct, only slower).
        """
        if not stack:
            return False
        target = stack[-1]
        if type(target) is not dict and type(target) is not collections.OrderedDict:
            return False
        buf, pos, stop = self.buf, self.pos, self.end
        if pos >= stop:
            return False
        # A value under a pruned key of a dict being built: read it, keep it empty.
        skip = bool(self.prune) and bool(marks) and (len(stack) - marks[-1]) % 2 == 0 and \
            len(stack) - marks[-1] >= 2 and isinstance(stack[-2], str) and \
            stack[-2] in self.prune
        head = buf[pos]
        if head == BININT1:
            n = _fixed_run(buf, pos, stop, 11, b"K", 2, b"G")
            if not n:
                return False
            if not skip:
                flat = _struct(">xBxd", n).unpack_from(buf, pos)
                target.update(zip(flat[0::2], flat[1::2]))
            end = pos + 11 * n + 1
        elif head == LONG_BINGET:
            n = _fixed_run(buf, pos, stop, 14, b"j", 5, b"G")
            if not n:
                return False
            idx = _struct("<xI9x", n).unpack_from(buf, pos)
            memo = self.memo
            if max(idx) >= len(memo):
                return False  # the slow path reports it
            if not skip:
                keys = operator.itemgetter(*idx)(memo) if n > 1 else (memo[idx[0]],)
                if _RELEASED in keys:
                    return False  # the slow path reports it
                try:
                    target.update(zip(keys, _struct(">6xd", n).unpack_from(buf, pos)))
                except TypeError:
                    return False  # an unhashable key: the slow path reports it
            end = pos + 14 * n + 1
        elif head == BINUNICODE:
            m = _RUN_NEW_FLOAT.match(buf, pos, stop)
            if m is None:
                return False
            end = m.end()
            lens, raw_keys, puts, floats = zip(*_NEW_FIELDS.findall(bytes(buf[pos:end - 1])))
            n = len(raw_keys)
            if bytes(map(len, raw_keys)) != b"".join(lens):
                return False  # a declared length differs from the text: read slowly
            idx = _struct("<I", n).unpack(b"".join(puts))
            first = idx[0]
            if first != len(self.memo) or idx != tuple(range(first, first + n)):
                return False
            decoded = list(map(bytes.decode, raw_keys))
            keys = list(map(self._strings.setdefault, decoded, decoded))
            self.memo.extend(keys)  # later dicts name these keys by memo index
            if not skip:
                target.update(zip(keys, _struct(">d", n).unpack(b"".join(floats))))
        else:
            return False
        self.pos = end
        return True

    # --- the interpreter -------------------------------------------------------------

    def load(self) -> Any:
        """The pickled object (with the streamed dict left empty).

        Raises:
            SourceFileError: for a stream cut short, a malformed stream, or an opcode or
                global that is not allowed.
        """
        try:
            return self._load()
        except SourceFileError:
            raise
        except (pickle.UnpicklingError, IndexError, TypeError, ValueError, KeyError,
                struct.error, RecursionError, MemoryError) as exc:
            raise self._fail(f"malformed pickle ({type(exc).__name__}: {exc})") from None

    def _load(self) -> Any:
        # One loop, common opcodes first: the fastest dispatch in pure Python.
        buf = self.buf
        end = self.end
        stack: list[Any] = []
        marks: list[int] = []
        take = self._take
        put = self._put
        get = self._get
        unpack_from = struct.unpack_from
        while True:
            pos = self.pos
            if pos >= end:
                raise self._truncated()
            op = buf[pos]
            self._op_pos = pos
            self.pos = pos + 1
            if op == MARK:
                if self._fast_items(stack, marks):
                    continue
                marks.append(len(stack))
            elif op == BINUNICODE:
                stack.append(self._text(unpack_from("<I", take(4))[0]))
            elif op == BINPUT:
                put(take(1)[0], stack[-1])
            elif op == LONG_BINPUT:
                put(unpack_from("<I", take(4))[0], stack[-1])
            elif op == MEMOIZE:
                put(len(self.memo), stack[-1])
            elif op == BINGET:
                stack.append(get(take(1)[0]))
            elif op == LONG_BINGET:
                stack.append(get(unpack_from("<I", take(4))[0]))
            elif op == BINFLOAT:
                stack.append(unpack_from(">d", take(8))[0])
            elif op == BININT1:
                stack.append(take(1)[0])
            elif op == BININT2:
                stack.append(unpack_from("<H", take(2))[0])
            elif op == BININT:
                stack.append(unpack_from("<i", take(4))[0])
            elif op == SHORT_BINUNICODE:
                stack.append(self._text(take(1)[0]))
            elif op == EMPTY_DICT:
                stack.append(self._new_dict(stack, marks))
            elif op == SETITEMS:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                self._setitems(stack, items)
            elif op == SETITEM:
                value = stack.pop()
                key = stack.pop()
                self._setitems(stack, [key, value])
            elif op == NONE:
                stack.append(None)
            elif op == NEWTRUE:
                stack.append(True)
            elif op == NEWFALSE:
                stack.append(False)
            elif op == EMPTY_LIST:
                stack.append([])
            elif op == EMPTY_TUPLE:
                stack.append(())
            elif op == TUPLE1:
                stack[-1] = (stack[-1],)
            elif op == TUPLE2:
                stack[-2:] = [(stack[-2], stack[-1])]
            elif op == TUPLE3:
                stack[-3:] = [(stack[-3], stack[-2], stack[-1])]
            elif op == TUPLE:
                m = self._pop_mark(marks)
                t = tuple(stack[m:])
                del stack[m:]
                stack.append(t)
            elif op == APPEND:
                value = stack.pop()
                self._list(stack).append(value)
            elif op == APPENDS:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                self._list(stack).extend(items)
            elif op == LIST:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                stack.append(items)
            elif op == DICT:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                if len(items) % 2:
                    raise self._fail("DICT with an odd number of items")
                stack.append(dict(zip(items[0::2], items[1::2])))
            elif op in (LONG1, LONG4):
                n = take(1)[0] if op == LONG1 else unpack_from("<i", take(4))[0]
                if n < 0 or n > 64:
                    raise self._fail(f"integer of {n} bytes")
                stack.append(int.from_bytes(take(n), "little", signed=True))
            elif op in (BINUNICODE8, BINSTRING, SHORT_BINSTRING):
                if op == BINUNICODE8:
                    n = unpack_from("<Q", take(8))[0]
                elif op == BINSTRING:
                    n = unpack_from("<i", take(4))[0]
                else:
                    n = take(1)[0]
                if n < 0 or self.pos + n > end:
                    raise self._truncated()
                stack.append(self._text(n))
            elif op in (BINBYTES, SHORT_BINBYTES, BINBYTES8):
                fmt = {BINBYTES: ("<I", 4), SHORT_BINBYTES: ("<B", 1), BINBYTES8: ("<Q", 8)}[op]
                n = unpack_from(fmt[0], take(fmt[1]))[0]
                if self.pos + n > end:
                    raise self._truncated()
                stack.append(take(n))
            elif op == EMPTY_SET:
                stack.append(set())
            elif op == ADDITEMS:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                target = stack[-1]
                if type(target) is not set:
                    raise self._fail("ADDITEMS on something that is not a set")
                target.update(items)
            elif op == FROZENSET:
                m = self._pop_mark(marks)
                items = stack[m:]
                del stack[m:]
                stack.append(frozenset(items))
            elif op == GLOBAL:
                module = self._line()
                name = self._line()
                stack.append(self._global(module, name))
            elif op == STACK_GLOBAL:
                name = stack.pop()
                module = stack.pop()
                if not isinstance(module, str) or not isinstance(name, str):
                    raise self._fail("STACK_GLOBAL without two strings")
                stack.append(self._global(module, name))
            elif op in (REDUCE, NEWOBJ):
                args = stack.pop()
                func = stack.pop()
                if not isinstance(args, tuple) or func not in _CALLABLES:
                    raise self._fail("call of something that is not an allowed global")
                obj = func(*args)
                stack.append(obj)
            elif op == BUILD:
                state = stack.pop()
                target = stack[-1]
                if not isinstance(target, NumpyDtype):
                    raise self._fail(f"BUILD of a {type(target).__name__} is not allowed")
                target.__setstate__(state)
            elif op == POP:
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            elif op == POP_MARK:
                m = self._pop_mark(marks)
                del stack[m:]
            elif op == DUP:
                stack.append(stack[-1])
            elif op == PROTO:
                if take(1)[0] > 5:
                    raise self._fail("pickle protocol above 5")
            elif op == FRAME:
                take(8)
            elif op == STOP:
                if len(stack) != 1 or marks:
                    raise self._fail("STOP with an unbalanced stack")
                return stack[0]
            elif op in (PERSID, BINPERSID):
                raise self._fail(
                    "persistent id (a tensor or storage): benchmark result files hold no "
                    "tensors; is this a file of network weights?"
                )
            else:
                name = _OPNAMES.get(op, f"0x{op:02x}")
                raise self._fail(
                    f"opcode {name} is not allowed (only containers, strings and numbers "
                    "are read)"
                )

    # --- helpers of the interpreter --------------------------------------------------

    def _pop_mark(self, marks: list[int]) -> int:
        if not marks:
            raise self._fail("no MARK before an opcode that needs one")
        return marks.pop()

    def _line(self) -> str:
        buf, pos, end = self.buf, self.pos, min(self.end, self.pos + 256)
        for i in range(pos, end):
            if buf[i] == 0x0A:
                self.pos = i + 1
                return bytes(buf[pos:i]).decode("utf-8", "replace")
        raise self._truncated() if end == self.end else self._fail("GLOBAL name too long")

    def _global(self, module: str, name: str) -> Any:
        try:
            return allowed_global(module, name)
        except pickle.UnpicklingError as exc:
            raise self._fail(str(exc)) from None

    def _list(self, stack: list[Any]) -> list[Any]:
        if not stack or type(stack[-1]) is not list:
            raise self._fail("APPEND to something that is not a list")
        return stack[-1]

    def _new_dict(self, stack: list[Any], marks: list[int]) -> dict[Any, Any]:
        if self.sink is not None or self.sink_key is None:
            return {}
        # The value of key `sink_key` of the root dict: the stack is [root, MARK, k, v,
        # ..., sink_key] (or [root, sink_key] when items are set one at a time).
        at_root_key = (marks == [1] and len(stack) % 2 == 0) or (not marks and len(stack) == 2)
        if not (at_root_key and type(stack[0]) is dict and stack[-1] == self.sink_key):
            return {}
        self.sink = _Sink(self)
        if self.on_sink is not None:
            items = stack[1:-1]
            self.on_sink(dict(zip(items[0::2], items[1::2])))
        return self.sink

    def _setitems(self, stack: list[Any], items: list[Any]) -> None:
        if not stack:
            raise self._fail("SETITEMS without a dict")
        target = stack[-1]
        if len(items) % 2:
            raise self._fail("SETITEMS with an odd number of items")
        if target is self.sink:
            for i in range(0, len(items), 2):
                self._deliver(items[i], items[i + 1])
            del items
            self._release()
        elif type(target) is dict or type(target) is collections.OrderedDict:
            target.update(zip(items[0::2], items[1::2]))
        else:
            raise self._fail(f"SETITEMS on a {type(target).__name__}")
