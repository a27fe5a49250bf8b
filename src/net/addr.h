/*
 * Transport addresses (docs/PROTOCOL.md §1):
 *   vsock:CID:PORT   AF_VSOCK; CID and PORT decimal u32, or CID "any" (VMADDR_CID_ANY, listen only)
 *   tcp:HOST:PORT    AF_INET/AF_INET6; HOST an IPv4 literal, [IPv6] literal or a name (resolved
 *                    once, at parse time); PORT decimal 0..65535 (0: any free port, listen only)
 *   unix:PATH        AF_UNIX; PATH shorter than sun_path; "unix:@NAME" is the abstract namespace
 * Parsing is strict (no signs, spaces, or excess digits). Thread-safe.
 */
#ifndef EML_NET_ADDR_H
#define EML_NET_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum eml_addr_kind { EML_ADDR_VSOCK = 1, EML_ADDR_TCP = 2, EML_ADDR_UNIX = 3 };

#define EML_ADDR_TEXT_MAX 256

typedef struct eml_addr {
	int kind;
	struct sockaddr_storage sa; /* the sockaddr to bind/connect */
	socklen_t sa_len;
	uint32_t cid;                 /* vsock only */
	uint32_t port;                /* vsock and tcp */
	char text[EML_ADDR_TEXT_MAX]; /* the text it was parsed from */
} eml_addr;

/* EML_E_NET_ADDR for anything malformed or unresolvable. */
int eml_addr_parse(const char *text, eml_addr *out);

#endif
