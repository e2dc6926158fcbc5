"""Reading and writing .pnet files (docs/format.md): one preamble, one msgpack header, 64-byte
aligned blobs, one checksum (the SHA-256 tree of ``predict.checksum.sha256_tree``; files from
before it have a plain SHA-256, and a flag says which).

Reading maps the file and hands out the weights as read-only numpy views into the mapping, so a
model costs no copy and no parse time beyond its header. Nothing a file says is trusted: the
preamble, the checksum, every header field (``predict.graph.validate``) and then every weight
(no NaN or infinity) are checked before any array is handed out, and every refusal is a
``ModelFormatError`` naming the file and the field. Writing is atomic: a reader never sees
half a file.

Example::

    >>> sha = write_pnet("tiny.pnet", header, arrays)              # doctest: +SKIP
    >>> with read_pnet("tiny.pnet") as model:                      # doctest: +SKIP
    ...     model.arrays[0].shape, model.sha256 == sha
    ((8, 3, 3, 3), True)
"""
from __future__ import annotations

import math
import mmap
import os
import stat
import struct

import msgpack
import numpy as np

from predict import checksum
from predict.errors import ModelFormatError
from predict.graph import ALIGN, DTYPES, FORMAT_NAME, VERSION, Limits, blob_spans, validate
from predict.quant_values import first_bad_value

__all__ = ["MAGIC", "VERSION", "ALIGN", "PREAMBLE", "CHECKSUM_SIZE", "FLAG_TREE_CHECKSUM",
           "DTYPES", "Limits", "ModelFile", "read_pnet", "write_pnet"]

MAGIC = b"\x89PNET\r\n\x1a"
# magic, version, flags, header_len: everything a reader needs before it trusts anything else.
PREAMBLE = struct.Struct("<8sIIQ")
CHECKSUM_SIZE = 32
# The checksum is checksum.sha256_tree's, which CPUs without SHA instructions hash in SIMD
# lanes, rather than one SHA-256 (a chain no CPU hashes faster than its rounds run): on an
# AVX-512 Xeon without SHA-NI, 8 ms instead of 88 for a 13 MB float32 MobileNetV2. Every file
# predict writes sets it; files written before it have flags 0 and a plain SHA-256.
FLAG_TREE_CHECKSUM = 1
_MIN_SIZE = PREAMBLE.size + CHECKSUM_SIZE
_FINITE_CHUNK = 2**20       # elements per isfinite() pass: bounds the temporary mask
_ZEROS_CHUNK = 2**20        # bytes per pass of _check_zeros: bounds the temporary copy


def _align(n):
    return -(-n // ALIGN) * ALIGN


class ModelFile:
    """An open .pnet file: its validated header and its blobs as read-only views of the mapping.

    ``header`` is the whole header (with ``format``, ``version`` and ``blobs``); ``arrays[i]`` is
    blob i, shaped and typed; ``sha256`` is the file's checksum as hex (of everything but its
    last 32 bytes, which hold it: the tree checksum, or for an older file a plain SHA-256);
    ``size`` is the file's length in bytes.

    ``close()`` drops the arrays and unmaps the file. If the caller still holds one of the
    arrays, unmapping now would leave it pointing at nothing, so the mapping is instead released
    when the last such array is garbage-collected; close() then returns False. Use it as a
    context manager::

        >>> with read_pnet("model.pnet") as model:                 # doctest: +SKIP
        ...     weights = model.arrays[0].copy()
    """

    def __init__(self, header, arrays, sha256, path, size, data_start, mapping):
        self.header = header
        self.arrays = arrays
        self.sha256 = sha256
        self.path = path
        self.size = size
        self.data_start = data_start
        self._mapping = mapping

    @property
    def closed(self):
        """True once close() has been called."""
        return self._mapping is None

    def close(self):
        """Drops the arrays and unmaps the file; idempotent.

        Returns True if the file is unmapped now, False if an array the caller still holds keeps
        the mapping alive (it is unmapped with the last such array)::

            >>> model = read_pnet("model.pnet")                    # doctest: +SKIP
            >>> model.close()                                      # doctest: +SKIP
            True
        """
        self.arrays = []
        mapping, self._mapping = self._mapping, None
        return _release(mapping)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self.arrays)} blobs"
        return f"<ModelFile {self.path!r} {self.size} bytes, {state}>"


def _release(mapping):
    """Closes a mapping if no buffer still points into it; otherwise leaves that to the GC."""
    if mapping is None:
        return True
    try:
        mapping.close()
    except BufferError:
        return False
    return True


def read_pnet(path, limits=None):
    """Maps and checks a .pnet file; returns a ModelFile. Raises ModelFormatError.

    ``limits`` (a ``Limits``) bounds the file, header and tensor sizes; the defaults accept any
    reasonable convnet::

        >>> model = read_pnet("mobilenet_v2.pnet")                 # doctest: +SKIP
        >>> model.header["layers"][0]["op"], model.arrays[0].flags.writeable  # doctest: +SKIP
        ('conv', False)
    """
    limits = Limits() if limits is None else limits
    path = os.fspath(path)
    try:
        file = open(path, "rb")
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot open: {e.strerror or e}") from e
    with file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelFormatError(f"{path}: not a regular file")
        _check_size(path, info.st_size, limits)
        try:
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise ModelFormatError(f"{path}: cannot map: {e}") from e
    try:
        # The file may have changed size since fstat; the mapping is what we read.
        _check_size(path, len(mapping), limits)
        return _parse(mapping, path, limits)
    except BaseException:
        _release(mapping)
        raise


def _check_size(path, size, limits):
    if size < _MIN_SIZE:
        raise ModelFormatError(f"{path}: {size} bytes is too small for a .pnet file "
                               f"(at least {_MIN_SIZE})")
    if size > limits.max_file_bytes:
        raise ModelFormatError(f"{path}: {size} bytes is more than the limit of "
                               f"{limits.max_file_bytes} bytes (Limits.max_file_bytes)")


def _parse(mapping, path, limits):
    size = len(mapping)
    checksum_at = size - CHECKSUM_SIZE
    magic, version, flags, header_len = PREAMBLE.unpack_from(mapping, 0)
    if magic != MAGIC:
        raise ModelFormatError(f"{path}: not a .pnet file (starts with {magic!r})")
    if version != VERSION:
        raise ModelFormatError(f"{path}: format version {version} is not supported "
                               f"(this reader knows version {VERSION})")
    if flags & ~FLAG_TREE_CHECKSUM:
        raise ModelFormatError(f"{path}: flags 0x{flags:08x} are not supported (this reader "
                               f"knows 0x{FLAG_TREE_CHECKSUM:08x}, the tree checksum)")
    if header_len > limits.max_header_bytes:
        raise ModelFormatError(f"{path}: header_len {header_len} is more than the limit of "
                               f"{limits.max_header_bytes} bytes (Limits.max_header_bytes)")
    header_end = PREAMBLE.size + header_len
    if header_end > checksum_at:
        raise ModelFormatError(f"{path}: header_len {header_len} passes the end of the file "
                               f"({size} bytes, checksum at {checksum_at})")
    sha256 = _verify_checksum(mapping, path, checksum_at, flags & FLAG_TREE_CHECKSUM)
    data_start = _align(header_end)
    if data_start > checksum_at:
        raise ModelFormatError(f"{path}: the padding after the header runs to {data_start}, "
                               f"past the checksum at {checksum_at}")
    _check_zeros(mapping, path, header_end, data_start, "the padding after the header")
    header = _unpack_header(mapping, path, header_len)
    data_size = checksum_at - data_start
    try:
        validate(header, data_size=data_size, limits=limits)
    except ModelFormatError as e:
        raise ModelFormatError(f"{path}: {e}") from e
    position = 0
    for start, stop in blob_spans(header) + [(data_size, data_size)]:
        _check_zeros(mapping, path, data_start + position, data_start + start,
                     "the data section between blobs")
        position = stop
    bad = _first_non_finite(mapping, data_start, header["blobs"])
    if bad is not None:
        blob, element, value = bad
        raise ModelFormatError(f"{path}: blob {blob} ({_blob_user(header, blob)}): element "
                               f"{element} is {value}; weights must be finite")
    arrays = [
        np.frombuffer(mapping, dtype=DTYPES[blob["dtype"]], count=math.prod(blob["shape"]),
                      offset=data_start + blob["offset"]).reshape(blob["shape"])
        for blob in header["blobs"]
    ]
    bad = first_bad_value(header, arrays)
    if bad is not None:
        del arrays      # no view may outlive a refused file: the caller unmaps it
        raise ModelFormatError(f"{path}: {bad}")
    return ModelFile(header, arrays, sha256, path, size, data_start, mapping)


def _first_non_finite(mapping, data_start, blobs):
    """(blob index, flat element index, value) of the first NaN or infinity in the float blobs,
    or None. A NaN weight poisons every output it reaches, and no trained convnet holds one: it
    is corruption or a forgery, refused like any other. The views made here are gone when this
    returns, so a refusal can still unmap the file."""
    for index, blob in enumerate(blobs):
        dtype = DTYPES[blob["dtype"]]
        if dtype.kind != "f":
            continue
        count = blob["nbytes"] // dtype.itemsize
        for start in range(0, count, _FINITE_CHUNK):
            view = np.frombuffer(mapping, dtype, min(_FINITE_CHUNK, count - start),
                                 data_start + blob["offset"] + start * dtype.itemsize)
            finite = np.isfinite(view)
            if not finite.all():
                at = int(np.argmin(finite))
                return index, start + at, float(view[at])
    return None


def _blob_user(header, blob):
    """What reads a blob, for a message: "layer 3 'conv1' weight", "tensor 5 'c'" or "unused"."""
    for t, tensor in enumerate(header["tensors"]):
        if tensor["blob"] == blob:
            return f"tensor {t} {tensor['name']!r}"
    for i, layer in enumerate(header["layers"]):
        for key in ("weight", "bias"):
            if layer.get(key) == blob and not isinstance(layer.get(key), bool):
                return f"layer {i} {layer['name']!r} {key}"
    return "unused"


def _verify_checksum(mapping, path, checksum_at, tree):
    # One call over the mapping, no copy; the views are released before a refusal unmaps it.
    with memoryview(mapping) as whole, whole[:checksum_at] as body:
        computed = checksum.sha256_tree(body) if tree else checksum.sha256(body)
    stored = mapping[checksum_at:checksum_at + CHECKSUM_SIZE]
    if computed != stored:
        raise ModelFormatError(f"{path}: checksum mismatch, the file is corrupt or was modified "
                               f"(stored {stored.hex()[:16]}..., computed "
                               f"{computed.hex()[:16]}...)")
    return stored.hex()


def _check_zeros(mapping, path, start, stop, what):
    # Bytes' own count() rather than numpy: one numpy loop fewer paged in by a process that
    # only loads and classifies (the gaps are alignment padding; chunks bound a forged one).
    for at in range(start, stop, _ZEROS_CHUNK):
        chunk = mapping[at:min(stop, at + _ZEROS_CHUNK)]
        if chunk.count(0) != len(chunk):
            raise ModelFormatError(f"{path}: {what} [{start}, {stop}) holds nonzero bytes")


def _refuse_ext(code, data):
    raise ValueError(f"msgpack extension type {code} is not allowed")


def _unpack_header(mapping, path, header_len):
    view = memoryview(mapping)[PREAMBLE.size:PREAMBLE.size + header_len]
    try:
        # Every length in the header is bounded by the header itself, so a forged length
        # cannot make the decoder allocate more than the file holds.
        return msgpack.unpackb(
            view, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext,
            max_str_len=header_len, max_bin_len=header_len, max_array_len=header_len,
            max_map_len=header_len // 2, max_ext_len=0)
    except Exception as e:  # the decoder's whole family: ExtraData, FormatError, ValueError...
        raise ModelFormatError(f"{path}: the header is not one valid msgpack map "
                               f"({type(e).__name__}: {e})") from e
    finally:
        view.release()


def write_pnet(path, header, arrays, limits=None):
    """Writes a .pnet file atomically and returns its checksum (hex, as ModelFile.sha256).

    ``header`` is the header of docs/format.md without ``blobs`` (``format`` and ``version`` may
    be left out too); blob i is ``arrays[i]``, a float32 array of any byte order and layout (it
    is written C-contiguous little-endian, and must hold no NaN or infinity). The header is
    validated first, so a file this writes is one ``read_pnet`` accepts; raises
    ModelFormatError if not. ``limits`` defaults to the
    reader's defaults::

        >>> sha = write_pnet("tiny.pnet", header, [weight, bias])  # doctest: +SKIP
    """
    limits = Limits() if limits is None else limits
    if not isinstance(header, dict):
        raise ModelFormatError(f"header: must be a dict, not {type(header).__name__}")
    if "blobs" in header:
        raise ModelFormatError("header: has 'blobs'; write_pnet makes the blob table from arrays")
    data = [_blob_array(i, a) for i, a in enumerate(arrays)]
    for i, (_, array) in enumerate(data):
        finite = np.isfinite(array)
        if not finite.all():
            at = int(np.argmin(finite.reshape(-1)))
            raise ModelFormatError(f"arrays[{i}]: element {at} is {float(array.reshape(-1)[at])}; "
                                   f"weights must be finite")
    blobs, data_size = [], 0
    for name, array in data:
        offset = _align(data_size)
        blobs.append({"offset": offset, "nbytes": array.nbytes, "dtype": name,
                      "shape": list(array.shape)})
        data_size = offset + array.nbytes
    full = {"format": FORMAT_NAME, "version": VERSION}
    full.update(header)
    full["blobs"] = blobs
    validate(full, data_size=data_size, limits=limits)
    bad = first_bad_value(full, [array for _, array in data])
    if bad is not None:
        raise ModelFormatError(bad)
    packed = msgpack.packb(full, use_bin_type=True)
    if len(packed) > limits.max_header_bytes:
        raise ModelFormatError(f"header: {len(packed)} bytes packed, more than the limit of "
                               f"{limits.max_header_bytes} bytes")
    data_start = _align(PREAMBLE.size + len(packed))
    size = data_start + data_size + CHECKSUM_SIZE
    if size > limits.max_file_bytes:
        raise ModelFormatError(f"the file would be {size} bytes, more than the limit of "
                               f"{limits.max_file_bytes} bytes")

    def chunks():
        yield PREAMBLE.pack(MAGIC, VERSION, FLAG_TREE_CHECKSUM, len(packed))
        yield packed
        yield bytes(data_start - PREAMBLE.size - len(packed))
        position = 0
        for blob, (_, array) in zip(blobs, data):
            yield bytes(blob["offset"] - position)
            yield memoryview(array).cast("B")
            position = blob["offset"] + blob["nbytes"]

    return _write_atomically(os.fspath(path), chunks())


def _blob_array(index, array):
    """(dtype name, C-contiguous little-endian copy-if-needed) of one array to store."""
    if not isinstance(array, np.ndarray):
        raise ModelFormatError(f"arrays[{index}]: must be a numpy array, not "
                               f"{type(array).__name__}")
    for name, dtype in DTYPES.items():
        if array.dtype.newbyteorder("<") == dtype:
            # astype, not ascontiguousarray, which would turn a 0-d array into shape (1,).
            return name, array.astype(dtype, order="C", copy=False)
    raise ModelFormatError(f"arrays[{index}]: dtype {array.dtype} cannot be stored "
                           f"(supported: {', '.join(DTYPES)})")


def _write_atomically(path, chunks):
    """Writes the chunks and their tree checksum to a temporary file beside `path`, then renames
    it; returns the checksum as hex."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    # 0o666 and O_EXCL: the umask decides the mode as for any new file, and nothing is clobbered.
    # Read and write: the checksum is computed from a read-only mapping of the file.
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            # Hashed from a mapping of what was written: one call, no copy (the preamble makes
            # the file non-empty, which mmap needs).
            with mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ) as written:
                digest = checksum.sha256_tree(written)
            out.write(digest)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _sync_directory(directory)
    return digest.hex()


def _sync_directory(directory):
    """Makes the rename durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
