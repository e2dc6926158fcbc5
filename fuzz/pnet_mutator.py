"""A structure-aware mutator for pnet inputs: it edits the msgpack header, not just bytes.

Byte flips inside a msgpack header mostly break the encoding, and the few that survive rarely
make the lies that matter (an index one past the end, a shape that disagrees with its blob, a
pad as large as the kernel). So half of the mutations decode the header, change one value (an
integer to a boundary, a list shortened or lengthened, a value swapped with another from
elsewhere in the header, a key dropped, a weight made NaN) and encode it again with a correct
header_len and padding; the target recomputes the checksum. The other half are libFuzzer's byte
mutations, which also cover a header that no longer decodes.

    >>> mutate(pnet_input, 1 << 16, seed=7)                       # doctest: +SKIP
"""
import copy
import math
import random
import struct

import msgpack

PREAMBLE = struct.Struct("<8sIIQ")
ALIGN = 64
INTS = [0, 1, -1, 2, 3, 7, 63, 64, 65, 255, 256, 2**15, 2**16, 2**31 - 1, 2**31, -2**31,
        2**32, 2**63 - 1, -2**63, 2**64 - 1]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-45, 3.4028235e38, 3.5e38, math.inf, -math.inf, math.nan]
ODD = [None, True, False, "", "x" * 3, [], {}, [0], {"": 0}, b"\0", 1.5]


def _paths(node, path=()):
    """Every (path, value) in a decoded header, containers included, down to depth 10."""
    yield path, node
    if len(path) >= 10:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


def _set(root, path, value):
    node = root
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _new_value(rng, value, others):
    if isinstance(value, bool) or value is None:
        return rng.choice(ODD + [0, 1])
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, value * 2, value // 2, -value,
                           rng.choice(INTS), rng.randint(-4, 300)])
    if isinstance(value, float):
        return rng.choice(FLOATS + [value * 2, -value])
    if isinstance(value, str):
        strings = [v for v in others if isinstance(v, str)]
        return rng.choice(strings + ["", "conv", "depthwise", "fc", "reshape", "BGR"])
    if isinstance(value, list):
        value = list(value)
        choice = rng.randrange(5)
        if choice == 0 and value:
            del value[rng.randrange(len(value))]
        elif choice == 1 and value:
            value.insert(rng.randrange(len(value) + 1), rng.choice(value))
        elif choice == 2 and len(value) > 1:
            i, j = rng.randrange(len(value)), rng.randrange(len(value))
            value[i], value[j] = value[j], value[i]
        elif choice == 3:
            value = [rng.choice(INTS) for _ in range(rng.randint(0, 5))]
        else:
            value = value * rng.randint(0, 3)
        return value
    if isinstance(value, dict):
        value = dict(value)
        if value and rng.random() < 0.5:
            del value[rng.choice(list(value))]
        else:
            value[rng.choice(["op", "name", "blob", "shape", "act", "extra"])] = copy.deepcopy(
                rng.choice(others))
        return value
    return rng.choice(ODD)


def _mutate_header(header, rng):
    paths = list(_paths(header))[1:]
    if not paths:
        return header
    others = [value for _, value in paths]
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path, value = rng.choice(paths)
        new = rng.choice(others) if rng.random() < 0.2 else _new_value(rng, value, others)
        # A copy: a container put inside itself would make the header a cycle.
        _set(header, path, copy.deepcopy(new))
        paths = list(_paths(header))[1:] or paths
    return header


def _blob_poke(data, rng):
    """Writes a NaN, an infinity or a huge float over one float of the data section."""
    if len(data) < 4:
        return data
    at = rng.randrange(0, len(data) - 3) & ~3
    value = struct.pack("<f", rng.choice([math.nan, math.inf, -math.inf, 3.4e38, 0.0]))
    return data[:at] + value + data[at + 4:]


def mutate_structure(data, rng):
    """The input with one header edit; None if it has no decodable header to edit."""
    if len(data) < 1 + PREAMBLE.size or not data[0] & 1:
        return None
    body = data[1:]
    magic, version, flags, header_len = PREAMBLE.unpack_from(body)
    end = PREAMBLE.size + header_len
    if end > len(body):
        return None
    try:
        header = msgpack.unpackb(body[PREAMBLE.size:end], raw=False, strict_map_key=False)
    except Exception:
        return None
    rest = body[-(-end // ALIGN) * ALIGN:]
    if rng.random() < 0.15:
        rest = _blob_poke(rest, rng)
    else:
        header = _mutate_header(header, rng)
    try:
        packed = msgpack.packb(header, use_bin_type=True)
    except Exception:
        return None
    if rng.random() < 0.05:
        version = rng.choice([0, 2, 2**32 - 1])
    head = PREAMBLE.pack(magic, version, flags, len(packed)) + packed
    head += bytes(-len(head) % ALIGN)
    return b"\x01" + head + rest


def mutate(data, max_size, seed):
    """atheris's custom mutator: a header edit half of the time, else libFuzzer's own."""
    import atheris

    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = mutate_structure(data, rng)
        if out is not None and len(out) <= max_size:
            return out
    return atheris.Mutate(data, max_size)
