/*
 * OpenSSL's heap through the project's wiping allocator (src/common/mem.h): every block OpenSSL
 * frees (key schedules, HPKE contexts, DER buffers, BIGNUMs) is wiped first. Must be called before
 * OpenSSL allocates anything (first thing in main); later calls fail and change nothing.
 * Returns EML_OK or EML_E_CRYPTO (OpenSSL already allocated).
 */
#ifndef EML_CRYPTO_MEM_H
#define EML_CRYPTO_MEM_H

int eml_crypto_use_wiping_allocator(void);

#endif
