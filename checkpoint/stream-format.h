/* checkpoint/stream-format.h -- the wire format, mirroring
 * docs/stream-format.md (normative; change both together).
 *
 * Everything is little-endian, and every record is padded to 8 bytes with
 * zero bytes.  Every struct here has its size pinned by _Static_assert; the
 * structs are naturally aligned so their layout is the same on every ABI,
 * but input buffers are not aligned: readers memcpy them out.
 */
#ifndef REMUS_STREAM_FORMAT_H
#define REMUS_STREAM_FORMAT_H

#include <stdint.h>

/* ---- Stream header (primary -> backup, once) ---------------------- */

#define STREAM_MAGIC		"\x89RMS\r\n\x1a\n"	/* 8 bytes, no NUL */
#define STREAM_MAGIC_LEN	8
#define STREAM_VERSION		3u	/* 2: HELLO / WELCOME handshake;
						 * 3: DISKS, HELLO's flags */
#define STREAM_BYTE_ORDER	0x01020304u	/* reads back 0x04030201 if swapped */
#define STREAM_DRIVER_LEN	16
#define STREAM_CONFIG_MAX	(64u << 10)
#define STREAM_PAGE_SIZE_MIN	4096u
#define STREAM_PAGE_SIZE_MAX	65536u
#define STREAM_NR_PAGES_MAX	(1ull << 40)	/* 4 PiB of 4 KiB pages */

/* Feature bits.  Unknown bits are an error: a feature changes meaning.
 * (Compatible additions use optional records instead.) */
#define STREAM_FEAT_COMPRESS	(1u << 0)	/* LZ4 / XOR encodings may appear */
#define STREAM_FEAT_DEVICE_MODEL (1u << 1)	/* every epoch carries one
						 * DEVICE_STATE: the guest's
						 * device model (Xen HVM) */
#define STREAM_FEAT_KNOWN	(STREAM_FEAT_COMPRESS | STREAM_FEAT_DEVICE_MODEL)

struct stream_hdr {
	uint8_t		magic[8];
	uint32_t	version;
	uint32_t	byte_order;
	uint32_t	page_size;	/* 4096 .. 65536, a power of two */
	uint32_t	features;
	uint64_t	nr_pages;	/* guest pfns 0 .. nr_pages - 1 */
	char		driver[STREAM_DRIVER_LEN];	/* NUL-padded */
	uint32_t	config_len;	/* opaque driver config follows, padded to 8 */
	uint32_t	crc;		/* CRC32C of header (crc = 0) + config + pad */
};
_Static_assert(sizeof(struct stream_hdr) == 56, "stream_hdr is 56 bytes");

/* ---- Records (both directions) ------------------------------------ */

struct stream_rhdr {
	uint32_t	type;
	uint32_t	length;		/* body bytes, excluding padding */
};
_Static_assert(sizeof(struct stream_rhdr) == 8, "stream_rhdr is 8 bytes");

#define STREAM_REC_ALIGN	8u
#define STREAM_REC_LENGTH_MAX	(64u << 20)
/* Set on types a reader may skip.  OPTIONAL | <a defined type> is
 * reserved and an error, so one flipped bit cannot turn a defined record
 * into a skippable one. */
#define STREAM_REC_OPTIONAL	0x80000000u

/* Primary -> backup. */
#define STREAM_REC_EPOCH_BEGIN	0x00000001u
#define STREAM_REC_PAGE_BATCH	0x00000002u
#define STREAM_REC_GUEST_STATE	0x00000003u
#define STREAM_REC_DEVICE_STATE	0x00000004u
#define STREAM_REC_DISK_WRITE	0x00000005u
#define STREAM_REC_EPOCH_END	0x00000006u
#define STREAM_REC_HEARTBEAT	0x00000007u
#define STREAM_REC_END		0x00000008u
#define STREAM_REC_HELLO	0x00000009u	/* first record, once */
#define STREAM_REC_SWITCHOVER	0x0000000Au	/* planned switchover: activate
						 * after the final epoch */
#define STREAM_REC_COOKIE	0x0000000Bu	/* after HELLO: the prepare's
						 * cookie (docs/control.md) */
#define STREAM_REC_DISKS	0x0000000Cu	/* after HELLO, before the first
						 * epoch: the replicated disks */
/* Backup -> primary (the back channel). */
#define STREAM_REC_READY	0x00000101u
#define STREAM_REC_ACK		0x00000102u
#define STREAM_REC_BC_HEARTBEAT	0x00000103u
#define STREAM_REC_ERROR	0x00000104u
#define STREAM_REC_WELCOME	0x00000105u	/* before READY, once */
#define STREAM_REC_PAGE_HASHES	0x00000106u	/* after WELCOME(HASHES), before READY */
#define STREAM_REC_ACTIVATED	0x00000107u	/* switchover done: the guest
						 * runs on the backup */

#define STREAM_EPOCH_FULL	(1u << 0)	/* EPOCH_BEGIN flag: all pages */
/* The first epoch of a session whose backup sent PAGE_HASHES: only the
 * pages whose hash differed (and those dirtied meanwhile); the others keep
 * the resumed replica's content.  Never with FULL, never later. */
#define STREAM_EPOCH_RESYNC	(1u << 1)
#define STREAM_EPOCH_FLAGS_KNOWN (STREAM_EPOCH_FULL | STREAM_EPOCH_RESYNC)

struct stream_epoch_begin {
	uint64_t	epoch;		/* first >= 1 (FULL), then strictly +1 */
	uint32_t	flags;		/* STREAM_EPOCH_*; other bits must be 0 */
	uint32_t	reserved;	/* must be 0 */
};
_Static_assert(sizeof(struct stream_epoch_begin) == 16, "epoch_begin is 16 bytes");

/* PAGE_BATCH body: this header, COUNT stream_page entries, then the page
 * data of each entry concatenated in entry order (no per-page padding).
 * Body length == 8 + 16 * count + sum(entry lengths). */
#define STREAM_BATCH_MAX	1024u

struct stream_page_batch {
	uint32_t	count;		/* 1 .. STREAM_BATCH_MAX */
	uint32_t	reserved;	/* must be 0 */
};
_Static_assert(sizeof(struct stream_page_batch) == 8, "page_batch is 8 bytes");

enum stream_page_enc {
	STREAM_ENC_ZERO = 0,	/* length 0: the page is all zero */
	STREAM_ENC_RAW = 1,	/* length page_size */
	STREAM_ENC_LZ4 = 2,	/* LZ4 block of the page; 1 .. page_size - 1 */
	STREAM_ENC_XOR_LZ4 = 3,	/* LZ4 block of (page XOR backup's copy) */
	STREAM_ENC_XOR_RLE = 4,	/* run-coded XOR delta, 0 .. page_size - 1
				 * (0: unchanged), see the spec */
	STREAM_ENC_MAX
};

struct stream_page {
	uint64_t	pfn;		/* < nr_pages */
	uint32_t	length;		/* bytes of data for this page */
	uint16_t	encoding;	/* enum stream_page_enc */
	uint16_t	reserved;	/* must be 0 */
};
_Static_assert(sizeof(struct stream_page) == 16, "stream_page is 16 bytes");

/* DISK_WRITE body: this header, then LENGTH data bytes for WRITE. */
#define STREAM_DISK_WRITE	0u
#define STREAM_DISK_ZERO	1u	/* no data bytes */
#define STREAM_DISK_TRIM	2u	/* no data bytes */
#define STREAM_DISK_OP_MAX	3u
#define STREAM_DISK_FLAG_FUA	(1u << 0)
#define STREAM_DISK_FLAGS_KNOWN	(STREAM_DISK_FLAG_FUA)

struct stream_disk_write {
	uint64_t	offset;		/* bytes; offset + length <= the
					 * disk's size (DISKS) */
	uint32_t	length;		/* bytes affected, >= 1 */
	uint16_t	disk;		/* index into DISKS' entries */
	uint8_t		op;		/* STREAM_DISK_* */
	uint8_t		flags;		/* STREAM_DISK_FLAG_*; others 0 */
};
_Static_assert(sizeof(struct stream_disk_write) == 16, "disk_write is 16 bytes");

/* DEVICE_STATE (only in a stream with STREAM_FEAT_DEVICE_MODEL, exactly
 * one in every epoch): the guest's device model as it was while the guest
 * was suspended for this epoch, so that the backup never commits memory
 * without the emulated devices that go with it.  The state follows the
 * header, at least one byte; its layout is the kind's. */
#define STREAM_DEVSTATE_QEMU	1u	/* QEMU's xen-save-devices-state file:
					 * a "QEVM" migration stream without
					 * RAM, as libxl's EMULATOR_CONTEXT */
#define STREAM_DEVSTATE_KIND_MAX STREAM_DEVSTATE_QEMU
/* How the state is carried: as it is, or packed (le32 raw length, then
 * one LZ4 block: codec_blob_pack) -- QEMU's state is mostly zeros. */
#define STREAM_DEVSTATE_RAW	0u
#define STREAM_DEVSTATE_LZ4	1u
#define STREAM_DEVSTATE_ENC_MAX	STREAM_DEVSTATE_LZ4

struct stream_device_state {
	uint32_t	kind;		/* STREAM_DEVSTATE_* */
	uint32_t	encoding;	/* STREAM_DEVSTATE_RAW, _LZ4 */
};
_Static_assert(sizeof(struct stream_device_state) == 8,
    "device_state is 8 bytes");

/* EPOCH_END: CRC32C over every byte (headers, bodies, padding) from the
 * EPOCH_BEGIN record header up to, not including, this record's header;
 * NR_RECORDS counts those records, EPOCH_BEGIN included.  The backup
 * applies epoch N only when this validates. */
struct stream_epoch_end {
	uint64_t	epoch;		/* == the open epoch */
	uint32_t	nr_records;
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_epoch_end) == 16, "epoch_end is 16 bytes");

/* Small control records outside epochs carry their own CRC32C: over the
 * record header (8 bytes) and the 12 body bytes before the crc field.
 * HEARTBEAT, END, READY, ACK, BC_HEARTBEAT, SWITCHOVER, ACTIVATED. */
struct stream_ctl {
	uint64_t	value;		/* HEARTBEAT/BC_HEARTBEAT: sequence;
					 * END: last epoch sent (0: none);
					 * ACK: epoch; READY: STREAM_VERSION;
					 * SWITCHOVER: the final epoch (the
					 * last closed one); ACTIVATED: the
					 * epoch the guest runs from */
	uint32_t	reserved;	/* must be 0 */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_ctl) == 16, "stream_ctl is 16 bytes");

/* ERROR body: this header, then 1 .. STREAM_ERROR_REASON_MAX bytes of
 * UTF-8 reason text (no NUL, no control characters).  crc is CRC32C of
 * the record header, CODE and the reason (padding excluded). */
#define STREAM_ERROR_REASON_MAX	1024u
struct stream_error {
	uint32_t	code;		/* errno-style */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_error) == 8, "stream_error is 8 bytes");

/* ---- The handshake ----------------------------------------------- */

/* HELLO (primary -> backup, the first record after the header): who the
 * guest is and the timing the primary proposes (docs/failover.md).  Its
 * CRC32C covers the record header and the body before the crc field. */
#define STREAM_NAME_LEN		64
/* HELLO features (offers). */
#define STREAM_HELLO_RESYNC	(1u << 0)	/* takes PAGE_HASHES, sends a
						 * RESYNC first epoch */
#define STREAM_HELLO_FEATURES_KNOWN (STREAM_HELLO_RESYNC)
/* HELLO flags (demands: a bit the backup does not know is an error). */
#define STREAM_HELLO_NO_GUARDIAN (1u << 0)	/* remus -e: the activated guest
						 * gets no guardian (xl's -e) */
#define STREAM_HELLO_FLAGS_KNOWN (STREAM_HELLO_NO_GUARDIAN)
#define STREAM_TIMEOUT_MAX	3600000u	/* ms: T, H, F at most an hour */

struct stream_hello {
	char		name[STREAM_NAME_LEN];	/* guest name, NUL-padded */
	uint32_t	timeout_ms;	/* proposed T: the longest it accepts */
	uint32_t	hb_ms;		/* proposed H, 1 .. timeout_ms */
	uint32_t	features;	/* STREAM_HELLO_*: what it can do;
					 * bits a backup does not know it
					 * ignores (an offer, not a demand) */
	uint32_t	flags;		/* STREAM_HELLO_NO_GUARDIAN...: what
					 * it asks; other bits must be 0 */
	uint32_t	reserved;	/* must be 0 */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_hello) == 88, "stream_hello is 88 bytes");

/* WELCOME (backup -> primary, before READY): what the backup agreed to.
 * CRC as HELLO's. */
#define STREAM_WELCOME_FENCES	(1u << 0)	/* it runs a fence command */
/* It resumes the committed replica of resume_epoch: PAGE_HASHES of all
 * nr_pages pages follow, before READY.  Only when HELLO offered
 * STREAM_HELLO_RESYNC, and only with resume_epoch != 0. */
#define STREAM_WELCOME_HASHES	(1u << 1)
#define STREAM_WELCOME_FLAGS_KNOWN (STREAM_WELCOME_FENCES | STREAM_WELCOME_HASHES)

struct stream_welcome {
	uint64_t	resume_epoch;	/* committed replica of this guest the
					 * backup holds (0: none) */
	uint32_t	timeout_ms;	/* agreed T (the backup's -t) */
	uint32_t	hb_ms;		/* agreed H, 1 .. timeout_ms */
	uint32_t	fence_ms;	/* F; 0 iff not FENCES */
	uint32_t	flags;		/* STREAM_WELCOME_*; others must be 0 */
	uint32_t	reserved;	/* must be 0 */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_welcome) == 32, "stream_welcome is 32 bytes");

/* PAGE_HASHES (backup -> primary, after a WELCOME with HASHES, before
 * READY): this header, then COUNT hashes of STREAM_HASH_LEN bytes, one per
 * page FIRST .. FIRST + COUNT - 1 of the resumed replica, in pfn order.
 * Each is XXH3-128 (seed 0) of the page: the low 64 bits then the high 64
 * bits, each little-endian.  Records cover 0 .. nr_pages - 1 in order,
 * without gaps or overlap.  The CRC32C covers the record header, FIRST,
 * COUNT and the hashes (a flipped bit must not make a differing page
 * look equal). */
#define STREAM_HASH_LEN		16u
#define STREAM_HASHES_MAX	4096u	/* hashes per record: 64 KiB */

struct stream_page_hashes {
	uint64_t	first;		/* pfn of the first hash */
	uint32_t	count;		/* 1 .. STREAM_HASHES_MAX */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_page_hashes) == 16, "page_hashes is 16 bytes");
/* COOKIE (primary -> backup, after HELLO, before the first epoch, at
 * most once): the cookie remusd's prepare handed out, so that the session
 * is the one it reserved.  CRC as HELLO's. */
#define STREAM_COOKIE_LEN	16
struct stream_cookie {
	uint8_t		cookie[STREAM_COOKIE_LEN];
	uint32_t	reserved;	/* must be 0 */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_cookie) == 24, "stream_cookie is 24 bytes");

/* DISKS (primary -> backup, after HELLO, before the first epoch, at most
 * once; none: no disk is replicated): this header, then COUNT entries,
 * disk index 0 .. COUNT - 1 in order.  DISK_WRITE's disk is such an index
 * and its range lies inside that disk's size.  The backup matches each
 * entry to its own image by NAME (an unnamed one only when each side has
 * one disk).  The CRC32C covers the record header, COUNT and the entries.
 * NAME: 0 .. 23 of A-Z a-z 0-9 _ . - (not starting with . or -),
 * NUL-padded; empty only when COUNT is 1; unique. */
#define STREAM_DISK_NAME_LEN	24
#define STREAM_DISKS_MAX	16
struct stream_disks {
	uint32_t	count;		/* 1 .. STREAM_DISKS_MAX */
	uint32_t	crc;
};
_Static_assert(sizeof(struct stream_disks) == 8, "stream_disks is 8 bytes");
struct stream_disk_desc {
	char		name[STREAM_DISK_NAME_LEN];	/* NUL-padded */
	uint64_t	size;		/* bytes, >= 1 */
};
_Static_assert(sizeof(struct stream_disk_desc) == 32, "disk_desc is 32 bytes");

#endif /* REMUS_STREAM_FORMAT_H */
