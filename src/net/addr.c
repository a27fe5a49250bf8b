#include "net/addr.h"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "common/guard.h"

/* Strict decimal u32: 1..10 digits, no sign, no leading zero unless "0", <= max. */
static int parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return EML_E_NET_ADDR;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EML_E_NET_ADDR;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return EML_E_NET_ADDR;
	*out = (uint32_t)v;
	return EML_OK;
}

static int parse_vsock(const char *s, eml_addr *a)
{
	int rc = EML_OK;
	const char *colon = strchr(s, ':');
	struct sockaddr_vm *vm = (struct sockaddr_vm *)&a->sa;
	EML_ENSURE(colon != NULL, EML_E_NET_ADDR);
	if ((size_t)(colon - s) == 3 && memcmp(s, "any", 3) == 0)
		a->cid = VMADDR_CID_ANY;
	else
		EML_GUARD(parse_u32(s, (size_t)(colon - s), UINT32_MAX - 1, &a->cid));
	/* VMADDR_PORT_ANY (2^32 - 1) is not a port anyone can be reached at. */
	EML_GUARD(parse_u32(colon + 1, strlen(colon + 1), UINT32_MAX - 1, &a->port));
	vm->svm_family = AF_VSOCK;
	vm->svm_cid = a->cid;
	vm->svm_port = a->port;
	a->sa_len = sizeof(*vm);
	a->kind = EML_ADDR_VSOCK;
out:
	return rc;
}

static int parse_tcp(const char *s, eml_addr *a)
{
	int rc = EML_OK;
	char host[EML_ADDR_TEXT_MAX];
	const char *port_s;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		EML_ENSURE(end != NULL && end[1] == ':', EML_E_NET_ADDR);
		hlen = (size_t)(end - s - 1);
		memcpy(host, s + 1, hlen);
		port_s = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		EML_ENSURE(colon != NULL, EML_E_NET_ADDR);
		hlen = (size_t)(colon - s);
		memcpy(host, s, hlen);
		port_s = colon + 1;
		/* An unbracketed IPv6 literal is ambiguous: refuse it. */
		EML_ENSURE(memchr(host, ':', hlen) == NULL, EML_E_NET_ADDR);
	}
	host[hlen] = '\0';
	EML_ENSURE(hlen > 0, EML_E_NET_ADDR);
	EML_GUARD(parse_u32(port_s, strlen(port_s), 65535, &a->port));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = s[0] == '[' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (s[0] == '[')
		hints.ai_flags |= AI_NUMERICHOST;
	EML_ENSURE(getaddrinfo(host, port_s, &hints, &res) == 0 && res != NULL, EML_E_NET_ADDR);
	EML_ENSURE(res->ai_addrlen <= sizeof(a->sa), EML_E_NET_ADDR);
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->sa_len = res->ai_addrlen;
	a->kind = EML_ADDR_TCP;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

static int parse_unix(const char *s, eml_addr *a)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(un->sun_path))
		return EML_E_NET_ADDR;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, s, n);
	if (s[0] == '@') {
		if (n < 2)
			return EML_E_NET_ADDR;
		un->sun_path[0] = '\0'; /* abstract namespace: no NUL terminator counted */
		a->sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		a->sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	a->kind = EML_ADDR_UNIX;
	return EML_OK;
}

int eml_addr_parse(const char *text, eml_addr *out)
{
	int rc = EML_OK;
	eml_addr a;
	memset(&a, 0, sizeof(a));
	EML_ENSURE(text != NULL && strlen(text) < sizeof(a.text), EML_E_NET_ADDR);
	for (const char *p = text; *p != '\0'; p++)
		EML_ENSURE((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, EML_E_NET_ADDR);
	if (strncmp(text, "vsock:", 6) == 0)
		EML_GUARD(parse_vsock(text + 6, &a));
	else if (strncmp(text, "tcp:", 4) == 0)
		EML_GUARD(parse_tcp(text + 4, &a));
	else if (strncmp(text, "unix:", 5) == 0)
		EML_GUARD(parse_unix(text + 5, &a));
	else
		EML_FAIL(EML_E_NET_ADDR);
	strcpy(a.text, text);
	*out = a;
out:
	return rc;
}
