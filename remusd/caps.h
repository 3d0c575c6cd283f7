/* remusd/caps.h -- what this build of remus and remusd can do, as JSON
 * (remus --capabilities, remusd --capabilities, and the control socket's
 * capabilities verb): guest drivers, transports and URI schemes, page
 * encodings, netbuf drivers, disk replication, rename, bandwidth,
 * fencing, TLS modes, device tools.
 *
 * Lists come from the tables the programs use (the domain and replica
 * driver registry, the transports' ops tables, the URI parser's schemes,
 * the stream's encodings, netbuf's drivers); the rest are the features
 * compiled in.  One object, one line, keys in a fixed order:
 * docs/link.md lists them.
 */
#ifndef REMUS_CAPS_H
#define REMUS_CAPS_H

#include <stdio.h>

/* The JSON object for PROGRAM ("remus", "remusd"), NUL-terminated, one
 * line without a newline; malloc'd, the caller frees it.  NULL + errno. */
char	*caps_json(const char *program);

/* Print it to OUT with a newline.  0 / -1 + errno. */
int	caps_print(FILE *out, const char *program);

#endif /* REMUS_CAPS_H */
