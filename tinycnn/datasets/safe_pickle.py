"""A pickle *reader* that builds only plain data and NumPy arrays, for CIFAR's "python version" batches.

The CIFAR-10 python batches (``data_batch_1`` ... ``test_batch``, in Keras's cache) are pickles of a dict
``{b"batch_label": bytes, b"labels": [int, ...], b"data": uint8 ndarray (10000, 3072),
b"filenames": [bytes, ...]}``. ``pickle.load`` would run whatever callables a file names, so tinycnn never
calls it. This module interprets the pickle opcodes itself:

* containers and scalars -- dict, list, tuple, bytes, str, int, bool, None -- are built directly;
* a *global* is only a name: just five are recognised (:data:`ALLOWED_GLOBALS`), none is imported or
  called. ``REDUCE`` and ``BUILD`` on them are carried out by code here that makes a NumPy array from the
  raw bytes (``np.frombuffer``) or a dtype from its string (only booleans, integers and floats);
* every other opcode, global or argument shape is refused with :class:`~tinycnn.errors.DataFileError`
  before anything else happens. No code from the file is ever executed.

Supported: protocols 2 to 5 as written by Python 2's ``cPickle`` (the original CIFAR files: strings as
``SHORT_BINSTRING``/``BINSTRING``) and by Python 3 with NumPy 1 or 2 (``_codecs.encode`` for bytes at
protocol 2; ``BINBYTES``, ``FRAME``, ``STACK_GLOBAL``, ``MEMOIZE`` at 4; ``_frombuffer`` at 5). Strings of a
Python 2 pickle come back as ``bytes``, as ``pickle.load(f, encoding="bytes")`` (Keras's choice) returns them.

>>> import pickle, numpy as np
>>> blob = pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [4, 2]}, protocol=2)
>>> loads(blob)
{b'data': array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8), b'labels': [4, 2]}
>>> loads(b"\\x80\\x02cos\\nsystem\\n.")
Traceback (most recent call last):
...
tinycnn.errors.DataFileError: <bytes>: refused: the pickle names os.system at byte 2; only numpy.ndarray, numpy.dtype, numpy...multiarray._reconstruct, numpy...numeric._frombuffer and _codecs.encode are understood (tinycnn never runs code from a file)
"""

import struct

import numpy as np

from ..errors import DataFileError

__all__ = ["loads", "ALLOWED_GLOBALS"]

#: The globals a NumPy-array pickle names, as (module, name); each maps to the stand-in used here.
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("numpy.core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy.core.numeric", "_frombuffer"): "_frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "_frombuffer",
    ("_codecs", "encode"): "encode",
}

_MARK = object()


class _Global:
    """A recognised global: just its name; nothing was imported."""

    def __init__(self, name):
        self.name = name


class _PendingArray:
    """``_reconstruct(ndarray, (0,), b"b")``: an empty array waiting for its ``BUILD`` state."""

    array = None


class _PendingDtype:
    """``dtype("u1", False, True)``: a dtype waiting for its ``BUILD`` state (the byte order)."""

    def __init__(self, dtype):
        self.dtype = dtype


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


class _Reader:
    def __init__(self, data, name):
        self.data, self.name, self.pos = memoryview(data), name, 0
        self.stack, self.marks, self.memo = [], [], {}

    def fail(self, what, at=None):
        at = self.pos if at is None else at
        raise DataFileError(f"{self.name}: refused: {what} at byte {at} (tinycnn never runs code from a file)")

    def take(self, n):
        if self.pos + n > len(self.data):
            raise DataFileError(
                f"{self.name}: truncated pickle: {n} bytes needed at byte {self.pos}, the file has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(chunk)

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self):
        end = bytes(self.data[self.pos : self.pos + 256]).find(b"\n")
        if end < 0:
            self.fail("a GLOBAL name without its newline")
        return self.take(end + 1)[:-1].decode("ascii", "replace")

    def pop_mark(self):
        if not self.marks:
            self.fail("an opcode that needs a MARK without one")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop(self):
        if not self.stack:
            self.fail("an opcode that needs a value on an empty stack")
        return self.stack.pop()

    # --------------------------------------------------------------------------------- globals
    def global_(self, module, name, at):
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataFileError(
                f"{self.name}: refused: the pickle names {module}.{name} at byte {at}; only numpy.ndarray, "
                "numpy.dtype, numpy...multiarray._reconstruct, numpy...numeric._frombuffer and _codecs.encode "
                "are understood (tinycnn never runs code from a file)"
            )
        self.stack.append(_Global(ALLOWED_GLOBALS[(module, name)]))

    def reduce(self, at):
        args, func = self.pop(), self.pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            self.fail("REDUCE on something other than a recognised global", at)
        if func.name == "_reconstruct":
            if len(args) != 3 or not (isinstance(args[0], _Global) and args[0].name == "ndarray"):
                self.fail(f"_reconstruct with unexpected arguments {args!r}", at)
            return _PendingArray()
        if func.name == "dtype":
            if not args or not isinstance(_text(args[0]), str):
                self.fail(f"dtype with unexpected arguments {args!r}", at)
            spec = _text(args[0])
            try:
                dtype = np.dtype(spec)
            except TypeError:
                self.fail(f"unknown dtype {spec!r}", at)
            if dtype.kind not in "biuf":
                self.fail(f"dtype {spec!r} (only booleans, integers and floats are read)", at)
            return _PendingDtype(dtype)
        if func.name == "encode":  # Python 3 writes bytes at protocol 2 as _codecs.encode(text, "latin1")
            if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                self.fail(f"_codecs.encode with unexpected arguments {args!r}", at)
            return args[0].encode("latin-1")
        if func.name == "_frombuffer":  # protocol 5: (buffer, dtype, shape, order)
            if len(args) != 4 or not isinstance(args[1], np.dtype) or not isinstance(args[2], tuple):
                self.fail(f"_frombuffer with unexpected arguments {args!r}", at)
            return self.array(bytes(args[0]), args[1], args[2], _text(args[3]) == "F", at)
        self.fail(f"a call of {func.name}", at)

    def array(self, raw, dtype, shape, fortran, at):
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            self.fail(f"an array shape {shape!r}", at)
        count = int(np.prod(shape, dtype=object))
        if len(raw) != count * dtype.itemsize:
            self.fail(
                f"an array of shape {shape} and dtype {dtype} with {len(raw)} bytes of data instead of "
                f"{count * dtype.itemsize}",
                at,
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()

    def build(self, at):
        state, obj = self.pop(), self.pop()
        if isinstance(obj, _PendingDtype):
            if not isinstance(state, tuple) or len(state) < 2 or _text(state[1]) not in "|<>=":
                self.fail(f"a dtype state {state!r}", at)
            order = _text(state[1])
            return obj.dtype if order == "|" else obj.dtype.newbyteorder(order)
        if isinstance(obj, _PendingArray):
            if not isinstance(state, tuple) or len(state) != 5:
                self.fail("an ndarray state that is not (version, shape, dtype, is_fortran, data)", at)
            _, shape, dtype, fortran, raw = state
            if not isinstance(shape, tuple) or not isinstance(dtype, np.dtype) or not isinstance(raw, bytes):
                self.fail("an ndarray state that is not (version, shape, dtype, is_fortran, data)", at)
            return self.array(raw, dtype, shape, bool(fortran), at)
        self.fail(f"BUILD on a {type(obj).__name__}", at)

    # --------------------------------------------------------------------------------- main loop
    def run(self):
        while True:
            at = self.pos
            op = self.take(1)
            s = self.stack
            if op == b"\x80":  # PROTO
                if self.unpack("<B") > 5:
                    self.fail("a pickle protocol above 5", at)
            elif op == b"\x95":  # FRAME (a length hint only)
                self.unpack("<Q")
            elif op == b".":  # STOP
                if len(s) != 1 or self.marks:
                    self.fail("STOP with a malformed stack", at)
                return s[0]
            elif op == b"(":  # MARK
                self.marks.append(len(s))
            elif op == b"}":
                s.append({})
            elif op == b"]":
                s.append([])
            elif op == b")":
                s.append(())
            elif op == b"N":
                s.append(None)
            elif op == b"\x88":
                s.append(True)
            elif op == b"\x89":
                s.append(False)
            elif op == b"K":  # BININT1
                s.append(self.unpack("<B"))
            elif op == b"M":  # BININT2
                s.append(self.unpack("<H"))
            elif op == b"J":  # BININT
                s.append(self.unpack("<i"))
            elif op == b"\x8a":  # LONG1
                n = self.unpack("<B")
                s.append(int.from_bytes(self.take(n), "little", signed=True))
            elif op in (b"U", b"C"):  # SHORT_BINSTRING (Python 2 str), SHORT_BINBYTES
                s.append(self.take(self.unpack("<B")))
            elif op in (b"T", b"B"):  # BINSTRING, BINBYTES
                n = self.unpack("<i" if op == b"T" else "<I")
                if n < 0:
                    self.fail("a negative string length", at)
                s.append(self.take(n))
            elif op == b"\x8e":  # BINBYTES8
                s.append(self.take(self.unpack("<Q")))
            elif op == b"\x96":  # BYTEARRAY8
                s.append(bytearray(self.take(self.unpack("<Q"))))
            elif op in (b"\x8c", b"X", b"\x8d"):  # SHORT_BINUNICODE, BINUNICODE, BINUNICODE8
                n = self.unpack({b"\x8c": "<B", b"X": "<I", b"\x8d": "<Q"}[op])
                try:
                    s.append(self.take(n).decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    self.fail("a string that is not UTF-8", at)
            elif op == b"\x85":
                s.append((self.pop(),))
            elif op == b"\x86":
                b, a = self.pop(), self.pop()
                s.append((a, b))
            elif op == b"\x87":
                c, b, a = self.pop(), self.pop(), self.pop()
                s.append((a, b, c))
            elif op == b"t":  # TUPLE
                s.append(tuple(self.pop_mark()))
            elif op == b"l":  # LIST
                s.append(self.pop_mark())
            elif op == b"d":  # DICT
                items = self.pop_mark()
                s.append(self.pairs({}, items, at))
            elif op == b"a":  # APPEND
                value = self.pop()
                self.target(list, at).append(value)
            elif op == b"e":  # APPENDS
                items = self.pop_mark()
                self.target(list, at).extend(items)
            elif op == b"s":  # SETITEM
                value, key = self.pop(), self.pop()
                self.pairs(self.target(dict, at), [key, value], at)
            elif op == b"u":  # SETITEMS
                items = self.pop_mark()
                self.pairs(self.target(dict, at), items, at)
            elif op in (b"q", b"r", b"\x94"):  # BINPUT, LONG_BINPUT, MEMOIZE
                key = len(self.memo) if op == b"\x94" else self.unpack("<B" if op == b"q" else "<I")
                if not s:
                    self.fail("PUT on an empty stack", at)
                self.memo[key] = s[-1]
            elif op in (b"h", b"j"):  # BINGET, LONG_BINGET
                key = self.unpack("<B" if op == b"h" else "<I")
                if key not in self.memo:
                    self.fail(f"GET of memo {key}, which was never PUT", at)
                s.append(self.memo[key])
            elif op == b"c":  # GLOBAL "module\nname\n"
                module = self.line()
                self.global_(module, self.line(), at)
            elif op == b"\x93":  # STACK_GLOBAL
                name, module = self.pop(), self.pop()
                if not isinstance(module, str) or not isinstance(name, str):
                    self.fail("STACK_GLOBAL without two strings", at)
                self.global_(module, name, at)
            elif op == b"R":
                s.append(self.reduce(at))
            elif op == b"b":
                s.append(self.build(at))
            else:
                self.fail(f"unknown pickle opcode {op!r}", at)

    def target(self, kind, at):
        if not self.stack or not isinstance(self.stack[-1], kind):
            self.fail(f"an opcode that adds to a {kind.__name__} without one", at)
        return self.stack[-1]

    def pairs(self, d, items, at):
        if len(items) % 2:
            self.fail("a dict with an odd number of keys and values", at)
        for key, value in zip(items[::2], items[1::2]):
            if not isinstance(key, (bytes, str, int)):
                self.fail(f"a dict key of type {type(key).__name__}", at)
            d[key] = value
        return d


def loads(data, name="<bytes>"):
    """Decode the pickle ``data`` (bytes) to plain data and NumPy arrays, or refuse it.

    Parameters
    ----------
    data : bytes
        The pickle stream.
    name : str
        The file's name, for error messages.

    Returns
    -------
    object
        Dicts, lists, tuples, bytes, str, int, bool, None and NumPy arrays (writable copies).

    Raises
    ------
    DataFileError
        An opcode, global or structure outside the small set above, or a truncated stream; the message names
        the byte offset.
    """
    return _Reader(data, name).run()
