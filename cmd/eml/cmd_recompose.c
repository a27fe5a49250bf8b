#include "cli.h"

int eml_cmd_recompose(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return eml_cli_usage("eml recompose: not implemented yet");
}
