/* diskbuf/diskbuf-int.h -- private to diskbuf/: the write log and the NBD
 * wire constants (from the NBD protocol document, proto.md upstream). */
#ifndef REMUS_DISKBUF_INT_H
#define REMUS_DISKBUF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../checkpoint/stream-format.h"
#include "util.h"		/* pread_full, pwrite_full */

/* ---- Write log (wlog.c) ------------------------------------------- */

/* One epoch's writes, in the order they were applied.  Data lives in
 * memory up to MEM_LIMIT bytes, then in an unlinked spill file, so a
 * write-heavy epoch costs disk space, not RAM.  Not thread-safe: the
 * owner locks. */
struct wlog_ent {
	struct stream_disk_write hdr;
	uint64_t	data_off;	/* in mem, or in the spill file */
	int		in_file;
};

struct wlog {
	uint64_t	epoch;
	struct wlog_ent	*ents;
	size_t		n, cap;
	uint8_t		*mem;
	size_t		mem_len, mem_cap;
	uint64_t	mem_limit;
	int		spill_fd;	/* -1 until the first spill */
	uint64_t	spill_len;
	const char	*spill_dir;	/* borrowed */
	uint64_t	bytes;		/* data bytes logged */
	struct wlog	*next;		/* owner's list */
};

/* NULL with errno (ENOMEM). */
struct wlog	*wlog_new(uint64_t epoch, uint64_t mem_limit, const char *spill_dir);
void		 wlog_free(struct wlog *);	/* NULL ok */
/* Append a record; DATA holds HDR->length bytes for STREAM_DISK_WRITE and
 * is NULL otherwise.  0, or -1 with errno (ENOMEM, ENOSPC, EIO). */
int	wlog_append(struct wlog *, const struct stream_disk_write *hdr,
	    const void *data);
/* Entry I's data: a pointer into memory, or read from the spill file into
 * *SCRATCH (grown as needed; caller frees).  NULL data for no-data ops.
 * 0, or -1 with errno (short read of the spill file: EIO). */
int	wlog_data(struct wlog *, size_t i, const void **data,
	    uint8_t **scratch, size_t *scratch_len);

/* Create an unlinked temporary file in DIR (NULL: $TMPDIR or /tmp). */
int	diskbuf_tmpfile(const char *dir);

/* Apply one record to FD (image of SIZE bytes): write, zero or trim. */
int	diskbuf_apply(int fd, const struct stream_disk_write *hdr,
	    const void *data);

const char	*diskbuf_op_name(unsigned op);

/* ---- NBD protocol ------------------------------------------------- */

#define NBD_MAGIC		0x4e42444d41474943ull	/* "NBDMAGIC" */
#define NBD_IHAVEOPT		0x49484156454f5054ull	/* "IHAVEOPT" */
#define NBD_REP_MAGIC		0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC	0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC	0x67446698u

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE	(1u << 0)
#define NBD_FLAG_NO_ZEROES	(1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES	(1u << 1)

/* Options. */
#define NBD_OPT_EXPORT_NAME	1u
#define NBD_OPT_ABORT		2u
#define NBD_OPT_LIST		3u
#define NBD_OPT_STARTTLS	5u
#define NBD_OPT_INFO		6u
#define NBD_OPT_GO		7u
#define NBD_OPT_STRUCTURED_REPLY 8u

/* Option replies. */
#define NBD_REP_ACK		1u
#define NBD_REP_SERVER		2u
#define NBD_REP_INFO		3u
#define NBD_REP_FLAG_ERROR	(1u << 31)
#define NBD_REP_ERR_UNSUP	(NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY	(NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID	(NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_TOO_BIG	(NBD_REP_FLAG_ERROR | 9u)
#define NBD_REP_ERR_UNKNOWN	(NBD_REP_FLAG_ERROR | 6u)

#define NBD_INFO_EXPORT		0u
#define NBD_INFO_NAME		1u
#define NBD_INFO_DESCRIPTION	2u
#define NBD_INFO_BLOCK_SIZE	3u

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS	(1u << 0)
#define NBD_FLAG_READ_ONLY	(1u << 1)
#define NBD_FLAG_SEND_FLUSH	(1u << 2)
#define NBD_FLAG_SEND_FUA	(1u << 3)
#define NBD_FLAG_SEND_TRIM	(1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_CAN_MULTI_CONN	(1u << 8)

/* Commands and their flags. */
#define NBD_CMD_READ		0u
#define NBD_CMD_WRITE		1u
#define NBD_CMD_DISC		2u
#define NBD_CMD_FLUSH		3u
#define NBD_CMD_TRIM		4u
#define NBD_CMD_CACHE		5u
#define NBD_CMD_WRITE_ZEROES	6u
#define NBD_CMD_FLAG_FUA	(1u << 0)
#define NBD_CMD_FLAG_NO_HOLE	(1u << 1)

/* Errors on the wire (fixed numbers, not the host's errno). */
#define NBD_EPERM	1u
#define NBD_EIO		5u
#define NBD_ENOMEM	12u
#define NBD_EINVAL	22u
#define NBD_ENOSPC	28u
#define NBD_EOVERFLOW	75u
#define NBD_ENOTSUP	95u
#define NBD_ESHUTDOWN	108u

#define NBD_OPT_MAX_LEN		4096u	/* longest option we accept */

struct nbd_request {
	uint32_t	magic;
	uint16_t	flags;
	uint16_t	type;
	uint64_t	handle;
	uint64_t	offset;
	uint32_t	length;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_request) == 28, "nbd request is 28 bytes");

struct nbd_simple_reply {
	uint32_t	magic;
	uint32_t	error;
	uint64_t	handle;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_simple_reply) == 16, "nbd reply is 16 bytes");

struct nbd_opt_hdr {
	uint64_t	magic;
	uint32_t	option;
	uint32_t	length;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_opt_hdr) == 16, "nbd option is 16 bytes");

struct nbd_opt_reply {
	uint64_t	magic;
	uint32_t	option;
	uint32_t	type;
	uint32_t	length;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_opt_reply) == 20, "nbd option reply is 20 bytes");

/* ---- The NBD server (nbd-server.c), used by diskbuf-primary.c ------- */

struct diskbuf_primary;
struct nbd_server;

/* Request handlers the server calls from client threads.  Each returns 0
 * or an NBD error number (NBD_E*) for the reply. */
struct nbd_backend {
	uint64_t	(*size)(struct diskbuf_primary *);
	uint32_t	(*pread)(struct diskbuf_primary *, void *buf,
			    uint32_t len, uint64_t off);
	uint32_t	(*pwrite)(struct diskbuf_primary *, const void *buf,
			    uint32_t len, uint64_t off, int fua);
	uint32_t	(*zero)(struct diskbuf_primary *, uint32_t len,
			    uint64_t off, int may_trim, int fua);
	uint32_t	(*trim)(struct diskbuf_primary *, uint32_t len,
			    uint64_t off, int fua);
	uint32_t	(*flush)(struct diskbuf_primary *);
	void		(*bad_request)(struct diskbuf_primary *);
	void		(*client)(struct diskbuf_primary *, int connected);
};

struct nbd_server *nbd_server_new(const struct nbd_backend *,
		    struct diskbuf_primary *, const char *export_name);
/* Serve P too, as export NAME (unique), before the server listens:
 * several disks on one address.  The empty name then chooses none. */
int	nbd_server_add_export(struct nbd_server *, struct diskbuf_primary *,
	    const char *name);
int	nbd_server_listen(struct nbd_server *, const char *addr);
int	nbd_server_serve_fd(struct nbd_server *, int fd);
/* Serve FD in the transmission phase straight away: the other end is the
 * kernel's nbd driver, which was given size and flags by ioctl instead of
 * the option haggling (nbd-kernel.c). */
int	nbd_server_serve_kernel(struct nbd_server *, int fd);
/* The transmission flags this server offers (NBD_FLAG_*). */
uint16_t nbd_transmission_flags(void);

/* The export as the kernel block device PATH (/dev/nbdN) of SIZE bytes
 * (nbd-kernel.c).  NULL with errno set (logged). */
struct nbd_kernel;
struct nbd_kernel *nbd_kernel_attach(struct nbd_server *, const char *path,
	    uint64_t size);
/* Disconnect the device (its users get I/O errors from now on). */
void	nbd_kernel_detach(struct nbd_kernel *);
void	nbd_server_free(struct nbd_server *);

/* ---- TCP helpers (net.c) ------------------------------------------ */

/* Listen on "HOST:PORT", "[V6]:PORT" or ":PORT" (blocking socket).  The
 * fd, or -1 with errno set (logged). */
int	diskbuf_listen_tcp(const char *addr);
/* Connect to ADDR, retrying for up to WAIT_S seconds while refused. */
int	diskbuf_connect_tcp(const char *addr, int wait_s);

#endif /* REMUS_DISKBUF_INT_H */
