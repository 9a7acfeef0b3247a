/*
 * clockrun.c -- run one benchmark node and time it on CLOCK_MONOTONIC.
 *
 * bench/run.sh compiles this into its temporary work directory (it is not
 * part of the skynet build).  Two uses:
 *
 *   clockrun now                  print CLOCK_MONOTONIC in nanoseconds
 *   clockrun OUTFILE CMD [ARG..]  run CMD, write timing to OUTFILE
 *
 * In the second form the launch time is read immediately before fork() and
 * handed to CMD (and its descendants) as BENCH_T0_NS, so a Lua service can
 * compare it with skynet.hpc(), which reads the same clock.  When CMD has
 * been reaped, clockrun writes one line to OUTFILE:
 *
 *   <t0_ns> <t_end_ns> <exit_code> <signal> <cpu_us> <maxrss_kb>
 *
 * cpu_us and maxrss_kb come from getrusage(RUSAGE_CHILDREN), which includes
 * grandchildren that were waited for (CMD is normally `timeout ... skynet`).
 * clockrun exits with CMD's exit code, or 128 + signal if CMD was killed.
 * SIGINT, SIGTERM and SIGHUP received by clockrun are passed on to CMD, so
 * an interrupted run.sh does not leave a node behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static uint64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void forward(int sig) {
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%llu\n", (unsigned long long)mono_ns());
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: clockrun now | clockrun OUTFILE CMD [ARG...]\n");
		return 2;
	}
	FILE *out = fopen(argv[1], "w");
	if (out == NULL) {
		fprintf(stderr, "clockrun: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	char t0s[32];
	uint64_t t0 = mono_ns();
	snprintf(t0s, sizeof t0s, "%llu", (unsigned long long)t0);
	setenv("BENCH_T0_NS", t0s, 1);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "clockrun: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "clockrun: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	child_pid = pid;

	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "clockrun: waitpid: %s\n", strerror(errno));
			return 2;
		}
	}
	uint64_t t1 = mono_ns();
	child_pid = 0;

	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	long long cpu_us = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	                   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	fprintf(out, "%llu %llu %d %d %lld %ld\n", (unsigned long long)t0,
	        (unsigned long long)t1, code, sig, cpu_us, ru.ru_maxrss);
	fclose(out);
	return sig ? 128 + sig : code;
}
