/* fuzz/standalone-main.c -- replay inputs through the fuzz target with a
 * plain main(), so gcc builds run the corpus in every test run (STYLE F2).
 *
 *   fuzz-stream-replay FILE|DIR...      run each file (DIR: each file in it)
 *   fuzz-stream-replay --make-seeds DIR write the seed corpus (make-seeds.c)
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
int	stream_make_seeds(const char *dir);

static int
run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		fprintf(stderr, "fuzz-stream-replay: %s: %s\n", path,
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
	fprintf(stderr, "fuzz-stream-replay: %s: %s\n", path, strerror(errno));
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
		fprintf(stderr, "fuzz-stream-replay: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "fuzz-stream-replay: %s: %s\n", path,
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

	if (argc == 3 && strcmp(argv[1], "--make-seeds") == 0)
		return stream_make_seeds(argv[2]) == 0 ? 0 : 1;
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz-stream-replay FILE|DIR...\n"
		    "       fuzz-stream-replay --make-seeds DIR\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) == -1)
			rc = 1;
	printf("fuzz-stream-replay: %u inputs replayed\n", count);
	if (count == 0) {
		fprintf(stderr, "fuzz-stream-replay: no inputs found\n");
		rc = 1;
	}
	return rc;
}
