"""The C core's thread pool: results equal one thread's exactly (the split
never changes a sum's order), errors are reported, and a forked child runs a
net whose parent had started workers."""

import os

import numpy as np
import pytest

from native_helpers import Graph, act, to_core, window
from predict.errors import NativeError


def block_graph(rng):
    """A small MobileNet block: 3x3 stem conv, depthwise, pointwise, add, FC."""
    g = Graph()
    x = g.input([3, 23, 19])
    a = g.layer("conv", [x], [24, 12, 10], **window((3, 3), (2, 2), (1, 1), (1, 1, 1, 1)), groups=1,
                weight=g.blob(rng.standard_normal((24, 3, 3, 3))), bias=g.blob(rng.standard_normal(24)),
                act=act("clip", 0, 6))
    d = g.layer("depthwise", [a], [24, 12, 10], **window((3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
                weight=g.blob(rng.standard_normal((3, 3, 24))), bias=None, act=act("relu"))
    p = g.layer("conv", [d], [24, 12, 10], **window((1, 1)), groups=1,
                weight=g.blob(rng.standard_normal((24, 1, 1, 24)) * 0.2), bias=None, act=act())
    s = g.layer("add", [a, p], [24, 12, 10], act=act())
    f = g.layer("global_avgpool", [s], [24, 1, 1])
    r = g.layer("reshape", [f], [24])
    g.output(g.layer("fc", [r], [37], weight=g.blob(rng.standard_normal((37, 24))),
                     bias=g.blob(rng.standard_normal(37)), act=act()))
    g.output(s)
    return g


@pytest.mark.parametrize("batch", [1, 3])
def test_threads_give_the_same_result_as_one(batch):
    rng = np.random.default_rng(batch)
    g = block_graph(rng)
    x = to_core(rng.standard_normal((batch, 3, 23, 19)).astype(np.float32))
    with g.build(max_batch=batch) as net:
        assert net.threads == 1
        want = net.run([x])
        for threads in (2, 3, 1, 4):
            net.set_threads(threads)
            assert net.threads == threads
            for _ in range(3):
                for got, w in zip(net.run([x]), want):
                    np.testing.assert_array_equal(got, w)


def test_threads_out_of_range_are_refused():
    g = block_graph(np.random.default_rng(0))
    with g.build() as net:
        for bad in (0, -1, 65):
            with pytest.raises(NativeError, match="threads") as info:
                net.set_threads(bad)
            assert info.value.status == "PD_ERR_ARGUMENT"
        assert net.threads == 1


def test_a_forked_child_runs_the_net():
    """The parent's workers do not exist in the child: it starts its own on its
    first run and gets the same answer; the parent keeps working afterwards."""
    rng = np.random.default_rng(5)
    g = block_graph(rng)
    x = to_core(rng.standard_normal((2, 3, 23, 19)).astype(np.float32))
    with g.build(max_batch=2) as net:
        net.set_threads(2)
        want = net.run([x])[0]
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            code = 1
            try:
                got = net.run([x])[0]
                code = 0 if np.array_equal(got, want) else 2
                net.set_threads(3)
                code = code or (0 if np.array_equal(net.run([x])[0], want) else 3)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        np.testing.assert_array_equal(net.run([x])[0], want)


@pytest.mark.parametrize("threads", [1, 2])
def test_profile_times_every_layer_and_changes_nothing(threads):
    """NativeNet.profile (pd_net_set_profile, for bench/profile_layers.py): one time per layer,
    none negative, and a run after it gives the same result as before."""
    rng = np.random.default_rng(7)
    g = block_graph(rng)
    x = to_core(rng.standard_normal((2, 3, 23, 19)).astype(np.float32))
    with g.build(max_batch=2) as net:
        net.set_threads(threads)
        want = net.run([x])
        seconds = net.profile([x], runs=3)
        assert len(seconds) == 7
        assert all(s >= 0 for s in seconds) and sum(seconds) > 0
        for got, w in zip(net.run([x]), want):
            np.testing.assert_array_equal(got, w)


def test_profile_of_the_wrong_length_is_refused():
    from predict._native import ffi, lib

    g = block_graph(np.random.default_rng(0))
    with g.build() as net:
        err = ffi.new("char[]", 256)
        seconds = ffi.new("double[]", 3)
        assert ffi.string(lib.pd_status_name(lib.pd_net_set_profile(net._net, seconds, 3, err, 256))) \
            == b"PD_ERR_ARGUMENT"
        assert b"7" in ffi.string(err)
