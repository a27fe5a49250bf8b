/*
 * Result-code discipline (after s2n's GUARD/ENSURE and SQLite's single rc).
 *
 * A function that can fail declares `int rc = EML_OK;`, uses these macros, and ends with a single
 * `out:` label that frees and wipes on every path before `return rc;`.
 */
#ifndef EML_COMMON_GUARD_H
#define EML_COMMON_GUARD_H

#include "eml/error.h"

/* Evaluate a call returning a result code; on failure keep the code and jump to `out`. */
#define EML_GUARD(expr)                                                                            \
	do {                                                                                       \
		rc = (expr);                                                                       \
		if (rc != EML_OK)                                                                  \
			goto out;                                                                  \
	} while (0)

/* Check a condition; when false set `rc` to `err` and jump to `out`. */
#define EML_ENSURE(cond, err)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			rc = (err);                                                                \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/* Fail with `err` unconditionally. */
#define EML_FAIL(err)                                                                              \
	do {                                                                                       \
		rc = (err);                                                                        \
		goto out;                                                                          \
	} while (0)

#define EML_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
