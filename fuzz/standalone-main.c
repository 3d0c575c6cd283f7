/* fuzz/standalone-main.c -- replay inputs through the fuzz target with a
 * plain main(), so gcc builds run the corpus in every test run (STYLE F2).
 * Linked into one fuzz-<target>-replay per target.
 *
 *   fuzz-X-replay FILE|DIR...      run each file (DIR: each file in it)
 *   fuzz-X-replay --make-seeds DIR          the stream seeds (make-seeds.c)
 *   fuzz-X-replay --make-session-seeds DIR  the session seeds
 *   fuzz-X-replay --make-primary-seeds DIR  the primary seeds
 *
 * Exit 0 when every input ran (a crash aborts, as under libFuzzer);
 * 1 when an input could not be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as under libFuzzer. */
int	LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* In make-seeds.c, linked by the stream, session and primary targets
 * only: the small parsers' replays (ctl, xenpolicy) have no seeds to
 * make. */
int	stream_make_seeds(const char *dir) __attribute__((weak));
int	session_make_seeds(const char *dir) __attribute__((weak));
int	primary_make_seeds(const char *dir) __attribute__((weak));

static const char *prog = "fuzz-replay";

static int
run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL)
				goto err;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto err;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
err:
	fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
	close(fd);
	free(buf);
	return -1;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_path(const char *path, unsigned *count)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (stat(path, &sb) == -1) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn == NULL)
			break;
		names = nn;
		if (asprintf(&names[n], "%s/%s", path, de->d_name) == -1)
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);	/* stable order */
	for (size_t i = 0; i < n; i++) {
		(*count)++;
		if (run_file(names[i]) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;

	if (argv[0] != NULL)
		prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 :
		    argv[0];
	if (argc == 3 && strcmp(argv[1], "--make-seeds") == 0 &&
	    stream_make_seeds != NULL)
		return stream_make_seeds(argv[2]) == 0 ? 0 : 1;
	if (argc == 3 && strcmp(argv[1], "--make-session-seeds") == 0 &&
	    session_make_seeds != NULL)
		return session_make_seeds(argv[2]) == 0 ? 0 : 1;
	if (argc == 3 && strcmp(argv[1], "--make-primary-seeds") == 0 &&
	    primary_make_seeds != NULL)
		return primary_make_seeds(argv[2]) == 0 ? 0 : 1;
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s FILE|DIR...\n"
		    "       %s --make-seeds DIR\n"
		    "       %s --make-session-seeds DIR\n"
		    "       %s --make-primary-seeds DIR\n", prog, prog, prog,
		    prog);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) == -1)
			rc = 1;
	printf("%s: %u inputs replayed\n", prog, count);
	if (count == 0) {
		fprintf(stderr, "%s: no inputs found\n", prog);
		rc = 1;
	}
	return rc;
}
