/* remusd/guests.h -- the guests this backup protects, by name, and what
 * it runs for each (remusd --guest NAME=COMMAND, remus.conf's [guest NAME]
 * command), and who may feed each (--guest-peer, [guest NAME] peers).
 * The command comes from here, never from the stream.
 */
#ifndef REMUS_GUESTS_H
#define REMUS_GUESTS_H

#include <stddef.h>

struct guest_conf {
	char	*name;
	char	**argv;		/* NULL-terminated; argv[0] an absolute path */
};

struct guest_table {
	struct guest_conf *v;
	size_t		 n;
};

/* Is NAME (a guest's name as a primary announces it) usable as one path
 * component of the state directory: 1..64 of [A-Za-z0-9._:@+-], not
 * starting with '.'?  1 / 0. */
int	guest_name_ok(const char *name);

/* Add guest NAME with COMMAND ("PROGRAM [ARG]...", split at blanks; no
 * quoting).  PROGRAM is looked up in PATH unless it has a '/', and must
 * be an executable file.  0, or -1 with one line in ERR (bad name,
 * empty command, no such program, a name given twice). */
int	guest_conf_add(struct guest_table *, const char *name,
	    const char *command, char *err, size_t errlen);

/* Parse "NAME=COMMAND" (the --guest flag's form) into guest_conf_add. */
int	guest_conf_parse(struct guest_table *, const char *kv, char *err,
	    size_t errlen);

const struct guest_conf *guest_conf_find(const struct guest_table *,
	    const char *name);
void	guest_table_free(struct guest_table *);

/*
 * Who may feed a guest (remusd --guest-peer NAME=ID[,ID...]): the TLS
 * identities whose sessions may name it in HELLO.  An ID is a PSK
 * identity or a client certificate's subject CN, or a whole subject DN
 * ("CN=a,O=b", tls_peer_is); a value with an '=' in it is one DN, commas
 * and all, so each DN goes in a --guest-peer of its own.  The flag is
 * repeatable; IDs for one guest add up.
 */
#define GUEST_PEER_ID_MAX	255

struct guest_peers {
	char	*name;
	char	**ids;
	size_t	 n;
};

struct peer_table {
	struct guest_peers *v;
	size_t		 n;
};

/* Parse "NAME=ID[,ID...]" (or "NAME=DN") into T.  0, or -1 with one line
 * in ERR (bad name, an empty or unprintable ID). */
int	guest_peers_parse(struct peer_table *, const char *kv, char *err,
	    size_t errlen);

const struct guest_peers *guest_peers_find(const struct peer_table *,
	    const char *name);
void	peer_table_free(struct peer_table *);

#endif /* REMUS_GUESTS_H */
