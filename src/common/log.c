#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int log_level = -1;
static const char *log_tag = "eml";

static int level_from_env(void)
{
	const char *e = getenv("EML_LOG");
	if (e == NULL)
		return EML_LOG_WARN;
	if (strcmp(e, "error") == 0)
		return EML_LOG_ERROR;
	if (strcmp(e, "info") == 0)
		return EML_LOG_INFO;
	if (strcmp(e, "debug") == 0)
		return EML_LOG_DEBUG;
	return EML_LOG_WARN;
}

void eml_log_set_level(int level)
{
	log_level = level;
}

void eml_log_set_tag(const char *tag)
{
	log_tag = tag;
}

void eml_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	if (log_level < 0)
		log_level = level_from_env();
	if (level > log_level || level < 0 || level > EML_LOG_DEBUG)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: %s: ", log_tag, names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = strlen(line);
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
