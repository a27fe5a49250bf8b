/*
 * Shared pieces of the `eml` command-line tool. Exit-on-error lives only in cmd/eml/.
 *
 * Exit codes (documented in README.md):
 *   0 success; 1 error; 2 usage error; 3 unsupported operators (eml check / decompose);
 *   4 refused by a security check (attestation, policy, integrity, authentication);
 *   5 the service is busy or unreachable.
 */
#ifndef EML_CMD_CLI_H
#define EML_CMD_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

enum {
	EML_EXIT_OK = 0,
	EML_EXIT_ERROR = 1,
	EML_EXIT_USAGE = 2,
	EML_EXIT_UNSUPPORTED = 3,
	EML_EXIT_REFUSED = 4,
	EML_EXIT_UNAVAILABLE = 5,
};

typedef int (*eml_cmd_fn)(int argc, char **argv);

/* Print "eml <what>: <fixed message for rc> (<NAME>)" to stderr; returns the exit code for rc. */
int eml_cli_fail(const char *what, int rc);
/* Print a usage error and return EML_EXIT_USAGE. */
int eml_cli_usage(const char *usage);
/* Map a result code to an exit code. */
int eml_cli_exit_code(int rc);
/* Daemons: SIGINT/SIGTERM set eml_cli_stop (the service loop polls it); SIGPIPE is ignored. */
extern volatile sig_atomic_t eml_cli_stop;
void eml_cli_trap_stop_signals(void);
/* Parse a decimal unsigned integer (the whole string); 0 on success, -1 otherwise. */
int eml_cli_parse_u64(const char *s, uint64_t *v);
/* Print a JSON string literal (with quotes and escapes) to f. */
void eml_cli_json_str(FILE *f, const char *s);

struct eml_client_attestation;
/* Print the verified claims of an attested enclave (human or JSON object). */
void eml_cli_print_attestation(FILE *f, const struct eml_client_attestation *a, int json);

/* Subcommands (one file each: cmd_<name>.c). */
int eml_cmd_check(int argc, char **argv);
int eml_cmd_decompose(int argc, char **argv);
int eml_cmd_recompose(int argc, char **argv);
int eml_cmd_inspect(int argc, char **argv);
int eml_cmd_run(int argc, char **argv);
int eml_cmd_attest(int argc, char **argv);
int eml_cmd_policy(int argc, char **argv);
int eml_cmd_host(int argc, char **argv);
int eml_cmd_enclave(int argc, char **argv);
int eml_cmd_infer(int argc, char **argv);
/* eml attest --host ...: attest an enclave through the host (cmd_infer.c). */
int eml_cmd_attest_remote(int argc, char **argv);
int eml_cmd_upload(int argc, char **argv);
int eml_cmd_store(int argc, char **argv);
int eml_cmd_seal(int argc, char **argv);
int eml_cmd_kms(int argc, char **argv);

/* The AWS credentials of the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional
 * AWS_SESSION_TOKEN) for the KMS commands: 0, or EML_EXIT_USAGE after saying what is missing. */
int eml_cli_aws_env(const char *cmd, const char **access_key, const char **secret_key,
                    const char **session_token);
int eml_cmd_audit(int argc, char **argv);
int eml_cmd_receipt(int argc, char **argv);

#endif
