"""Write PyTorch checkpoint files without torch, the way ``torch.save(state_dict, path)`` does.

The zip format of torch >= 1.6: ``archive/data.pkl`` is a protocol-2 pickle of an OrderedDict
(with torch's ``_metadata`` attribute set through BUILD) whose values are
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` calls;
each storage is a persistent id ``('storage', torch.FloatStorage, key, 'cpu', numel)`` whose
little-endian bytes are the record ``archive/data/<key>``. Records start on 64-byte boundaries as
torch aligns them (the reader must not depend on it, but real files have it). Random
state dicts for the architecture builders come from ``random_state_dict``.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

_STORAGE = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage",
            np.dtype(np.float16): "HalfStorage", np.dtype(np.float64): "DoubleStorage"}


class _Global:
    """Pickles as GLOBAL 'module\\nname\\n' (a name torch's unpickler resolves)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle wants a callable in a reduce tuple; never called
        raise AssertionError("never called")


class _Reduce:
    """Pickles as ``func(*args)`` with optional BUILD state and SETITEMS items."""

    def __init__(self, func, args, state=None, items=None):
        self.func, self.args, self.state, self.items = func, args, state, items

    def __reduce__(self):
        return self.func, self.args, self.state, None, iter(self.items) if self.items else None


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Pickler(pickle._Pickler):
    dispatch = pickle._Pickler.dispatch.copy()

    def _save_global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", _Global("torch", _STORAGE[obj.array.dtype]), obj.key, "cpu",
                    obj.array.size)
        return None


def _ordered_dict(items, metadata=None):
    state = {"_metadata": _ordered_dict(metadata.items())} if metadata else None
    return _Reduce(_Global("collections", "OrderedDict"), (), state, list(items))


def state_dict_pickle(arrays):
    """(data.pkl bytes, {storage key: bytes}) for ``arrays`` (name -> numpy array)."""
    entries, storages = [], {}
    for index, (name, array) in enumerate(arrays.items()):
        array = np.array(array, order="C")
        key = str(index)
        storage = _Storage(key, array)
        stride = tuple(s // array.itemsize for s in array.strides) if array.ndim else ()
        tensor = _Reduce(_Global("torch._utils", "_rebuild_tensor_v2"),
                         (storage, 0, tuple(array.shape), stride, False,
                          _ordered_dict([])))
        entries.append((name, tensor))
        storages[key] = array.astype(array.dtype.newbyteorder("<")).tobytes()
    modules = {name.rsplit(".", 1)[0] for name in arrays if "." in name}
    metadata = {"": {"version": 1}}
    metadata.update({m: {"version": 1} for m in sorted(modules)})
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(_ordered_dict(entries, metadata))
    return buffer.getvalue(), storages


def _aligned_writestr(z, name, data, alignment=64):
    """Write a stored record whose data starts on an ``alignment`` boundary, padding the
    local header's extra field as torch's writer does."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    offset = z.fp.tell() + 30 + len(name.encode())
    pad = (-(offset + 4)) % alignment
    info.extra = struct.pack("<HH", 0xCAFE, pad) + b"Z" * pad
    z.writestr(info, data)


def save_state_dict(path, arrays, prefix="archive"):
    """Write ``arrays`` (name -> numpy array) as ``torch.save`` writes a state dict.

    >>> import tempfile, os
    >>> from converters.torch_checkpoint import load_state_dict
    >>> path = os.path.join(tempfile.mkdtemp(), "m.pth")
    >>> save_state_dict(path, {"fc.weight": np.ones((2, 3), np.float32)})
    >>> load_state_dict(path)["fc.weight"].tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    data_pkl, storages = state_dict_pickle(arrays)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        _aligned_writestr(z, f"{prefix}/data.pkl", data_pkl)
        _aligned_writestr(z, f"{prefix}/.format_version", b"1")
        _aligned_writestr(z, f"{prefix}/.storage_alignment", b"64")
        _aligned_writestr(z, f"{prefix}/byteorder", b"little")
        for key, data in storages.items():
            _aligned_writestr(z, f"{prefix}/data/{key}", data)
        _aligned_writestr(z, f"{prefix}/version", b"3\n")


def random_state_dict(shapes, seed=0):
    """Random weights for ``shapes`` (key -> shape, as torch_arch.expected_shapes gives) that
    keep a deep network's activations in a useful range: convolutions and linears scaled by
    their fan-in (He init), batch norm gains below 1 so residual sums do not blow up, running
    statistics that are not the identity, and the ``num_batches_tracked`` counters real
    checkpoints hold."""
    rng = np.random.default_rng(seed)
    out = collections.OrderedDict()
    for key, shape in shapes.items():
        if key.endswith(".running_var"):
            out[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
            prefix = key[:-len(".running_var")]
            out[f"{prefix}.num_batches_tracked"] = np.array(1000, np.int64)
        elif key.endswith(".running_mean"):
            out[key] = rng.normal(0.0, 0.1, shape).astype(np.float32)
        elif len(shape) == 1:  # biases and batch norm's weight (gain) / bias (shift)
            gain = key.endswith(".weight")
            out[key] = (rng.uniform(0.3, 0.9, shape) if gain
                        else rng.normal(0.0, 0.1, shape)).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:]))
            out[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return out
