/*
 * skynet_daemon.c -- `daemon = "pidfile"`: refuse to start when the pid file
 * names a live process, fork to the background, write the pid under an
 * exclusive flock, and send stdio to /dev/null.
 */
#include "skynet_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <unistd.h>

static int check_pid(const char *pidfile) {
	int pid = 0;
	FILE *f = fopen(pidfile, "r");
	if (f == NULL)
		return 0;
	int n = fscanf(f, "%d", &pid);
	fclose(f);
	if (n != 1 || pid == 0 || pid == getpid())
		return 0;
	if (kill(pid, 0) && errno == ESRCH)
		return 0;
	return pid;
}

static int write_pid(const char *pidfile) {
	int fd = open(pidfile, O_RDWR | O_CREAT, 0644);
	if (fd == -1) {
		fprintf(stderr, "Can't create pidfile [%s]: %s.\n", pidfile, strerror(errno));
		return 0;
	}
	FILE *f = fdopen(fd, "w+");
	if (f == NULL) {
		fprintf(stderr, "Can't open pidfile [%s]: %s.\n", pidfile, strerror(errno));
		close(fd);
		return 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int pid = 0;
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
		fprintf(stderr, "Can't lock pidfile, lock is held by pid %d.\n", pid);
		return 0;
	}
	int pid = getpid();
	if (ftruncate(fd, 0) != 0 || fprintf(f, "%d\n", pid) <= 0) {
		fprintf(stderr, "Can't write pidfile [%s].\n", pidfile);
		fclose(f);
		return 0;
	}
	fflush(f);
	/* The descriptor stays open (and locked) for the life of the process. */
	return pid;
}

static int redirect_fds(void) {
	int nfd = open("/dev/null", O_RDWR);
	if (nfd == -1) {
		perror("Unable to open /dev/null: ");
		return -1;
	}
	if (dup2(nfd, 0) < 0 || dup2(nfd, 1) < 0 || dup2(nfd, 2) < 0) {
		perror("Unable to dup2 /dev/null: ");
		close(nfd);
		return -1;
	}
	close(nfd);
	return 0;
}

int skynet_daemon_init(const char *pidfile) {
	int pid = check_pid(pidfile);
	if (pid) {
		fprintf(stderr, "Skynet is already running, pid = %d.\n", pid);
		return 1;
	}
	if (daemon(1, 1)) {
		fprintf(stderr, "Can't daemonize: %s.\n", strerror(errno));
		return 1;
	}
	if (write_pid(pidfile) == 0)
		return 1;
	if (redirect_fds())
		return 1;
	return 0;
}

int skynet_daemon_exit(const char *pidfile) { return unlink(pidfile); }
