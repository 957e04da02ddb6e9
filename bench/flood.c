/* UDP flood to a closed port on loopback: every datagram is dropped by the
 * kernel (reason NO_SOCKET) and fires skb:kfree_skb once. Sends batches of
 * 64 with sendmmsg for a fixed time, then prints on one line the rate
 * (datagrams/s) and how long the generator waited for its CPU while
 * runnable (ns, from /proc/self/schedstat): other programs' share of its
 * CPU, which tells a disturbed round.
 * Usage: flood PORT SECONDS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long run_delay_ns(void)
{
	unsigned long long on_cpu = 0, delay = 0;
	FILE *f = fopen("/proc/self/schedstat", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &on_cpu, &delay) != 2)
			delay = 0;
		fclose(f);
	}
	return delay;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: flood PORT SECONDS\n");
		return 2;
	}
	int port = atoi(argv[1]);
	double seconds = atof(argv[2]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char payload[32];
	memset(payload, 'x', sizeof payload);
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof payload };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof msgs);
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof to;
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	unsigned long long sent = 0, delay0 = run_delay_ns();
	double start = now(), end = start + seconds, t = start;
	while (t < end) {
		for (int i = 0; i < 16; i++) {
			int n = sendmmsg(fd, msgs, BATCH, 0);
			if (n > 0)
				sent += n; /* errors (ICMP reported back): keep flooding */
		}
		t = now();
	}
	printf("%.0f %llu\n", sent / (t - start), run_delay_ns() - delay0);
	return 0;
}
