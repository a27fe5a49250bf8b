/*
 * Diagnostics to stderr. Messages are fixed texts plus error codes, counts and sizes of
 * files: never topology, internal shapes, weights, inputs or outputs (Property 12).
 * Level from EML_LOG (error|warn|info|debug), default warn. Thread-safe (one write per line).
 */
#ifndef EML_COMMON_LOG_H
#define EML_COMMON_LOG_H

enum eml_log_level { EML_LOG_ERROR = 0, EML_LOG_WARN = 1, EML_LOG_INFO = 2, EML_LOG_DEBUG = 3 };

void eml_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void eml_log_set_level(int level);
/* Prefix for every line, e.g. "eml enclave". Not copied: pass a string literal. */
void eml_log_set_tag(const char *tag);

#define eml_log_error(...) eml_log(EML_LOG_ERROR, __VA_ARGS__)
#define eml_log_warn(...) eml_log(EML_LOG_WARN, __VA_ARGS__)
#define eml_log_info(...) eml_log(EML_LOG_INFO, __VA_ARGS__)
#define eml_log_debug(...) eml_log(EML_LOG_DEBUG, __VA_ARGS__)

#endif
