"""Bad descriptions and bad inputs give NativeError / InputError with a useful
message and status, never a crash: the C core rechecks everything it indexes."""

import numpy as np
import pytest

from native_helpers import Graph, act, window
from predict import _native
from predict.errors import InputError, NativeError


def small_conv(weight_shape=(4, 3, 3, 2), out_shape=(4, 5, 5), **layer):
    g = Graph()
    x = g.input([2, 5, 5])
    keys = dict(window((3, 3), pads=(1, 1, 1, 1)), groups=1, weight=g.blob(np.ones(weight_shape)),
                bias=None, act=act())
    keys.update(layer)
    g.output(g.layer("conv", [x], list(out_shape), **keys))
    return g


def build_error(g, **kw):
    with pytest.raises(NativeError) as info:
        g.build(**kw)
    return info.value


def test_a_valid_net_builds():
    with small_conv().build() as net:
        assert net.run([np.ones((1, 5, 5, 2), np.float32)])[0].shape == (1, 5, 5, 4)


def test_bad_tensor_index():
    g = small_conv()
    g.layers[0]["inputs"] = [7]
    e = build_error(g)
    assert e.status == "PD_ERR_ARGUMENT" and "tensor index 7" in str(e)
    g.layers[0]["inputs"] = [-1]
    assert build_error(g).status == "PD_ERR_ARGUMENT"


def test_bad_output_index():
    g = small_conv()
    g.outputs[0]["tensor"] = 2
    assert build_error(g).status == "PD_ERR_ARGUMENT"


def test_wrong_output_dims_names_the_layer():
    e = build_error(small_conv(out_shape=(4, 4, 5)))
    assert e.status == "PD_ERR_SHAPE"
    assert "layer 0" in str(e) and "conv0" in str(e) and "computed (5, 5)" in str(e)


def test_missing_weights():
    g = small_conv()
    g.layers[0]["weight"] = None
    e = build_error(g)
    assert e.status == "PD_ERR_ARGUMENT" and "weights missing" in str(e)


def test_weight_blob_of_the_wrong_shape():
    e = build_error(small_conv(weight_shape=(4, 3, 3, 1)))
    assert e.status == "PD_ERR_SHAPE" and "(4, 3, 3, 2)" in str(e)


def test_blob_index_out_of_range():
    assert build_error(small_conv(bias=5)).status == "PD_ERR_ARGUMENT"


def test_unknown_op_and_fields():
    g = small_conv()
    g.layers[0]["op"] = "lstm"
    assert build_error(g).status == "PD_ERR_UNSUPPORTED"
    g = small_conv(act={"kind": "gelu", "alpha": 0.0, "beta": 0.0})
    assert build_error(g).status == "PD_ERR_ARGUMENT"
    g = small_conv()
    del g.layers[0]["kernel"]
    assert build_error(g).status == "PD_ERR_ARGUMENT"
    g = small_conv(groups=2 ** 40)
    assert "int32" in str(build_error(g))


def test_int8_tensors_are_not_supported_yet():
    g = small_conv()
    g.tensors[1]["dtype"] = "int8"
    e = build_error(g)
    assert e.status == "PD_ERR_UNSUPPORTED" and "tensor 1" in str(e)


@pytest.mark.parametrize("dims,status", [([2, 0, 5], "PD_ERR_ARGUMENT"),
                                         ([2 ** 31 - 1] * 3, "PD_ERR_NOMEM")])
def test_bad_tensor_dims(dims, status):
    g = small_conv()
    g.tensors[0]["shape"] = dims
    assert build_error(g).status == status


def test_dataflow_errors():
    g = Graph()
    x = g.input([3])
    y = g.layer("activation", [x], [3], act=act("relu"))
    z = g.layer("activation", [y], [3], act=act("relu"))
    g.output(z)
    g.layers.reverse()  # z's layer now reads y before y is written
    assert "before any layer writes it" in str(build_error(g))
    g.layers.reverse()
    g.layers[1]["output"] = y  # written twice
    assert "already written" in str(build_error(g))
    g.layers[1]["output"] = x  # a graph input
    assert build_error(g).status == "PD_ERR_ARGUMENT"


@pytest.mark.parametrize("change,status", [
    ({"pads": [3, 1, 1, 1]}, "PD_ERR_ARGUMENT"),           # pad >= kernel extent
    ({"strides": [0, 1]}, "PD_ERR_ARGUMENT"),
    ({"groups": 3}, "PD_ERR_SHAPE"),                        # does not divide 2 input channels
    ({"kernel": [9, 9], "pads": [0, 0, 0, 0]}, "PD_ERR_SHAPE"),  # window larger than the input
])
def test_conv_attribute_errors(change, status):
    assert build_error(small_conv(**change)).status == status


def test_shape_rule_errors_of_other_ops():
    def one(op, in_shapes, out_shape, **keys):
        g = Graph()
        ins = [g.input(s) for s in in_shapes]
        g.output(g.layer(op, ins, out_shape, **keys))
        return build_error(g).status

    assert one("add", [[3, 4, 4], [3, 2, 4]], [3, 4, 4], act=act()) == "PD_ERR_SHAPE"
    assert one("add", [[3, 4, 4], [3, 4, 4]], [3, 4, 5], act=act()) == "PD_ERR_SHAPE"
    assert one("concat", [[3, 4, 4], [2, 4, 4]], [6, 4, 4]) == "PD_ERR_SHAPE"
    assert one("concat", [[3, 4, 4], [2, 3, 4]], [5, 4, 4]) == "PD_ERR_SHAPE"
    assert one("reshape", [[3, 4, 4]], [47]) == "PD_ERR_SHAPE"
    assert one("softmax", [[10]], [11]) == "PD_ERR_SHAPE"
    assert one("global_avgpool", [[3, 4, 4]], [3, 2, 2]) == "PD_ERR_SHAPE"
    assert one("pad", [[1, 3, 3]], [1, 9, 9], pads=[3, 3, 3, 3], mode="reflect", value=0.0) == "PD_ERR_SHAPE"
    assert one("pad", [[1, 3, 3]], [1, 5, 5], pads=[1, 1, 1, 1], mode="wrap", value=0.0) == "PD_ERR_ARGUMENT"
    assert one("maxpool", [[1, 6, 6]], [1, 2, 2], **window((3, 3), (2, 2)), ceil_mode=True) == "PD_ERR_SHAPE"
    assert one("avgpool", [[1, 6, 6]], [1, 3, 3], **window((2, 2), (2, 2), (2, 2)), ceil_mode=False,
               count_include_pad=False) == "PD_ERR_UNSUPPORTED"  # dilated average pooling
    assert one("fc", [[8]], [4, 2], weight=None, bias=None, act=act()) == "PD_ERR_ARGUMENT"


def test_run_input_errors():
    with small_conv().build(max_batch=2) as net:
        good = np.ones((2, 5, 5, 2), np.float32)
        bad = [
            [good, good],                                   # two inputs for one
            [good.astype(np.float64)],
            [good[:, :, :, :1].copy()],                     # wrong channels
            [good[0]],                                      # no batch dim
            [np.ones((3, 5, 5, 2), np.float32)],            # batch > max_batch
            [np.ones((0, 5, 5, 2), np.float32)],            # empty batch
            [np.ones((2, 5, 5, 4), np.float32)[..., ::2]],  # not C-contiguous
            [good.astype(">f4")],                           # big-endian
            good,                                           # not a list
        ]
        for inputs in bad:
            with pytest.raises(InputError):
                net.run(inputs)
        assert net.run([good])[0].shape == (2, 5, 5, 4)


def test_read_only_inputs_and_weights_work():
    g = small_conv()
    for a in g.arrays:
        a.flags.writeable = False
    x = np.ones((1, 5, 5, 2), np.float32)
    x.flags.writeable = False
    with g.build() as net:
        assert np.all(np.isfinite(net.run([x])[0]))


def test_closed_net():
    net = small_conv().build()
    net.close()
    net.close()  # idempotent
    with pytest.raises(NativeError) as info:
        net.run([np.ones((1, 5, 5, 2), np.float32)])
    assert info.value.status == "PD_ERR_STATE"


# The C boundary itself, below NativeNet's own checks.
ffi, lib = _native.ffi, _native.lib


def test_c_build_refuses_null_and_negative_counts():
    err = ffi.new("char[]", 256)
    out = ffi.new("pd_net **")
    assert lib.pd_net_build(ffi.NULL, out, err, 256) == lib.PD_ERR_ARGUMENT
    assert out[0] == ffi.NULL and b"desc" in ffi.string(err)
    desc = ffi.new("pd_net_desc *")
    assert lib.pd_net_build(desc, ffi.NULL, err, 256) == lib.PD_ERR_ARGUMENT
    desc.n_tensors, desc.n_outputs, desc.max_batch = -1, 1, 1
    assert lib.pd_net_build(desc, out, ffi.NULL, 0) == lib.PD_ERR_ARGUMENT  # no err buffer: fine
    desc.n_tensors = 1  # tensors still NULL
    assert lib.pd_net_build(desc, out, err, 256) == lib.PD_ERR_ARGUMENT


def test_c_error_message_is_truncated_safely():
    err = ffi.new("char[]", 8)
    out = ffi.new("pd_net **")
    assert lib.pd_net_build(ffi.NULL, out, err, 8) == lib.PD_ERR_ARGUMENT
    assert len(ffi.string(err)) == 7


def test_c_run_checks_batch_and_pointers():
    net = small_conv().build(max_batch=2)
    handle = net._net
    x = np.ones((3, 5, 5, 2), np.float32)
    y = np.empty((3, 5, 5, 4), np.float32)
    ins, outs = ffi.new("void *[]", [ffi.from_buffer(x)]), ffi.new("void *[]", [ffi.from_buffer(y)])
    err = ffi.new("char[]", 256)
    assert lib.pd_net_run(handle, 3, ins, outs, err, 256) == lib.PD_ERR_STATE
    assert b"max_batch" in ffi.string(err)
    assert lib.pd_net_run(handle, 0, ins, outs, err, 256) == lib.PD_ERR_ARGUMENT
    assert lib.pd_net_run(ffi.NULL, 1, ins, outs, err, 256) == lib.PD_ERR_ARGUMENT
    assert lib.pd_net_run(handle, 1, ffi.new("void *[]", 1), outs, err, 256) == lib.PD_ERR_ARGUMENT
    assert lib.pd_net_run(handle, 1, ins, ffi.NULL, err, 256) == lib.PD_ERR_ARGUMENT
    assert lib.pd_net_run(handle, 2, ins, outs, err, 256) == lib.PD_OK
    net.close()


def test_c_status_names_and_version():
    assert _native.version() == _native.EXPECTED_VERSION
    assert ffi.string(lib.pd_status_name(lib.PD_ERR_SHAPE)) == b"PD_ERR_SHAPE"
    assert ffi.string(lib.pd_status_name(99)) == b"PD_ERR_UNKNOWN"
    assert lib.pd_net_arena_bytes(ffi.NULL) == 0
    lib.pd_net_free(ffi.NULL)


FIELDS = ["kernel", "strides", "dilations", "pads", "groups"]
VALUES = [-1, 0, 1, 2, 3, 7, 2 ** 31 - 1]


def test_random_corruptions_never_crash():
    """Corrupt one number of a valid two-layer net at a time: the build either
    fails with NativeError or gives a net that runs."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        g = small_conv()
        g.layer("maxpool", [1], [4, 2, 2], **window((2, 2), (2, 2)), ceil_mode=False)
        g.outputs[0]["tensor"] = 2
        which = rng.integers(4)
        if which == 0:
            g.tensors[rng.integers(3)]["shape"][rng.integers(3)] = int(rng.choice(VALUES))
        elif which == 1:
            layer = g.layers[rng.integers(2)]
            key = FIELDS[rng.integers(len(FIELDS))]
            if key in layer:
                if isinstance(layer[key], list):
                    layer[key][rng.integers(len(layer[key]))] = int(rng.choice(VALUES))
                else:
                    layer[key] = int(rng.choice(VALUES))
        elif which == 2:
            g.layers[rng.integers(2)]["inputs"] = [int(rng.choice(VALUES))]
        else:
            g.layers[rng.integers(2)]["output"] = int(rng.choice(VALUES))
        try:
            net = g.build()
        except NativeError:
            continue
        with net:
            if net.arena_bytes < 1 << 20:
                h, w, c = _native.core_dims(g.tensors[0]["shape"])
                net.run([np.ones((1, h, w, c), np.float32)])


def test_core_dims():
    assert _native.core_dims([7]) == (1, 1, 7)
    assert _native.core_dims([3, 11]) == (1, 11, 3)
    assert _native.core_dims((3, 5, 6)) == (5, 6, 3)
    for bad in ([], [1, 2, 3, 4]):
        with pytest.raises(NativeError):
            _native.core_dims(bad)
