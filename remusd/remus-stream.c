/* remusd/remus-stream.c -- look inside a stream capture (STYLE S3).
 *
 *   remus-stream [-v] [-B] dump FILE|-     one line per record
 *   remus-stream [-B] verify FILE|-        check against the spec
 *
 * A capture is the forward stream's bytes (header, then records) in a
 * file; with -B, a back-channel capture (records only).  verify prints
 * "ok: N epochs, M records, B bytes" and exits 0, or prints
 * "offset <n>: <reason>" for the first violation and exits 1, the way
 * Xen's verify-stream-v2 does.  Page data is decoded through the codec
 * into a page buffer, against an all-zero base page: this tool holds no
 * replica, so XOR encodings are checked for well-formedness only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "stream.h"
#ifdef REMUS_HAVE_CODEC
#include "codec.h"
#endif

#define READ_CHUNK	(1u << 20)

struct input {
	int		fd;
	const char	*name;
	uint8_t		*buf;
	size_t		off, len, cap;	/* unparsed bytes are buf[off, len) */
	int		eof;
};

struct tool {
	int		verbose;
	int		dump;
	enum stream_dir	dir;
	struct stream_reader r;
	uint64_t	nr_records, nr_skipped, nr_pages;
	uint64_t	epoch_begin_off;
	uint8_t		*zero_page, *out_page;
	int		have_end;
};

static const char usage_text[] =
"usage: remus-stream [-v] [-B] dump file|-\n"
"       remus-stream [-B] verify file|-\n";

static const char help_text[] =
"Read a capture of the remus stream (docs/stream-format.md).\n"
"\n"
"  dump file         one line per record (- = standard input)\n"
"  verify file       check it against the spec: \"ok: N epochs, ...\" or\n"
"                    \"offset N: reason\" for the first violation\n"
"  -B                a back-channel capture (records only, no header)\n"
"  -v                dump: more detail per record\n"
"  -h, --help        this text\n"
"\n"
"Exit status:\n"
"  0  the capture is well-formed (verify), or was dumped\n"
"  1  usage error (bad flag or argument), the file could not be read,\n"
"     or the capture violates the format\n";

static const struct option longopts[] = {
	{ "help",	no_argument,	NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One line naming what was wrong (getopt has printed its own for a bad
 * flag), status 1 as in every remus program. */
static __dead void
usage(const char *why)
{
	if (why)
		fprintf(stderr, "remus-stream: %s (see remus-stream --help)\n",
		    why);
	exit(1);
}

/* Make at least NEED unparsed bytes available, or as many as the input
 * has.  0, or -1 with errno set. */
static int
fill_input(struct input *in, size_t need)
{
	if (in->off > 0 && in->len - in->off < need) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	while (!in->eof && in->len - in->off < need) {
		ssize_t n;

		if (in->cap - in->len < READ_CHUNK) {
			size_t cap = in->cap ? in->cap : READ_CHUNK * 2;
			uint8_t *nb;

			while (cap - in->len < READ_CHUNK ||
			    cap - in->off < need)
				cap *= 2;
			nb = realloc(in->buf, cap);
			if (nb == NULL)
				return -1;
			in->buf = nb;
			in->cap = cap;
		}
		n = read(in->fd, in->buf + in->len, in->cap - in->len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			in->eof = 1;
		in->len += (size_t)n;
	}
	return 0;
}

static void
print_page(struct tool *t, uint64_t off, const struct stream_page *pg)
{
	const char *enc = stream_enc_name(pg->encoding);

	printf("    %" PRIu64 ": page pfn %" PRIu64 " %s len %" PRIu32 "\n",
	    off, pg->pfn, enc ? enc : "?", pg->length);
}

/* Decode every page of a validated batch.  0, or -1 after printing the
 * offending page's offset. */
static int
check_batch(struct tool *t, uint64_t rec_off, const struct stream_rec *rec)
{
	struct stream_batch_iter it;
	struct stream_page pg;
	const uint8_t *data;

	stream_batch_iter_init(&it, rec);
	while (stream_batch_next(&it, &pg, &data)) {
		uint64_t off = rec_off + (uint64_t)(data - rec->body) +
		    sizeof(struct stream_rhdr);

		t->nr_pages++;
		if (t->dump && t->verbose)
			print_page(t, off, &pg);
#ifdef REMUS_HAVE_CODEC
		if (codec_decode(pg.encoding, data, pg.length, t->zero_page,
		    t->out_page, t->r.page_size) == -1) {
			fflush(stdout);
			fprintf(stderr, "offset %" PRIu64 ": page pfn %" PRIu64
			    ": malformed %s data\n", off, pg.pfn,
			    stream_enc_name(pg.encoding));
			return -1;
		}
#endif
	}
	return 0;
}

static void
print_text(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			putchar('\\');
		putchar(s[i]);
	}
	putchar('"');
}

static void
dump_record(struct tool *t, uint64_t off, enum stream_status st,
    const struct stream_rec *rec)
{
	const char *name = stream_rec_name(rec->type);

	if (st == STREAM_SKIPPED) {
		printf("%" PRIu64 ": OPTIONAL 0x%08" PRIx32 " len %" PRIu32
		    " skipped\n", off, rec->type, rec->length);
		return;
	}
	printf("%" PRIu64 ": %s len %" PRIu32, off, name, rec->length);
	switch (rec->type) {
	case STREAM_REC_EPOCH_BEGIN:
		printf(" epoch %" PRIu64 " flags 0x%" PRIx32 "%s",
		    rec->u.begin.epoch, rec->u.begin.flags,
		    rec->u.begin.flags & STREAM_EPOCH_FULL ? " (full)" : "");
		break;
	case STREAM_REC_PAGE_BATCH: {
		size_t data = rec->length - sizeof(struct stream_page_batch) -
		    rec->u.batch.count * sizeof(struct stream_page);

		printf(" count %" PRIu32 " data %zu", rec->u.batch.count, data);
		break;
	}
	case STREAM_REC_DISK_WRITE: {
		static const char *const ops[] = { "write", "zero", "trim" };

		printf(" disk %u %s offset %" PRIu64 " length %" PRIu32
		    " flags 0x%x", rec->u.disk.disk, ops[rec->u.disk.op],
		    rec->u.disk.offset, rec->u.disk.length, rec->u.disk.flags);
		break;
	}
	case STREAM_REC_DEVICE_STATE:
		printf(" kind %" PRIu32 "%s%s state %" PRIu32,
		    rec->u.devstate.kind,
		    rec->u.devstate.kind == STREAM_DEVSTATE_QEMU ? " (qemu)" :
		    "", rec->u.devstate.encoding == STREAM_DEVSTATE_LZ4 ?
		    " lz4" : "", rec->u.devstate.len);
		break;
	case STREAM_REC_EPOCH_END:
		printf(" epoch %" PRIu64 " records %" PRIu32 " crc 0x%08" PRIx32,
		    rec->u.end.epoch, rec->u.end.nr_records, rec->u.end.crc);
		break;
	case STREAM_REC_HEARTBEAT:
	case STREAM_REC_BC_HEARTBEAT:
		printf(" seq %" PRIu64, rec->u.ctl.value);
		break;
	case STREAM_REC_END:
		printf(" last_epoch %" PRIu64, rec->u.ctl.value);
		break;
	case STREAM_REC_READY:
		printf(" version %" PRIu64, rec->u.ctl.value);
		break;
	case STREAM_REC_HELLO:
		printf(" name \"%s\" timeout %" PRIu32 " heartbeat %" PRIu32
		    " features 0x%" PRIx32 " flags 0x%" PRIx32 "%s",
		    rec->u.hello.name, rec->u.hello.timeout_ms,
		    rec->u.hello.hb_ms, rec->u.hello.features,
		    rec->u.hello.flags, rec->u.hello.flags &
		    STREAM_HELLO_NO_GUARDIAN ? " (no guardian)" : "");
		break;
	case STREAM_REC_DISKS:
		printf(" count %" PRIu32, rec->u.disks.count);
		for (uint32_t i = 0; i < rec->u.disks.count; i++)
			printf(" %" PRIu32 ":\"%s\":%" PRIu64, i,
			    rec->u.disks.name[i], rec->u.disks.size[i]);
		break;
	case STREAM_REC_WELCOME:
		printf(" timeout %" PRIu32 " heartbeat %" PRIu32 " fence %"
		    PRIu32 " flags 0x%" PRIx32 "%s resume_epoch %" PRIu64,
		    rec->u.welcome.timeout_ms, rec->u.welcome.hb_ms,
		    rec->u.welcome.fence_ms, rec->u.welcome.flags,
		    rec->u.welcome.flags & STREAM_WELCOME_FENCES ?
		    " (fences)" : "", rec->u.welcome.resume_epoch);
		break;
	case STREAM_REC_PAGE_HASHES:
		printf(" pfns %" PRIu64 "..%" PRIu64, rec->u.hashes.first,
		    rec->u.hashes.first + rec->u.hashes.count - 1);
		break;
	case STREAM_REC_ACK:
		printf(" epoch %" PRIu64, rec->u.ctl.value);
		break;
	case STREAM_REC_ERROR:
		printf(" code %" PRIu32 " reason ", rec->u.error.code);
		print_text(rec->u.error.reason, rec->u.error.reason_len);
		break;
	}
	putchar('\n');
}

static void
dump_header(const struct stream_header_info *hi, size_t used)
{
	printf("0: HEADER len %zu version %u page_size %" PRIu32
	    " nr_pages %" PRIu64 " features 0x%" PRIx32 "%s%s driver \"%s\""
	    " config %" PRIu32 "\n", used, STREAM_VERSION, hi->page_size,
	    hi->nr_pages, hi->features,
	    hi->features & STREAM_FEAT_COMPRESS ? " (compress)" : "",
	    hi->features & STREAM_FEAT_DEVICE_MODEL ? " (device model)" : "",
	    hi->driver, hi->config_len);
}

/* Explain a stream that stops short. */
static void
report_truncated(struct tool *t, const struct input *in, int header)
{
	size_t have = in->len - in->off;

	fflush(stdout);
	if (header) {
		fprintf(stderr, "offset 0: truncated (stream header needs %zu bytes, "
		    "%zu present)\n", t->r.need ? t->r.need :
		    sizeof(struct stream_hdr), have);
	} else if (have > 0) {
		uint32_t type = 0;
		const char *name;

		if (have >= 4)
			memcpy(&type, in->buf + in->off, 4);
		name = have >= 4 ? stream_rec_name(type) : NULL;
		fprintf(stderr, "offset %" PRIu64 ": truncated (%s record needs %zu "
		    "bytes, %zu present)\n", t->r.offset,
		    name ? name : "a", t->r.need, have);
	} else {
		fprintf(stderr, "offset %" PRIu64 ": truncated (epoch %" PRIu64
		    " begun at offset %" PRIu64 " has no EPOCH_END)\n",
		    t->r.offset, t->r.epoch, t->epoch_begin_off);
	}
}

static int
run(struct tool *t, struct input *in)
{
	struct stream_header_info hi;
	struct stream_rec rec;
	enum stream_status st;
	size_t used;
	int header = t->dir == STREAM_DIR_FORWARD;

	stream_reader_init(&t->r, t->dir);
	for (;;) {
		uint64_t off = t->r.offset;
		size_t have = in->len - in->off;

		if (header)
			st = stream_read_header(&t->r, in->buf + in->off, have,
			    &used, &hi);
		else
			st = stream_read_record(&t->r, in->buf + in->off, have,
			    &used, &rec);
		if (st == STREAM_NEED_MORE) {
			size_t need = t->r.need > have ? t->r.need : have + 1;

			if (in->eof) {
				if (have == 0 && !header && !t->r.in_epoch)
					break;	/* clean end of capture */
				report_truncated(t, in, header);
				return -1;
			}
			if (fill_input(in, need) == -1) {
				fprintf(stderr, "remus-stream: %s: %s\n",
				    in->name, strerror(errno));
				return -1;
			}
			continue;
		}
		if (st != STREAM_OK && st != STREAM_SKIPPED) {
			const char *name = NULL;

			if (!header && have >= 4) {
				uint32_t type;

				memcpy(&type, in->buf + in->off, 4);
				name = stream_rec_name(type);
			}
			fflush(stdout);
			fprintf(stderr, "offset %" PRIu64 ": %s%s%s\n", off,
			    header ? "stream header: " : name ? name : "",
			    !header && name ? ": " : "", stream_strerror(st));
			return -1;
		}
		in->off += used;
		if (header) {
			header = 0;
			if (t->dump)
				dump_header(&hi, used);
			t->zero_page = calloc(1, hi.page_size);
			t->out_page = malloc(hi.page_size);
			if (t->zero_page == NULL || t->out_page == NULL) {
				fprintf(stderr, "remus-stream: %s\n",
				    strerror(errno));
				return -1;
			}
			continue;
		}
		t->nr_records++;
		if (st == STREAM_SKIPPED)
			t->nr_skipped++;
		if (t->dump)
			dump_record(t, off, st, &rec);
		if (st == STREAM_OK && rec.type == STREAM_REC_EPOCH_BEGIN)
			t->epoch_begin_off = off;
		if (st == STREAM_OK && rec.type == STREAM_REC_END)
			t->have_end = 1;
		if (st == STREAM_OK && rec.type == STREAM_REC_PAGE_BATCH &&
		    check_batch(t, off, &rec) == -1)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct tool t = { .dir = STREAM_DIR_FORWARD };
	struct input in = { .fd = -1 };
	const char *cmd;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "vBh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			t.verbose++;
			break;
		case 'B':
			t.dir = STREAM_DIR_BACK;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return 0;
		default:
			usage(NULL);
		}
	}
	if (argc - optind != 2)
		usage("want a command (dump or verify) and a file");
	cmd = argv[optind];
	in.name = argv[optind + 1];
	if (strcmp(cmd, "dump") == 0)
		t.dump = 1;
	else if (strcmp(cmd, "verify") != 0)
		usage("want dump or verify");
	if (strcmp(in.name, "-") == 0) {
		in.fd = STDIN_FILENO;
		in.name = "stdin";
	} else if ((in.fd = open(in.name, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "remus-stream: %s: %s\n", in.name,
		    strerror(errno));
		return 1;
	}

	/* Never NULL, so buf + off is always defined. */
	in.cap = READ_CHUNK * 2;
	if ((in.buf = malloc(in.cap)) == NULL) {
		fprintf(stderr, "remus-stream: %s\n", strerror(errno));
		return 1;
	}
	rc = run(&t, &in);
	fflush(stdout);
	if (rc == 0 && !t.dump) {
		printf("ok: %" PRIu64 " epochs, %" PRIu64 " records, %" PRIu64
		    " bytes\n", t.r.nr_epochs, t.nr_records, t.r.offset);
		if (t.dir == STREAM_DIR_FORWARD && !t.have_end)
			fprintf(stderr, "remus-stream: note: no END record "
			    "(the primary stopped without a clean shutdown)\n");
	}
	free(in.buf);
	free(t.zero_page);
	free(t.out_page);
	if (in.fd > STDIN_FILENO)
		close(in.fd);
	return rc == 0 ? 0 : 1;
}
