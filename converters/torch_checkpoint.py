"""Read PyTorch checkpoints with numpy alone: no torch, and no code run from the file.

A checkpoint is a pickle, and an ordinary unpickler will call any function the file names. This
reader admits only what a state dict needs: the tensor-rebuild functions, the storage types, a
few dtypes and ``collections.OrderedDict``. Each admitted name is replaced by our own small
implementation, so nothing of torch's (or anyone's) is ever called. Every length, offset and
stride in the file is checked against the bytes that are really there before it is used.

Two serializations exist and both are read:

- the legacy one (torch < 1.6, and torchvision's older weights): five things one after another
  in a single stream: the pickles of a magic number, a protocol version and the system info,
  the main pickle (the state dict, whose storages are persistent ids), a pickled list of storage
  keys, then for each key an int64 element count and the storage's raw little-endian bytes;
- the zip one (torch >= 1.6): ``<prefix>/data.pkl`` is the main pickle, ``<prefix>/data/<key>``
  holds each storage's bytes, ``<prefix>/byteorder`` says ``little`` or ``big``.
"""

import collections
import io
import os
import pickle
import pickletools
import zipfile

import numpy as np

from predict.errors import CheckpointError

__all__ = ["load_state_dict", "RefusedObjectError"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# Materialized tensors may repeat storage bytes (tied weights, expanded views), but never by
# much: this caps the arrays we build at this many times the file's size, plus a floor.
EXPANSION_FACTOR = 4
EXPANSION_FLOOR = 64 << 20
MAX_NDIM = 32  # numpy's own limit is 64; no checkpoint tensor comes close.

# A storage type's element type as a numpy code (the byte order comes from the file).
# bfloat16 ("bf16") has no numpy type: its raw uint16 bits are widened to float32 at the end.
_STORAGE_TYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
}
# torch dtype objects, named in the pickle only by _rebuild_tensor_v3 (uint16/32/64 tensors).
_TORCH_DTYPES = {
    "float32": "f4", "float": "f4", "float64": "f8", "double": "f8",
    "float16": "f2", "half": "f2", "bfloat16": "bf16",
    "int64": "i8", "long": "i8", "int32": "i4", "int": "i4", "int16": "i2", "short": "i2",
    "int8": "i1", "uint8": "u1", "bool": "b1",
    "uint16": "u2", "uint32": "u4", "uint64": "u8",
}


class RefusedObjectError(CheckpointError):
    """The pickle names a global outside the admitted ones: most often a whole pickled
    ``nn.Module`` (``torch.save(model)``), which only torch itself can load, by running code."""


def _itemsize(code):
    """Bytes per element of a dtype code of the tables above."""
    return 2 if code == "bf16" else np.dtype(code).itemsize


# Opcodes a state dict's pickle can need. Everything that builds objects by calling something
# goes through find_class (GLOBAL, STACK_GLOBAL); INST, OBJ, NEWOBJ(_EX) and the EXT extension
# registry are refused outright, as are out-of-band buffers. torch has always pickled with
# protocol 2, so the protocol-0 STRING (escaped text) never appears either.
_ALLOWED_OPCODES = frozenset("""
    PROTO FRAME STOP MARK POP POP_MARK DUP
    INT BININT BININT1 BININT2 LONG LONG1 LONG4 NONE NEWTRUE NEWFALSE FLOAT BINFLOAT
    BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8
    UNICODE SHORT_BINUNICODE BINUNICODE BINUNICODE8
    EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET
    GET BINGET LONG_BINGET PUT BINPUT LONG_BINPUT MEMOIZE
    GLOBAL STACK_GLOBAL REDUCE BUILD PERSID BINPERSID
""".split())
_MEMO_PUTS = frozenset(["PUT", "BINPUT", "LONG_BINPUT"])
_OBJECT_OPCODES = frozenset(["INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"])


def load_state_dict(path_or_file, *, max_bytes=None):
    """Read a PyTorch checkpoint's state dict into numpy arrays, without torch.

    ``path_or_file`` is a path or a binary file object. Both the legacy (pre-1.6) and the zip
    serialization are read. A checkpoint that wraps its state dict in a dict under
    ``state_dict``, ``model_state_dict`` or ``model`` is unwrapped. Arrays come back C-contiguous,
    writable and native-endian (bfloat16 is widened to float32). ``max_bytes`` caps the total
    size of the arrays built (default: 4 times the file size plus 64 MiB).

    Anything malformed, truncated, or naming a global other than the tensor-rebuild functions,
    storage types, dtypes and ``collections.OrderedDict`` raises ``CheckpointError``.

    >>> from converters.torch_checkpoint import load_state_dict
    >>> sd = load_state_dict("mobilenet_v2-b0353104.pth")        # doctest: +SKIP
    >>> sd["classifier.1.weight"].shape, sd["classifier.1.weight"].dtype  # doctest: +SKIP
    ((1000, 1280), dtype('float32'))
    """
    if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 0):
        raise CheckpointError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    name, data = _read_all(path_or_file)
    budget = max_bytes if max_bytes is not None else EXPANSION_FACTOR * len(data) + EXPANSION_FLOOR
    try:
        if data[:4] == b"PK\x03\x04":
            obj = _ZipReader(data).load()
        elif data[:1] == b"\x80":  # a pickle: the legacy stream starts with the magic number's
            obj = _LegacyReader(data).load()
        elif len(data) > 262 and data[257:262] == b"ustar":
            raise CheckpointError("the pre-0.4 tar checkpoint format is not supported")
        else:
            raise CheckpointError("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
        return _materialize(_find_state_dict(obj), budget)
    except CheckpointError as e:
        raise type(e)(f"{name}: {e}") from None
    except Exception as e:  # the input is hostile: no other exception type may escape
        raise CheckpointError(f"{name}: malformed checkpoint ({type(e).__name__}: {e})") from e


def _read_all(path_or_file):
    if isinstance(path_or_file, (str, os.PathLike)):
        name = os.fspath(path_or_file)
        try:
            with open(name, "rb") as f:
                return name, f.read()
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {name}: {e.strerror or e}") from None
    if hasattr(path_or_file, "read"):
        data = path_or_file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise CheckpointError("checkpoint file object must be opened in binary mode")
        return getattr(path_or_file, "name", "<file>"), bytes(data)
    raise CheckpointError(f"expected a path or a binary file object, got {type(path_or_file).__name__}")


# ---------------------------------------------------------------------------------------------
# The objects the unpickler may build. All have __slots__ and refuse BUILD (__setstate__), so a
# pickle cannot set attributes on them after they were validated.

class _Sealed:
    __slots__ = ()

    def __setstate__(self, state):
        raise CheckpointError(f"the pickle tries to set the state of a {type(self).__name__.lstrip('_')}")


class _Callable(_Sealed):
    """An admitted global that the pickle may call (REDUCE): one of our functions, never torch's."""
    __slots__ = ("qualname", "fn")

    def __init__(self, qualname, fn):
        self.qualname, self.fn = qualname, fn

    def __call__(self, *args):
        try:
            return self.fn(*args)
        except TypeError as e:  # wrong argument count from a malformed pickle
            raise CheckpointError(f"bad arguments to {self.qualname}: {e}") from None


class _StorageType(_Sealed):
    """A torch storage class named by a persistent id; holds the element dtype only."""
    __slots__ = ("qualname", "dtype")

    def __init__(self, qualname, dtype):
        self.qualname, self.dtype = qualname, dtype


class _DType(_Sealed):
    """A torch dtype object (torch.float32 ...), as an argument of _rebuild_tensor_v3."""
    __slots__ = ("qualname", "dtype")

    def __init__(self, qualname, dtype):
        self.qualname, self.dtype = qualname, dtype


class _Storage(_Sealed):
    """A storage: ``nbytes`` raw bytes, filled from the file once they are read (legacy: after
    the main pickle). A legacy view is a byte range of a root storage."""
    __slots__ = ("key", "dtype", "nbytes", "order", "data", "root", "byte_offset")

    def __init__(self, key, dtype, nbytes, order="<", data=None, root=None, byte_offset=0):
        self.key, self.dtype, self.nbytes, self.order, self.data = key, dtype, nbytes, order, data
        self.root, self.byte_offset = root, byte_offset

    def buffer(self):
        """The storage's bytes as a read-only uint8 array of exactly ``nbytes``."""
        if self.root is not None:
            base = self.root.buffer()
            return base[self.byte_offset:self.byte_offset + self.nbytes]
        if self.data is None:
            raise CheckpointError(f"storage {self.key!r} has no data in the file")
        return np.frombuffer(self.data, dtype=np.uint8, count=self.nbytes)


class _Tensor(_Sealed):
    """A validated tensor: its storage, element dtype, offset, shape and strides (in elements)."""
    __slots__ = ("storage", "dtype", "offset", "shape", "strides", "numel")

    def __init__(self, storage, dtype, offset, shape, strides, numel):
        self.storage, self.dtype, self.offset = storage, dtype, offset
        self.shape, self.strides, self.numel = shape, strides, numel


class _PickledOrderedDict(collections.OrderedDict):
    """collections.OrderedDict as the pickle builds it. torch attaches ``_metadata`` (module
    versions) through BUILD; it is dropped here, so a pickle can never shadow a dict method
    with an instance attribute."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError("bad OrderedDict state in the pickle")


def _new_ordered_dict(*args):
    # Python 3 pickles OrderedDict as OrderedDict() plus SETITEMS; Python 2 passed [[k, v], ...].
    d = _PickledOrderedDict()
    if len(args) > 1:
        raise CheckpointError("OrderedDict takes at most one argument")
    if args:
        if not isinstance(args[0], list):
            raise CheckpointError("OrderedDict's argument must be a list of pairs")
        for item in args[0]:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise CheckpointError("OrderedDict's argument must be a list of pairs")
            d[item[0]] = item[1]
    return d


# ---------------------------------------------------------------------------------------------
# Tensor rebuilding: shapes and strides are checked against the storage here, once.

def _int_tuple(value, what):
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM:
        raise CheckpointError(f"tensor {what} must be a tuple of at most {MAX_NDIM} integers")
    out = []
    for v in value:
        if type(v) is not int or v < 0:  # bool is an int subclass: excluded by `type(v) is int`
            raise CheckpointError(f"tensor {what} must hold non-negative integers, got {v!r}")
        out.append(v)
    return tuple(out)


def _make_tensor(storage, offset, size, stride, dtype=None):
    if not isinstance(storage, _Storage):
        raise CheckpointError("a tensor's storage is not a storage persistent id")
    if type(offset) is not int or offset < 0:
        raise CheckpointError(f"bad tensor storage offset {offset!r}")
    shape, strides = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(shape) != len(strides):
        raise CheckpointError(f"tensor size {shape} and stride {strides} differ in length")
    dtype = storage.dtype if dtype is None else dtype
    available = storage.nbytes // _itemsize(dtype)  # elements of this dtype in the storage
    numel = 1
    for d in shape:
        numel *= d
    if numel == 0:
        if offset > available:
            raise CheckpointError(f"tensor offset {offset} is past its storage of {available} elements")
    else:
        # The furthest element any index reaches; all strides are >= 0.
        last = offset + sum((d - 1) * s for d, s in zip(shape, strides))
        if last >= available:
            raise CheckpointError(
                f"tensor of size {shape}, stride {strides} and offset {offset} reads element "
                f"{last} of a storage holding {available}")
    return _Tensor(storage, dtype, offset, shape, strides, numel)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    if not isinstance(dtype, _DType):
        raise CheckpointError("_rebuild_tensor_v3 needs a torch dtype")
    return _make_tensor(storage, storage_offset, size, stride, dtype.dtype)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    if not isinstance(data, _Tensor):
        raise CheckpointError("a parameter's data is not a tensor")
    return data


def _admitted_globals():
    table = {("collections", "OrderedDict"): lambda q: _Callable(q, _new_ordered_dict)}
    for fn_name, fn in [("_rebuild_tensor", _rebuild_tensor),
                        ("_rebuild_tensor_v2", _rebuild_tensor_v2),
                        ("_rebuild_tensor_v3", _rebuild_tensor_v3),
                        ("_rebuild_parameter", _rebuild_parameter),
                        ("_rebuild_parameter_with_state", _rebuild_parameter)]:
        table[("torch._utils", fn_name)] = (lambda fn: lambda q: _Callable(q, fn))(fn)
    for cls, dtype in _STORAGE_TYPES.items():
        for module in ("torch", "torch.cuda"):  # CUDA storages load to the CPU like torch's map_location
            table[(module, cls)] = (lambda dtype: lambda q: _StorageType(q, dtype))(dtype)
    for module in ("torch", "torch.storage"):
        table[(module, "UntypedStorage")] = lambda q: _StorageType(q, "u1")
    for name, dtype in _TORCH_DTYPES.items():
        table[("torch", name)] = (lambda dtype: lambda q: _DType(q, dtype))(dtype)
    return table


_ADMITTED = _admitted_globals()


# ---------------------------------------------------------------------------------------------
# The restricted unpickler.

def _scan_pickle(data, start):
    """Walk one pickle's opcodes without executing any; return the offset just past its STOP.

    Like ``pickletools.genops``, but an opcode is judged before its argument is decoded. Refuses
    opcodes outside the allow-list, memo indices that would make the C unpickler allocate a huge
    memo table, and frames longer than the data.
    """
    stream = io.BytesIO(data)
    stream.seek(start)
    limit = len(data) - start
    while True:
        pos = stream.tell()
        code = stream.read(1)
        if not code:
            raise CheckpointError(f"pickle at byte {start} is truncated (no STOP opcode)")
        op = pickletools.code2op.get(code.decode("latin-1"))
        if op is None or op.name not in _ALLOWED_OPCODES:
            name = op.name if op else f"0x{code[0]:02x}"
            if name in _OBJECT_OPCODES:  # a pickled object of some class, e.g. a whole module
                raise RefusedObjectError(f"refused pickle opcode {name} at byte {pos}: it "
                                         "builds an object of a class; a state dict holds "
                                         "only tensors")
            raise CheckpointError(f"refused pickle opcode {name} at byte {pos}")
        try:
            arg = _read_argument(op, stream)
        except Exception as e:  # the readers raise ValueError (and others) on malformed data
            raise CheckpointError(f"malformed pickle opcode {op.name} at byte {pos}: {e}") from None
        if op.name in _MEMO_PUTS and arg > limit:
            raise CheckpointError(f"pickle memo index {arg} out of range at byte {pos}")
        if op.name == "FRAME" and arg > len(data) - stream.tell():
            raise CheckpointError(f"pickle frame of {arg} bytes passes the end of the data")
        if op.name == "STOP":
            return stream.tell()


def _read_argument(op, stream):
    if op.arg is None:
        return None
    if op.arg.name.startswith("stringnl_noescape"):
        # GLOBAL's and PERSID's newline-terminated text. pickletools' reader would escape-decode
        # it (and warn about stray backslashes); the unpickler reads it raw, and so do we.
        for _ in range(2 if op.arg.name.endswith("pair") else 1):
            if not stream.readline().endswith(b"\n"):
                raise ValueError("no newline found")
        return None
    return op.arg.reader(stream)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that knows only the admitted globals; ``resolve`` handles persistent ids."""

    def __init__(self, data, resolve=None):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._resolve = resolve

    def find_class(self, module, name):
        make = _ADMITTED.get((module, name))
        if make is None:
            raise RefusedObjectError(f"refused global {module}.{name}: a checkpoint may only name "
                                  "tensor-rebuild functions, storage types and OrderedDict")
        return make(f"{module}.{name}")

    def persistent_load(self, pid):
        if self._resolve is None:
            raise CheckpointError("unexpected persistent id outside the main pickle")
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"bad persistent id {pid!r:.80}")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":
            raise RefusedObjectError("the checkpoint pickles whole nn.Module objects (with source "
                                  "code); save and load model.state_dict() instead")
        if kind != "storage":
            raise CheckpointError(f"unknown persistent id kind {kind!r:.40}")
        return self._resolve(pid[1:])


def _unpickle(data, start=0, resolve=None):
    """Scan then load the pickle at ``data[start:]``; return (object, offset after it)."""
    end = _scan_pickle(data, start)
    unpickler = _RestrictedUnpickler(data[start:end], resolve)
    return unpickler.load(), end


def _storage_args(storage_type, key, location, numel):
    if not isinstance(storage_type, _StorageType):
        raise CheckpointError("a storage persistent id does not name a storage type")
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if not isinstance(key, str) or not key or len(key) > 256:
        raise CheckpointError(f"bad storage key {key!r:.80}")
    if not isinstance(location, (str, bytes)):
        raise CheckpointError(f"bad storage location {location!r:.80}")
    if type(numel) is not int or numel < 0:
        raise CheckpointError(f"storage {key!r} has a bad size {numel!r:.80}")
    return storage_type.dtype, key, numel * _itemsize(storage_type.dtype)


class _LegacyReader:
    """torch < 1.6: magic, protocol, sys_info pickles, the main pickle, the key list, raw data."""

    def __init__(self, data):
        self.data = data
        self.storages = {}  # root key -> _Storage

    def load(self):
        data = self.data
        magic, pos = _unpickle(data, 0)
        if magic != LEGACY_MAGIC:
            raise CheckpointError("not a PyTorch checkpoint (wrong magic number)")
        protocol, pos = _unpickle(data, pos)
        if protocol != LEGACY_PROTOCOL:
            raise CheckpointError(f"unsupported legacy checkpoint protocol {protocol!r:.40}")
        sys_info, pos = _unpickle(data, pos)
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise CheckpointError("only little-endian legacy checkpoints are supported")
        result, pos = _unpickle(data, pos, self._storage)
        keys, pos = _unpickle(data, pos)
        if not isinstance(keys, list) or not all(isinstance(k, (str, bytes)) for k in keys):
            raise CheckpointError("the storage key list is malformed")
        keys = [k.decode("ascii", "replace") if isinstance(k, bytes) else k for k in keys]
        if len(set(keys)) != len(keys) or set(keys) != set(self.storages):
            raise CheckpointError("the storage key list does not match the storages the "
                                  "pickle uses")
        for key in keys:  # each: int64 element count, then the bytes
            storage = self.storages[key]
            if pos + 8 > len(data):
                raise CheckpointError(f"file truncated before storage {key!r}")
            count = int.from_bytes(data[pos:pos + 8], "little", signed=True)
            pos += 8
            itemsize = _itemsize(storage.dtype)
            if count < 0 or count * itemsize != storage.nbytes:
                raise CheckpointError(f"storage {key!r} holds {count} elements in the file but "
                                      f"the pickle declares {storage.nbytes // itemsize}")
            if pos + storage.nbytes > len(data):
                raise CheckpointError(f"file truncated inside storage {key!r}: it needs "
                                      f"{storage.nbytes} bytes, {len(data) - pos} remain")
            storage.data = memoryview(data)[pos:pos + storage.nbytes]
            pos += storage.nbytes
        return result

    def _storage(self, args):
        if len(args) != 5:
            raise CheckpointError("a legacy storage persistent id must have 6 fields")
        storage_type, key, location, numel, view = args
        dtype, key, nbytes = _storage_args(storage_type, key, location, numel)
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(key, dtype, nbytes)
        elif root.dtype != dtype or root.nbytes != nbytes:
            raise CheckpointError(f"storage {key!r} is declared twice with different types or sizes")
        if view is None:
            return root
        # A view: (view_key, offset, size) in elements, into the root storage.
        if not isinstance(view, tuple) or len(view) != 3:
            raise CheckpointError(f"bad storage view of {key!r}")
        _, offset, size = view
        if type(offset) is not int or type(size) is not int or offset < 0 or size < 0:
            raise CheckpointError(f"bad storage view of {key!r}: offset {offset!r:.40}, size {size!r:.40}")
        itemsize = _itemsize(dtype)
        if (offset + size) * itemsize > nbytes:
            raise CheckpointError(f"a view of storage {key!r} passes its end")
        return _Storage(key, dtype, size * itemsize, root=root, byte_offset=offset * itemsize)


class _ZipReader:
    """torch >= 1.6: a zip archive with <prefix>/data.pkl and <prefix>/data/<key> records."""

    def __init__(self, data):
        self.data = data
        self.storages = {}
        self.budget = len(data)  # declared sizes of the records read, against the file size

    def load(self):
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(self.data))
        except zipfile.BadZipFile as e:
            raise CheckpointError(f"bad zip archive: {e}") from None
        names = self.zf.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError("the zip archive has no single <prefix>/data.pkl record")
        self.prefix = pickles[0][:-len("data.pkl")]
        if any(n.startswith(self.prefix + "code/") for n in names):
            raise CheckpointError("this is a TorchScript archive, not a saved state dict")
        order = self._read(self.prefix + "byteorder", optional=True)
        if order not in (None, b"little", b"big"):
            raise CheckpointError(f"bad byteorder record {order!r:.20}")
        self.big_endian = order == b"big"
        obj, _ = _unpickle(self._read(self.prefix + "data.pkl"), 0, self._storage)
        return obj

    def _read(self, name, optional=False):
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            if optional:
                return None
            raise CheckpointError(f"the zip archive has no record {name!r}") from None
        if info.file_size > self.budget:  # also bounds what a compressed record can inflate to
            raise CheckpointError(f"record {name!r} declares {info.file_size} bytes, more "
                                  "than the archive can hold")
        self.budget -= info.file_size
        with self.zf.open(info) as f:
            data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise CheckpointError(f"record {name!r} is {len(data)} bytes, not the declared "
                                  f"{info.file_size}")
        return data

    def _storage(self, args):
        if len(args) != 4:
            raise CheckpointError("a zip storage persistent id must have 5 fields")
        dtype, key, nbytes = _storage_args(*args)
        known = self.storages.get(key)
        if known is not None:
            if known.dtype != dtype or known.nbytes != nbytes:
                raise CheckpointError(f"storage {key!r} is declared twice with different types or sizes")
            return known
        if "/" in key or key in (".", ".."):
            raise CheckpointError(f"bad storage key {key!r:.80}")
        data = self._read(f"{self.prefix}data/{key}")
        if nbytes > len(data):
            raise CheckpointError(f"storage {key!r} declares {nbytes} bytes but its record holds "
                                  f"{len(data)}")
        order = ">" if self.big_endian else "<"
        storage = self.storages[key] = _Storage(key, dtype, nbytes, order, data=data)
        return storage


# ---------------------------------------------------------------------------------------------
# From the unpickled object to name -> array.

def _is_state_dict(obj):
    return isinstance(obj, dict) and obj and all(
        isinstance(k, str) and isinstance(v, _Tensor) for k, v in obj.items())


def _find_state_dict(obj):
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if _is_state_dict(obj.get(key)):
                return obj[key]
        keys = ", ".join(repr(k) for k in list(obj)[:10] if isinstance(k, (str, int)))
        raise CheckpointError(f"no state dict (a dict of name -> tensor) found; top-level keys: {keys}")
    raise CheckpointError(f"the checkpoint holds a {type(obj).__name__.lstrip('_')}, not a state dict")


def _materialize(state, budget):
    out = collections.OrderedDict()
    for name, t in state.items():
        bfloat16 = t.dtype == "bf16"
        dtype = np.dtype(t.storage.order + ("u2" if bfloat16 else t.dtype))
        nbytes = t.numel * (4 if bfloat16 else dtype.itemsize)
        if nbytes > budget:
            raise CheckpointError(f"tensor {name!r} of shape {t.shape} passes the size limit")
        budget -= nbytes
        raw = t.storage.buffer()
        count = raw.size // dtype.itemsize
        elems = np.frombuffer(raw, dtype=dtype, count=count)
        # Bounds were checked in _make_tensor: every index stays below `count`.
        view = np.lib.stride_tricks.as_strided(
            elems[t.offset:], shape=t.shape,
            strides=tuple(s * dtype.itemsize for s in t.strides), writeable=False)
        array = np.array(view, dtype=dtype.newbyteorder("="), order="C", copy=True)
        if bfloat16:  # bfloat16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        elif dtype.kind == "b":  # a bool byte other than 0 or 1 must not survive as a bool
            array = array.view(np.uint8) != 0
        out[name] = array
    return out
