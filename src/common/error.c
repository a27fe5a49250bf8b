#include "eml/error.h"

const char *eml_err_str(int rc)
{
	switch (rc) {
#define EML_ERR_STR(name, num, msg)                                                                \
	case num:                                                                                  \
		return msg;
		EML_ERROR_TABLE(EML_ERR_STR)
#undef EML_ERR_STR
	}
	return "unknown error";
}

const char *eml_err_name(int rc)
{
	switch (rc) {
#define EML_ERR_NAME(name, num, msg)                                                               \
	case num:                                                                                  \
		return #name;
		EML_ERROR_TABLE(EML_ERR_NAME)
#undef EML_ERR_NAME
	}
	return "UNKNOWN";
}
