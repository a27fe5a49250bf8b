#include "cli.h"

int eml_cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return eml_cli_usage("eml check: not implemented yet");
}
