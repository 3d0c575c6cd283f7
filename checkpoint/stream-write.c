/* checkpoint/stream-write.c -- the stream writer.
 *
 * Records are appended to one growable buffer the caller sends from and
 * drains.  The epoch CRC and record count are kept here as records are
 * completed, so draining never disturbs them.  The writer refuses (EINVAL)
 * anything the reader would reject, so a writer bug shows up at the
 * primary, not as a failover at the backup.
 *
 * Page batches.  On the wire a batch is header, all COUNT entries, then
 * all data, but the engine hands pages one at a time and does not know
 * COUNT in advance.  Buffering entries and data apart and assembling at
 * batch end would copy every data byte twice.  Instead, opening a batch
 * reserves room for the maximum number of entries (16 KiB) and page data
 * is appended right after that gap, each entry written into its final
 * slot.  A full batch (the common case for big epochs) then needs no move
 * at all; a shorter one moves only its data down over the unused entry
 * slots once, at close (at most STREAM_WRITER_BATCH_BYTES, once per
 * batch).  stream_write_page_reserve lets the codec encode straight into
 * that spot, so a page's data is written exactly once.
 *
 * The batch is CRCed when it is closed, in one pass over the finished
 * record, because its bytes are not final before then.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define RHDR		sizeof(struct stream_rhdr)
#define BATCH_HDR	(RHDR + sizeof(struct stream_page_batch))
#define ENTRY		sizeof(struct stream_page)
#define BATCH_GAP	(BATCH_HDR + STREAM_BATCH_MAX * ENTRY)
#define BUF_MIN		(64u << 10)

static void
st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void
st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void
st64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static size_t
pad8(size_t n)
{
	return (n + STREAM_REC_ALIGN - 1) & ~(size_t)(STREAM_REC_ALIGN - 1);
}

static int
einval(void)
{
	errno = EINVAL;
	return -1;
}

/* Make room for EXTRA more bytes; doubles, so appends are amortised O(1). */
static int
reserve(struct stream_writer *w, size_t extra)
{
	size_t want = w->len + extra, cap = w->cap ? w->cap : BUF_MIN;
	uint8_t *nb;

	if (want <= w->cap)
		return 0;
	while (cap < want) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	nb = realloc(w->buf, cap);
	if (nb == NULL)
		return -1;
	w->buf = nb;
	w->cap = cap;
	return 0;
}

void
stream_writer_init(struct stream_writer *w, uint32_t page_size)
{
	memset(w, 0, sizeof(*w));
	w->page_size = page_size;
}

void
stream_writer_free(struct stream_writer *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

size_t
stream_writer_ready(const struct stream_writer *w)
{
	return w->batch_open ? w->batch_off : w->len;
}

void
stream_writer_consume(struct stream_writer *w, size_t n)
{
	if (n > stream_writer_ready(w))
		n = stream_writer_ready(w);
	if (n == 0)
		return;
	memmove(w->buf, w->buf + n, w->len - n);
	w->len -= n;
	if (w->batch_open)
		w->batch_off -= n;
}

void
stream_writer_drain(struct stream_writer *w)
{
	stream_writer_consume(w, stream_writer_ready(w));
}

/* Start a record of body LENGTH at buf + len: header written, padding
 * zeroed; the caller fills the body and calls finish_record. */
static uint8_t *
start_record(struct stream_writer *w, uint32_t type, uint32_t length)
{
	size_t total = RHDR + pad8(length);
	uint8_t *p;

	if (reserve(w, total) == -1)
		return NULL;
	p = w->buf + w->len;
	st32(p, type);
	st32(p + 4, length);
	memset(p + RHDR + length, 0, total - RHDR - length);
	return p;
}

static void
finish_record(struct stream_writer *w, uint32_t length)
{
	size_t total = RHDR + pad8(length);

	if (w->in_epoch) {
		w->crc = stream_crc32c(w->crc, w->buf + w->len, total);
		w->nr_records++;
	}
	w->len += total;
}

static int
close_batch(struct stream_writer *w)
{
	size_t data_from, data_to, body;
	uint8_t *p;

	if (!w->batch_open)
		return 0;
	w->batch_open = 0;
	w->reserved_page = 0;
	if (w->batch_count == 0) {
		w->len = w->batch_off;	/* opened by a failed page: drop */
		return 0;
	}
	data_from = w->batch_off + BATCH_GAP;
	data_to = w->batch_off + BATCH_HDR + (size_t)w->batch_count * ENTRY;
	if (data_to != data_from)
		memmove(w->buf + data_to, w->buf + data_from, w->batch_data);
	body = sizeof(struct stream_page_batch) +
	    (size_t)w->batch_count * ENTRY + w->batch_data;
	p = w->buf + w->batch_off;
	st32(p, STREAM_REC_PAGE_BATCH);
	st32(p + 4, (uint32_t)body);
	st32(p + RHDR + offsetof(struct stream_page_batch, count),
	    w->batch_count);
	st32(p + RHDR + offsetof(struct stream_page_batch, reserved), 0);
	/* reserve() in page_reserve kept 8 spare bytes for this padding. */
	memset(p + RHDR + body, 0, pad8(body) - body);
	w->len = w->batch_off;
	finish_record(w, (uint32_t)body);
	w->batch_count = 0;
	w->batch_data = 0;
	return 0;
}

int
stream_write_batch_end(struct stream_writer *w)
{
	return close_batch(w);
}

static int
driver_ok(const char *d)
{
	size_t n = strnlen(d, STREAM_DRIVER_LEN + 1);

	if (n == 0 || n > STREAM_DRIVER_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x21 || d[i] > 0x7e)
			return 0;
	return 1;
}

int
stream_write_header(struct stream_writer *w,
    const struct stream_header_info *info)
{
	const size_t hlen = sizeof(struct stream_hdr);
	size_t total;
	uint8_t *p;
	uint32_t crc;

	if (w->len != 0 || w->epoch != 0 || w->ended ||
	    info->page_size != w->page_size ||
	    w->page_size < STREAM_PAGE_SIZE_MIN ||
	    w->page_size > STREAM_PAGE_SIZE_MAX ||
	    (w->page_size & (w->page_size - 1)) != 0 ||
	    (info->features & ~STREAM_FEAT_KNOWN) != 0 ||
	    info->nr_pages == 0 || info->nr_pages > STREAM_NR_PAGES_MAX ||
	    !driver_ok(info->driver) || info->config_len > STREAM_CONFIG_MAX ||
	    (info->config_len > 0 && info->config == NULL))
		return einval();
	total = hlen + pad8(info->config_len);
	if (reserve(w, total) == -1)
		return -1;
	p = w->buf + w->len;
	memset(p, 0, total);
	memcpy(p, STREAM_MAGIC, STREAM_MAGIC_LEN);
	st32(p + offsetof(struct stream_hdr, version), STREAM_VERSION);
	st32(p + offsetof(struct stream_hdr, byte_order), STREAM_BYTE_ORDER);
	st32(p + offsetof(struct stream_hdr, page_size), info->page_size);
	st32(p + offsetof(struct stream_hdr, features), info->features);
	st64(p + offsetof(struct stream_hdr, nr_pages), info->nr_pages);
	memcpy(p + offsetof(struct stream_hdr, driver), info->driver,
	    strnlen(info->driver, STREAM_DRIVER_LEN));
	st32(p + offsetof(struct stream_hdr, config_len), info->config_len);
	if (info->config_len > 0)
		memcpy(p + hlen, info->config, info->config_len);
	crc = stream_crc32c(0, p, total);	/* crc field is still 0 */
	st32(p + offsetof(struct stream_hdr, crc), crc);
	w->len += total;
	w->nr_pages = info->nr_pages;
	w->features = info->features;
	w->hello_due = 1;
	return 0;
}

int
stream_write_epoch_begin(struct stream_writer *w, uint64_t epoch,
    uint32_t flags)
{
	uint8_t *p;

	if (w->in_epoch || w->ended || w->hello_due || w->switchover || epoch == 0 ||
	    (flags & ~STREAM_EPOCH_FLAGS_KNOWN) != 0 ||
	    (w->epoch == 0 && (flags & (STREAM_EPOCH_FULL |
	    STREAM_EPOCH_RESYNC)) == 0) ||
	    (flags & STREAM_EPOCH_FULL && flags & STREAM_EPOCH_RESYNC) ||
	    (w->epoch != 0 && (epoch != w->epoch + 1 ||
	    (flags & STREAM_EPOCH_RESYNC) != 0)))
		return einval();
	p = start_record(w, STREAM_REC_EPOCH_BEGIN,
	    sizeof(struct stream_epoch_begin));
	if (p == NULL)
		return -1;
	st64(p + RHDR + offsetof(struct stream_epoch_begin, epoch), epoch);
	st32(p + RHDR + offsetof(struct stream_epoch_begin, flags), flags);
	st32(p + RHDR + offsetof(struct stream_epoch_begin, reserved), 0);
	w->in_epoch = 1;
	w->epoch = epoch;
	w->devstate_sent = 0;
	w->crc = 0;
	w->nr_records = 0;
	finish_record(w, sizeof(struct stream_epoch_begin));
	return 0;
}

static int
page_ok(const struct stream_writer *w, uint64_t pfn, uint16_t enc,
    uint32_t len)
{
	if (!w->in_epoch)
		return 0;
	if (w->nr_pages != 0 && pfn >= w->nr_pages)
		return 0;
	switch (enc) {
	case STREAM_ENC_ZERO:
		return len == 0;
	case STREAM_ENC_RAW:
		return len == w->page_size;
	case STREAM_ENC_LZ4:
	case STREAM_ENC_XOR_LZ4:
	case STREAM_ENC_XOR_RLE:
		/* With a header written, compression needs its feature. */
		if (w->nr_pages != 0 && (w->features & STREAM_FEAT_COMPRESS) == 0)
			return 0;
		return (len > 0 || enc == STREAM_ENC_XOR_RLE) &&
		    len < w->page_size;
	default:
		return 0;
	}
}

void *
stream_write_page_reserve(struct stream_writer *w, uint32_t maxlen)
{
	if (!w->in_epoch || maxlen > w->page_size) {
		errno = EINVAL;
		return NULL;
	}
	if (w->batch_open && (w->batch_count == STREAM_BATCH_MAX ||
	    w->batch_data + maxlen > STREAM_WRITER_BATCH_BYTES))
		close_batch(w);
	if (!w->batch_open) {
		if (reserve(w, BATCH_GAP) == -1)
			return NULL;
		w->batch_off = w->len;
		w->len += BATCH_GAP;
		w->batch_open = 1;
		w->batch_count = 0;
		w->batch_data = 0;
	}
	/* + 8: room for the batch's padding at close. */
	if (reserve(w, (size_t)maxlen + STREAM_REC_ALIGN) == -1)
		return NULL;
	w->reserved_page = 1;
	w->reserve_len = maxlen;
	return w->buf + w->len;
}

int
stream_write_page_commit(struct stream_writer *w, uint64_t pfn,
    uint16_t enc, uint32_t len)
{
	uint8_t *e;

	if (!w->reserved_page || len > w->reserve_len ||
	    !page_ok(w, pfn, enc, len)) {
		w->reserved_page = 0;
		return einval();
	}
	w->reserved_page = 0;
	e = w->buf + w->batch_off + BATCH_HDR + (size_t)w->batch_count * ENTRY;
	st64(e + offsetof(struct stream_page, pfn), pfn);
	st32(e + offsetof(struct stream_page, length), len);
	st16(e + offsetof(struct stream_page, encoding), enc);
	st16(e + offsetof(struct stream_page, reserved), 0);
	w->len += len;
	w->batch_data += len;
	w->batch_count++;
	return 0;
}

int
stream_write_page(struct stream_writer *w, uint64_t pfn, uint16_t enc,
    const void *data, uint32_t len)
{
	void *p;

	if (!page_ok(w, pfn, enc, len))
		return einval();
	p = stream_write_page_reserve(w, len);
	if (p == NULL)
		return -1;
	if (len > 0)
		memcpy(p, data, len);
	return stream_write_page_commit(w, pfn, enc, len);
}

static int
defined_type(uint32_t t)
{
	return (t >= STREAM_REC_EPOCH_BEGIN && t <= STREAM_REC_DISKS) ||
	    (t >= STREAM_REC_READY && t <= STREAM_REC_ACTIVATED);
}

int
stream_write_blob(struct stream_writer *w, uint32_t type, const void *data,
    uint32_t len)
{
	uint8_t *p;

	if (w->ended || w->hello_due || len > STREAM_REC_LENGTH_MAX ||
	    (len > 0 && data == NULL))
		return einval();
	if (type == STREAM_REC_GUEST_STATE) {
		if (!w->in_epoch)
			return einval();
	} else if ((type & STREAM_REC_OPTIONAL) == 0 ||
	    defined_type(type & ~STREAM_REC_OPTIONAL)) {
		return einval();
	}
	close_batch(w);
	p = start_record(w, type, len);
	if (p == NULL)
		return -1;
	if (len > 0)
		memcpy(p + RHDR, data, len);
	finish_record(w, len);
	return 0;
}

int
stream_write_device_state(struct stream_writer *w, uint32_t kind,
    uint32_t encoding, const void *data, uint32_t len)
{
	const uint32_t hl = sizeof(struct stream_device_state);
	uint8_t *p;

	if (!w->in_epoch || w->devstate_sent ||
	    (w->features & STREAM_FEAT_DEVICE_MODEL) == 0 ||
	    kind == 0 || kind > STREAM_DEVSTATE_KIND_MAX ||
	    encoding > STREAM_DEVSTATE_ENC_MAX || len == 0 ||
	    (encoding == STREAM_DEVSTATE_LZ4 && len < 5) ||
	    data == NULL || len > STREAM_REC_LENGTH_MAX - hl)
		return einval();
	close_batch(w);
	p = start_record(w, STREAM_REC_DEVICE_STATE, hl + len);
	if (p == NULL)
		return -1;
	st32(p + RHDR + offsetof(struct stream_device_state, kind), kind);
	st32(p + RHDR + offsetof(struct stream_device_state, encoding),
	    encoding);
	memcpy(p + RHDR + hl, data, len);
	finish_record(w, hl + len);
	w->devstate_sent = 1;
	return 0;
}

int
stream_write_disk(struct stream_writer *w, const struct stream_disk_write *dw,
    const void *data)
{
	uint32_t dlen = dw->op == STREAM_DISK_WRITE ? dw->length : 0;
	uint32_t length;
	uint8_t *p;

	if (!w->in_epoch || dw->op >= STREAM_DISK_OP_MAX ||
	    (dw->flags & ~STREAM_DISK_FLAGS_KNOWN) != 0 || dw->length == 0 ||
	    dw->offset > UINT64_MAX - dw->length ||
	    dlen > STREAM_REC_LENGTH_MAX - sizeof(*dw) ||
	    (dlen > 0 && data == NULL) || dw->disk >= w->nr_disks ||
	    dw->offset + dw->length > w->disk_size[dw->disk])
		return einval();
	close_batch(w);
	length = sizeof(*dw) + dlen;
	p = start_record(w, STREAM_REC_DISK_WRITE, length);
	if (p == NULL)
		return -1;
	p += RHDR;
	st64(p + offsetof(struct stream_disk_write, offset), dw->offset);
	st32(p + offsetof(struct stream_disk_write, length), dw->length);
	st16(p + offsetof(struct stream_disk_write, disk), dw->disk);
	p[offsetof(struct stream_disk_write, op)] = dw->op;
	p[offsetof(struct stream_disk_write, flags)] = dw->flags;
	if (dlen > 0)
		memcpy(p + sizeof(*dw), data, dlen);
	finish_record(w, length);
	return 0;
}

int
stream_write_epoch_end(struct stream_writer *w)
{
	uint8_t *p;

	if (!w->in_epoch || (!w->devstate_sent &&
	    (w->features & STREAM_FEAT_DEVICE_MODEL) != 0))
		return einval();
	close_batch(w);
	p = start_record(w, STREAM_REC_EPOCH_END, sizeof(struct stream_epoch_end));
	if (p == NULL)
		return -1;
	st64(p + RHDR + offsetof(struct stream_epoch_end, epoch), w->epoch);
	st32(p + RHDR + offsetof(struct stream_epoch_end, nr_records),
	    w->nr_records);
	st32(p + RHDR + offsetof(struct stream_epoch_end, crc), w->crc);
	w->in_epoch = 0;	/* EPOCH_END is outside its own CRC */
	finish_record(w, sizeof(struct stream_epoch_end));
	return 0;
}

int
stream_write_ctl(struct stream_writer *w, uint32_t type, uint64_t value)
{
	const size_t crc_off = RHDR + offsetof(struct stream_ctl, crc);
	uint8_t *p;

	switch (type) {
	case STREAM_REC_END:
		value = w->epoch;
		break;
	case STREAM_REC_READY:
		/* After WELCOME; after every hash it announced (the writer
		 * of the back channel knows nr_pages from hashes_due). */
		if (!w->welcome_sent || w->hashes_due)
			return einval();
		value = STREAM_VERSION;
		break;
	case STREAM_REC_SWITCHOVER:
		if (w->epoch == 0 || w->switchover)
			return einval();
		value = w->epoch;
		break;
	case STREAM_REC_HEARTBEAT:
	case STREAM_REC_ACK:
	case STREAM_REC_BC_HEARTBEAT:
	case STREAM_REC_ACTIVATED:
		break;
	default:
		return einval();
	}
	if (w->in_epoch || w->ended || w->hello_due)
		return einval();
	/* After SWITCHOVER the primary only keeps the link alive. */
	if (w->switchover && type != STREAM_REC_HEARTBEAT)
		return einval();
	p = start_record(w, type, sizeof(struct stream_ctl));
	if (p == NULL)
		return -1;
	st64(p + RHDR + offsetof(struct stream_ctl, value), value);
	st32(p + RHDR + offsetof(struct stream_ctl, reserved), 0);
	st32(p + crc_off, stream_crc32c(0, p, crc_off));
	finish_record(w, sizeof(struct stream_ctl));
	if (type == STREAM_REC_END || type == STREAM_REC_ACTIVATED)
		w->ended = 1;
	if (type == STREAM_REC_SWITCHOVER)
		w->switchover = 1;
	return 0;
}

/* A name for HELLO: what a log line can print, as in the header's driver
 * but spaces allowed (a Xen domain name may have them). */
static int
name_ok(const char *name)
{
	size_t n = strnlen(name, STREAM_NAME_LEN + 1);

	if (n == 0 || n > STREAM_NAME_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return 0;
	return 1;
}

static int
timing_ok(uint32_t timeout_ms, uint32_t hb_ms)
{
	return timeout_ms >= 1 && timeout_ms <= STREAM_TIMEOUT_MAX &&
	    hb_ms >= 1 && hb_ms <= timeout_ms;
}

int
stream_write_hello(struct stream_writer *w, const char *name,
    uint32_t timeout_ms, uint32_t hb_ms, uint32_t features, uint32_t flags)
{
	const size_t crc_off = RHDR + offsetof(struct stream_hello, crc);
	uint8_t *p;

	if (!w->hello_due || !name_ok(name) || !timing_ok(timeout_ms, hb_ms) ||
	    (flags & ~STREAM_HELLO_FLAGS_KNOWN) != 0)
		return einval();
	p = start_record(w, STREAM_REC_HELLO, sizeof(struct stream_hello));
	if (p == NULL)
		return -1;
	memset(p + RHDR, 0, sizeof(struct stream_hello));
	memcpy(p + RHDR + offsetof(struct stream_hello, name), name,
	    strlen(name));
	st32(p + RHDR + offsetof(struct stream_hello, timeout_ms), timeout_ms);
	st32(p + RHDR + offsetof(struct stream_hello, hb_ms), hb_ms);
	st32(p + RHDR + offsetof(struct stream_hello, features), features);
	st32(p + RHDR + offsetof(struct stream_hello, flags), flags);
	st32(p + crc_off, stream_crc32c(0, p, crc_off));
	finish_record(w, sizeof(struct stream_hello));
	w->hello_due = 0;
	return 0;
}

int
stream_write_cookie(struct stream_writer *w,
    const uint8_t cookie[STREAM_COOKIE_LEN])
{
	const size_t crc_off = RHDR + offsetof(struct stream_cookie, crc);
	uint8_t *p;

	/* Before the first epoch, or (a switchover's) between epochs,
	 * followed by SWITCHOVER: once each. */
	if (w->hello_due || w->nr_pages == 0 || w->in_epoch || w->ended ||
	    w->switchover || (w->epoch == 0 ? w->cookie_sent :
	    w->so_cookie_sent))
		return einval();
	p = start_record(w, STREAM_REC_COOKIE, sizeof(struct stream_cookie));
	if (p == NULL)
		return -1;
	memset(p + RHDR, 0, sizeof(struct stream_cookie));
	memcpy(p + RHDR, cookie, STREAM_COOKIE_LEN);
	st32(p + crc_off, stream_crc32c(0, p, crc_off));
	finish_record(w, sizeof(struct stream_cookie));
	if (w->epoch == 0)
		w->cookie_sent = 1;
	else
		w->so_cookie_sent = 1;
	return 0;
}

int
stream_write_disks(struct stream_writer *w, const struct stream_disk_desc *d,
    uint32_t count)
{
	const size_t dh = sizeof(struct stream_disks);
	const size_t de = sizeof(struct stream_disk_desc);
	uint32_t i, j, length;
	uint8_t *p, *e;
	uint32_t crc;

	if (w->hello_due || w->nr_pages == 0 || w->epoch != 0 ||
	    w->in_epoch || w->ended || w->nr_disks != 0 || count == 0 ||
	    count > STREAM_DISKS_MAX)
		return einval();
	for (i = 0; i < count; i++) {
		if (memchr(d[i].name, '\0', STREAM_DISK_NAME_LEN) == NULL ||
		    !stream_disk_name_ok(d[i].name) || d[i].size == 0 ||
		    (d[i].name[0] == '\0' && count != 1))
			return einval();
		for (j = 0; j < i; j++)
			if (strcmp(d[i].name, d[j].name) == 0)
				return einval();
	}
	length = (uint32_t)(dh + count * de);
	p = start_record(w, STREAM_REC_DISKS, length);
	if (p == NULL)
		return -1;
	memset(p + RHDR, 0, length);
	st32(p + RHDR + offsetof(struct stream_disks, count), count);
	for (i = 0, e = p + RHDR + dh; i < count; i++, e += de) {
		memcpy(e + offsetof(struct stream_disk_desc, name), d[i].name,
		    strlen(d[i].name));
		st64(e + offsetof(struct stream_disk_desc, size), d[i].size);
		w->disk_size[i] = d[i].size;
	}
	crc = stream_crc32c(0, p, RHDR + offsetof(struct stream_disks, crc));
	crc = stream_crc32c(crc, p + RHDR + dh, length - dh);
	st32(p + RHDR + offsetof(struct stream_disks, crc), crc);
	finish_record(w, length);
	w->nr_disks = count;
	return 0;
}

int
stream_write_welcome(struct stream_writer *w, const struct stream_welcome *wl)
{
	const size_t crc_off = RHDR + offsetof(struct stream_welcome, crc);
	uint8_t *p;

	if (w->welcome_sent || w->ended || w->nr_pages != 0 ||
	    !timing_ok(wl->timeout_ms, wl->hb_ms) ||
	    wl->fence_ms > STREAM_TIMEOUT_MAX ||
	    (wl->flags & ~STREAM_WELCOME_FLAGS_KNOWN) != 0 ||
	    (wl->fence_ms != 0) != ((wl->flags & STREAM_WELCOME_FENCES) != 0) ||
	    ((wl->flags & STREAM_WELCOME_HASHES) != 0 &&
	    (wl->resume_epoch == 0 || w->nr_hashes == 0)))
		return einval();
	p = start_record(w, STREAM_REC_WELCOME, sizeof(struct stream_welcome));
	if (p == NULL)
		return -1;
	st64(p + RHDR + offsetof(struct stream_welcome, resume_epoch),
	    wl->resume_epoch);
	st32(p + RHDR + offsetof(struct stream_welcome, timeout_ms),
	    wl->timeout_ms);
	st32(p + RHDR + offsetof(struct stream_welcome, hb_ms), wl->hb_ms);
	st32(p + RHDR + offsetof(struct stream_welcome, fence_ms),
	    wl->fence_ms);
	st32(p + RHDR + offsetof(struct stream_welcome, flags), wl->flags);
	st32(p + RHDR + offsetof(struct stream_welcome, reserved), 0);
	st32(p + crc_off, stream_crc32c(0, p, crc_off));
	finish_record(w, sizeof(struct stream_welcome));
	w->welcome_sent = 1;
	if (wl->flags & STREAM_WELCOME_HASHES) {
		w->hashes_due = 1;
		w->hash_next = 0;
	}
	return 0;
}

void
stream_writer_set_hashes(struct stream_writer *w, uint64_t nr_pages)
{
	w->nr_hashes = nr_pages;
}

int
stream_write_page_hashes(struct stream_writer *w, uint64_t first,
    uint32_t count, const void *hashes)
{
	const size_t hh = sizeof(struct stream_page_hashes);
	uint32_t len = (uint32_t)(hh + (size_t)count * STREAM_HASH_LEN);
	uint32_t crc;
	uint8_t *p;

	if (!w->hashes_due || w->ended || count == 0 ||
	    count > STREAM_HASHES_MAX || first != w->hash_next ||
	    count > w->nr_hashes - first)
		return einval();
	p = start_record(w, STREAM_REC_PAGE_HASHES, len);
	if (p == NULL)
		return -1;
	st64(p + RHDR + offsetof(struct stream_page_hashes, first), first);
	st32(p + RHDR + offsetof(struct stream_page_hashes, count), count);
	memcpy(p + RHDR + hh, hashes, (size_t)count * STREAM_HASH_LEN);
	crc = stream_crc32c(0, p, RHDR +
	    offsetof(struct stream_page_hashes, crc));
	crc = stream_crc32c(crc, p + RHDR + hh, len - hh);
	st32(p + RHDR + offsetof(struct stream_page_hashes, crc), crc);
	finish_record(w, len);
	w->hash_next += count;
	if (w->hash_next == w->nr_hashes)
		w->hashes_due = 0;
	return 0;
}

int
stream_write_error(struct stream_writer *w, uint32_t code, const char *reason)
{
	const size_t eh = sizeof(struct stream_error);
	size_t rlen = strnlen(reason, STREAM_ERROR_REASON_MAX);
	uint32_t crc;
	uint8_t *p;

	if (w->in_epoch || w->ended || rlen == 0)
		return einval();
	for (size_t i = 0; i < rlen; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return einval();
	p = start_record(w, STREAM_REC_ERROR, (uint32_t)(eh + rlen));
	if (p == NULL)
		return -1;
	st32(p + RHDR + offsetof(struct stream_error, code), code);
	memcpy(p + RHDR + eh, reason, rlen);
	crc = stream_crc32c(0, p, RHDR + offsetof(struct stream_error, crc));
	crc = stream_crc32c(crc, p + RHDR + eh, rlen);
	st32(p + RHDR + offsetof(struct stream_error, crc), crc);
	finish_record(w, (uint32_t)(eh + rlen));
	w->ended = 1;
	return 0;
}
