/* tests/unit/test-conf.c -- remus.conf(5): what is accepted, what is
 * refused (with FILE:LINE), and the argument vector it becomes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"

static char path[64];

static void
write_conf(const char *text)
{
	int fd;

	if (path[0])		/* a test that writes twice: the first goes */
		unlink(path);
	snprintf(path, sizeof path, "/tmp/test-conf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
cleanup(void)
{
	if (path[0])
		unlink(path);
}

/* Load TEXT; expect failure with "PATH:LINE: " + WHAT in the message. */
static void
refused(const char *text, unsigned line, const char *what)
{
	struct conf *c;
	char err[512], want[128];

	write_conf(text);
	cr_assert_eq(conf_load(path, &c, err, sizeof err), -1, "accepted:\n%s",
	    text);
	cr_assert_null(c);
	snprintf(want, sizeof want, "%s:%u: ", path, line);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "\"%s\" not \"%s\"",
	    err, want);
	cr_assert_not_null(strstr(err, what), "\"%s\" lacks \"%s\"", err,
	    what);
	cr_assert_null(strchr(err, '\n'), "one line: %s", err);
}

static const char good[] =
"# both hosts read the same file\n"
"[remus]\n"
"interval = 100\n"
"psk-file = /etc/remus/psk.txt\n"
"\n"
"[remusd]\n"
"listen = :5270\n"
"psk-file = /etc/remus/psk.txt\n"
"fence = \" fence_ipmilan -a bmc1 \"\n"
"timeout = 1000\n"
"\n"
"[guest web1]\n"
"domain = xen:web1\n"
"backup = backup.example:5270\n"
"interval = 50\n"
"netbuf-limit = 16M\n"
"compress = no\n"
"  ; indented comment\n"
"[guest \"db\"]\n"
"backup = 10.0.0.2\n"
"command = /usr/bin/kvd --port 7000\n";

Test(conf, good, .fini = cleanup)
{
	struct conf *c;
	char err[512];

	write_conf(good);
	cr_assert_eq(conf_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(conf_nguests(c), 2);
	cr_assert_str_eq(conf_guest_name(c, 0), "web1");
	cr_assert_str_eq(conf_guest_name(c, 1), "db");
	cr_assert_str_eq(conf_get(c, "remus", "interval"), "100");
	cr_assert_str_eq(conf_get(c, "web1", "interval"), "50");
	cr_assert_str_eq(conf_get(c, "remusd", "timeout"), "1000");
	/* Quotes keep the blanks. */
	cr_assert_str_eq(conf_get(c, "remusd", "fence"),
	    " fence_ipmilan -a bmc1 ");
	cr_assert_null(conf_get(c, "db", "interval"));
	conf_free(c);
}

Test(conf, refused, .fini = cleanup)
{
	refused("[remus]\ninterval = 100\nbogus = 1\n", 3,
	    "unknown key \"bogus\"");
	refused("[remus]\n\ninterval = 5\n", 3,
	    "interval = 5: want a number in 25..60000");
	refused("[remus]\ninterval = 100x\n", 2, "want a number");
	refused("[remus]\n[guest a]\n[guest a]\n", 3,
	    "duplicate section [guest a] (first at line 2)");
	refused("[remusd]\n[remusd]\n", 2, "duplicate section [remusd]");
	refused("[remus]\ntimeout = 200\ntimeout = 300\n", 3,
	    "timeout given twice in this section (first at line 2)");
	refused("interval = 100\n", 1, "outside any section");
	refused("[remus]\nlisten = :5270\n", 2, "listen: not a key of [remus]");
	refused("[remusd]\ndomain = xen:1\n", 2, "not a key of [remusd]");
	refused("[other]\n", 1, "unknown section [other]");
	refused("[remus\n", 1, "want [section]");
	refused("[remus]\njust words\n", 2, "want key = value");
	refused("[remus]\ncompress = maybe\n", 2, "want yes or no");
	refused("[remus]\nnetbuf-driver = tc\n", 2, "plug|nfqueue|auto");
	refused("[remus]\nnetbuf-limit = lots\n", 2, "want a size");
	refused("[remus]\nnetbuf-limit = 0\n", 2, "not 0");
	refused("[remus]\nmetrics = 127.0.0.1\n", 2, "host:port");
	refused("[remus]\nmetrics = 127.0.0.1:70000\n", 2, "port in 1..65535");
	refused("[remusd]\nlisten = ::1\n", 2, "host[:port]");
	refused("[remus]\nstats-json =\n", 2, "stats-json: empty value");
	/* The keys of issue 14's audit: each bad value by its line. */
	refused("[guest g]\ndevice-tools = /etc/remus/dev\n", 2,
	    "unknown key \"device-tools\"");
	refused("[remus]\ntrigger = never\n", 2, "want one of output|interval");
	refused("[remus]\nmax-paused-pct = 95\n", 2, "want a number in 1..90");
	refused("[remus]\nmax-rate = 0\n", 2, "want a number in 1..2000");
	refused("[remus]\nbandwidth = fast\n", 2,
	    "want a positive decimal number");
	refused("[remus]\nbandwidth = 0.0\n", 2, "positive decimal");
	refused("[remus]\nbandwidth = 1.\n", 2, "positive decimal");
	refused("[remus]\ndevice-tool-timeout = 0\n", 2,
	    "want a number in 1..3600000");
	refused("[remus]\nno-guardian = perhaps\n", 2, "want yes or no");
	refused("[remus]\ndname = a\ndname = b\n", 3, "given twice");
	refused("[remusd]\nmax-sessions = 0\n", 2, "want a number in 1..100000");
	refused("[remusd]\nmax-guest-mem = 512K\n", 2, "at least 1024K");
	refused("[remusd]\nmax-disk = lots\n", 2, "want a size");
	refused("[remusd]\nhello-timeout = 50\n", 2, "in 100..600000");
	refused("[remusd]\nallow-bridge = , \n", 2,
	    "allow-bridge: an empty list");
	refused("[remusd]\ndevice-tool-timeout = x\n", 2, "want a number");
	refused("[remus]\ndevice-tool = /usr/lib/tool\n", 2,
	    "device-tool = /usr/lib/tool: want TYPE=PATH");
	refused("[remusd]\ndevice-tool = net=\n", 2, "want TYPE=PATH");
	refused("[remusd]\nrun-dir = /a\nrun-dir = /b\n", 3, "given twice");
	refused("[guest g]\nfence-timeout = 0\n", 2,
	    "fence-timeout = 0: want a number in 1..3600000");
	refused("[guest g]\nfence =\n", 2, "fence: empty value");
	refused("[remus]\nfence = true\n", 2, "fence: not a key of [remus]");
	refused("[remus]\nallow-bridge = br0\n", 2,
	    "allow-bridge: not a key of [remus]");
	refused("[guest a b]\n", 1, "want a guest name without blanks");
}

Test(conf, missing, .fini = cleanup)
{
	struct conf *c;
	char err[512];

	cr_assert_eq(conf_load("/nonexistent/remus.conf", &c, err,
	    sizeof err), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert_str_eq(err,
	    "/nonexistent/remus.conf: No such file or directory");
}

/* The option tables of remus and remusd, as far as conf_apply reads
 * them (which take an argument). */
static const struct option lo_remus[] = {
	{ "config", required_argument, NULL, 1 },
	{ "timeout", required_argument, NULL, 2 },
	{ "psk-file", required_argument, NULL, 3 },
	{ "insecure", no_argument, NULL, 4 },
	{ NULL, 0, NULL, 0 },
};
static const char os_remus[] = "bcdeFhi:N:npus:v";

static const struct option lo_remusd[] = {
	{ "config", required_argument, NULL, 1 },
	{ "receive", no_argument, NULL, 2 },
	{ "guest", required_argument, NULL, 3 },
	{ NULL, 0, NULL, 0 },
};

static char *
joined(int argc, char **argv)
{
	static char buf[1024];
	int i;

	buf[0] = '\0';
	for (i = 0; i < argc; i++) {
		strcat(buf, i ? " " : "");
		if (strncmp(argv[i], "--config=", 9) == 0 &&
		    strcmp(argv[i] + 9, path) == 0)
			strcat(buf, "--config=@");
		else
			strcat(buf, strcmp(argv[i], path) == 0 ? "@" : argv[i]);
	}
	cr_assert_null(argv[argc]);
	return buf;
}

static char cfg_eq[96];

/* conf_apply of PROG on IN ("@": the config file) must give WANT; LO:
 * the program's long options, or NULL for the tables above. */
static void
apply_lo(enum conf_prog prog, const struct option *lo,
    const char *const *in, const char *want)
{
	char *args[16], **argv = args, err[1024];
	int argc = 0;

	while (in[argc]) {
		args[argc] = (char *)in[argc];
		if (strcmp(in[argc], "@") == 0)
			args[argc] = path;
		else if (strcmp(in[argc], "--config=@") == 0)
			args[argc] = cfg_eq;
		argc++;
	}
	args[argc] = NULL;
	snprintf(cfg_eq, sizeof cfg_eq, "--config=%s", path);
	if (lo == NULL)
		lo = prog == CONF_PROG_REMUS ? lo_remus : lo_remusd;
	cr_assert_eq(conf_apply(prog, prog == CONF_PROG_REMUS ? os_remus :
	    "D:dehnt:v", lo, &argc, &argv, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(joined(argc, argv), want);
}

static void
apply(enum conf_prog prog, const char *const *in, const char *want)
{
	apply_lo(prog, NULL, in, want);
}

Test(conf, apply_remus, .fini = cleanup)
{
	write_conf(good);
	/* [remus]'s flags, the guest's, the command line's, then the
	 * operands: its domain and its backup. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "web1", NULL }, "remus -i 100 --psk-file /etc/remus/psk.txt "
	    "-i 50 --netbuf-limit 16M -u --config @ -- xen:web1 "
	    "backup.example:5270");
	/* The command line's --insecure drops the file's --psk-file; its
	 * host replaces the section's backup. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "--insecure", "web1", "other:1", NULL }, "remus -i 100 -i 50 "
	    "--netbuf-limit 16M -u --config @ --insecure -- xen:web1 other:1");
	/* -s (clustered, its argument the next word) drops it too; a
	 * guest without a domain is the Xen domain of its name. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "-vs", "ssh",
	    "--config=@", "db", NULL }, "remus -i 100 -vs ssh --config=@ -- "
	    "db 10.0.0.2");
	/* --conf and --insec: getopt_long's abbreviations, taken alike. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--conf", "@",
	    "--insec", "web1", NULL }, "remus -i 100 -i 50 --netbuf-limit 16M "
	    "-u --conf @ --insec -- xen:web1 backup.example:5270");
	/* Clustered short flags, more than there are words. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "-bdFnuv",
	    "--config", "@", "web1", NULL }, "remus -i 100 -i 50 "
	    "--netbuf-limit 16M -u -bdFnuv --config @ -- xen:web1 "
	    "backup.example:5270");
	/* Not a section: the operands stay as they are. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "xen:7", "h", NULL }, "remus -i 100 --psk-file "
	    "/etc/remus/psk.txt --config @ xen:7 h");
}

/* A remus with --name (the guest's name in HELLO) announces the
 * section's. */
Test(conf, apply_remus_name, .fini = cleanup)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 1 },
		{ "name", required_argument, NULL, 2 },
		{ NULL, 0, NULL, 0 },
	};
	char *args[] = { "remus", "--config", path, "db", NULL };
	char *args2[] = { "remus", "--config", path, "--name", "x", "db",
	    NULL };
	char **argv = args, err[512];
	int argc = 4;

	write_conf(good);
	args[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUS, os_remus, lo, &argc, &argv,
	    err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(joined(argc, argv), "remus -i 100 --psk-file "
	    "/etc/remus/psk.txt --name db --config @ -- db 10.0.0.2");
	argv = args2;
	argc = 6;
	args2[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUS, os_remus, lo, &argc, &argv,
	    err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(joined(argc, argv), "remus -i 100 --psk-file "
	    "/etc/remus/psk.txt --config @ --name x -- db 10.0.0.2");
}

Test(conf, apply_remus_which, .fini = cleanup)
{
	char *args[] = { "remus", "--config", path, NULL }, **argv = args;
	char err[512];
	int argc = 3;

	write_conf(good);
	cr_assert_eq(conf_apply(CONF_PROG_REMUS, os_remus, lo_remus, &argc,
	    &argv, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "2 [guest] sections: name the guest"),
	    "%s", err);
	/* One guest: that one. */
	write_conf("[guest only]\nbackup = b\n");
	args[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUS, os_remus, lo_remus, &argc,
	    &argv, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(joined(argc, argv), "remus --config @ -- only b");
}

Test(conf, apply_remusd, .fini = cleanup)
{
	write_conf(good);
	apply(CONF_PROG_REMUSD, (const char *[]){ "remusd", "--config", "@",
	    "-v", NULL }, "remusd --listen :5270 --psk-file "
	    "/etc/remus/psk.txt --fence  fence_ipmilan -a bmc1  -t 1000 "
	    "--guest db=/usr/bin/kvd --port 7000 --config @ -v");
	/* --receive: no --listen, no credentials from the file. */
	apply(CONF_PROG_REMUSD, (const char *[]){ "remusd", "--config", "@",
	    "--receive", NULL }, "remusd --fence  fence_ipmilan -a bmc1  "
	    "-t 1000 --guest db=/usr/bin/kvd --port 7000 --config @ "
	    "--receive");
}

/* Several disks: disk (and disk-server) once per disk, in order; a
 * guest's backup-disk keys and its disk-sync-listen become remusd's
 * --disk NAME:... and --disk-sync-listen NAME=...; remus ignores them. */
static const char disks[] =
"[remus]\n"
"disk = xvda=/srv/a.img\n"
"disk = xvdb=/srv/b.img\n"
"[remusd]\n"
"disk = /srv/any.img\n"
"disk-sync-listen = :7000\n"
"[guest web1]\n"
"backup = b\n"
"backup-disk = xvda=/srv/web1-a.img\n"
"backup-disk = xvdb=/srv/web1-b.img\n"
"disk-sync-listen = :7001\n"
"[guest db]\n"
"backup = b\n"
"backup-disk = /srv/db.img\n";

Test(conf, disks_per_guest, .fini = cleanup)
{
	static const struct option lo_d[] = {
		{ "config", required_argument, NULL, 1 },
		{ "guest", required_argument, NULL, 2 },
		{ "disk", required_argument, NULL, 3 },
		{ "disk-sync-listen", required_argument, NULL, 4 },
		{ NULL, 0, NULL, 0 },
	};
	char *args[] = { "remusd", "--config", path, NULL }, **argv = args;
	char err[512];
	int argc = 3;

	write_conf(disks);
	args[2] = path;
	apply_lo(CONF_PROG_REMUSD, lo_d, (const char *[]){ "remusd",
	    "--config", "@", NULL }, "remusd --disk /srv/any.img "
	    "--disk-sync-listen :7000 --disk web1:xvda=/srv/web1-a.img "
	    "--disk web1:xvdb=/srv/web1-b.img --disk-sync-listen web1=:7001 "
	    "--disk db:=/srv/db.img --config @");
	/* remus: [remus]'s two disks, in order; the guest's remusd keys
	 * are not remus's. */
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "web1", NULL }, "remus --disk xvda=/srv/a.img --disk "
	    "xvdb=/srv/b.img --config @ -- web1 b");
	/* Still once per section for the others; a remusd without --disk
	 * refuses backup-disk. */
	refused("[remusd]\ndisk-sync-listen = :1\ndisk-sync-listen = :2\n", 3,
	    "given twice");
	refused("[guest g]\ndisk-sync-listen = 7001\n", 2, "host:port");
	write_conf("[guest g]\nbackup-disk = /x.img\n");
	argv = args;
	argc = 3;
	args[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUSD, "D:dehnt:v", lo_remusd,
	    &argc, &argv, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, ":2: backup-disk: this remusd has no "
	    "--disk to take it"), "%s", err);
}

/* A guest's peer keys become remusd's --guest-peer NAME=VALUE, each in
 * order (a DN has commas and '=' of its own: passed whole); [remusd]'s
 * any-peer and allow-resize are its flags; remus ignores them all. */
Test(conf, peers_per_guest, .fini = cleanup)
{
	static const struct option lo_p[] = {
		{ "config", required_argument, NULL, 1 },
		{ "guest", required_argument, NULL, 2 },
		{ "guest-peer", required_argument, NULL, 3 },
		{ "any-peer", no_argument, NULL, 4 },
		{ "allow-resize", no_argument, NULL, 5 },
		{ "receive", no_argument, NULL, 6 },
		{ "insecure", no_argument, NULL, 7 },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const nontls[] = { "--receive", "--insecure" };
	size_t i;
	char *args[] = { "remusd", "--config", path, NULL }, **argv = args;
	char err[512];
	int argc = 3;

	write_conf("[remusd]\nany-peer = yes\nallow-resize = yes\n"
	    "[guest web1]\nbackup = b\npeer = primary-a,primary-b\n"
	    "peer = CN=primary c,O=Example\n");
	args[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUSD, "D:dehnt:v", lo_p, &argc,
	    &argv, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(joined(argc, argv), "remusd --any-peer "
	    "--allow-resize --guest-peer web1=primary-a,primary-b "
	    "--guest-peer web1=CN=primary c,O=Example --config @");
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "web1", NULL }, "remus --config @ -- web1 b");
	/* Without TLS from the command line (ssh's --receive, --insecure):
	 * no identity to check, the peers are left out. */
	for (i = 0; i < 2; i++) {
		char *a4[] = { "remusd", "--config", path, (char *)nontls[i],
		    NULL }, **av = a4, want[64];
		int ac = 4;

		write_conf("[guest web1]\nbackup = b\npeer = primary-a\n");
		a4[2] = path;
		cr_assert_eq(conf_apply(CONF_PROG_REMUSD, "D:dehnt:v", lo_p,
		    &ac, &av, err, sizeof err), 0, "%s", err);
		snprintf(want, sizeof want, "remusd --config @ %s", nontls[i]);
		cr_assert_str_eq(joined(ac, av), want);
	}
	/* A remusd without --guest-peer refuses the key. */
	write_conf("[guest g]\npeer = a\n");
	argv = args;
	argc = 3;
	args[2] = path;
	cr_assert_eq(conf_apply(CONF_PROG_REMUSD, "D:dehnt:v", lo_remusd,
	    &argc, &argv, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, ":2: peer: this remusd has no "
	    "--guest-peer to take it"), "%s", err);
	refused("[remus]\npeer = a\n", 2, "peer");
}

/* Issue 14: every setting flag has a key.  remus's new ones, in [remus]
 * and a guest's section, become its flags; remusd's allow-* take lists;
 * a guest's fence is remusd's --guest-fence for it. */
static const char every[] =
"[remus]\n"
"trigger = interval\n"
"max-paused-pct = 30\n"
"max-rate = 500\n"
"bandwidth = 2.5\n"
"ctl-socket = none\n"
"device-tool = net=/usr/lib/remus/dev-net\n"
"device-tool = disk=coproc:/usr/lib/remus/dev-disk\n"
"device-tool-timeout = 500\n"
"[remusd]\n"
"no-fence = yes\n"
"no-guardian = yes\n"
"run-dir = /run/r\n"
"ctl-socket = /run/r/d.sock\n"
"max-sessions = 8\n"
"max-guest-mem = 4G\n"
"max-disk = 1G\n"
"hello-timeout = 2000\n"
"allow-bridge = xenbr0, xenbr1\n"
"allow-bridge = xenbr2\n"
"allow-kernel = /boot/vmlinuz\n"
"allow-device-model = /usr/lib/xen/bin/qemu-system-i386\n"
"allow-script = /etc/xen/scripts/vif-bridge  /etc/xen/scripts/block\n"
"device-tool = net=/usr/lib/remus/dev-net\n"
"device-tool-timeout = 700\n"
"dname = twin\n"
"[guest web]\n"
"backup = b\n"
"dname = web-b\n"
"no-guardian = yes\n"
"fence = fence_ipmilan -a bmc1 -o off\n"
"fence-timeout = 20000\n"
"[guest db]\n"
"backup = b\n"
"fence-timeout = 5000\n";

Test(conf, every_setting_key, .fini = cleanup)
{
	static const struct option lo_d[] = {
		{ "config", required_argument, NULL, 1 },
		{ "guest-fence", required_argument, NULL, 2 },
		{ "guest-fence-timeout", required_argument, NULL, 3 },
		{ NULL, 0, NULL, 0 },
	};
	char *args[] = { "remusd", "--config", path, NULL }, **argv = args;
	char err[1024];
	int argc = 3;

	write_conf(every);
	apply(CONF_PROG_REMUS, (const char *[]){ "remus", "--config", "@",
	    "web", NULL }, "remus --trigger interval --max-paused-pct 30 "
	    "--max-rate 500 --bandwidth 2.5 --ctl-socket none --device-tool "
	    "net=/usr/lib/remus/dev-net --device-tool "
	    "disk=coproc:/usr/lib/remus/dev-disk --device-tool-timeout 500 "
	    "--dname web-b -e --config @ -- web b");
	args[2] = path;
	apply_lo(CONF_PROG_REMUSD, lo_d, (const char *[]){ "remusd",
	    "--config", "@", NULL }, "remusd --no-fence -e "
	    "--run-dir /run/r --ctl-socket /run/r/d.sock --max-sessions 8 "
	    "--max-guest-mem 4G --max-disk 1G --hello-timeout 2000 "
	    "--allow-bridge xenbr0 --allow-bridge xenbr1 --allow-bridge xenbr2 "
	    "--allow-kernel /boot/vmlinuz --allow-device-model "
	    "/usr/lib/xen/bin/qemu-system-i386 --allow-script "
	    "/etc/xen/scripts/vif-bridge --allow-script /etc/xen/scripts/block "
	    "--device-tool net=/usr/lib/remus/dev-net --device-tool-timeout 700 "
	    "--dname twin --guest-fence web=fence_ipmilan -a bmc1 -o off "
	    "--guest-fence-timeout web=20000 --guest-fence-timeout db=5000 "
	    "--config @");
	/* A remusd without --guest-fence refuses the key by its line. */
	argv = args;
	argc = 3;
	cr_assert_eq(conf_apply(CONF_PROG_REMUSD, "D:dehnt:v", lo_remusd,
	    &argc, &argv, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, ":31: fence: this remusd has no "
	    "--guest-fence to take it"), "%s", err);
}
