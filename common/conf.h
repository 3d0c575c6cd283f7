/* common/conf.h -- /etc/remus/remus.conf, remus.conf(5).
 *
 * An INI file: "[remus]" holds the primary's defaults, "[remusd]" the
 * backup daemon's settings, "[guest NAME]" one protected guest (its
 * domain, its backup, and any remus setting for it alone, plus the
 * `command` remusd runs for it).  Keys are the programs' long option
 * names without the dashes, as in curl's -K files: what a key means is
 * what its flag means, documented once (remus(8), remusd(8)).
 *
 * Why INI and not xl.cfg: xl.cfg describes one domain per file with
 * Python-like lists; remus needs several guests and two programs' settings
 * in one file, which sections say directly; the few keys that take several
 * values (allow-bridge, ...) take them repeated or blank-separated.  drbd.conf's braces would buy nesting nobody needs.
 *
 * The file becomes options: conf_apply() puts the file's settings, as
 * flags, in front of the command line's, so that getopt parses one
 * argument vector, a flag on the command line overrides the file (the last
 * occurrence wins) and every value is checked twice: by conf (with the
 * file's line) and by the program's own option parser.
 */
#ifndef REMUS_CONF_H
#define REMUS_CONF_H

#include <getopt.h>
#include <stddef.h>

#define CONF_DEFAULT_PATH	"/etc/remus/remus.conf"

/* The one exit status of both programs for a configuration file that
 * cannot be read or is wrong (documented in remus(8), remusd(8)). */
#define CONF_EXIT		78	/* sysexits.h EX_CONFIG */

enum conf_prog {
	CONF_PROG_REMUS,
	CONF_PROG_REMUSD,
};

struct conf;

/* Read and check PATH: every line is a section header, a key = value
 * line, a comment (#, ;) or blank.  0 with *OUT set, or -1 with errno set
 * and ERR holding one line "PATH:LINE: what was wrong" (or "PATH: why"
 * when it cannot be read). */
int	conf_load(const char *path, struct conf **out, char *err, size_t len);
void	conf_free(struct conf *);

/* Number of [guest] sections, and the name of the I-th. */
size_t	conf_nguests(const struct conf *);
const char *conf_guest_name(const struct conf *, size_t i);

/* The value of KEY in section SECTION ("remus", "remusd" or a guest's
 * name), or NULL. */
const char *conf_get(const struct conf *, const char *section,
	    const char *key);

/* Before getopt: find --config FILE in *ARGVP (or use CONF_DEFAULT_PATH
 * if it exists), read it, and rewrite *ARGCP and *ARGVP so that the file's
 * settings come first as flags.  For remus, a first operand that names a
 * [guest] section stands for that guest (its domain, and its backup
 * unless a second operand gives one; and --name NAME where LONGOPTS has
 * it and the command line does not); with no operand and exactly one
 * [guest] section, that one.  For remusd, the [remusd] section, and each
 * guest's `command` as --guest NAME=COMMAND (its `fence` as --guest-fence
 * NAME=CMD, and so on: remus.conf(5)).  OPTSTRING and LONGOPTS are
 * the program's own (to tell flags' arguments from operands).
 *
 * A flag on the command line overrides the file; a group of flags that
 * exclude each other (--psk-file, --tls-creds, --insecure, -s, -b; --fence
 * and --no-fence; --listen and --receive) given on the command line drops
 * the file's members of that group, and a guest's drops [remus]'s.
 *
 * 0 (also when there is no file), or -1 with ERR set as for conf_load:
 * the caller prints it and exits CONF_EXIT. */
int	conf_apply(enum conf_prog, const char *optstring,
	    const struct option *longopts, int *argcp, char ***argvp,
	    char *err, size_t len);

#endif /* REMUS_CONF_H */
