/*
 * Whole-file reading with a limit, and atomic writing (temp file in the same folder, fsync,
 * rename, fsync of the folder), so no partial output file is ever visible.
 * Thread-safe.
 */
#ifndef EML_COMMON_FILE_H
#define EML_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read all of `path` (at most max_len bytes, else EML_E_LIMIT) into *out (eml_alloc'd; free
 * with eml_free, which wipes). EML_E_NOT_FOUND, EML_E_PERMISSION or EML_E_IO otherwise. */
int eml_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len);

/* Write data to path atomically with the given mode (e.g. 0600). Replaces an existing file. */
int eml_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same, with the caller's mapping of a failed call's errno to a result code (a short write
 * is reported as ENOSPC): the host's store tells a full disk apart. */
int eml_file_write_atomic_map(const char *path, const void *data, size_t len, mode_t mode,
                              int (*errno_rc)(int));

/* Fill buf with n bytes from the kernel's CSPRNG (getrandom). EML_E_RANDOM on failure. */
int eml_random_bytes(void *buf, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void eml_hex(const uint8_t *in, size_t n, char *out);
/* Parse exactly n bytes of hex (upper or lower case); EML_E_MALFORMED otherwise. */
int eml_unhex(const char *hex, uint8_t *out, size_t n);

#endif
