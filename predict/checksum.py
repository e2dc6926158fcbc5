"""SHA-256, computed by the C core (native/src/sha256.c) rather than by ``hashlib``.

Every .pnet model and predictor file carries a SHA-256 checked at load, and the batch runner
names files by theirs. ``hashlib``'s SHA-256 is OpenSSL's, and loading libcrypto costs each
process about 3.6 MB of resident memory, a tenth of what a worker needs to classify a photo
(issue 4: workers run one per core on 1 GB boards); Python's builtin ``_sha256`` avoids it but
is five times slower than OpenSSL. The core's hashes with the CPU's SHA instructions where it
has them (x86 SHA extensions, aarch64 SHA2) and in portable C elsewhere; ``PREDICT_ISA=ref``
forces the portable C. The digests are those of ``hashlib.sha256``; the C calls release the
GIL.

``sha256_tree`` is the .pnet checksum (docs/format.md): a SHA-256 over the SHA-256s of 16 KiB
chunks. The chunks are independent, so CPUs without SHA instructions (Xeons before Ice Lake,
the Raspberry Pi 4, armv7) hash 16, 8 or 4 of them at once in SIMD lanes, several times faster
than one SHA-256 chain could go there.

    >>> sha256(b"abc").hex()[:16]
    'ba7816bf8f01cfea'
    >>> h = Sha256()
    >>> h.update(b"a"); h.update(b"bc")
    >>> h.hexdigest() == sha256(b"abc").hex()
    True
"""

import os

from predict._core import ffi, lib

__all__ = ["DIGEST_SIZE", "TREE_CHUNK", "TREE_TAG", "Sha256", "file_sha256", "implementation",
           "sha256", "sha256_tree", "tree_implementation"]

DIGEST_SIZE = 32
TREE_CHUNK = lib.PD_SHA256_TREE_CHUNK
TREE_TAG = b"PNET-SHA256-T16K"
_FILE_CHUNK = 1 << 20


def sha256(data):
    """The 32-byte SHA-256 digest of a bytes-like object (bytes, memoryview, mmap, contiguous
    numpy array ...), hashed in one call without a copy::

        >>> sha256(b"").hex()[:16]
        'e3b0c44298fc1c14'
    """
    out = ffi.new("unsigned char[32]")
    with ffi.from_buffer(data) as buf:
        lib.pd_sha256(buf, len(buf), out)
    return bytes(out)


def sha256_tree(data):
    """The 32-byte tree checksum of a bytes-like object: the SHA-256 of ``TREE_TAG`` followed by
    the SHA-256 digests of its ``TREE_CHUNK``-byte chunks (the last one shorter), in one call
    without a copy. The same as, with hashlib::

        >>> import hashlib
        >>> data = bytes(range(256)) * 200                  # 51,200 bytes: four chunks
        >>> leaves = b"".join(hashlib.sha256(data[i:i + TREE_CHUNK]).digest()
        ...                   for i in range(0, len(data), TREE_CHUNK))
        >>> sha256_tree(data) == hashlib.sha256(TREE_TAG + leaves).digest()
        True
    """
    out = ffi.new("unsigned char[32]")
    with ffi.from_buffer(data) as buf:
        lib.pd_sha256_tree(buf, len(buf), out)
    return bytes(out)


class Sha256:
    """An incremental SHA-256, for data that comes in parts (a file being written, a stream);
    ``digest()`` and ``hexdigest()`` may be called at any point and hashing may go on::

        >>> h = Sha256(b"ab")
        >>> h.update(memoryview(b"c"))
        >>> h.hexdigest()[:16]
        'ba7816bf8f01cfea'
    """

    digest_size = DIGEST_SIZE

    def __init__(self, data=b""):
        self._state = ffi.new("pd_sha256_state *")
        lib.pd_sha256_init(self._state)
        self.update(data)

    def update(self, data):
        """Adds the bytes of a bytes-like object."""
        with ffi.from_buffer(data) as buf:
            lib.pd_sha256_update(self._state, buf, len(buf))

    def digest(self):
        """The 32-byte digest of everything added so far."""
        state = ffi.new("pd_sha256_state *", self._state[0])
        out = ffi.new("unsigned char[32]")
        lib.pd_sha256_final(state, out)
        return bytes(out)

    def hexdigest(self):
        """The digest as 64 lowercase hex digits."""
        return self.digest().hex()


def file_sha256(path):
    """The SHA-256 of a file's bytes as hex, read in 1 MiB parts::

        >>> file_sha256("pets.predictor")                  # doctest: +SKIP
        'b5d1...'
    """
    digest = Sha256()
    with open(os.fspath(path), "rb") as f:
        for block in iter(lambda: f.read(_FILE_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def implementation():
    """Which implementation hashes now: ``"ref"`` (portable C), ``"shani"`` (x86 SHA
    extensions) or ``"armv8"`` (aarch64 SHA2)::

        >>> implementation() in ("ref", "shani", "armv8")
        True
    """
    return ffi.string(lib.pd_sha256_impl()).decode("ascii")


def tree_implementation():
    """How ``sha256_tree`` hashes now: one chunk at a time with ``implementation()``'s
    ``"ref"``, ``"shani"`` or ``"armv8"``, or in SIMD lanes, ``"avx512x16"``, ``"avx2x8"`` or
    ``"neonx4"`` (chosen where the CPU has no SHA instructions; ``PREDICT_ISA`` caps it)::

        >>> tree_implementation() in ("ref", "shani", "armv8", "avx512x16", "avx2x8", "neonx4")
        True
    """
    return ffi.string(lib.pd_sha256_tree_impl()).decode("ascii")
