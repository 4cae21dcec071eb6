"""Calls across the wall between the solution's process and the tests' process.

Standard library only: this file is imported by ``worker.py`` inside the sandbox.

The tests import ``solution`` as usual, but what they get is :class:`SolutionProxy`, a module
whose functions and classes forward every call to the solution's own process over a socket.
Arguments and results cross as **plain data** (None, bool, int, float, complex, str, bytes,
and list, tuple, dict, set, frozenset of them, nested) and are rebuilt on the receiving side
as exact built-in types, so nothing the solution's process sends can carry behaviour: an
object whose ``__eq__`` is always true arrives as an opaque :class:`Remote` handle, which
compares by identity, never as the object. Other objects (instances of classes the solution
defines, generators, functions) cross as handles whose attributes, method calls, ``len``,
iteration, indexing, ``in`` and ``str`` are forwarded (LeetCode-style "design" problems keep
working) but whose comparisons are not. Exceptions raised in the other process are raised
again as the same built-in exception type (classes the solution defines become local
subclasses of their nearest built-in base, with the same name), so ``pytest.raises`` works.

The solution's process may call back into objects the tests passed to it (a key function, a
tree node the tests built): only public names (no leading underscore) and the same
operations, so it cannot reach the tests' modules, frames or channels through them.

Wire format: 4-byte big-endian length, then ``marshal`` of a tuple. Every container is a
tuple tagged with its kind, so decoding is unambiguous, and the decoder accepts only the
types listed above (``marshal`` can also encode code objects; they are refused).
"""

import builtins
import marshal
import struct
import sys
import types

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # bytes
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_CONTAINERS = {list: "l", tuple: "t", set: "s", frozenset: "f"}
_BUILD = {"l": list, "t": tuple, "s": set, "f": frozenset}
_OPS_WITH_NAMES = ("getattr", "setattr", "callattr")


class ProtocolError(Exception):
    """The other process broke the protocol (bad frame, unknown handle, non-plain data)."""


class NotPlainData(TypeError):
    """A value from the solution's process that is not plain data was compared."""


class Remote:
    """A handle to an object that lives in the other process.

    Compares, hashes and reprs by identity here (the other side never decides ``==``);
    attributes, calls, ``len``, iteration, indexing, ``in`` and ``str`` are forwarded.
    """

    __slots__ = ("_ep", "_t", "_kind", "__weakref__")

    def __init__(self, ep, target, kind):
        object.__setattr__(self, "_ep", ep)
        object.__setattr__(self, "_t", target)  # ("h", id) or ("m", module-level name)
        object.__setattr__(self, "_kind", kind)

    def __repr__(self):
        return f"<{self._kind} object from the other process (not plain data)>"

    def __eq__(self, other):
        if isinstance(other, Remote):
            return self is other
        raise NotPlainData(
            f"compared {self!r} with {type(other).__name__}: results are compared as plain "
            "data (None, bool, int, float, complex, str, bytes, list, tuple, dict, set, "
            "frozenset); compare the object's attributes or return plain data"
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ep.request("getattr", self._t, name)

    def __setattr__(self, name, value):
        self._ep.request("setattr", self._t, name, value)

    def __call__(self, *args, **kwargs):
        return self._ep.request("call", self._t, args, kwargs)

    def __len__(self):
        return self._ep.request("len", self._t)

    def __iter__(self):
        return self._ep.request("iter", self._t)

    def __next__(self):
        return self._ep.request("next", self._t)

    def __getitem__(self, key):
        return self._ep.request("getitem", self._t, key)

    def __setitem__(self, key, value):
        self._ep.request("setitem", self._t, key, value)

    def __contains__(self, item):
        return self._ep.request("contains", self._t, item)

    def __str__(self):
        return self._ep.request("str", self._t)

    def __bool__(self):
        return self._ep.request("bool", self._t)


class TrustedRemote(Remote):
    """A handle held by the solution's process to an object of the tests: comparisons and
    hashing are forwarded too (the tests' code answers them)."""

    __slots__ = ()

    def __eq__(self, other):
        return self._ep.request("eq", self._t, other)

    def __lt__(self, other):
        return self._ep.request("lt", self._t, other)

    def __hash__(self):
        return self._ep.request("hash", self._t)


def _exception_class(name, base, cache):
    """The local class for an exception named ``name`` whose nearest built-in base is
    ``base``: the built-in itself, or a local subclass (one per name)."""
    if base == name:
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
    if name not in cache:
        parent = getattr(builtins, base, None)
        if not (isinstance(parent, type) and issubclass(parent, Exception)):
            parent = Exception
        cache[name] = type(name, (parent,), {"__module__": "solution"})
    return cache[name]


def _builtin_base(cls):
    for k in cls.__mro__:
        if getattr(builtins, k.__name__, None) is k:
            return k.__name__
    return "Exception"


class Endpoint:
    """One side of the socket. ``trusted`` is the tests' side: it serves only public names
    to the other side, and the handles it holds compare by identity."""

    def __init__(self, sock, *, trusted):
        self.sock = sock
        self.trusted = trusted
        self._objects = {}  # id -> local object the other side holds a handle to
        self._ids = {}  # id(obj) -> id
        self._remotes = {}  # id -> Remote for objects of the other side
        self._exceptions = {}
        self._next = 1
        self._remote_cls = Remote if trusted else TrustedRemote
        self.coverage_hook = None  # the solution's side: () -> [statements, missing] or None

    # ------------------------------------------------------------------ wire
    def send(self, msg):
        body = marshal.dumps(msg)
        self.sock.sendall(_HEADER.pack(len(body)) + body)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise ProtocolError("the other process closed the connection")
            buf += chunk
        return bytes(buf)

    def recv(self):
        (n,) = _HEADER.unpack(self._recv_exact(_HEADER.size))
        if n > MAX_FRAME:
            raise ProtocolError(f"a message of {n} bytes is over the {MAX_FRAME} byte limit")
        try:
            msg = marshal.loads(self._recv_exact(n))
        except (ValueError, EOFError, TypeError) as exc:
            raise ProtocolError(f"unreadable message: {exc}") from None
        if type(msg) is not tuple or not msg or type(msg[0]) is not str:
            raise ProtocolError("malformed message")
        return msg

    # ------------------------------------------------------------------ values
    def export(self, obj):
        key = id(obj)
        hid = self._ids.get(key)
        if hid is None or self._objects.get(hid) is not obj:
            hid = self._next
            self._next += 1
            self._objects[hid] = obj
            self._ids[key] = hid
        return hid

    def encode(self, v):
        t = type(v)
        if t in _SCALARS:
            return v
        if isinstance(v, Remote):
            if v._ep is not self:
                raise ProtocolError("a handle of another connection")
            return ("r", *v._t)
        tag = _CONTAINERS.get(t)
        if tag is not None:
            return (tag, tuple(self.encode(x) for x in v))
        if t is dict:
            return ("d", tuple((self.encode(k), self.encode(x)) for k, x in v.items()))
        name = getattr(v, "__name__", None)
        if type(name) is str and name[:1] != "_" and getattr(builtins, name, None) is v:
            return ("b", name)  # a built-in type or function (int, str, len, max, ...)
        # subclasses of plain types travel as their plain base (namedtuple -> tuple, ...)
        for base in (bool, int, float, complex, str, bytes):
            if isinstance(v, base):
                return base(v)
        if isinstance(v, dict):
            return ("d", tuple((self.encode(k), self.encode(x)) for k, x in v.items()))
        for base, tag in _CONTAINERS.items():
            if isinstance(v, base):
                return (tag, tuple(self.encode(x) for x in v))
        return ("h", self.export(v), t.__name__)

    def decode(self, x):
        t = type(x)
        if t in _SCALARS:
            return x
        if t is not tuple or not x or type(x[0]) is not str:
            raise ProtocolError(f"not plain data: {t.__name__}")
        tag = x[0]
        if tag in _BUILD and len(x) == 2 and type(x[1]) is tuple:
            return _BUILD[tag](self.decode(i) for i in x[1])
        if tag == "d" and len(x) == 2 and type(x[1]) is tuple:
            out = {}
            for pair in x[1]:
                if type(pair) is not tuple or len(pair) != 2:
                    raise ProtocolError("malformed dict")
                out[self.decode(pair[0])] = self.decode(pair[1])
            return out
        if tag == "h" and len(x) == 3 and type(x[1]) is int and type(x[2]) is str:
            r = self._remotes.get(x[1])
            if r is None:
                r = self._remotes[x[1]] = self._remote_cls(self, ("h", x[1]), x[2][:100])
            return r
        if tag == "b" and len(x) == 2 and type(x[1]) is str and x[1][:1] != "_":
            obj = getattr(builtins, x[1], None)
            if isinstance(obj, (type, types.BuiltinFunctionType)):
                return obj
            raise ProtocolError(f"not a built-in: {x[1][:40]!r}")
        if tag == "r" and len(x) == 3:
            return self._target(x[1:])
        raise ProtocolError(f"unknown value tag {tag[:20]!r}")

    # ------------------------------------------------------------------ calls
    def request(self, op, target, *args):
        """Send ``op`` and serve the other side's requests until its answer comes.

        For calls, lists, dicts and sets passed as arguments are copies on the other side;
        their state after the call comes back with the answer and is written into the
        originals, so solutions that work in place ("modify nums in place") still work."""
        self.send(("req", op, target, *(self.encode(a) for a in args)))
        while True:
            msg = self.recv()
            kind = msg[0]
            if kind == "ok" and len(msg) == 3 and type(msg[2]) is tuple:
                if msg[2] and op in ("call", "callattr"):
                    _write_back(_flat_args(op, args), [self.decode(u) for u in msg[2]])
                return self.decode(msg[1])
            if kind == "exc" and len(msg) == 4 and all(type(m) is str for m in msg[1:]):
                raise _exception_class(msg[1][:100], msg[2][:100], self._exceptions)(msg[3][:2000])
            if kind == "req":
                self.serve_one(msg)
                continue
            raise ProtocolError(f"unexpected message {kind[:20]!r}")

    def serve_one(self, msg):
        try:
            result, after = self._perform(msg)
        except BaseException as exc:  # noqa: BLE001 - sent to the caller as its exception
            if isinstance(exc, ProtocolError):
                raise
            self.send(("exc", type(exc).__name__, _builtin_base(type(exc)), _message(exc)))
        else:
            self.send(("ok", result, after))

    def _target(self, spec):
        if type(spec) is tuple and len(spec) == 2 and spec[0] == "h" and type(spec[1]) is int:
            if spec[1] in self._objects:
                return self._objects[spec[1]]
        if type(spec) is tuple and len(spec) == 2 and spec[0] == "m" and type(spec[1]) is str:
            if not self.trusted:  # module-level names exist on the solution's side only
                return getattr(sys.modules["solution"], spec[1])
        raise ProtocolError("unknown call target")

    def _perform(self, msg):
        if len(msg) < 3 or type(msg[1]) is not str:
            raise ProtocolError("malformed request")
        if msg[1] == "coverage" and not self.trusted:
            return self.encode(self.coverage_hook() if self.coverage_hook else None), ()
        op, target = msg[1], self._target(msg[2])
        args = [self.decode(a) for a in msg[3:]]
        if op in ("call", "callattr"):
            result = self._call(op, target, args)
            flat = _flat_args(op, args)
            mutable = tuple(self.encode(a) if type(a) in _MUTABLE else None for a in flat)
            return result, (mutable if any(m is not None for m in mutable) else ())
        return self._perform_simple(op, target, args), ()

    def _call(self, op, target, args):
        if self.trusted and op == "callattr" and (type(args[0]) is not str or args[0][:1] == "_"):
            raise AttributeError(f"{args[0]!r} is not reachable from the other process")
        if op == "call":
            if type(args[0]) is not tuple or type(args[1]) is not dict:
                raise ProtocolError("malformed call")
            return self.encode(target(*args[0], **args[1]))
        if type(args[1]) is not tuple or type(args[2]) is not dict:
            raise ProtocolError("malformed call")
        return self.encode(getattr(target, args[0])(*args[1], **args[2]))

    def _perform_simple(self, op, target, args):
        if op in _OPS_WITH_NAMES:
            name = args[0]
            if type(name) is not str or (self.trusted and name.startswith("_")):
                raise AttributeError(f"{name!r} is not reachable from the other process")
        if op == "get":
            return self.encode(target)
        if op == "getattr":
            return self.encode(getattr(target, args[0]))
        if op == "setattr":
            setattr(target, args[0], args[1])
            return None
        if op == "iter":
            return self.encode(iter(target))
        if op == "next":
            return self.encode(next(target))
        simple = {
            "len": len,
            "str": str,
            "bool": bool,
            "hash": hash,
            "getitem": lambda o, k: o[k],
            "contains": lambda o, k: k in o,
            "eq": lambda o, k: o == k,
            "lt": lambda o, k: o < k,
        }
        if op == "setitem":
            target[args[0]] = args[1]
            return None
        if op in simple:
            return self.encode(simple[op](target, *args))
        raise ProtocolError(f"unknown operation {op[:20]!r}")


_MUTABLE = (list, dict, set)


def _flat_args(op, args):
    """The arguments of a call, in order: positional, then keyword values."""
    pos, kw = (args[0], args[1]) if op == "call" else (args[1], args[2])
    return [*pos, *kw.values()]


def _write_back(originals, states):
    """Put the other side's state of each mutable argument into the caller's object."""
    for orig, new in zip(originals, states, strict=False):  # the other side may lie
        if new is None or type(new) is not type(orig):
            continue
        if type(orig) is list:
            orig[:] = new
        else:
            orig.clear()
            orig.update(new)


def _message(exc):
    try:
        return str(exc)[:2000]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return ""


# ---------------------------------------------------------------------- the tests' side
class SolutionProxy(types.ModuleType):
    """The module the tests import as ``solution``: every public name of the real module,
    as plain values, local exception classes or forwarding handles."""

    def __init__(self, ep, listing):
        super().__init__("solution")
        object.__setattr__(self, "_ep", ep)
        if type(listing) is not tuple:
            raise ProtocolError("malformed module listing")
        for entry in listing:
            if type(entry) is not tuple or len(entry) != 3:
                raise ProtocolError("malformed module listing")
            name, kind, extra = entry
            if type(name) is not str or type(kind) is not str:
                raise ProtocolError("malformed module listing")
            if kind == "value":
                value = ep.decode(extra)
            elif kind == "exception":
                value = _exception_class(name, str(extra), ep._exceptions)
            elif kind == "module":
                value = _import_plain_module(extra)
                if value is None:
                    continue
            else:
                value = ep._remote_cls(ep, ("m", name), kind[:100])
            self.__dict__[name] = value

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ep.request("get", ("m", name))


def _import_plain_module(name):
    """A module the solution imported (``from solution import *`` also brings those): the
    tests get their own import of it, from the installation only."""
    if type(name) is not str or not name or name.startswith("_") or name == "solution":
        return None
    try:
        __import__(name)
        return sys.modules[name]
    except BaseException:  # noqa: BLE001
        return None


def describe_module(module, ep):
    """The listing the solution's process sends after importing the solution: a tuple of
    (name, kind, extra) for :class:`SolutionProxy`."""
    listing = []
    names = getattr(module, "__all__", None)
    if not (isinstance(names, (list, tuple)) and all(type(n) is str for n in names)):
        names = [n for n in vars(module) if not n.startswith("__")]
    for name in names:
        try:
            value = getattr(module, name)
        except AttributeError:
            continue
        if isinstance(value, type) and issubclass(value, BaseException):
            listing.append((name, "exception", _builtin_base(value)))
        elif isinstance(value, types.ModuleType):
            listing.append((name, "module", value.__name__))
        elif isinstance(value, type):
            listing.append((name, "class", None))
        elif callable(value):
            listing.append((name, "function", None))
        else:
            enc = ep.encode(value)
            if type(enc) is tuple and enc[0] == "h":
                listing.append((name, type(value).__name__, None))
            else:
                listing.append((name, "value", enc))
    return tuple(listing)
