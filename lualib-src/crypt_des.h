/*
 * crypt_des.h -- single DES (FIPS 46-3) on one 8-byte block, for
 * skynet.crypt's desencode/desdecode.
 *
 * Written here rather than taken from libcrypto: OpenSSL 3 offers single
 * DES through EVP only with the legacy provider, which a system may lack,
 * and the low-level DES_* API is deprecated.  DES is weak (56-bit key);
 * it is kept because upstream's login protocol uses it.
 */
#ifndef CRYPT_DES_H
#define CRYPT_DES_H

#include <stdint.h>

/* The 16 round keys, each as eight 6-bit groups (one per S-box). */
struct des_schedule {
	uint8_t k[16][8];
};

/* Expands an 8-byte key (parity bits ignored). */
void des_schedule_init(struct des_schedule *ks, const uint8_t key[8]);

/* Encrypts (decrypt = 0) or decrypts (decrypt = 1) one block; in and out
 * may be the same buffer. */
void des_block(const struct des_schedule *ks, int decrypt, const uint8_t in[8], uint8_t out[8]);

#endif
