#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "eml/error.h"

/* FIPS 180-2 example "abc". */
Test(crypto, sha256_and_sha384_known_answers)
{
	uint8_t d[48];
	char hex[97];
	cr_assert_eq(eml_sha256("abc", 3, d), EML_OK);
	eml_hex(d, 32, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cr_assert_eq(eml_sha384("abc", 3, d), EML_OK);
	eml_hex(d, 48, hex);
	cr_assert_str_eq(hex, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
	                      "8086072ba1e7cc2358baeca134c825a7");
	eml_hash *h;
	cr_assert_eq(eml_hash_new(EML_HASH_SHA256, &h), EML_OK);
	eml_hash_update(h, "a", 1);
	eml_hash_update(h, "bc", 2);
	cr_assert_eq(eml_hash_final(h, d), EML_OK);
	eml_hex(d, 32, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* RFC 4231 test case 2. */
Test(crypto, hmac_sha256_rfc4231)
{
	uint8_t d[32];
	char hex[65];
	const char *data = "what do ya want for nothing?";
	cr_assert_eq(eml_hmac_sha256((const uint8_t *)"Jefe", 4, data, strlen(data), d), EML_OK);
	eml_hex(d, 32, hex);
	cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* NIST GCM test vector (McGrew & Viega test case 16: AES-256, 60-byte plaintext, AAD). */
Test(crypto, aes256gcm_known_answer_and_tamper)
{
	uint8_t key[32], iv[12], pt[60], aad[20], out[76], back[60];
	eml_unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, 32);
	eml_unhex("cafebabefacedbaddecaf888", iv, 12);
	eml_unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c9595680953"
	          "2fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	          pt, 60);
	eml_unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, 20);
	cr_assert_eq(eml_aead_seal(key, iv, aad, 20, pt, 60, out), EML_OK);
	char hex[153];
	eml_hex(out, 76, hex);
	cr_assert_str_eq(hex, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb0"
	                      "8e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
	                      "76fc6ece0f4e1768cddf8853bb2d551b");
	cr_assert_eq(eml_aead_open(key, iv, aad, 20, out, 76, back), EML_OK);
	cr_assert(memcmp(back, pt, 60) == 0);
	for (size_t i = 0; i < 76; i++) {
		out[i] ^= 0x01;
		cr_assert_eq(eml_aead_open(key, iv, aad, 20, out, 76, back), EML_E_AUTH);
		out[i] ^= 0x01;
	}
	aad[0] ^= 1;
	cr_assert_eq(eml_aead_open(key, iv, aad, 20, out, 76, back), EML_E_AUTH);
	aad[0] ^= 1;
	eml_aead *a;
	cr_assert_eq(eml_aead_new(key, &a), EML_OK);
	cr_assert_eq(eml_aead_ctx_open(a, iv, aad, 20, out, 76, back), EML_OK);
	cr_assert(memcmp(back, pt, 60) == 0);
	uint8_t again[76];
	cr_assert_eq(eml_aead_ctx_seal(a, iv, aad, 20, pt, 60, again), EML_OK);
	cr_assert(memcmp(again, out, 76) == 0);
	/* The verified-ciphertext decryption (no tag check) is GCM's keystream: the vector's
	 * plaintext again. */
	memset(back, 0, sizeof(back));
	cr_assert_eq(eml_aead_ctx_decrypt_verified(a, iv, out, 76, back), EML_OK);
	cr_assert(memcmp(back, pt, 60) == 0);
	cr_assert_eq(eml_aead_ctx_decrypt_verified(a, iv, out, 15, back), EML_E_AUTH);
	eml_aead_free(a);
}

/* eml_aead_ctx_decrypt_verified gives what eml_aead_ctx_open gives, at every length around the
 * 16-byte block and across many blocks, in place and not, with the context reused. */
Test(crypto, aes256gcm_verified_decrypt_is_the_gcm_keystream)
{
	uint8_t key[32], iv[12];
	size_t cap = 70000;
	uint8_t *pt = malloc(cap), *ct = malloc(cap + 16), *a1 = malloc(cap), *a2 = malloc(cap);
	for (size_t i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < cap; i++)
		pt[i] = (uint8_t)(i * 131 + (i >> 8));
	eml_aead *a;
	cr_assert_eq(eml_aead_new(key, &a), EML_OK);
	size_t lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 255, 4096, 4097, 65536, 70000};
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t n = lens[li];
		for (size_t i = 0; i < 12; i++)
			iv[i] = (uint8_t)(li * 13 + i);
		cr_assert_eq(eml_aead_ctx_seal(a, iv, "ad", 2, pt, n, ct), EML_OK);
		cr_assert_eq(eml_aead_ctx_open(a, iv, "ad", 2, ct, n + 16, a1), EML_OK);
		cr_assert_eq(eml_aead_ctx_decrypt_verified(a, iv, ct, n + 16, a2), EML_OK);
		cr_assert(memcmp(a1, pt, n) == 0 && memcmp(a2, pt, n) == 0, "length %zu", n);
		/* in place */
		cr_assert_eq(eml_aead_ctx_decrypt_verified(a, iv, ct, n + 16, ct), EML_OK);
		cr_assert(memcmp(ct, pt, n) == 0, "in place, length %zu", n);
	}
	eml_aead_free(a);
	free(pt);
	free(ct);
	free(a1);
	free(a2);
}
