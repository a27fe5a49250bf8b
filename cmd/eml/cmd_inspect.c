#include "cli.h"

int eml_cmd_inspect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return eml_cli_usage("eml inspect: not implemented yet");
}
