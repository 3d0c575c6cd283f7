/* remusd/devices.h -- how device adapters plug into remus and remusd.
 *
 * The engine (checkpoint/) drives devices only through ckpt_device_ops and
 * ckpt_backup_device_ops.  Each device module (netbuf/, diskbuf/) gets one
 * adapter file here, remusd/dev-<name>.c, that builds its module object
 * from struct remus_devopts and registers it with ckpt_add_device() (primary)
 * or backup_add_device() (backup).  remusd/main.cmake compiles every
 * remusd/dev-*.c into both programs; a fragment remusd/dev-<name>.cmake
 * (included before main.cmake) may `list(APPEND REMUS_DEV_LIBS <lib>)` to
 * link its module library.  Until an adapter exists, the weak defaults in
 * devices-weak.c attach nothing and return 0, so the build works at every
 * step.
 *
 * All functions run in the loop thread, before the first epoch.  They
 * return 0 (also when the options ask for nothing, e.g. netbuf_if == NULL
 * or no_net), or -1 with errno set and the reason already logged; remus
 * then exits with its "internal error" status after tearing down what was
 * attached (teardown is called for every registered device).
 */
#ifndef REMUS_DEVICES_H
#define REMUS_DEVICES_H

#include <stdint.h>

struct ckpt;
struct backup;
struct diskmap;
struct ev_loop;
struct ratelimit;

struct remus_devopts {
	struct ev_loop	*loop;		/* the one EV_DEFAULT loop */
	const char	*guest;		/* domain spec, for messages */
	uint32_t	 interval_ms;	/* -i */
	/* Network buffering (primary). */
	const char	*netbuf_if;	/* --netbuf-if IFNAME; NULL = none */
	const char	*netbuf_driver;	/* --netbuf-driver plug|nfqueue|auto */
	uint64_t	 netbuf_limit;	/* --netbuf-limit BYTES; 0 = default */
	int		 no_net;	/* -n (with -F): no network buffering */
	int		 trigger_output; /* --trigger output: watch output */
	/* Disk replication: the guest's disks, each by name, disk index i
	 * being entry i (common/diskmap.h).  Primary: --disk [NAME=]IMAGE
	 * (tag DEV_DISK_IMAGE: served by remus over NBD) and --disk-server
	 * [NAME=]SOCKET (tag DEV_DISK_SERVER: served by remus-diskd).
	 * Backup: the guest's --disk [GUEST:][NAME=]IMAGE images. */
	const struct diskmap *disks;
	const char	*nbd_listen;	/* --nbd-listen ADDR (primary) */
	int		 no_disk;	/* -d (with -F): no disk replication */
	const char	*disk_sync;	/* --disk-sync ADDR (primary): live
					 * initial copy of each disk to the
					 * backup's */
	uint64_t	 disk_sync_rate; /* --disk-sync-rate B/s per disk;
					 * 0 = no cap */
	const char	*disk_sync_listen; /* remusd --disk-sync-listen ADDR
					 * (the guest's own, or the one for
					 * every guest) */
	/* Backup only. */
	const char	*state_dir;	/* remusd -D STATEDIR */
	/* External device tools (dev-tool.c), both ends. */
	const char	**device_tools;	/* --device-tool TYPE=PATH, NULL-ended */
	uint32_t	 device_tool_timeout_ms; /* 0: the default */
	const char	*backup_host;	/* primary: -host, the backup as given */
	const char	*domname;	/* -domname: --dname, or NULL (the
					 * guest's own name) */
	struct ratelimit *ratelimit;	/* primary: --bandwidth's bucket, for
					 * the disk sync too; NULL: none */
};

#define DEV_DISK_IMAGE		0	/* diskmap tags, primary */
#define DEV_DISK_SERVER		1

#define DEVICE_TOOL_TIMEOUT_DEFAULT_MS	2000
#define DEVICE_TOOLS_MAX		16	/* --device-tool, per program */

/* Primary: register the netbuf / diskbuf device with the engine. */
int	dev_netbuf_attach(struct ckpt *, const struct remus_devopts *);
int	dev_diskbuf_attach(struct ckpt *, const struct remus_devopts *);

/* Primary: the guest output the netbuf devices hold right now, and what
 * the kernel dropped so far, summed over the buffered interfaces (all
 * zero without any).  Reads kernel counters; for the metrics. */
struct dev_netbuf_held {
	unsigned	ifaces;		/* interfaces buffered */
	uint64_t	packets;	/* held now */
	uint64_t	bytes;		/* held now (plug; nfqueue counts 0) */
	uint64_t	drops;		/* since start (limit, queue full) */
};
void	dev_netbuf_held(struct dev_netbuf_held *);

/* Primary: the live initial sync of the disks remus serves, for the
 * control socket: "none", "running" (any still copying), "done" (all) or
 * "failed" (any). */
const char *dev_diskbuf_sync_state(void);
/* Primary: the I-th disk whose live sync remus sends itself (--disk with
 * --disk-sync; a --disk-server's is remus-diskd's and shows in its own
 * log), for status and the metrics: 0, or -1 past the last. */
struct dev_diskbuf_sync {
	const char	*name;		/* "" unnamed */
	const char	*state;		/* running, done, failed */
	uint64_t	 done, total;	/* bytes compared, of the image */
	uint64_t	 sent;		/* bytes that differed, sent */
	uint64_t	 start_us;	/* now_us(); 0 while it connects */
};
int	dev_diskbuf_sync_disk(size_t i, struct dev_diskbuf_sync *);

/* Primary: the guest's own disks, as its driver lists them ("vdev=target,
 * ..."), each at its place: the remus-diskd serving each one, by the
 * --disk-server given for its vdev (an unnamed one for a one-disk guest)
 * or found by its /dev/nbdN; O->disks becomes that list, named by vdev.
 * Or say (one line) why they cannot be replicated and return -1.  ""
 * is fine (no disks). */
int	dev_diskbuf_guest_disks(const char *spec, const char *disks,
	    struct remus_devopts *o);

/* Both ends: the external device tools (--device-tool).  Primary: step 0
 * in dev_tool_prepare, before the backup is connected (a refusal is -1,
 * said in one line; attach runs it itself if prepare was not called),
 * step 1 at attach; register before the netbuf device, so that step 3
 * runs before the output's release.
 * Backup: "activate" at failover. */
/* --device-tool's TYPE=PATH (PATH may be coproc:PATH), as remus and
 * remusd take it: 0, or -1 with what is wrong in ERR (a typo is said at
 * start, not at attach or failover). */
int	dev_tool_check_arg(const char *arg, char *err, size_t len);
int	dev_tool_prepare(const struct remus_devopts *);	/* step 0, early */
void	dev_tool_unprepare(void);	/* prepared, never attached: drop */
int	dev_tool_attach(struct ckpt *, const struct remus_devopts *);
int	dev_tool_backup_attach(struct backup *, const struct remus_devopts *);

/* Backup: register the diskbuf backup device for the guest's disks
 * (O->disks, none: nothing) with one receiver session, once HELLO named
 * the guest.  The images are opened when the primary's DISKS declares
 * its disks, matched by name. */
int	dev_diskbuf_backup_attach(struct backup *, const struct remus_devopts *);

#endif /* REMUS_DEVICES_H */
