/*
 * sigreenter.c - a SIGALRM handler that calls malloc, realloc and free every
 * millisecond while the main loop allocates and frees blocks. All of them are
 * LARGE blocks of 2-4 MiB, above the sizes a thread keeps for itself without a
 * lock (its front, and the small zones), so that the handler and the thread it
 * interrupts meet in the allocator's locked sections (almost only there). The
 * allocator is not async-signal-safe (neither is glibc's), so this is undefined
 * behaviour; what ft_malloc promises is not to hang: a handler that
 * interrupts its thread inside a section under one of the allocator's locks
 * and asks for that lock ends the process with a message and SIGABRT, where
 * it used to spin for ever (as glibc's malloc and jemalloc then hang). Run by
 * sigreenter.sh, which accepts either end: exit 0 (no signal landed under a
 * lock) or that abort, and fails on a hang or any other signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile unsigned long handled;

static void on_alarm(int sig)
{
	(void)sig;
	for (int i = 0; i < 4; i++) {
		size_t n = (2u << 20) + (handled * 7919 + (unsigned)i * 4099) % (2u << 20);
		char *p = malloc(n);
		if (!p)
			_exit(3);
		p[0] = 1;
		p[n - 1] = 2;
		char *q = realloc(p, n * 2);
		if (!q || q[0] != 1 || q[n - 1] != 2)
			_exit(4);
		free(q);
	}
	handled++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
	enum { SLOTS = 8 };
	void *slot[SLOTS] = {0};
	for (unsigned long i = 0; handled < 3000 && i < 200000000UL; i++) {
		unsigned k = (unsigned)((i * 2654435761u) % SLOTS);
		free(slot[k]);
		size_t n = (2u << 20) + (i * 131) % (2u << 20);
		slot[k] = malloc(n);
		if (!slot[k])
			return 2;
		((char *)slot[k])[0] = (char)i;
	}
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int k = 0; k < SLOTS; k++)
		free(slot[k]);
	printf("END handled=%lu\n", handled);
	return 0;
}
