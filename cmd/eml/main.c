/*
 * eml — the single EphemeralML binary: a table of subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"
#include "eml/error.h"

struct eml_cmd {
	const char *name;
	eml_cmd_fn fn;
	const char *summary;
};

/* Keep in the order of the pipeline; README.md lists the same table. */
static const struct eml_cmd commands[] = {
    {"check", eml_cmd_check, "check that every operator of an ONNX model is supported"},
    {"decompose", eml_cmd_decompose, "split an ONNX model into a topology key and a weight blob"},
    {"recompose", eml_cmd_recompose, "rebuild an ONNX model from a topology key and its blob"},
    {"inspect", eml_cmd_inspect, "describe a topology key or a weight blob"},
    {"run", eml_cmd_run, "run one inference locally (ONNX file, or topology key + blob)"},
    {"policy", eml_cmd_policy, "create an attestation policy (PCRs, root, freshness)"},
    {"attest", eml_cmd_attest, "verify an attestation document against a policy"},
    {"upload", eml_cmd_upload, "upload a weight blob to the host's store"},
    {"seal", eml_cmd_seal, "seal a topology key for an enclave identity with KMS"},
    {"kms", eml_cmd_kms, "run the local KMS service (development) or create a KMS key"},
    {"store", eml_cmd_store, "list or remove weight blobs in the host's store"},
    {"infer", eml_cmd_infer, "run one inference on an attested enclave through the host"},
    {"enclave", eml_cmd_enclave,
     "run the enclave: attestation, sessions, inference (--nsm sim to simulate)"},
    {"host", eml_cmd_host, "run the untrusted host: proxy, weight store, audit sink"},
    {"audit", eml_cmd_audit, "verify audit logs offline (signatures, chain, attestation)"},
    {"receipt", eml_cmd_receipt, "verify an inference receipt offline (and its input/output)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: eml <command> [options]   (eml <command> --help for details)\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EML_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EML_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			eml_log_set_tag("eml");
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "eml: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EML_EXIT_USAGE;
}
