#include "cli.h"

int eml_cmd_decompose(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return eml_cli_usage("eml decompose: not implemented yet");
}
