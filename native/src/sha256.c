/* sha256.c: SHA-256 of a buffer or a stream (predict.h), FIPS 180-4.
 *
 * This part is the same for every implementation: the initial hash value
 * (5.3.3), buffering a stream into 64-byte blocks, the padding (5.1.1: a 1
 * bit, zeros, the message length in bits as a 64-bit big-endian number) and
 * the big-endian digest.  Whole blocks go to the compression function that
 * kernels/select_sha256.c picks; blocks that sit whole in the caller's buffer
 * are hashed in place, without a copy. */
#include <string.h>

#include "core.h"
#include "kernels/sha256.h"

const uint32_t pd_sha256_h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

void pd_sha256_init(pd_sha256_state *s)
{
    memcpy(s->h, pd_sha256_h0, sizeof pd_sha256_h0);
    s->length = 0;
    memset(s->pending, 0, sizeof s->pending);
}

void pd_sha256_update(pd_sha256_state *s, const void *data, size_t n)
{
    if (n == 0)
        return;
    const pd_sha256_blocks_fn blocks = pd_sha256_select()->blocks;
    const unsigned char *p = data;
    size_t have = (size_t)(s->length % 64);
    s->length += n;
    if (have > 0) {
        const size_t take = n < 64 - have ? n : 64 - have;
        memcpy(s->pending + have, p, take);
        p += take;
        n -= take;
        if (have + take < 64)
            return;
        blocks(s->h, s->pending, 1);
    }
    if (n >= 64) {
        blocks(s->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    if (n > 0)
        memcpy(s->pending, p, n);
}

void pd_sha256_final(pd_sha256_state *s, unsigned char digest[32])
{
    const uint64_t bits = s->length * 8;
    const size_t have = (size_t)(s->length % 64);
    unsigned char tail[128] = {0};
    memcpy(tail, s->pending, have);
    tail[have] = 0x80;
    /* The length takes the last 8 bytes of the final block: one block if they
     * fit after the 0x80, two otherwise. */
    const size_t size = have < 56 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[size - 1 - i] = (unsigned char)(bits >> (8 * i));
    pd_sha256_select()->blocks(s->h, tail, size / 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->h[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        digest[4 * i + 3] = (unsigned char)s->h[i];
    }
    memset(s, 0, sizeof *s);
}

void pd_sha256(const void *data, size_t n, unsigned char digest[32])
{
    pd_sha256_state s;
    pd_sha256_init(&s);
    pd_sha256_update(&s, data, n);
    pd_sha256_final(&s, digest);
}
