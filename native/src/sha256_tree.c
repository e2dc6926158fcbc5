/* sha256_tree.c: the .pnet tree checksum (predict.h pd_sha256_tree).
 *
 * The root is one SHA-256 stream over the tag and the chunk digests, in chunk
 * order.  Whole chunks go to the lane kernel (kernels/sha256.h) a group of
 * `lanes` adjacent chunks at a time: the 256 data blocks of each, then the one
 * padding block that every 16 KiB message ends with (the same for all lanes:
 * stride 0).  The whole chunks left over after the last full group are
 * hashed by one more group that ends at the last whole chunk, overlapping the
 * previous one, its first lanes' digests dropped: one group's work instead of
 * up to lanes - 1 chunks hashed serially.  Short data (fewer whole chunks than
 * lanes) and the last, partial chunk go one at a time through pd_sha256. */
#include <string.h>

#include "core.h"
#include "kernels/sha256.h"

#define CHUNK PD_SHA256_TREE_CHUNK

static const unsigned char tag[16] = {'P', 'N', 'E', 'T', '-', 'S', 'H', 'A',
                                      '2', '5', '6', '-', 'T', '1', '6', 'K'};

/* The final block of a CHUNK-byte message (FIPS 180-4, 5.1.1): 0x80, zeros,
 * the length in bits (2^17) as a 64-bit big-endian number. */
static const unsigned char chunk_padding[64] = {
    [0] = 0x80, [61] = (unsigned char)((CHUNK * 8) >> 16), [62] = (unsigned char)((CHUNK * 8) >> 8),
    [63] = (unsigned char)(CHUNK * 8)};

_Static_assert(CHUNK % 64 == 0 && (size_t)CHUNK * 8 < (1u << 24), "chunk_padding assumes this");
_Static_assert((size_t)CHUNK * PD_SHA256_MAX_LANES < ((size_t)1 << 31), "lane offsets are int32");

/* Hashes chunks first .. first + lanes - 1 (all whole) with kernel k and
 * adds the digests of lanes skip .. lanes - 1 to the root. */
static void lane_group(const pd_sha256_lanes_kernel *k, const unsigned char *first, size_t skip,
                       pd_sha256_state *root)
{
    const size_t lanes = k->lanes;
    uint32_t h[8 * PD_SHA256_MAX_LANES];
    for (size_t j = 0; j < 8; j++)
        for (size_t l = 0; l < lanes; l++)
            h[j * lanes + l] = pd_sha256_h0[j];
    k->blocks(h, first, CHUNK, CHUNK / 64);
    k->blocks(h, chunk_padding, 0, 1);
    unsigned char digests[32 * PD_SHA256_MAX_LANES];
    for (size_t l = skip; l < lanes; l++)
        for (size_t j = 0; j < 8; j++) {
            const uint32_t w = h[j * lanes + l];
            unsigned char *d = digests + 32 * (l - skip) + 4 * j;
            d[0] = (unsigned char)(w >> 24);
            d[1] = (unsigned char)(w >> 16);
            d[2] = (unsigned char)(w >> 8);
            d[3] = (unsigned char)w;
        }
    pd_sha256_update(root, digests, 32 * (lanes - skip));
}

void pd_sha256_tree(const void *data, size_t n, unsigned char digest[32])
{
    const unsigned char *p = data;
    const size_t chunks = n / CHUNK + (n % CHUNK != 0);
    const size_t whole = n / CHUNK;
    pd_sha256_state root;
    pd_sha256_init(&root);
    pd_sha256_update(&root, tag, sizeof tag);
    size_t i = 0;
    const pd_sha256_lanes_kernel *k = pd_sha256_lanes_select();
    if (k != NULL && whole >= k->lanes) {
        for (; i + k->lanes <= whole; i += k->lanes)
            lane_group(k, p + i * CHUNK, 0, &root);
        if (i < whole) {
            lane_group(k, p + (whole - k->lanes) * CHUNK, k->lanes - (whole - i), &root);
            i = whole;
        }
    }
    for (; i < chunks; i++) {
        const size_t len = i < whole ? CHUNK : n - whole * CHUNK;
        unsigned char leaf[32];
        pd_sha256(p + i * CHUNK, len, leaf);
        pd_sha256_update(&root, leaf, sizeof leaf);
    }
    pd_sha256_final(&root, digest);
}

const char *pd_sha256_tree_impl(void)
{
    const pd_sha256_lanes_kernel *k = pd_sha256_lanes_select();
    return k == NULL ? pd_sha256_impl() : k->impl;
}
