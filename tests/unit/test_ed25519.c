#include <criterion/criterion.h>
#include <string.h>

#include "common/file.h"
#include "crypto/ed25519.h"
#include "eml/error.h"

struct kat {
	const char *sk, *pk, *msg, *sig;
};

/* RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte). */
static const struct kat kats[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

Test(ed25519, rfc8032_test_vectors_1_and_2)
{
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t sk[32], pk[32], want_pk[32], sig[64], want_sig[64], msg[8];
		size_t mlen = strlen(kats[i].msg) / 2;
		cr_assert_eq(eml_unhex(kats[i].sk, sk, 32), EML_OK);
		cr_assert_eq(eml_unhex(kats[i].pk, want_pk, 32), EML_OK);
		cr_assert_eq(eml_unhex(kats[i].sig, want_sig, 64), EML_OK);
		cr_assert_eq(eml_unhex(kats[i].msg, msg, mlen), EML_OK);
		cr_assert_eq(eml_ed25519_public_key(sk, pk), EML_OK);
		cr_assert(memcmp(pk, want_pk, 32) == 0, "public key of vector %zu", i + 1);
		cr_assert_eq(eml_ed25519_sign(sk, msg, mlen, sig), EML_OK);
		cr_assert(memcmp(sig, want_sig, 64) == 0, "signature of vector %zu", i + 1);
		cr_assert_eq(eml_ed25519_verify(pk, msg, mlen, sig), EML_OK);
		/* Any flipped bit of the signature or message is refused. */
		for (size_t b = 0; b < 64 * 8; b += 7) {
			sig[b / 8] ^= (uint8_t)(1u << (b % 8));
			cr_assert_eq(eml_ed25519_verify(pk, msg, mlen, sig), EML_E_AUTH);
			sig[b / 8] ^= (uint8_t)(1u << (b % 8));
		}
		uint8_t other[1] = {0x73};
		cr_assert_eq(eml_ed25519_verify(pk, other, 1, sig), EML_E_AUTH);
	}
}

Test(ed25519, generated_keys_sign_and_verify)
{
	uint8_t seed[32], pk[32], pk2[32], sig[64];
	const char *m = "audit record";
	cr_assert_eq(eml_ed25519_keypair_generate(seed, pk), EML_OK);
	cr_assert_eq(eml_ed25519_public_key(seed, pk2), EML_OK);
	cr_assert(memcmp(pk, pk2, 32) == 0);
	cr_assert_eq(eml_ed25519_sign(seed, m, strlen(m), sig), EML_OK);
	cr_assert_eq(eml_ed25519_verify(pk, m, strlen(m), sig), EML_OK);
	uint8_t seed2[32], pkb[32];
	cr_assert_eq(eml_ed25519_keypair_generate(seed2, pkb), EML_OK);
	cr_assert(memcmp(pk, pkb, 32) != 0);
	cr_assert_eq(eml_ed25519_verify(pkb, m, strlen(m), sig), EML_E_AUTH);
}
