#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/taskuid.h"

bool
uid_has_process(uint32_t uid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return true;	/* cannot tell: do not reuse it */
	while (!found && (e = readdir(d)) != NULL) {
		char path[300], buf[2048], *p;
		unsigned long ids[4];
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read_all(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if ((p = strstr(buf, "\nUid:")) == NULL ||
		    sscanf(p + 5, "%lu %lu %lu %lu", &ids[0], &ids[1], &ids[2],
		    &ids[3]) != 4)
			continue;
		for (int i = 0; i < 4; i++)
			if (ids[i] == uid)
				found = true;
	}
	closedir(d);
	return found;
}

int
taskuid_pick(const struct sw_config *cfg, uint32_t *uid)
{
	uint32_t start = randombytes_uniform(cfg->task_uid_count);

	for (uint32_t k = 0; k < cfg->task_uid_count; k++) {
		uint32_t u = cfg->task_uid_first +
		    (start + k) % cfg->task_uid_count;

		if (!uid_has_process(u)) {
			*uid = u;
			return 0;
		}
	}
	return -1;
}
